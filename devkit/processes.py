"""Stopping the devkit's child processes (Azurite, Prism, the stand-in, the host) cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any


def stop_process_group(process: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """SIGTERM the process's group (it was started with `start_new_session=True`), wait up to
    `timeout`, then SIGKILL; a process already gone is fine."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass
