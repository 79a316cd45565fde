"""Classifying a failed Twilio REST call (pure; no import, no I/O): transient or permanent.

Transient (worth retrying later): HTTP 429 or Twilio code 20429, 408, any 5xx, timeouts and
connection errors of requests, urllib3, aiohttp or the OS (also when wrapped in a
``TwilioException``). Permanent: other 4xx (with Twilio's code and message) and anything
unrecognised. The same rules serve the synchronous and the asynchronous client: both raise the
twilio library's exceptions, only their transport errors differ.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass

#: Twilio's codes for "too many requests" and its 5xx family.
_TRANSIENT_CODES = frozenset({20429, 20500, 20503, 20504})
#: HTTP statuses that are worth retrying besides 429 and 5xx.
_TRANSIENT_STATUSES = frozenset({408, 429})
#: Transport errors of the HTTP stacks under the synchronous client (requests, urllib3) and the
#: async one (aiohttp): no usable answer came back, so retrying may help.
_NO_ANSWER: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "requests.exceptions",
        ("Timeout", "ConnectionError", "ChunkedEncodingError", "ContentDecodingError"),
    ),
    (
        "urllib3.exceptions",
        ("TimeoutError", "ProtocolError", "NewConnectionError", "MaxRetryError"),
    ),
    ("aiohttp", ("ClientConnectionError", "ClientPayloadError", "ServerTimeoutError")),
)


@dataclass(frozen=True)
class TwilioFailure:
    """A failed Twilio request: whether retrying may help, HTTP status, Twilio code, message."""

    transient: bool
    status: int | None
    code: int | None
    message: str

    @property
    def permanent(self) -> bool:
        """The opposite of `transient`."""
        return not self.transient


def _is_instance(exc: BaseException, module: str, names: Iterable[str]) -> bool:
    """isinstance against classes of `module`, only if that module is already imported.

    An exception of a library that was never imported cannot exist, so this stays pure and
    import-free.
    """
    mod = sys.modules.get(module)
    if mod is None:
        return False
    classes = tuple(c for c in (getattr(mod, n, None) for n in names) if isinstance(c, type))
    return bool(classes) and isinstance(exc, classes)


def _strip_prefix(message: str) -> str:
    """Twilio's own message, without the library's "Unable to create record: " prefix."""
    if message.startswith("Unable to") and ": " in message:
        return message.split(": ", 1)[1]
    return message


def _http_failure(status: int, code: int | None, message: str) -> TwilioFailure:
    transient = status >= 500 or status in _TRANSIENT_STATUSES or code in _TRANSIENT_CODES
    return TwilioFailure(transient=transient, status=status, code=code, message=message)


def _twilio_code(raw: object, status: int | None) -> int | None:
    """Twilio's error code; the library fills the HTTP status in when Twilio sent none."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        code = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return None if code == status else code


def _from_response(response: object, fallback: str) -> TwilioFailure | None:
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    code: int | None = None
    message = fallback
    try:
        payload = json.loads(str(getattr(response, "text", "")))
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = _twilio_code(payload.get("code"), status)
        message = str(payload.get("message") or payload.get("detail") or fallback)
    return _http_failure(status, code, message)


def classify_twilio_error(exc: BaseException) -> TwilioFailure:
    """Classify any failure of a Twilio REST call (pure; no import, no I/O).

    Transient: HTTP 429 or Twilio code 20429, 408, any 5xx, timeouts and connection errors of
    requests, urllib3, aiohttp or the OS (also when wrapped in a ``TwilioException``).
    Permanent: other 4xx (with Twilio's code and message) and anything unrecognised.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        result = _classify_one(current)
        if result is not None:
            return result
        current = current.__cause__ or current.__context__
    return TwilioFailure(transient=False, status=None, code=None, message=_describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _classify_one(exc: BaseException) -> TwilioFailure | None:
    twilio_mod = "twilio.base.exceptions"
    if _is_instance(exc, twilio_mod, ["TwilioRestException", "TwilioServiceException"]):
        status = getattr(exc, "status", None)
        raw_message = getattr(exc, "msg", None) or getattr(exc, "detail", None)
        raw_message = raw_message or getattr(exc, "title", None) or _describe(exc)
        message = _strip_prefix(str(raw_message))
        if not isinstance(status, int):
            return TwilioFailure(
                False, None, _twilio_code(getattr(exc, "code", None), None), message
            )
        return _http_failure(status, _twilio_code(getattr(exc, "code", None), status), message)
    if _is_instance(exc, twilio_mod, ["TwilioException"]):
        # Page.process_response raises TwilioException("Unable to fetch page", response).
        for arg in exc.args[1:]:
            result = _from_response(arg, str(exc.args[0]))
            if result is not None:
                return result
        return None  # look at the cause (a transport error wrapped by the caller), if any
    if any(_is_instance(exc, module, names) for module, names in _NO_ANSWER):
        return TwilioFailure(True, None, None, _describe(exc))
    if _is_instance(exc, "requests.exceptions", ["RequestException"]):
        response = getattr(exc, "response", None)
        result = _from_response(response, _describe(exc)) if response is not None else None
        return result or TwilioFailure(False, None, None, _describe(exc))
    if _is_instance(exc, "aiohttp", ["ClientResponseError"]):
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0:
            return _http_failure(status, None, str(getattr(exc, "message", "")) or _describe(exc))
        return TwilioFailure(True, None, None, _describe(exc))
    if _is_instance(exc, "aiohttp", ["InvalidURL"]):
        return TwilioFailure(False, None, None, _describe(exc))
    if isinstance(exc, TimeoutError | ConnectionError):
        return TwilioFailure(True, None, None, _describe(exc))
    return None
