"""Function discovery for `python -m devkit host`: the FunctionApp's own metadata, nothing else.

Like the Python worker, the host imports `function_app.py`, takes its single top-level
`FunctionRegister` (a `func.FunctionApp`), calls `get_functions()` once, and checks each function's
bindings against its Python signature. `%NAME%` expressions in trigger and binding arguments are
resolved from the app settings (the environment), as the Functions host does.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

from devkit.host_routes import RouteTemplate, RouteTemplateError

logger = logging.getLogger("devkit.host")
HTTP_TRIGGER, TIMER_TRIGGER, QUEUE_TRIGGER = "httpTrigger", "timerTrigger", "queueTrigger"
SUPPORTED_TRIGGERS = (HTTP_TRIGGER, TIMER_TRIGGER, QUEUE_TRIGGER)
SUPPORTED_OUTPUTS = ("http", "queue")
DEFAULT_CONNECTION = "AzureWebJobsStorage"
_EXPRESSION = re.compile(r"%([^%\s]+)%")
_QUEUE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]")


class HostStartupError(RuntimeError):
    """The app cannot be served; the message is for the user and names what to fix."""


class FunctionInError(HostStartupError):
    """One function cannot be indexed (an unset %SETTING%): the host disables it and goes on."""


@dataclass(frozen=True)
class OutputBinding:
    """An output binding: `name` is the parameter (an Out) or `$return`."""

    name: str
    type: str
    queue_name: str | None = None
    connection: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """`@app.retry(...)`: applied to timer triggers, as the Functions host does."""

    strategy: str
    max_retry_count: int
    delay: float = 0.0
    minimum_interval: float = 0.0
    maximum_interval: float = 0.0

    def delay_before(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        if self.strategy == "fixed_delay":
            return self.delay
        return min(self.maximum_interval, self.minimum_interval * float(2 ** (retry - 1)))


@dataclass
class FunctionSpec:
    """One function as the host serves it (trigger arguments already resolved)."""

    name: str
    trigger_type: str
    trigger_param: str
    user_function: Callable[..., Any]
    is_async: bool
    context_param: str | None = None
    trigger_annotation: Any = None
    outputs: list[OutputBinding] = field(default_factory=list)
    retry: RetryPolicy | None = None
    # httpTrigger
    route: RouteTemplate | None = None
    methods: frozenset[str] | None = None
    auth_level: str = "function"
    # timerTrigger
    schedule: str | None = None
    run_on_startup: bool = False
    # queueTrigger
    queue_name: str | None = None
    connection: str | None = None


def resolve_expressions(text: str, environ: Mapping[str, str], where: str) -> str:
    """Replace each `%NAME%` by the app setting NAME; an unset setting is an error naming it."""

    def setting(found: re.Match[str]) -> str:
        name = found.group(1)
        value = environ.get(name)
        if value is None:
            raise FunctionInError(
                f"{where}: app setting '{name}' (used as %{name}%) is not set: add it to "
                "local.settings.json 'Values' or to the environment"
            )
        return value

    return _EXPRESSION.sub(setting, text)


def load_function_app(app_dir: Path) -> Any:
    """Import `app_dir/function_app.py` as the worker does and return its one FunctionRegister."""
    script = app_dir / "function_app.py"
    if not script.is_file():
        raise HostStartupError(f"function_app.py not found in {app_dir}")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))  # the worker puts the script root on sys.path
    spec = importlib.util.spec_from_file_location("function_app", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)  # the app's own exceptions propagate, with their traceback
    apps = [
        (name, value)
        for name, value in vars(module).items()
        if isinstance(value, func.FunctionRegister)
    ]
    if not apps:
        raise HostStartupError(
            "function_app.py defines no top-level FunctionApp (app = func.FunctionApp())"
        )
    if len(apps) > 1:
        names = ", ".join(name for name, _ in apps)
        raise HostStartupError(
            f"function_app.py defines more than one top-level function app instance ({names})"
        )
    return apps[0][1]


def discover_functions(
    app: Any, environ: Mapping[str, str], route_prefix: str
) -> list[FunctionSpec]:
    """Build the served functions from `app.get_functions()` (called exactly once here)."""
    # get_functions() records names to detect duplicates and raises when called a second time
    # on the same app: start from a clean slate in case the app's own module called it.
    if getattr(app, "functions_bindings", None) is not None:
        app.functions_bindings = None
    try:
        functions = app.get_functions()
    except ValueError as exc:  # duplicate function names, bad decorator arguments
        raise HostStartupError(f"function_app.py: {exc}") from None
    specs = []
    for function in functions:
        try:
            specs.append(_build_spec(function, environ, route_prefix))
        except FunctionInError as exc:
            # The Functions host does the same: "The 'X' function is in error", the rest runs.
            logger.error(
                "The '%s' function is in error and disabled: %s", function.get_function_name(), exc
            )
    if not specs:
        raise HostStartupError("function_app.py: the FunctionApp has no functions")
    return specs


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _binding_dicts(function: Any) -> list[dict[str, Any]]:
    """The function.json bindings, camelCase, as the host would read them."""
    return [dict(binding.get_dict_repr()) for binding in function.get_bindings()]


def _build_spec(function: Any, environ: Mapping[str, str], route_prefix: str) -> FunctionSpec:
    name = function.get_function_name()
    where = f"function '{name}'"
    trigger = function.get_trigger()
    trigger_type = _enum_value(trigger.type) if trigger is not None else None
    if trigger_type not in SUPPORTED_TRIGGERS:
        raise HostStartupError(
            f"{where}: trigger type {trigger_type!r} is not supported by the devkit host "
            f"(supported: {', '.join(SUPPORTED_TRIGGERS)})"
        )
    user_function = function.get_user_function()
    spec = FunctionSpec(
        name=name,
        trigger_type=trigger_type,
        trigger_param=trigger.name,
        user_function=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
    )
    spec.outputs = _outputs(function, trigger, environ, where)
    _bind_parameters(spec, function, where)
    if trigger_type == HTTP_TRIGGER:
        _configure_http(spec, trigger, environ, route_prefix, where)
    elif trigger_type == TIMER_TRIGGER:
        spec.schedule = resolve_expressions(str(trigger.schedule), environ, where)
        spec.run_on_startup = bool(trigger.run_on_startup)
        spec.retry = _retry_policy(function, where)
    else:
        spec.queue_name = queue_name(str(trigger.queue_name), environ, where)
        spec.connection = trigger.connection or DEFAULT_CONNECTION
    if trigger_type != TIMER_TRIGGER and function.get_settings_dict("retry_policy"):
        logger.warning(f"{where}: retry policies apply to timer triggers only; ignored here")
    return spec


def queue_name(raw: str, environ: Mapping[str, str], where: str) -> str:
    """A queue name with `%NAME%` resolved, lower-cased and checked like the host does."""
    name = resolve_expressions(raw, environ, where).lower()
    if not _QUEUE_NAME.fullmatch(name):
        raise HostStartupError(
            f"{where}: {name!r} is not a valid queue name (3-63 lowercase letters, digits and "
            "single hyphens, starting and ending with a letter or digit)"
        )
    return name


def _outputs(
    function: Any, trigger: Any, environ: Mapping[str, str], where: str
) -> list[OutputBinding]:
    outputs: list[OutputBinding] = []
    for binding in function.get_bindings():
        if binding is trigger or binding.name == trigger.name:
            continue
        binding_type = _enum_value(binding.type)
        direction = _enum_value(getattr(binding, "direction", ""))
        if binding_type not in SUPPORTED_OUTPUTS or direction not in {"1", "OUT"}:
            raise HostStartupError(
                f"{where}: binding {binding.name!r} of type {binding_type!r} is not supported by "
                "the devkit host (supported: the trigger, an http output, queue outputs)"
            )
        if binding_type == "http":
            if _enum_value(trigger.type) != HTTP_TRIGGER:
                raise HostStartupError(f"{where}: an http output needs an httpTrigger")
            outputs.append(OutputBinding(name=binding.name, type="http"))
            continue
        raw = binding.get_dict_repr()
        outputs.append(
            OutputBinding(
                name=binding.name,
                type="queue",
                queue_name=queue_name(str(raw.get("queueName")), environ, where),
                connection=raw.get("connection") or DEFAULT_CONNECTION,
            )
        )
    return outputs


def _is_context_annotation(annotation: Any) -> bool:
    if isinstance(annotation, str):  # unevaluated (from __future__ import annotations)
        return annotation.rsplit(".", 1)[-1] == "Context"
    return inspect.isclass(annotation) and issubclass(annotation, func.Context)


def _signature(function: Callable[..., Any]) -> inspect.Signature:
    """The signature with string annotations evaluated when possible."""
    try:
        return inspect.signature(function, eval_str=True)
    except Exception:  # an annotation that cannot be evaluated: keep it as text
        return inspect.signature(function)


def _bind_parameters(spec: FunctionSpec, function: Any, where: str) -> None:
    """Match Python parameters to binding names, like the worker (which refuses mismatches)."""
    bound = {b["name"] for b in _binding_dicts(function) if b.get("name") != "$return"}
    parameters = _signature(spec.user_function).parameters
    for parameter in parameters.values():
        if parameter.kind in {parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD}:
            raise HostStartupError(f"{where}: *args and **kwargs parameters cannot be bound")
        if parameter.name in bound:
            continue
        if parameter.name == "context" or _is_context_annotation(parameter.annotation):
            if spec.context_param is not None:
                raise HostStartupError(f"{where}: more than one Context parameter")
            spec.context_param = parameter.name
            continue
        raise HostStartupError(
            f"{where}: parameter {parameter.name!r} matches no binding (declare it with "
            "arg_name=... in a decorator, or name it 'context' for the invocation context)"
        )
    missing = sorted(bound - set(parameters))
    if missing:
        raise HostStartupError(
            f"{where}: binding(s) {', '.join(map(repr, missing))} have no matching parameter"
        )
    spec.trigger_annotation = parameters[spec.trigger_param].annotation


def _configure_http(
    spec: FunctionSpec, trigger: Any, environ: Mapping[str, str], prefix: str, where: str
) -> None:
    route = resolve_expressions(str(trigger.route or spec.name), environ, where)
    try:
        spec.route = RouteTemplate(route, prefix=prefix)
    except RouteTemplateError as exc:
        raise HostStartupError(f"{where}: {exc}") from None
    methods = trigger.methods
    spec.methods = frozenset(_enum_value(m).upper() for m in methods) if methods else None
    spec.auth_level = _enum_value(trigger.auth_level or "function").lower()


def _retry_policy(function: Any, where: str) -> RetryPolicy | None:
    from devkit.host_config import parse_timespan

    settings = function.get_settings_dict("retry_policy")
    if not settings:
        return None
    try:
        strategy = str(settings.get("strategy"))
        count = int(settings.get("max_retry_count", 0))
        if strategy == "fixed_delay":
            return RetryPolicy(strategy, count, delay=parse_timespan(settings["delay_interval"]))
        if strategy == "exponential_backoff":
            return RetryPolicy(
                strategy,
                count,
                minimum_interval=parse_timespan(settings["minimum_interval"]),
                maximum_interval=parse_timespan(settings["maximum_interval"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise HostStartupError(f"{where}: invalid retry policy ({exc})") from None
    raise HostStartupError(f"{where}: unknown retry strategy {strategy!r}")
