"""Status callbacks (auth level anonymous, Twilio signature required):
`POST /api/status/message` and `POST /api/status/call`.

Thin on purpose: `twilio_webhook` checks settings and the signature (403, nothing written, when
it fails), then `switchboard.status.callbacks` merges the callback into its record (204; 400 for
a signed callback without SID or status; 503 when storage failed). Both are imported on the
first call (cold start).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/status/message", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def status_message(req: func.HttpRequest) -> func.HttpResponse:
    """A message status callback: updates the message's MessageLog record."""
    from switchboard.status.callbacks import on_message
    from switchboard.twilio.webhook import twilio_webhook

    return twilio_webhook(req, on_message)


@bp.route(route="api/status/call", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def status_call(req: func.HttpRequest) -> func.HttpResponse:
    """A call status callback: updates the call's CallLog record."""
    from switchboard.status.callbacks import on_call
    from switchboard.twilio.webhook import twilio_webhook

    return twilio_webhook(req, on_call)
