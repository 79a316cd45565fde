"""The replies a reminder takes, as pure functions: their two forms and the CSV cell, the word a
text is, the outstanding reminders of a (line, customer) and which one a reply answers, the
binding's verdicts, and what a bound reply sends through the outbound policy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.optouts.rules import RESERVED_KEYWORDS, OptOutRecord
from switchboard.outbound.destinations import Destinations
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.store import SenderState
from switchboard.outbound.windows import DAY, Policy, Tally, digest_of
from switchboard.schedules import replies as r
from switchboard.schedules.replies import Binding, Choice, Outstanding, RepliesError

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
CUSTOMER = "+15558675310"
LINE = "+15017122661"
OWNER = "+15005550006"
ANA = "+15005550010"


# --- the two forms ---------------------------------------------------------------------------


def test_the_short_form_gives_each_key_its_meaning_and_the_default_answer() -> None:
    assert r.parse_replies({"c": "confirmed", "X": "cancelled", "r2": "Reschedule_me"}) == (
        Choice("C", "confirmed", None, False),
        Choice("X", "cancelled", None, True),  # a cancellation tells the line's people
        Choice("R2", "Reschedule_me", None, False),
    )


def test_the_long_form_carries_the_answer_and_whether_to_notify() -> None:
    assert r.parse_replies(
        {
            "C": {"means": "confirmed", "answer": "Thanks, see you then."},
            "X": {"means": "cancelled", "notify": False},
            "L": {"means": "late", "notify": True},
        }
    ) == (
        Choice("C", "confirmed", "Thanks, see you then.", False),
        Choice("X", "cancelled", None, False),
        Choice("L", "late", None, True),
    )
    assert r.parse_replies({"X": "Canceled"})[0].notify


@pytest.mark.parametrize("word", sorted(RESERVED_KEYWORDS))
def test_stop_and_every_reserved_word_is_refused_in_any_case(word: str) -> None:
    for key in (word, word.lower(), word.capitalize()):
        with pytest.raises(RepliesError) as caught:
            r.parse_replies({key: "confirmed"})
        assert caught.value.field == f"/replies/{key}"
        assert "reserve" in caught.value.message


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("C=confirmed", "replies"),
        ([], "replies"),
        ({}, "replies"),
        ({f"K{n}": "ok" for n in range(11)}, "replies"),
        ({"": "confirmed"}, "/replies/"),
        ({"C.": "confirmed"}, "/replies/C."),
        ({"two words": "confirmed"}, "/replies/two words"),
        ({"ABCDEFGHIJK": "confirmed"}, "/replies/ABCDEFGHIJK"),
        ({"a/b": "confirmed"}, "/replies/a~1b"),
        ({"é": "confirmed"}, "/replies/é"),
        ({"C": "confirmed", "c": "cancelled"}, "/replies/c"),
        ({"C": ""}, "/replies/C"),
        ({"C": "two words"}, "/replies/C"),
        ({"C": "1st"}, "/replies/C"),
        ({"C": "x" * 33}, "/replies/C"),
        ({"C": 5}, "/replies/C"),
        ({"C": None}, "/replies/C"),
        ({"C": {"answer": "Hi"}}, "/replies/C/means"),
        ({"C": {"means": 1}}, "/replies/C/means"),
        ({"C": {"means": "ok", "answer": ""}}, "/replies/C/answer"),
        ({"C": {"means": "ok", "answer": "   "}}, "/replies/C/answer"),
        ({"C": {"means": "ok", "answer": 3}}, "/replies/C/answer"),
        ({"C": {"means": "ok", "answer": "x" * 321}}, "/replies/C/answer"),
        ({"C": {"means": "ok", "answer": "\ud800"}}, "/replies/C/answer"),
        ({"C": {"means": "ok", "notify": "yes"}}, "/replies/C/notify"),
        ({"C": {"means": "ok", "colour": "red"}}, "/replies/C/colour"),
    ],
)
def test_every_refusal_names_its_json_pointer(value: object, field: str) -> None:
    with pytest.raises(RepliesError) as caught:
        r.parse_replies(value)
    assert caught.value.field == field


def test_a_trailing_newline_is_no_key_or_meaning() -> None:
    for value in ({"C\n": "ok"}, {"C": "ok\n"}):
        with pytest.raises(RepliesError):
            r.parse_replies(value)


def test_answers_up_to_320_characters_and_ten_replies_are_taken() -> None:
    assert r.parse_replies({"C": {"means": "ok", "answer": "x" * 320}})[0].answer == "x" * 320
    assert len(r.parse_replies({f"K{n}": "ok" for n in range(10)})) == 10


# --- the CSV cell and the stored form -----------------------------------------------------------


def test_the_csv_cell_reads_pairs_or_the_json_object() -> None:
    assert r.parse_cell(" C = confirmed ; x=cancelled; ") == (
        Choice("C", "confirmed", None, False),
        Choice("X", "cancelled", None, True),
    )
    assert r.parse_cell('{"C": {"means": "confirmed", "answer": "See you!"}}') == (
        Choice("C", "confirmed", "See you!", False),
    )


@pytest.mark.parametrize(
    ("cell", "field"),
    [
        ("C", "replies"),
        ("C:confirmed", "replies"),
        ("C=confirmed;c=cancelled", "/replies/c"),
        ("STOP=cancelled", "/replies/STOP"),
        ("C=", "/replies/C"),
        ("{not json", "replies"),
        ("", "replies"),
        (";;", "replies"),
    ],
)
def test_a_bad_cell_names_what_is_wrong(cell: str, field: str) -> None:
    with pytest.raises(RepliesError) as caught:
        r.parse_cell(cell)
    assert caught.value.field == field


def test_the_cell_and_the_stored_form_read_back_the_same_replies() -> None:
    short = r.parse_cell("C=confirmed;X=cancelled")
    assert r.cell_text(short) == "C=confirmed;X=cancelled"
    custom = r.parse_replies({"C": {"means": "confirmed", "answer": "A;B=C"}, "X": "cancelled"})
    assert r.parse_cell(r.cell_text(custom)) == custom
    quiet = r.parse_replies({"X": {"means": "cancelled", "notify": False}})
    assert r.parse_cell(r.cell_text(quiet)) == quiet
    assert r.from_stored(r.stored(custom)) == custom
    assert json.loads(r.stored(custom)) == {
        "C": {"means": "confirmed", "answer": "A;B=C", "notify": False},
        "X": {"means": "cancelled", "notify": True},
    }


@pytest.mark.parametrize("raw", [None, "", "[1]", "{", '{"C": 1}', '{"C": {"answer": "x"}}', 5])
def test_anything_else_stored_is_no_replies(raw: object) -> None:
    assert r.from_stored(raw) == ()


# --- the word a text is ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("c ", "C"),
        ("  x\n", "X"),
        ("Yes1", "YES1"),
        ("C.", None),
        ("c please", None),
        ("", None),
        (None, None),
        ("stop", None),
        (" Yes ", None),
        ("HELP", None),
        ("a" * 11, None),
        ("ｃ", None),  # a full-width letter is not the key C
    ],
)
def test_the_word_a_text_could_be(body: str | None, word: str | None) -> None:
    assert r.reply_word(body) == word


# --- the outstanding reminders of a (line, customer) ----------------------------------------------

CX = (Choice("C", "confirmed"), Choice("X", "cancelled", notify=True))


def reminder(schedule_id: str, hours_ago: float, **fields: object) -> Outstanding:
    sent = NOW - timedelta(hours=hours_ago)
    values: dict[str, object] = {"until": sent + DAY, "choices": CX}
    values.update(fields)
    return Outstanding(schedule_id, sent, **values)  # type: ignore[arg-type]


def test_the_row_keys_of_a_text_name_its_number_and_its_messaging_service() -> None:
    assert r.index_row_keys(LINE, None) == ("reminder-" + LINE,)
    assert r.index_row_keys(LINE, "MG" + "1" * 32) == ("reminder-" + LINE, "reminder-MG" + "1" * 32)
    assert r.index_row_keys(" ", None) == ()


def test_a_row_holds_its_reminders_newest_first_and_reads_back() -> None:
    older, newer = reminder("a", 5), reminder("b", 1, responded="SM1")
    row = {"PartitionKey": CUSTOMER, "RowKey": "reminder-x", **r.index_properties([older, newer])}
    assert r.index_entries(row) == (newer, older)
    assert r.index_entries(None) == ()
    assert r.index_entries({"Reminders": "not json"}) == ()
    junk = json.dumps([1, {"id": "z"}, {"id": "q", "sentAt": "x", "until": "y"}])
    assert r.index_entries({"Reminders": junk}) == ()


def test_a_sent_reminder_joins_the_row_and_the_stale_ones_leave() -> None:
    kept = [reminder(f"k{n}", n + 1) for n in range(5)]
    late = reminder("late", 30)  # its replyUntil is over
    done = reminder("done", 2, responded="SM9")
    sent = reminder("new", 0)
    after = r.with_sent([*kept, late, done], sent, NOW)
    assert [e.schedule_id for e in after] == ["new", "k0", "k1", "k2", "k3"]
    again = r.with_sent(after, reminder("k2", 0.5), NOW)  # a send recovered: no duplicate
    assert [e.schedule_id for e in again] == ["new", "k2", "k0", "k1", "k3"]


def test_a_reply_answers_the_most_recent_outstanding_reminder_that_takes_it() -> None:
    yes_no = (Choice("Y", "confirmed"), Choice("N", "cancelled", notify=True))
    entries = [reminder("cx-old", 6), reminder("yn", 2, choices=yes_no), reminder("cx", 4)]
    assert r.find(entries, "C", NOW) == r.Match(entries[2], CX[0])
    assert r.find(entries, "N", NOW) == r.Match(entries[1], yes_no[1])
    assert r.find(entries, "Q", NOW) is None
    assert r.find(entries, None, NOW) is None
    answered = r.answered(entries, "cx", "SM1")
    assert r.find(answered, "C", NOW) == r.Match(answered[0], CX[0])  # the older one now
    # Twilio retrying the reply that answered it finds it still.
    assert r.find(answered, "C", NOW, "SM1") == r.Match(answered[2], CX[0])
    gone = r.answered(entries, "cx", None)
    assert [e.schedule_id for e in gone] == ["cx-old", "yn"]


def test_a_reply_at_or_after_reply_until_is_late() -> None:
    entry = reminder("a", 1, until=NOW)
    assert entry.takes("C", NOW - timedelta(milliseconds=1)) == CX[0]
    assert entry.takes("C", NOW) is None
    assert r.find([entry], "C", NOW + timedelta(seconds=1)) is None


# --- the binding on the id row ---------------------------------------------------------------


def test_the_binding_verdicts() -> None:
    assert r.binding(None, "SM1") is Binding.GONE
    assert r.binding({"Body": "x"}, "SM1") is Binding.BIND
    assert r.binding({"ResponseSid": "SM1"}, "SM1") is Binding.REPEAT
    assert r.binding({"ResponseSid": "SM2"}, "SM1") is Binding.TAKEN
    assert r.response_properties(CX[0], "SM1", NOW) == {
        "Response": "confirmed",
        "ResponseKey": "C",
        "ResponseSid": "SM1",
        "RespondedAt": NOW,
    }


# --- what a bound reply sends -----------------------------------------------------------------

EVERYWHERE = Destinations(frozenset({LINE}), None)
POLICIES = {
    Purpose.REMINDER_ANSWER: Policy(5, DAY),
    Purpose.REMINDER_NOTICE: Policy(5, DAY),
}


def plan(
    state: SenderState | None = None,
    *,
    notice: str | None = None,
    notify: tuple[str, ...] = (OWNER,),
    sid: str = "SM1",
    destinations: Destinations = EVERYWHERE,
    policies: Mapping[Purpose, Policy] = POLICIES,
) -> r.Plan:
    return r.plan_texts(
        sid=sid,
        customer=CUSTOMER,
        line=LINE,
        answer="Thanks, see you then.",
        notice=notice,
        notify=notify,
        state=state or SenderState(CUSTOMER, LINE),
        destinations=destinations,
        policies=policies,
        now=NOW,
    )


def test_a_confirmation_answers_the_customer_once_and_counts_it() -> None:
    first = plan()
    assert first.texts == (r.Text(CUSTOMER, "Thanks, see you then.", Purpose.REMINDER_ANSWER),)
    assert first.words == {Purpose.REMINDER_ANSWER: "sent"}
    assert first.tallies == {Purpose.REMINDER_ANSWER: Tally(since=NOW, count=1, last_sid="SM1")}
    assert first.charges == ("SM1-reminder-answer",)
    assert first.sent == (digest_of("Thanks, see you then."),)
    # Twilio's retry of the same reply: the same answer, nothing counted again.
    retried = plan(SenderState(CUSTOMER, LINE, tallies=first.tallies, sent=first.sent))
    assert retried.texts == first.texts
    assert (retried.tallies, retried.sent) == ({}, None)


def test_a_cancellation_also_tells_every_reachable_person_of_the_line() -> None:
    done = plan(notice="Note", notify=(ANA, OWNER, ANA, LINE))
    assert [(t.to, t.purpose) for t in done.texts] == [
        (CUSTOMER, Purpose.REMINDER_ANSWER),
        (ANA, Purpose.REMINDER_NOTICE),
        (OWNER, Purpose.REMINDER_NOTICE),
    ]
    assert done.words == {Purpose.REMINDER_ANSWER: "sent", Purpose.REMINDER_NOTICE: "sent"}
    assert done.charges == (
        "SM1-reminder-answer",
        f"SM1-reminder-notice-{ANA}",
        f"SM1-reminder-notice-{OWNER}",
    )
    nobody = plan(notice="Note", notify=(LINE,))
    assert nobody.words[Purpose.REMINDER_NOTICE] == "skipped (no one to tell)"
    assert plan(notice="Note", notify=()).words == {Purpose.REMINDER_ANSWER: "sent"}


def test_nothing_goes_to_a_customer_who_opted_out_or_past_the_window() -> None:
    opted = SenderState(CUSTOMER, LINE, opt_out=OptOutRecord(CUSTOMER, NOW, "keyword"))
    refused = plan(opted, notice="Note")
    assert [t.to for t in refused.texts] == [OWNER]
    assert refused.words[Purpose.REMINDER_ANSWER] == "skipped (opted out)"
    full = {
        Purpose.REMINDER_ANSWER: Tally(since=NOW - timedelta(hours=1), count=5),
        Purpose.REMINDER_NOTICE: Tally(since=NOW - timedelta(hours=1), count=5),
    }
    held = plan(SenderState(CUSTOMER, LINE, tallies=full), notice="Note")
    assert held.texts == ()
    assert held.words == {
        Purpose.REMINDER_ANSWER: "skipped (limit of 5 per 24 h reached)",
        Purpose.REMINDER_NOTICE: "skipped (limit of 5 per 24 h reached)",
    }
    abroad = plan(destinations=Destinations(frozenset({LINE}), frozenset({"FR"})))
    assert abroad.texts == ()
    assert abroad.words == {Purpose.REMINDER_ANSWER: "skipped (country not allowed)"}


def test_a_plan_the_budget_refuses_sends_nothing_and_says_why() -> None:
    refused = plan(notice="Note").refused("daily limit")
    assert refused.texts == ()
    assert refused.words == {
        Purpose.REMINDER_ANSWER: "skipped (daily limit)",
        Purpose.REMINDER_NOTICE: "skipped (daily limit)",
    }


# --- an index row read back, item by item ------------------------------------------------------


def stored_item(schedule_id: str, **changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": schedule_id,
        "sentAt": "2026-12-01T14:00:00.000Z",
        "until": "2026-12-02T14:00:00.000Z",
        "replies": {"C": {"label": "confirmed"}},
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


def test_an_index_row_skips_each_unreadable_item_and_keeps_the_rest() -> None:
    items = [
        5,
        stored_item("s-no-sent", sentAt=None),
        stored_item("s-no-until", until=None),
        stored_item("s-naive", sentAt="2026-12-01T14:00:00"),
        stored_item("s-lower-z", until="2026-12-02T14:00:00.000z"),  # not ISO 8601
        {"sentAt": "2026-12-01T14:00:00.000Z", "until": "2026-12-02T14:00:00.000Z"},
        stored_item("s-1", responded=""),
        stored_item("s-2", responded=7),
        stored_item("s-3", responded="SM" + "1" * 32),
    ]
    found = r.index_entries({"Reminders": json.dumps(items)})
    assert [(e.schedule_id, e.responded) for e in found] == [
        ("s-1", None),
        ("s-2", None),
        ("s-3", "SM" + "1" * 32),
    ]
    assert r.index_entries({"Reminders": "5"}) == ()
    assert r.index_entries(None) == ()


def test_an_index_row_is_compact_json_that_keeps_its_text() -> None:
    entry = reminder("s-é", 1)
    text = r.index_properties([entry])["Reminders"]
    assert '"id":"s-é"' in text
    assert ", " not in text
    assert ": " not in text


def test_a_reminder_ending_now_leaves_the_row() -> None:
    ending = reminder("s-old", 24)  # sent a day ago: `until` is now
    assert ending.until == NOW
    sent = reminder("s-new", 0)
    assert r.with_sent([ending], sent, NOW) == (sent,)


def test_a_refused_plan_keeps_the_words_of_texts_it_would_not_send() -> None:
    plan = r.Plan((), {Purpose.AUTO_REPLY: "sent", Purpose.FORWARD: "skipped (opted out)"})
    assert plan.refused("budget").words == {
        Purpose.AUTO_REPLY: "skipped (budget)",
        Purpose.FORWARD: "skipped (opted out)",
    }


# --- what each refusal says ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("C=confirmed", 'replies must be an object such as {"C": "confirmed"}'),
        ({}, "replies must hold at least one reply"),
        ({f"K{n}": "ok" for n in range(11)}, "replies may hold at most 10 replies"),
        ({"C": "confirmed", "c": "cancelled"}, "reply C appears twice (keys ignore case)"),
        ({"C.": "ok"}, "a reply must be 1 to 10 letters or digits, such as C or Y1"),
        (
            {"stop": "ok"},
            "STOP is a word carriers reserve (STOP, START, HELP and their synonyms): "
            "choose another reply",
        ),
        (
            {"C": "1st"},
            "a meaning is one word (a letter, then up to 31 letters, digits, - or _), "
            "such as confirmed",
        ),
        (
            {"C": 5},
            'a reply is a meaning ("confirmed") or an object {"means", "answer"?, "notify"?}',
        ),
        ({"C": {"means": "ok", "colour": "red"}}, "unknown field 'colour' (means, answer, notify)"),
        ({"C": {"answer": "Hi"}}, "means is required"),
        ({"C": {"means": "ok", "answer": " "}}, "answer must be a non-empty text"),
        ({"C": {"means": "ok", "answer": "\ud800"}}, "answer must be valid Unicode text"),
        ({"C": {"means": "ok", "answer": "x" * 321}}, "answer must be at most 320 characters"),
        ({"C": {"means": "ok", "notify": "yes"}}, "notify must be true or false"),
    ],
)
def test_every_refusal_says_what_a_reply_must_be(value: object, message: str) -> None:
    with pytest.raises(RepliesError) as caught:
        r.parse_replies(value)
    # The message is what the API answers; the exception reads the same.
    assert caught.value.message == message
    assert str(caught.value) == message


def test_a_pointer_escapes_tilde_and_slash_both_ways() -> None:
    with pytest.raises(RepliesError) as caught:
        r.parse_replies({"a~b": "ok"})
    assert caught.value.field == "/replies/a~0b"
    # A field inside a reply keeps the escapes of the name it is under (RFC 6901).
    with pytest.raises(RepliesError) as caught:
        r.parse_replies({"C": {"means": 1}}, name="a/b~c")
    assert caught.value.field == "/a~1b~0c/C/means"


# --- the CSV cell, pair by pair -------------------------------------------------------------------


def test_an_empty_pair_between_two_is_skipped() -> None:
    assert [c.key for c in r.parse_cell("C=confirmed;;X=cancelled; ;L=late")] == ["C", "X", "L"]


def test_a_key_written_twice_in_a_cell_is_refused_whatever_its_case() -> None:
    for cell, field in (("C=confirmed;C=cancelled", "/replies/C"), ("c=a;c=b", "/replies/c")):
        with pytest.raises(RepliesError) as caught:
            r.parse_cell(cell)
        assert (caught.value.field, caught.value.message) == (field, "reply C appears twice")


def test_a_pair_splits_at_its_first_equals_sign() -> None:
    with pytest.raises(RepliesError) as caught:
        r.parse_cell("C=con=firmed")
    assert caught.value.field == "/replies/C"  # the meaning `con=firmed` is refused, not a key


def test_a_cell_that_is_not_json_says_why() -> None:
    with pytest.raises(RepliesError) as caught:
        r.parse_cell("{not json")
    assert caught.value.message.startswith("replies is not valid JSON (Expecting ")
    assert str(caught.value) == caught.value.message


# --- the stored form, exactly --------------------------------------------------------------------


def test_the_stored_form_is_canonical_compact_json_keeping_its_text() -> None:
    choices = (Choice("X", "cancelled", "À bientôt", True), Choice("C", "confirmed"))
    assert r.stored(choices) == (
        '{"C":{"means":"confirmed","notify":false},'
        '"X":{"answer":"À bientôt","means":"cancelled","notify":true}}'
    )
    # The same replies in another order are the same fingerprint.
    assert r.stored(choices[::-1]) == r.stored(choices)


def test_a_stored_reply_that_cannot_be_read_is_skipped_and_the_rest_kept() -> None:
    raw = json.dumps({"A": 1, "B": {"answer": "x"}, "C": {"means": "ok", "answer": 5}})
    assert r.from_stored(raw) == (Choice("C", "ok", None, False),)


# --- the outbound policy of a bound reply, rule by rule -------------------------------------------


def test_a_purpose_without_a_policy_takes_the_default_of_one_a_day() -> None:
    first = plan(notify=(), policies={})
    assert first.words == {Purpose.REMINDER_ANSWER: "sent"}
    second = plan(
        SenderState(CUSTOMER, LINE, tallies=first.tallies), notify=(), sid="SM2", policies={}
    )
    assert second.words == {Purpose.REMINDER_ANSWER: "skipped (texted within 24 h)"}


def test_the_line_a_reply_came_to_is_never_texted_even_when_not_listed_as_ours() -> None:
    unlisted = Destinations(frozenset(), None)
    to_line = r.plan_texts(
        sid="SM1",
        customer=LINE,
        line=LINE,
        answer="Thanks",
        notice="Note",
        notify=(LINE,),
        state=SenderState(LINE, LINE),
        destinations=unlisted,
        policies=POLICIES,
        now=NOW,
    )
    assert to_line.texts == ()
    assert to_line.words == {
        Purpose.REMINDER_ANSWER: "skipped (one of our numbers)",
        Purpose.REMINDER_NOTICE: "skipped (no one to tell)",
    }


def test_each_person_told_gets_the_notice_itself() -> None:
    told = plan(notice="C. Jones cancelled", notify=(ANA, OWNER))
    assert [(t.to, t.body) for t in told.texts if t.purpose is Purpose.REMINDER_NOTICE] == [
        (ANA, "C. Jones cancelled"),
        (OWNER, "C. Jones cancelled"),
    ]
