"""The replies a reminder takes, and which reminder a customer's reply answers (pure).

A scheduled SMS may carry `replies`: the short words its recipient may text back, each with what
it means, the answer the app texts back, and whether it tells the line's people:

    {"C": "confirmed", "X": "cancelled"}                                      (short form)
    {"C": {"means": "confirmed", "answer": "Thanks, see you then."},
     "X": {"means": "cancelled", "notify": true}}                              (long form)

- a key is a short token: 1-10 letters or digits, matched without regard to case (stored in
  upper case), never one of the words carriers reserve (STOP and its synonyms, START, YES,
  UNSTOP, HELP, INFO: `switchboard.optouts.rules.RESERVED_KEYWORDS`): STOP always wins;
- `means` is one word (a letter, then up to 31 letters, digits, `-` or `_`): what the schedule
  records as its `response`;
- `answer` (optional) is the text sent back; without it the app's words for the meaning
  (`switchboard.outbound.wording.reminder_answer`);
- `notify` (optional) tells the line's relay people (else its owner) that the customer answered;
  by default only a cancellation does (`means` "cancelled" or "canceled").

In a CSV import the `replies` cell is ``C=confirmed;X=cancelled`` (key ``=`` meaning, ``;``
between), or the JSON object itself when answers are wanted (`parse_cell`).

Which reminder a reply answers: a reply is a text whose whole body, trimmed and in any case, is a
key (`reply_word`). The timer keeps, per (line, customer), the reminders with replies it sent
(`Outstanding`, newest first, at most `KEEP`), on one row of the OptOut table beside the
customer's opt-out and tallies, which the SMS webhook reads anyway (`index_row_key`): so finding
the reminder costs no read of the schedules. A reply answers the most recent reminder that is
still outstanding (not answered, its `replyUntil` not over) and takes that key (`find`); a
late reply, or a word no outstanding reminder takes, is an ordinary text.

Binding a reply is one ETag-conditioned write on the schedule's id row (`binding`,
`response_properties`): of two instances given the same reply (a Twilio retry), one writes and
the other finds the reply its own (`Binding.REPEAT`: it answers the same, nothing is counted
twice); a reminder another reply answered first is no longer outstanding (`Binding.TAKEN`).

What a bound reply sends (`plan_texts`): the answer back to the customer and, when the reply
notifies, a note to each of the line's people, each through the outbound policy (destinations,
the customer's windows on the line, opt-out), as the SMS webhook's TwiML answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from switchboard import records
from switchboard.optouts.rules import RESERVED_KEYWORDS
from switchboard.outbound.destinations import Destinations
from switchboard.outbound.purposes import SENT, Purpose, skipped
from switchboard.outbound.store import SenderState
from switchboard.outbound.windows import DEFAULT_POLICY, Policy, Ruling, Tally, remember, rule
from switchboard.twilio.text import is_valid_unicode

#: The RowKey of a schedule's id row, where its response is recorded (the table's design:
#: `switchboard.schedules.rules`, which takes it from here: the SMS webhook binds replies
#: without importing the rules of sending).
ID_ROW = "schedule"
MAX_REPLIES = 10
MAX_KEY_CHARS = 10
MAX_ANSWER_CHARS = 320
KEY = re.compile(r"[A-Za-z0-9]{1,10}")
MEANING = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
#: Meanings that tell the line's people unless the reply says otherwise.
NOTIFYING = frozenset({"cancelled", "canceled"})
#: Reminders kept outstanding per (line, customer) at most (the newest).
KEEP = 5
#: The OptOut row of a (line, customer): RowKey = this prefix + the line.
INDEX_ROW_PREFIX = "reminder-"
LONG_FORM_FIELDS = frozenset({"means", "answer", "notify"})


class RepliesError(ValueError):
    """Invalid replies: `field` is the JSON pointer of the culprit (``/replies/C/means``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Choice:
    """One reply a reminder takes."""

    #: The token, upper case.
    key: str
    #: What it means (recorded as the schedule's `response`).
    means: str
    #: The text sent back (None: the app's words for the meaning).
    answer: str | None = None
    #: Whether the line's people are told.
    notify: bool = False


def _pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901: `~` and `/` escaped)."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def parse_replies(value: object, name: str = "replies") -> tuple[Choice, ...]:
    """The replies of a create request (either form); RepliesError names the field."""
    if not isinstance(value, dict):
        raise RepliesError(name, f'{name} must be an object such as {{"C": "confirmed"}}')
    if not value:
        raise RepliesError(name, f"{name} must hold at least one reply")
    if len(value) > MAX_REPLIES:
        raise RepliesError(name, f"{name} may hold at most {MAX_REPLIES} replies")
    choices: list[Choice] = []
    seen: set[str] = set()
    for raw_key, spec in value.items():
        key = _key(str(raw_key), _pointer(name, str(raw_key)))
        if key in seen:
            raise RepliesError(
                _pointer(name, str(raw_key)), f"reply {key} appears twice (keys ignore case)"
            )
        seen.add(key)
        choices.append(_choice(key, spec, _pointer(name, str(raw_key))))
    return tuple(choices)


def _key(raw: str, where: str) -> str:
    key = raw.upper()
    if not KEY.fullmatch(raw) and key not in RESERVED_KEYWORDS:
        raise RepliesError(
            where, f"a reply must be 1 to {MAX_KEY_CHARS} letters or digits, such as C or Y1"
        )
    if key in RESERVED_KEYWORDS:
        raise RepliesError(
            where,
            f"{key} is a word carriers reserve (STOP, START, HELP and their synonyms): "
            "choose another reply",
        )
    return key


def _meaning(value: object, where: str) -> str:
    if not isinstance(value, str) or not MEANING.fullmatch(value):
        raise RepliesError(
            where,
            "a meaning is one word (a letter, then up to 31 letters, digits, - or _), "
            "such as confirmed",
        )
    return value


def _choice(key: str, spec: object, where: str) -> Choice:
    if isinstance(spec, str):
        means = _meaning(spec, where)
        return Choice(key, means, None, means.lower() in NOTIFYING)
    if not isinstance(spec, dict):
        raise RepliesError(
            where, 'a reply is a meaning ("confirmed") or an object {"means", "answer"?, "notify"?}'
        )
    for name in spec:
        if name not in LONG_FORM_FIELDS:
            raise RepliesError(
                _pointer(*_parts(where), str(name)),
                f"unknown field {name!r} (means, answer, notify)",
            )
    if "means" not in spec:
        raise RepliesError(_pointer(*_parts(where), "means"), "means is required")
    means = _meaning(spec["means"], _pointer(*_parts(where), "means"))
    answer = spec.get("answer")
    if answer is not None:
        answer_at = _pointer(*_parts(where), "answer")
        if not isinstance(answer, str) or not answer.strip():
            raise RepliesError(answer_at, "answer must be a non-empty text")
        if not is_valid_unicode(answer):
            raise RepliesError(answer_at, "answer must be valid Unicode text")
        if len(answer) > MAX_ANSWER_CHARS:
            raise RepliesError(answer_at, f"answer must be at most {MAX_ANSWER_CHARS} characters")
    notify = spec.get("notify", means.lower() in NOTIFYING)
    if not isinstance(notify, bool):
        raise RepliesError(_pointer(*_parts(where), "notify"), "notify must be true or false")
    return Choice(key, means, answer, notify)


def _parts(pointer: str) -> list[str]:
    """The unescaped parts of a pointer `_pointer` made."""
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def parse_cell(text: str) -> tuple[Choice, ...]:
    """A CSV `replies` cell: ``C=confirmed;X=cancelled``, or the JSON object of the API."""
    raw = text.strip()
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RepliesError("replies", f"replies is not valid JSON ({exc.msg})") from None
        return parse_replies(value)
    value_map: dict[str, str] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        key, sep, means = part.partition("=")
        if not sep:
            raise RepliesError(
                "replies", f"{part.strip()!r} is not KEY=meaning (such as C=confirmed;X=cancelled)"
            )
        key = key.strip()
        if key.upper() in {k.upper() for k in value_map}:
            raise RepliesError(_pointer("replies", key), f"reply {key.upper()} appears twice")
        value_map[key] = means.strip()
    return parse_replies(value_map)


def cell_text(choices: Sequence[Choice]) -> str:
    """The replies as a CSV cell `parse_cell` reads back: the short form when every reply has
    the defaults of its meaning, else the JSON object."""
    if all(c.answer is None and c.notify == (c.means.lower() in NOTIFYING) for c in choices):
        return ";".join(f"{c.key}={c.means}" for c in choices)
    return stored(choices)


def as_json(choices: Sequence[Choice]) -> dict[str, dict[str, Any]]:
    """The long form of the replies (an answer only when one was given)."""
    shown: dict[str, dict[str, Any]] = {}
    for choice in choices:
        item: dict[str, Any] = {"means": choice.means}
        if choice.answer is not None:
            item["answer"] = choice.answer
        item["notify"] = choice.notify
        shown[choice.key] = item
    return shown


def stored(choices: Sequence[Choice]) -> str:
    """The replies as kept on the schedule's rows (canonical JSON: also its fingerprint)."""
    return json.dumps(as_json(choices), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def from_stored(raw: object) -> tuple[Choice, ...]:
    """The replies `stored` wrote (an empty tuple for anything else)."""
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return ()
    if not isinstance(value, dict):
        return ()
    found: list[Choice] = []
    for key, item in value.items():
        if not isinstance(item, dict) or not isinstance(item.get("means"), str):
            continue
        answer = item.get("answer")
        found.append(
            Choice(
                str(key).upper(),
                item["means"],
                answer if isinstance(answer, str) else None,
                bool(item.get("notify")),
            )
        )
    return tuple(found)


def reply_word(body: str | None) -> str | None:
    """The key a text could be (its whole body trimmed, upper case), or None when it cannot be
    a reply (more than one word, punctuation, a reserved word)."""
    word = (body or "").strip()
    if not KEY.fullmatch(word):
        return None
    word = word.upper()
    return None if word in RESERVED_KEYWORDS else word


# --------------------------------------------------------------------------------------------
# The outstanding reminders of a (line, customer)


def index_row_key(line: str) -> str:
    """The RowKey of a (line, customer)'s outstanding reminders, in the customer's partition
    of the OptOut table (the line: the number the reminders went out from, or the Messaging
    Service that sent them)."""
    return INDEX_ROW_PREFIX + line.strip()


def index_row_keys(to: str, messaging_service: str | None) -> tuple[str, ...]:
    """The rows a text to `to` may answer: the number's, and its Messaging Service's (a
    reminder a Messaging Service sent without a known sender)."""
    keys = [index_row_key(to)] if to.strip() else []
    if messaging_service:
        keys.append(index_row_key(messaging_service))
    return tuple(k for k in keys if records.is_valid_key(k))


@dataclass(frozen=True)
class Outstanding:
    """A reminder with replies, as sent to one customer from one line."""

    schedule_id: str
    sent_at: datetime
    until: datetime
    choices: tuple[Choice, ...]
    #: The MessageSid of the reply that answered it (None: not answered).
    responded: str | None = None

    def takes(self, word: str, now: datetime, sid: str | None = None) -> Choice | None:
        """The choice `word` makes, when this reminder is outstanding at `now` (or was answered
        by the message `sid` itself: Twilio retrying it)."""
        if (self.responded is not None and self.responded != sid) or now >= self.until:
            return None
        return next((c for c in self.choices if c.key == word), None)


def _entry_json(entry: Outstanding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.schedule_id,
        "sentAt": records.iso(entry.sent_at),
        "until": records.iso(entry.until),
        "replies": as_json(entry.choices),
    }
    if entry.responded:
        item["responded"] = entry.responded
    return item


def _instant(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def index_entries(row: Mapping[str, Any] | None) -> tuple[Outstanding, ...]:
    """The reminders an index row holds, newest first (unreadable items skipped)."""
    try:
        items = json.loads(str((row or {}).get("Reminders") or "[]"))
    except ValueError:
        return ()
    found: list[Outstanding] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        sent_at, until = _instant(item.get("sentAt")), _instant(item.get("until"))
        if not isinstance(item.get("id"), str) or sent_at is None or until is None:
            continue
        responded = item.get("responded")
        found.append(
            Outstanding(
                item["id"],
                sent_at,
                until,
                from_stored(json.dumps(item.get("replies") or {})),
                responded if isinstance(responded, str) and responded else None,
            )
        )
    return tuple(sorted(found, key=lambda e: e.sent_at, reverse=True))


def index_properties(entries: Iterable[Outstanding]) -> dict[str, Any]:
    """The properties of an index row holding `entries`."""
    return {
        "Reminders": json.dumps(
            [_entry_json(e) for e in entries], separators=(",", ":"), ensure_ascii=False
        )
    }


def with_sent(
    entries: Sequence[Outstanding], sent: Outstanding, now: datetime
) -> tuple[Outstanding, ...]:
    """The entries once `sent` went out: it replaces an entry of the same schedule (a recovered
    send), answered and expired ones leave, the newest `KEEP` stay."""
    kept = [
        e
        for e in entries
        if e.schedule_id != sent.schedule_id and e.responded is None and e.until > now
    ]
    merged = sorted([sent, *kept], key=lambda e: e.sent_at, reverse=True)
    return tuple(merged[:KEEP])


@dataclass(frozen=True)
class Match:
    """The reminder a reply answers, and what the reply means."""

    entry: Outstanding
    choice: Choice


def find(
    entries: Sequence[Outstanding], word: str | None, now: datetime, sid: str | None = None
) -> Match | None:
    """The most recent outstanding reminder that takes `word` (None: an ordinary text); a
    reminder the message `sid` answered already counts as outstanding for it (a retry)."""
    if word is None:
        return None
    for entry in sorted(entries, key=lambda e: e.sent_at, reverse=True):
        choice = entry.takes(word, now, sid)
        if choice is not None:
            return Match(entry, choice)
    return None


def answered(
    entries: Sequence[Outstanding], schedule_id: str, sid: str | None
) -> tuple[Outstanding, ...]:
    """The entries with `schedule_id` marked answered by message `sid` (None: the schedule is
    gone, its entry leaves)."""
    if sid is None:
        return tuple(e for e in entries if e.schedule_id != schedule_id)
    return tuple(replace(e, responded=sid) if e.schedule_id == schedule_id else e for e in entries)


# --------------------------------------------------------------------------------------------
# The response, on the schedule's id row


class Binding(StrEnum):
    """What binding a reply to a schedule does, from its id row."""

    #: Not answered yet: write the response (ETag-conditioned).
    BIND = "bind"
    #: This very message answered it (a Twilio retry, or another instance was first).
    REPEAT = "repeat"
    #: Another message answered it first: this one is an ordinary text.
    TAKEN = "taken"
    #: The schedule is not there.
    GONE = "gone"


def binding(id_row: Mapping[str, Any] | None, sid: str) -> Binding:
    """What to do with the schedule whose id row is `id_row` for the reply `sid`."""
    if id_row is None:
        return Binding.GONE
    bound = id_row.get("ResponseSid")
    if not bound:
        return Binding.BIND
    return Binding.REPEAT if bound == sid else Binding.TAKEN


def response_properties(choice: Choice, sid: str, now: datetime) -> dict[str, Any]:
    """What the id row records of the reply that answered the schedule."""
    return {
        "Response": choice.means,
        "ResponseKey": choice.key,
        "ResponseSid": sid,
        "RespondedAt": now,
    }


# --------------------------------------------------------------------------------------------
# What a bound reply sends, through the outbound policy


@dataclass(frozen=True)
class Text:
    """A text a bound reply sends (in the SMS webhook's TwiML)."""

    to: str
    body: str
    purpose: Purpose


@dataclass(frozen=True)
class Plan:
    """The texts a bound reply may send now, the word of each one wanted (``sent`` or
    ``skipped (why)``), the window tallies it changes, the sent digests to keep (None:
    unchanged) and the budget keys of the texts (charged to the line before answering)."""

    texts: tuple[Text, ...]
    words: dict[Purpose, str]
    tallies: dict[Purpose, Tally] = field(default_factory=dict)
    sent: tuple[str, ...] | None = None
    charges: tuple[str, ...] = ()

    def refused(self, reason: str) -> Plan:
        """The plan with every text refused for `reason` (the line's budget said no)."""
        words = {p: w if w != SENT else skipped(reason) for p, w in self.words.items()}
        return Plan((), words)


def plan_texts(
    *,
    sid: str,
    customer: str,
    line: str,
    answer: str,
    notice: str | None,
    notify: Sequence[str],
    state: SenderState,
    destinations: Destinations,
    policies: Mapping[Purpose, Policy],
    now: datetime,
) -> Plan:
    """The answer to the customer and (`notice`, when the reply notifies) the note to each of
    `notify`: each recipient the outbound policy allows (its destination check), the customer's
    windows on the line (a retry of the same reply is let through again and counted once), and
    never an answer to a customer who has opted out."""
    texts: list[Text] = []
    words: dict[Purpose, str] = {}
    tallies: dict[Purpose, Tally] = {}
    charges: list[str] = []
    sent = state.sent
    also = (line,)

    def window(purpose: Purpose) -> Ruling:
        before = state.tally(purpose)
        ruling = rule(policies.get(purpose, DEFAULT_POLICY), before, now=now, sid=sid)
        if ruling.tally != before:
            tallies[purpose] = ruling.tally
        return ruling

    purpose = Purpose.REMINDER_ANSWER
    problem = destinations.problem(customer, also_own=also)
    if state.opt_out is not None:
        words[purpose] = skipped("opted out")
    elif problem is not None:
        words[purpose] = skipped(problem)
    else:
        ruling = window(purpose)
        if ruling.allowed:
            texts.append(Text(customer, answer, purpose))
            words[purpose] = SENT
            charges.append(f"{sid}-{purpose.value}")
            if not ruling.repeat:
                sent = remember(sent, answer)
        else:
            words[purpose] = skipped(ruling.reason)
    if notice is not None and notify:
        purpose = Purpose.REMINDER_NOTICE
        reachable = [
            n for n in dict.fromkeys(notify) if destinations.problem(n, also_own=also) is None
        ]
        if not reachable:
            words[purpose] = skipped("no one to tell")
        else:
            ruling = window(purpose)
            if ruling.allowed:
                words[purpose] = SENT
                for person in reachable:
                    texts.append(Text(person, notice, purpose))
                    charges.append(f"{sid}-{purpose.value}-{person}")
            else:
                words[purpose] = skipped(ruling.reason)
    return Plan(tuple(texts), words, tallies, sent if sent != state.sent else None, tuple(charges))
