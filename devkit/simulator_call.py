"""One call as Twilio plays it against the app: `CallSession` (see `devkit.simulator`)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urljoin

import requests

from devkit.simulator_dial import Callee, DialOptions, dial
from devkit.simulator_http import (
    API_VERSION,
    DEFAULT_APP_URL,
    DEFAULT_MAX_STEPS,
    DEFAULT_TIMEOUT,
    Echo,
    Step,
    Transport,
    content_type_problem,
    geo_params,
    new_sid,
    path_of,
)
from devkit.simulator_queue import QueuePlayer, QueueRoom
from devkit.simulator_record import RecordOptions, record
from devkit.simulator_twiml import NOT_SIMULATED, TwimlError, Verb, describe_verb, parse_twiml


class SimulatorError(RuntimeError):
    """A settings problem that stops the simulator before any request is sent."""


VOICE_PATH = "/api/voice/incoming"
CALL_STATUS_PATH = "/api/status/call"
DIAL_STATUSES = ("no-answer", "completed", "busy", "failed", "canceled")
_SHOWN_PARAMS = ("Digits", "SpeechResult", "DialCallStatus", "RecordingDuration")


@dataclass
class Transcript:
    """A whole simulated call: the requests, the printable lines, how it ended."""

    call_sid: str
    steps: list[Step] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ended_by: str = ""  # "hangup", "reject", "end", "error", "max-steps"
    answered: bool = False

    @property
    def ok(self) -> bool:
        """Every request was answered 2xx with valid TwiML and the call did not loop."""
        return not self.errors

    @property
    def webhooks(self) -> list[Step]:
        """The TwiML requests only (not the callbacks)."""
        return [step for step in self.steps if step.kind == "webhook"]

    @property
    def verbs(self) -> list[Verb]:
        """Every verb the app returned, in order."""
        return [verb for step in self.steps for verb in step.verbs]

    def text(self) -> str:
        """The printable transcript."""
        return "\n".join(self.lines)


@dataclass
class _Options:
    """What the simulated world does during one call (see `CallSession.run`)."""

    dial_status: str = "no-answer"
    dial_duration: int = 42
    recording_url: str | None = None
    recording_duration: int = 7
    callees: Mapping[str, Callee] | None = None
    transcription_text: str | None = None
    callback_repeats: int = 1
    whisper_rejected_status: str = "completed"


@dataclass
class _Next:
    """Where the call goes after a document: a new request, or the end."""

    url: str | None = None
    method: str = "POST"
    extra: dict[str, str] = field(default_factory=dict)
    end: str = ""
    after: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # callbacks


class CallSession:
    """One call, played as Twilio plays it against the app: an inbound call from its first
    webhook, or (`run(document=...)`, `direction="outbound-api"`) a call the app placed, from
    the TwiML it was placed with (see `devkit.simulator_outbound`).

    `app_url` is the app's origin (or several origins serving it, taken in turn); requests are
    signed over ``public_base_url`` + path when set.
    `path` is the number's voice URL (a path of the app, may carry a query such as ``?code=``).
    `echo` receives every printable line as it happens (the CLI prints them live).
    `standin_url` (the Twilio stand-in's origin) makes each ``<Record>`` a recording the stand-in
    serves (``POST /_standin/recordings``), so the app can fetch its audio as from Twilio, and
    carries the call through the stand-in's call queues (`devkit.simulator_queue`: its wait URL
    is asked again when its place or time changes, or every `queue_pace` seconds; with no
    change for `queue_idle` seconds the call fails).
    Calling :meth:`run` again replays the same call (same ``CallSid``), as a Twilio retry would.
    """

    def __init__(
        self,
        app_url: str | Sequence[str] = DEFAULT_APP_URL,
        *,
        account_sid: str,
        auth_token: str,
        public_base_url: str | None = None,
        from_: str,
        to: str,
        path: str = VOICE_PATH,
        call_sid: str | None = None,
        status_callback: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        timeout: float = DEFAULT_TIMEOUT,
        echo: Echo | None = None,
        session: requests.Session | None = None,
        standin_url: str | None = None,
        method: str = "POST",
        direction: str = "inbound",
        queue_pace: float | None = None,
        queue_idle: float = 30.0,
    ) -> None:
        self.standin_url = standin_url.rstrip("/") if standin_url else None
        self.direction = direction
        self.queue_pace = queue_pace
        self.queue_idle = queue_idle
        self._current = Transcript(call_sid="")
        self.method = method.upper()  # of the first request: the number's VoiceMethod
        self.account_sid = account_sid
        self.from_ = from_
        self.to = to
        self.path = path
        self.call_sid = call_sid or new_sid("CA")
        self.status_callback = status_callback
        self.max_steps = max_steps
        self.echo = echo
        self._transport = Transport(app_url, auth_token, public_base_url, timeout, session)

    def base_params(self, call_status: str) -> dict[str, str]:
        """The parameters Twilio sends with every request of this call."""
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.call_sid,
            "CallStatus": call_status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
            **geo_params("From", self.from_),
            **geo_params("To", self.to),
            **geo_params("Called", self.to),
            **geo_params("Caller", self.from_),
        }

    def run(
        self,
        digits: Sequence[str] = (),
        speech: Sequence[str] = (),
        *,
        dial_status: str = "no-answer",
        dial_duration: int = 42,
        recording_url: str | None = None,
        recording_duration: int = 7,
        speech_confidence: str = "0.92",
        callees: Mapping[str, Callee] | None = None,
        transcription_text: str | None = None,
        callback_repeats: int = 1,
        whisper_rejected_status: str = "completed",
        document: str | None = None,
    ) -> Transcript:
        """Play the call until ``<Hangup/>``, ``<Reject/>``, the end of a document or an error
        (from `document`, the TwiML a call was placed with, when given; else from the first
        webhook).

        Each ``<Gather>`` takes the next entry of `digits` (when it accepts DTMF) or else of
        `speech` (when it accepts speech); an empty entry, or none left, lets the Gather time out.
        ``<Dial>`` ends with `dial_status`, unless `callees` says how each dialled number
        behaves: then the numbers of a ``<Dial>`` ring together, each one that answers runs its
        ``<Number url>`` whisper (pressing its `digits` at a ``<Gather>``), and the first whose
        whisper ends without ``<Hangup>`` takes the call (``DialCallStatus=completed`` with its
        leg's ``DialCallSid``); when every answering leg hung up in its whisper, the Dial ends
        with `whisper_rejected_status` (the legs were answered, then completed), and when none
        answered, with ``no-answer`` (``busy`` when all were busy). ``<Record>`` produces
        `recording_url`; with ``transcribe="true"`` a transcription callback with
        `transcription_text` follows the recording status callback. Every callback is sent
        `callback_repeats` times, as Twilio's retries would.
        """
        if dial_status not in DIAL_STATUSES:
            raise ValueError(f"dial_status must be one of {', '.join(DIAL_STATUSES)}")
        options = _Options(
            dial_status,
            dial_duration,
            recording_url,
            recording_duration,
            callees,
            transcription_text,
            max(1, callback_repeats),
            whisper_rejected_status,
        )
        transcript = Transcript(call_sid=self.call_sid)
        self._current = transcript
        inputs = _Inputs(deque(digits), deque(speech), speech_confidence)
        started = time.monotonic()
        self._say(transcript, f"Call {self.call_sid} from {self.from_} to {self.to}")
        url: str | None = self._transport.twilio_url(self.path)
        method, extra = self.method, dict[str, str]()
        callbacks: list[tuple[str, str, dict[str, str]]] = []
        requests_made = 0
        if document is not None:
            transcript.answered = True
            try:
                verbs = parse_twiml(document)
            except TwimlError as exc:
                self._fail(transcript, f"the call's TwiML: {exc}")
                verbs, url = [], None
            if url is not None:
                transcript.steps.append(
                    Step("document", "", url, "", {}, 200, document, "text/xml", verbs)
                )
                nxt = self._execute(verbs, url, transcript, inputs, options)
                url, method, extra, callbacks = nxt.url, nxt.method, nxt.extra, nxt.after
                transcript.ended_by = nxt.end or transcript.ended_by
        while url is not None:
            if requests_made >= self.max_steps:
                self._fail(transcript, f"stopped after {self.max_steps} requests: the TwiML loops")
                transcript.ended_by = "max-steps"
                break
            requests_made += 1
            params = self.base_params("in-progress" if transcript.answered else "ringing") | extra
            step = self._transport.send("webhook", url, method, params)
            transcript.steps.append(step)
            shown = "".join(f" {k}={v}" for k, v in extra.items() if k in _SHOWN_PARAMS)
            self._say(transcript, f"> {method} {path_of(step.sent_to)}{shown}  -> {step.status}")
            for kind, cb_url, cb_params in callbacks:
                for _ in range(options.callback_repeats):
                    self._callback(transcript, kind, cb_url, cb_params)
            callbacks = []
            if step.error:
                self._fail(transcript, step.error)
                transcript.ended_by = "error"
                break
            problem = content_type_problem(step.content_type)
            if problem and not problem.startswith("no "):
                self._fail(transcript, f"{path_of(step.sent_to)}: {problem}")
                transcript.ended_by = "error"
                break
            if problem:
                self._warn(transcript, f"{path_of(step.sent_to)}: {problem}")
            try:
                step.verbs = parse_twiml(step.body)
            except TwimlError as exc:
                step.error = f"{path_of(step.sent_to)}: {exc}"
                self._fail(transcript, step.error)
                transcript.ended_by = "error"
                break
            nxt = self._execute(step.verbs, url, transcript, inputs, options)
            url, method, extra, callbacks = nxt.url, nxt.method, nxt.extra, nxt.after
            transcript.ended_by = nxt.end or transcript.ended_by
        for kind, cb_url, cb_params in callbacks:  # a callback due after the last request
            for _ in range(options.callback_repeats):
                self._callback(transcript, kind, cb_url, cb_params)
        self._say(transcript, f"Call ended: {transcript.ended_by} ({requests_made} requests)")
        if self.status_callback:
            self._final_status(transcript, time.monotonic() - started)
        return transcript

    @property
    def current(self) -> Transcript:
        """The transcript of the run in progress (or the last one): read it while a call
        plays in another thread."""
        return self._current

    # -- what the queue player uses (`devkit.simulator_queue.Session`) --------------------------

    def send(self, kind: str, url: str, method: str, params: dict[str, str]) -> Step:
        """One signed request of this call, kept in the transcript."""
        step = self._transport.send(kind, url, method, params)
        self._current.steps.append(step)
        return step

    def say(self, line: str) -> None:
        """A printable line of the transcript."""
        self._say(self._current, line)

    def fail(self, message: str) -> None:
        """An error of the call."""
        self._fail(self._current, message)

    def warn(self, message: str) -> None:
        """A warning about the app's TwiML."""
        self._warn(self._current, message)

    def _queues(self) -> QueuePlayer:
        if self.standin_url is None:
            raise SimulatorError(
                "call queues live in the Twilio stand-in: give the session its standin_url"
            )
        return QueuePlayer(
            self, QueueRoom(self.standin_url), pace=self.queue_pace, idle=self.queue_idle
        )

    # -- verbs --------------------------------------------------------------------------------

    def _execute(
        self,
        verbs: list[Verb],
        url: str,
        transcript: Transcript,
        inputs: _Inputs,
        options: _Options,
    ) -> _Next:
        for index, verb in enumerate(verbs):
            for line in describe_verb(verb):
                self._say(transcript, "  " + line)
            if verb.name == "Reject":
                return _Next(end="reject")
            transcript.answered = True  # any other first verb answers the call
            if verb.name == "Hangup":
                return _Next(end="hangup")
            if verb.name == "Redirect":
                if not verb.text:
                    self._fail(transcript, "<Redirect> without a URL")
                    return _Next(end="error")
                redirect_method = verb.attr("method", "POST").upper()
                return _Next(url=urljoin(url, verb.text), method=redirect_method)
            if verb.name == "Gather":
                result = inputs.take(verb)
                target = urljoin(url, verb.attr("action")) if verb.attr("action") else url
                gather_method = verb.attr("method", "POST").upper()
                if result:
                    self._say(
                        transcript,
                        "  caller "
                        + (
                            f"presses {result['Digits']}"
                            if "Digits" in result
                            else f'says "{result["SpeechResult"]}"'
                        ),
                    )
                    return _Next(url=target, method=gather_method, extra=result)
                self._say(transcript, "  (no input: the Gather times out)")
                if verb.attr("actionOnEmptyResult").lower() == "true":
                    return _Next(url=target, method=gather_method)
                continue
            if verb.name == "Dial":
                extra = self._dial(verb, url, transcript, options)
                if verb.attr("action"):
                    return _Next(
                        url=urljoin(url, verb.attr("action")),
                        method=verb.attr("method", "POST").upper(),
                        extra=extra,
                    )
                continue
            if verb.name == "Record":
                return self._record(verb, url, transcript, options)
            if verb.name == "Enqueue":
                if self.standin_url is None:
                    self._warn(transcript, "<Enqueue> needs the Twilio stand-in (standin_url)")
                    continue
                left = self._queues().enqueue(verb, url, inputs.take)
                return _Next(url=left.url, extra=dict(left.extra), end=left.end)
            if verb.name == "Leave":
                self._warn(transcript, "<Leave> outside a queue's wait URL: Twilio ignores it")
                continue
            if verb.name == "Message":
                self._warn(transcript, "<Message> is not a voice verb: Twilio ignores it on a call")
            elif verb.name in NOT_SIMULATED:
                self._warn(transcript, f"<{verb.name}> is not simulated")
            elif verb.name not in {"Say", "Play", "Pause"}:
                self._warn(transcript, f"unknown verb <{verb.name}> (verb {index + 1})")
        return _Next(end="end")

    def _dial(
        self, verb: Verb, url: str, transcript: Transcript, options: _Options
    ) -> dict[str, str]:
        """What the Dial's action receives: its queue's front call (`devkit.simulator_queue`),
        or its numbers rung (`devkit.simulator_dial`)."""
        queues = [child for child in verb.children if child.name == "Queue"]
        if queues and self.standin_url is None:
            self._warn(transcript, "<Dial><Queue> needs the Twilio stand-in (standin_url)")
            return {"DialCallStatus": "failed"}
        if queues:
            return self._queues().dial_queue(verb, queues[0], url, options.dial_duration)
        return dial(
            self,
            verb,
            url,
            DialOptions(
                options.dial_status,
                options.dial_duration,
                options.callees,
                options.whisper_rejected_status,
            ),
        )

    def _record(self, verb: Verb, url: str, transcript: Transcript, options: _Options) -> _Next:
        target, extra, after = record(
            self,
            verb,
            url,
            RecordOptions(
                options.recording_url, options.recording_duration, options.transcription_text
            ),
        )
        return _Next(
            url=target, method=verb.attr("method", "POST").upper(), extra=extra, after=after
        )

    # -- callbacks and output -----------------------------------------------------------------

    def _callback(
        self, transcript: Transcript, kind: str, url: str, params: dict[str, str]
    ) -> None:
        params = dict(params)
        method = params.pop("_method", "POST")
        step = self._transport.send(kind, url, method, params)
        transcript.steps.append(step)
        where = path_of(step.sent_to)
        label = kind.replace("-", " ")
        self._say(transcript, f"> {method} {where} ({label})  -> {step.status}")
        if step.error:
            self._fail(transcript, step.error)

    def _final_status(self, transcript: Transcript, elapsed: float) -> None:
        assert self.status_callback is not None
        if transcript.answered:
            status = "completed"
        elif transcript.ended_by == "reject":
            rejects = [v for v in transcript.verbs if v.name == "Reject"]
            status = "busy" if rejects and rejects[-1].attr("reason") == "busy" else "no-answer"
        else:
            status = "failed"
        params = self.base_params(status) | {
            "CallDuration": str(max(1, math.ceil(elapsed)) if transcript.answered else 0),
            "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
        }
        url = self._transport.twilio_url(self.status_callback)
        self._callback(transcript, "call-status-callback", url, params)

    def _say(self, transcript: Transcript, line: str) -> None:
        transcript.lines.append(line)
        if self.echo:
            self.echo(line)

    def _fail(self, transcript: Transcript, message: str) -> None:
        transcript.errors.append(message)
        self._say(transcript, f"ERROR: {message}")

    def _warn(self, transcript: Transcript, message: str) -> None:
        transcript.warnings.append(message)
        self._say(transcript, f"  warning: {message}")


@dataclass
class _Inputs:
    """What the caller will press or say, consumed one entry per ``<Gather>``."""

    digits: deque[str]
    speech: deque[str]
    confidence: str

    def take(self, gather: Verb) -> dict[str, str]:
        """The Gather's result parameters; {} when it times out."""
        accepts = gather.attr("input", "dtmf").lower().split()
        if "dtmf" in accepts and self.digits:
            value = self.digits.popleft()
            finish = gather.attr("finishOnKey", "#")
            if finish and finish in value:
                value = value[: value.index(finish)]
            num = gather.attr("numDigits")
            if num.isdigit() and int(num) > 0:
                value = value[: int(num)]
            return {"Digits": value} if value else {}
        if "speech" in accepts and self.speech:
            value = self.speech.popleft()
            return {"SpeechResult": value, "Confidence": self.confidence} if value else {}
        return {}


def parse_callees(entries: Sequence[str]) -> dict[str, Callee]:
    """`+E164=DIGITS` or `+E164=no-answer|busy|failed` entries into callees; ValueError."""
    callees: dict[str, Callee] = {}
    for entry in entries:
        number, sep, behaviour = entry.partition("=")
        if not sep or not number.startswith("+"):
            raise ValueError(f"{entry!r}: expected +E164=DIGITS or +E164=no-answer|busy|failed")
        if behaviour in ("no-answer", "busy", "failed"):
            callees[number] = Callee(outcome=behaviour, digits="")
        elif behaviour == "" or behaviour.replace("*", "").replace("#", "").isdigit():
            callees[number] = Callee(outcome="answer", digits=behaviour)
        else:
            raise ValueError(f"{entry!r}: the behaviour must be digits, no-answer, busy or failed")
    return callees
