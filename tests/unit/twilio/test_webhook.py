"""The webhook shell: its form parsing (the pairs `req.form` and `parse_qsl` give, faster) and
the refusals it makes before parsing anything."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import azure.functions as func
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from switchboard.settings import Settings, load_settings
from switchboard.twilio import webhook
from switchboard.twilio.webhook import (
    MAX_SIGNATURE_CHARS,
    MAX_WEBHOOK_BYTES,
    MAX_WEBHOOK_PARAMS,
    MAX_WEBHOOK_URL,
    form_params,
    junk_refusal,
    parse_form,
)


def _request(body: bytes) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url="https://app.example/api/voice/incoming",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        params={},
        body=body,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"From=%2B15558675310&CalledCity=&Note=a%26b+c%40d&K=1&K=2&U=%C3%9C%E2%98%8E",
        b"",
        b"only=",
        b"bare&&=v&%ZZ=1",
    ],
)
def test_form_params_equal_what_req_form_gives(body: bytes) -> None:
    fast, reference = form_params(_request(body)), _request(body).form
    assert list(fast.items()) == [(key, reference.getlist(key)) for key in reference]
    assert all(fast.getall(key) == reference.getlist(key) for key in reference)


# Text made of the characters that matter to form decoding, and any others.
_FORM_TEXT = st.text(st.sampled_from("ab=&+%2B0FfZz\u00e9 ;") | st.characters(), max_size=80)


@given(_FORM_TEXT)
@example("a=1&a=2&b=&c")
@example("%E2%98%8E=%C3%28&+=%2B%")
def test_parse_form_gives_the_pairs_parse_qsl_gives(text: str) -> None:
    params, first = parse_form(text)
    pairs = parse_qsl(text, keep_blank_values=True, errors="replace")
    assert [(name, value) for name, values in params.items() for value in values] == [
        (name, value)
        for name in dict.fromkeys(name for name, _ in pairs)
        for (other, value) in pairs
        if other == name
    ]
    assert first == {name: values[0] for name, values in params.items()}


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=8))
def test_parse_form_reads_what_urlencode_writes(fields: dict[str, str]) -> None:
    params, first = parse_form(urlencode(fields))
    assert first == fields
    assert all(params[name] == [value] for name, value in fields.items())


# --- the refusals made before any parsing (`junk_refusal`) -----------------------------------

URL = "https://app.example/api/sms/incoming"
SIGNED = {"X-Twilio-Signature": "x" * 28, "Content-Type": "application/x-www-form-urlencoded"}


def _settings(validate: bool = True) -> Settings:
    return load_settings(
        {"TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_VALIDATE_SIGNATURE": str(validate).lower()}
    )


def _junk(body: bytes, headers: dict[str, str] | None = None, url: str = URL) -> int | None:
    request = func.HttpRequest(
        method="POST", url=url, headers=SIGNED if headers is None else headers, params={}, body=body
    )
    refused = junk_refusal(request, _settings())
    return None if refused is None else refused.status_code


def _pairs(count: int) -> bytes:
    return "&".join(f"P{i}=v" for i in range(count)).encode()


def test_as_many_parameters_as_the_cap_go_on_one_more_is_413() -> None:
    assert _junk(_pairs(MAX_WEBHOOK_PARAMS)) is None
    assert _junk(_pairs(MAX_WEBHOOK_PARAMS + 1)) == 413
    # Counted as separators, without parsing: empty pieces count too.
    assert _junk(b"&" * (MAX_WEBHOOK_PARAMS - 1)) is None
    assert _junk(b"&" * MAX_WEBHOOK_PARAMS) == 413


def test_a_body_as_large_as_the_cap_goes_on_one_byte_more_is_413() -> None:
    assert _junk(b"Body=" + b"a" * (MAX_WEBHOOK_BYTES - 5)) is None
    assert _junk(b"Body=" + b"a" * (MAX_WEBHOOK_BYTES - 4)) == 413


def test_a_url_as_long_as_the_cap_goes_on_one_character_more_is_414() -> None:
    at_cap = URL + "?q=" + "a" * (MAX_WEBHOOK_URL - len(URL) - 3)
    assert len(at_cap) == MAX_WEBHOOK_URL
    assert _junk(b"", url=at_cap) is None
    assert _junk(b"", url=at_cap + "a") == 414


@pytest.mark.parametrize(
    "signature",
    [None, "", "x" * (MAX_SIGNATURE_CHARS + 1)],
)
def test_no_signature_or_one_longer_than_any_is_403(signature: str | None) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    assert _junk(b"From=%2B15558675310", headers) == 403
    headers["X-Twilio-Signature"] = "x" * MAX_SIGNATURE_CHARS
    assert _junk(b"From=%2B15558675310", headers) is None


def test_the_signature_header_is_not_required_when_validation_is_off() -> None:
    request = func.HttpRequest(method="POST", url=URL, headers={}, params={}, body=b"A=1")
    assert junk_refusal(request, _settings(validate=False)) is None
    junk = func.HttpRequest(method="POST", url=URL, headers={}, params={}, body=_pairs(1001))
    refused = junk_refusal(junk, _settings(validate=False))
    assert refused is not None
    assert refused.status_code == 413


def test_the_first_refusal_answers_and_the_checks_go_in_order() -> None:
    """No header beats every other problem (403 from the header alone); then the URL; then the
    body's size; then its parameters."""
    huge = _pairs(MAX_WEBHOOK_PARAMS + 1) + b"a" * MAX_WEBHOOK_BYTES
    long_url = URL + "?" + "a" * MAX_WEBHOOK_URL
    assert _junk(huge, {}, url=long_url) == 403
    assert _junk(huge, url=long_url) == 414
    assert _junk(huge) == 413
    refused = junk_refusal(
        func.HttpRequest(method="POST", url=URL, headers=SIGNED, params={}, body=huge), _settings()
    )
    assert refused is not None
    assert refused.get_body() == b"Payload too large"


class _Recorder:
    def __init__(self) -> None:
        self.refused_with: list[tuple[str, str]] = []

    def refused(self, route: str, reason: str) -> None:
        self.refused_with.append((route, reason))


@pytest.mark.parametrize(
    ("headers", "url", "body", "answer", "reason"),
    [
        ({}, URL, b"A=1", (403, b"Forbidden"), "no X-Twilio-Signature (403)"),
        (
            SIGNED,
            URL + "?" + "a" * MAX_WEBHOOK_URL,
            b"A=1",
            (414, b"URI too long"),
            f"URL longer than {MAX_WEBHOOK_URL} characters (414)",
        ),
        (
            SIGNED,
            URL,
            b"a" * (MAX_WEBHOOK_BYTES + 1),
            (413, b"Payload too large"),
            f"body larger than {MAX_WEBHOOK_BYTES} bytes (413)",
        ),
        (
            SIGNED,
            URL,
            _pairs(MAX_WEBHOOK_PARAMS + 1),
            (413, b"Payload too large"),
            f"more than {MAX_WEBHOOK_PARAMS} parameters (413)",
        ),
    ],
)
def test_each_refusal_answers_plain_text_and_is_logged_with_its_route_and_reason(
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, str],
    url: str,
    body: bytes,
    answer: tuple[int, bytes],
    reason: str,
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(webhook, "refusals", recorder)
    request = func.HttpRequest(method="POST", url=url, headers=headers, params={}, body=body)
    refused = junk_refusal(request, _settings())
    assert refused is not None
    assert (refused.status_code, refused.get_body()) == answer
    assert refused.mimetype == "text/plain"
    assert recorder.refused_with == [("/api/sms/incoming", reason)]


def test_a_request_that_is_not_junk_is_not_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(webhook, "refusals", recorder)
    request = func.HttpRequest(method="POST", url=URL, headers=SIGNED, params={}, body=b"")
    assert junk_refusal(request, _settings()) is None
    assert recorder.refused_with == []


def test_case_escapes_and_a_trailing_slash_are_one_route_in_the_refusal_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(webhook, "refusals", recorder)
    for path in (
        "/API/voice/Queue-connect",
        "/api/voice/%71ueue-connect/",
        "/api/Voice/queue-connect",
    ):
        request = func.HttpRequest(
            method="POST", url=f"https://voice.example.com{path}", headers={}, params={}, body=b""
        )
        assert junk_refusal(request, _settings()) is not None
    assert {route for route, _ in recorder.refused_with} == {"/api/voice/queue-connect"}


def test_made_up_paths_share_one_entry_of_the_refusal_log_past_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = webhook.RefusalLog()
    with caplog.at_level("WARNING", logger=webhook.logger.name):
        for index in range(webhook.MAX_REFUSAL_KEYS + 500):
            log.refused(f"/api/made-up-{index}", "no X-Twilio-Signature (403)")
    assert len(log._counts) == webhook.MAX_REFUSAL_KEYS + 1  # the bound and the shared entry
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == webhook.MAX_REFUSAL_KEYS + 1  # the rest counted, not logged
    assert lines[-1].startswith("Refused 1 webhook request(s) to (other paths):")
