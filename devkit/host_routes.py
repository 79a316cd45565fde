"""Azure Functions (ASP.NET Core) route templates, matched the way the Functions host matches them.

Supported: literal segments (case-insensitive), `{name}`, optional `{name?}`, defaults `{name=x}`,
inline constraints `{id:int}`, `{code:regex(^\\d{{3}}$)}`, `{n:int:min(1)}`, catch-all `{*rest}` /
`{**rest}`, complex segments such as `{name}.{ext?}`, and `{{`/`}}` for literal braces. When several
routes match a path, the most specific wins, by ASP.NET's inbound precedence (literal, complex
segment, constrained parameter, parameter, catch-all).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# Inbound precedence digit per segment kind: lower is more specific (ASP.NET RoutePrecedence).
_LITERAL, _COMPLEX, _CONSTRAINED, _PARAMETER, _CATCH_ALL = 1, 2, 3, 4, 5
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RouteTemplateError(ValueError):
    """A route template the Functions host would refuse; the message says why."""


@dataclass(frozen=True)
class RouteParameter:
    """One `{...}` of a template."""

    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Part:
    literal: str | None = None
    parameter: RouteParameter | None = None


@dataclass
class RouteTemplate:
    """A parsed route template (prefix included) that matches request paths."""

    template: str
    prefix: str = ""
    parameters: list[RouteParameter] = field(init=False)
    precedence: tuple[int, ...] = field(init=False)
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _groups: dict[str, str] = field(init=False, repr=False)
    _checks: dict[str, list[Callable[[str], bool]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        prefix_segments = [s for s in self.prefix.strip("/").split("/") if s]
        route = self.template.strip()
        route = route.removeprefix("~")
        route_segments = [s for s in route.strip("/").split("/")] if route.strip("/") else []
        if any(not segment for segment in route_segments):
            raise RouteTemplateError(f"route {self.template!r}: empty segment ('//')")
        self.parameters = []
        self._groups = {}
        self._checks = {}
        precedence: list[int] = []
        pieces: list[str] = []
        parsed = [[_Part(literal=s)] for s in prefix_segments]
        parsed += [_parse_segment(segment, self.template) for segment in route_segments]
        for index, parts in enumerate(parsed):
            last = index == len(parsed) - 1
            pieces.append(self._segment_regex(parts, last))
            precedence.append(_segment_precedence(parts))
        self._check_optional_tail(parsed)
        pattern = "".join(pieces) if pieces else ""
        self._regex = re.compile(f"^{pattern}/?\\Z", re.IGNORECASE | re.DOTALL)
        self.precedence = tuple(precedence)

    @property
    def display(self) -> str:
        """The full template as `func start` lists it (prefix and route)."""
        joined = "/".join(p for p in (self.prefix.strip("/"), self.template.strip("/")) if p)
        return "/" + joined

    def match(self, path: str) -> dict[str, str] | None:
        """The route values when `path` (decoded, starting with `/`) matches, else None."""
        found = self._regex.match(path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for parameter in self.parameters:
            value = found.group(self._groups[parameter.name])
            if value is None or value == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                elif not (parameter.optional or parameter.catch_all):
                    return None
                continue
            if not all(check(value) for check in self._checks[parameter.name]):
                return None
            values[parameter.name] = value
        return values

    def _segment_regex(self, parts: list[_Part], last: bool) -> str:
        if len(parts) == 1 and parts[0].parameter is not None:
            parameter = parts[0].parameter
            group = self._add_parameter(parameter)
            if parameter.catch_all:
                if not last:
                    raise RouteTemplateError(
                        f"route {self.template!r}: a catch-all parameter must be the last segment"
                    )
                return f"(?:/(?P<{group}>.*))?"
            if parameter.optional or parameter.default is not None:
                return f"(?:/(?P<{group}>[^/]+))?"
            return f"/(?P<{group}>[^/]+)"
        out = "/"
        for position, part in enumerate(parts):
            if part.literal is not None:
                out += re.escape(part.literal)
                continue
            assert part.parameter is not None
            parameter = part.parameter
            if parameter.catch_all:
                raise RouteTemplateError(
                    f"route {self.template!r}: a catch-all parameter must be a whole segment"
                )
            group = self._add_parameter(parameter)
            if parameter.optional:
                # ASP.NET allows an optional parameter in a complex segment only at its end,
                # after a literal: `{name}.{ext?}` matches `a.b` and `a`.
                previous = parts[position - 1] if position else None
                if position != len(parts) - 1 or previous is None or previous.literal is None:
                    raise RouteTemplateError(
                        f"route {self.template!r}: an optional parameter inside a segment must "
                        "end it and follow a literal, as in '{name}.{ext?}'"
                    )
                literal = re.escape(previous.literal)
                out = out[: -len(literal)] + f"(?:{literal}(?P<{group}>[^/]+?))?"
            else:
                out += f"(?P<{group}>[^/]+?)"
        return out

    def _add_parameter(self, parameter: RouteParameter) -> str:
        if parameter.name.lower() in {p.name.lower() for p in self.parameters}:
            raise RouteTemplateError(
                f"route {self.template!r}: parameter {parameter.name!r} appears twice"
            )
        group = f"p{len(self.parameters)}"
        self.parameters.append(parameter)
        self._groups[parameter.name] = group
        self._checks[parameter.name] = [
            _constraint_check(c, self.template) for c in parameter.constraints
        ]
        return group

    def _check_optional_tail(self, parsed: list[list[_Part]]) -> None:
        # Like ASP.NET: once a whole segment is optional, every following segment must be too.
        seen_optional = False
        for parts in parsed:
            whole = parts[0].parameter if len(parts) == 1 else None
            optional = whole is not None and (
                whole.optional or whole.catch_all or whole.default is not None
            )
            if seen_optional and not optional:
                raise RouteTemplateError(
                    f"route {self.template!r}: an optional parameter may only be followed by "
                    "other optional parameters"
                )
            seen_optional = seen_optional or optional


def _parse_segment(segment: str, template: str) -> list[_Part]:
    """Split one segment into literal and parameter parts (`{{`/`}}` are literal braces)."""
    parts: list[_Part] = []
    literal = ""
    index = 0
    while index < len(segment):
        char = segment[index]
        pair = segment[index : index + 2]
        if pair in {"{{", "}}"}:
            literal += char
            index += 2
            continue
        if char == "}":
            raise RouteTemplateError(f"route {template!r}: unbalanced '}}' in {segment!r}")
        if char != "{":
            literal += char
            index += 1
            continue
        body, index = _read_parameter(segment, index + 1, template)
        if literal:
            parts.append(_Part(literal=literal))
            literal = ""
        if parts and parts[-1].parameter is not None:
            raise RouteTemplateError(
                f"route {template!r}: two parameters in {segment!r} need a literal between them"
            )
        parts.append(_Part(parameter=_parse_parameter(body, template)))
    if literal:
        parts.append(_Part(literal=literal))
    return parts


def _read_parameter(segment: str, start: int, template: str) -> tuple[str, int]:
    """The text of a `{...}` starting after its `{`, and the index after its `}`."""
    body = ""
    index = start
    while index < len(segment):
        pair = segment[index : index + 2]
        if pair in {"{{", "}}"}:  # escaped braces inside a constraint, e.g. regex(\d{{3}})
            body += pair[0]
            index += 2
            continue
        if segment[index] == "}":
            return body, index + 1
        if segment[index] == "{":
            raise RouteTemplateError(f"route {template!r}: unescaped '{{' inside a parameter")
        body += segment[index]
        index += 1
    raise RouteTemplateError(f"route {template!r}: unbalanced '{{' in {segment!r}")


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses (constraint arguments may contain it)."""
    pieces, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if char == separator and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += char
    pieces.append(current)
    return pieces


def _parse_parameter(body: str, template: str) -> RouteParameter:
    """`*rest`, `id:int?`, `page:int=1` → a RouteParameter."""
    text = body.strip()
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    optional = text.endswith("?")
    text = text.removesuffix("?")
    default: str | None = None
    with_default = _split_top_level(text, "=")
    if len(with_default) > 1:
        text, default = with_default[0], "=".join(with_default[1:])
    name, *constraints = _split_top_level(text, ":")
    if not _NAME.fullmatch(name):
        raise RouteTemplateError(f"route {template!r}: invalid parameter name {name!r}")
    if optional and default is not None:
        raise RouteTemplateError(
            f"route {template!r}: parameter {name!r} cannot be optional and have a default"
        )
    return RouteParameter(
        name=name,
        optional=optional,
        catch_all=catch_all,
        default=default,
        constraints=tuple(constraints),
    )


def _segment_precedence(parts: list[_Part]) -> int:
    if len(parts) > 1:
        return _COMPLEX
    part = parts[0]
    if part.parameter is None:
        return _LITERAL
    if part.parameter.catch_all:
        return _CATCH_ALL
    return _CONSTRAINED if part.parameter.constraints else _PARAMETER


def _is_int(value: str, bounds: tuple[int, int]) -> bool:
    return bool(re.fullmatch(r"[+-]?\d+", value)) and bounds[0] <= int(value) <= bounds[1]


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().lower() not in {"nan", "inf", "-inf", "+inf", "infinity"}


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


_SIMPLE_CONSTRAINTS: dict[str, Callable[[str], bool]] = {
    "int": lambda v: _is_int(v, _INT32),
    "long": lambda v: _is_int(v, _INT64),
    "bool": lambda v: v.lower() in {"true", "false"},
    "datetime": _is_datetime,
    "decimal": _is_float,
    "double": _is_float,
    "float": _is_float,
    "guid": _is_guid,
    "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
    "required": lambda v: v != "",
    "file": lambda v: "." in v.rsplit("/", 1)[-1],
    "nonfile": lambda v: "." not in v.rsplit("/", 1)[-1],
}


def _int_arguments(name: str, arguments: str, count: tuple[int, ...], template: str) -> list[int]:
    values = [a.strip() for a in arguments.split(",")] if arguments.strip() else []
    if len(values) not in count or not all(re.fullmatch(r"-?\d+", v) for v in values):
        raise RouteTemplateError(f"route {template!r}: bad arguments for constraint {name!r}")
    return [int(v) for v in values]


def _constraint_check(constraint: str, template: str) -> Callable[[str], bool]:
    """The predicate of one inline constraint; unknown constraints fail at startup."""
    text = constraint.strip()
    if text.lower() in _SIMPLE_CONSTRAINTS:
        return _SIMPLE_CONSTRAINTS[text.lower()]
    call = re.fullmatch(r"(\w+)\((.*)\)", text, re.DOTALL)
    if call is None:
        raise RouteTemplateError(f"route {template!r}: unknown constraint {text!r}")
    name, arguments = call.group(1).lower(), call.group(2)
    if name == "regex":
        try:
            # ASP.NET's regex constraint is unanchored and case-insensitive.
            pattern = re.compile(arguments, re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"route {template!r}: bad regex {arguments!r}: {exc}") from exc
        return lambda v: pattern.search(v) is not None
    if name in {"minlength", "maxlength"}:
        (limit,) = _int_arguments(name, arguments, (1,), template)
        if name == "minlength":
            return lambda v: len(v) >= limit
        return lambda v: len(v) <= limit
    if name == "length":
        bounds = _int_arguments(name, arguments, (1, 2), template)
        low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        return lambda v: low <= len(v) <= high
    if name in {"min", "max"}:
        (limit,) = _int_arguments(name, arguments, (1,), template)
        if name == "min":
            return lambda v: _is_int(v, _INT64) and int(v) >= limit
        return lambda v: _is_int(v, _INT64) and int(v) <= limit
    if name == "range":
        low, high = _int_arguments(name, arguments, (2,), template)
        return lambda v: _is_int(v, _INT64) and low <= int(v) <= high
    raise RouteTemplateError(f"route {template!r}: unknown constraint {text!r}")
