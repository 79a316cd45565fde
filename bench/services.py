"""What several benchmarks set up the same way: the Twilio stand-in in a process of its own,
and an incoming text signed as Twilio signs it.

Twilio is remote: a stand-in sharing the benchmark's process would share its GIL and its CPU
time, and every CPU figure would count the stand-in's work as the app's. So it runs apart, and
its latency can be changed between phases of a benchmark (`set_latency`) without a restart.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import azure.functions as func

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def standin_process(latency_ms: float = 0.0) -> Iterator[str]:
    """`python -m devkit twilio` on a free port answering every request after `latency_ms`,
    callbacks at once; yields its base URL and stops it afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devkit",
            "twilio",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--callback-delay-ms",
            "0",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"ready at (http://\S+)", line)
        if not found:
            raise RuntimeError(f"the Twilio stand-in did not start: {line!r}")
        # Drain its output so it never blocks on a full pipe.
        output = process.stdout
        threading.Thread(target=lambda: [None for _ in output], daemon=True).start()
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(10)


def _control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (the loopback stand-in this process started)
        f"{url}/_standin/{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (as above)
        return json.loads(answer.read())


def set_latency(url: str, latency_ms: float) -> None:
    """Make the stand-in at `url` answer every REST request after `latency_ms`."""
    _control(url, "faults", {"latency_ms": latency_ms})


def created_messages(url: str) -> list[str]:
    """The `To` of every message the stand-in at `url` created (201)."""
    entries = _control(url, "requests?method=POST&resource=Messages")
    return [e["form"]["To"][0] for e in entries if e["status"] == 201 and e["form"].get("To")]


def signed_text(url: str, token: str, sender: str, line: str, body: str) -> func.HttpRequest:
    """An incoming text to `line` as the host hands it to the SMS webhook (a fresh
    MessageSid), signed with `token` for `url`."""
    import uuid
    from urllib.parse import urlencode

    import azure.functions as func
    from twilio.request_validator import RequestValidator

    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": sender,
        "To": line,
        "Body": body,
        "NumMedia": "0",
    }
    signature = str(RequestValidator(token).compute_signature(url, params))
    return func.HttpRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        body=urlencode(params).encode(),
    )
