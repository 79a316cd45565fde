"""Incoming calls: every route's TwiML parsed and checked verb by verb; the CallLog changes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.settings import Settings, load_settings
from switchboard.voice import flow as voice

CALLER = "+15558675310"
OUR_NUMBER = "+15017122661"
FORWARD = "+15005550006"
NOW = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)
MENU = {
    "prompt": "For sales press 1 or say sales. For hours press 2. For a message press 3.",
    "options": {
        "1": {"action": "forward", "to": FORWARD, "words": ["sales"]},
        "2": {"action": "say", "text": "We are open 9 to 5 & <weekdays>."},
        "3": {"action": "voicemail", "words": ["message"]},
        "4": {"action": "redirect", "url": "https://example.com/twiml?x=1&y=2"},
        "0": {"action": "hangup"},
    },
}


def make_settings(**env: str) -> Settings:
    return load_settings(env)


def call(**extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "2" * 32,
        "From": CALLER,
        "To": OUR_NUMBER,
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
        "Direction": "inbound",
        **extra,
    }


@dataclass
class V:
    """A parsed verb: name, attributes, own text, children."""

    name: str
    attrs: dict[str, str]
    text: str
    children: list[V]


def verbs(twiml: str) -> list[V]:
    root = ET.fromstring(twiml)  # noqa: S314 - the app's own TwiML, not untrusted input
    assert root.tag == "Response"

    def conv(el: ET.Element) -> V:
        return V(el.tag, dict(el.attrib), el.text or "", [conv(c) for c in el])

    return [conv(el) for el in root]


def names(twiml: str) -> list[str]:
    return [v.name for v in verbs(twiml)]


# --- /voice/incoming ------------------------------------------------------------------------


def test_default_greeting_says_hello_api_version_and_site_with_pauses() -> None:
    s = make_settings(WEBSITE_SITE_NAME="contoso-voice", VOICE_VOICEMAIL="false")
    out = voice.incoming(call(ApiVersion="2010-04-01"), s)
    vs = verbs(out.twiml)
    assert [v.name for v in vs] == ["Say", "Pause", "Say", "Pause", "Say", "Say", "Hangup"]
    assert "Hello" in vs[0].text
    assert "2010-04-01" in vs[2].text
    assert "contoso-voice" in vs[4].text
    assert vs[5].text == voice.GOODBYE
    assert out.handling == "goodbye"


def test_default_greeting_falls_back_to_switchboard_without_site_name() -> None:
    out = voice.incoming(call(), make_settings(VOICE_VOICEMAIL="false"))
    assert any("Switchboard" in v.text for v in verbs(out.twiml))


def test_configured_greeting_and_voice_language_on_every_say() -> None:
    s = make_settings(
        VOICE_GREETING="Welcome to Contoso",
        VOICE_TTS_VOICE="Polly.Joanna",
        VOICE_LANGUAGE="en-GB",
        VOICE_MENU=json.dumps(MENU),
    )
    vs = verbs(voice.incoming(call(), s).twiml)
    assert vs[0].name == "Say"
    assert vs[0].text == "Welcome to Contoso"
    says = [v for v in vs if v.name == "Say"] + [c for v in vs for c in v.children]
    assert says
    for say in says:
        assert say.attrs == {"voice": "Polly.Joanna", "language": "en-GB"}


def test_without_voice_settings_say_has_no_attributes() -> None:
    vs = verbs(voice.incoming(call(), make_settings(VOICE_VOICEMAIL="false")).twiml)
    assert all(v.attrs == {} for v in vs if v.name == "Say")


def test_blocked_caller_is_rejected_without_a_word() -> None:
    s = make_settings(VOICE_BLOCKED_CALLERS=f"+15550000001, {CALLER}", VOICE_MENU=json.dumps(MENU))
    out = voice.incoming(call(), s)
    assert names(out.twiml) == ["Reject"]
    assert out.handling == "rejected"
    assert out.change is not None
    assert out.change.fields["Handling"] == "rejected"


def test_allowed_list_miss_is_refused_politely() -> None:
    s = make_settings(VOICE_ALLOWED_CALLERS="+15550000001", VOICE_MENU=json.dumps(MENU))
    out = voice.incoming(call(), s)
    vs = verbs(out.twiml)
    assert [v.name for v in vs] == ["Say", "Hangup"]
    assert vs[0].text == voice.NOT_ALLOWED
    assert out.handling == "refused"


def test_allowed_list_hit_is_greeted() -> None:
    s = make_settings(VOICE_ALLOWED_CALLERS=CALLER, VOICE_FORWARD_TO=FORWARD)
    assert "Dial" in names(voice.incoming(call(), s).twiml)


def test_blocklist_wins_over_allowed_list() -> None:
    s = make_settings(VOICE_ALLOWED_CALLERS=CALLER, VOICE_BLOCKED_CALLERS=CALLER)
    assert names(voice.incoming(call(), s).twiml) == ["Reject"]


def test_menu_is_a_gather_with_prompt_then_a_redirect_for_silence() -> None:
    s = make_settings(VOICE_MENU=json.dumps(MENU), VOICE_LANGUAGE="fr-FR", VOICE_GREETING="Hi")
    vs = verbs(voice.incoming(call(), s).twiml)
    assert [v.name for v in vs] == ["Say", "Gather", "Redirect"]
    gather = vs[1]
    assert gather.attrs["input"] == "dtmf speech"
    assert gather.attrs["numDigits"] == "1"
    assert gather.attrs["action"] == "/api/voice/menu?attempt=1&at=open.0&hop=1"
    assert gather.attrs["method"] == "POST"
    assert gather.attrs["language"] == "fr-FR"
    assert gather.attrs["hints"] == "sales, message"
    assert [c.name for c in gather.children] == ["Say"]
    assert gather.children[0].text == MENU["prompt"]
    assert vs[2].text == "/api/voice/menu?attempt=1&at=open.0&hop=1"


def test_forwarding_dials_with_ring_timeout_and_dial_complete_action() -> None:
    s = make_settings(VOICE_FORWARD_TO=FORWARD, VOICE_RING_TIMEOUT="25", VOICE_GREETING="Hi")
    vs = verbs(voice.incoming(call(), s).twiml)
    assert [v.name for v in vs] == ["Say", "Dial"]
    assert vs[1].text == FORWARD
    assert vs[1].attrs["timeout"] == "25"
    assert vs[1].attrs["action"] == "/api/voice/dial-complete?at=open.0&hop=1"


def test_menu_takes_precedence_over_forwarding() -> None:
    s = make_settings(VOICE_FORWARD_TO=FORWARD, VOICE_MENU=json.dumps(MENU))
    assert "Gather" in names(voice.incoming(call(), s).twiml)


def test_only_voicemail_records_with_settings() -> None:
    s = make_settings(VOICE_GREETING="Hi", VOICE_VOICEMAIL_MAX_LENGTH="60", VOICE_TRANSCRIBE="true")
    out = voice.incoming(call(), s)
    vs = verbs(out.twiml)
    assert [v.name for v in vs] == ["Say", "Say", "Record", "Say", "Hangup"]
    assert vs[1].text == voice.VOICEMAIL_PROMPT
    record = vs[2].attrs
    assert record["maxLength"] == "60"
    assert record["action"] == "/api/voice/recording?at=open.0&hop=1"
    assert record["recordingStatusCallback"] == "/api/voice/recording?at=open.0&hop=1"
    assert record["transcribe"] == "true"
    assert record["transcribeCallback"] == "/api/voice/recording?at=open.0&hop=1"
    assert record["finishOnKey"] == "#"
    assert vs[3].text == voice.NO_MESSAGE
    assert out.handling == "voicemail"


def test_voicemail_without_transcription_has_no_transcribe_attributes() -> None:
    vs = verbs(voice.incoming(call(), make_settings()).twiml)
    record = next(v for v in vs if v.name == "Record")
    assert "transcribe" not in record.attrs
    assert "transcribeCallback" not in record.attrs


def test_action_urls_are_absolute_under_public_base_url() -> None:
    s = make_settings(PUBLIC_BASE_URL="https://voice.contoso.com", VOICE_MENU=json.dumps(MENU))
    vs = verbs(voice.incoming(call(), s).twiml)
    gather = next(v for v in vs if v.name == "Gather")
    assert (
        gather.attrs["action"]
        == "https://voice.contoso.com/api/voice/menu?attempt=1&at=open.0&hop=1"
    )
    vs = verbs(voice.dial_complete(call(DialCallStatus="busy"), s).twiml)
    record = next(v for v in vs if v.name == "Record")
    assert (
        record.attrs["action"]
        == "https://voice.contoso.com/api/voice/recording?at=open.0.1.1&hop=0"
    )


@pytest.mark.parametrize("nasty", ["<b>bold</b>", "Tom & Jerry", "x]]>y", "A'B\"C", "Ünïcødé ☎"])
def test_caller_supplied_text_is_escaped(nasty: str) -> None:
    s = make_settings(WEBSITE_SITE_NAME=nasty, VOICE_VOICEMAIL="false")
    out = voice.incoming(call(ApiVersion=nasty), s)
    vs = verbs(out.twiml)  # parses: the document is well-formed
    texts = [v.text for v in vs if v.name == "Say"]
    assert any(nasty in t for t in texts[:2])
    assert any(nasty in t for t in texts)
    assert "<b>" not in out.twiml
    assert "]]>" not in out.twiml.replace("]]&gt;", "")


def test_incoming_change_records_the_call() -> None:
    out = voice.incoming(call(), make_settings(VOICE_FORWARD_TO=FORWARD))
    assert out.change is not None
    update = voice.apply_change(out.change, None, NOW)
    assert update == {
        "Sid": "CA" + "1" * 32,
        "Direction": "inbound",
        "From": CALLER,
        "To": OUR_NUMBER,
        "Status": "ringing",
        "Source": "webhook",
        "MenuChoicesJson": "[]",
        "StartedAt": NOW,
        "Handling": "forward",
        "Flow": "open",
        "LineState": "open/always-open",
    }


# --- /voice/menu ----------------------------------------------------------------------------


def menu_settings(**env: str) -> Settings:
    return make_settings(VOICE_MENU=json.dumps(MENU), **env)


def test_digit_forward_dials_the_option_number() -> None:
    out = voice.menu(call(Digits="1"), menu_settings(VOICE_RING_TIMEOUT="15"), 1)
    vs = verbs(out.twiml)
    assert [v.name for v in vs] == ["Dial"]
    assert vs[0].text == FORWARD
    assert vs[0].attrs["timeout"] == "15"
    assert vs[0].attrs["action"] == "/api/voice/dial-complete?at=open.0.1.0&hop=0"
    assert out.change is not None
    assert out.change.menu_choice == {
        "attempt": 1,
        "digits": "1",
        "speech": None,
        "option": "1",
        "action": "forward",
        "at": "open.0",
    }


def test_speech_chooses_by_word() -> None:
    out = voice.menu(call(SpeechResult="I'd like to leave a Message."), menu_settings(), 1)
    assert "Record" in names(out.twiml)
    assert out.handling == "voicemail"


def test_say_option_says_text_escaped_then_goodbye() -> None:
    out = voice.menu(call(Digits="2"), menu_settings(), 1)
    vs = verbs(out.twiml)
    assert [v.name for v in vs] == ["Say", "Say", "Hangup"]
    assert vs[0].text == "We are open 9 to 5 & <weekdays>."
    assert "&lt;weekdays&gt;" in out.twiml


def test_voicemail_option_records_even_when_voicemail_setting_is_off() -> None:
    out = voice.menu(call(Digits="3"), menu_settings(VOICE_VOICEMAIL="false"), 1)
    assert "Record" in names(out.twiml)


def test_redirect_option() -> None:
    vs = verbs(voice.menu(call(Digits="4"), menu_settings(), 1).twiml)
    assert [v.name for v in vs] == ["Redirect"]
    assert vs[0].text == "https://example.com/twiml?x=1&y=2"


def test_hangup_option() -> None:
    vs = verbs(voice.menu(call(Digits="0"), menu_settings(), 1).twiml)
    assert [v.name for v in vs] == ["Say", "Hangup"]


def test_unknown_choice_repeats_menu_once_then_goodbye() -> None:
    first = voice.menu(call(Digits="9"), menu_settings(), 1)
    vs = verbs(first.twiml)
    assert [v.name for v in vs] == ["Say", "Gather", "Redirect"]
    assert vs[0].text == voice.NOT_UNDERSTOOD
    assert vs[1].attrs["action"] == "/api/voice/menu?attempt=2&at=open.0&hop=0"
    assert vs[2].text == "/api/voice/menu?attempt=2&at=open.0&hop=0"
    assert first.handling == "menu-repeat"
    second = voice.menu(call(Digits="9"), menu_settings(), 2)
    vs = verbs(second.twiml)
    assert [v.name for v in vs] == ["Say", "Hangup"]
    assert vs[0].text == voice.GOODBYE


def test_silence_is_an_unknown_choice() -> None:
    out = voice.menu(call(), menu_settings(), 1)  # the Redirect after a Gather that timed out
    assert names(out.twiml) == ["Say", "Gather", "Redirect"]
    assert out.change is not None
    assert out.change.menu_choice is not None
    assert out.change.menu_choice["digits"] is None


def test_menu_without_a_configured_menu_says_goodbye() -> None:
    assert names(voice.menu(call(Digits="1"), make_settings(), 1).twiml) == ["Say", "Hangup"]


@pytest.mark.parametrize(
    ("url", "attempt"),
    [
        ("/api/voice/menu", 1),
        ("https://h/api/voice/menu?attempt=2", 2),
        ("https://h/api/voice/menu?code=k&attempt=2", 2),
        ("https://h/api/voice/menu?attempt=99", 2),
        ("https://h/api/voice/menu?attempt=-3", 1),
        ("https://h/api/voice/menu?attempt=x", 1),
    ],
)
def test_attempt_of(url: str, attempt: int) -> None:
    assert voice.attempt_of(url) == attempt


# --- /voice/dial-complete -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "answered"])
def test_answered_dial_hangs_up(status: str) -> None:
    out = voice.dial_complete(call(DialCallStatus=status, DialCallDuration="42"), make_settings())
    assert names(out.twiml) == ["Hangup"]
    assert out.change is not None
    assert out.change.fields == {
        "DialOutcome": status,
        "Handling": "answered",
        "DialCallDuration": 42,
        "Reached": True,
    }


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
def test_unanswered_dial_goes_to_voicemail(status: str) -> None:
    out = voice.dial_complete(
        call(DialCallStatus=status, CallStatus="in-progress"), make_settings()
    )
    vs = verbs(out.twiml)
    assert [v.name for v in vs] == ["Say", "Record", "Say", "Hangup"]
    assert out.change is not None
    assert out.change.fields["DialOutcome"] == status


def test_unanswered_dial_without_voicemail_says_goodbye() -> None:
    out = voice.dial_complete(call(DialCallStatus="no-answer"), make_settings(VOICE_VOICEMAIL="0"))
    assert names(out.twiml) == ["Say", "Hangup"]


def test_caller_gone_during_dial_just_hangs_up() -> None:
    out = voice.dial_complete(
        call(DialCallStatus="canceled", CallStatus="completed"), make_settings()
    )
    assert names(out.twiml) == ["Hangup"]


# --- /voice/recording -----------------------------------------------------------------------


REC_URL = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"


def test_record_action_thanks_and_stores_the_recording() -> None:
    out = voice.recording(
        call(RecordingUrl=REC_URL, RecordingDuration="7", RecordingSid="RE1", Digits="#"),
        make_settings(),
    )
    assert names(out.twiml) == ["Say", "Hangup"]
    assert out.change is not None
    assert out.change.step == "recording"
    update = voice.apply_change(out.change, {"From": CALLER, "StartedAt": NOW}, NOW)
    assert update is not None
    assert update["RecordingUrl"] == REC_URL
    assert update["RecordingDuration"] == 7
    assert "From" not in update  # the first writer's caller is kept


def test_recording_status_callback_gets_an_empty_response() -> None:
    params = {
        "CallSid": "CA" + "1" * 32,
        "RecordingSid": "RE1",
        "RecordingUrl": REC_URL,
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
    }
    out = voice.recording(params, make_settings())
    assert names(out.twiml) == []
    assert out.change is not None
    assert out.change.step == "recording-status-RE1"
    assert out.change.fields == {
        "RecordingUrl": REC_URL,
        "RecordingSid": "RE1",
        "RecordingDuration": 12,
        "RecordingStatus": "completed",
    }


def test_transcription_callback_stores_the_text() -> None:
    params = call(
        RecordingSid="RE1",
        RecordingUrl=REC_URL,
        TranscriptionStatus="completed",
        TranscriptionText="Call me back <soon> & ]]> thanks",
    )
    out = voice.recording(params, make_settings())
    assert names(out.twiml) == []
    assert out.change is not None
    assert out.change.step == "transcription-RE1"
    assert out.change.fields["TranscriptionText"] == "Call me back <soon> & ]]> thanks"


# --- apply_change ---------------------------------------------------------------------------


def test_apply_change_is_idempotent_and_appends_one_choice_per_attempt() -> None:
    first = voice.menu(call(Digits="9"), menu_settings(), 1).change
    second = voice.menu(call(Digits="2"), menu_settings(), 2).change
    assert first is not None
    assert second is not None
    record: dict[str, Any] = {"From": CALLER, "MenuChoicesJson": "[]", "StartedAt": NOW}
    update = voice.apply_change(first, record, NOW)
    assert update is not None
    record.update(update)
    assert voice.apply_change(first, record, NOW) is None  # the same step again: no change
    update = voice.apply_change(second, record, NOW)
    assert update is not None
    record.update(update)
    choices = json.loads(record["MenuChoicesJson"])
    assert [(c["attempt"], c["digits"], c["option"]) for c in choices] == [
        (1, "9", None),
        (2, "2", "2"),
    ]


def test_apply_change_on_a_missing_record_creates_it_from_a_later_step() -> None:
    change = voice.dial_complete(call(DialCallStatus="busy"), make_settings()).change
    assert change is not None
    update = voice.apply_change(change, None, NOW)
    assert update is not None
    assert update["From"] == CALLER
    assert update["DialOutcome"] == "busy"
    assert "StartedAt" not in update  # only the incoming step knows when the call started
