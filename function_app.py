"""The Azure Functions app: builds the FunctionApp and registers one Blueprint per capability.

Each function's name is its Python function's name (the v2 model's default): one name, not a
`function_name` decorator repeating it, which was one more decorator per function for every
cold start to run while indexing.
"""

import azure.functions as func

from switchboard.callqueue import blueprint as callqueue
from switchboard.calls import blueprint as calls
from switchboard.contacts import blueprint as contacts
from switchboard.conversations import blueprint as conversations
from switchboard.inbox import blueprint as inbox
from switchboard.lines import blueprint as lines
from switchboard.operator import blueprint as operator
from switchboard.outbound import blueprint as outbound
from switchboard.schedules import blueprint as schedules
from switchboard.sms import blueprint as sms
from switchboard.status import blueprint as status
from switchboard.voice import blueprint as voice
from switchboard.voicemail import blueprint as voicemail

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(operator.bp)
app.register_functions(voice.bp)
app.register_functions(sms.bp)
app.register_functions(status.bp)
app.register_functions(calls.bp)
app.register_functions(schedules.bp)
app.register_functions(lines.bp)
app.register_functions(voicemail.bp)
app.register_functions(outbound.bp)
app.register_functions(inbox.bp)
app.register_functions(contacts.bp)
app.register_functions(conversations.bp)
app.register_functions(callqueue.bp)
