// Everything Switchboard runs on, in one resource group (called by main.bicep).
//
// - a user-assigned managed identity: the app reaches storage, Key Vault and Application
//   Insights with it; no key or secret sits in an app setting;
// - the storage account (no shared keys, no public blobs): the host's blobs, the deployment
//   package, the queues and the tables, each with the data role the identity needs;
// - Key Vault (RBAC): the Twilio and SMTP secrets, read by the platform for Key Vault references;
// - Log Analytics + Application Insights with local authentication disabled (Entra only);
// - the Flex Consumption plan and app (Python 3.13), its settings the README settings table;
// - a second, tiny storage account holding only the fallback TwiML that Twilio fetches when the
//   app itself cannot answer (README "Calls survive the app's own outage").

param location string
param tags object
param resourceToken string
param principalId string
param principalType string
param twilioAccountSid string
@secure()
param twilioAuthToken string
param twilioApiKeySid string
@secure()
param twilioApiKeySecret string
param twilioFromNumber string
@secure()
param smtpPassword string
@secure()
param inboxSessionKey string
param appSettings object

// Built-in role definition ids (the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}
var functionAppName = 'func-switchboard-${resourceToken}'
var deploymentContainerName = 'app-package'
var fallbackContainerName = 'fallback'
var tableNames = [
  'CallLog'
  'MessageLog'
  'SmsSchedule'
  'OptOut'
  'Lines'
  'CallQueue'
]
var queueNames = [
  'outbound-calls'
  'voicemail-email'
  'call-queue-dispatch'
  'inbox-sign-in-codes'
]
// What the app's identity needs on the storage account, and what the person running azd gets.
var identityStorageRoleIds = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]
var principalStorageRoleIds = [
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

// --- identity -------------------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-switchboard-${resourceToken}'
  location: location
  tags: tags
}

// --- storage: the host's, the app's tables and queues, the deployment package ------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_33:queue service logging goes to the Log Analytics workspace through diagnostic settings when wanted; classic storage analytics logging needs shared-key access, which is disabled
  //checkov:skip=CKV_AZURE_206:locally redundant storage is the Functions default for a small business; the tables are records, not the only copy of any money or message (Twilio keeps its own logs)
  //checkov:skip=CKV_AZURE_59:the Functions host and Twilio-facing app reach storage over public endpoints without a virtual network (Flex networking is an option the README describes, not the default); shared keys and anonymous blob access are disabled, so only Entra identities with data roles get in
  //checkov:skip=CKV_AZURE_35:same reason as CKV_AZURE_59: no network isolation by default, access only with Entra data roles
  //checkov:skip=CKV2_AZURE_1:Microsoft-managed keys encrypt the data at rest; customer-managed keys need a key and its rotation that a small business would have to run
  //checkov:skip=CKV2_AZURE_33:no private endpoint by default (see CKV_AZURE_59)
  //checkov:skip=CKV2_AZURE_38:soft delete does not apply to tables and queues; the blobs here are the host's leases and the deployment package, which azd publishes again
  //checkov:skip=CKV2_AZURE_41:no shared access signatures are used at all (shared keys are disabled), so there is no SAS expiration policy to set
  name: 'stsb${resourceToken}'
  //checkov:skip=CKV_AZURE_43:the name is 'stsb' and a 13-character uniqueString: 17 lower-case letters and digits, within the rules; checkov does not evaluate the expression
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for name in tableNames: {
    parent: tableService
    name: name
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for name in queueNames: {
    parent: queueService
    name: name
  }
]

// What each role is for: README "Deploying to Azure" (the same table as the manual path).
resource identityStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in identityStorageRoleIds: {
    name: guid(storage.id, identity.id, role)
    scope: storage
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

// The person running azd may use `python -m switchboard ...` against the tables and queues.
resource principalStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (empty(principalId) ? [] : principalStorageRoleIds): {
    name: guid(storage.id, principalId, role)
    scope: storage
    properties: {
      principalId: principalId
      principalType: principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

// --- the fallback TwiML: outside the app, readable by Twilio -------------------------------------

resource fallbackStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_190:Twilio fetches the fallback TwiML with a plain GET and no credentials, so its container allows anonymous read of single blobs (no listing); this account holds nothing else, and each blob name carries an unguessable token
  //checkov:skip=CKV_AZURE_59:Twilio must reach the fallback document from the internet; nothing but that document is stored here
  //checkov:skip=CKV_AZURE_35:same reason as CKV_AZURE_59
  //checkov:skip=CKV_AZURE_33:no queues are used in this account
  //checkov:skip=CKV_AZURE_206:the documents are generated again by `numbers wire`; locally redundant is enough
  //checkov:skip=CKV2_AZURE_1:Microsoft-managed keys; the content is public by design
  //checkov:skip=CKV2_AZURE_33:must be reachable by Twilio, so no private endpoint
  //checkov:skip=CKV2_AZURE_38:the documents are generated again by `numbers wire`; soft delete adds nothing
  //checkov:skip=CKV2_AZURE_41:no shared access signatures are used (shared keys are disabled)
  name: 'stfb${resourceToken}'
  //checkov:skip=CKV_AZURE_43:the name is 'stfb' and a 13-character uniqueString: 17 lower-case letters and digits, within the rules; checkov does not evaluate the expression
  //checkov:skip=CKV2_AZURE_47:anonymous read of the fallback container is the point of this account (see CKV_AZURE_190)
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: true
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource fallbackBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: fallbackStorage
  name: 'default'
}

resource fallbackContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  //checkov:skip=CKV_AZURE_34:Twilio reads the fallback TwiML anonymously; 'Blob' allows reading a blob whose name is known, never listing the container
  parent: fallbackBlobService
  name: fallbackContainerName
  properties: { publicAccess: 'Blob' }
}

// Whoever publishes the documents (`numbers wire`, run by the person running azd) writes them.
resource principalFallbackRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(fallbackStorage.id, principalId, roles.storageBlobDataContributor)
  scope: fallbackContainer
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

// --- Key Vault: Twilio's and the mail server's secrets ------------------------------------------

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109:the platform resolves Key Vault references over the public endpoint when the app has no virtual network; access is by Entra RBAC only (Key Vault Secrets User for the app's identity)
  //checkov:skip=CKV_AZURE_189:same reason as CKV_AZURE_109
  //checkov:skip=CKV2_AZURE_32:no private endpoint by default (see CKV_AZURE_109)
  name: 'kv-sb-${resourceToken}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// The names of the secrets in the vault (names, not values: hence the secret scanner's skips).
var secretNames = {
  authToken: 'twilio-auth-token' //checkov:skip=CKV_SECRET_6:a secret's name in Key Vault, not a secret
  apiKeySecret: 'twilio-api-key-secret' //checkov:skip=CKV_SECRET_6:a secret's name in Key Vault, not a secret
  smtpPassword: 'smtp-password' //checkov:skip=CKV_SECRET_6:a secret's name in Key Vault, not a secret
  inboxSessionKey: 'inbox-session-key' //checkov:skip=CKV_SECRET_6:a secret's name in Key Vault, not a secret
}

resource authTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:Twilio's auth token does not expire; it is rotated in Twilio's console, then here as a new version (README)
  parent: vault
  name: secretNames.authToken
  properties: {
    value: twilioAuthToken
    contentType: 'text/plain'
  }
}

resource apiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(twilioApiKeySecret)) {
  //checkov:skip=CKV_AZURE_41:a Twilio API key secret does not expire; it is rotated by creating a new key (README)
  //checkov:skip=CKV_AZURE_114:contentType is set (text/plain) below; checkov does not read the properties of a conditional resource
  parent: vault
  name: secretNames.apiKeySecret
  properties: {
    value: twilioApiKeySecret
    contentType: 'text/plain'
  }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  //checkov:skip=CKV_AZURE_41:the mail provider decides when its password expires; it is rotated as a new version (README)
  //checkov:skip=CKV_AZURE_114:contentType is set (text/plain) below; checkov does not read the properties of a conditional resource
  parent: vault
  name: secretNames.smtpPassword
  properties: {
    value: smtpPassword
    contentType: 'text/plain'
  }
}

resource inboxSessionKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:the inbox's session key does not expire; a new version ends every open session (README)
  parent: vault
  name: secretNames.inboxSessionKey
  properties: {
    value: inboxSessionKey
    contentType: 'text/plain'
  }
}

resource identityVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// --- monitoring: Application Insights with Entra authentication only ----------------------------

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-switchboard-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-switchboard-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource identityInsightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// --- the function app: Flex Consumption, Python 3.13 -------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:zone redundancy on Flex Consumption exists in some regions only and needs at least two always-ready instances; a small business's webhooks run on one, and the fallback TwiML covers an outage
  name: 'plan-switchboard-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_13:App Service authentication would refuse Twilio's webhooks; every Twilio route checks X-Twilio-Signature and every operator route a function key
  //checkov:skip=CKV_AZURE_17:Twilio does not present client certificates
  //checkov:skip=CKV_AZURE_222:Twilio must reach the webhooks from the internet
  //checkov:skip=CKV_AZURE_212:Flex Consumption adds instances by itself (one always ready for HTTP); there is no instance count to set
  //checkov:skip=CKV_AZURE_213:Flex Consumption has no App Service health check; GET /api/health needs a function key and Application Insights availability tests can call it
  name: functionAppName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        // The README explains each figure ("What Flex Consumption changes").
        instanceMemoryMB: 2048
        maximumInstanceCount: 40
        alwaysReady: [
          {
            name: 'http'
            instanceCount: 1
          }
        ]
        triggers: {
          http: { perInstanceConcurrency: 16 }
        }
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
  dependsOn: [
    deploymentContainer
  ]
}

// Every setting of the README settings table that Azure uses, with its default; `appSettings`
// replaces any of them. The app reads none of these from Key Vault itself: the platform
// resolves the references.
var defaultSettings = {
  PYTHON_THREADPOOL_THREAD_COUNT: '16'
  TWILIO_MESSAGING_SERVICE_SID: ''
  TWILIO_API_BASE_URL: 'https://api.twilio.com'
  TWILIO_VALIDATE_SIGNATURE: 'true'
  OUTBOUND_CALL_QUEUE: 'outbound-calls'
  SMS_TIMER_SCHEDULE: '0 */1 * * * *'
  SMS_MAX_LATENESS: 'PT24H'
  SMS_QUIET_HOURS: ''
  SMS_SEND_CONCURRENCY: '32'
  SMS_MAX_PER_SECOND: ''
  TABLE_CALL_LOG: 'CallLog'
  TABLE_MESSAGE_LOG: 'MessageLog'
  TABLE_SMS_SCHEDULE: 'SmsSchedule'
  TABLE_OPT_OUT: 'OptOut'
  TABLE_LINES: 'Lines'
  TABLE_CONTACTS: 'Contacts'
  TABLE_CONVERSATIONS: 'Conversations'
  TABLE_CALL_QUEUE: 'CallQueue'
  LINES_CACHE_SECONDS: '15'
  QUEUE_CALLBACK_MAX_AGE: 'PT24H'
  VOICE_GREETING: ''
  VOICE_TTS_VOICE: 'Polly.Joanna'
  VOICE_LANGUAGE: 'en-US'
  VOICE_MENU: ''
  VOICE_FORWARD_TO: ''
  VOICE_RING_TIMEOUT: '20'
  VOICE_VOICEMAIL: 'true'
  VOICE_VOICEMAIL_MAX_LENGTH: '120'
  VOICE_TRANSCRIBE: 'false'
  VOICE_BLOCKED_CALLERS: ''
  VOICE_ALLOWED_CALLERS: ''
  SMS_AUTO_REPLY: ''
  SMS_HELP_TEXT: 'Reply STOP to unsubscribe, START to resubscribe. Msg&data rates may apply.'
  OWNER_NUMBER: ''
  SMS_AUTO_REPLY_WINDOW: 'PT12H'
  SMS_FORWARD_DAILY_CAP: '10'
  OUTBOUND_ALLOWED_COUNTRIES: ''
  AUTOMATIC_SMS_DAILY_LIMIT: '100'
  AUTOMATIC_SMS_BURST_LIMIT: '20'
  VOICEMAIL_EMAIL_DAILY_LIMIT: '50'
  SMS_RELAY_DAILY_LIMIT: '500'
  OWNER_EMAIL: ''
  SMTP_HOST: ''
  SMTP_PORT: ''
  SMTP_USERNAME: ''
  SMTP_FROM: ''
  SMTP_TLS: 'starttls'
  TABLE_INBOX_USERS: 'InboxUsers'
  INBOX_SESSION_HOURS: '12'
  INBOX_APP_SERVICE_AUTH: 'false'
}

// What the deployment itself decides: identity-based storage, the secrets as references, the
// app's own origin, monitoring with the identity. Not replaceable by `appSettings`.
var deployedSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  TWILIO_ACCOUNT_SID: twilioAccountSid
  TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretNames.authToken})'
  TWILIO_API_KEY_SID: twilioApiKeySid
  TWILIO_API_KEY_SECRET: empty(twilioApiKeySecret) ? '' : '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretNames.apiKeySecret})'
  TWILIO_FROM_NUMBER: twilioFromNumber
  SMTP_PASSWORD: empty(smtpPassword) ? '' : '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretNames.smtpPassword})'
  INBOX_SESSION_KEY: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretNames.inboxSessionKey})'
  PUBLIC_BASE_URL: 'https://${site.properties.defaultHostName}'
  FALLBACK_CONTAINER_URL: '${fallbackStorage.properties.primaryEndpoints.blob}${fallbackContainerName}'
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
}

resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads any sites/config resource as the site's configuration; this one is the app
  // settings only, so the site-configuration checks below do not apply to it.
  //checkov:skip=CKV_AZURE_13:app settings, not the site's configuration (authentication: see the site)
  //checkov:skip=CKV_AZURE_63:app settings, not the site's configuration; logs go to Application Insights
  //checkov:skip=CKV_AZURE_65:app settings, not the site's configuration; errors go to Application Insights
  //checkov:skip=CKV_AZURE_66:app settings, not the site's configuration; requests are traced by Application Insights
  //checkov:skip=CKV_AZURE_80:app settings, not the site's configuration; the app is Python, no .NET Framework
  //checkov:skip=CKV_AZURE_88:Flex Consumption runs from the deployment package in blob storage, not Azure Files
  //checkov:skip=CKV_AZURE_222:app settings, not the site's configuration (public access: see the site)
  parent: site
  name: 'appsettings'
  properties: union(defaultSettings, appSettings, deployedSettings)
  dependsOn: [
    identityStorageRoles
    identityVaultRole
    identityInsightsRole
    authTokenSecret
    apiKeySecret
    smtpPasswordSecret
    inboxSessionKeySecret
  ]
}

output functionAppName string = site.name
output appUrl string = 'https://${site.properties.defaultHostName}'
output fallbackContainerUrl string = '${fallbackStorage.properties.primaryEndpoints.blob}${fallbackContainerName}'
output storageAccountName string = storage.name
