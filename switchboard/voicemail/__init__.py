"""Voicemail that reaches people: texts and e-mails about each voicemail a line takes.

`notices` (pure: the callback's event, the texts and their ids, the owner's summary; the
design), `emails` (pure: the e-mail delivery rows, their states, the e-mail), `outbox` (the e-mail
delivery rows in the call's CallLog partition), `notify` (the entry point the voice webhook
calls on the recording status and transcription callbacks), `mailing` (one delivery from the
`voicemail-email` queue, and its poison handler), `blueprint` (the two queue triggers).
"""
