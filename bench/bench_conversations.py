"""What conversations cost: entities a page reads against a long history, and the storage
round trips a text pays for its conversation and its relay, counted against Azurite.

Listing (the service `GET /api/conversations` and the inbox call, on the app's own clients;
entities counted on their responses: `devkit.storage_counter`):

- a page of 20 conversations of every line, newest activity first, with 10,000 events stored
  (two lines, 250 conversations of 20 texts each, a third of them done): entities read ÷ the
  page. Goal ≤ 2.5 (the page, one more row to know another page follows, each merged range's
  share, the list of lines);
- the same page with 10,000 events ÷ with 1,000 (50 conversations of 10 texts on each line,
  a third done, in tables of their own, side by side): the history must not show. Goal ≤ 1.1;
- a conversation's page of 20 events (of 2,000 texts in it): entities ÷ 21. Goal ≤ 1.1.

The SMS webhook (the function the host calls, signed requests, a warm instance):

- a text to a line without relay people, with its conversation ÷ the same texts with the
  conversation step taken out: round trips it adds per text. Goal ≤ 2 (its state and the
  line's counter in one query, one transaction);
- texts to a line relaying to two people ÷ to one relaying to one person (the stand-in in its
  own process answering the sends): round trips per relay person. Goal ≤ 6 (their opt-out, the
  claim and its day index row, Twilio's answer recorded, its SID alias, its conversation row).

Lines and senders' contacts stay cached for the whole run (`LINES_CACHE_SECONDS` at its
maximum): the runs compared must see the same warm instance, however long a busy machine takes
between them (a refresh once per TTL is the voice benchmark's figure).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from bench.figures import Figure, Goal, goals
from bench.services import signed_text, standin_process
from devkit.azurite import Azurite
from devkit.conversation_history import seed_history
from devkit.storage_counter import RequestCounter, counting_table_requests

GOALS = goals(
    {
        "conversations.entities_per_page": Goal("<=", 2.5),
        "conversations.page_growth_with_history": Goal("<=", 1.1),
        "conversations.entities_per_events_page": Goal("<=", 1.1),
        "conversations.round_trips_per_text": Goal("<=", 2.0),
        "conversations.round_trips_per_relay_person": Goal("<=", 6.0),
    }
)
PAGE = 20
TEXTS = 60
URL = "http://localhost:7071/api/sms/incoming"
PLAIN_LINE = "+15005550010"
ONE_PERSON_LINE = "+15017122661"
TWO_PEOPLE_LINE = "+15017122662"
HISTORY_LINES = ["+15017122671", "+15017122672"]
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[Any]:
    """The app's settings in the environment (as the host has them), restored afterwards."""
    from switchboard import settings as settings_module
    from switchboard.lines import lookup as lines
    from switchboard.outbound.own_numbers import OWN_NUMBERS
    from switchboard.outbound.store import WARM

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    settings_module.reset_settings_cache()
    try:
        yield settings_module.get_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings_module.reset_settings_cache()
        OWN_NUMBERS.forget()
        WARM.clear()
        lines.forget_cached_lines()


def _tables(tag: str) -> dict[str, str]:
    suffix = tag + uuid.uuid4().hex[:8]
    return {
        "TABLE_MESSAGE_LOG": "bcmsg" + suffix,
        "TABLE_OPT_OUT": "bcopt" + suffix,
        "TABLE_LINES": "bclines" + suffix,
        "TABLE_CONVERSATIONS": "bcconv" + suffix,
        "TABLE_CALL_LOG": "bccall" + suffix,
    }


# --------------------------------------------------------------------------------------------
# Listing


def _page_entities(settings: Any, counter: RequestCounter) -> tuple[int, int]:
    """(entities read by a page of every line's conversations, conversations listed)."""
    from switchboard.conversations.api import ListQuery
    from switchboard.conversations.service import list_conversations
    from switchboard.jsonroutes.auth import OPERATOR

    counter.reset()
    found = list_conversations(settings, OPERATOR, ListQuery(limit=PAGE))
    return counter.entities(), len(found["conversations"])


def _listing(connection: str) -> dict[str, Any]:
    from switchboard.conversations.service import show_conversation
    from switchboard.jsonroutes.auth import OPERATOR

    with _environment({"AzureWebJobsStorage": connection, **_tables("big")}) as big:
        events = seed_history(big, HISTORY_LINES, per_line=250, events_each=20, now=NOW)
        with counting_table_requests() as counter:
            read_big, listed = _page_entities(big, counter)
    with _environment({"AzureWebJobsStorage": connection, **_tables("long")}) as long:
        long_one = seed_history(long, ["+15017122673"], per_line=1, events_each=2000, now=NOW)
        with counting_table_requests() as counter:
            shown = show_conversation(long, OPERATOR, "+15017122673", "+15550000000", limit=PAGE)
            read_events = counter.entities()
    with _environment({"AzureWebJobsStorage": connection, **_tables("small")}) as small:
        small_events = seed_history(small, HISTORY_LINES, per_line=50, events_each=10, now=NOW)
        with counting_table_requests() as counter:
            read_small, _ = _page_entities(small, counter)
    if listed != PAGE or len(shown["events"]) != PAGE:
        raise RuntimeError(f"listed {listed} conversations and {len(shown['events'])} events")
    return {
        "events": events,
        "long_conversation": long_one,
        "small_events": small_events,
        "read_big": read_big,
        "read_small": read_small,
        "read_events": read_events,
    }


# --------------------------------------------------------------------------------------------
# The SMS webhook


def _request(sender: str, line: str, token: str) -> func.HttpRequest:
    return signed_text(URL, token, sender, line, "Is my bike ready?")


def _texts(counter: RequestCounter, line: str, senders: list[str], token: str) -> int:
    """One text from each sender to `line`; the table requests they made."""
    from switchboard.sms import blueprint as sms_bp

    requests = [_request(sender, line, token) for sender in senders]
    counter.reset()
    for request in requests:
        if sms_bp.sms_incoming(request).status_code != 200:
            raise RuntimeError("the webhook did not answer 200")
    return counter.total()


@contextmanager
def _without_conversations() -> Iterator[None]:
    """The same webhook with the conversation step taken out (no I/O)."""
    from switchboard.sms import webhook

    original: Callable[..., Any] = webhook._conversation_and_relay
    webhook._conversation_and_relay = lambda trip, line, decision, conversation: decision  # type: ignore[assignment]
    try:
        yield
    finally:
        webhook._conversation_and_relay = original  # type: ignore[assignment]


def _webhook(connection: str, twilio_url: str) -> dict[str, Any]:
    from devkit.twilio_standin_model import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
    from switchboard import records
    from switchboard.lines import lookup as lines
    from switchboard.lines.document import validate
    from switchboard.lines.store import LineStore
    from switchboard.outbound.own_numbers import OWN_NUMBERS
    from switchboard.storage import tables

    values = {
        "AzureWebJobsStorage": connection,
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "TWILIO_API_BASE_URL": twilio_url,
        "TWILIO_FROM_NUMBER": PLAIN_LINE,
        # Limits no run reaches: the figures are what each text costs, not their refusals.
        "SMS_FORWARD_DAILY_CAP": "1000",
        # The runs compare warm texts: no cached line or sender's contact may expire between
        # the warm-up and the runs compared. With the default 15 s a busy machine let senders'
        # contacts expire during one run only (6.667 round trips a relay person instead of 6);
        # a refresh's own cost is the voice benchmark's figure.
        "LINES_CACHE_SECONDS": "3600",
        "SMS_RELAY_DAILY_LIMIT": "100000",
        **_tables("hook"),
    }
    people = [{"name": f"P{n}", "number": f"+1555000{n:04d}"} for n in range(1, 3)]
    with _environment(values) as settings:
        store = LineStore.from_settings(settings)
        for line, relay in ((ONE_PERSON_LINE, people[:1]), (TWO_PEOPLE_LINE, people)):
            document = validate({"name": line, "sms": {"relay": relay}}, line)
            store.write(line, document, change="put", now=records.utcnow(), expected=None)
        for name in ("table_message_log", "table_opt_out", "table_conversations"):
            tables.get_table(getattr(settings, name), settings)
        for line in (PLAIN_LINE, ONE_PERSON_LINE, TWO_PEOPLE_LINE):
            lines.line_for(line, settings)
        OWN_NUMBERS.get(settings)
        token = DEFAULT_AUTH_TOKEN
        senders = [f"+1556{n:07d}" for n in range(TEXTS)]
        with counting_table_requests() as counter:
            # Warm: each sender's conversation exists, the lines are registered.
            for line in (PLAIN_LINE, ONE_PERSON_LINE, TWO_PEOPLE_LINE):
                _texts(counter, line, senders, token)
            plain = _texts(counter, PLAIN_LINE, senders, token)
            with _without_conversations():
                plain_floor = _texts(counter, PLAIN_LINE, senders, token)
            one = _texts(counter, ONE_PERSON_LINE, senders, token)
            two = _texts(counter, TWO_PEOPLE_LINE, senders, token)
    return {"plain": plain, "plain_floor": plain_floor, "one": one, "two": two}


def main() -> dict[str, Any]:
    """Run both parts and return the figures."""
    with Azurite(ports=0) as azurite:
        listing = _listing(azurite.connection_string)
        with standin_process() as twilio_url:
            hook = _webhook(azurite.connection_string, twilio_url)
    per_page = listing["read_big"] / PAGE
    growth = listing["read_big"] / max(1, listing["read_small"])
    per_events_page = listing["read_events"] / (PAGE + 1)
    per_text = (hook["plain"] - hook["plain_floor"]) / TEXTS
    per_person = (hook["two"] - hook["one"]) / TEXTS
    print(
        f"conversations: a page of {PAGE} read {listing['read_big']} entities with "
        f"{listing['events']:,} events, {listing['read_small']} with {listing['small_events']:,}; "
        f"a page of events {listing['read_events']}; a text {per_text:+.2f} round trips for "
        f"its conversation, {per_person:.2f} per relay person"
    )
    return {
        "figures": [
            Figure(
                "conversations.entities_per_page",
                f"conversations: entities a page of {PAGE} reads ÷ the page (every line, "
                f"{listing['events']:,} events stored)",
                round(per_page, 3),
                detail=f"{listing['read_big']} entities for {PAGE} conversations",
            ).as_dict(),
            Figure(
                "conversations.page_growth_with_history",
                "conversations: entities that page reads with 10× the history ÷ with 1×",
                round(growth, 3),
                detail=f"{listing['read_big']} with {listing['events']:,} events, "
                f"{listing['read_small']} with {listing['small_events']:,}",
            ).as_dict(),
            Figure(
                "conversations.entities_per_events_page",
                f"conversations: entities a page of {PAGE} events reads ÷ {PAGE + 1} (a "
                f"conversation of {listing['long_conversation']:,} texts)",
                round(per_events_page, 3),
                detail=f"{listing['read_events']} entities",
            ).as_dict(),
            Figure(
                "conversations.round_trips_per_text",
                "conversations: storage round trips a text's conversation adds (SMS webhook, "
                "warm instance, Azurite)",
                round(per_text, 3),
                detail=f"{hook['plain'] / TEXTS:.2f} per text with it, "
                f"{hook['plain_floor'] / TEXTS:.2f} without; {TEXTS} texts each",
            ).as_dict(),
            Figure(
                "conversations.round_trips_per_relay_person",
                "conversations: storage round trips per relay person a text costs (two people "
                "÷ one, the stand-in answering)",
                round(per_person, 3),
                detail=f"{hook['two'] / TEXTS:.2f} per text to two, {hook['one'] / TEXTS:.2f} "
                "to one",
            ).as_dict(),
        ],
        **listing,
        **hook,
    }


if __name__ == "__main__":
    main()
