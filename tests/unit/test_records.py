"""Record layout: index keys sort newest first, JSON is camelCase with ISO times and an error object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from switchboard import records
from switchboard.phone import is_e164, mask, time_zones_for


def test_index_rows_sort_newest_first_within_a_day() -> None:
    base = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    rows = [
        records.index_row(base + timedelta(milliseconds=ms), f"id{ms}")
        for ms in (0, 1, 500, 60_000)
    ]
    assert sorted(rows) == list(reversed(rows))


def test_index_partitions_cover_the_days_newest_first() -> None:
    since = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
    until = datetime(2026, 11, 23, 0, 1, tzinfo=UTC)
    assert records.index_partitions_between(since, until) == [
        "idx-20261123",
        "idx-20261122",
        "idx-20261121",
        "idx-20261120",
    ]


def test_to_json_is_camel_case_with_iso_times_and_error() -> None:
    entity = {
        "PartitionKey": "CA1",
        "RowKey": "record",
        "Id": "CA1",
        "Status": "failed",
        "CreatedAt": datetime(2026, 11, 23, 8, 30, 1, 123000, tzinfo=UTC),
        "ErrorCode": 21211,
        "ErrorMessage": "Invalid 'To' Phone Number",
        "MenuChoicesJson": '["1", "3"]',
    }
    data = records.to_json(entity)
    assert data == {
        "id": "CA1",
        "status": "failed",
        "createdAt": "2026-11-23T08:30:01.123Z",
        "menuChoices": ["1", "3"],
        "error": {"code": 21211, "message": "Invalid 'To' Phone Number"},
    }


def test_keys_reject_characters_tables_forbid() -> None:
    assert records.is_valid_key("reminder-42")
    for bad in ("a/b", "a\\b", "a#b", "a?b", "tab\there", "", "x" * 1025):
        assert not records.is_valid_key(bad)


def test_phone_helpers() -> None:
    assert mask("+15558675310") == "+1555***5310"
    assert "8675" not in mask("+15558675310")
    assert mask("client:alice") == "client:***"
    assert mask("anonymous") == "***"
    assert is_e164("+15017122661")
    assert not is_e164("+1501712266")  # too short for NANP
    assert not is_e164("15017122661")
    assert "Europe/Paris" in time_zones_for("+33142685300")
    assert len(time_zones_for("+15017122661")) >= 1


@given(st.text(max_size=520))
@example("CA" + "a" * 32)
@example("x" * 496)
@example("x" * 497)
@example("a/b")
@example("")
@example("\ud800")
def test_a_record_id_is_valid_when_it_and_its_index_row_are_table_keys(value: str) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # the longest index RowKey prefix
    expected = records.is_valid_key(value) and records.is_valid_key(records.index_row(epoch, value))
    assert records.is_valid_record_id(value) is expected
