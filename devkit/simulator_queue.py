"""How a simulated call moves through Twilio's call queues: `<Enqueue>`, its wait URL and
action, `<Leave>`, and `<Dial><Queue>` (with the `<Queue url>` on the leg taken off the queue).

The queues themselves live in the Twilio stand-in (`devkit.twilio_standin_queues`), so several
calls, each played by its own `CallSession` (in threads, or in processes), wait in one queue
and take each other off it, as on Twilio. `QueueRoom` is the stand-in's side
(`POST /_standin/queues`); `QueuePlayer` plays one call's part:

- `<Enqueue name waitUrl action>`: the call joins the queue (or finds it full: the action gets
  `QueueResult=queue-full`). While it waits, the wait URL is requested with Twilio's
  parameters (`QueuePosition`, `QueueSid`, `QueueTime`, `AvgQueueTime`, `CurrentQueueSize`,
  `MaxQueueSize`) each time they change (the call's view in the stand-in has a new version:
  another call left or was taken, the queues' clock moved), or every `pace` seconds when one
  is given (a real caller: Twilio asks again when the wait document ends). The wait document's
  `<Say>`, `<Play>`, `<Pause>` are heard, its `<Gather>` takes the caller's next input (and
  its action is requested, still in the queue), `<Redirect>` is followed, `<Leave>` takes the
  call out (`QueueResult=leave`), `<Hangup>` hangs it up (`hangup`). Taken off by another call
  (`bridged`), the call talks until that call ends the bridge; then the action gets
  `QueueResult=bridged`.
- `<Dial><Queue url>name</Queue></Dial>`: the front call of the queue is taken (an empty queue
  is waited on, up to the Dial's timeout, at most `DIAL_QUEUE_WAIT` seconds here); the `<Queue
  url>` is requested for the taken call (its CallSid, `QueueSid`, `QueueTime`,
  `DequeingCallSid`) and heard on its leg; then the two talk and the dialling call hangs up,
  ending the bridge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol
from urllib.parse import urljoin

import requests

from devkit.simulator_http import Step, path_of
from devkit.simulator_twiml import TwimlError, Verb, describe_verb, parse_twiml

#: The most a `<Dial><Queue>` waits here for a call to join an empty queue (real seconds).
DIAL_QUEUE_WAIT = 5.0
#: Wait URL requests of one stay in a queue, at most (a loop guard).
MAX_WAITS = 200
WAIT_PARAMS = ("QueuePosition", "QueueTime", "CurrentQueueSize")


class QueueRoom:
    """The stand-in's queues, over HTTP (`POST /_standin/queues`)."""

    def __init__(self, standin_url: str, timeout: float = 15.0) -> None:
        self.url = standin_url.rstrip("/") + "/_standin/queues"
        self.timeout = timeout
        self.http = requests.Session()
        self.http.trust_env = False  # loopback: never through a proxy of the shell

    def _post(self, wait: float = 0.0, **data: Any) -> dict[str, Any]:
        answer = self.http.post(self.url, json=data, timeout=self.timeout + wait)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def enqueue(self, name: str, call_sid: str, caller: Mapping[str, str]) -> dict[str, Any]:
        """Join queue `name` (made on demand): the call's view, or `result: queue-full`."""
        return self._post(action="enqueue", name=name, callSid=call_sid, caller=dict(caller))

    def view(self, call_sid: str, after: int = -1, timeout: float = 0.0) -> dict[str, Any]:
        """The call's view once its version is past `after` (or after `timeout` seconds)."""
        return self._post(timeout, action="view", callSid=call_sid, after=after, timeout=timeout)

    def leave(self, call_sid: str, result: str = "leave") -> dict[str, Any]:
        """Out of the queue now (`<Leave>`, or `hangup`)."""
        return self._post(action="leave", callSid=call_sid, result=result)

    def dequeue(self, name: str, call_sid: str, timeout: float) -> dict[str, Any]:
        """Take the front call of `name` (waiting up to `timeout`): its view, `empty`, or
        `error` (no such queue)."""
        return self._post(timeout, action="dequeue", name=name, callSid=call_sid, timeout=timeout)

    def end_bridge(self, call_sid: str) -> dict[str, Any]:
        """The call taken off a queue is no longer bridged (one side hung up)."""
        return self._post(action="end-bridge", callSid=call_sid)


class QueueExit(NamedTuple):
    """Where a call goes when it is out of a queue: a request (`url` with `extra`), or the end."""

    url: str | None = None
    extra: Mapping[str, str] = MappingProxyType({})
    end: str = ""


class Session(Protocol):
    """What the player needs of the call it plays (`CallSession`)."""

    call_sid: str
    from_: str
    to: str
    max_steps: int

    def base_params(self, call_status: str) -> dict[str, str]: ...
    def send(self, kind: str, url: str, method: str, params: dict[str, str]) -> Step: ...
    def say(self, line: str) -> None: ...
    def fail(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


Take = Callable[[Verb], dict[str, str]]


class QueuePlayer:
    """One call's part in the stand-in's queues (see the module doc)."""

    def __init__(
        self, session: Session, room: QueueRoom, *, pace: float | None, idle: float
    ) -> None:
        self.session = session
        self.room = room
        self.pace = pace
        self.idle = idle

    # -- a call that waits -------------------------------------------------------------------

    def enqueue(self, verb: Verb, url: str, take: Take) -> QueueExit:
        """Play `<Enqueue>` to its end (see the module doc)."""
        s = self.session
        name, action = verb.text, verb.attr("action")
        wait_url = urljoin(url, verb.attr("waitUrl")) if verb.attr("waitUrl") else None
        caller = s.base_params("in-progress")
        view = self.room.enqueue(name, s.call_sid, caller)
        if view.get("result") != "queued":
            result = "queue-full" if view.get("result") == "queue-full" else "error"
            s.say(f"  (queue {name}: {result})")
            return self._leave(url, action, {"QueueResult": result}, view)
        s.say(f"  (joins queue {name}: number {view.get('position')} of {view.get('size')})")
        version, waits = -1, 0
        while True:
            current = self.room.view(s.call_sid, version, self.pace or self.idle)
            state = current.get("state")
            if current.get("version") == version and state == "waiting" and self.pace is None:
                s.fail(f"nothing happened in the queue for {self.idle:g} s")
                self.room.leave(s.call_sid, "hangup")
                return QueueExit(end="error")
            version = int(current.get("version", version))
            if state == "waiting":
                if wait_url is None:
                    continue  # Twilio's own hold music: nothing to ask
                waits += 1
                if waits > MAX_WAITS:
                    s.fail(f"stopped after {MAX_WAITS} wait URL requests")
                    self.room.leave(s.call_sid, "hangup")
                    return QueueExit(end="max-steps")
                outcome = self._wait_document(wait_url, current, take)
                if outcome in ("leave", "hangup"):
                    left = self.room.leave(s.call_sid, outcome)
                    if left.get("state") != "left":
                        continue  # taken off the queue meanwhile: bridged
                    s.say(f"  (leaves queue {name} after {left.get('queueTime')} s: {outcome})")
                    return self._leave(url, action, {"QueueResult": outcome}, left)
                if outcome == "error":
                    self.room.leave(s.call_sid, "hangup")
                    return QueueExit(end="error")
            elif state == "bridged":
                s.say(f"  (taken off queue {name} by {current.get('dequeuedBy')}: bridged)")
            elif state == "ended":
                s.say(f"  (the bridged call ended after {current.get('queueTime')} s in queue)")
                return self._leave(url, action, {"QueueResult": "bridged"}, current)
            else:
                s.fail(f"the call is not in queue {name} any more ({state})")
                return QueueExit(end="error")

    def _leave(
        self, url: str, action: str, extra: dict[str, str], view: Mapping[str, Any]
    ) -> QueueExit:
        if view.get("queueSid"):
            extra["QueueSid"] = str(view["queueSid"])
        if "queueTime" in view:
            extra["QueueTime"] = str(view["queueTime"])
        if not action:
            # Without an action Twilio goes on with the next verb; a hung-up call just ends.
            return QueueExit(end="hangup") if extra["QueueResult"] == "hangup" else QueueExit()
        if extra["QueueResult"] == "hangup":
            # Twilio still tells the action, and ignores its TwiML: the caller is gone.
            self._request("queue-action", urljoin(url, action), extra, ignore=True)
            return QueueExit(end="hangup")
        return QueueExit(url=urljoin(url, action), extra=MappingProxyType(extra))

    def _wait_params(self, view: Mapping[str, Any]) -> dict[str, str]:
        return {
            "QueuePosition": str(view.get("position", 0)),
            "QueueSid": str(view.get("queueSid", "")),
            "QueueTime": str(view.get("queueTime", 0)),
            "AvgQueueTime": str(view.get("averageQueueTime", 0)),
            "CurrentQueueSize": str(view.get("size", 0)),
            "MaxQueueSize": str(view.get("maxSize", 0)),
        }

    def _request(
        self, kind: str, url: str, extra: Mapping[str, str], *, ignore: bool = False
    ) -> Step | None:
        s = self.session
        step = s.send(kind, url, "POST", s.base_params("in-progress") | dict(extra))
        shown = "".join(f" {k}={v}" for k, v in extra.items() if k in WAIT_PARAMS or k == "Digits")
        label = "" if kind == "webhook" else f" ({kind.replace('-', ' ')})"
        s.say(f"> POST {path_of(step.sent_to)}{shown}{label}  -> {step.status}")
        if step.error:
            s.fail(step.error)
            return None
        if ignore:
            return step
        try:
            step.verbs = parse_twiml(step.body)
        except TwimlError as exc:
            s.fail(f"{path_of(step.sent_to)}: {exc}")
            return None
        return step

    def _wait_document(self, wait_url: str, view: Mapping[str, Any], take: Take) -> str | None:
        """One wait document (and what it leads to while in the queue): None when it ended
        with the call still waiting; `leave`, `hangup` or `error`."""
        target, extra = wait_url, self._wait_params(view)
        for _ in range(self.session.max_steps):
            step = self._request("queue-wait", target, extra)
            if step is None:
                return "error"
            target, extra = "", {}
            for verb in step.verbs:
                for line in describe_verb(verb):
                    self.session.say("    " + line)
                if verb.name == "Leave":
                    return "leave"
                if verb.name == "Hangup":
                    return "hangup"
                if verb.name == "Redirect" and verb.text:
                    target = urljoin(step.url, verb.text)
                    break
                if verb.name == "Gather":
                    pressed = take(verb)
                    if pressed:
                        self.session.say(f"    caller presses {pressed.get('Digits', '')}")
                        target = urljoin(step.url, verb.attr("action") or step.url)
                        extra = pressed
                        break
                elif verb.name not in {"Say", "Play", "Pause"}:
                    self.session.warn(f"<{verb.name}> is not allowed in a wait document")
            if not target:
                return None
        self.session.fail("the wait document loops")
        return "error"

    # -- a call that takes another off a queue -------------------------------------------------

    def dial_queue(self, dial: Verb, noun: Verb, url: str, duration: int) -> dict[str, str]:
        """`<Dial><Queue>`: what the Dial's action receives."""
        s = self.session
        wait = min(float(dial.attr("timeout", "30") or 30), DIAL_QUEUE_WAIT)
        taken = self.room.dequeue(noun.text, s.call_sid, wait)
        if taken.get("error"):
            s.say(f"  (queue {noun.text} does not exist: the Dial fails)")
            return {"DialCallStatus": "failed"}
        if taken.get("empty"):
            s.say(f"  (queue {noun.text} is empty: the Dial times out)")
            return {"DialCallStatus": "no-answer"}
        member = str(taken["callSid"])
        s.say(f"  (takes {member} off queue {noun.text} after {taken.get('queueTime')} s)")
        if noun.attr("url"):
            self._connect(urljoin(url, noun.attr("url")), taken)
        s.say(f"  (talks {duration} s, then hangs up)")
        self.room.end_bridge(member)
        return {
            "DialCallStatus": "completed",
            "DialCallSid": member,
            "DialCallDuration": str(duration),
            "DialBridged": "true",
            "QueueSid": str(taken.get("queueSid", "")),
        }

    def _connect(self, url: str, taken: Mapping[str, Any]) -> None:
        """The `<Queue url>`, requested for the taken call and heard on its leg."""
        s = self.session
        params = {
            **{str(k): str(v) for k, v in dict(taken.get("caller") or {}).items()},
            "CallSid": str(taken["callSid"]),
            "CallStatus": "in-progress",
            "QueueSid": str(taken.get("queueSid", "")),
            "QueueTime": str(taken.get("queueTime", 0)),
            "DequeingCallSid": s.call_sid,
        }
        target: str | None = url
        for _ in range(s.max_steps):
            assert target is not None
            step = s.send("queue-connect", target, "POST", params)
            s.say(f"  > queue url POST {path_of(step.sent_to)}  -> {step.status}")
            if step.error:
                s.fail(step.error)
                return
            try:
                step.verbs = parse_twiml(step.body)
            except TwimlError as exc:
                s.fail(f"queue url {path_of(step.sent_to)}: {exc}")
                return
            target = None
            for verb in step.verbs:
                for line in describe_verb(verb):
                    s.say("    " + line)
                if verb.name == "Redirect" and verb.text:
                    target = urljoin(step.url, verb.text)
                    break
                if verb.name not in {"Say", "Play", "Pause"}:
                    s.warn(f"<{verb.name}> is not allowed in a <Queue url> document")
            if target is None:
                return
        s.fail("the <Queue url> document loops")
