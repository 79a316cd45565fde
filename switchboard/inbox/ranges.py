"""Byte ranges (RFC 9110 `Range: bytes=...`), as a browser's audio element asks for them when
it starts and seeks (pure).

Only one range is taken (what media elements send); a header this cannot read, or several
ranges, means the whole file, as the RFC lets a server do. `cut` gives the part of a whole
file and its `Content-Range`, for a media host that answered the whole file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"bytes=(?:([0-9]{1,15})-([0-9]{0,15})|-([0-9]{1,15}))")


@dataclass(frozen=True)
class ByteRange:
    """`first`-`last` (inclusive; `last` None: to the end), or the last `suffix` bytes."""

    first: int | None = None
    last: int | None = None
    suffix: int | None = None


def parse(header: str | None) -> ByteRange | None:
    """The one range a `Range` header asks for (None: the whole file)."""
    if not header:
        return None
    found = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if found is None:
        return None
    first, last, suffix = found.groups()
    if suffix is not None:
        return ByteRange(suffix=int(suffix)) if int(suffix) > 0 else None
    start = int(first)
    end = int(last) if last else None
    if end is not None and end < start:
        return None
    return ByteRange(first=start, last=end)


def cut(content: bytes, wanted: ByteRange) -> tuple[bytes, str] | None:
    """(the part, its `Content-Range`) of `content`; None when the range starts past the end
    (416)."""
    size = len(content)
    if wanted.suffix is not None:
        start = max(0, size - wanted.suffix)
        stop = size
    else:
        start = wanted.first or 0
        stop = size if wanted.last is None else min(size, wanted.last + 1)
    if start >= size or stop <= start:
        return None
    return content[start:stop], f"bytes {start}-{stop - 1}/{size}"
