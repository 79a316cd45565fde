"""`lines preview`: what a caller hears and what is sent, from the document alone (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from switchboard.lines.document import build_line
from switchboard.lines.preview import describe, preview

NEW_YORK = ZoneInfo("America/New_York")
MAIN = "+15017122661"
CALLER = "+15558675310"
DOCUMENT = {
    "name": "Main line",
    "timeZone": "America/New_York",
    "hours": {"mon-fri": ["08:30-17:30"]},
    "holidays": [{"date": "12-24", "hours": ["08:30-12:00"], "name": "Christmas Eve"}],
    "greeting": {"open": {"say": "Thanks for calling Acme."}, "closed": {"say": "Closed."}},
    "open": [
        {
            "menu": {
                "prompt": {"say": "Sales press 1."},
                "options": {
                    "1": {"words": ["sales"], "steps": [{"forward": {"to": "+15550000003"}}]}
                },
            }
        }
    ],
    "closed": [{"voicemail": {"notify": {"sms": ["+15005550011"], "email": ["o@acme.example"]}}}],
    "textBack": {"message": "Sorry we missed you."},
    "callers": {"blocked": ["+15550009999"]},
}


def test_christmas_eve_morning_hears_the_open_flow() -> None:
    line = build_line(DOCUMENT, MAIN, 1)
    found = preview(line, datetime(2026, 12, 24, 9, 0, tzinfo=NEW_YORK), CALLER)
    assert (found.state, found.reason, found.holiday, found.flow) == (
        "open",
        "holiday",
        "Christmas Eve",
        "open",
    )
    assert found.hears == (
        'greeting: says "Thanks for calling Acme."',
        'menu: says "Sales press 1." (up to 2 tries)',
        "  presses 1 or says sales:",
        "    is forwarded to +15550000003 (rings 20 s, showing the caller's number); if nobody "
        "answers, on to the next step",
        "hears goodbye",
    )
    assert found.sends[-1].startswith(f'if nobody is reached, a text to {CALLER}: "Sorry')


def test_christmas_eve_afternoon_takes_a_voicemail_and_says_who_hears() -> None:
    line = build_line(DOCUMENT, MAIN, 1)
    found = preview(line, datetime(2026, 12, 24, 19, 0, tzinfo=ZoneInfo("UTC")), CALLER)
    assert found.at.hour == 14  # shown in the line's zone
    assert (found.state, found.flow) == ("closed", "closed")
    assert found.sends[:2] == (
        "a voicemail leaves a text to +15005550011 (with the link)",
        "a voicemail leaves an e-mail to o@acme.example (with the recording)",
    )
    text = describe(found, MAIN, CALLER, "Main line")
    assert text.startswith(f"A call from {CALLER} to Main line ({MAIN}) on Thursday 24 December")


def test_a_blocked_caller_is_rejected_and_nothing_is_sent() -> None:
    line = build_line(DOCUMENT, MAIN, 1)
    found = preview(line, datetime(2026, 12, 24, 9, 0, tzinfo=NEW_YORK), "+15550009999")
    assert found.flow is None
    assert found.hears == ("is rejected (a blocked caller: not answered, not billed)",)
    assert found.sends == ()


def test_a_queue_is_described_with_its_people_and_limits() -> None:
    queued = {
        "name": "Main line",
        "open": [
            {
                "queue": {
                    "people": [{"name": "Ana", "number": "+15550000001"}],
                    "hold": {"say": "Please hold."},
                    "maxWait": 300,
                    "callback": True,
                }
            },
            {"voicemail": {}},
        ],
    }
    found = preview(
        build_line(queued, MAIN, 1), datetime(2026, 12, 1, 9, 0, tzinfo=NEW_YORK), CALLER
    )
    assert found.hears[0] == (
        "waits in the line's queue for Ana +15550000001 (at most 20 waiting; hears says \"Please "
        'hold." while waiting, the place in line every 60 s; may press 1 to be called back, '
        "keeping their place); after 300 s, or when the queue is full, on to the next step"
    )


def test_a_preview_time_is_read_in_the_lines_zone_unless_it_has_an_offset() -> None:
    from switchboard.lines.service import instant_for

    line = build_line(DOCUMENT, MAIN, 1)
    assert instant_for(" 2026-12-24T09:00 ", line) == datetime(2026, 12, 24, 9, tzinfo=NEW_YORK)
    assert instant_for("2026-12-24T09:00+01:00", line).utcoffset() is not None
    assert instant_for("2026-12-24T09:00+01:00", line).hour == 9
    for bad, says in (
        ("tomorrow", "ISO-8601"),
        ("2026-12-24T09:00:00Zx", "ISO-8601"),
        ("1969-12-31T23:00", "1970"),
        ("2200-01-01T00:00", "2199"),
    ):
        with pytest.raises(ValueError, match=says):
            instant_for(bad, line)


def test_the_preview_names_a_bad_caller_before_reading_the_line() -> None:
    from switchboard.http import ApiError
    from switchboard.lines.service import preview as preview_json
    from switchboard.settings import load_settings

    settings = load_settings({})  # no storage at all: the caller is refused first
    with pytest.raises(ApiError) as refused:
        preview_json(settings, MAIN, "2026-12-24T09:00", "555-0100")
    assert (refused.value.status, refused.value.field) == (400, "from")
