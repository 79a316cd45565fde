"""One way out: every text, e-mail and call the app originates passes this package.

It sits below the capabilities (they import it; it imports none of them) and above the
adapters (`switchboard.twilio`, `switchboard.storage`, `switchboard.mail`) and the shared
records (`switchboard.logbook`, `switchboard.optouts`). What it owns:

- the policy: `destinations` (our own numbers, `OUTBOUND_ALLOWED_COUNTRIES`, premium-rate,
  shared-cost, satellite and international networks), `windows` (how often one outsider may
  cause an automatic text, per line and purpose; echoes), `budget` (what a line may send
  automatically per local day and per 10 minutes, and its pause), the opt-out check;
- our own numbers (`own_numbers`: the account's, every line, `TWILIO_FROM_NUMBER`), one answer;
- the one MessageLog writer (`messagelog`) and its conversation index;
- the words of every automatic text (`wording`), by purpose;
- Twilio's codes that say a line's texts are not registered or are filtered (`problems`:
  30034, 30032, 30024, 30007): the words each record keeps, one count per line and kind, the
  owner told once (`Outbound.delivery_problem`);
- the owner's notices (`notices`: a pause, texts blocked), the report of `GET /api/health`
  (`health`), the operator's resume and clear (`routes`, `commands`).

The API (`service`):

    from switchboard.outbound.purposes import Purpose
    from switchboard.outbound.service import LineRef, Message, Outbound

    line = LineRef("+15017122661", time_zone="America/New_York", owner_numbers=(owner,))
    policy = Outbound(settings)

    # An automatic text the caller sends itself (in TwiML, or through a schedule):
    decision = policy.ask(Message(Purpose.TEXT_BACK, line, to=caller, subject=caller,
                                  key=call_sid, cause=call_sid, body=text))
    decision.allowed, decision.word          # True, "sent" / False, "skipped (daily limit)"

    # A text sent now through Twilio, recorded in MessageLog (refusals recorded too):
    sent = policy.send(Message(Purpose.RELAY, line, to=staff, subject=customer,
                               key=f"relay-{message_sid}-{staff}", body=text, media=urls))
    sent.record_id, sent.sid, sent.word

`Message` carries the purpose, the line, the recipient, the subject who caused it, the origin
(`automatic` by default for automatic purposes, `operator`, `schedule`), an idempotency key
(a retry is answered the same and counted once), the body and the media. A refusal comes back
with a reason word that the caller records on its record (``skipped (country not allowed)``,
``skipped (daily limit)``, ``skipped (texted within 24 h)``, ...): nothing is dropped in silence.
An operator's message that breaks a rule raises `service.Refused` (400 naming the rule); there
is no per-request bypass. When storage cannot be reached, automatic texts are refused (fail
closed): a budget that cannot be read cannot be kept.

A new automatic purpose: a `Purpose` member (and its `Policy` in `windows.policies` when once
a day per subject does not fit), its words in `wording`, then `ask` or `send`.
"""
