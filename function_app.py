"""Switchboard's Azure Functions app: builds the FunctionApp and registers one Blueprint per channel."""

import azure.functions as func

from switchboard.blueprints import operator

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(operator.bp)
