"""Stoplight Prism serving Twilio's own OpenAPI description, for contract checks.

``Prism()`` starts ``prism mock`` on a free loopback port over Twilio's OpenAPI description of
the 2010-04-01 API, as the npm package ``@twilio-alpha/mcp`` (pinned in ``package.json`` and
``package-lock.json``) installs it into ``node_modules/`` (the environment variable
``TWILIO_OAI_SPEC`` overrides the path), waits until it answers (bounded), and stops it (process
group: SIGTERM, then SIGKILL). The project reads nothing outside its own tree. A missing spec file
is installed with the other npm packages, else an error naming the path: contract tests fail on
it, they never skip.

    with Prism() as prism:
        prism.base_url  # TWILIO_API_BASE_URL for the twilio client

Prism 5.14 has two gaps that :class:`CheckingProxy` (a small proxy in front of it) closes:
it cannot parse array properties of form bodies (``MediaUrl``, ``StatusCallbackEvent`` sent as
repeated fields, as Twilio and its library do: every form answers 422 "must be array",
stoplightio/prism#2654), and it silently accepts unknown parameters. The proxy checks every
request against the operation in the same OpenAPI file (known parameter names, required ones,
types, enums, patterns, formats, arrays as repeated fields), records it, answers a 400 listing
the problems if any, and otherwise forwards it to Prism without the array fields.

``python -m devkit.prism [--port N]`` runs Prism in the foreground.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import ClientSession, ClientTimeout, web

from devkit.loop_thread import LoopThread
from devkit.npm import TWILIO_OAI_SPEC, NodeMissingError, ensure_npm_packages, node_bin
from devkit.ports import free_port, port_in_use
from devkit.processes import stop_process_group
from switchboard.patterns import ecma_search

SPEC_ENV = "TWILIO_OAI_SPEC"
DEFAULT_SPEC = TWILIO_OAI_SPEC


class PrismError(RuntimeError):
    """Prism could not be started (missing spec, missing Node/npm package, timeout)."""


def spec_path() -> Path:
    """The Twilio OpenAPI file: ``$TWILIO_OAI_SPEC``, else the one the npm package installs."""
    override = os.environ.get(SPEC_ENV, "").strip()
    return Path(override).expanduser().resolve() if override else DEFAULT_SPEC


def require_spec(path: Path | None = None) -> Path:
    """The spec path (npm packages installed when the default one is missing), or PrismError."""
    path = path or spec_path()
    if path == DEFAULT_SPEC and not path.is_file():
        try:
            ensure_npm_packages()
        except NodeMissingError as exc:
            raise PrismError(str(exc)) from exc
    if not path.is_file():
        raise PrismError(
            f"Twilio's OpenAPI file is missing: {path} does not exist. Run `npm ci` in the "
            f"project (package.json pins @twilio-alpha/mcp, which ships it), or set {SPEC_ENV} "
            "to the path of a twilio_api_v2010.json."
        )
    return path


class Prism:
    """One ``prism mock`` process on loopback; a context manager that always stops it."""

    def __init__(
        self,
        spec: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 60.0,
    ) -> None:
        self.spec = Path(spec) if spec else None
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[str] | None = None
        self._output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value of ``TWILIO_API_BASE_URL``."""
        if self.port is None:
            raise PrismError("Prism is not running")
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        """What Prism printed so far (its validation warnings, errors)."""
        return "".join(self._output)

    def start(self) -> Prism:
        """Start Prism and wait until its port accepts connections."""
        spec = require_spec(self.spec)
        try:
            ensure_npm_packages()
            binary = node_bin("prism")
        except NodeMissingError as exc:
            raise PrismError(str(exc)) from exc
        port = self.requested_port or free_port(self.host)
        args = [str(binary), "mock", "-h", self.host, "-p", str(port), "-v", "warn", str(spec)]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if port_in_use(port, self.host):
                self.port = port
                return self
            time.sleep(0.1)
        output = "".join(self._output[-30:])
        exited = self.process.poll() is not None
        self.stop()
        reason = "exited" if exited else f"did not answer within {self.startup_timeout:.0f}s"
        raise PrismError(f"Prism {reason} (port {port}, spec {spec}):\n{output}")

    def _read_output(self) -> None:
        process = self.process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            self._output.append(line)

    def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        self.port = None
        if process is None:
            return
        try:
            stop_process_group(process)
        finally:
            if self._reader is not None:
                self._reader.join(2)  # EOF once the process is gone
            if process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> Prism:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Request checks against the OpenAPI file, and the proxy in front of Prism
# --------------------------------------------------------------------------------------------


class OpenApiRequestChecker:
    """Checks a form/query request against its operation in an OpenAPI 3 file."""

    def __init__(self, spec: Path) -> None:
        self.document: dict[str, Any] = json.loads(spec.read_text(encoding="utf-8"))
        routes = []
        for template, item in self.document.get("paths", {}).items():
            names = re.findall(r"{(\w+)}", template)
            pattern = re.escape(template)
            for name in names:
                pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+?)")
            routes.append((len(names), template, re.compile(pattern), item))
        routes.sort(key=lambda r: r[0])  # literal segments win over parameters
        self.routes = [(t, rx, item) for _, t, rx, item in routes]

    def resolve(self, schema: Any) -> dict[str, Any]:
        """Follow ``$ref`` pointers inside the document."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            node: Any = self.document
            for part in str(schema["$ref"]).lstrip("#/").split("/"):
                node = node[part]
            schema, seen = node, seen + 1
        return schema if isinstance(schema, dict) else {}

    def operation(
        self, method: str, path: str
    ) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        """(path template, operation, path parameters) for a request, or None."""
        for template, regex, item in self.routes:
            match = regex.fullmatch(path)
            if match and method.lower() in item:
                return template, item[method.lower()], match.groupdict()
        return None

    def body_schema(self, operation: Mapping[str, Any]) -> dict[str, Any]:
        """The form body schema of an operation ({} when it takes none)."""
        content = operation.get("requestBody", {}).get("content", {})
        form = content.get("application/x-www-form-urlencoded", {})
        return self.resolve(form.get("schema", {}))

    def array_fields(self, method: str, path: str) -> set[str]:
        """Form fields whose schema is an array (repeated fields)."""
        found = self.operation(method, path)
        if found is None:
            return set()
        properties = self.body_schema(found[1]).get("properties", {})
        return {k for k, v in properties.items() if self.resolve(v).get("type") == "array"}

    def check(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        form: Mapping[str, list[str]],
    ) -> list[str]:
        """Every way the request departs from the spec (empty: valid)."""
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path}: no such operation in the OpenAPI file"]
        template, operation, path_values = found
        problems: list[str] = []
        declared = [self.resolve(p) for p in operation.get("parameters", [])]
        for parameter in declared:
            name, where = parameter.get("name"), parameter.get("in")
            if where == "path":
                self._check_value(
                    f"path {name}",
                    parameter.get("schema", {}),
                    [path_values.get(name, "")],
                    problems,
                )
            elif where == "query":
                if name in query:
                    self._check_value(
                        f"query {name}", parameter.get("schema", {}), query[name], problems
                    )
                elif parameter.get("required"):
                    problems.append(f"query {name}: required but missing")
        known_query = {p.get("name") for p in declared if p.get("in") == "query"}
        problems += [
            f"query {k}: not a parameter of {method} {template}"
            for k in query
            if k not in known_query
        ]
        body = self.body_schema(operation)
        properties = body.get("properties", {})
        if form and not properties:
            problems.append(f"{method} {template} takes no form body")
        for name in body.get("required", []):
            if name not in form:
                problems.append(f"body {name}: required but missing")
        for name, values in form.items():
            if name not in properties:
                problems.append(f"body {name}: not a parameter of {method} {template}")
            else:
                self._check_value(f"body {name}", properties[name], values, problems)
        return problems

    def _check_value(self, label: str, schema: Any, values: list[str], problems: list[str]) -> None:
        schema = self.resolve(schema)
        if schema.get("type") == "array":
            for value in values:
                self._check_scalar(label, self.resolve(schema.get("items", {})), value, problems)
            return
        if len(values) != 1:
            problems.append(f"{label}: sent {len(values)} times but is not an array")
        for value in values:
            self._check_scalar(label, schema, value, problems)

    def _check_scalar(
        self, label: str, schema: dict[str, Any], value: str, problems: list[str]
    ) -> None:
        kind = schema.get("type")
        enum = schema.get("enum")
        if enum is not None and value not in [
            str(e).lower() if isinstance(e, bool) else str(e) for e in enum
        ]:
            problems.append(f"{label}: {value!r} is not one of {enum}")
        if kind == "integer":
            try:
                number = int(value)
            except ValueError:
                problems.append(f"{label}: {value!r} is not an integer")
                return
            if "minimum" in schema and number < schema["minimum"]:
                problems.append(f"{label}: {number} is below {schema['minimum']}")
            if "maximum" in schema and number > schema["maximum"]:
                problems.append(f"{label}: {number} is above {schema['maximum']}")
        elif kind == "number":
            try:
                float(value)
            except ValueError:
                problems.append(f"{label}: {value!r} is not a number")
        elif kind == "boolean":
            if value not in {"true", "false"}:
                problems.append(f"{label}: {value!r} is not true or false")
        elif kind == "string":
            if "minLength" in schema and len(value) < schema["minLength"]:
                problems.append(f"{label}: shorter than {schema['minLength']}")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                problems.append(f"{label}: longer than {schema['maxLength']}")
            if "pattern" in schema and not ecma_search(schema["pattern"], value):
                problems.append(f"{label}: {value!r} does not match {schema['pattern']}")
            self._check_format(label, schema, value, problems)

    @staticmethod
    def _check_format(label: str, schema: dict[str, Any], value: str, problems: list[str]) -> None:
        fmt = schema.get("format")
        if (schema.get("x-twilio") or {}).get("ignoreFormat"):
            return
        try:
            if fmt == "date":
                date.fromisoformat(value)
            elif fmt == "date-time":
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            elif fmt == "uri":
                parts = urlsplit(value)
                if not parts.scheme or not parts.netloc:
                    raise ValueError(value)
        except ValueError:
            problems.append(f"{label}: {value!r} is not a valid {fmt}")


@dataclass(frozen=True)
class ProxiedRequest:
    """A request that went through the checking proxy."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    problems: list[str]
    status: int
    authorized: bool


class CheckingProxy:
    """A loopback proxy in front of Prism that checks each request against the OpenAPI file.

    Runs aiohttp on its own loop in a background thread; ``with CheckingProxy(prism) as proxy``.
    """

    def __init__(
        self, prism_base_url: str, spec: Path | None = None, *, host: str = "127.0.0.1"
    ) -> None:
        self.target = prism_base_url.rstrip("/")
        self.checker = OpenApiRequestChecker(require_spec(spec))
        self.host = host
        self.port: int | None = None
        self.records: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._background: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    @property
    def base_url(self) -> str:
        """``TWILIO_API_BASE_URL`` for clients that should go through the checks."""
        if self.port is None:
            raise PrismError("the checking proxy is not running")
        return f"http://{self.host}:{self.port}"

    def requests(self) -> list[ProxiedRequest]:
        """Every request seen, oldest first."""
        with self._lock:
            return list(self.records)

    def problems(self) -> list[str]:
        """Every contract problem seen so far, each prefixed by its request."""
        return [f"{r.method} {r.path}: {p}" for r in self.requests() for p in r.problems]

    def clear(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self.records.clear()

    async def _handle(self, request: web.Request) -> web.Response:
        query = _multi(request.query.items())
        form: dict[str, list[str]] = {}
        if (
            request.method in {"POST", "PUT"}
            and request.content_type == "application/x-www-form-urlencoded"
        ):
            form = _multi((await request.post()).items())
        problems = self.checker.check(request.method, request.path, query, form)
        authorized = request.headers.get("Authorization", "").startswith("Basic ")
        if not authorized:
            problems.append("no basic auth")
        if problems:
            body = {
                "code": 20001,
                "message": "OpenAPI contract violation: " + "; ".join(problems),
                "more_info": "https://www.twilio.com/docs/errors/20001",
                "status": 400,
            }
            response = web.json_response(body, status=400)
        else:
            arrays = self.checker.array_fields(request.method, request.path)
            forwarded = [(k, v) for k, values in form.items() if k not in arrays for v in values]
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() in {"authorization", "accept", "content-type", "user-agent"}
            }
            assert self._session is not None
            async with self._session.request(
                request.method,
                self.target + request.path_qs,
                headers=headers,
                data=urlencode(forwarded) if request.method in {"POST", "PUT"} else None,
            ) as upstream:
                payload = await upstream.read()
                response = web.Response(
                    body=payload,
                    status=upstream.status,
                    content_type=upstream.content_type or "application/json",
                )
        with self._lock:
            self.records.append(
                ProxiedRequest(
                    request.method, request.path, query, form, problems, response.status, authorized
                )
            )
        return response

    async def _start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __enter__(self) -> CheckingProxy:
        background = LoopThread("prism-checking-proxy")
        try:
            background.start(self._start, timeout=15)
        except BaseException as exc:
            raise PrismError(f"the checking proxy did not start: {exc}") from exc
        self._background = background
        return self

    def __exit__(self, *exc_info: object) -> None:
        background, self._background = self._background, None
        if background is not None:
            background.stop(self._stop)
        self.port = None


def _multi(items: Any) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in items:
        if isinstance(value, str):
            result.setdefault(str(key), []).append(value)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m devkit.prism``: serve Twilio's OpenAPI mock until Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m devkit.prism", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=4010, help="port (0: a free one)")
    parser.add_argument(
        "--spec", default=None, help=f"OpenAPI file (default ${SPEC_ENV} or {DEFAULT_SPEC})"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    prism = Prism(args.spec, port=args.port)
    try:
        prism.start()
    except PrismError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Prism ready at {prism.base_url}  (TWILIO_API_BASE_URL={prism.base_url})")
    sys.stdout.flush()
    try:
        while not stop.is_set():
            if prism.process is None or prism.process.poll() is not None:
                print("error: Prism exited\n" + prism.output()[-2000:], file=sys.stderr)
                return 1
            stop.wait(0.5)
    finally:
        prism.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
