"""Random valid and hostile line documents through `PUT /api/lines/{number}` and a call on the
line: never a 5xx, never more than the bounded work.

Each example writes one document (a fresh number) with the operator route, then places a signed
incoming call and a text to the line and asks for its status, all in process (the functions
`function_app.app` registers, storage on Azurite). What must hold:

- the PUT answers 201 (a valid document, every one of which is accepted), 400 (with the JSON
  pointer of each problem) or 413 (too large to store), never a 5xx;
- the call answers 200 TwiML with a `<Response>` root, the text 200, the status 200;
- the line's evaluation during the call takes at most `hours.STATE_STEPS` plus one build of the
  line (`hours.STATUS_STEPS`: the cache is off, so every call reads and builds it), and the
  status at most `hours.STATUS_STEPS` more, counted in loop iterations (`hours.WORK`).

A second property stores documents straight into the Lines table, as an older version of the
app (or a bug) could have: the call, the text, the listing and the status still never answer a
5xx, within the same bounds.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from switchboard.lines import hours as h
from switchboard.lines.store import LineStore
from switchboard.settings import get_settings
from tests.line_documents import hostile_documents, valid_documents
from tests.reliability.conftest import (
    ACCOUNT_SID,
    InProcessApp,
    app_env,
    app_functions,
    in_process_settings,
    sized,
    twilio_functions,
)

PUBLIC = "https://switchboard-linefuzz.example.net"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def app(storage_connection_string: str) -> Iterator[InProcessApp]:
    env = app_env(
        "linefuzz",
        AzureWebJobsStorage=storage_connection_string,
        TABLE_LINES="rellinefuzz" + uuid.uuid4().hex[:10],
        PUBLIC_BASE_URL=PUBLIC,
        LINES_CACHE_SECONDS="0",
    )
    with in_process_settings(env):
        yield InProcessApp(PUBLIC, twilio_functions())


def operator(name: str, path: str, number: str) -> func.HttpResponse:
    """A GET operator route of the app, called as the host calls it (the key is the host's)."""
    request = func.HttpRequest(
        method="GET",
        url=f"{PUBLIC}/api/{path}",
        headers={},
        params={},
        route_params={"number": number},
        body=b"",
    )
    return app_functions()[name].get_user_function()(request)


def put(number: str, document: Any) -> func.HttpResponse:
    request = func.HttpRequest(
        method="PUT",
        url=f"{PUBLIC}/api/lines/{number}?force=true",
        headers={"Content-Type": "application/json"},
        params={"force": "true"},
        route_params={"number": number},
        body=json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    )
    return app_functions()["lines_item"].get_user_function()(request)


def call_and_text(app: InProcessApp, number: str) -> tuple[int, int]:
    """A signed incoming call and a text to `number`; (work of the call, work of the status)."""
    call = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CA" + uuid.uuid4().hex),
        ("From", "+15558670042"),
        ("To", number),
        ("CallStatus", "ringing"),
        ("ApiVersion", "2010-04-01"),
    ]
    before = h.WORK.steps
    answer = app.post("voice/incoming", call)
    call_work = h.WORK.steps - before
    assert answer.status_code == 200, answer.get_body()[:300]
    root = ET.fromstring(answer.get_body())  # noqa: S314 (our own answer)
    assert root.tag == "Response"
    sms = [
        ("AccountSid", ACCOUNT_SID),
        ("MessageSid", "SM" + uuid.uuid4().hex),
        ("From", "+15558670042"),
        ("To", number),
        ("Body", "Are you open?"),
    ]
    assert app.post("sms/incoming", sms).status_code == 200
    before = h.WORK.steps
    status = operator("lines_status", f"lines/{number}/status", number)
    status_work = h.WORK.steps - before
    assert status.status_code == 200, status.get_body()[:300]
    return call_work, status_work


def fresh_number() -> str:
    return "+1501" + str(uuid.uuid4().int)[:7]


ANY_DOCUMENT = st.one_of(valid_documents(NOW), hostile_documents(NOW))
#: The documents that took lines down, tried first every run.
KNOWN: list[dict[str, Any]] = [
    {"timeZone": "UTC", "override": {"state": "closed", "setAt": "0001-01-01T00:00:00+14:00"}},
    {"timeZone": "UTC", "override": {"state": "closed", "until": "9999-12-31T23:59:59-14:00"}},
    {"open": [{"redirect": {"url": f"{PUBLIC}/api/voice/incoming"}}]},
    {"open": [{"say": "\U0001f4de" * 3500} for _ in range(6)]},
]


def examples(size: int) -> settings:
    """Hypothesis settings of these properties: `size` examples, no deadline (storage)."""
    return settings(
        max_examples=size,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@sized(40, 400)
def test_documents_through_put_and_a_call(app: InProcessApp, size: int) -> None:
    get_settings()  # the settings are valid (the module's environment)

    @examples(size)
    @given(document=ANY_DOCUMENT)
    @example(document=KNOWN[0])
    @example(document=KNOWN[1])
    @example(document=KNOWN[2])
    @example(document=KNOWN[3])
    def check(document: Any) -> None:
        number = fresh_number()
        answer = put(number, document)
        note(f"PUT {answer.status_code}: {answer.get_body()[:300]!r}")
        assert answer.status_code in (201, 400, 413), answer.get_body()[:300]
        if answer.status_code == 400:
            error = json.loads(answer.get_body())["error"]
            assert error["field"]
        call_work, status_work = call_and_text(app, number)
        assert call_work <= h.STATE_STEPS + h.STATUS_STEPS
        assert status_work <= h.STATUS_STEPS

    check()


@sized(25, 250)
def test_valid_documents_are_accepted(app: InProcessApp, size: int) -> None:
    @examples(size)
    @given(document=valid_documents(NOW))
    def check(document: dict[str, Any]) -> None:
        answer = put(fresh_number(), document)
        assert answer.status_code == 201, answer.get_body()[:500]

    check()


@sized(30, 300)
def test_documents_stored_without_checks_never_answer_5xx(app: InProcessApp, size: int) -> None:
    store = LineStore.from_settings(get_settings())

    @examples(size)
    @given(document=ANY_DOCUMENT)
    def check(document: Any) -> None:
        number = fresh_number()
        try:
            json.dumps(document).encode("utf-8")
        except (UnicodeEncodeError, RecursionError, ValueError):
            return  # not storable as text at all
        stored = document if isinstance(document, dict) else {"open": document}
        try:
            store.write(number, stored, change="put", now=NOW, expected=None)
        except Exception:  # Table Storage refused it: nothing stored, nothing to call
            return
        call_work, status_work = call_and_text(app, number)
        assert call_work <= h.STATE_STEPS + 2 * h.STATUS_STEPS
        assert status_work <= 2 * h.STATUS_STEPS

    check()
    # Once, over every line the property stored (listing each time would grow with the table).
    listing = operator("lines_list", "lines", "")
    assert listing.status_code == 200, listing.get_body()[:300]
