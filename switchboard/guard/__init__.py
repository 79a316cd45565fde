"""The loop guard: may the app text this number now, for this purpose? (issue 14, item 2)

Nothing an outsider sends may make the app text (or call) at will. Every automatic message (an
SMS auto-reply, the HELP answer, a forward to the owner; later a missed-call text-back, a
voicemail notification, a ring group's text) asks the guard first, and the guard answers from
rules users of a phone system expect: an auto-responder answers you once, not every message; the
owner hears about every customer, but a stranger cannot make the owner's phone buzz without
limit; machines (short codes, brand senders, our own numbers) are never answered. Shared by
every capability that sends automatic texts (it sits below them; it imports none of them).

What it decides (`rules`, pure):

- per *subject* (the outsider whose text or call causes the message: the texter, the caller)
  and *purpose* (`Purpose`), at most `Policy.limit` messages per `Policy.window`, counted from
  the window's first message; a policy with `digest` sends one more message when the limit is
  reached (the "further texts are only logged" line) and counts what it holds back, so the next
  window's first message can say how many were held;
- never to one of the account's own numbers, never for a subject that is one of them (our own
  message coming back), never to an address that cannot usefully be texted (a short code, an
  alphanumeric sender ID); `is_echo` recognises a body that is one of our own automatic texts;
- a retry of the message (or call) it last let through, by SID, gets the same yes.

Policies today (`rules.policies(settings)`): `auto-reply` and `help`, 1 per
`SMS_AUTO_REPLY_WINDOW` (default 12 h); `forward`, `SMS_FORWARD_DAILY_CAP` (default 10) per 24 h
with a digest. The guard cannot be turned off.

Where it keeps its tallies (`store`): one row per subject in the `OptOut` table (PartitionKey =
the subject as Twilio writes it, RowKey `guard`), beside the subject's opt-out, so one partition
query (`GuardStore.load`) returns both; written under the row's ETag, so two instances never
both send; when storage is down, `store.LOCAL` (this instance's last known tallies, bounded)
stands in. The account's numbers (`own_numbers.OWN_NUMBERS`): `TWILIO_FROM_NUMBER`, the number
a message was sent to, and the IncomingPhoneNumbers read from Twilio every 10 minutes.

API for a new automatic message (issue 18: add a `Purpose` member and its `Policy` in
`rules.policies`, then):

    from switchboard.guard.rules import Purpose
    from switchboard.guard.service import Ask, LoopGuard

    guard = LoopGuard(settings)
    ruling = guard.ask(
        Ask(Purpose.MISSED_CALL, subject=caller, recipient=caller, sid=call_sid),
        also_own=[called_number],   # the number that was called is ours
    )
    if ruling.allowed:          # Verdict.SEND (or DIGEST: send the digest text instead)
        ...send it...
    else:                       # Verdict.HOLD / REFUSE; ruling.reason says why (log it)
        ...

`ask` reads, decides and records in one go (the tally is written before it answers yes) and
never raises: storage trouble decides from this instance's memory, a write lost three times to
other instances answers REFUSE. A handler that must read more of the subject's partition in the
same trip (the SMS webhook reads the opt-out with the tallies) uses `LoopGuard.settle(subject,
decide)` with a pure `decide(SenderState) -> (result, changed tallies)`, and `rules.rule` /
`rules.rule_all` directly.
"""
