"""A call the app placed, answered: what the phone it rang does, played against the app.

The app places calls through Twilio's REST API (the stand-in here). A number whose calls are
answered by hand (`TwilioStandin.set_call_outcome(number, answer="manual")`, or
``"answer": "manual"`` in ``POST /_standin/outcomes``) rings until someone answers:

    call = standin.wait_for_call(to="+15550000001")          # ringing
    transcript = AnsweredCall(standin.base_url, app_url, call_sid=call["sid"], ...).run(["1"])

`run` answers the call in the stand-in (its status callbacks go out as Twilio's would), plays
the TwiML the call was placed with (`Twiml`, or the `Url` fetched) as a `CallSession` with
``Direction=outbound-api``, its `From` the number that called and its `To` the phone (so a
whisper's `<Gather>` takes `digits`, a `<Dial><Queue>` takes a caller off a queue, an
`<Enqueue>` waits in one), then hangs up (the call completes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from devkit.simulator_call import CallSession, SimulatorError, Transcript
from devkit.simulator_http import DEFAULT_MAX_STEPS, DEFAULT_TIMEOUT, Echo


class AnsweredCall:
    """One ringing call of the stand-in, answered and played (see the module doc)."""

    def __init__(
        self,
        standin_url: str,
        app_url: str | Sequence[str],
        *,
        account_sid: str,
        auth_token: str,
        call_sid: str,
        public_base_url: str | None = None,
        echo: Echo | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_steps: int = DEFAULT_MAX_STEPS,
        queue_idle: float = 30.0,
    ) -> None:
        self.standin_url = standin_url.rstrip("/")
        self.app_url = app_url
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.call_sid = call_sid
        self.public_base_url = public_base_url
        self.echo = echo
        self.timeout = timeout
        self.max_steps = max_steps
        self.queue_idle = queue_idle

    def _control(self, what: str) -> dict[str, Any]:
        http = requests.Session()
        http.trust_env = False
        answer = http.post(
            f"{self.standin_url}/_standin/calls/{self.call_sid}/{what}", timeout=self.timeout
        )
        if answer.status_code != 200:
            raise SimulatorError(f"the stand-in would not {what} {self.call_sid}: {answer.text}")
        found: dict[str, Any] = answer.json()
        return found

    def run(
        self, digits: Sequence[str] = (), speech: Sequence[str] = (), **options: Any
    ) -> Transcript:
        """Answer, play the call's TwiML (`CallSession.run` options apply), hang up."""
        call = self._control("answer")
        session = CallSession(
            self.app_url,
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            public_base_url=self.public_base_url,
            from_=str(call["from"]),
            to=str(call["to"]),
            path=str(call.get("url") or "/"),
            call_sid=self.call_sid,
            max_steps=self.max_steps,
            timeout=self.timeout,
            echo=self.echo,
            standin_url=self.standin_url,
            method=str(call.get("method") or "POST"),
            direction="outbound-api",
            queue_idle=self.queue_idle,
        )
        try:
            twiml = call.get("twiml")
            return session.run(digits, speech, document=twiml if twiml else None, **options)
        finally:
            self._control("hangup")
