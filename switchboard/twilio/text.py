"""What Twilio accepts as text (pure): characters a TwiML document can carry, message limits.

Shared by every capability that answers with TwiML (voice, SMS) or sends a message (the
operator API, scheduled SMS), so each checks against the same numbers.
"""

from __future__ import annotations

import re

#: Twilio's limit for one message body (longer bodies fail with error 21617).
MAX_BODY_CHARS = 1600
#: Twilio accepts at most 10 media URLs per message.
MAX_MEDIA = 10

# Code points XML 1.0 forbids (the C0 controls except tab/LF/CR, surrogates, U+FFFE/U+FFFF):
# ElementTree would write them as they are and produce a document Twilio cannot parse.
# Compiled on first use: printable text (nearly all) holds none of them.
_XML_INVALID = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"


def is_valid_unicode(value: str) -> bool:
    """Whether `value` can be sent and stored: a lone surrogate ("\\ud800" in JSON) can be
    neither sent to Twilio nor stored in Table Storage."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def xml_safe(text: str) -> str:
    """`text` without the characters an XML 1.0 document cannot contain."""
    if text.isprintable():  # each of them is unprintable: nearly always, no new string
        return text
    if re.search(_XML_INVALID, text) is None:
        return text
    return re.sub(_XML_INVALID, "", text)
