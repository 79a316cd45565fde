"""Switchboard's Azure Functions app: builds the FunctionApp and registers one Blueprint per channel."""

import azure.functions as func

from switchboard.blueprints import calls, operator, schedules, sms, status, voice

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(operator.bp)
app.register_functions(voice.bp)
app.register_functions(sms.bp)
app.register_functions(status.bp)
app.register_functions(calls.bp)
app.register_functions(schedules.bp)
