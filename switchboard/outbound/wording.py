"""The words of every text and e-mail the app writes by itself, by purpose (pure).

One module so that a line's language can one day choose another set (every function takes the
facts, already formatted, and returns the text), and so that nothing else depends on these
words: echo detection compares bodies with what was recorded as sent, never with a pattern of
this wording (`switchboard.outbound.windows.is_echo`).

- `HELP_DEFAULT`: the answer to HELP / INFO when `SMS_HELP_TEXT` is not set;
- `TEXT_BACK_DEFAULT`: a line's missed-call text-back when its `textBack.message` is not set;
- `forward`, `forward_digest`: a customer's text forwarded to the owner, and the one line the
  owner gets when a texter reaches the daily cap;
- `voicemail_sms`, `voicemail_email_subject`, `voicemail_email_lines`, `transcript_note`: the
  notices of a voicemail;
- `paused_sms`, `paused_email_subject`, `paused_email_lines`: the owner's one notice that a
  line's automatic texts paused;
- `problem_sms`, `problem_email_subject`, `problem_email_lines`: the owner's notice that a
  line's texts are not registered or are filtered (Twilio's 30034, 30007, ...);
- `sign_in_code`: an inbox sign-in code (by SMS or e-mail);
- `relay`, `relay_digest`: a customer's text as the line's relay people get it ("[Dana Reyes
  #A7] text"), and the one line they get once a texter nobody answered reaches the daily cap;
  `RELAY_HELP`, `relay_list`, `relay_closed`, `relay_unknown_tag`, `RELAY_NOTHING_TO_ANSWER`,
  `relay_empty`, `relay_not_sent`, `relay_stopped`: the answers to a relay person's commands;
- `reminder_answer`, `reminder_notice`: the answer to a customer's reply to a reminder (when
  the reminder names none), and the note to the line's people that a customer answered one;
- `callback_missed`, `callback_missed_notice`: a call back from a line's queue that the caller
  did not answer (to the caller, and to the queue's people).

The app's own labels for missing facts are here too (`WITHHELD_CALLER`, `YOUR_LINE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from switchboard.phone import WITHHELD_LABEL
from switchboard.twilio.text import MAX_BODY_CHARS

HELP_DEFAULT = "Reply STOP to unsubscribe, START to resubscribe. Msg&data rates may apply."
TEXT_BACK_DEFAULT = "Sorry we missed your call. We will call you back as soon as we can."
#: How notices name a caller who withheld their number (the label the voice flow speaks too).
WITHHELD_CALLER = WITHHELD_LABEL
#: How notices name a line with neither a name nor a number.
YOUR_LINE = "your line"


def fit(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


# --------------------------------------------------------------------------------------------
# Forwards (Purpose.FORWARD)


def forward(
    sender: str,
    body: str,
    *,
    attachments: int = 0,
    held: int = 0,
    held_since: datetime | None = None,
) -> str:
    """A customer's text as the owner gets it: who sent it, then the body (and a note on
    attachments); the first forward after the daily cap says how many were held since when."""
    head = f"From {sender}: "
    if held:
        since = f" since {held_since:%Y-%m-%d %H:%M} UTC" if held_since else ""
        head += f"(+{held} earlier text{'s' if held != 1 else ''} not forwarded{since}) "
    text = body.strip()
    if attachments:
        note = f"[{_plural(attachments, 'attachment')}]"
        text = f"{text} {note}" if text else note
    return fit(head + text)


def forward_digest(sender: str, forwarded: int, since: datetime | None, until: datetime) -> str:
    """The one line the owner gets instead of a forward once a texter reaches the daily cap."""
    start = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
    return fit(
        f"From {sender}: {forwarded} texts forwarded{start}; further texts from this number "
        f"until {until:%Y-%m-%d %H:%M} UTC are only logged (see GET /api/messages)"
    )


# --------------------------------------------------------------------------------------------
# Voicemail notices (Purpose.VOICEMAIL, Purpose.VOICEMAIL_EMAIL)


def voicemail_sms(
    line: str,
    caller: str,
    duration: str | None,
    listen: str | None,
    transcript: str | None = None,
) -> str:
    """ "Voicemail on Main line from +1 201-555-0123 (0:37): <transcript> Listen: <URL>"
    (without a transcript: "... (0:37). Listen: ..."), at most one message long."""
    head = f"Voicemail on {line} from {caller}"
    if duration:
        head += f" ({duration})"
    tail = f" Listen: {listen}" if listen else ""
    if not transcript:
        return fit(head + "." + tail)
    room = MAX_BODY_CHARS - len(head) - len(tail) - 2
    if len(transcript) > room:
        transcript = transcript[: max(0, room - 1)] + "…"
    return fit(f"{head}: {transcript}{tail}")


def voicemail_email_subject(caller: str, line: str, duration: str | None) -> str:
    """ "Voicemail from +1 201-555-0123 on Main line (0:37)"."""
    return f"Voicemail from {caller} on {line}" + (f" ({duration})" if duration else "")


def transcript_note(transcript: str | None, status: str | None, transcribe: bool) -> str:
    """What the e-mail says under "Transcript"."""
    if transcript:
        return transcript
    if status == "failed":
        return "(Twilio could not transcribe this message)"
    if status == "completed":
        return "(the transcript is empty)"
    if transcribe:
        return "(no transcript arrived in time)"
    return "(transcription is off for this line)"


def voicemail_email_lines(
    *,
    where: str,
    caller: str,
    when: str | None,
    duration: str | None,
    transcript: str,
    attachment: str | None,
    missing_audio: str | None,
    listen: str | None,
    call_sid: str,
) -> list[str]:
    """The body of a voicemail e-mail, line by line."""
    lines = [
        f"New voicemail on {where}.",
        "",
        f"From:       {caller}",
        f"When:       {when or '(unknown)'}",
        f"Duration:   {duration or '(unknown)'}",
        "Transcript:",
        f"  {transcript}",
        "",
    ]
    if attachment:
        lines.append(f"The recording is attached ({attachment}).")
    elif missing_audio:
        lines.append(f"The recording is not attached: {missing_audio}.")
    if listen:
        lines.append(f"Listen online (your Twilio login may be asked): {listen}")
    lines.append(f"Call: {call_sid}")
    return lines


# --------------------------------------------------------------------------------------------
# The owner's notice that a line paused (Purpose.BUDGET_NOTICE)


def paused_sms(line: str, reason: str, sent: int, resumes: str) -> str:
    """The one text the owner gets when a line's automatic texts pause."""
    return fit(
        f"Switchboard paused the automatic texts of {line} ({reason}) after "
        f"{_plural(sent, 'text')} today. They resume {resumes}, or now with: "
        f"python -m switchboard outbound resume {line}"
    )


def paused_email_subject(line: str, reason: str) -> str:
    """The subject of the owner's e-mail when a line pauses."""
    return f"Automatic texts of {line} paused ({reason})"


def paused_email_lines(
    line: str, reason: str, sent: int, resumes: str, why: Sequence[str] = ()
) -> list[str]:
    """The body of the owner's e-mail when a line pauses."""
    return [
        f"Switchboard paused the automatic texts of {line}: {reason}.",
        "",
        f"Automatic texts sent today: {sent}",
        f"They resume {resumes}.",
        *why,
        "",
        "Auto-replies, forwards, text-backs and voicemail texts of this line are skipped until",
        "then; each one skipped is recorded on its call or message. Calls are still answered",
        "and voicemail e-mails still go (within their own daily limit).",
        "",
        "If this traffic is yours, resume the line now:",
        f"  python -m switchboard outbound resume {line}",
        f"  POST /api/outbound/lines/{line}/resume (with the function key)",
        "If it is not (SMS pumping: texts to numbers someone else is paid for), keep it paused,",
        "and check the Messaging Service's SMS Pumping Protection and the Messaging Geo",
        "Permissions in the Twilio Console.",
    ]


# --------------------------------------------------------------------------------------------
# The owner's notice that a line's texts are blocked (Purpose.DELIVERY_NOTICE)


def _failed(count: int, line: str, what: str, since: str) -> str:
    verb = "was" if count == 1 else "were"
    return f"{_plural(count, 'text')} from {line} {verb} {what} since {since}"


def problem_sms(line: str, count: int, what: str, since: str, until: str) -> str:
    """The text the owner gets (from another of the business's numbers) when a line's texts
    are blocked: what happened, where to read what to do, when they hear of it again."""
    return fit(
        f"Switchboard: {_failed(count, line, what, since)}: they do not arrive. What to do: "
        f"python -m switchboard health. Not repeated before {until} unless cleared."
    )


def problem_email_subject(line: str, problem: str) -> str:
    """The subject of the owner's e-mail: ``Texts from +1... are not delivered: ...``."""
    return f"Texts from {line} are not delivered: {problem}"


def problem_email_lines(
    line: str,
    count: int,
    what: str,
    since: str,
    advice: str,
    until: str,
    error: str = "",
) -> list[str]:
    """The body of the owner's e-mail when a line's texts are blocked."""
    lines = [
        f"Switchboard: {_failed(count, line, what, since)}.",
        "",
        "The carriers do not deliver them until this is fixed. Every text stays in the",
        "message log with the reason (GET /api/messages, python -m switchboard messages list).",
    ]
    if error:
        lines.append(f"Twilio says: {error}")
    lines += [
        "",
        "What to do:",
        f"  {advice}.",
        "",
        "GET /api/health and python -m switchboard health count the texts blocked since then.",
        f"You will not get this notice again before {until}; once it is fixed, clear it:",
        f"  python -m switchboard outbound clear {line}",
    ]
    return lines


# --------------------------------------------------------------------------------------------
# Inbox sign-in codes (Purpose.SIGN_IN_CODE)


def sign_in_code(code: str, minutes: int) -> str:
    """The words of a sign-in code (SMS and e-mail alike)."""
    return (
        f"{code} is your Switchboard inbox code. It works once, for {minutes} minutes. "
        "If you did not ask for it, ignore this message."
    )


# --------------------------------------------------------------------------------------------
# The relay from the owner's phone (Purpose.RELAY, and the answers to a relay person)


def relay(label: str, tag: str, body: str, *, attachments: int = 0) -> str:
    """A customer's text as a relay person gets it: ``[Dana Reyes #A7] text`` (the media go
    as media; a text of media alone says how many)."""
    text = body.strip()
    if not text and attachments:
        text = f"({_plural(attachments, 'attachment')})"
    return fit(f"[{label} #{tag}] {text}")


def relay_digest(label: str, tag: str, relayed: int, until: datetime) -> str:
    """The one line relay people get instead of a text once a texter nobody answered reaches
    the daily cap."""
    return fit(
        f"[{label} #{tag}] {_plural(relayed, 'text')} relayed today; their further texts until "
        f"{until:%Y-%m-%d %H:%M} UTC are only in the conversation (answer with #{tag} to relay "
        "them again)"
    )


#: The answer to ``help`` from a relay person.
RELAY_HELP = (
    "Reply to relay your text to the customer of the last text you got. #A7 your text: to "
    "conversation #A7. #A7 done: close it. list: the open conversations. The customer only "
    "ever sees this number."
)
#: A reply with no conversation to go to.
RELAY_NOTHING_TO_ANSWER = (
    "No conversation to answer yet: start your text with its tag (#A7 ...), or text list."
)


def relay_list(entries: Sequence[tuple[str, str, int, str]]) -> str:
    """The answer to ``list``: (tag, who, unread, last text) of the recent open conversations."""
    if not entries:
        return "No open conversations."
    parts = []
    for tag, who, unread, preview in entries:
        note = f" ({unread} unread)" if unread else ""
        short = preview if len(preview) <= 40 else preview[:39] + "…"
        parts.append(f"#{tag} {who}{note}: {short}")
    return fit("Open: " + " | ".join(parts))


def relay_closed(tag: str) -> str:
    """The answer to ``#A7 done``."""
    return f"#{tag} closed. A new text from them opens it again."


def relay_unknown_tag(tag: str) -> str:
    """A tag no conversation of the line has."""
    return f"No conversation #{tag} on this line. Text list for the open ones."


def relay_empty(tag: str) -> str:
    """``#A7`` with nothing after it."""
    return f"Nothing to send: write #{tag} then your text."


def relay_not_sent(tag: str, reason: str) -> str:
    """A reply that did not reach the customer, and why."""
    return fit(f"Not sent to #{tag}: {reason}.")


def relay_stopped(tag: str) -> str:
    """Why a reply to a customer who opted out was not sent."""
    return relay_not_sent(tag, "they opted out (texted STOP); they must text START first")


# --------------------------------------------------------------------------------------------
# Replies to reminders (Purpose.REMINDER_ANSWER, Purpose.REMINDER_NOTICE)

#: The answers to the meanings most reminders use; any other: `reminder_answer`'s own words.
REMINDER_ANSWERS = {
    "confirmed": "Thanks, you are confirmed. See you then.",
    "cancelled": "Thanks for letting us know: it is cancelled.",
    "canceled": "Thanks for letting us know: it is canceled.",
}


def reminder_answer(means: str) -> str:
    """The text back to a customer whose reply to a reminder meant `means` (a reminder's own
    `answer` replaces it)."""
    return REMINDER_ANSWERS.get(means.lower(), f"Thanks, we have your answer: {means}.")


def reminder_notice(customer: str, key: str, means: str, schedule_id: str, reminder: str) -> str:
    """What a line's people get when a customer answers a reminder: who, what, to which."""
    return fit(f'{customer} replied {key} ({means}) to reminder {schedule_id}: "{reminder}"')


# --------------------------------------------------------------------------------------------
# A call back nobody answered (Purpose.CALLBACK to the caller, Purpose.VOICEMAIL to the people)


def callback_missed(line: str) -> str:
    """The caller's text when the call back they asked for went unanswered."""
    return fit(
        f"{line} called you back as you asked, but could not reach you. Please call us again."
    )


def callback_missed_notice(line: str, caller: str, waited: str) -> str:
    """The queue's people's note of a call back the caller did not answer."""
    return fit(
        f"Missed call back on {line}: {caller} asked to be called back (waited {waited} in "
        "line) and did not answer. They got a text asking them to call again."
    )
