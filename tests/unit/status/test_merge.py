"""The merge of status callbacks: out of order and repeated, the same end."""

from __future__ import annotations

from functools import reduce
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.logbook import statuses
from switchboard.logbook.statuses import Kind, rank
from switchboard.outbound.messagelog import outbound_change, outbound_fields
from switchboard.status import merge as status
from switchboard.status.merge import StatusUpdate, merge, parse_callback

SID = "SM" + "0" * 32


def test_parse_callback_types_and_missing_fields() -> None:
    update = parse_callback(
        Kind.CALL,
        {
            "CallSid": "CA1",
            "CallStatus": "completed",
            "CallDuration": "42",
            "AnsweredBy": "human",
            "SipResponseCode": "x",
            "To": "+15558675310",
        },
    )
    assert update.fields == {"CallDuration": 42, "AnsweredBy": "human"}
    assert update.to == "+15558675310"
    message = parse_callback(
        Kind.MESSAGE, {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "21610"}
    )
    assert message.error_code == 21610
    with pytest.raises(status.CallbackError):
        parse_callback(Kind.MESSAGE, {"MessageSid": "SM1"})
    with pytest.raises(status.CallbackError):
        parse_callback(Kind.CALL, {"CallStatus": "ringing"})


def test_unknown_record_is_created_marked() -> None:
    update = parse_callback(
        Kind.MESSAGE,
        {"MessageSid": SID, "MessageStatus": "sent", "To": "+15558675310", "From": "+15017122661"},
    )
    created = merge(None, update)
    assert created == {
        "Sid": SID,
        "Status": "sent",
        "Unknown": True,
        "To": "+15558675310",
        "From": "+15017122661",
    }


def test_duplicate_writes_nothing() -> None:
    update = parse_callback(Kind.MESSAGE, {"MessageSid": SID, "MessageStatus": "delivered"})
    record = status.apply({"Sid": SID, "Status": "sent"}, update)
    assert record["Status"] == "delivered"
    assert merge(record, update) is None


def test_late_lower_callback_only_fills_gaps() -> None:
    record = {"Sid": "CA1", "Status": "completed", "CallDuration": 30}
    late = parse_callback(
        Kind.CALL,
        {
            "CallSid": "CA1",
            "CallStatus": "in-progress",
            "AnsweredBy": "machine_start",
            "CallDuration": "1",
        },
    )
    assert merge(record, late) == {"AnsweredBy": "machine_start"}


MESSAGE_SEQUENCES: list[list[dict[str, str]]] = [
    [
        {"MessageStatus": "queued"},
        {"MessageStatus": "sending"},
        {"MessageStatus": "sent", "NumSegments": "2"},
        {"MessageStatus": "delivered"},
        {"MessageStatus": "read"},
    ],
    [
        {"MessageStatus": "accepted"},
        {"MessageStatus": "queued"},
        {"MessageStatus": "sent"},
        {"MessageStatus": "undelivered", "ErrorCode": "30003"},
    ],
    [
        {"MessageStatus": "queued"},
        {"MessageStatus": "failed", "ErrorCode": "21610", "ErrorMessage": "Unsubscribed"},
    ],
    [{"MessageStatus": "scheduled"}, {"MessageStatus": "canceled"}],
]


CALL_SEQUENCES: list[list[dict[str, str]]] = [
    [
        {"CallStatus": "queued"},
        {"CallStatus": "initiated"},
        {"CallStatus": "ringing"},
        {"CallStatus": "in-progress", "AnsweredBy": "human"},
        {"CallStatus": "completed", "CallDuration": "17", "Duration": "1", "AnsweredBy": "human"},
    ],
    [
        {"CallStatus": "initiated"},
        {"CallStatus": "ringing"},
        {"CallStatus": "no-answer", "CallDuration": "0", "SipResponseCode": "487"},
    ],
    [{"CallStatus": "queued"}, {"CallStatus": "failed", "ErrorCode": "21215"}],
]


def _updates(kind: Kind, sequence: list[dict[str, str]]) -> list[StatusUpdate]:
    key = "MessageSid" if kind is Kind.MESSAGE else "CallSid"
    return [parse_callback(kind, {key: SID, **params}) for params in sequence]


def _fold(start: dict[str, Any] | None, updates: list[StatusUpdate]) -> dict[str, Any]:
    return reduce(status.apply, updates, start or {})  # type: ignore[arg-type]


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn) -> tuple[Kind, list[StatusUpdate], list[int]]:
    kind = draw(st.sampled_from([Kind.MESSAGE, Kind.CALL]))
    sequences = MESSAGE_SEQUENCES if kind is Kind.MESSAGE else CALL_SEQUENCES
    updates = _updates(kind, draw(st.sampled_from(sequences)))
    # Every callback at least once, some several times, in any order.
    order = list(range(len(updates))) + draw(
        st.lists(st.integers(0, len(updates) - 1), max_size=3 * len(updates))
    )
    return kind, updates, draw(st.permutations(order))


@settings(max_examples=300, deadline=None)
@given(shuffled_with_duplicates(), st.booleans())
def test_any_order_and_duplication_ends_in_the_same_record(
    case: tuple[Kind, list[StatusUpdate], list[int]], known_first: bool
) -> None:
    _kind, updates, order = case
    # Either the app recorded the message before callbacks, or a callback came first (Unknown).
    start = {"Sid": SID, "Status": "queued"}
    in_order = _fold(dict(start) if known_first else None, updates)
    shuffled = _fold(dict(start) if known_first else None, [updates[i] for i in order])
    assert shuffled == in_order
    final = updates[-1].status
    assert in_order["Status"] == final


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([Kind.MESSAGE, Kind.CALL]).flatmap(
        lambda kind: st.tuples(
            st.just(kind),
            st.lists(
                st.sampled_from(
                    [
                        *(statuses.MESSAGE_ORDER if kind is Kind.MESSAGE else statuses.CALL_ORDER),
                        "x",
                    ]
                ),
                min_size=1,
                max_size=12,
            ),
        )
    ),
    st.randoms(use_true_random=False),
)
def test_even_contradictory_reports_converge(case: tuple[Kind, list[str]], rnd: Any) -> None:
    # Beyond Twilio's real sequences: any multiset of status words ends at its highest word.
    kind, words = case
    key, field = (
        ("MessageSid", "MessageStatus") if kind is Kind.MESSAGE else ("CallSid", "CallStatus")
    )
    updates = [parse_callback(kind, {key: SID, field: w}) for w in words]
    shuffled = list(updates)
    rnd.shuffle(shuffled)
    start = {"Sid": SID, "Status": "created-by-app"}
    assert _fold(dict(start), updates) == _fold(dict(start), shuffled)
    known = [w for w in words if statuses.is_known(kind, w)]
    expected = max(known, key=lambda w: rank(kind, w)) if known else "created-by-app"
    assert _fold(dict(start), shuffled)["Status"] == expected


@settings(max_examples=100, deadline=None)
@given(st.permutations(list(range(5))), st.integers(0, 5))
def test_recording_the_send_after_early_callbacks_keeps_their_status(
    order: list[int], record_at: int
) -> None:
    updates = _updates(Kind.MESSAGE, MESSAGE_SEQUENCES[0])
    fields = outbound_fields(
        sid=SID, to="+15558675310", from_="+15017122661", body="hi", source="test", status="queued"
    )
    change = outbound_change(fields)
    record: dict[str, Any] | None = None
    steps: list[Any] = [updates[i] for i in order]
    steps.insert(record_at, "record")
    for step in steps:
        if step == "record":
            record = {**(record or {}), **(change(record) or {})}
        else:
            record = status.apply(record, step)
    assert record is not None
    assert record["Status"] == "read"
    assert record.get("Unknown") in (None, False)
    assert record["Body"] == "hi"
    assert record["Direction"] == "outbound"


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("30034", "not registered (A2P 10DLC)"),
        ("30032", "not verified (toll-free)"),
        ("30024", "sender not provisioned on the carrier"),
        ("30007", "filtered by the carrier"),
        ("30003", None),
        ("", None),
    ],
)
def test_a_not_registered_or_filtered_code_puts_its_words_on_the_record(
    code: str, problem: str | None
) -> None:
    update = parse_callback(
        Kind.MESSAGE,
        {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": code},
    )
    assert update.fields.get("Problem") == problem
    changes = merge({"Sid": SID, "Status": "sent"}, update)
    assert changes is not None
    assert changes.get("Problem") == problem
    # The same callback again changes nothing: a duplicate is not a second failure.
    assert merge({"Sid": SID, "Status": "sent", **changes}, update) is None
    # A call callback's code is never a message's problem.
    call = parse_callback(Kind.CALL, {"CallSid": "CA1", "CallStatus": "failed", "ErrorCode": code})
    assert "Problem" not in call.fields


def test_a_sid_longer_than_any_twilio_sid_is_refused_before_storage() -> None:
    """A 32,769-character SID would fill the record's `Sid` past Table Storage's 64 KiB
    property limit: refused at parsing (400), never a failed write (503)."""
    from switchboard.status.merge import MAX_FIELD_CHARS, CallbackError

    ok = parse_callback(
        Kind.MESSAGE, {"MessageSid": "S" * MAX_FIELD_CHARS, "MessageStatus": "sent"}
    )
    assert ok.sid == "S" * MAX_FIELD_CHARS
    for kind, name, status_name in (
        (Kind.MESSAGE, "MessageSid", "MessageStatus"),
        (Kind.CALL, "CallSid", "CallStatus"),
    ):
        with pytest.raises(CallbackError, match="longer than any Twilio SID"):
            parse_callback(kind, {name: "S" * 32_769, status_name: "completed"})
