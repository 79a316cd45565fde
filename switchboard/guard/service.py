"""The loop guard as a service: load a subject's tallies, decide, record, with ETag retries and
this instance's memory standing in when storage is down. See the package doc for the API."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from switchboard import records
from switchboard.guard.own_numbers import OWN_NUMBERS, OwnNumbers
from switchboard.guard.rules import Policy, Purpose, Ruling, Tally, Verdict, policies, rule
from switchboard.guard.store import LOCAL, GuardStore, LocalTallies, SenderState
from switchboard.logs import get_logger
from switchboard.phone import mask
from switchboard.settings import Settings

logger = get_logger(__name__)

T = TypeVar("T")

#: Rounds of read → decide → conditional write before giving up (another instance keeps
#: answering the same subject): the automatic text is then not sent (the safe side).
ROUNDS = 3


class GuardBusy(RuntimeError):
    """Every round lost its write to another instance: send nothing automatic."""


@dataclass(frozen=True)
class Settled(Generic[T]):
    """What `LoopGuard.settle` decided, from which state, and the storage error if any (the
    decision then came from this instance's memory)."""

    result: T
    state: SenderState
    storage_error: BaseException | None = None


@dataclass(frozen=True)
class Ask:
    """One automatic text the caller would like to send."""

    purpose: Purpose
    #: Whose text or call causes it (the guard's key): the texter, the caller.
    subject: str
    #: Who would get it: the subject itself (a reply), or the owner (a forward, a notification).
    recipient: str
    #: The message or call that caused it: Twilio retrying it gets the same answer.
    sid: str | None = None


class LoopGuard:
    """Asks and records, for one app's settings (see the package doc)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store_factory: Callable[[Settings], GuardStore] = GuardStore.from_settings,
        own_numbers: OwnNumbers = OWN_NUMBERS,
        local: LocalTallies = LOCAL,
        clock: Callable[[], datetime] = records.utcnow,
        policies_: Mapping[Purpose, Policy] | None = None,
    ) -> None:
        self.settings = settings
        self.store_factory = store_factory
        self._store: GuardStore | None = None
        self.own_numbers = own_numbers
        self.local = local
        self.clock = clock
        self.policies = dict(policies_ or policies(settings))

    @property
    def store(self) -> GuardStore:
        """The guard rows (opened on first use: opening may fail when storage is down)."""
        if self._store is None:
            self._store = self.store_factory(self.settings)
        return self._store

    def ours(self, *also: str | None) -> frozenset[str]:
        """The account's own numbers (`also`: the number a message was sent to)."""
        return self.own_numbers.get(self.settings, *also)

    def settle(
        self,
        subject: str,
        decide: Callable[[SenderState], tuple[T, Mapping[Purpose, Tally]]],
    ) -> Settled[T]:
        """Read the subject's state, `decide` (pure: a result and the tallies it changes),
        write the changed tallies under the row's ETag; on a lost race read and decide again
        (at most `ROUNDS`, then GuardBusy). When storage fails, the decision is made from this
        instance's memory (and kept there): `storage_error` says so."""
        for _ in range(ROUNDS):
            try:
                state = self.store.load(subject)
            except Exception as exc:  # storage down: decide from what this instance knows
                state = SenderState(subject, tallies=self.local.get(subject), stored=False)
                result, changed = decide(state)
                self.local.put(subject, changed)
                return Settled(result, state, exc)
            result, changed = decide(state)
            if not changed:
                return Settled(result, state)
            try:
                etag = self.store.save(subject, changed, state.etag)
            except Exception as exc:  # the write failed: remember here, answer anyway
                self.local.put(subject, changed)
                return Settled(result, state, exc)
            if etag is not None:
                self.local.put(subject, changed)
                return Settled(result, state)
        raise GuardBusy(f"{mask(subject)}: {ROUNDS} writes lost to other instances")

    def ask(self, ask: Ask, *, also_own: Iterable[str | None] = ()) -> Ruling:
        """May this automatic text go out now? Yes (`Ruling.allowed`) is recorded before the
        answer. Never raises: storage trouble decides from memory, a lost race refuses."""
        own = self.ours(*also_own)
        policy = self.policies[ask.purpose]

        def decide(state: SenderState) -> tuple[Ruling, dict[Purpose, Tally]]:
            before = state.tally(ask.purpose)
            ruling = rule(
                policy,
                before,
                subject=ask.subject,
                recipient=ask.recipient,
                own_numbers=own,
                now=self.clock(),
                sid=ask.sid,
            )
            return ruling, ({} if ruling.tally == before else {ask.purpose: ruling.tally})

        try:
            settled = self.settle(ask.subject, decide)
        except GuardBusy as exc:
            logger.warning("loop guard: %s", exc)
            return Ruling(Verdict.REFUSE, "another instance is answering this subject", Tally())
        if settled.storage_error is not None:
            logger.warning(
                "loop guard: storage failed (%s); decided from this instance's memory",
                type(settled.storage_error).__name__,
            )
        return settled.result
