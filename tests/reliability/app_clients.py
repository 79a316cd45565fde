"""Clients of a running host for the hardening tests: texts signed as Twilio signs
them, the operator API with the function key, and queue depths in Azurite.

`text(host, from_, to, body)` posts one signed `POST /api/sms/incoming` (a fresh MessageSid,
the parameters Twilio sends) and returns the HTTP status and the outbound messages of its TwiML:
each `<Message>` becomes an `Outbound` with its destination resolved as Twilio resolves it (no
`to` attribute: back to the sender; no `from`: from the number that was texted).

`play_chain` follows those messages the way Twilio would when they reach one of the account's
own numbers (each becomes a new inbound webhook to the same app), so a loop between two of our
numbers, or through an owner number that is one of ours, shows as a growing chain.

`operator_api(host, method, path, body)` calls `/api/<path>` with the suite's function key and
returns the status and the parsed JSON (or the text); `queue_depth(connection, name)` is a
queue's approximate message count (0 when the queue does not exist).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from devkit.simulator import message_from_verb, parse_twiml, sign_and_post
from tests.e2e.conftest import HostHandle
from tests.reliability.conftest import ACCOUNT_SID, AUTH_TOKEN, FUNCTION_KEY


def operator_api(
    host: HostHandle,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """`METHOD /api/<path>` with the function key (a dict body is sent as JSON, bytes as they
    are); the status and the JSON answer, or its text when it is not JSON."""
    sent = {"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json", **(headers or {})}
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    answer = host.request(method, host.api(path), headers=sent, body=data)
    try:
        return answer.status, answer.json()
    except ValueError:
        return answer.status, answer.text


def queue_depth(connection: str, name: str) -> int:
    """A queue's approximate message count; 0 when it does not exist."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    try:
        client = QueueClient.from_connection_string(connection, name)
        return int(client.get_queue_properties().approximate_message_count or 0)
    except ResourceNotFoundError:
        return 0


@dataclass(frozen=True)
class Outbound:
    """One message an answer asks Twilio to send."""

    to: str
    from_: str
    body: str
    media: tuple[str, ...] = ()


@dataclass
class Answer:
    """The app's answer to one inbound text."""

    status: int
    body: str
    messages: list[Outbound] = field(default_factory=list)

    def to(self, number: str) -> list[Outbound]:
        """The messages of this answer that go to `number`."""
        return [m for m in self.messages if m.to == number]


def sms_params(from_: str, to: str, body: str, sid: str | None = None) -> dict[str, str]:
    """What Twilio posts for an inbound SMS (the parameters the app reads, and a few more)."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "SmsStatus": "received",
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
    }


def outbound_of(twiml: str, *, sender: str, texted: str) -> list[Outbound]:
    """The messages a TwiML answer asks for, destinations resolved as Twilio does."""
    if not twiml.strip():
        return []
    found = []
    for verb in parse_twiml(twiml):
        if verb.name != "Message":
            continue
        message = message_from_verb(verb)
        found.append(
            Outbound(
                to=message.to or sender,
                from_=message.from_ or texted,
                body=message.body,
                media=tuple(message.media),
            )
        )
    return found


def text(
    host: HostHandle,
    from_: str,
    to: str,
    body: str,
    *,
    public_base_url: str | None = None,
    timeout: float = 15.0,
) -> Answer:
    """One signed inbound SMS to `host`; its status and the messages its TwiML asks for."""
    response = sign_and_post(
        host.api("sms/incoming"),
        sms_params(from_, to, body),
        auth_token=AUTH_TOKEN,
        public_base_url=public_base_url,
        timeout=timeout,
    )
    messages = []
    if response.status == 200 and response.content_type.startswith("text/xml"):
        messages = outbound_of(response.body, sender=from_, texted=to)
    return Answer(response.status, response.body, messages)


@dataclass(frozen=True)
class Hop:
    """One inbound webhook of a chain: who texted which of our numbers, and the answer."""

    from_: str
    to: str
    body: str
    answer: Answer


def play_chain(
    host: HostHandle,
    from_: str,
    to: str,
    body: str,
    *,
    own_numbers: set[str],
    max_hops: int = 30,
) -> list[Hop]:
    """Deliver a text, then every message the answers send to one of `own_numbers` (as Twilio
    would: a new inbound webhook to the same app), breadth first, at most `max_hops` webhooks."""
    hops: list[Hop] = []
    pending = [(from_, to, body)]
    while pending and len(hops) < max_hops:
        sender, texted, content = pending.pop(0)
        answer = text(host, sender, texted, content)
        hops.append(Hop(sender, texted, content, answer))
        for message in answer.messages:
            if message.to in own_numbers:
                pending.append((message.from_, message.to, message.body))
    return hops
