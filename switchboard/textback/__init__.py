"""Missed-call text-back: a text to a caller nobody reached, with every guardrail.

`rules` (pure: what the CallLog record says, who may be texted, the message and its id) and
`service` (the entry point the call status callback calls when an inbound call ends). The
question every automatic text asks, "may I text this number now, for this purpose?", is the
outbound policy's (`switchboard.outbound`).
"""
