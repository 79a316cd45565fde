"""What `GET /api/health` says about the outbound path: each line's budget today (``paused``
with why and the counts, or ``active``), the allowed countries, settings that name a number
the policy refuses (reported by setting name, never by value), and, under `messaging`, the
lines whose texts are not registered or are filtered: one sentence per kind of problem
(`problems.sentence`), whatever the number of texts, with each line's counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchboard import records
from switchboard.outbound import problems
from switchboard.outbound.budget import Budget, resumes_at
from switchboard.outbound.destinations import Destinations
from switchboard.outbound.problems import DeliveryProblem
from switchboard.outbound.service import Outbound
from switchboard.settings import Settings, forwarding_numbers


def line_report(budget: Budget) -> dict[str, Any]:
    """One line's budget as JSON."""
    report: dict[str, Any] = {
        "state": "paused" if budget.paused else "active",
        "day": budget.day.isoformat() if budget.day else None,
        "timeZone": budget.time_zone,
        "automaticTexts": budget.sent,
        "skipped": budget.skipped,
        "voicemailEmails": budget.emails,
        "voicemailEmailsSkipped": budget.emails_skipped,
    }
    if budget.paused:
        report["reason"] = budget.paused
        if budget.paused_at:
            report["pausedAt"] = records.iso(budget.paused_at)
        resumes: datetime | None = resumes_at(budget, budget.time_zone)
        report["resumesAt"] = records.iso(resumes) if resumes else None
    return report


def budgets_report(outbound: Outbound) -> dict[str, Any]:
    """Every line with a budget row: number → its report (one query)."""
    return {line: line_report(found) for line, found in sorted(outbound.budgets().items())}


def countries(destinations: Destinations) -> list[str] | str:
    """The allowed countries as JSON: a sorted list, or ``*``."""
    return "*" if destinations.allowed is None else sorted(destinations.allowed)


def setting_problems(settings: Settings, destinations: Destinations) -> list[str]:
    """Settings that forward texts or calls to a number the policy refuses."""
    problems = []
    for name, number in forwarding_numbers(settings):
        problem = destinations.problem(number)
        if problem is not None:
            problems.append(f"{name}: {_words(problem)}")
    return problems


def _words(problem: str) -> str:
    if problem == "one of our numbers":
        return "is one of the account's numbers (IncomingPhoneNumbers): forwarding there would loop"
    if problem == "country not allowed":
        return "is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow"
    return f"is a {problem}: the app never texts or calls it"


def report(settings: Settings, *, with_lines: bool = True) -> tuple[dict[str, Any], list[str]]:
    """(the `outbound` section of the health report, setting problems). Storage errors raise."""
    outbound = Outbound(settings)
    destinations = outbound.destinations
    section: dict[str, Any] = {"allowedCountries": countries(destinations)}
    if with_lines:
        lines = budgets_report(outbound)
        section["lines"] = lines
        section["paused"] = sorted(n for n, r in lines.items() if r["state"] == "paused")
    return section, setting_problems(settings, destinations)


def problem_report(problem: DeliveryProblem) -> dict[str, Any]:
    """One line's delivery problem of one kind as JSON."""
    return {
        "texts": problem.count,
        "codes": {str(code): n for code, n in problem.codes},
        "since": records.iso(problem.since) if problem.since else None,
        "last": records.iso(problem.last) if problem.last else None,
        "lastError": problem.error or None,
        "toldAt": records.iso(problem.told_at) if problem.told_at else None,
        "told": problem.told or None,
    }


def messaging_section(found: list[DeliveryProblem]) -> dict[str, Any]:
    """The `messaging` section: ``ok``, one sentence per kind of problem (``registration``,
    ``filtered``) and each line's details under ``lines``."""
    section: dict[str, Any] = {"ok": not found}
    lines: dict[str, dict[str, Any]] = {}
    for kind in problems.Kind:
        of_kind = [p for p in found if p.kind is kind]
        if of_kind:
            section[kind.value] = problems.sentence(of_kind)
        for problem in of_kind:
            lines.setdefault(problem.line, {})[kind.value] = problem_report(problem)
    section["lines"] = lines
    return section


def messaging_report(outbound: Outbound) -> dict[str, Any]:
    """The `messaging` section of the health report (one query). Storage errors raise."""
    return messaging_section(outbound.delivery_problems())
