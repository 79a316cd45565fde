"""Byte ranges as a browser's audio element asks for them, and the inbox's validators (pure)."""

from __future__ import annotations

import pytest

from switchboard.inbox import ranges
from switchboard.inbox.conversations import etag_of, matches
from switchboard.inbox.ranges import ByteRange

BODY = bytes(range(100))


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        ("bytes=0-", ByteRange(first=0)),
        ("bytes=10-19", ByteRange(first=10, last=19)),
        ("bytes=-5", ByteRange(suffix=5)),
        (" bytes = 3 - 4 ", ByteRange(first=3, last=4)),
    ],
)
def test_one_range_is_read(header: str, wanted: ByteRange) -> None:
    assert ranges.parse(header) == wanted


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=", "bytes=5-4", "bytes=-0", "items=0-1", "bytes=0-1,5-6", "bytes=x-1", "0-1"],
)
def test_what_is_not_one_readable_range_means_the_whole_file(header: str | None) -> None:
    assert ranges.parse(header) is None


def test_a_range_is_cut_with_its_content_range() -> None:
    assert ranges.cut(BODY, ByteRange(first=10, last=19)) == (BODY[10:20], "bytes 10-19/100")
    assert ranges.cut(BODY, ByteRange(first=90)) == (BODY[90:], "bytes 90-99/100")
    assert ranges.cut(BODY, ByteRange(first=95, last=500)) == (BODY[95:], "bytes 95-99/100")
    assert ranges.cut(BODY, ByteRange(suffix=3)) == (BODY[97:], "bytes 97-99/100")
    assert ranges.cut(BODY, ByteRange(suffix=500)) == (BODY, "bytes 0-99/100")
    assert ranges.cut(BODY, ByteRange(first=100)) is None
    assert ranges.cut(b"", ByteRange(suffix=1)) is None


def test_validators_follow_what_they_describe_and_match_as_sent() -> None:
    etag = etag_of("list", [("+15017122661", 'W/"datetime1"')], ["open"])
    assert etag == etag_of("list", [("+15017122661", 'W/"datetime1"')], ["open"])
    assert etag != etag_of("list", [("+15017122661", 'W/"datetime2"')], ["open"])
    assert etag != etag_of("list", [("+15017122661", 'W/"datetime1"')], ["done"])
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert len(etag) == 26
    assert matches(etag, etag)
    assert matches(f'"other", W/{etag}', etag)
    assert matches("*", etag)
    assert not matches(None, etag)
    assert not matches("", etag)
    assert not matches('"other"', etag)
    assert not matches(etag.strip('"'), etag)  # unquoted: not an entity tag


def _http_error(status: int) -> Exception:
    import requests

    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status}", response=response)


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (_http_error(416), 416, "range_not_satisfiable"),
        (_http_error(404), 404, "not_found"),
        (_http_error(503), 503, "twilio_unavailable"),
        (_http_error(403), 502, "recording_unavailable"),
    ],
)
def test_what_the_browser_is_told_when_the_media_host_fails(
    failure: Exception, status: int, code: str
) -> None:
    from switchboard.inbox.conversations import _media_failure

    told = _media_failure(failure, "CA" + "0" * 32)
    assert (told.status, told.code) == (status, code)


def test_a_media_host_out_of_reach_is_a_temporary_failure() -> None:
    import requests

    from switchboard.inbox.conversations import _media_failure

    assert _media_failure(requests.ConnectionError("refused"), "CA" + "0" * 32).status == 503
