"""Voice webhooks (auth level anonymous, Twilio signature required): `POST /api/voice/*`.

Thin on purpose: `twilio_webhook` checks settings and the signature (403, nothing written, when
it fails), then the route's `respond` step in `switchboard.voice.webhooks` decides (with
`switchboard.voice.flow`), writes the CallLog change and answers `text/xml`. Both are imported on
the first call (cold start), and nothing a voice webhook does not need.
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/voice/incoming", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_incoming(req: func.HttpRequest) -> func.HttpResponse:
    """An incoming call: reject, refuse, or greet then menu / forward / voicemail / goodbye."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.webhooks import on_incoming

    return twilio_webhook(req, on_incoming)


@bp.route(route="api/voice/menu", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_menu(req: func.HttpRequest) -> func.HttpResponse:
    """The menu's `<Gather>` result: act on the choice, repeat once, then goodbye."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.webhooks import on_menu

    return twilio_webhook(req, on_menu)


@bp.route(route="api/voice/dial-complete", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_dial_complete(req: func.HttpRequest) -> func.HttpResponse:
    """After a `<Dial>`: hang up when answered, else voicemail or goodbye."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.webhooks import on_dial_complete

    return twilio_webhook(req, on_dial_complete)


@bp.route(route="api/voice/whisper", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_whisper(req: func.HttpRequest) -> func.HttpResponse:
    """A ring group's answering leg: press 1 to accept (or connected at once), before bridging."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.webhooks import on_whisper

    return twilio_webhook(req, on_whisper)


@bp.route(route="api/voice/recording", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_recording(req: func.HttpRequest) -> func.HttpResponse:
    """A voicemail: the `<Record>` action, its status callback and transcription."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.webhooks import on_recording

    return twilio_webhook(req, on_recording)


@bp.route(route="api/voice/queue-wait", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_queue_wait(req: func.HttpRequest) -> func.HttpResponse:
    """A queued caller's wait URL: the place in line, the hold prompt, press 1 to be called
    back; leave at the longest wait or when the line closes."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.queue_webhooks import on_queue_wait

    return twilio_webhook(req, on_queue_wait)


@bp.route(route="api/voice/queue-result", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_queue_result(req: func.HttpRequest) -> func.HttpResponse:
    """The `<Enqueue>` action: why the caller left the queue (QueueResult), and what next."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.queue_webhooks import on_queue_result

    return twilio_webhook(req, on_queue_result)


@bp.route(route="api/voice/queue-offer", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_queue_offer(req: func.HttpRequest) -> func.HttpResponse:
    """A person the queue rang: press 1 to take the next caller or callback."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.queue_webhooks import on_queue_offer

    return twilio_webhook(req, on_queue_offer)


@bp.route(route="api/voice/queue-connect", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def voice_queue_connect(req: func.HttpRequest) -> func.HttpResponse:
    """The leg taken off a queue, just before the bridge: who took whom, how long they waited."""
    from switchboard.twilio.webhook import twilio_webhook
    from switchboard.voice.queue_webhooks import on_queue_connect

    return twilio_webhook(req, on_queue_connect)
