"""The words of the app's automatic texts (pure), the owner's notice, a line as the outbound
path sees it, and the conversation index's keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

from switchboard.lines.document import parse_line
from switchboard.lines.sending import line_ref, people_to_tell
from switchboard.outbound import wording
from switchboard.outbound.budget import Budget
from switchboard.outbound.messagelog import conversation_entry, conversation_partition
from switchboard.outbound.notices import paused_text, problem_text, resumes_words
from switchboard.outbound.problems import DeliveryProblem, Kind
from switchboard.outbound.purposes import reason_of, skipped
from switchboard.settings import load_settings

LINE = "+15017122661"


def test_a_refusal_reads_skipped_with_its_reason() -> None:
    assert skipped("country not allowed") == "skipped (country not allowed)"
    assert reason_of("skipped (daily limit)") == "daily limit"
    assert reason_of("sent") is None


def test_a_forward_names_the_sender_the_attachments_and_what_was_held() -> None:
    since = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert wording.forward("+15558675310", "hi") == "From +15558675310: hi"
    assert (
        wording.forward("+15558675310", "", attachments=2) == "From +15558675310: [2 attachments]"
    )
    held = wording.forward("+15558675310", "back", held=3, held_since=since)
    assert (
        held
        == "From +15558675310: (+3 earlier texts not forwarded since 2026-12-01 09:00 UTC) back"
    )
    assert len(wording.forward("+15558675310", "x" * 5000)) == 1600


def test_the_voicemail_text_fits_one_message_with_its_transcript() -> None:
    text = wording.voicemail_sms(
        "Main line", "+1 201-555-0123", "0:37", "https://x/r.mp3", "y" * 3000
    )
    assert len(text) <= 1600
    assert text.startswith("Voicemail on Main line from +1 201-555-0123 (0:37): yyy")
    assert text.endswith(" Listen: https://x/r.mp3")


def test_the_owners_notice_says_why_when_it_resumes_and_how_to_resume_now() -> None:
    budget = Budget(
        day=date(2026, 12, 1),
        sent=20,
        paused="burst limit",
        paused_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
    )
    assert resumes_words(budget, "America/New_York") == "at 00:00 on 2026-12-02 (America/New_York)"
    text = paused_text(LINE, budget, "America/New_York")
    assert "(burst limit) after 20 texts today" in text
    assert f"python -m switchboard outbound resume {LINE}" in text
    assert resumes_words(Budget(), None) == "when the operator resumes them"


def test_the_owners_notice_of_blocked_texts_says_what_where_to_look_and_until_when() -> None:
    first = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    problem = DeliveryProblem(
        LINE,
        Kind.REGISTRATION,
        count=1,
        since=first,
        last=first,
        codes=((30034, 1),),
        told_at=first,
    )
    text = problem_text(LINE, problem)
    assert text == (
        "Switchboard: 1 text from +15017122661 was blocked as unregistered (A2P 10DLC, error "
        "30034) since 2026-12-07: they do not arrive. What to do: python -m switchboard health. "
        "Not repeated before 2026-12-14 unless cleared."
    )
    lines = wording.problem_email_lines(
        LINE,
        12,
        "filtered by the carriers as unwanted (error 30007)",
        "2026-12-07",
        "review what the line sends",
        "2026-12-14",
        "Message filtered",
    )
    assert lines[0] == (
        "Switchboard: 12 texts from +15017122661 were filtered by the carriers as unwanted "
        "(error 30007) since 2026-12-07."
    )
    assert "Twilio says: Message filtered" in lines
    assert "  review what the line sends." in lines
    assert lines[-1] == f"  python -m switchboard outbound clear {LINE}"
    assert wording.problem_email_subject(LINE, "filtered by the carrier") == (
        "Texts from +15017122661 are not delivered: filtered by the carrier"
    )


def test_a_line_as_the_outbound_path_sees_it() -> None:
    settings = load_settings({"TWILIO_FROM_NUMBER": "+15005550006", "OWNER_NUMBER": "+15005550011"})
    line = parse_line(
        {
            "name": "Main line",
            "timeZone": "America/New_York",
            "closed": [
                {"voicemail": {"notify": {"sms": ["+15005550012"], "email": ["a@acme.example"]}}}
            ],
        },
        LINE,
    )[1]
    ref = line_ref(line, settings)
    assert (ref.number, ref.time_zone, ref.name) == (LINE, "America/New_York", "Main line")
    assert ref.owner_numbers == ("+15005550011",)
    assert ref.owner_emails == ("a@acme.example",)
    forwarding = parse_line({"sms": {"forwardTo": "+15005550013"}}, LINE)[1]
    assert line_ref(forwarding, settings).owner_numbers == ("+15005550013",)


def test_a_conversation_is_one_partition_its_rows_newest_first() -> None:
    assert conversation_partition(LINE, "+447911123456") == f"conv-{LINE}-+447911123456"
    assert conversation_partition(LINE, "") is None
    assert conversation_partition(LINE, "a/b") is None  # not a table key: not indexed
    early, late = (
        conversation_entry(
            line=LINE,
            party="+1555",
            record_id=f"SM{n}",
            at=at,
            direction="inbound",
            from_="+1555",
            to=LINE,
            body="x" * 2000,
        )
        for n, at in enumerate(
            (datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 10, tzinfo=UTC))
        )
    )
    assert early is not None
    assert late is not None
    assert late["RowKey"] < early["RowKey"]
    assert len(early["Body"]) == 1600


def test_who_hears_what_a_customers_text_did_on_a_line() -> None:
    settings = load_settings({"OWNER_NUMBER": "+15005550011"})
    forwarding = parse_line({"sms": {"forwardTo": "+15005550013"}}, LINE)[1]
    assert people_to_tell(forwarding, settings) == ("+15005550013",)
    plain = parse_line({"name": "Main line"}, LINE)[1]
    assert people_to_tell(plain, settings) == ("+15005550011",)
    assert people_to_tell(plain, load_settings({})) == ()


def test_the_words_of_a_reply_to_a_reminder() -> None:
    assert wording.reminder_answer("confirmed") == "Thanks, you are confirmed. See you then."
    assert wording.reminder_answer("Cancelled").startswith("Thanks for letting us know")
    assert wording.reminder_answer("late") == "Thanks, we have your answer: late."
    note = wording.reminder_notice("+15558675310", "X", "cancelled", "appt-42", "Tomorrow at 9")
    assert note == '+15558675310 replied X (cancelled) to reminder appt-42: "Tomorrow at 9"'
    assert len(wording.reminder_notice("+1", "X", "c", "i" * 128, "x" * 2000)) <= 1600
