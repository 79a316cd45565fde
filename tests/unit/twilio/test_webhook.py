"""The webhook shell's form parsing: the pairs `req.form` and `parse_qsl` give, faster."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import azure.functions as func
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from switchboard.twilio.webhook import form_params, parse_form


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
