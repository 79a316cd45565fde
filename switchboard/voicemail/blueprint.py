"""Voicemail notices by e-mail: the queue trigger and its poison handler.

- `voicemail_email` (queue `voicemail-email`): one delivery of a voicemail e-mail
  (`switchboard.voicemail.mailing.handle_message`): sends it once, or puts the message back
  with a delay (waiting for the transcript, retrying a failing mail server with backoff).
- `voicemail_email_poison` (queue `voicemail-email-poison`): the host moves a message there
  after `maxDequeueCount` failed deliveries; its delivery is recorded `failed`.

The queue name is fixed (no app setting), so an upgrade cannot leave the trigger without one.
Messages are base64 (host.json `messageEncoding`), as the app writes them. Thin on purpose:
the core is imported on the first message (cold start).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="voicemail-email", connection="AzureWebJobsStorage")
def voicemail_email(msg: func.QueueMessage) -> None:
    """Send the e-mail of one voicemail to one address, exactly once."""
    from switchboard.voicemail.mailing import handle_message

    handle_message(msg.get_body())


@bp.queue_trigger(
    arg_name="msg", queue_name="voicemail-email-poison", connection="AzureWebJobsStorage"
)
def voicemail_email_poison(msg: func.QueueMessage) -> None:
    """Record a voicemail e-mail whose deliveries kept failing as failed."""
    from switchboard.voicemail.mailing import handle_poison

    handle_poison(msg.get_body())
