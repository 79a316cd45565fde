"""The Twilio stand-in's aiohttp application: REST routes, auth, faults, control endpoints, and
the message/call lifecycles that send signed status callbacks and fetch TwiML.

Built by :func:`build_app` around a :class:`~devkit.twilio_standin_model.StandinStore`; run it
with ``devkit.twilio_standin.TwilioStandin``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import ClientSession, ClientTimeout, web
from twilio.request_validator import RequestValidator

from devkit.twilio_standin_media import mp3_bytes, wav_bytes
from devkit.twilio_standin_model import (
    API_PREFIX,
    API_VERSION,
    CALL_TERMINAL,
    EXTERNAL_MEDIA_PREFIX,
    Call,
    CallbackDelivery,
    CallOutcome,
    FaultRule,
    MessageOutcome,
    RecordedRequest,
    StandinStore,
    TwilioApiError,
    external_media_url,
    invalid_parameter,
    monotonic_ms,
    new_sid,
    not_found,
    now_utc,
    page_of,
    resource_of,
    rfc2822,
)
from devkit.twilio_standin_queues import QueueError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STORE_KEY = web.AppKey("store", StandinStore)
PARAMS_KEY = web.RequestKey("standin_params", dict)
_RESPONSE_BODY_LIMIT = 64 * 1024


def twilio_json(payload: Mapping[str, Any], status: int = 200) -> web.Response:
    """A JSON response as Twilio sends it."""
    return web.json_response(dict(payload), status=status)


def error_response(error: TwilioApiError) -> web.Response:
    """Twilio's error JSON with the error's HTTP status."""
    response = twilio_json(error.body(), error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


def _multi(items: Any) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in items:
        if isinstance(value, str):
            result.setdefault(str(key), []).append(value)
    return result


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else (username, None)


# --------------------------------------------------------------------------------------------
# Runtime: background lifecycles and deliveries
# --------------------------------------------------------------------------------------------


@dataclass
class Runtime:
    """What runs beside the handlers: lifecycle tasks, the HTTP session for callbacks."""

    store: StandinStore
    session: ClientSession | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    call_events: dict[str, asyncio.Event] = field(default_factory=dict)
    #: Calls with a manual answer: set when someone answers (`/_standin/calls/{sid}/answer`).
    answers: dict[str, asyncio.Event] = field(default_factory=dict)
    shuffle_rng: random.Random = field(default_factory=random.Random)

    def spawn(self, coroutine: Awaitable[None]) -> None:
        """Run a lifecycle in the background, tracked for idle waits and stop."""
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def idle(self, limit_s: float) -> bool:
        """Wait until no lifecycle runs (True) or `limit_s` seconds pass (False)."""
        deadline = time.monotonic() + limit_s
        while self.tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self.tasks), timeout=remaining)
        return True

    async def close(self) -> None:
        """Cancel lifecycles and close the session."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for event in self.call_events.values():
            event.set()
        if self.session is not None:
            await self.session.close()
            self.session = None

    def _session(self) -> ClientSession:
        if self.session is None or self.session.closed:
            timeout = ClientTimeout(total=self.store.config.callback_timeout_s)
            self.session = ClientSession(timeout=timeout)
        return self.session

    async def _pause(self) -> None:
        delay = self.store.config.callback_delay_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    async def deliver(
        self,
        kind: str,
        sid: str,
        url: str,
        params: dict[str, str],
        *,
        method: str = "POST",
        token: str | None = None,
        duplicate: bool = False,
    ) -> CallbackDelivery:
        """Send one signed request to the app and record it (never raises)."""
        validator = RequestValidator(self.store.config.auth_token)
        token = token or uuid.uuid4().hex
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": token,
            "Accept": "*/*",
        }
        if method == "GET":
            parts = urlsplit(url)
            query = "&".join(q for q in (parts.query, urlencode(params)) if q)
            target = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
            signature = validator.compute_signature(target, {})
            body: str | None = None
        else:
            target = url
            signature = validator.compute_signature(url, params)
            body = urlencode(params)
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        headers["X-Twilio-Signature"] = signature
        sent_to = self.store.route(target)  # signed over the public URL, as Twilio signs it
        started = time.time()
        status: int | None = None
        error: str | None = None
        text: str | None = None
        content_type: str | None = None
        try:
            async with self._session().request(method, sent_to, data=body, headers=headers) as r:
                status = r.status
                content_type = r.headers.get("Content-Type")
                raw = await r.content.read(_RESPONSE_BODY_LIMIT)
                text = raw.decode("utf-8", errors="replace")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection refused, timeout, bad URL: Twilio logs and moves on
            error = f"{type(exc).__name__}: {exc}"
        delivery = CallbackDelivery(
            kind=kind,
            sid=sid,
            url=target,
            method=method,
            params=dict(params),
            signature=signature,
            idempotency_token=token,
            time=started,
            status=status,
            error=error,
            response_body=text,
            content_type=content_type,
            duplicate=duplicate,
        )
        self.store.record_delivery(delivery)
        return delivery

    async def send_callbacks(self, batch: list[tuple[str, str, str, dict[str, str], str]]) -> None:
        """Send (kind, sid, url, params, method) callbacks with the duplicate/shuffle options."""
        config = self.store.config
        queue: list[tuple[str, str, str, dict[str, str], str, str, bool]] = []
        for kind, sid, url, params, method in batch:
            token = uuid.uuid4().hex
            queue.append((kind, sid, url, params, method, token, False))
            queue.extend(
                (kind, sid, url, params, method, token, True)
                for _ in range(config.callback_duplicates)
            )
        if config.callback_shuffle and len(queue) > 1:
            original = list(queue)
            self.shuffle_rng.shuffle(queue)
            if queue == original:
                queue.reverse()
        for index, (kind, sid, url, params, method, token, dup) in enumerate(queue):
            if index:
                await self._pause()
            await self.deliver(kind, sid, url, params, method=method, token=token, duplicate=dup)

    # -- messages ----------------------------------------------------------------------------

    async def message_lifecycle(self, sid: str, outcome: MessageOutcome) -> None:
        """queued → sent → delivered (or the configured outcome), with status callbacks."""
        store = self.store
        steps: list[tuple[str, int | None]] = [("queued", None)]
        if outcome.status == "failed":
            steps.append(("failed", outcome.error_code))
        else:
            steps.append(("sent", None))
            if outcome.status != "sent":
                steps.append((outcome.status, outcome.error_code))
        shuffle = store.config.callback_shuffle
        buffered: list[tuple[str, str, str, dict[str, str], str]] = []
        for index, (status, error_code) in enumerate(steps):
            if index:
                await self._pause()
            message = store.advance_message(sid, status, error_code)
            if not message.status_callback:
                continue
            params = {
                "AccountSid": message.account_sid,
                "ApiVersion": API_VERSION,
                "MessageSid": message.sid,
                "MessageStatus": status,
                "SmsSid": message.sid,
                "SmsStatus": status,
                "To": message.to,
            }
            if message.from_:
                params["From"] = message.from_
            if message.messaging_service_sid:
                params["MessagingServiceSid"] = message.messaging_service_sid
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            item = ("message-status", sid, message.status_callback, params, "POST")
            if shuffle:
                buffered.append(item)
            else:
                await self.send_callbacks([item])
        if buffered:
            await self.send_callbacks(buffered)

    # -- calls -------------------------------------------------------------------------------

    def _call_params(self, call: Call, status: str) -> dict[str, str]:
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    def _status_item(
        self, call: Call, event: str, sequence: int
    ) -> tuple[str, str, str, dict[str, str], str] | None:
        if not call.status_callback or event not in call.status_callback_events:
            return None
        params = self._call_params(call, call.status)
        params.update(
            {
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(sequence),
                "Timestamp": rfc2822(now_utc()) or "",
            }
        )
        if call.status in CALL_TERMINAL:
            params["CallDuration"] = str(call.duration or 0)
            params["Duration"] = str(-(-(call.duration or 0) // 60))
        return ("call-status", call.sid, call.status_callback, params, call.status_callback_method)

    async def fetch_twiml(self, call: Call) -> None:
        """Request the call's TwiML from its Url as Twilio does (signed), and record it."""
        if call.url:
            await self.deliver(
                "twiml",
                call.sid,
                call.url,
                self._call_params(call, "in-progress"),
                method=call.method,
            )

    async def call_lifecycle(self, sid: str, outcome: CallOutcome) -> None:
        """initiated → ringing → in-progress → completed (or busy/no-answer/failed), with the
        status callbacks asked for by StatusCallbackEvent and the TwiML fetch on answer."""
        store = self.store
        ended = self.call_events.setdefault(sid, asyncio.Event())
        shuffle = store.config.callback_shuffle
        buffered: list[tuple[str, str, str, dict[str, str], str]] = []
        sequence = 0

        async def emit(call: Call, event: str) -> None:
            nonlocal sequence
            item = self._status_item(call, event, sequence)
            if item is None:
                return
            sequence += 1
            if shuffle:
                buffered.append(item)
            else:
                await self.send_callbacks([item])

        async def finish() -> None:
            call = store.get_call(sid)
            if call is not None and call.status in CALL_TERMINAL:
                await emit(call, "completed")
            if buffered:
                await self.send_callbacks(buffered)

        if outcome.answer == "manual" and outcome.status == "completed":
            try:
                await self._manual_call(sid, emit, ended)
                await finish()
            finally:
                self.call_events.pop(sid, None)
                self.answers.pop(sid, None)
            return
        plan: list[str] = ["initiated"]
        if outcome.status == "failed":
            plan.append("failed")
        else:
            plan.append("ringing")
            plan.append("in-progress" if outcome.status == "completed" else outcome.status)
        try:
            for index, status in enumerate(plan):
                if index:
                    await self._pause()
                current = store.get_call(sid)
                if current is None or current.status in CALL_TERMINAL:
                    break  # ended by an update (canceled / completed)
                answered_by = None
                if status == "in-progress" and current.machine_detection:
                    answered_by = outcome.answered_by or "human"
                call = store.advance_call(sid, status, answered_by=answered_by)
                if call is None:
                    break
                if status in CALL_TERMINAL:
                    break
                if status == "in-progress":
                    await self.fetch_twiml(call)
                    await emit(call, "answered")
                else:
                    await emit(call, status)
            else:
                # answered: talk, then hang up (or hold until an update ends the call)
                if outcome.hold:
                    await ended.wait()
                else:
                    await self._pause()
                    store.advance_call(sid, "completed", duration=outcome.duration)
            await finish()
        finally:
            self.call_events.pop(sid, None)

    async def _manual_call(
        self, sid: str, emit: Callable[[Call, str], Awaitable[None]], ended: asyncio.Event
    ) -> None:
        """initiated → ringing, then in-progress when someone answers within the call's
        `Timeout` (else no-answer), then completed when they hang up."""
        store = self.store
        answered = self.answers.setdefault(sid, asyncio.Event())
        for status in ("initiated", "ringing"):
            call = store.advance_call(sid, status)
            if call is None:
                return
            await emit(call, status)
        current = store.get_call(sid)
        try:
            await asyncio.wait_for(answered.wait(), timeout=current.timeout if current else 0)
        except TimeoutError:
            store.advance_call(sid, "no-answer")
            return
        call = store.advance_call(sid, "in-progress")
        if call is None:
            return
        await emit(call, "answered")
        await ended.wait()
        store.advance_call(sid, "completed")

    def call_updated(self, sid: str, change: str | None) -> None:
        """React to ``POST Calls/{sid}.json``: wake a held call; fetch redirected TwiML."""
        if change == "ended":
            event = self.call_events.get(sid)
            if event is not None:
                event.set()
        elif change == "redirect":
            call = self.store.get_call(sid)
            if call is not None and call.url:
                self.spawn(self.fetch_twiml(call))


RUNTIME_KEY = web.AppKey("runtime", Runtime)


# --------------------------------------------------------------------------------------------
# REST handlers
# --------------------------------------------------------------------------------------------


def _store(request: web.Request) -> StandinStore:
    return request.app[STORE_KEY]


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME_KEY]


def _params(request: web.Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = request[PARAMS_KEY]
    return params


async def create_message(request: web.Request) -> web.Response:
    store = _store(request)
    message = store.create_message(_params(request))
    sender = message.from_ or message.messaging_service_sid
    _runtime(request).spawn(
        _runtime(request).message_lifecycle(message.sid, store.message_outcome(message.to, sender))
    )
    return twilio_json(message.to_json(), 201)


async def list_messages(request: web.Request) -> web.Response:
    query = _params(request)
    items = _store(request).list_messages(query)
    return twilio_json(page_of(items, "messages", request.path, query))


async def fetch_message(request: web.Request) -> web.Response:
    message = _store(request).get_message(request.match_info["sid"])
    if message is None:
        raise not_found(request.path)
    return twilio_json(message.to_json())


async def create_call(request: web.Request) -> web.Response:
    store = _store(request)
    call = store.create_call(_params(request))
    runtime = _runtime(request)
    runtime.call_events[call.sid] = asyncio.Event()
    runtime.spawn(runtime.call_lifecycle(call.sid, store.call_outcome(call.to)))
    return twilio_json(call.to_json(), 201)


async def list_calls(request: web.Request) -> web.Response:
    query = _params(request)
    items = _store(request).list_calls(query)
    return twilio_json(page_of(items, "calls", request.path, query))


async def fetch_call(request: web.Request) -> web.Response:
    call = _store(request).get_call(request.match_info["sid"])
    if call is None:
        raise not_found(request.path)
    return twilio_json(call.to_json())


async def update_call(request: web.Request) -> web.Response:
    sid = request.match_info["sid"]
    call, change = _store(request).update_call(sid, _params(request))
    _runtime(request).call_updated(sid, change)
    return twilio_json(call.to_json())


async def list_numbers(request: web.Request) -> web.Response:
    query = _params(request)
    items = _store(request).list_numbers(query)
    return twilio_json(page_of(items, "incoming_phone_numbers", request.path, query))


async def fetch_number(request: web.Request) -> web.Response:
    return twilio_json(_store(request).get_number(request.match_info["sid"]))


async def update_number(request: web.Request) -> web.Response:
    return twilio_json(_store(request).update_number(request.match_info["sid"], _params(request)))


async def list_usage(request: web.Request) -> web.Response:
    query = _params(request)
    items = _store(request).list_usage(query)
    return twilio_json(page_of(items, "usage_records", request.path, query))


def _recording(request: web.Request) -> Any:
    recording = _store(request).get_recording(request.match_info["sid"])
    if recording is None:
        raise not_found(request.path)
    return recording


async def fetch_recording(request: web.Request) -> web.Response:
    return twilio_json(_recording(request).to_json())


async def recording_media(request: web.Request) -> web.Response:
    """The recording's audio: WAV at the media URL itself and with `.wav`, MP3 with `.mp3`."""
    recording = _recording(request)
    if request.path.endswith(".mp3"):
        return ranged(request, mp3_bytes(recording.sid, recording.duration), "audio/mpeg")
    return ranged(request, wav_bytes(recording.sid, recording.duration), "audio/x-wav")


def ranged(request: web.Request, body: bytes, content_type: str) -> web.Response:
    """`body` as a media host answers a request that may carry `Range` (RFC 9110), as Twilio's
    recordings do: `Accept-Ranges: bytes`; one range answered 206 with `Content-Range`; a range
    past the end 416 (`Content-Range: bytes */<size>`); no range (or one it cannot read,
    ignored as the RFC allows) the whole file, 200."""
    size = len(body)
    headers = {"Accept-Ranges": "bytes"}
    if "Range" not in request.headers:
        return web.Response(body=body, content_type=content_type, headers=headers)
    try:
        wanted = request.http_range
    except ValueError:
        return web.Response(body=body, content_type=content_type, headers=headers)
    start, stop = wanted.start, wanted.stop
    if start is None and stop is None:
        return web.Response(body=body, content_type=content_type, headers=headers)
    if start is not None and start < 0:  # a suffix range: the last -start bytes
        start, stop = max(0, size + start), size
    start = start or 0
    stop = size if stop is None else min(stop, size)
    if start >= size or stop <= start:
        headers["Content-Range"] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(
        status=206, body=body[start:stop], content_type=content_type, headers=headers
    )


async def fetch_account(request: web.Request) -> web.Response:
    return twilio_json(_store(request).account_json())


@web.middleware
async def rest_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Twilio's REST behaviour around every ``/2010-04-01/...`` route: basic auth, account
    match, latency, faults, Twilio's error JSON, and the request log."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    store = _store(request)
    started_wall, started = time.time(), time.monotonic()
    query = _multi(request.query.items())
    form: dict[str, list[str]] = {}
    if request.method in {"POST", "PUT"} and request.content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        form = _multi((await request.post()).items())
    request[PARAMS_KEY] = {**query, **form} if request.method == "GET" else form or query
    username, password = _basic_auth(request.headers.get("Authorization"))
    authenticated = store.authenticate(username, password)
    fault_note: str | None = None
    payload: dict[str, Any] | None = None
    try:
        if not authenticated:
            raise TwilioApiError(401, 20003, "Authenticate")
        parts = request.path.split("/")
        path_account = parts[3].removesuffix(".json") if len(parts) > 3 else ""
        if len(parts) <= 3 or parts[2] != "Accounts" or path_account != store.config.account_sid:
            if len(parts) > 3 and parts[2] == "Accounts":
                raise TwilioApiError(401, 20003, "Authenticate")
            raise not_found(request.path)
        if store.config.latency_ms > 0:
            await asyncio.sleep(store.config.latency_ms / 1000)
        to_values = request[PARAMS_KEY].get("To") or [None]
        error, delay_ms, fault_note = store.pick_fault(
            request.method, resource_of(request.path), to_values[0]
        )
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if error is not None:
            raise error
        try:
            response = await handler(request)
        except web.HTTPMethodNotAllowed:
            raise TwilioApiError(405, 20004, "Method not allowed") from None
        except web.HTTPNotFound:
            raise not_found(request.path) from None
    except TwilioApiError as exc:
        response = error_response(exc)
    if isinstance(response, web.Response) and response.body is not None:
        try:
            payload = json.loads(bytes(response.body))
        except (TypeError, ValueError):
            payload = None
    store.record(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=query,
            form=form,
            identity=username,
            authenticated=authenticated,
            time=started_wall,
            status=response.status,
            duration_ms=monotonic_ms(started),
            response=payload,
            fault=fault_note,
            range=request.headers.get("Range"),
        )
    )
    return response


# --------------------------------------------------------------------------------------------
# Control endpoints (/_standin/...): no auth, loopback only
# --------------------------------------------------------------------------------------------


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


async def control_requests(request: web.Request) -> web.Response:
    store = _store(request)
    if request.method == "DELETE":
        store.clear_requests()
        return web.json_response({"cleared": True})
    q = request.query
    entries = store.requests(method=q.get("method"), path=q.get("path"), resource=q.get("resource"))
    return web.json_response([e.to_json() for e in entries])


async def control_callbacks(request: web.Request) -> web.Response:
    store = _store(request)
    if request.method == "DELETE":
        store.clear_callbacks()
        return web.json_response({"cleared": True})
    q = request.query
    return web.json_response([e.to_json() for e in store.callbacks(q.get("sid"), q.get("kind"))])


async def control_faults(request: web.Request) -> web.Response:
    store = _store(request)
    if request.method == "DELETE":
        store.clear_faults()
    elif request.method == "POST":
        data = await _json_body(request)
        try:
            rules = [FaultRule.from_json(r) for r in data.get("rules", [])]
            store.configure_faults(
                fail_rate=data.get("fail_rate"),
                statuses=data.get("statuses"),
                latency_ms=data.get("latency_ms"),
                seed=data.get("seed"),
                rules=rules,
                clear_rules=bool(data.get("clear_rules", False)),
            )
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(store.faults_json())


async def control_outcomes(request: web.Request) -> web.Response:
    store = _store(request)
    if request.method == "DELETE":
        for number in list(store.message_outcomes):
            store.set_message_outcome(number, None)
        for sender in list(store.sender_outcomes):
            store.set_sender_outcome(sender, None)
        for number in list(store.call_outcomes):
            store.set_call_outcome(number, None)
    elif request.method == "POST":
        data = await _json_body(request)
        try:
            for number, spec in dict(data.get("messages", {})).items():
                store.set_message_outcome(number, None if spec is None else MessageOutcome(**spec))
            for sender, spec in dict(data.get("senders", {})).items():
                store.set_sender_outcome(sender, None if spec is None else MessageOutcome(**spec))
            for number, spec in dict(data.get("calls", {})).items():
                store.set_call_outcome(number, None if spec is None else CallOutcome(**spec))
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(store.outcomes_json())


async def control_config(request: web.Request) -> web.Response:
    store = _store(request)
    config = store.config
    if request.method == "POST":
        data = await _json_body(request)
        allowed = {
            "callback_delay_ms",
            "callback_duplicates",
            "callback_shuffle",
            "callback_timeout_s",
            "routes",
        }
        unknown = set(data) - allowed
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown keys: {sorted(unknown)}")
        routes = data.pop("routes", None)
        if routes is not None and not (
            isinstance(routes, dict)
            and all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in routes.values()
            )
        ):
            raise web.HTTPBadRequest(text="routes must map an origin to a list of origins")
        with store.lock:
            for key, value in data.items():
                setattr(config, key, type(getattr(config, key))(value))
            if routes is not None:
                config.routes = {str(k): list(v) for k, v in routes.items()}
    return web.json_response(
        {
            "account_sid": config.account_sid,
            "api_keys": sorted(config.api_keys),
            "callback_delay_ms": config.callback_delay_ms,
            "callback_duplicates": config.callback_duplicates,
            "callback_shuffle": config.callback_shuffle,
            "callback_timeout_s": config.callback_timeout_s,
            "routes": config.routes,
        }
    )


async def control_numbers(request: web.Request) -> web.Response:
    store = _store(request)
    if request.method == "POST":
        data = await _json_body(request)
        try:
            store.set_numbers(list(data.get("numbers", [])))
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(store.list_numbers({}))


async def control_recordings(request: web.Request) -> web.Response:
    """``POST {"sid"?, "callSid"?, "duration"?, "status"?, "external"?}`` adds a recording
    (what a ``<Record>`` of a simulated call made; `external`: kept in External Storage, its
    `media_url` on another loopback host name served here, `/_external/...`); ``GET`` lists
    them."""
    store = _store(request)
    if request.method == "POST":
        data = await _json_body(request)
        try:
            sid = data.get("sid") or new_sid("RE")
            media_url = (
                external_media_url(request.url.host or "", request.url.port or 80, sid)
                if data.get("external")
                else None
            )
            recording = store.add_recording(
                sid=sid,
                call_sid=data.get("callSid"),
                duration=int(data.get("duration", 7)),
                status=str(data.get("status", "completed")),
                media_url=media_url,
            )
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response(recording.to_json(), status=201)
    return web.json_response(store.snapshot()["recordings"])


async def external_media(request: web.Request) -> web.Response:
    """The External Storage host of recordings: the MP3 of a recording whose `media_url`
    names it, every request recorded with its headers (`GET /_standin/external`)."""
    store = _store(request)
    store.record_external(request.method, request.path_qs, request.headers)
    recording = store.get_recording(request.match_info["sid"])
    if recording is None or recording.external_media_url is None:
        return web.Response(status=404, text="no such object")
    return ranged(request, mp3_bytes(recording.sid, recording.duration), "audio/mpeg")


async def control_external(request: web.Request) -> web.Response:
    """``GET``: the requests the External Storage host received; ``DELETE`` forgets them."""
    store = _store(request)
    if request.method == "DELETE":
        with store.lock:
            store.external_requests.clear()
    return web.json_response(store.external_log())


async def control_state(request: web.Request) -> web.Response:
    return web.json_response(_store(request).snapshot())


async def control_reset(request: web.Request) -> web.Response:
    _store(request).reset()
    return web.json_response({"reset": True})


async def control_idle(request: web.Request) -> web.Response:
    try:
        timeout = min(float(request.query.get("timeout", "10")), 60.0)
    except ValueError:
        raise web.HTTPBadRequest(text="timeout must be a number") from None
    idle = await _runtime(request).idle(timeout)
    return web.json_response({"idle": idle}, status=200 if idle else 408)


# --------------------------------------------------------------------------------------------
# Call queues: the Queue resource (REST) and the controls the simulator plays queues with
# --------------------------------------------------------------------------------------------


def _queue_call(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except QueueError as exc:
        raise TwilioApiError(exc.status, exc.code, exc.message) from None


async def create_queue(request: web.Request) -> web.Response:
    book = _store(request).queues
    return twilio_json(_queue_call(lambda: book.create(_params(request))), 201)


async def list_queues(request: web.Request) -> web.Response:
    query = _params(request)
    items = _store(request).queues.listing()
    return twilio_json(page_of(items, "queues", request.path, query))


async def fetch_queue(request: web.Request) -> web.Response:
    book, sid = _store(request).queues, request.match_info["sid"]
    return twilio_json(_queue_call(lambda: book.fetch(sid)))


async def update_queue(request: web.Request) -> web.Response:
    book, sid = _store(request).queues, request.match_info["sid"]
    return twilio_json(_queue_call(lambda: book.update(sid, _params(request))))


async def delete_queue(request: web.Request) -> web.Response:
    book, sid = _store(request).queues, request.match_info["sid"]
    _queue_call(lambda: book.delete(sid))
    return web.Response(status=204)


async def list_members(request: web.Request) -> web.Response:
    book, sid = _store(request).queues, request.match_info["sid"]
    items = _queue_call(lambda: book.member_listing(sid))
    return twilio_json(page_of(items, "queue_members", request.path, _params(request)))


async def fetch_member(request: web.Request) -> web.Response:
    book, sid, call = _store(request).queues, request.match_info["sid"], request.match_info["call"]
    return twilio_json(_queue_call(lambda: book.member(sid, call)))


def _number(data: Mapping[str, Any], name: str, default: float, high: float) -> float:
    try:
        return min(max(float(data.get(name, default)), 0.0), high)
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text=f"{name} must be a number") from None


async def control_queues(request: web.Request) -> web.Response:
    """``GET`` every queue; ``POST {"action": ...}`` moves calls: ``enqueue`` {name, callSid,
    caller}, ``view`` {callSid, after?, timeout?} (waits for a change), ``leave`` {callSid,
    result?}, ``dequeue`` {name, callSid, timeout?}, ``end-bridge`` {callSid}, ``advance``
    {seconds}."""
    book = _store(request).queues
    if request.method == "GET":
        return web.json_response(book.snapshot())
    data = await _json_body(request)
    action = data.get("action")
    call_sid = str(data.get("callSid") or "")
    if action == "enqueue":
        given = data.get("caller")
        caller = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
        found = book.enqueue(str(data.get("name") or ""), call_sid, caller)
    elif action == "view":
        after = int(_number(data, "after", 0, 10**9)) if data.get("after", -1) != -1 else -1
        timeout = _number(data, "timeout", 0, 60)
        found = await asyncio.to_thread(book.wait_change, call_sid, after, timeout)
    elif action == "leave":
        found = book.leave(call_sid, str(data.get("result") or "leave"))
    elif action == "dequeue":
        timeout = _number(data, "timeout", 0, 60)
        name = str(data.get("name") or "")
        taken = await asyncio.to_thread(book.dequeue, name, call_sid, timeout)
        found = taken if taken is not None else {"empty": True}
    elif action == "end-bridge":
        found = book.end_bridge(call_sid)
    elif action == "advance":
        book.advance(_number(data, "seconds", 0, 86400 * 30))
        found = {"clockOffset": book.offset}
    else:
        raise web.HTTPBadRequest(
            text="action must be enqueue, view, leave, dequeue, end-bridge or advance"
        )
    return web.json_response(found)


async def control_calls(request: web.Request) -> web.Response:
    """``GET /_standin/calls?to=&status=``: calls (Twilio's JSON plus their TwiML); ``POST
    /_standin/calls/{sid}/answer`` answers a call with a manual answer (its JSON, with `twiml`,
    `url` and `method`: what to play), ``.../hangup`` ends it."""
    store, runtime = _store(request), _runtime(request)
    sid = request.match_info.get("sid")
    if sid is None:
        to, status = request.query.get("to"), request.query.get("status")
        found = [
            {**c.to_json(), "twiml": c.twiml, "url": c.url, "method": c.method}
            for c in sorted(store.calls.values(), key=lambda c: c.sequence)
            if (not to or c.to == to) and (not status or c.status == status)
        ]
        return web.json_response(found)
    call = store.get_call(sid)
    if call is None:
        raise web.HTTPNotFound(text="no such call")
    if request.match_info.get("what") == "answer":
        event = runtime.answers.get(sid)
        if event is None or call.status != "ringing":
            raise web.HTTPConflict(text=f"the call is {call.status}, not ringing to be answered")
        event.set()
        for _ in range(500):  # the lifecycle marks it in-progress (and sends its callback)
            current = store.get_call(sid)
            if current is not None and current.status != "ringing":
                break
            await asyncio.sleep(0.01)
    else:
        store.advance_call(sid, "completed")
        runtime.call_updated(sid, "ended")
    current = store.get_call(sid)
    assert current is not None
    return web.json_response(
        {**current.to_json(), "twiml": current.twiml, "url": current.url, "method": current.method}
    )


def build_app(store: StandinStore, runtime: Runtime) -> web.Application:
    """The aiohttp application of the stand-in."""
    app = web.Application(middlewares=[rest_middleware])
    app[STORE_KEY] = store
    app[RUNTIME_KEY] = runtime
    account = API_PREFIX + "/Accounts/{account_sid:AC[0-9a-fA-F]{32}}"
    sid = "{sid:[A-Za-z0-9]+}"
    r = app.router
    r.add_get(account + ".json", fetch_account)
    r.add_post(account + "/Messages.json", create_message)
    r.add_get(account + "/Messages.json", list_messages)
    r.add_get(account + f"/Messages/{sid}.json", fetch_message)
    r.add_post(account + "/Calls.json", create_call)
    r.add_get(account + "/Calls.json", list_calls)
    r.add_get(account + f"/Calls/{sid}.json", fetch_call)
    r.add_post(account + f"/Calls/{sid}.json", update_call)
    r.add_get(account + "/IncomingPhoneNumbers.json", list_numbers)
    r.add_get(account + f"/IncomingPhoneNumbers/{sid}.json", fetch_number)
    r.add_post(account + f"/IncomingPhoneNumbers/{sid}.json", update_number)
    r.add_get(account + "/Usage/Records.json", list_usage)
    r.add_get(account + f"/Recordings/{sid}.json", fetch_recording)
    for media in (f"/Recordings/{sid}", f"/Recordings/{sid}.wav", f"/Recordings/{sid}.mp3"):
        r.add_get(account + media, recording_media)
    r.add_post(account + "/Queues.json", create_queue)
    r.add_get(account + "/Queues.json", list_queues)
    r.add_get(account + f"/Queues/{sid}.json", fetch_queue)
    r.add_post(account + f"/Queues/{sid}.json", update_queue)
    r.add_delete(account + f"/Queues/{sid}.json", delete_queue)
    r.add_get(account + f"/Queues/{sid}/Members.json", list_members)
    r.add_get(account + f"/Queues/{sid}/Members/{{call:[A-Za-z0-9]+}}.json", fetch_member)
    r.add_route("*", "/_standin/queues", control_queues)
    r.add_get("/_standin/calls", control_calls)
    r.add_post("/_standin/calls/{sid:CA[0-9a-f]{32}}/{what:answer|hangup}", control_calls)
    r.add_route("*", "/_standin/requests", control_requests)
    r.add_route("*", "/_standin/callbacks", control_callbacks)
    r.add_route("*", "/_standin/faults", control_faults)
    r.add_route("*", "/_standin/outcomes", control_outcomes)
    r.add_route("*", "/_standin/config", control_config)
    r.add_route("*", "/_standin/numbers", control_numbers)
    r.add_route("*", "/_standin/recordings", control_recordings)
    r.add_route("*", "/_standin/external", control_external)
    r.add_get(EXTERNAL_MEDIA_PREFIX + "{sid:RE[0-9a-fA-F]{32}}.mp3", external_media)
    r.add_get("/_standin/state", control_state)
    r.add_post("/_standin/reset", control_reset)
    r.add_get("/_standin/idle", control_idle)
    return app


__all__ = [
    "RUNTIME_KEY",
    "STORE_KEY",
    "Runtime",
    "build_app",
    "error_response",
    "invalid_parameter",
]
