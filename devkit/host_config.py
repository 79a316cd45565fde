"""host.json and app settings as the Functions host reads them, for `python -m devkit host`.

Every error names the file (or the setting) and the key, never a setting's value.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.localsettings import LocalSettingsError, read_json_file

HOST_JSON = "host.json"
# Storage queue extension defaults (Microsoft.Azure.WebJobs.Extensions.Storage.Queues).
DEFAULT_BATCH_SIZE = 16
MAX_BATCH_SIZE = 32
DEFAULT_MAX_DEQUEUE_COUNT = 5
DEFAULT_MAX_POLLING_INTERVAL = 60.0
MIN_POLLING_INTERVAL = 0.1
# The Consumption plan's default function timeout (host.json `functionTimeout`).
DEFAULT_FUNCTION_TIMEOUT = 300.0

_TIMESPAN = re.compile(
    r"(?:(?P<days>[0-9]+)\.)?(?P<hours>[0-9]{1,2}):(?P<minutes>[0-9]{1,2})"
    r"(?::(?P<seconds>[0-9]{1,2})(?:\.(?P<fraction>[0-9]{1,7}))?)?"
)
_LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


class HostConfigError(LocalSettingsError):
    """host.json or an app setting is malformed; the message names the file or setting and key."""


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues`, with the Storage extension's defaults."""

    batch_size: int = DEFAULT_BATCH_SIZE
    new_batch_threshold: int = (DEFAULT_BATCH_SIZE // 2) * (os.cpu_count() or 1)
    max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT
    visibility_timeout: float = 0.0
    max_polling_interval: float = DEFAULT_MAX_POLLING_INTERVAL
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostConfig:
    """What the local host uses from host.json."""

    route_prefix: str = "api"
    queues: QueueOptions = QueueOptions()
    function_timeout: float | None = DEFAULT_FUNCTION_TIMEOUT
    log_level: int = logging.INFO


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string (`00:00:10`, `1.02:00:00`, `00:00:00.250`, `2` days)."""
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return int(value) * 86400.0
    found = _TIMESPAN.fullmatch(value)
    if found is None:
        raise ValueError(f"not a TimeSpan such as '00:00:10': {text!r}")
    groups = found.groupdict()
    days, hours, minutes, seconds = (
        int(groups[name] or 0) for name in ("days", "hours", "minutes", "seconds")
    )
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"not a TimeSpan such as '00:00:10': {text!r}")
    fraction = float(f"0.{groups['fraction']}") if groups["fraction"] else 0.0
    return days * 86400 + hours * 3600 + minutes * 60 + seconds + fraction


def _section(data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise HostConfigError(f"{HOST_JSON}: '{path}' must be an object")
    return value


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _integer(section: Mapping[str, Any], key: str, path: str, low: int, high: int) -> int | None:
    if key not in section:
        return None
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HostConfigError(
            f"{HOST_JSON}: '{_key(path, key)}' must be an integer from {low} to {high} (got {value!r})"
        )
    return value


def _timespan(section: Mapping[str, Any], key: str, path: str) -> float | None:
    if key not in section:
        return None
    value = section[key]
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_timespan(value)
    except ValueError:
        raise HostConfigError(
            f"{HOST_JSON}: '{_key(path, key)}' must be a TimeSpan string such as '00:00:10' "
            f"(got {value!r})"
        ) from None


def _queue_options(extensions: Mapping[str, Any]) -> QueueOptions:
    path = "extensions.queues"
    queues = _section(extensions, "queues", path)
    batch_size = _integer(queues, "batchSize", path, 1, MAX_BATCH_SIZE) or DEFAULT_BATCH_SIZE
    threshold = _integer(queues, "newBatchThreshold", path, 0, 10_000)
    if threshold is None:
        threshold = (batch_size // 2) * (os.cpu_count() or 1)
    max_dequeue = _integer(queues, "maxDequeueCount", path, 1, 10_000)
    visibility = _timespan(queues, "visibilityTimeout", path)
    polling = _timespan(queues, "maxPollingInterval", path)
    if polling is not None and polling < MIN_POLLING_INTERVAL:
        raise HostConfigError(
            f"{HOST_JSON}: '{path}.maxPollingInterval' must be at least 00:00:00.100"
        )
    encoding = queues.get("messageEncoding", "base64")
    if not isinstance(encoding, str) or encoding.lower() not in {"base64", "none"}:
        raise HostConfigError(
            f"{HOST_JSON}: '{path}.messageEncoding' must be 'base64' or 'none' (got {encoding!r})"
        )
    return QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=threshold,
        max_dequeue_count=max_dequeue or DEFAULT_MAX_DEQUEUE_COUNT,
        visibility_timeout=visibility or 0.0,
        max_polling_interval=polling or DEFAULT_MAX_POLLING_INTERVAL,
        message_encoding=encoding.lower(),
    )


def _route_prefix(extensions: Mapping[str, Any]) -> str:
    http = _section(extensions, "http", "extensions.http")
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise HostConfigError(f"{HOST_JSON}: 'extensions.http.routePrefix' must be a string")
    return prefix.strip("/")


def _function_timeout(data: Mapping[str, Any]) -> float | None:
    value = data.get("functionTimeout")
    if value is None:
        return DEFAULT_FUNCTION_TIMEOUT
    if value == "-1":
        return None  # unlimited, as on dedicated plans
    timeout = _timespan(data, "functionTimeout", "")
    return timeout if timeout else None


def _log_level(data: Mapping[str, Any]) -> int:
    logging_section = _section(data, "logging", "logging")
    levels = _section(logging_section, "logLevel", "logging.logLevel")
    value = levels.get("default", "Information")
    if not isinstance(value, str) or value.lower() not in _LOG_LEVELS:
        raise HostConfigError(
            f"{HOST_JSON}: 'logging.logLevel.default' must be one of "
            "Trace, Debug, Information, Warning, Error, Critical, None"
        )
    return _LOG_LEVELS[value.lower()]


def load_host_config(app_dir: Path) -> HostConfig:
    """Read and check `app_dir/host.json` (required, like the Functions host)."""
    path = app_dir / HOST_JSON
    if not path.is_file():
        raise HostConfigError(
            f"{HOST_JSON} not found in {app_dir}: pass --app-dir with the function app's folder"
        )
    data = read_json_file(path)
    version = data.get("version")
    if version != "2.0":
        raise HostConfigError(f"{HOST_JSON}: 'version' must be \"2.0\" (got {version!r})")
    extensions = _section(data, "extensions", "extensions")
    return HostConfig(
        route_prefix=_route_prefix(extensions),
        queues=_queue_options(extensions),
        function_timeout=_function_timeout(data),
        log_level=_log_level(data),
    )


def thread_pool_size(environ: Mapping[str, str]) -> int | None:
    """`PYTHON_THREADPOOL_THREAD_COUNT`, as the Python worker reads it (None: executor default)."""
    raw = environ.get("PYTHON_THREADPOOL_THREAD_COUNT")
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 32:
        raise HostConfigError("setting 'PYTHON_THREADPOOL_THREAD_COUNT' must be from 1 to 32")
    return int(raw)
