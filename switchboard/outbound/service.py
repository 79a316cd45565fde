"""The outbound policy at work: may this go out, now? (and, for REST sends, send it).

See the package doc for the API. `Outbound` resolves what every check needs once (our own
numbers, the allowed countries, the policies) and answers:

- `ask(message)`: an automatic text the caller sends itself (in TwiML, or through a
  schedule): the destination, the subject's window on the line (and the recipient's opt-out
  when the recipient is the subject: one partition read), then the line's budget; the tally
  and the charge are written before the answer. Never raises: storage trouble refuses
  (``skipped (storage unavailable)``: fail closed).
- `send(message)`: the same checks, then Twilio, then the MessageLog record (a refused text
  is recorded ``skipped`` with its reason). For an operator's message (`Origin.OPERATOR`,
  `Origin.SCHEDULE`) the destination and the opt-out are checked and refusals raise
  (`Refused`, `optout.OptedOut`), so the route can answer 400 naming the rule.
- `settle(subject, line, decide)` and `charge(line, keys)`: the two halves of `ask`, for a
  handler deciding several texts of one subject in one read and one write (the SMS webhook).
- `trip(line, reason)`: a Twilio refusal that means fraud pauses the line (`twilio_error`).
- `send_once(message)`: `send` at most once per `message.key`, across Twilio's retries and
  instances (`switchboard.outbound.once`); `charge_relays(line, key, count)`: the line's relay
  ceiling (`budget.charge_relays`).
- `delivery_problem(number, code, ...)`: a text Twilio did not deliver because its sender is
  not registered or it was filtered (30034, 30007, ...: `problems`) is counted on the line's
  problem row, and the owner is told once (`_tell_problem`), never per message.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from switchboard import records
from switchboard.http import ApiError
from switchboard.logbook.statuses import Kind, status_callback_url
from switchboard.logs import get_logger
from switchboard.optouts import rules as optout
from switchboard.outbound import budget as budgets
from switchboard.outbound import notices, problems, wording
from switchboard.outbound.budget import Budget, Charge, Limits
from switchboard.outbound.destinations import Destinations, explain, resolve
from switchboard.outbound.own_numbers import OWN_NUMBERS, OwnNumbers
from switchboard.outbound.problems import DeliveryProblem
from switchboard.outbound.purposes import (
    ORIGINS,
    SENT,
    UNBUDGETED,
    Channel,
    Origin,
    Purpose,
    skipped,
)
from switchboard.outbound.store import (
    BudgetStore,
    Contended,
    ProblemStore,
    SenderState,
    SubjectStore,
    problem_key,
)
from switchboard.outbound.windows import (
    DEFAULT_POLICY,
    Policy,
    Ruling,
    Tally,
    policies,
    remember,
    rule,
)
from switchboard.phone import mask
from switchboard.settings import Settings, callback_origin

logger = get_logger(__name__)

T = TypeVar("T")

STORAGE_UNAVAILABLE = "storage unavailable"
BUSY = "another instance is answering"
OPTED_OUT = "opted out"


class Refused(ValueError):
    """An operator's message the policy refuses: `reason` names the rule, `allowed` the
    countries allowed (for the message)."""

    def __init__(self, reason: str, to: str, allowed: str = "") -> None:
        self.reason = reason
        self.to = to
        self.allowed = allowed
        super().__init__(f"{mask(to)}: {reason}")

    def api_error(self, field_name: str = "to") -> ApiError:
        """400 naming the field and the rule (`destination_not_allowed`)."""
        return ApiError(
            400,
            "destination_not_allowed",
            f"{field_name}: {explain(self.reason, self.allowed)}",
            field_name,
            extra={"reason": self.reason},
        )


@dataclass(frozen=True)
class LineRef:
    """The line a message goes out for: its number (the sender; its budget), its zone (its
    local day), how notices name it, and who hears that its automatic texts paused."""

    number: str
    #: The line's zone (its document's; "UTC" for a line without one); None: not known here,
    #: the zone its budget was kept in (`budget.rolled`).
    time_zone: str | None = None
    name: str | None = None
    owner_numbers: tuple[str, ...] = ()
    owner_emails: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The line as the owner's notice names it."""
        return self.number or self.name or wording.YOUR_LINE


@dataclass(frozen=True)
class Message:
    """One message to send (or to ask about). The API later capabilities call:

    - `purpose`: what it is for (`Purpose`); `origin` defaults to the purpose's;
    - `line`: the line it goes out for (`LineRef`);
    - `to`: the recipient; `subject`: the outsider whose text or call caused it (its window);
    - `key`: the message's idempotency key (a retry with the same key is answered the same and
      counted once); `cause`: the SID of the text or call that caused it (the window's retry);
    - `body`, `media`; `policy`: the subject's window when the purpose's default does not fit
      (a line's own `textBack.windowHours`); `also_own`: numbers the request shows are ours.
    """

    purpose: Purpose
    line: LineRef
    to: str
    subject: str | None = None
    origin: Origin | None = None
    key: str | None = None
    cause: str | None = None
    body: str = ""
    media: tuple[str, ...] = ()
    policy: Policy | None = None
    channel: Channel = Channel.SMS
    also_own: tuple[str, ...] = ()

    @property
    def effective_origin(self) -> Origin:
        """`origin`, else the purpose's."""
        return self.origin or ORIGINS[self.purpose]

    @property
    def budgeted(self) -> bool:
        """Whether the line's budget counts it (automatic, and not the notice itself)."""
        return self.effective_origin is Origin.AUTOMATIC and self.purpose not in UNBUDGETED


@dataclass(frozen=True)
class Decision:
    """Allowed, or why not (`reason`); `ruling`: the subject window's verdict."""

    allowed: bool
    reason: str | None = None
    ruling: Ruling | None = None

    @property
    def word(self) -> str:
        """What a record keeps: ``sent`` or ``skipped (<reason>)``."""
        return SENT if self.allowed else skipped(self.reason or "refused")


ALLOW = Decision(True)


def refuse(reason: str) -> Decision:
    """A refusal and its reason."""
    return Decision(False, reason)


@dataclass(frozen=True)
class Settled(Generic[T]):
    """What `Outbound.settle` decided, and from which state."""

    result: T
    state: SenderState


@dataclass(frozen=True)
class Sent:
    """What `Outbound.send` did: the record's id, Twilio's SID and status, the word."""

    record_id: str
    sid: str | None
    status: str
    word: str
    #: Found done (or being done) under its key: nothing was sent by this call.
    repeat: bool = False


Decide = Callable[[SenderState], tuple[T, Mapping[Purpose, Tally], tuple[str, ...] | None]]


@dataclass
class Outbound:
    """The outbound policy for one app's settings (see the module doc)."""

    settings: Settings
    subjects: Callable[[Settings], SubjectStore] = SubjectStore.from_settings
    budget_rows: Callable[[Settings], BudgetStore] = BudgetStore.from_settings
    problem_rows: Callable[[Settings], ProblemStore] = ProblemStore.from_settings
    own_numbers: OwnNumbers = OWN_NUMBERS
    clock: Callable[[], datetime] = records.utcnow
    policies: dict[Purpose, Policy] = field(default_factory=dict)
    _destinations: Destinations | None = None

    def __post_init__(self) -> None:
        if not self.policies:
            self.policies = policies(self.settings)

    # --- what every check needs -------------------------------------------------------------

    def ours(self, *also: str | None) -> frozenset[str]:
        """Our own numbers (`also`: numbers the request shows are ours)."""
        return self.own_numbers.get(self.settings, *also)

    @property
    def destinations(self) -> Destinations:
        """Our own numbers and the allowed countries (resolved on first use)."""
        if self._destinations is None:
            self._destinations = resolve(self.ours(), self.settings.outbound_allowed_countries)
        return self._destinations

    def problem(self, message: Message) -> str | None:
        """Why the destination is refused (None: it is not)."""
        return self.destinations.problem(
            message.to, channel=message.channel, also_own=(message.line.number, *message.also_own)
        )

    def policy(self, message: Message) -> Policy:
        """The subject window of a message."""
        return message.policy or self.policies.get(message.purpose, DEFAULT_POLICY)

    # --- automatic texts -----------------------------------------------------------------------

    def settle(
        self, subject: str, line: str, decide: Decide[T], first: SenderState | None = None
    ) -> Settled[T]:
        """Read the subject's state on `line`, `decide` (pure: a result, the tallies it
        changes, the sent digests to keep or None), write the change under the row's ETag; on a
        lost race read and decide again. `first`: the state as the caller just read it (the
        first round decides on it without reading). Raises `Contended` after every round lost,
        and storage errors (the caller refuses: fail closed)."""
        store = self.subjects(self.settings)
        for _ in range(5):
            state, first = first or store.load(subject, line), None
            result, changed, sent = decide(state)
            if not changed and sent is None:
                return Settled(result, state)
            if store.save(subject, line, changed, sent, state.etag) is not None:
                return Settled(result, state)
        raise Contended(f"{mask(subject)}: every write lost to other instances")

    def charge(self, line: LineRef, keys: Sequence[str]) -> Decision:
        """Count automatic texts against the line's budget (one write for all of them): all
        allowed, or none with the reason. A charge that pauses the line sends the owner's
        notice. Never raises: storage trouble refuses."""
        if not keys:
            return ALLOW
        limits = Limits.from_settings(self.settings)
        now = self.clock()

        def decide(budget: Budget) -> tuple[Charge, Budget]:
            current = budget
            last: Charge | None = None
            for key in keys:
                last = budgets.charge(
                    current, key=key, now=now, time_zone=line.time_zone, limits=limits
                )
                current = last.budget
                if not last.allowed:
                    break
            assert last is not None
            return last, current

        try:
            result = self.budget_rows(self.settings).change(line.number, decide)
        except Exception as exc:  # storage down or contended: fail closed
            logger.warning(
                "outbound: the budget of %s could not be charged (%s): nothing automatic sent",
                mask(line.number),
                type(exc).__name__,
            )
            return refuse(BUSY if isinstance(exc, Contended) else STORAGE_UNAVAILABLE)
        if result.tripped:
            self._paused(line, result.budget)
        return ALLOW if result.allowed else refuse(result.reason or budgets.DAILY_LIMIT)

    def charge_email(self, line: LineRef, key: str) -> Decision:
        """Count one voicemail e-mail against the line's daily e-mail ceiling. Never raises
        (storage trouble allows: the e-mail row itself needs storage, which then answers)."""
        limits = Limits.from_settings(self.settings)
        now = self.clock()

        def decide(budget: Budget) -> tuple[Charge, Budget]:
            result = budgets.charge_email(
                budget, key=key, now=now, time_zone=line.time_zone, limits=limits
            )
            return result, result.budget

        try:
            result = self.budget_rows(self.settings).change(line.number, decide)
        except Exception as exc:
            logger.warning(
                "outbound: the e-mail ceiling of %s could not be checked (%s)",
                mask(line.number),
                type(exc).__name__,
            )
            return ALLOW
        return ALLOW if result.allowed else refuse(result.reason or budgets.EMAIL_LIMIT)

    def charge_relays(self, line: LineRef, key: str, count: int) -> Decision:
        """Count `count` copies of one relayed text (`key`: the text's) against the line's
        relay ceiling: all allowed, or none with the reason. Never raises: storage trouble
        refuses (fail closed, as every automatic text)."""
        if count < 1:
            return ALLOW
        limits = Limits.from_settings(self.settings)
        now = self.clock()

        def decide(budget: Budget) -> tuple[Charge, Budget]:
            result = budgets.charge_relays(
                budget, key=key, count=count, now=now, time_zone=line.time_zone, limits=limits
            )
            return result, result.budget

        try:
            result = self.budget_rows(self.settings).change(line.number, decide)
        except Exception as exc:
            logger.warning(
                "outbound: the relay ceiling of %s could not be charged (%s): nothing relayed",
                mask(line.number),
                type(exc).__name__,
            )
            return refuse(BUSY if isinstance(exc, Contended) else STORAGE_UNAVAILABLE)
        return ALLOW if result.allowed else refuse(result.reason or budgets.RELAY_LIMIT)

    def ask(self, message: Message) -> Decision:
        """May this automatic text go out now? The window's tally and the budget's charge are
        written before a yes. Never raises (see the module doc)."""
        problem = self.problem(message)
        if problem is not None:
            return refuse(problem)
        subject = message.subject
        if subject is not None and self.destinations.is_ours(subject, (message.line.number,)):
            return refuse("the cause is one of our numbers")
        ruling: Ruling | None = None
        if subject is not None:
            policy = self.policy(message)
            cause = message.cause or message.key
            now = self.clock()

            def decide(
                state: SenderState,
            ) -> tuple[Ruling | None, dict[Purpose, Tally], tuple[str, ...] | None]:
                if message.to == subject and state.opt_out is not None:
                    return None, {}, None  # opted out: nothing counted
                before = state.tally(message.purpose)
                found = rule(policy, before, now=now, sid=cause)
                changed = {} if found.tally == before else {message.purpose: found.tally}
                sent = None
                if found.allowed and not found.repeat and message.to == subject and message.body:
                    sent = remember(state.sent, message.body)
                return found, changed, sent

            try:
                settled = self.settle(subject, message.line.number, decide)
            except Exception as exc:  # storage down or contended: fail closed
                logger.warning(
                    "outbound: %s for %s not decided (%s): not sent",
                    message.purpose.value,
                    mask(subject),
                    type(exc).__name__,
                )
                return refuse(BUSY if isinstance(exc, Contended) else STORAGE_UNAVAILABLE)
            ruling = settled.result
            if ruling is None:
                return refuse(OPTED_OUT)
            if not ruling.allowed:
                return Decision(False, ruling.reason, ruling)
        if message.budgeted:
            charged = self.charge(message.line, [self._key(message)])
            if not charged.allowed:
                return Decision(False, charged.reason, ruling)
        return Decision(True, None, ruling)

    @staticmethod
    def _key(message: Message) -> str:
        """The budget key of a message: its key, else its cause and recipient."""
        base = message.key or message.cause or uuid.uuid4().hex
        return f"{base}>{message.to}" if message.key is None else base

    # --- sending -------------------------------------------------------------------------------

    def sender(self, line: LineRef) -> tuple[str | None, str | None]:
        """(From, MessagingServiceSid) of a text of `line`: the line's number (with the
        Messaging Service when set), else the Messaging Service alone, else
        TWILIO_FROM_NUMBER."""
        service = self.settings.twilio_messaging_service_sid
        if line.number:
            return line.number, service
        return (None if service else self.settings.twilio_from_number), service

    def require(
        self, to: str, *, channel: Channel = Channel.SMS, also_own: Iterable[str] = ()
    ) -> None:
        """An operator's destination: `Refused` naming the rule when the policy refuses it
        (there is no per-request bypass: the country list is the setting)."""
        problem = self.destinations.problem(to, channel=channel, also_own=tuple(also_own))
        if problem is not None:
            raise Refused(problem, to, self.destinations.describe())

    def check_operator(self, message: Message, lookup: optout.OptOutLookup | None) -> None:
        """An operator's message: the destination (`Refused`) and, for a text, the opt-out
        (`optout.OptedOut`, `optout.OptOutCheckFailed`)."""
        self.require(message.to, channel=message.channel, also_own=message.also_own)
        if message.channel is Channel.SMS and lookup is not None:
            optout.ensure_can_text(message.to, lookup)

    def send(
        self,
        message: Message,
        *,
        status_callback: str | None = None,
        source: str | None = None,
        lookup: optout.OptOutLookup | None = None,
        client: Any = None,
        store: Any = None,
    ) -> Sent:
        """Send a text now through Twilio and record it (see the module doc). Twilio's errors
        propagate after the refused send is recorded (and its opt-out or trip applied)."""
        from switchboard.logbook.store import RecordStore
        from switchboard.outbound.messagelog import STATUS_SKIPPED, record_outbound
        from switchboard.twilio import client as twilio_client

        origin = message.effective_origin
        source = source or origin.value
        from_, service = self.sender(message.line)
        log = store if store is not None else RecordStore.messages(self.settings)
        line_number = message.line.number or from_ or service or ""

        def keep(status: str, **fields: Any) -> Any:
            return record_outbound(
                log,
                fields.pop("sid", None),
                message.to,
                from_,
                message.body,
                message.media,
                source,
                status=status,
                purpose=message.purpose,
                origin=origin,
                line=line_number,
                **fields,
            )

        if origin is Origin.AUTOMATIC:
            decision = self.ask(message)
            if not decision.allowed:
                record_id = "skipped-" + uuid.uuid4().hex
                keep(STATUS_SKIPPED, record_id=record_id, reason=decision.reason)
                return Sent(record_id, None, STATUS_SKIPPED, decision.word)
        else:
            self.check_operator(message, lookup)
        rest = client if client is not None else twilio_client.get_client(self.settings)
        created = self._create_sms(
            rest, message, from_, service, status_callback, line_number, keep
        )
        try:
            keep(created.status, sid=created.sid)
        except Exception as exc:
            # The text is on its way: failing now would make the caller send it twice.
            logger.error(
                "Message %s was sent but not recorded in MessageLog: %s",
                created.sid,
                type(exc).__name__,
            )
        return Sent(created.sid, created.sid, created.status, SENT)

    def send_once(
        self,
        message: Message,
        *,
        callback_origin: str | None = None,
        lookup: optout.OptOutLookup | None = None,
        client: Any = None,
        store: Any = None,
        settled: bool = False,
        author: str | None = None,
        source: str | None = None,
    ) -> Sent:
        """Send a text at most once per `message.key` (required) and record it under that key
        (`switchboard.outbound.once`). A key found done answers its outcome (`repeat`), one
        being sent by another instance answers ``sending``; nothing is sent twice.

        The policy is `send`'s: an automatic text is asked (`ask`), unless the caller `settled`
        it already (its window and the line's ceiling decided for several texts at once: the
        destination and, with `lookup`, the recipient's opt-out are still checked); an
        operator's raises `Refused` / `optout.OptedOut` after the refusal is recorded. The
        status callback (from `callback_origin`) names the record (``?id=<key>``). Twilio's
        errors propagate after a definite refusal is recorded; a transient one leaves the
        claim in doubt (the next try asks Twilio before sending).
        """
        from switchboard.logbook.statuses import Kind, status_callback_url
        from switchboard.logbook.store import RecordStore
        from switchboard.outbound import once
        from switchboard.outbound.messagelog import (
            STATUS_SKIPPED,
            claim_outbound,
            outbound_fields,
            record_outbound,
            take_over,
        )
        from switchboard.twilio import client as twilio_client

        key = message.key
        if not key:
            raise ValueError("send_once needs a message key")
        origin = message.effective_origin
        source = source or origin.value
        from_, service = self.sender(message.line)
        log = store if store is not None else RecordStore.messages(self.settings)
        line_number = message.line.number or from_ or service or ""
        now = self.clock()
        fields = outbound_fields(
            sid=None,
            to=message.to,
            from_=from_,
            body=message.body,
            media=message.media,
            source=source,
            status=once.CLAIMED,
            sent_at=now,
            purpose=message.purpose,
            origin=origin,
            line=line_number,
            author=author,
        )
        claim = claim_outbound(log, key, fields, now)
        rest: Any = None

        def twilio() -> Any:
            nonlocal rest
            if rest is None:
                rest = client if client is not None else twilio_client.get_client(self.settings)
            return rest

        def finished(record: Mapping[str, Any]) -> Sent:
            sid = record.get("Sid")
            return Sent(
                key,
                str(sid) if sid else None,
                str(record.get("Status") or ""),
                once.word_of(record),
                repeat=True,
            )

        found = once.judge(None if claim.new else claim.record, now)
        if found is once.Found.DONE:
            return finished(claim.record)
        if found is once.Found.BUSY:
            return Sent(key, None, once.CLAIMED, "sending", repeat=True)
        if found is once.Found.DOUBT:
            gone = twilio_client.find_sent(
                twilio(),
                to=message.to,
                body=message.body,
                since=once.asked_since(claim.record, now),
            )
            if gone is not None:
                kept = record_outbound(
                    log,
                    gone.sid,
                    message.to,
                    from_,
                    message.body,
                    message.media,
                    source,
                    status=gone.status or "sent",
                    record_id=key,
                    purpose=message.purpose,
                    origin=origin,
                    line=line_number,
                    author=author,
                )
                return finished(kept or {"Sid": gone.sid, "Status": gone.status})
            taken = take_over(log, claim, now)
            if taken is None:
                return Sent(key, None, once.CLAIMED, "sending", repeat=True)
            claim = taken

        current: Any = claim.record if _has_etag(claim.record) else None

        def keep(status: str, **more: Any) -> Any:
            nonlocal current
            kept = record_outbound(
                log,
                more.pop("sid", None),
                message.to,
                from_,
                message.body,
                message.media,
                source,
                status=status,
                record_id=key,
                purpose=message.purpose,
                origin=origin,
                line=line_number,
                author=author,
                current=current,
                **more,
            )
            current = None
            return kept

        def refused(reason: str) -> Sent:
            keep(STATUS_SKIPPED, reason=reason)
            return Sent(key, None, STATUS_SKIPPED, skipped(reason))

        if origin is Origin.AUTOMATIC and not settled:
            decision = self.ask(message)
            if not decision.allowed:
                return refused(decision.reason or "refused")
        elif origin is Origin.AUTOMATIC:
            problem = self.problem(message)
            if problem is not None:
                return refused(problem)
            if lookup is not None:
                try:
                    optout.ensure_can_text(message.to, lookup)
                except optout.OptedOut:
                    return refused(OPTED_OUT)
                except optout.OptOutCheckFailed:
                    return refused(STORAGE_UNAVAILABLE)
        else:
            try:
                self.check_operator(message, lookup)
            except Refused as exc:
                keep(STATUS_SKIPPED, reason=exc.reason)
                raise
            except optout.OptedOut:
                keep(STATUS_SKIPPED, reason=OPTED_OUT)
                raise
        callback = (
            status_callback_url(callback_origin, Kind.MESSAGE, key) if callback_origin else None
        )

        def failed(status: str, **more: Any) -> Any:
            more.pop("record_id", None)  # the claim's record is this text's already
            return keep(status, **more)

        created = self._create_sms(twilio(), message, from_, service, callback, line_number, failed)
        try:
            keep(created.status, sid=created.sid)
        except Exception as exc:
            # The text is on its way: its claim says so after its lease (Twilio is asked).
            logger.error(
                "Message %s was sent but not recorded in MessageLog: %s",
                created.sid,
                type(exc).__name__,
            )
        return Sent(key, created.sid, created.status, SENT)

    def _create_sms(
        self,
        rest: Any,
        message: Message,
        from_: str | None,
        service: str | None,
        status_callback: str | None,
        line_number: str,
        keep: Callable[..., Any],
    ) -> Any:
        """Ask Twilio to create the text; a refusal (not a transient failure) is recorded with
        `keep` and charged to the line it was sent from (`twilio_refused`), then re-raised."""
        from switchboard.twilio import client as twilio_client
        from switchboard.twilio.errors import classify_twilio_error

        try:
            return twilio_client.send_sms(
                rest,
                to=message.to,
                body=message.body,
                from_=from_,
                messaging_service_sid=service,
                status_callback=status_callback,
                media_urls=list(message.media) or None,
            )
        except Exception as exc:
            failure = classify_twilio_error(exc)
            if not failure.transient and failure.status is not None:
                # The line whose budget a fraud code pauses: the number it was sent from.
                line = dataclasses.replace(message.line, number=line_number)
                self.twilio_refused(
                    dataclasses.replace(message, line=line), failure.code, failure.message, keep
                )
            raise

    def twilio_refused(
        self, message: Message, code: int | None, text: str, keep: Callable[..., Any]
    ) -> None:
        """Record a send Twilio refused (failed, with its code), its opt-out (21610), and the
        line's trip for a fraud or geo-permission code. Never raises."""
        from switchboard.optouts.store import OptOutStore

        try:
            if code == 21610:
                OptOutStore.from_settings(self.settings).opt_out(
                    message.to, optout.How.TWILIO_21610
                )
            keep(
                "failed",
                record_id="refused-" + uuid.uuid4().hex,
                error_code=code,
                error_message=text,
            )
        except Exception as exc:
            logger.error("A refused message could not be recorded: %s", type(exc).__name__)
        self.twilio_error(message.line, code, text)

    # --- the line's budget -----------------------------------------------------------------------

    def twilio_error(self, line: LineRef, code: int | None, error: str = "") -> bool:
        """A Twilio error code on any send of `line`: a fraud or geo-permission refusal trips
        the line (True); a code that means the text is not registered or was filtered is
        counted as the line's delivery problem (`delivery_problem`). Never raises."""
        if problems.kind_of(code) is not None:
            self.delivery_problem(line.number, code, error=error, line=line)
            return False
        reason = budgets.twilio_trip_reason(code)
        if reason is None:
            return False
        self.trip(line, reason)
        return True

    # --- texts not registered or filtered ------------------------------------------------------

    def delivery_problem(
        self,
        number: str,
        code: int | None,
        *,
        error: str = "",
        line: LineRef | Callable[[], LineRef] | None = None,
    ) -> bool:
        """Count a text of the line `number` that Twilio refused or did not deliver with a code
        that means not registered or filtered (`problems.CODES`): one conditional write of the
        line's problem row (one round trip on an instance that knows the row). The failure
        whose write claims the owner's notice sends it (`_tell_problem`) and writes how it
        went; `line` (or a function giving it, called only then) names the owner. True when
        this failure told the owner. Never raises."""
        kind = problems.kind_of(code)
        if kind is None or code is None:
            return False
        now = self.clock()
        key = problem_key(kind, number)

        def decide(found: DeliveryProblem) -> tuple[problems.Counted, DeliveryProblem]:
            counted = problems.count(found, code=code, error=error, now=now)
            return counted, counted.problem

        try:
            rows = self.problem_rows(self.settings)
            counted: problems.Counted = rows.change(key, decide)
        except Exception as exc:
            logger.error(
                "outbound: a text of %s %s was not counted (%s)",
                mask(number),
                problems.problem_of(code),
                type(exc).__name__,
            )
            return False
        problem = counted.problem
        logger.warning(
            "outbound: a text of %s was %s: %d since %s",
            mask(number),
            problems.what((code,)),
            problem.count,
            problem.since and records.iso(problem.since),
        )
        if not counted.tell:
            return False
        try:
            ref = line() if callable(line) else line
        except Exception as exc:  # the line's document could not be read: settings' owners
            logger.warning("outbound: the line of %s not read (%s)", mask(number), type(exc))
            ref = None
        how = self._tell_problem(ref or LineRef(number), problem)

        def record(found: DeliveryProblem) -> tuple[None, DeliveryProblem | None]:
            return None, problems.told(found, how, problem.told_at)

        try:
            rows.change(key, record)
        except Exception as exc:
            logger.error(
                "outbound: how the owner of %s was told not recorded (%s)",
                mask(number),
                type(exc).__name__,
            )
        return True

    def notice_sender(self, blocked: str, avoid: Iterable[str] = ()) -> str | None:
        """Another of our numbers to text the owner from when `blocked`'s texts are blocked:
        `TWILIO_FROM_NUMBER`, else the account's other numbers, none of `avoid` (numbers whose
        own texts are blocked as not registered); None: there is none."""
        try:
            ours = sorted(self.ours())
        except Exception:
            ours = []
        skip = {blocked, *avoid}
        for candidate in (self.settings.twilio_from_number, *ours):
            if candidate and candidate not in skip and candidate.startswith("+"):
                return candidate
        return None

    def _unregistered(self) -> set[str]:
        """The lines whose texts are blocked as not registered now (none when unknown)."""
        try:
            found = self.delivery_problems()
        except Exception:
            return set()
        return {p.line for p in found if p.kind is problems.Kind.REGISTRATION}

    def _tell_problem(self, line: LineRef, problem: DeliveryProblem) -> str:
        """The owner's notice of a delivery problem: an e-mail where SMTP is set, and a text
        from another of our numbers where there is one (never from the blocked line). What
        reached the owner, or why nothing could: the words `problem.told` keeps."""
        settings = self.settings
        reached: list[str] = []
        missed: list[str] = []
        emails = line.owner_emails or owners([settings.owner_email])
        if emails and settings.smtp_host:
            failed = notices.email_problem(settings, emails, line.label, problem)
            if failed is None:
                reached.append("by e-mail to " + ", ".join(emails))
            else:
                missed.append(f"the e-mail {failed}")
        else:
            missed.append("no e-mail (SMTP or an owner address is not set)")
        numbers = line.owner_numbers or owners([settings.owner_number])
        sender = self.notice_sender(line.number, self._unregistered()) if numbers else None
        if not numbers:
            missed.append("no owner number to text")
        elif sender is None:
            missed.append("no other number to text from (the line's own texts are blocked)")
        else:
            stamp = records.iso(problem.told_at or self.clock())
            origin = callback_origin(settings)
            try:
                sent = self.send(
                    Message(
                        Purpose.DELIVERY_NOTICE,
                        dataclasses.replace(line, number=sender),
                        numbers[0],
                        key=f"delivery-{problem.kind.value}-{line.number}-{stamp}",
                        body=notices.problem_text(line.label, problem),
                    ),
                    # Followed like any text: if the notice is blocked too, it is counted.
                    status_callback=status_callback_url(origin, Kind.MESSAGE) if origin else None,
                    source="automatic",
                )
                if sent.word == SENT:
                    reached.append(f"by text to {numbers[0]} from {sender}")
                else:
                    missed.append(f"the text {sent.word}")
            except Exception as exc:
                missed.append(f"the text failed ({type(exc).__name__})")
        how = "; ".join(reached) if reached else "could not be delivered: " + "; ".join(missed)
        log = logger.warning if reached else logger.error
        log(
            "outbound: the owner of %s was told of its %s problem: %s",
            mask(line.number),
            problem.kind.value,
            "yes" if reached else "no",
        )
        return how

    def delivery_problems(self) -> list[DeliveryProblem]:
        """Every line's delivery problem still on (a failure within `problems.QUIET`): one
        query. Storage errors raise."""
        now = self.clock()
        found = self.problem_rows(self.settings).all().values()
        return sorted((p for p in found if p.is_open(now)), key=lambda p: (p.kind, p.line))

    def clear_problems(self, number: str) -> int:
        """The operator's "it is fixed": forget the line's problems (the next failure counts
        from one and tells the owner again). How many were cleared; storage errors raise."""
        rows = self.problem_rows(self.settings)
        return sum(rows.delete(problem_key(kind, number)) for kind in problems.Kind)

    def trip(self, line: LineRef, reason: str) -> bool:
        """Pause the line's automatic texts for `reason`; True when this paused it (the owner's
        notice went). Never raises."""
        now = self.clock()

        def decide(budget: Budget) -> tuple[tuple[bool, Budget], Budget]:
            changed, tripped = budgets.trip(budget, reason, now=now, time_zone=line.time_zone)
            return (tripped, changed), changed

        try:
            tripped, budget = self.budget_rows(self.settings).change(line.number, decide)
        except Exception as exc:
            logger.error(
                "outbound: could not pause %s for %s (%s)",
                mask(line.number),
                reason,
                type(exc).__name__,
            )
            return False
        if tripped:
            self._paused(line, budget)
        return tripped

    def resume(self, line: LineRef) -> Budget:
        """The operator's resume (see `budget.resume`); storage errors raise."""
        now = self.clock()

        def decide(budget: Budget) -> tuple[Budget, Budget]:
            resumed = budgets.resume(budget, now=now, time_zone=line.time_zone)
            return resumed, resumed

        result: Budget = self.budget_rows(self.settings).change(line.number, decide)
        logger.warning(
            "outbound: the automatic texts of %s resumed by the operator", mask(line.number)
        )
        return result

    def budgets(self) -> dict[str, Budget]:
        """Every line's budget as of now (storage errors raise)."""
        now = self.clock()
        return {
            line: budgets.rolled(found, now, found.time_zone)
            for line, found in self.budget_rows(self.settings).all().items()
        }

    def _paused(self, line: LineRef, budget: Budget) -> None:
        """The owner's one notice that `line` paused (`notices`): a text to the line's owner
        (else `OWNER_NUMBER`) through this same path and, where SMTP is set, an e-mail to its
        owner's addresses (else `OWNER_EMAIL`). Never raises (each failure is logged)."""
        logger.warning(
            "outbound: automatic texts of %s paused (%s) after %d today",
            mask(line.number),
            budget.paused,
            budget.sent,
        )
        settings = self.settings
        numbers = line.owner_numbers or owners([settings.owner_number])
        emails = line.owner_emails or owners([settings.owner_email])
        stamp = records.iso(budget.paused_at or self.clock())
        for owner in numbers[:1]:
            try:
                sent = self.send(
                    Message(
                        Purpose.BUDGET_NOTICE,
                        line,
                        owner,
                        key=f"paused-{line.number}-{stamp}",
                        body=notices.paused_text(line.label, budget, budget.time_zone),
                    ),
                    source="automatic",
                )
                logger.warning(
                    "outbound: the owner %s was told that %s paused (%s)",
                    mask(owner),
                    mask(line.number),
                    sent.word,
                )
            except Exception as exc:
                logger.error(
                    "outbound: the owner's text about the pause of %s failed (%s)",
                    mask(line.number),
                    type(exc).__name__,
                )
        notices.email_paused(settings, emails, line.label, budget, budget.time_zone)


def _has_etag(record: Any) -> bool:
    metadata = getattr(record, "metadata", None)
    return isinstance(metadata, Mapping) and bool(metadata.get("etag"))


def outbound(settings: Settings, **overrides: Any) -> Outbound:
    """The outbound policy of `settings` (tests override its stores, numbers and clock)."""
    return Outbound(settings, **overrides)


def owners(numbers: Iterable[str | None]) -> tuple[str, ...]:
    """The distinct numbers given, in order (a line's owner contacts)."""
    return tuple(dict.fromkeys(n for n in numbers if n))
