"""Incoming SMS webhook (auth level anonymous, Twilio signature required): `POST /api/sms/incoming`.

Thin on purpose: `twilio_webhook` checks settings and the signature (403, nothing written, when
it fails), then `switchboard.sms.webhook.respond` makes the one trip: load what the decision
needs, decide (`switchboard.sms.decide`), write the opt-out change and the MessageLog record,
answer `text/xml`. Both are imported on the first call (cold start), and nothing an SMS webhook
does not need.
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/sms/incoming", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def sms_incoming(req: func.HttpRequest) -> func.HttpResponse:
    """An incoming SMS/MMS: opt-out keywords, help, auto-reply and forward to the owner."""
    from switchboard.sms.webhook import respond
    from switchboard.twilio.webhook import twilio_webhook

    return twilio_webhook(req, respond)
