"""The outbound calls a line's queue places, as the outbound-call queue's messages (pure).

Both go through `OUTBOUND_CALL_QUEUE` like any call the app places (`switchboard.calls`): the
outbound policy checks the destination, and the dialer places each id exactly once, whatever
retries and instances do.

- An **offer** rings one person of the queue: on answer Twilio follows a `<Redirect>` to
  `/api/voice/queue-offer` (press 1 to take the next caller). Its id is
  `rules.offer_call_id(line, offer, person)`.
- A **call back** rings a customer who asked for one, once a person accepted it: a greeting, then
  `<Dial><Queue>` of the callback's own queue, where that person waits; the `<Queue url>`
  (`/api/voice/queue-connect`) runs on the person's leg as the two are bridged. Its id is
  `rules.callback_call_id(CallSid)`: one per call.

An outbound call's TwiML is fetched with no webhook URL to resolve a relative one against, so
every URL here is absolute: under the app's trusted origin (`PUBLIC_BASE_URL`, the Azure host
name), else the local host's default origin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from switchboard.callqueue import rules
from switchboard.callqueue.rules import Callback, Offer
from switchboard.lines.model import Line
from switchboard.settings import Settings, callback_origin

#: The origin of `func start` and `python -m devkit host` when no trusted origin is set.
LOCAL_BASE_URL = "http://localhost:7071"


def base_url(settings: Settings) -> str:
    """The origin Twilio reaches the app at."""
    return callback_origin(settings) or LOCAL_BASE_URL


def url(settings: Settings, path: str, **query: Any) -> str:
    """An absolute URL of the app (`None` query values left out)."""
    given = {k: v for k, v in query.items() if v is not None}
    return f"{base_url(settings)}{path}" + (f"?{urlencode(given)}" if given else "")


def _xml(response: VoiceResponse) -> str:
    # No XML declaration: the dialer's TwiML is counted against Twilio's 4,000 characters.
    return str(response.to_xml(xml_declaration=False))


def offer_message(settings: Settings, line: Line, offer: Offer) -> dict[str, Any]:
    """The outbound-call message ringing one person about waiting callers."""
    response = VoiceResponse()
    response.redirect(
        url(
            settings,
            rules.OFFER_PATH,
            line=line.number,
            person=offer.person_index,
            offer=offer.id,
        ),
        method="POST",
    )
    return {
        "id": offer.id,
        "to": offer.person.number,
        "from": line.number,
        "twiml": _xml(response),
        "timeout": rules.OFFER_RING_SECONDS,
    }


def callback_message(
    settings: Settings, line: Line, callback: Callback, person: int, offer: str
) -> dict[str, Any]:
    """The outbound-call message of a call back: the customer's leg dials the callback's own
    queue, where the person who accepted it waits."""
    response = VoiceResponse()
    attrs = {k: v for k, v in (("voice", line.voice), ("language", line.language)) if v}
    who = line.name or "us"
    response.say(
        f"Hello, this is {who} calling you back, as you asked. Connecting you now.", **attrs
    )
    dial = response.dial(timeout=10)
    dial.queue(
        rules.connect_queue_name(callback.call_sid),
        url=url(
            settings,
            rules.CONNECT_PATH,
            line=line.number,
            cb=callback.call_sid,
            person=person,
            offer=offer,
        ),
        method="POST",
    )
    response.say("Sorry, we could not connect you. Goodbye.", **attrs)
    return {
        "id": callback.call_id,
        "to": callback.caller,
        "from": line.number,
        "twiml": _xml(response),
        "timeout": rules.CALLBACK_RING_SECONDS,
    }
