"""classify_twilio_error: transient (retry) vs permanent (record and stop), on real exception shapes."""

from __future__ import annotations

import json

import aiohttp
import pytest
import requests
import urllib3.exceptions
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.response import Response
from yarl import URL

from switchboard.twilio.errors import TwilioFailure, classify_twilio_error

URI = "/Accounts/AC00000000000000000000000000000001/Messages.json"


def rest_error(
    status: int, code: int | None, message: str, method: str = "POST"
) -> TwilioRestException:
    """The exception exactly as twilio's Version.exception() builds it."""
    return TwilioRestException(
        status, URI, f"Unable to create record: {message}", code, method, None
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, 20429), (500, 20500), (502, 502), (503, 20503), (504, 504), (400, 20429), (408, 408)],
)
def test_rate_limits_and_server_errors_are_transient(status: int, code: int) -> None:
    failure = classify_twilio_error(rest_error(status, code, "Too Many Requests"))
    assert failure.transient
    assert failure.status == status
    assert failure.message == "Too Many Requests"


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 21211, "The 'To' number +15005550001 is not a valid phone number."),
        (400, 21610, "Attempt to send to unsubscribed recipient"),
        (400, 21614, "'To' number is not a valid mobile number"),
        (400, 21217, "Phone number does not appear to be valid"),
        (401, 20003, "Authenticate"),
        (404, 20404, "The requested resource /x was not found"),
    ],
)
def test_other_client_errors_are_permanent_with_twilio_code_and_message(
    status: int, code: int, message: str
) -> None:
    failure = classify_twilio_error(rest_error(status, code, message))
    assert failure == TwilioFailure(transient=False, status=status, code=code, message=message)
    assert failure.permanent


def test_code_filled_in_from_the_status_is_not_a_twilio_code() -> None:
    # Version.exception(): no "code" in the body → code = HTTP status
    failure = classify_twilio_error(TwilioRestException(400, URI, "Unable to create record", 400))
    assert failure.code is None
    assert not failure.transient


def test_exception_built_by_the_library_from_a_response() -> None:
    from twilio.base.version import Version

    body = {"code": 20429, "message": "Too Many Requests", "more_info": "x", "status": 429}
    exc = Version.exception("POST", URI, Response(429, json.dumps(body)), "Unable to create record")
    assert classify_twilio_error(exc) == TwilioFailure(True, 429, 20429, "Too Many Requests")
    html = Version.exception(
        "GET", URI, Response(502, "<html>bad gateway</html>"), "Unable to fetch"
    )
    assert classify_twilio_error(html) == TwilioFailure(True, 502, None, "Unable to fetch")


def test_rfc9457_service_exception() -> None:
    unavailable = TwilioServiceException("about:blank", "Service Unavailable", 503, 20503)
    assert classify_twilio_error(unavailable).transient
    invalid = TwilioServiceException(
        "about:blank", "Invalid", 400, 21211, detail="The 'To' number is not valid"
    )
    assert classify_twilio_error(invalid) == TwilioFailure(
        False, 400, 21211, "The 'To' number is not valid"
    )


def test_page_fetch_failure_wraps_the_response() -> None:
    # twilio.base.page.Page.process_response: TwilioException("Unable to fetch page", response)
    body = json.dumps({"code": 20503, "message": "Service Unavailable", "status": 503})
    failure = classify_twilio_error(TwilioException("Unable to fetch page", Response(503, body)))
    assert failure == TwilioFailure(True, 503, 20503, "Service Unavailable")
    not_found = json.dumps({"code": 20404, "message": "not found", "status": 404})
    assert not classify_twilio_error(
        TwilioException("Unable to fetch page", Response(404, not_found))
    ).transient


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("Connection refused"),
        requests.ConnectTimeout("connect timed out"),
        requests.ReadTimeout("read timed out"),
        requests.exceptions.ChunkedEncodingError("connection broken"),
        urllib3.exceptions.ProtocolError("Connection aborted."),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ConnectionTimeoutError("connect timeout"),
        aiohttp.SocketTimeoutError("read timeout"),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.ServerTimeoutError("timeout"),
        TimeoutError("timed out"),
        ConnectionResetError(104, "reset"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transport_failures_are_transient(exc: BaseException) -> None:
    failure = classify_twilio_error(exc)
    assert failure.transient
    assert failure.status is None
    assert failure.code is None
    assert type(exc).__name__ in failure.message


def test_transport_failure_wrapped_in_a_twilio_exception_is_transient() -> None:
    def send() -> None:
        try:
            raise requests.ReadTimeout("read timed out")
        except requests.ReadTimeout as inner:
            raise TwilioException("request failed") from inner

    with pytest.raises(TwilioException) as caught:
        send()
    assert classify_twilio_error(caught.value).transient


def test_aiohttp_response_errors_follow_their_status() -> None:
    info = aiohttp.RequestInfo(
        url=URL("http://127.0.0.1/x"), method="POST", headers=CIMultiDictProxy(CIMultiDict())
    )
    assert classify_twilio_error(aiohttp.ClientResponseError(info, (), status=503)).transient
    assert not classify_twilio_error(aiohttp.ClientResponseError(info, (), status=400)).transient


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.InvalidURL("bad url"),
        requests.exceptions.MissingSchema("no scheme"),
        aiohttp.InvalidURL("bad url"),
        ValueError("bug"),
        KeyError("sid"),
        TwilioException("Page Records can not be deserialized"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_everything_else_is_permanent(exc: BaseException) -> None:
    failure = classify_twilio_error(exc)
    assert not failure.transient
    assert failure.status is None


def test_requests_http_error_uses_its_response() -> None:
    response = requests.Response()
    response.status_code = 503
    response._content = b'{"code": 20503, "message": "Service Unavailable"}'
    assert classify_twilio_error(requests.HTTPError(response=response)) == TwilioFailure(
        True, 503, 20503, "Service Unavailable"
    )


@given(
    status=st.integers(min_value=400, max_value=599),
    code=st.one_of(st.none(), st.integers(min_value=10000, max_value=99999)),
)
def test_rule_over_every_status(status: int, code: int | None) -> None:
    failure = classify_twilio_error(rest_error(status, code, "x"))
    expected = status >= 500 or status in {408, 429} or code in {20429, 20500, 20503, 20504}
    assert failure.transient is expected
    assert failure.status == status
    assert failure.code == code


def test_classification_is_pure_and_never_raises() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            return ""

    assert classify_twilio_error(Weird()) == TwilioFailure(False, None, None, "Weird")
    loop = ValueError("outer")
    loop.__context__ = loop  # a cycle in the chain must not hang
    assert not classify_twilio_error(loop).transient
