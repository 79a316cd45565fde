"""Texts not registered or filtered (pure): which codes, the words a record keeps, the count per
line and kind, when the owner is told (once, then at most once a week; afresh after a quiet
week), and the one sentence a report gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.outbound.problems import (
    CODES,
    ERROR_CHARS,
    QUIET,
    REMIND,
    TELLING,
    DeliveryProblem,
    Kind,
    advice,
    count,
    kind_of,
    problem_of,
    sentence,
    told,
    what,
)

LINE = "+15017122661"
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
UNREGISTERED = "Attempt to send to a US number from an unregistered 10DLC number"


def fail(problem: DeliveryProblem, n: int, *, code: int = 30034, start: datetime = NOW):  # type: ignore[no-untyped-def]
    tells = []
    for i in range(n):
        result = count(problem, code=code, error=UNREGISTERED, now=start + i * timedelta(minutes=1))
        problem = result.problem
        tells.append(result.tell)
    return problem, tells


def test_the_family_of_codes_and_their_words() -> None:
    assert sorted(CODES) == [30007, 30024, 30032, 30034]
    assert problem_of(30034) == "not registered (A2P 10DLC)"
    assert problem_of(30032) == "not verified (toll-free)"
    assert problem_of(30024) == "sender not provisioned on the carrier"
    assert problem_of(30007) == "filtered by the carrier"
    assert [kind_of(c) for c in (30034, 30032, 30024, 30007)] == [
        Kind.REGISTRATION,
        Kind.REGISTRATION,
        Kind.REGISTRATION,
        Kind.FILTERED,
    ]


@pytest.mark.parametrize("code", [None, 0, 30003, 30008, 30450, 21610, 30036, 30027])
def test_other_codes_are_not_delivery_problems(code: int | None) -> None:
    assert problem_of(code) is None
    assert kind_of(code) is None


def test_thirty_failures_count_thirty_and_tell_the_owner_once() -> None:
    problem, tells = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 30)
    assert tells == [True] + [False] * 29
    assert problem.count == 30
    assert problem.since == NOW
    assert problem.last == NOW + 29 * timedelta(minutes=1)
    assert problem.codes == ((30034, 30),)
    assert problem.told_at == NOW
    assert problem.told == TELLING
    assert problem.error == UNREGISTERED


def test_codes_are_counted_each_and_kept_in_order() -> None:
    problem, _ = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 2, code=30034)
    problem, tells = fail(problem, 3, code=30024, start=NOW + timedelta(hours=1))
    assert problem.codes == ((30024, 3), (30034, 2))
    assert problem.code_numbers == (30024, 30034)
    assert problem.count == 5
    assert tells == [False, False, False]


def test_a_problem_that_goes_on_tells_the_owner_again_a_week_after() -> None:
    problem, _ = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 1)
    daily = [NOW + timedelta(days=d) for d in range(1, 9)]
    tells = []
    for moment in daily:
        result = count(problem, code=30034, error="", now=moment)
        problem = result.problem
        tells.append(result.tell)
    # Told at day 0; again at day 7 (exactly REMIND later), not before or after.
    assert tells == [False] * 6 + [True, False]
    assert problem.told_at == NOW + REMIND
    assert problem.count == 9
    assert problem.since == NOW  # the same run of failures
    # A callback carries the code alone: Twilio's name for it stands for its words.
    assert problem.error == "US A2P 10DLC - Message from an Unregistered Number"


def test_how_the_owner_was_told_stays_until_the_next_notice() -> None:
    problem, _ = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 1)
    problem = told(problem, "by e-mail to owner@acme.example", NOW)  # type: ignore[assignment]
    later, tells = fail(problem, 3, start=NOW + timedelta(hours=1))
    assert tells == [False, False, False]
    assert (later.told, later.told_at) == ("by e-mail to owner@acme.example", NOW)


def test_a_quiet_week_ends_the_problem_the_next_failure_starts_afresh() -> None:
    problem, _ = fail(DeliveryProblem(LINE, Kind.FILTERED), 2, code=30007)
    afresh = count(problem, code=30007, error="", now=problem.last + QUIET).problem  # type: ignore[operator]
    assert (afresh.line, afresh.kind, afresh.count) == (LINE, Kind.FILTERED, 1)
    problem, _ = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 5)
    assert problem.is_open(problem.last + QUIET - timedelta(seconds=1))  # type: ignore[operator]
    later = problem.last + QUIET  # type: ignore[operator]
    assert not problem.is_open(later)
    result = count(problem, code=30032, error="toll-free", now=later)
    assert result.tell
    assert result.problem.count == 1
    assert result.problem.since == later
    assert result.problem.codes == ((30032, 1),)
    assert result.problem.told_at == later


def test_an_empty_problem_is_not_open() -> None:
    assert not DeliveryProblem(LINE, Kind.FILTERED).is_open(NOW)


def test_twilio_s_words_are_kept_short() -> None:
    result = count(DeliveryProblem(LINE, Kind.FILTERED), code=30007, error="x" * 5000, now=NOW)
    assert len(result.problem.error) == ERROR_CHARS


def test_how_the_owner_was_told_is_written_only_on_its_own_claim() -> None:
    problem, _ = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 3)
    written = told(problem, "by e-mail to owner@acme.example", NOW)
    assert written is not None
    assert written.told == "by e-mail to owner@acme.example"
    assert written.count == 3
    # A week later another claim is under way: the first notice's outcome is not written.
    reminded = count(problem, code=30034, error="", now=NOW + REMIND).problem
    assert told(reminded, "late outcome", NOW) is None


def test_what_and_advice_name_each_code_once() -> None:
    assert what([30034]) == "blocked as unregistered (A2P 10DLC, error 30034)"
    assert what([30007]) == "filtered by the carriers as unwanted (error 30007)"
    assert what([30032, 30034]) == CODES[30032].blocked + " or " + CODES[30034].blocked
    assert what([]) == "not delivered"
    assert "A2P 10DLC brand and campaign" in advice([30034])
    assert "Toll-Free Verification" in advice([30032])
    assert advice([30034, 30034]) == advice([30034])
    assert advice([30034, 30032]) == CODES[30034].advice + "; " + CODES[30032].advice
    assert advice([30007]).count(";") == 1


def test_one_sentence_for_thirty_texts() -> None:
    problem, _ = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 30)
    problem = told(problem, "by e-mail to owner@acme.example", NOW)  # type: ignore[assignment]
    text = sentence([problem])
    assert text.startswith(
        "30 texts from +15017122661 were blocked as unregistered (A2P 10DLC, error 30034) "
        "since 2026-12-07: register an A2P 10DLC brand and campaign"
    )
    assert "The owner was told on 2026-12-07 (by e-mail to owner@acme.example)." in text
    assert text.endswith("Once fixed: python -m switchboard outbound clear +15017122661")


def test_one_sentence_over_several_lines_biggest_first() -> None:
    other = "+15017120288"
    first, _ = fail(DeliveryProblem(LINE, Kind.FILTERED), 2, code=30007)
    second, _ = fail(
        DeliveryProblem(other, Kind.FILTERED), 5, code=30007, start=NOW - timedelta(days=1)
    )
    text = sentence([first, second])
    assert text.startswith(
        "7 texts from +15017120288 (5), +15017122661 (2) were filtered by the carriers as "
        "unwanted (error 30007) since 2026-12-06:"
    )
    assert f"The owner of {other} was told on 2026-12-06 (being told)." in text
    assert text.endswith(f"outbound clear {other} {LINE}")


def test_one_text_reads_in_the_singular_and_nothing_reads_empty() -> None:
    problem, _ = fail(DeliveryProblem(LINE, Kind.REGISTRATION), 1, code=30024)
    assert sentence([problem]).startswith("1 text from +15017122661 was blocked: the sender")
    assert sentence([]) == ""
    untold = DeliveryProblem(LINE, Kind.REGISTRATION, count=1, codes=((30034, 1),))
    assert sentence([untold]) == (
        f"1 text from {LINE} was blocked as unregistered (A2P 10DLC, error 30034): "
        f"{CODES[30034].advice}. Once fixed: python -m switchboard outbound clear {LINE}"
    )
    unrecorded = DeliveryProblem(
        LINE, Kind.REGISTRATION, count=1, codes=((30034, 1),), told_at=NOW, told=""
    )
    assert "The owner was told on 2026-12-07 (not recorded)." in sentence([unrecorded])
