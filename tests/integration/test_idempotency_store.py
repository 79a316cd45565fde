"""Idempotency records of outbound calls against Azurite: insert-if-absent claims, ETag takeovers,
outcomes, and the queue function's processing with a counting stand-in for Twilio."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from devkit.storage_counter import SETUP_KINDS, counting_table_requests
from switchboard import records
from switchboard.calls.idempotency import TWILIO_CLOCK_SKEW, State, Verdict
from switchboard.calls.placing import (
    CallInFlight,
    TransientCallFailure,
    process_message,
    process_poison,
)
from switchboard.calls.request import CallRequest, parse_call_request
from switchboard.calls.store import IdempotencyStore
from switchboard.logbook.statuses import Kind
from switchboard.logbook.store import RecordStore
from switchboard.outbound.own_numbers import OWN_NUMBERS
from switchboard.settings import Settings, load_settings
from switchboard.status.callbacks import apply_callback
from switchboard.status.merge import parse_callback
from switchboard.storage import tables
from switchboard.twilio.client import CallRecord

TO = "+15558675310"
FROM = "+15017122661"


@pytest.fixture
def settings(storage_connection_string: str) -> Settings:
    return load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            "TWILIO_FROM_NUMBER": FROM,
            "PUBLIC_BASE_URL": "https://switchboard.example.com",
        }
    )


@pytest.fixture
def store(settings: Settings, unique_name: str) -> RecordStore:
    return RecordStore(tables.get_table(unique_name, settings))


@pytest.fixture
def ledger(store: RecordStore) -> IdempotencyStore:
    return IdempotencyStore(store)


def request(key: str = "reminder-1", say: str = "Hello") -> CallRequest:
    return parse_call_request({"id": key, "to": TO, "say": say})


def now() -> datetime:
    return records.utcnow()


class FakeTwilio:
    """Counts placements; fails with the queued exceptions first."""

    def __init__(self, *failures: BaseException, delay: float = 0.0) -> None:
        self.failures = list(failures)
        self.calls: list[dict[str, Any]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(
        self, request: CallRequest, *, from_: str, twiml: str | None, status_callback: str
    ) -> tuple[str, str]:
        if self.delay:
            threading.Event().wait(self.delay)
        with self.lock:
            self.calls.append(
                {"to": request.to, "from": from_, "twiml": twiml, "callback": status_callback}
            )
            if self.failures:
                raise self.failures.pop(0)
            return f"CA{len(self.calls):032x}", "queued"


def twilio_error(status: int, code: int, message: str) -> TwilioRestException:
    return TwilioRestException(status, "https://api.twilio.com/Calls.json", message, code, "POST")


def test_concurrent_claims_of_one_id_have_one_winner(ledger: IdempotencyStore) -> None:
    barrier = threading.Barrier(6)
    verdicts: list[Verdict] = []

    def claim() -> None:
        barrier.wait(timeout=5)
        verdicts.append(ledger.claim("race", request("race"), from_=FROM, now=now()).verdict)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(verdicts) == sorted([Verdict.CLAIM] + [Verdict.IN_FLIGHT] * 5)


def test_concurrent_takeovers_of_an_expired_lease_have_one_winner(
    ledger: IdempotencyStore, store: RecordStore
) -> None:
    start = now() - timedelta(minutes=10)
    assert ledger.claim("expired", request("expired"), from_=FROM, now=start).verdict is (
        Verdict.CLAIM
    )
    barrier = threading.Barrier(4)
    verdicts: list[Verdict] = []

    def take() -> None:
        barrier.wait(timeout=5)
        verdicts.append(ledger.claim("expired", request("expired"), from_=FROM, now=now()).verdict)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # The expired worker may have reached Twilio: the winner must ask Twilio before placing.
    assert verdicts.count(Verdict.VERIFY) == 1
    assert verdicts.count(Verdict.IN_FLIGHT) == 3
    entity = store.get("expired")
    assert entity is not None
    assert entity["IdempotencyStatus"] == "in-progress"
    assert entity["LeaseUntil"] > now() + timedelta(minutes=4)
    assert entity["ClaimedAt"] == start  # the window of the check starts at the first claim
    assert entity["Unverified"] is True


def test_takeover_needs_the_etag_it_read(ledger: IdempotencyStore, store: RecordStore) -> None:
    ledger.claim("stale", request("stale"), from_=FROM, now=now() - timedelta(hours=1))
    entity = store.get("stale")
    assert entity is not None
    old_etag = tables.etag_of(entity)
    ledger.release("stale", 1, 503, "down", now=now() - timedelta(minutes=59))
    replacement = {**entity, "IdempotencyStatus": "in-progress"}
    assert not tables.update_if_unchanged(store.table, replacement, old_etag)


def test_live_lease_blocks_and_release_hands_over(ledger: IdempotencyStore) -> None:
    assert ledger.claim("k", request("k"), from_=FROM, now=now()).verdict is Verdict.CLAIM
    assert ledger.claim("k", request("k"), from_=FROM, now=now()).verdict is Verdict.IN_FLIGHT
    ledger.release("k", 1, 20429, "Too many requests", now=now())
    claim = ledger.claim("k", request("k"), from_=FROM, now=now())
    assert claim.verdict is Verdict.CLAIM
    assert claim.record.attempts == 1
    ledger.complete("k", "CA" + "1" * 32, 2, now=now())
    again = ledger.claim("k", request("k"), from_=FROM, now=now())
    assert again.verdict is Verdict.DONE


def test_same_id_different_payload_is_a_conflict(ledger: IdempotencyStore) -> None:
    ledger.claim("c", request("c", say="one"), from_=FROM, now=now())
    claim = ledger.claim("c", request("c", say="two"), from_=FROM, now=now())
    assert claim.verdict is Verdict.CONFLICT


def test_rejected_id_can_be_reused_by_a_valid_message(
    ledger: IdempotencyStore, store: RecordStore
) -> None:
    assert ledger.reject("r", "to: bad", "to", '{"id":"r"}', now=now())
    assert not ledger.reject("r", "again", None, "x", now=now())
    claim = ledger.claim("r", request("r"), from_=FROM, now=now())
    assert claim.verdict is Verdict.CLAIM
    entity = store.get("r")
    assert entity is not None
    assert entity["Status"] == "queued"
    assert "ErrorMessage" not in entity
    assert "Payload" not in entity


def test_a_known_sid_means_already_placed(ledger: IdempotencyStore, store: RecordStore) -> None:
    ledger.claim("s", request("s"), from_=FROM, now=now() - timedelta(hours=1))
    ledger.release("s", 1, None, "Read timed out", now=now() - timedelta(hours=1))
    # A status callback with ?id=s reached the record: Twilio did create the call.
    store.update("s", lambda _current: {"Sid": "CA" + "2" * 32, "Status": "ringing"})
    claim = ledger.claim("s", request("s"), from_=FROM, now=now())
    assert claim.verdict is Verdict.ALREADY_PLACED
    entity = store.get("s")
    assert entity is not None
    assert entity["IdempotencyStatus"] == "completed"
    assert entity["Status"] == "ringing"


# --- the queue function's processing, against Azurite, with a counting Twilio ---


class FakeCalls:
    """Twilio's Calls list for the check of an attempt in doubt: records each question."""

    def __init__(self, *calls: CallRecord, failure: BaseException | None = None) -> None:
        self.calls = list(calls)
        self.failure = failure
        self.asked: list[dict[str, Any]] = []

    def __call__(self, *, to: str, from_: str, since: datetime) -> list[CallRecord]:
        self.asked.append({"to": to, "from": from_, "since": since})
        if self.failure is not None:
            raise self.failure
        return self.calls


def twilio_call(sid: str, created: datetime, to: str = TO) -> CallRecord:
    return CallRecord(
        sid=sid,
        account_sid=None,
        to=to,
        from_=FROM,
        status="completed",
        direction="outbound-api",
        duration=12,
        answered_by=None,
        price=None,
        price_unit=None,
        date_created=created,
        start_time=created,
        end_time=None,
    )


def run(
    body: bytes | str,
    settings: Settings,
    ledger: IdempotencyStore,
    twilio: FakeTwilio,
    *,
    message_id: str = "m-1",
    dequeue_count: int = 1,
    find: FakeCalls | None = None,
    at: datetime | None = None,
) -> Any:
    raw = body.encode() if isinstance(body, str) else body
    return process_message(
        raw,
        message_id,
        dequeue_count,
        settings=settings,
        ledger=ledger,
        place=twilio,
        max_deliveries=5,
        find=find or FakeCalls(failure=AssertionError("Twilio asked without a doubt")),
        now=(lambda: at) if at is not None else now,
    )


def test_success_stores_the_sid_and_callback_url(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio()
    outcome = run('{"id": "ok 1", "to": "+15558675310", "say": "Hi"}', settings, ledger, twilio)
    assert outcome.result == "placed"
    (placed,) = twilio.calls
    assert placed["from"] == FROM
    assert placed["callback"] == "https://switchboard.example.com/api/status/call?id=ok%201"
    assert placed["twiml"] == "<Response><Say>Hi</Say></Response>"
    entity = store.get("ok 1")
    assert entity is not None
    assert entity["Sid"] == outcome.sid
    assert entity["Status"] == "queued"
    assert entity["IdempotencyStatus"] == "completed"
    assert entity["Attempts"] == 1
    assert entity["To"] == TO
    assert entity["From"] == FROM
    # The SID alias comes with the call's first status callback (which carries ?id=).
    assert store.resolve(outcome.sid) is None
    assert outcome.sid is not None
    callback(store, "ok 1", outcome.sid, "initiated")
    assert store.resolve(outcome.sid) == "ok 1"
    json_view = records.to_json(dict(entity))
    assert json_view["request"] == {"to": TO, "say": "Hi"}
    assert "error" not in json_view
    # Delivered twice more: no second call.
    for count in (2, 3):
        assert run(
            '{"id": "ok 1", "to": "+15558675310", "say": "Hi"}',
            settings,
            ledger,
            twilio,
            message_id=f"m-{count}",
        ).result == ("duplicate")
    assert len(twilio.calls) == 1


def callback(store: RecordStore, key: str, sid: str, status: str) -> None:
    """A call status callback as Twilio posts it to `/api/status/call?id=<key>`."""
    update = parse_callback(Kind.CALL, {"CallSid": sid, "CallStatus": status})
    apply_callback(store, update, record_id=key)


def test_a_placed_call_costs_three_round_trips_and_its_alias_comes_once_with_a_callback(
    settings: Settings, unique_name: str
) -> None:
    # Counted on the clients' own requests (a transport hook), not by reasoning.
    with counting_table_requests() as counter:
        store = RecordStore(tables.get_table(unique_name, settings))
        twilio = FakeTwilio()
        # A warm instance knows its own numbers (read once per 10 minutes for the outbound
        # policy's destination check), as it has its tables.
        OWN_NUMBERS.get(settings)
        counter.reset()
        outcome = run(
            '{"id": "rt-1", "to": "+15558675310", "say": "Hi"}',
            settings,
            IdempotencyStore(store),
            twilio,
        )
        placed = counter.snapshot()
        assert outcome.sid is not None
        counts = []
        for status in ("initiated", "ringing", "in-progress", "completed"):
            counter.reset()
            callback(store, "rt-1", outcome.sid, status)
            counts.append(counter.total())
        assert not set(counter.snapshot()) & SETUP_KINDS
    # The insert (the claim), the index row (upsert), the outcome (merge): no SID alias.
    assert sum(placed.values()) == 3, placed
    assert placed[f"POST {unique_name}"] == 1
    assert placed["PATCH entity"] == 2
    # The first callback reads the record, writes the alias, merges (marking the alias);
    # the others read and merge only.
    assert counts == [3, 2, 2, 2]
    assert store.resolve(outcome.sid) == "rt-1"
    record = store.get("rt-1")
    assert record is not None
    assert record["Status"] == "completed"
    assert "sidAlias" not in records.to_json(dict(record))


def test_invalid_message_is_rejected_and_not_raised(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio()
    outcome = run(b"{not json", settings, ledger, twilio, message_id="q-77")
    assert outcome.result == "rejected"
    entity = store.get("q-77")
    assert entity is not None
    assert entity["Status"] == "rejected"
    assert entity["Payload"] == "{not json"
    assert records.to_json(dict(entity))["error"]["message"] == "the message is not valid JSON"
    assert twilio.calls == []


def test_invalid_message_never_overwrites_an_existing_call(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio()
    run('{"id": "keep", "to": "+15558675310", "say": "Hi"}', settings, ledger, twilio)
    outcome = run('{"id": "keep", "to": "bad", "say": "Hi"}', settings, ledger, twilio)
    assert outcome.result == "rejected"
    entity = store.get("keep")
    assert entity is not None
    assert entity["IdempotencyStatus"] == "completed"
    assert len(twilio.calls) == 1


def test_missing_sender_is_a_rejection_naming_from(
    storage_connection_string: str, ledger: IdempotencyStore, store: RecordStore
) -> None:
    no_from = load_settings({"AzureWebJobsStorage": storage_connection_string})
    run('{"id": "nf", "to": "+15558675310", "say": "Hi"}', no_from, ledger, FakeTwilio())
    entity = store.get("nf")
    assert entity is not None
    assert entity["ErrorField"] == "from"


def test_transient_then_success_places_one_call_and_counts_attempts(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio(
        twilio_error(429, 20429, "Too Many Requests"), twilio_error(503, 20503, "Unavailable")
    )
    body = '{"id": "t", "to": "+15558675310", "say": "Hi"}'
    for count in (1, 2):
        with pytest.raises(TransientCallFailure):
            run(body, settings, ledger, twilio, dequeue_count=count)
        entity = store.get("t")
        assert entity is not None
        assert entity["IdempotencyStatus"] == "pending"
        assert entity["Attempts"] == count
        assert entity["LastErrorCode"] == (20429, 20503)[count - 1]
    assert run(body, settings, ledger, twilio, dequeue_count=3).result == "placed"
    entity = store.get("t")
    assert entity is not None
    assert entity["Attempts"] == 3
    assert entity["IdempotencyStatus"] == "completed"
    assert len(twilio.calls) == 3  # two refused attempts, one call


def test_permanent_failure_is_failed_after_one_attempt(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio(twilio_error(400, 21211, "The 'To' number is not a valid phone number."))
    body = '{"id": "p", "to": "+15005550001", "say": "Hi"}'
    assert run(body, settings, ledger, twilio).result == "failed"
    assert run(body, settings, ledger, twilio, dequeue_count=2).result == "duplicate"
    entity = store.get("p")
    assert entity is not None
    assert entity["Status"] == "failed"
    assert records.to_json(dict(entity))["error"] == {
        "code": 21211,
        "message": "The 'To' number is not a valid phone number.",
    }
    assert len(twilio.calls) == 1


def test_poison_marks_dead_lettered_with_the_last_error(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio(*(twilio_error(500, 20500, "Internal error") for _ in range(5)))
    body = b'{"id": "d", "to": "+15558675310", "say": "Hi"}'
    for count in range(1, 6):
        with pytest.raises(TransientCallFailure):
            run(body, settings, ledger, twilio, dequeue_count=count)
    assert process_poison(body, "m-1", ledger=ledger) is State.DEAD_LETTERED
    assert process_poison(body, "m-1", ledger=ledger) is None  # handled once
    entity = store.get("d")
    assert entity is not None
    assert entity["Status"] == "dead-lettered"
    assert entity["Attempts"] == 5
    assert records.to_json(dict(entity))["error"] == {"code": 20500, "message": "Internal error"}


def test_poison_leaves_a_live_lease_and_ignores_conflicting_copies(
    ledger: IdempotencyStore, store: RecordStore
) -> None:
    ledger.claim("live", request("live"), from_=FROM, now=now())
    body = b'{"id": "live", "to": "+15558675310", "say": "Hello"}'
    assert process_poison(body, "m", ledger=ledger) is None
    other = b'{"id": "live", "to": "+15558675310", "say": "Other"}'
    ledger.release("live", 1, 503, "x", now=now())
    assert process_poison(other, "m", ledger=ledger) is None
    entity = store.get("live")
    assert entity is not None
    assert entity["IdempotencyStatus"] == "pending"


def test_poison_without_a_record_creates_a_dead_lettered_one(
    ledger: IdempotencyStore, store: RecordStore
) -> None:
    body = b'{"to": "+15558675310", "say": "Hello"}'
    assert process_poison(body, "q-9", ledger=ledger) is State.DEAD_LETTERED
    entity = store.get("q-9")
    assert entity is not None
    assert entity["Status"] == "dead-lettered"


def test_two_workers_at_once_place_one_call(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio(delay=0.3)
    body = '{"id": "both", "to": "+15558675310", "say": "Hi"}'
    results: list[str] = []
    barrier = threading.Barrier(2)

    def worker(message_id: str) -> None:
        barrier.wait(timeout=5)
        try:
            results.append(run(body, settings, ledger, twilio, message_id=message_id).result)
        except CallInFlight:
            results.append("in-flight")

    threads = [threading.Thread(target=worker, args=(f"m-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == ["in-flight", "placed"]
    assert len(twilio.calls) == 1
    # The copy that met the lease comes back later and finds the call done.
    assert run(body, settings, ledger, twilio, message_id="m-1").result == "duplicate"


# --- an attempt in doubt: Twilio is asked before the call is placed again ---


def stopped_worker(ledger: IdempotencyStore, key: str, at: datetime) -> None:
    """A worker claimed `key` at `at` and stopped before writing any outcome."""
    assert ledger.claim(key, request(key), from_=FROM, now=at).verdict is Verdict.CLAIM


def test_a_call_twilio_has_completes_the_record_without_a_second_call(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    start = now() - timedelta(minutes=11)
    stopped_worker(ledger, "doubt", start)
    sid = "CA" + "d" * 32
    calls = FakeCalls(
        twilio_call("CA" + "0" * 32, start - timedelta(hours=1)),  # an older call to the number
        twilio_call(sid, start + timedelta(seconds=1)),
    )
    twilio = FakeTwilio()
    outcome = run(
        '{"id": "doubt", "to": "+15558675310", "say": "Hello"}',
        settings,
        ledger,
        twilio,
        find=calls,
    )
    assert (outcome.result, outcome.sid) == ("already-placed", sid)
    assert twilio.calls == []
    assert calls.asked == [{"to": TO, "from": FROM, "since": start - TWILIO_CLOCK_SKEW}]
    entity = store.get("doubt")
    assert entity is not None
    assert (entity["IdempotencyStatus"], entity["Sid"], entity["Attempts"]) == (
        "completed",
        sid,
        1,
    )
    assert store.resolve(sid) == "doubt"


def test_no_call_in_twilio_places_it_once(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    stopped_worker(ledger, "none", now() - timedelta(minutes=11))
    twilio = FakeTwilio()
    calls = FakeCalls()
    body = '{"id": "none", "to": "+15558675310", "say": "Hello"}'
    assert run(body, settings, ledger, twilio, find=calls).result == "placed"
    assert len(twilio.calls) == 1
    assert len(calls.asked) == 1
    entity = store.get("none")
    assert entity is not None
    assert (entity["IdempotencyStatus"], entity["Attempts"]) == ("completed", 2)
    assert run(body, settings, ledger, twilio).result == "duplicate"


def test_a_call_another_id_owns_is_not_taken_for_this_one(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    start = now() - timedelta(minutes=11)
    theirs = "CA" + "e" * 32
    store.add_sid_alias("someone-else", theirs)  # same numbers, placed for another id
    stopped_worker(ledger, "mine", start)
    twilio = FakeTwilio()
    calls = FakeCalls(twilio_call(theirs, start + timedelta(seconds=5)))
    body = '{"id": "mine", "to": "+15558675310", "say": "Hello"}'
    assert run(body, settings, ledger, twilio, find=calls).result == "placed"
    assert len(twilio.calls) == 1


def test_a_failed_check_places_nothing_and_keeps_the_doubt(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    start = now() - timedelta(minutes=11)
    stopped_worker(ledger, "blind", start)
    twilio = FakeTwilio()
    body = '{"id": "blind", "to": "+15558675310", "say": "Hello"}'
    for failure in (twilio_error(503, 20503, "Unavailable"), TimeoutError("read timed out")):
        with pytest.raises(TransientCallFailure):
            run(body, settings, ledger, twilio, find=FakeCalls(failure=failure))
        entity = store.get("blind")
        assert entity is not None
        assert (entity["IdempotencyStatus"], entity["Unverified"]) == ("pending", True)
        assert entity["Attempts"] == 1  # the stopped worker's attempt
    assert twilio.calls == []
    # The next delivery asks again, still from the first claim, and places it when Twilio has
    # none.
    calls = FakeCalls()
    assert run(body, settings, ledger, twilio, find=calls).result == "placed"
    assert calls.asked[0]["since"] == start - TWILIO_CLOCK_SKEW
    assert len(twilio.calls) == 1


def test_a_create_without_an_answer_is_checked_an_http_error_is_not(
    settings: Settings, ledger: IdempotencyStore, store: RecordStore
) -> None:
    twilio = FakeTwilio(TimeoutError("read timed out"), twilio_error(503, 20503, "Unavailable"))
    body = '{"id": "quiet", "to": "+15558675310", "say": "Hello"}'
    with pytest.raises(TransientCallFailure):
        run(body, settings, ledger, twilio)  # no answer: Twilio may have the call
    entity = store.get("quiet")
    assert entity is not None
    assert entity["Unverified"] is True
    calls = FakeCalls()
    with pytest.raises(TransientCallFailure):
        run(body, settings, ledger, twilio, find=calls, dequeue_count=2)  # asked, then a 503
    assert len(calls.asked) == 1
    entity = store.get("quiet")
    assert entity is not None
    assert entity["Unverified"] is False
    # A 503 says Twilio did not create it: the next delivery places it without asking.
    assert run(body, settings, ledger, twilio, dequeue_count=3).result == "placed"
    assert len(twilio.calls) == 3
