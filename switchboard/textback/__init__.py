"""Missed-call text-back: a text to a caller nobody reached, with every guardrail.

`rules` (pure: what the CallLog record says, who may be texted, the message and its id),
`windows` (at most one text per caller and window, across instances: the "may I text this
number now, for this purpose?" interface and its Table Storage form), `service` (the entry
point the call status callback calls when an inbound call ends).
"""
