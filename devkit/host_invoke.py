"""Invoking a user function the way the Python worker does, with `func start`'s console lines.

Sync functions run in a thread pool (`PYTHON_THREADPOOL_THREAD_COUNT`), async functions on the
event loop. Each invocation gets an id, a `func.Context` when the signature asks for one, `Out`
objects for output parameters, and the two `Executing`/`Executed` log lines of the host.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import azure.functions as func
from azure.functions import _abc as func_abc

from devkit.host_functions import FunctionSpec, OutputBinding

logger = logging.getLogger("devkit.host")
_DEVKIT_DIR = Path(__file__).resolve().parent
_STDLIB = Path(threading.__file__).resolve().parent
# The invocation id of the code running now, for log records (see InvocationIdFilter).
current_invocation_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_invocation_id", default=""
)


class InvocationIdFilter(logging.Filter):
    """Adds `invocation_id` to every record, so formatters can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record."""
        record.invocation_id = current_invocation_id.get()
        return True


class DevTraceContext(func_abc.TraceContext):
    """W3C trace context of an invocation."""

    def __init__(self, trace_parent: str, trace_state: str = "") -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state

    @property
    def trace_parent(self) -> str:
        """The `traceparent` value."""
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        """The `tracestate` value."""
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        """No extra attributes locally."""
        return {}


class DevRpcException(func_abc.RpcException):
    """The previous attempt's failure, as the worker describes it to a retry."""

    def __init__(self, error: BaseException) -> None:
        self._source = type(error).__module__
        self._message = f"{type(error).__name__}: {error}"
        self._stack = "".join(traceback.format_exception(error))

    @property
    def source(self) -> str:
        """Module of the exception type."""
        return self._source

    @property
    def stack_trace(self) -> str:
        """Formatted traceback."""
        return self._stack

    @property
    def message(self) -> str:
        """`Type: message`."""
        return self._message


class DevRetryContext(func_abc.RetryContext):
    """Which attempt this is (0 for the first) under the function's retry policy."""

    def __init__(
        self, retry_count: int = 0, max_retry_count: int = 0, exception: BaseException | None = None
    ) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count
        self._exception = DevRpcException(exception) if exception else None

    @property
    def retry_count(self) -> int:
        """0 on the first attempt."""
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        """The policy's limit (0 without a policy, -1 for unlimited)."""
        return self._max_retry_count

    @property
    def exception(self) -> DevRpcException | None:  # type: ignore[override]
        """The previous attempt's error, if this is a retry."""
        return self._exception


class InvocationContext(func.Context):
    """The `context` argument: a concrete `func.Context`, like the worker's."""

    def __init__(
        self,
        *,
        invocation_id: str,
        function_name: str,
        function_directory: str,
        trace_context: DevTraceContext,
        retry_context: DevRetryContext,
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context
        self._retry_context = retry_context
        # An instance, as the worker passes, though the abstract property is typed as the class.
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        """This invocation's id (also in the `Executing`/`Executed` log lines)."""
        return self._invocation_id

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self._function_name

    @property
    def function_directory(self) -> str:
        """The app's folder (the script root)."""
        return self._function_directory

    @property
    def trace_context(self) -> DevTraceContext:
        """W3C trace context."""
        return self._trace_context

    @property
    def retry_context(self) -> DevRetryContext:
        """Retry attempt information."""
        return self._retry_context

    @property
    def thread_local_storage(self) -> Any:
        """Per-thread storage; `.invocation_id` is set in the thread running the function."""
        return self._thread_local_storage


class OutValue(func.Out):  # type: ignore[type-arg]
    """An output parameter (`func.Out[T]`): holds what the function sets."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        """Set the output value."""
        self._value = val

    def get(self) -> Any:
        """The value set (None if never set)."""
        return self._value


class OutputSink(Protocol):
    """Where output bindings other than http go (queues)."""

    async def send(self, binding: OutputBinding, value: Any) -> None:
        """Deliver one output binding's value."""


@dataclass
class InvocationResult:
    """How an invocation ended; `http_response` is the http output's value, if any."""

    invocation_id: str
    succeeded: bool
    http_response: Any = None
    error: BaseException | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


class FunctionTimeoutError(TimeoutError):
    """The invocation exceeded host.json `functionTimeout`."""


def new_trace_parent() -> str:
    """A fresh W3C `traceparent`."""
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


class Invoker:
    """Runs invocations; one per host, shared by HTTP, timers and queues."""

    def __init__(
        self,
        *,
        app_dir: Path,
        threads: int | None,
        function_timeout: float | None,
        output_sink: OutputSink | None = None,
    ) -> None:
        """`threads`: the pool size (None: Python's default, as the worker without a setting)."""
        self.app_dir = app_dir
        self.function_timeout = function_timeout
        self.output_sink = output_sink
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="devhost-worker")
        self._running_threads = 0
        self._lock = threading.Lock()

    @property
    def running_sync_invocations(self) -> int:
        """Sync functions still running in the pool (they cannot be cancelled)."""
        with self._lock:
            return self._running_threads

    async def invoke(
        self,
        spec: FunctionSpec,
        bind_trigger: Callable[[], Any],
        *,
        reason: str,
        details: str | None = None,
        retry_context: DevRetryContext | None = None,
        trace_parent: str | None = None,
    ) -> InvocationResult:
        """Invoke `spec` with the value `bind_trigger()` builds; never raises for app errors.

        A `bind_trigger` that raises fails the invocation before user code runs, as a binding
        error does in the host (an undecodable queue message, for instance).
        """
        invocation_id = str(uuid.uuid4())
        token = current_invocation_id.set(invocation_id)
        started = time.perf_counter()
        logger.info(f"Executing 'Functions.{spec.name}' (Reason='{reason}', Id={invocation_id})")
        if details:
            logger.info(details)
        result = InvocationResult(invocation_id=invocation_id, succeeded=False)
        try:
            arguments, outs = self._arguments(
                spec, bind_trigger(), invocation_id, retry_context, trace_parent
            )
            returned = await self._run(spec, arguments)
            result.outputs = {name: out.get() for name, out in outs.items()}
            result.outputs["$return"] = returned
            await self._deliver_outputs(spec, result)
            result.succeeded = True
        except asyncio.CancelledError:
            result.error = RuntimeError("cancelled: the host is shutting down")
            self._log_failure(spec, invocation_id, started, result.error)
            raise
        except Exception as error:
            result.error = error
        finally:
            current_invocation_id.reset(token)
        if result.succeeded:
            elapsed = round((time.perf_counter() - started) * 1000)
            logger.info(
                f"Executed 'Functions.{spec.name}' (Succeeded, Id={invocation_id}, "
                f"Duration={elapsed}ms)"
            )
        else:
            assert result.error is not None
            self._log_failure(spec, invocation_id, started, result.error)
        return result

    def _arguments(
        self,
        spec: FunctionSpec,
        trigger_value: Any,
        invocation_id: str,
        retry_context: DevRetryContext | None,
        trace_parent: str | None,
    ) -> tuple[dict[str, Any], dict[str, OutValue]]:
        arguments: dict[str, Any] = {spec.trigger_param: trigger_value}
        outs = {o.name: OutValue() for o in spec.outputs if o.name != "$return"}
        arguments.update(outs)
        if spec.context_param:
            arguments[spec.context_param] = InvocationContext(
                invocation_id=invocation_id,
                function_name=spec.name,
                function_directory=str(self.app_dir),
                trace_context=DevTraceContext(trace_parent or new_trace_parent()),
                retry_context=retry_context or DevRetryContext(),
            )
        return arguments, outs

    async def _run(self, spec: FunctionSpec, arguments: dict[str, Any]) -> Any:
        timeout = self.function_timeout
        if spec.is_async:
            task = asyncio.create_task(spec.user_function(**arguments))
            try:
                return await asyncio.wait_for(task, timeout)
            except TimeoutError:
                raise self._timeout_error(spec) from None
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # carries the invocation id into the thread
        call = functools.partial(context.run, self._call_sync, spec, arguments)
        future = loop.run_in_executor(self.executor, call)
        try:
            # shield: on timeout or shutdown we stop waiting, but a thread cannot be stopped.
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise self._timeout_error(spec) from None

    def _call_sync(self, spec: FunctionSpec, arguments: dict[str, Any]) -> Any:
        with self._lock:
            self._running_threads += 1
        try:
            context = arguments.get(spec.context_param or "")
            if isinstance(context, InvocationContext):
                context.thread_local_storage.invocation_id = context.invocation_id
            return spec.user_function(**arguments)
        finally:
            with self._lock:
                self._running_threads -= 1

    def _timeout_error(self, spec: FunctionSpec) -> FunctionTimeoutError:
        return FunctionTimeoutError(
            f"Timeout value of {self.function_timeout:g}s was exceeded by function: "
            f"Functions.{spec.name}"
        )

    async def _deliver_outputs(self, spec: FunctionSpec, result: InvocationResult) -> None:
        """Output bindings take effect only when the function succeeded, as in the host."""
        for binding in spec.outputs:
            value = result.outputs.get(binding.name)
            if binding.type == "http":
                result.http_response = value
                continue
            if value is None:
                continue
            if self.output_sink is None:
                raise RuntimeError(f"no sink for output binding {binding.name!r}")
            await self.output_sink.send(binding, value)

    def _log_failure(
        self, spec: FunctionSpec, invocation_id: str, started: float, error: BaseException
    ) -> None:
        elapsed = round((time.perf_counter() - started) * 1000)
        logger.error(
            f"Executed 'Functions.{spec.name}' (Failed, Id={invocation_id}, Duration={elapsed}ms)"
        )
        message = (
            f"Exception while executing function: Functions.{spec.name}. "
            f"{type(error).__name__}: {error}"
        )
        if not isinstance(error, FunctionTimeoutError):
            message += "\n" + app_traceback(error)
        logger.error(message)

    def shutdown(self) -> None:
        """Release the pool without waiting for threads still running user code."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def app_traceback(error: BaseException) -> str:
    """The traceback without the host's own frames (asyncio, thread pool, devkit), as the
    worker reports it: what is left is the app's code."""
    summary = traceback.TracebackException.from_exception(error)
    frames = [frame for frame in summary.stack if not _is_host_frame(frame.filename)]
    summary.stack = traceback.StackSummary.from_list(frames or list(summary.stack))
    return "".join(summary.format()).rstrip()


def _is_host_frame(filename: str) -> bool:
    path = Path(filename)
    if path.parent == _DEVKIT_DIR:
        return True
    return path.parent.name in {"asyncio", "concurrent", "futures"} and path.is_relative_to(_STDLIB)


def constant(value: Any) -> Callable[[], Any]:
    """A trigger binder for a value already built."""
    return lambda: value
