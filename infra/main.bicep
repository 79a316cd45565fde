// Switchboard in Azure, as `azd up` provisions it: a resource group and everything in it
// (infra/app.bicep). The same resources as the README's manual `az` commands.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment: names the resource group and seeds unique names.')
param environmentName string

@minLength(1)
@description('Region of every resource; one that offers Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the person (or pipeline) running azd: may publish the fallback TwiML and use the CLI against the tables and queues. Empty: no such role.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('What principalId is.')
param principalType string = 'User'

@description('TWILIO_ACCOUNT_SID (AC...).')
param twilioAccountSid string

@secure()
@description('TWILIO_AUTH_TOKEN: kept in Key Vault, the app setting is a Key Vault reference.')
param twilioAuthToken string

@description('TWILIO_API_KEY_SID (SK...), optional.')
param twilioApiKeySid string = ''

@secure()
@description('TWILIO_API_KEY_SECRET, optional: kept in Key Vault.')
param twilioApiKeySecret string = ''

@description('TWILIO_FROM_NUMBER, E.164.')
param twilioFromNumber string

@secure()
@description('SMTP_PASSWORD, optional: kept in Key Vault.')
param smtpPassword string = ''

@secure()
@description('INBOX_SESSION_KEY, optional: signs the inbox sessions; kept in Key Vault. Empty: a new random key each provision (open sessions then end).')
param inboxSessionKey string = ''

@secure()
@description('The random key used when inboxSessionKey is empty (a parameter because newGuid() may only be a default).')
param inboxSessionKeyDefault string = '${newGuid()}${newGuid()}' //checkov:skip=CKV_AZURE_131:a random value made at deployment time, never written in the template

@description('Any other app settings of the README settings table, by name (OWNER_NUMBER, SMTP_HOST, VOICE_*, ...): they replace the defaults.')
param appSettings object = {}

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app.bicep' = {
  name: 'switchboard-app'
  scope: group
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    principalId: principalId
    principalType: principalType
    twilioAccountSid: twilioAccountSid
    twilioAuthToken: twilioAuthToken
    twilioApiKeySid: twilioApiKeySid
    twilioApiKeySecret: twilioApiKeySecret
    twilioFromNumber: twilioFromNumber
    smtpPassword: smtpPassword
    inboxSessionKey: empty(inboxSessionKey) ? inboxSessionKeyDefault : inboxSessionKey
    appSettings: appSettings
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_NAME string = app.outputs.functionAppName
output SWITCHBOARD_URL string = app.outputs.appUrl
output FALLBACK_CONTAINER_URL string = app.outputs.fallbackContainerUrl
output AZURE_STORAGE_ACCOUNT string = app.outputs.storageAccountName
