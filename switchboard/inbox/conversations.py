"""The inbox's conversations: what a signed-in user sees of them and does with them, on
`switchboard.conversations.service` (the same listing, reading, replies and changes as the
operator's routes, for the session's `Principal`: staff see only their lines).

What the inbox adds:

- **validators**: a list answers with an ETag made of one change marker and what was asked:
  a view of one line its line's marker, a view of more than one line (the owner's every line,
  a staff user's lines) the account's (`rules.view_marker_key`: one point read whatever the
  number of lines); a conversation with its state row's ETag (read with its line's marker in
  one query). A poll sending it back (`If-None-Match`) that finds nothing new costs that
  read, and is answered 304 without a body (resting on this instance's memory of the session:
  `switchboard.inbox.remembered`);
- **search** by name or number (`q`): a number's digits anywhere in the customer's number, or
  a word starting a contact's name or company (the contacts' own search); it looks through
  the latest `SEARCH_SCAN` conversations in view;
- a conversation's **reply box** state: whether the customer opted out and whether the policy
  lets the line text them at all (in words), the longest text;
- **assignment** to a person who may sign in to the inbox and see the line;
- **voicemail audio** (`audio`): the recording of a call of the conversation, fetched from
  Twilio's media host with the account's credentials and handed to the browser in the parts
  it asks for (`Range`), so the browser never learns a Twilio URL or credential.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switchboard.conversations import rules
from switchboard.conversations.api import ListQuery
from switchboard.http import ApiError, invalid, not_found, twilio_unavailable
from switchboard.jsonroutes.auth import Principal
from switchboard.settings import Settings

#: Conversations a search looks through (the latest of the lines in view).
SEARCH_SCAN = 1000
#: The longest search.
MAX_QUERY = 100
#: The largest recording the app hands on (a voicemail of Twilio's longest, 3,600 s, as MP3
#: at 32 kbit/s is about 14 MB).
MAX_AUDIO_BYTES = 20 * 1024 * 1024
#: Statuses of a text still on its way (the page asks again without its validator).
PENDING_STATUSES = ("accepted", "queued", "sending", "sent", "scheduled")
_NUMBERISH = re.compile(r"[+0-9(][0-9 ().\-]*")
_ETAG = re.compile(r'(?:W/)?"([A-Za-z0-9_-]{1,64})"')
_SID = re.compile(r"CA[0-9a-fA-F]{32}")


# --------------------------------------------------------------------------------------------
# Validators


def etag_of(*parts: Any) -> str:
    """A strong validator of what `parts` (JSON-able) describe."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return '"' + digest[:12].hex() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether a request's `If-None-Match` names `etag` (``*`` or any of a list)."""
    if not if_none_match:
        return False
    wanted = etag.strip('"')
    for part in if_none_match.split(","):
        item = part.strip()
        if item == "*":
            return True
        found = _ETAG.fullmatch(item)
        if found is not None and found.group(1) == wanted:
            return True
    return False


@dataclass(frozen=True)
class ListValidator:
    """A listing's validator (`etag`), and whether it rests on a marker that exists (only
    then may a poll that finds it current be remembered)."""

    etag: str
    marked: bool


def view_marker(principal: Principal, line: str | None) -> str | None:
    """The change marker of the view `principal` asked for (None: the view shows nothing)."""
    if line is not None:
        return rules.line_marker_key(line) if principal.may_see_line(line) else None
    if principal.sees_every_line:
        return rules.ACCOUNT_MARKER
    return rules.view_marker_key(principal.lines) if principal.lines else None


def list_validator(
    settings: Settings, principal: Principal, query: ListQuery, q: str | None
) -> ListValidator:
    """The validator of a listing: its view's change marker (one point read; none for a view
    that shows nothing), who is looking, and what was asked."""
    from switchboard.conversations import service

    key = view_marker(principal, query.line)
    found = service.store_factory(settings).marker(key) if key is not None else None
    asked = [
        query.line,
        query.state,
        query.before.encode() if query.before else None,
        query.limit,
        q,
    ]
    seen = [principal.user_id, str(principal.role), sorted(principal.lines)]
    return ListValidator(etag_of("list", key, found, seen, asked), found is not None)


@dataclass(frozen=True)
class ConversationValidator:
    """A conversation page's validator (`etag`: its state row's ETag and the page asked), and
    its line's change marker as read with it (`witness`, for a poll resting on a remembered
    session: `switchboard.inbox.remembered`)."""

    etag: str
    witness: str | None


def conversation_validator(
    settings: Settings, principal: Principal, line: str, customer: str, before: str | None
) -> ConversationValidator:
    """The validator of a conversation's page (every event and change moves its state row's
    ETag) and its line's marker: one query. 404 when there is no conversation to see."""
    from switchboard.conversations import service

    if not principal.may_see_line(line):
        raise not_found("conversation", line)
    state, marker = service.store_factory(settings).probe(line, customer)
    if state is None:
        raise not_found("conversation", f"{line}/{customer}")
    return ConversationValidator(etag_of("conversation", state, before), marker)


# --------------------------------------------------------------------------------------------
# The list


def search_query(params: Mapping[str, str]) -> str | None:
    """The search (`q`), or None; 400 when too long."""
    raw = params.get("q")
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_QUERY or not raw.isprintable():
        raise invalid("q", f"must be a name or a number of at most {MAX_QUERY} characters")
    return raw.strip()


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _contact_numbers(settings: Settings, q: str) -> set[str]:
    """The numbers of the contacts whose name or company a search's words start."""
    from switchboard.contacts import service as contacts

    try:
        found = contacts.list_contacts(settings, q=q, limit=50)
    except ApiError:
        return set()
    return {n["number"] for c in found["items"] for n in c.get("numbers", [])}


def list_conversations(
    settings: Settings, principal: Principal, query: ListQuery, q: str | None
) -> dict[str, Any]:
    """A page of the conversations in view; with `q`, those among the latest `SEARCH_SCAN`
    whose number holds its digits or whose contact's name a word of it starts."""
    from switchboard.conversations import service

    if q is None:
        return service.list_conversations(settings, principal, query)
    numberish = _NUMBERISH.fullmatch(q) is not None and len(_digits(q)) >= 3
    digits = _digits(q)
    numbers = set() if numberish else _contact_numbers(settings, q)
    words = q.casefold()
    scanned = service.list_conversations(
        settings,
        principal,
        ListQuery(line=query.line, state=query.state, before=query.before, limit=SEARCH_SCAN),
    )
    found = []
    for item in scanned["conversations"]:
        if numberish:
            hit = digits in _digits(item["customer"])
        else:
            hit = item["customer"] in numbers or words in str(item.get("name") or "").casefold()
        if hit:
            found.append(item)
        if len(found) == query.limit:
            break
    return {"conversations": found, "nextBefore": None}


# --------------------------------------------------------------------------------------------
# A conversation


def audio_path(line: str, customer: str, call_sid: str) -> str:
    """Where the inbox serves a call's recording (relative to the site)."""
    from urllib.parse import quote

    return (
        f"/api/inbox/conversations/{quote(line, safe='')}/{quote(customer, safe='')}"
        f"/calls/{call_sid}/audio"
    )


def show_conversation(
    settings: Settings,
    principal: Principal,
    line: str,
    customer: str,
    *,
    limit: int,
    before: str | None,
) -> dict[str, Any]:
    """A conversation as the inbox shows it: its events without any Twilio URL (a
    recording's audio is the app's own path), the reply box's state, and who it may be
    assigned to."""
    from switchboard.conversations import service

    shown = service.show_conversation(
        settings, principal, line, customer, limit=limit, before=before
    )
    for event in shown["events"]:
        url = event.pop("recordingUrl", None)
        if url and event.get("kind") == rules.KIND_CALL and _SID.fullmatch(str(event["id"])):
            event["audio"] = audio_path(line, customer, str(event["id"]))
    shown["reply"] = reply_state(settings, line, customer)
    shown["assignees"] = assignees(settings, line)
    return shown


def reply_state(settings: Settings, line: str, customer: str) -> dict[str, Any]:
    """What the reply box shows before anyone types: whether the line may text the customer
    (and why not, in words), and the longest text."""
    from switchboard.optouts.store import OptOutStore
    from switchboard.outbound.destinations import explain
    from switchboard.outbound.service import Outbound
    from switchboard.twilio.text import MAX_BODY_CHARS

    state: dict[str, Any] = {"allowed": True, "maxChars": MAX_BODY_CHARS, "optedOut": False}
    if OptOutStore.from_settings(settings).is_opted_out(customer):
        state.update(
            allowed=False,
            optedOut=True,
            reason="They texted STOP: the line may not text them until they text START.",
        )
        return state
    policy = Outbound(settings)
    problem = policy.destinations.problem(customer, also_own=(line,))
    if problem is not None:
        words = explain(problem, policy.destinations.describe())
        state.update(allowed=False, reason=f"This number {words}.")
    return state


def assignees(settings: Settings, line: str) -> list[str]:
    """The names of the inbox users who may see `line` (whom a conversation may go to)."""
    from switchboard.inbox.service import store

    names = {u.name for u in store(settings).all() if u.role.value == "owner" or line in u.lines}
    return sorted(names, key=str.casefold)


def check_assignee(
    settings: Settings, principal: Principal, line: str, body: Mapping[str, Any]
) -> None:
    """400 unless `assignedTo` (when given, not null) names someone who may see the line; 404
    first when the asker may not see it (the answer must not tell them who may)."""
    if not principal.may_see_line(line):
        raise not_found("conversation", line)
    name = body.get("assignedTo")
    if name is None or not isinstance(name, str):
        return
    if name.strip() not in assignees(settings, line):
        raise invalid("assignedTo", "must be the name of an inbox user who may see this line")


# --------------------------------------------------------------------------------------------
# Voicemail audio


@dataclass(frozen=True)
class Audio:
    """What the browser gets: the status (200, 206), the bytes, their type and range."""

    status: int
    content: bytes
    content_type: str
    content_range: str | None = None


def recording_url(
    settings: Settings, principal: Principal, line: str, customer: str, call_sid: str
) -> str:
    """The media URL of the recording of call `call_sid`, which must be a call of the
    conversation (line, customer) that `principal` may see (404 otherwise, the same answer
    whatever is missing: one point read of the call's record)."""
    from switchboard.conversations import calls
    from switchboard.logbook.store import RecordStore
    from switchboard.twilio.client import recording_media_url

    if not principal.may_see_line(line) or _SID.fullmatch(call_sid) is None:
        raise not_found("recording", call_sid)
    found = calls.call_event(RecordStore.calls(settings).get(call_sid))
    url = found.fields.get("RecordingUrl") if found is not None else None
    if found is None or (found.line, found.customer) != (line, customer) or not url:
        raise not_found("recording", call_sid)
    return recording_media_url(str(url), "mp3")


def _media_failure(exc: Exception, call_sid: str) -> ApiError:
    """What the browser is told when the media host did not give the audio."""
    from switchboard.twilio.errors import classify_twilio_error

    failure = classify_twilio_error(exc)
    if failure.status == 416:
        return ApiError(416, "range_not_satisfiable", "the range is past the end")
    if failure.status == 404:
        return not_found("recording", call_sid)
    if failure.transient or failure.status is None:
        return twilio_unavailable(failure.status == 429)
    return ApiError(
        502, "recording_unavailable", f"Twilio refused the recording ({failure.status})"
    )


def audio(
    settings: Settings,
    principal: Principal,
    line: str,
    customer: str,
    call_sid: str,
    byte_range: str | None,
) -> Audio:
    """The recording's audio (or the part `byte_range` asks for, RFC 9110 `Range`), fetched
    from its media host; a media host that ignores the range is cut here
    (`switchboard.inbox.ranges`)."""
    from switchboard.inbox import ranges
    from switchboard.twilio import client as twilio_client

    url = recording_url(settings, principal, line, customer, call_sid)
    wanted = ranges.parse(byte_range)
    try:
        part = twilio_client.download_media_range(
            settings,
            url,
            byte_range if wanted is not None else None,
            max_bytes=MAX_AUDIO_BYTES,
            require_https=settings.running_in_azure,
        )
    except twilio_client.MediaTooLarge:
        raise ApiError(413, "too_large", "the recording is too large to play here") from None
    except twilio_client.MediaRefused:
        raise not_found("recording", call_sid) from None
    except Exception as exc:
        raise _media_failure(exc, call_sid) from exc
    content_type = part.content_type if part.content_type.startswith("audio/") else "audio/mpeg"
    if part.status == 206 or wanted is None:
        return Audio(part.status, part.content, content_type, part.content_range)
    cut = ranges.cut(part.content, wanted)
    if cut is None:
        raise ApiError(416, "range_not_satisfiable", "the range is past the end")
    body, content_range = cut
    return Audio(206, body, content_type, content_range)
