"""Who a number is: the cheap lookup every capability asks (a webhook, a notice, a listing).

    contact_for(settings, number) -> ContactRef | None   # id, name, company, blocked, tags
    display_name(contact, number) -> str                  # its name, else the masked number
    label_for(settings, number) -> str                    # both at once
    with_name(settings, number) -> str                    # "Dana Reyes (+1...)" for notes
    contacts_for(settings, numbers) -> {number: ContactRef | None}

Each instance keeps what it read of each number (its contact, or "nobody") for
`LINES_CACHE_SECONDS` (15 by default), as it keeps lines: a warm lookup reads no storage, a cold
one reads one row (the number's row of the `Contacts` table: one point read). A change made on
this instance is heard here at once (the writer updates the cache: `remember`); elsewhere
within the TTL. The cache holds at most `MAX_ENTRIES` numbers (the least recently used go),
so callers from everywhere cannot grow it without bound.

When storage cannot be read, the last known answer is kept (however old), else "nobody": a
caller is always answered (a blocked caller may then ring through until storage answers, and
no name shows), and while storage is down only one request per number and TTL waits for it.

Only numbers written as E.164 are looked up: a withheld caller (`anonymous`), a short code or
an alphanumeric sender is nobody, without a read. Nothing here imports phonenumbers or the
operator's API: a cold webhook pays for one table client, no more.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable

from switchboard.contacts.refs import ContactRef, NumberRows
from switchboard.phone import WITHHELD_LABEL, is_withheld, mask
from switchboard.settings import Settings
from switchboard.ttlcache import TtlCache

#: Numbers one instance remembers (each a few hundred bytes).
MAX_ENTRIES = 10_000
#: Point reads a listing makes at once for the numbers an instance does not remember.
PARALLEL_READS = 8
#: What may be a contact's number (the shape of E.164: the store only ever holds those).
_E164 = r"\+[1-9][0-9]{6,14}"  # compiled on first use (by `re`)

#: What the cache asks for on a miss: the number's contact, or None.
Loader = Callable[[str], ContactRef | None]

__all__ = [
    "ContactCache",
    "ContactRef",
    "cache",
    "contact_for",
    "contacts_for",
    "display_name",
    "forget_cached_contacts",
    "is_blocked",
    "label_for",
    "remember",
    "with_name",
]


class ContactCache(TtlCache[ContactRef | None]):
    """Contacts by number (None: nobody), each kept for `ttl` seconds, at most `size`
    numbers; thread-safe."""

    def __init__(
        self, ttl: float, size: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(
            ttl, missing=None, what="contact", fallback="nobody", size=size, clock=clock
        )


_lock = threading.Lock()
_caches: dict[int, ContactCache] = {}


def cache(settings: Settings) -> ContactCache:
    """This instance's contact cache (`LINES_CACHE_SECONDS`)."""
    ttl = settings.lines_cache_seconds
    with _lock:
        found = _caches.get(ttl)
        if found is None:
            found = _caches[ttl] = ContactCache(float(ttl))
        return found


def forget_cached_contacts() -> None:
    """Forget every cached contact and the caches' counts (tests)."""
    with _lock:
        for found in _caches.values():
            found.clear()


def load(number: str, settings: Settings) -> ContactRef | None:
    """The contact of `number` read from storage (one point read); storage errors propagate."""
    return NumberRows.for_calls(settings).ref_for(number)


def contact_for(settings: Settings, number: str | None) -> ContactRef | None:
    """The contact a number belongs to (None: nobody, or not a number): from this instance's
    cache, else one point read."""
    key = (number or "").strip()
    if not re.fullmatch(_E164, key):
        return None
    return cache(settings).get(key, lambda n: load(n, settings))


def contacts_for(settings: Settings, numbers: Iterable[str | None]) -> dict[str, ContactRef | None]:
    """The contacts of several numbers (a listing's page): each distinct number once; the
    numbers this instance does not remember are read in parallel (`PARALLEL_READS` at once),
    so a cold page waits about one read, not one per number."""
    keys = list(dict.fromkeys(k for k in ((n or "").strip() for n in numbers) if k))
    known = cache(settings)
    cold = [k for k in keys if re.fullmatch(_E164, k) and not known.fresh(k)]
    found: dict[str, ContactRef | None] = {}
    if len(cold) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, len(cold))) as pool:
            found.update(zip(cold, pool.map(lambda k: contact_for(settings, k), cold), strict=True))
    for key in keys:
        if key not in found:
            found[key] = contact_for(settings, key)
    return {key: found[key] for key in keys}


def is_blocked(settings: Settings, number: str | None) -> bool:
    """Whether `number` is a blocked contact's (calls rejected, texts answered with nothing)."""
    contact = contact_for(settings, number)
    return contact is not None and contact.blocked


def display_name(contact: ContactRef | None, number: str | None) -> str:
    """How a person is named to the owner: the contact's name (else company), else the
    number masked (`+1201***0123`)."""
    if contact is not None and contact.label:
        return contact.label
    if is_withheld(number):
        return WITHHELD_LABEL
    return mask(number)


def label_for(settings: Settings, number: str | None) -> str:
    """`display_name` of the contact of `number`."""
    return display_name(contact_for(settings, number), number)


def with_name(settings: Settings, number: str) -> str:
    """A number as the business's people read it in a note: ``Dana Reyes (+15558675310)``
    when a contact names it, else the number (to call back, it is always there). Never
    raises: nobody, when the contacts cannot say."""
    try:
        contact = contact_for(settings, number)
    except Exception:  # the cache keeps its own fallbacks; this is the last one
        contact = None
    return f"{contact.label} ({number})" if contact is not None and contact.label else number


def remember(settings: Settings, refs: dict[str, ContactRef | None]) -> None:
    """After a write on this instance: its numbers' contacts (None: a number it no longer
    has), heard here at once."""
    found = cache(settings)
    for number, ref in refs.items():
        found.put(number, ref)
