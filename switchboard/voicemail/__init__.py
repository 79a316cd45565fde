"""Voicemail that reaches people: texts and e-mails about each voicemail a line takes.

`notices` (pure: the texts, the e-mail, the ids, the delivery states), `outbox` (the e-mail
delivery rows in the call's CallLog partition), `notify` (the entry point the voice webhook
calls on the recording status and transcription callbacks), `mailing` (one delivery from the
`voicemail-email` queue, and its poison handler), `blueprint` (the two queue triggers).
"""
