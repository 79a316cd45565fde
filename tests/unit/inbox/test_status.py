"""The status page in words (pure)."""

from __future__ import annotations

from switchboard.inbox.status import describe


def test_what_is_missing_is_said_and_not_ok() -> None:
    items = describe(
        {}, ["SMTP_FROM: must be an e-mail address"], False, (False, False), None, None
    )
    by_what = {i["what"]: i for i in items}
    assert not by_what["Storage"]["ok"]
    assert "cannot send a text" in by_what["Twilio account"]["detail"]
    assert not by_what["E-mail"]["ok"]
    assert by_what["Setting SMTP_FROM"]["detail"] == "Invalid: must be an e-mail address"


def test_a_set_up_app_is_all_ok() -> None:
    present = {n: True for n in ("TWILIO_FROM_NUMBER", "PUBLIC_BASE_URL", "SMTP_HOST", "SMTP_FROM")}
    lines = [{"number": "+15017122661", "name": "<b>Main</b>", "state": "open"}]
    items = describe(present, [], True, (True, True), lines, 2)
    assert all(i["ok"] for i in items)
    assert {"ok": True, "what": "Line <b>Main</b>", "detail": "+15017122661: open now."} in items


def test_a_line_that_cannot_be_evaluated_is_not_ok() -> None:
    lines = [{"number": "+15017122661", "name": "Main", "state": None, "unusable": {"version": 3}}]
    items = describe({}, [], True, (True, True), lines, 1)
    line = next(i for i in items if i["what"] == "Line Main")
    assert not line["ok"]
    assert "version 3 cannot be evaluated" in line["detail"]


def test_texts_blocked_or_filtered_are_said_once_each_and_not_ok() -> None:
    messaging = {
        "ok": False,
        "registration": "30 texts from +15017122661 were blocked as unregistered ...",
        "filtered": "2 texts from +15017120288 were filtered ...",
        "lines": {},
    }
    items = describe({}, [], True, (True, True), [], 1, messaging)
    blocked = [i for i in items if i["what"].startswith("Texts")]
    assert blocked == [
        {
            "ok": False,
            "what": "Texts blocked: sender not registered",
            "detail": messaging["registration"],
        },
        {"ok": False, "what": "Texts filtered by the carriers", "detail": messaging["filtered"]},
    ]
    quiet = describe({}, [], True, (True, True), [], 1, {"ok": True, "lines": {}})
    assert not [i for i in quiet if i["what"].startswith("Texts")]
