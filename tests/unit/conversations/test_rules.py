"""A conversation's state, its events and changes, the activity index's keys and the listing
cursor (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.conversations import rules
from switchboard.conversations.rules import (
    Change,
    Conversation,
    Cursor,
    Event,
    apply_change,
    apply_event,
    decode_cursor,
    tag_for,
)

LINE = "+15017122661"
DANA = "+15557770101"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def text(sid: str, at: datetime, *, customer: bool = True, staff: bool = False) -> Event:
    direction = rules.INBOUND if customer else rules.OUTBOUND
    return Event(sid, at, rules.KIND_TEXT, direction, f"body of {sid}", customer, staff)


def fresh() -> Conversation:
    return rules.new_conversation(LINE, DANA, "A1", NOW)


@pytest.mark.parametrize(
    ("sequence", "tag"),
    [(0, "A1"), (1, "B1"), (7, "H1"), (8, "J1"), (13, "P1"), (23, "Z1"), (24, "A2"), (240, "A11")],
)
def test_tags_skip_i_and_o_and_grow_a_digit(sequence: int, tag: str) -> None:
    assert tag_for(sequence) == tag


def test_tags_are_unique_for_a_long_line() -> None:
    tags = [tag_for(n) for n in range(5000)]
    assert len(set(tags)) == 5000
    assert all(rules.parse_tag(t) == t for t in tags)


@pytest.mark.parametrize(
    ("written", "tag"),
    [("#A7", "A7"), ("a7", "A7"), ("# b 12", "B12"), ("#A07", "A7"), ("  #z9 ", "Z9")],
)
def test_a_tag_is_read_in_any_case_and_spacing(written: str, tag: str) -> None:
    assert rules.parse_tag(written) == tag


@pytest.mark.parametrize("written", ["#I1", "#O1", "#A0", "#AA1", "#A12345678", "#", "A", "7"])
def test_what_is_not_a_tag(written: str) -> None:
    assert rules.parse_tag(written) is None


def test_a_customer_event_counts_unread_and_opens_a_done_conversation() -> None:
    done = apply_change(fresh(), Change(state=rules.DONE), NOW)
    after = apply_event(done, text("SM1", NOW))
    assert after is not None
    assert (after.state, after.unread, after.last_at, after.preview) == (
        rules.OPEN,
        1,
        NOW,
        "body of SM1",
    )
    assert after.last_customer_at == NOW
    assert after.recent == ("SM1",)


def test_the_business_texts_leave_the_state_and_a_reply_reads_it() -> None:
    first = apply_event(fresh(), text("SM1", NOW))
    assert first is not None
    closed = apply_change(first, Change(state=rules.DONE), NOW)
    automatic = apply_event(closed, text("SM2", NOW + timedelta(seconds=1), customer=False))
    assert automatic is not None
    assert (automatic.state, automatic.unread) == (rules.DONE, 1)
    answered = apply_event(
        automatic, text("api-1", NOW + timedelta(seconds=2), customer=False, staff=True)
    )
    assert answered is not None
    assert (answered.unread, answered.last_staff_at, answered.read_at) == (
        0,
        NOW + timedelta(seconds=2),
        NOW + timedelta(seconds=2),
    )
    assert answered.last_direction == rules.OUTBOUND


def test_an_event_recorded_twice_counts_once() -> None:
    once = apply_event(fresh(), text("SM1", NOW))
    assert once is not None
    assert apply_event(once, text("SM1", NOW)) is None


def test_the_memory_of_events_is_bounded() -> None:
    state: Conversation | None = fresh()
    for n in range(rules.RECENT_EVENTS + 5):
        assert state is not None
        state = apply_event(state, text(f"SM{n}", NOW + timedelta(seconds=n)))
    assert state is not None
    assert len(state.recent) == rules.RECENT_EVENTS
    assert state.recent[-1] == f"SM{rules.RECENT_EVENTS + 4}"


def test_an_older_event_never_moves_the_activity_back() -> None:
    latest = apply_event(fresh(), text("SM2", NOW))
    assert latest is not None
    older = apply_event(latest, text("CA1", NOW - timedelta(minutes=3)))
    assert older is not None
    assert (older.last_at, older.preview, older.unread) == (NOW, "body of SM2", 2)
    assert older.activity_key == latest.activity_key


def test_changes_assign_unassign_and_mark_read_or_unread() -> None:
    state = apply_event(fresh(), text("SM1", NOW))
    assert state is not None
    assigned = apply_change(state, Change(assigned_to="Ana", read=True), NOW)
    assert (assigned.assigned_to, assigned.unread, assigned.read_at) == ("Ana", 0, NOW)
    unassigned = apply_change(assigned, Change(assigned_to="", read=False), NOW)
    assert (unassigned.assigned_to, unassigned.unread) == (None, 1)
    assert Change().empty
    assert not Change(read=False).empty


def test_the_activity_key_sorts_newest_first_by_state() -> None:
    newer = rules.activity_key(LINE, rules.OPEN, NOW, DANA)
    older = rules.activity_key(LINE, rules.OPEN, NOW - timedelta(milliseconds=1), DANA)
    assert newer < older
    assert newer.startswith(LINE + "|o-")
    assert rules.activity_key(LINE, rules.DONE, NOW, DANA).startswith(LINE + "|d-")
    assert rules.suffix_of(newer) == rules.sort_suffix(NOW, DANA)
    assert rules.is_activity_key(newer)
    assert not rules.is_activity_key(LINE + "|c-" + DANA)
    assert not rules.is_activity_key("o-" + rules.sort_suffix(NOW, DANA))


def test_a_row_round_trips_the_state() -> None:
    state = apply_event(fresh(), text("SM1", NOW))
    assert state is not None
    state = apply_change(state, Change(assigned_to="Ana"), NOW)
    row = rules.state_row(state)
    assert row["ActivityKey"] == state.activity_key
    assert row["LastStaffAt"] == ""  # Table Storage keeps no nulls
    assert rules.from_row(row) == state
    summary = rules.from_row(rules.index_row(state), LINE)
    assert (summary.tag, summary.unread, summary.assigned_to) == ("A1", 1, "Ana")


def test_a_row_with_a_strange_state_reads_as_open() -> None:
    assert rules.from_row({"State": "archived", "Unread": -3}, LINE).state == rules.OPEN
    assert rules.from_row({"State": "archived", "Unread": -3}, LINE).unread == 0


def test_answered_within_a_day() -> None:
    state = Conversation(LINE, DANA, "A1", last_staff_at=NOW)
    assert state.answered_since(NOW + timedelta(hours=23))
    assert not state.answered_since(NOW + timedelta(hours=24))
    assert not fresh().answered_since(NOW)


def test_the_preview_is_one_line_and_bounded() -> None:
    assert rules.preview_of("two\nlines  here") == "two lines here"
    long = rules.preview_of("x" * 500)
    assert len(long) == rules.PREVIEW_CHARS
    assert long.endswith("…")


def test_a_cursor_round_trips_and_admits_what_follows() -> None:
    cursor = Cursor(rules.sort_suffix(NOW, DANA), LINE)
    decoded = decode_cursor(cursor.encode())
    assert decoded == cursor
    assert cursor.admits(rules.sort_suffix(NOW - timedelta(seconds=1), DANA), LINE)
    assert cursor.admits(rules.sort_suffix(NOW, DANA), "+15017122662")  # same time, next line
    assert not cursor.admits(rules.sort_suffix(NOW, DANA), LINE)
    assert not cursor.admits(rules.sort_suffix(NOW + timedelta(seconds=1), DANA), LINE)


def test_an_instant_is_a_cursor_strictly_before_it() -> None:
    cursor = decode_cursor("2026-12-01T15:00:00Z")
    assert cursor is not None
    assert not cursor.admits(rules.sort_suffix(NOW, DANA), LINE)
    assert cursor.admits(rules.sort_suffix(NOW - timedelta(milliseconds=1), DANA), LINE)


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "2026-12-01T15:00:00", "2026-13-01T00:00Z", "not-base64!", "eA", "x" * 600],
)
def test_what_is_not_a_cursor(raw: str) -> None:
    assert decode_cursor(raw) is None


def test_a_forged_cursor_is_refused() -> None:
    assert decode_cursor(Cursor("12345-+1555", LINE).encode()) is None
    assert decode_cursor(Cursor(rules.sort_suffix(NOW, DANA), "a/b").encode()) is None


def test_each_range_reads_its_share_of_the_page() -> None:
    assert rules.page_size(20, 1) == 21
    assert rules.page_size(20, 4) == 7
    assert rules.page_size(1, 40) == 2


def test_range_bounds_follow_the_state_and_the_cursor() -> None:
    assert rules.range_bounds(LINE, rules.OPEN, None) == (LINE + "|o-", LINE + "|o.")
    cursor = Cursor("0001-x", LINE)
    assert rules.range_bounds(LINE, rules.DONE, cursor) == (LINE + "|d-0001-x", LINE + "|d.")
    assert rules.states_of(None) == rules.STATES
    assert rules.states_of(rules.DONE) == (rules.DONE,)


def test_the_lines_a_listing_reads() -> None:
    known = [LINE, "+15005550010"]
    assert rules.visible_lines(known, None, None) == ["+15005550010", LINE]
    assert rules.visible_lines(known, {LINE}, None) == [LINE]
    assert rules.visible_lines((), {LINE}, "+15005550010") == []
    assert rules.visible_lines((), None, LINE) == [LINE]


def test_what_keys_a_conversation() -> None:
    assert rules.keyable(LINE, DANA)
    assert not rules.keyable(LINE, "")
    assert not rules.keyable("", DANA)
    assert not rules.keyable(LINE, "a/b")
    assert not rules.keyable("+1555|x", DANA)  # a line's prefix ends at its first bar


# --------------------------------------------------------------------------------------------
# Every field of the rows, and the edges of what the rules take


def full() -> Conversation:
    """A conversation with every field set (each a different value)."""
    return Conversation(
        LINE,
        DANA,
        "B7",
        state=rules.DONE,
        unread=3,
        last_at=NOW,
        preview="Is my bike ready?",
        last_direction=rules.INBOUND,
        last_kind=rules.KIND_CALL,
        assigned_to="Ana",
        created_at=NOW - timedelta(days=3),
        last_staff_at=NOW - timedelta(days=2),
        last_customer_at=NOW - timedelta(hours=1),
        read_at=NOW - timedelta(minutes=5),
        recent=("SM1", "SM2"),
    )


def test_the_state_row_keeps_every_field() -> None:
    row = rules.state_row(full())
    assert (row["PartitionKey"], row["RowKey"]) == ("account", LINE + "|c-" + DANA)
    assert row["Recent"] == "SM1 SM2"
    assert rules.from_row(row) == full()


def test_the_index_row_is_the_summary_under_its_activity_key() -> None:
    row = rules.index_row(full())
    assert (row["PartitionKey"], row["RowKey"]) == ("account", full().activity_key)
    assert row["RowKey"].startswith(LINE + "|d-")
    assert set(row) == {
        "PartitionKey",
        "RowKey",
        "Customer",
        "Tag",
        "State",
        "Unread",
        "LastAt",
        "Preview",
        "LastDirection",
        "LastKind",
        "AssignedTo",
    }


def test_a_row_without_fields_reads_as_empty_not_as_none() -> None:
    empty = rules.from_row({"PartitionKey": "account", "RowKey": LINE + "|c-"})
    assert empty == Conversation(LINE, "", "")
    assert rules.from_row({"State": rules.DONE}, LINE).state == rules.DONE


def test_the_keys_of_the_other_rows() -> None:
    assert rules.tag_key(LINE, "A7") == LINE + "|t-A7"
    assert rules.relay_key(LINE, "+15550000101") == LINE + "|r-+15550000101"
    assert rules.state_key(LINE, DANA) == LINE + "|c-" + DANA
    assert rules.line_key(LINE) == "line|" + LINE
    assert rules.line_marker_key(LINE) == "changed|" + LINE
    assert rules.new_conversation(LINE, DANA, "A1", NOW).created_at == NOW


def test_inverted_milliseconds() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert rules.inverted_ms(epoch + timedelta(seconds=1)) == rules.inverted_ms(epoch) - 1000
    assert rules.sort_suffix(None, DANA) == f"{rules.inverted_ms(epoch):014d}-{DANA}"


def test_a_customer_too_long_for_the_activity_key_keys_nothing() -> None:
    # "<line>|c-" + 490 characters fits a key; "<line>|o-<inverted ms>-" + the same does not.
    assert not rules.keyable(LINE, "1" * 490)
    assert rules.keyable(LINE, "1" * 467)


def test_an_event_at_the_same_moment_still_moves_the_preview() -> None:
    first = apply_event(fresh(), text("SM1", NOW))
    assert first is not None
    second = apply_event(first, text("SM2", NOW))
    assert second is not None
    assert second.preview == "body of SM2"
    assert second.last_kind == rules.KIND_TEXT


def test_older_events_never_move_the_customers_or_the_staffs_moments_back() -> None:
    state = apply_event(fresh(), text("SM1", NOW))
    assert state is not None
    state = apply_event(state, text("api-1", NOW, customer=False, staff=True))
    assert state is not None
    older = apply_event(state, text("SM0", NOW - timedelta(hours=1)))
    assert older is not None
    older = apply_event(older, text("api-0", NOW - timedelta(hours=1), customer=False, staff=True))
    assert older is not None
    assert (older.last_customer_at, older.last_staff_at, older.read_at) == (NOW, NOW, NOW)


def test_the_preview_keeps_a_text_of_exactly_its_length() -> None:
    exact = "y" * rules.PREVIEW_CHARS
    assert rules.preview_of(exact) == exact


def test_page_sizes_for_two_and_three_ranges() -> None:
    assert rules.page_size(20, 2) == 12
    assert rules.page_size(20, 3) == 8


def test_a_cursors_token_has_no_padding() -> None:
    cursor = Cursor(rules.sort_suffix(NOW, DANA), LINE)
    token = cursor.encode()
    assert "=" not in token
    assert not token.startswith(" ")
    assert decode_cursor(token) == cursor
    assert decode_cursor(Cursor(rules.sort_suffix(NOW, DANA)).encode()) == Cursor(
        rules.sort_suffix(NOW, DANA)
    )


@pytest.mark.parametrize(
    ("raw", "admitted"),
    [
        ("1970-01-01T00:00:01Z", True),
        ("9998-06-01T00:00:00+00:00", True),
        ("1969-12-31T23:00:00Z", False),
        ("9999-01-01T00:00:00Z", False),
    ],
)
def test_the_years_an_instant_may_name(raw: str, admitted: bool) -> None:
    assert (decode_cursor(raw) is not None) is admitted


def test_a_cursor_naming_a_line_that_is_no_number_is_refused() -> None:
    suffix = rules.sort_suffix(NOW, DANA)
    assert decode_cursor(Cursor(suffix, "+1|2").encode()) is None
    assert decode_cursor(Cursor(suffix, "lines").encode()) is None


def test_a_cursor_after_a_customer_with_a_bar_in_its_name_round_trips() -> None:
    cursor = Cursor(rules.sort_suffix(NOW, "ACME|Deals"), LINE)
    assert decode_cursor(cursor.encode()) == cursor
    assert decode_cursor(Cursor(rules.sort_suffix(NOW, "A|B")).encode()) == Cursor(
        rules.sort_suffix(NOW, "A|B")
    )


# --------------------------------------------------------------------------------------------
# One partition, keys by line, and the markers a poll reads


def test_every_row_of_every_line_is_in_one_partition_keyed_by_its_line() -> None:
    other = "+15005550010"
    mine = rules.state_row(Conversation(LINE, DANA, "A1"))
    theirs = rules.index_row(Conversation(other, DANA, "A1"))
    assert mine["PartitionKey"] == theirs["PartitionKey"] == rules.PARTITION
    assert rules.line_of(mine["RowKey"]) == LINE
    assert rules.line_of(theirs["RowKey"]) == other
    assert rules.line_of(rules.line_marker_key(LINE)) == ""  # a row of no one line
    assert rules.from_row(theirs).line == other


def test_a_lines_ranges_hold_only_its_own_rows() -> None:
    # "+1501712266" is a prefix of LINE's number: its range must not reach LINE's rows.
    short = LINE[:-1]
    low, high = rules.range_bounds(short, rules.OPEN, None)
    assert not low <= rules.activity_key(LINE, rules.OPEN, NOW, DANA) < high
    assert low <= rules.activity_key(short, rules.OPEN, NOW, DANA) < high
    low, high = rules.family_bounds(rules.LINE_ROW_PREFIX)
    assert low <= rules.line_key(LINE) < high
    assert not low <= rules.line_marker_key(LINE) < high
    assert not low <= rules.state_key(LINE, DANA) < high
    low, high = rules.family_bounds(rules.LINE_MARKER_PREFIX)
    assert low <= rules.line_marker_key(LINE) < high
    assert not low <= rules.ACCOUNT_MARKER < high
    # Each family's range ends right after it: the first key past the bar is outside.
    assert rules.family_bounds(rules.LINE_ROW_PREFIX) == ("line|", "line}")
    assert rules.family_bounds(rules.LINE_MARKER_PREFIX) == ("changed|", "changed}")


def test_the_first_bar_of_a_key_ends_its_line_whatever_bars_the_customer_holds() -> None:
    # A channel address (a customer) may hold a bar; a line's number never does.
    customer = "messenger:acme|dana"
    assert rules.keyable(LINE, customer)
    key = rules.activity_key(LINE, rules.OPEN, NOW, customer)
    assert rules.line_of(key) == LINE
    assert rules.is_activity_key(key)
    assert rules.suffix_of(key) == rules.sort_suffix(NOW, customer)
    assert rules.line_of(rules.state_key(LINE, customer)) == LINE


def test_a_view_of_one_line_polls_its_marker_and_of_more_the_accounts() -> None:
    assert rules.view_marker_key([LINE]) == rules.line_marker_key(LINE)
    assert rules.view_marker_key([LINE, LINE]) == rules.line_marker_key(LINE)
    assert rules.view_marker_key([LINE, "+15005550010"]) == rules.ACCOUNT_MARKER
    assert rules.view_marker_key([]) == rules.ACCOUNT_MARKER


def test_a_write_replaces_the_accounts_marker_and_its_lines() -> None:
    rows = rules.marker_rows([LINE, "+15005550010", LINE], NOW)
    assert [r["RowKey"] for r in rows] == [
        rules.ACCOUNT_MARKER,
        rules.line_marker_key("+15005550010"),
        rules.line_marker_key(LINE),
    ]
    assert {r["PartitionKey"] for r in rows} == {rules.PARTITION}
    # Only its ETag matters; the row says when it last moved.
    assert rows[0] == {"PartitionKey": rules.PARTITION, "RowKey": rules.ACCOUNT_MARKER, "At": NOW}
    assert [r["RowKey"] for r in rules.marker_rows((), NOW)] == [rules.ACCOUNT_MARKER]
