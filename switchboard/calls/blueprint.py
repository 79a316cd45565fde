"""Outbound calls: the queue trigger, its poison handler and the operator routes for calls.

- `calls_queue` (queue `%OUTBOUND_CALL_QUEUE%`): places the call a message asks for, exactly once
  (`switchboard.calls.placing.handle_message`; README "Outbound calls"). It raises only for
  transient failures (so the host redelivers the message) and when another worker holds the
  id's lease.
- `calls_poison` (queue `%OUTBOUND_CALL_QUEUE%-poison`): the host moves a message there after
  `maxDequeueCount` deliveries; its record becomes `dead-lettered` with the last error.
- `calls` (`POST /api/calls`, `GET /api/calls?since=&limit=&until=`) and `calls_get`
  (`GET /api/calls/{id}`): auth level FUNCTION (`switchboard.calls.routes`).

Thin on purpose: each trigger passes the host's objects to the core, imported on the first call
(cold start). The Functions host resolves `%NAME%` tokens anywhere inside a binding string, so
`%OUTBOUND_CALL_QUEUE%-poison` follows the setting in Azure as in the devkit host.
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.queue_trigger(
    arg_name="msg", queue_name="%OUTBOUND_CALL_QUEUE%", connection="AzureWebJobsStorage"
)
def calls_queue(msg: func.QueueMessage) -> None:
    """Place the outbound call a queue message asks for, exactly once."""
    from switchboard.calls.placing import handle_message

    handle_message(msg.get_body(), str(msg.id), int(getattr(msg, "dequeue_count", None) or 1))


@bp.queue_trigger(
    arg_name="msg", queue_name="%OUTBOUND_CALL_QUEUE%-poison", connection="AzureWebJobsStorage"
)
def calls_poison(msg: func.QueueMessage) -> None:
    """Dead-letter the record of a call message that used up its deliveries."""
    from switchboard.calls.placing import handle_poison

    handle_poison(msg.get_body(), str(msg.id))


@bp.route(route="api/calls", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def calls(req: func.HttpRequest) -> func.HttpResponse:
    """`POST /api/calls` (enqueue a call) and `GET /api/calls` (recent calls)."""
    from switchboard.calls.routes import handle_calls

    return handle_calls(req)


@bp.route(route="api/calls/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def calls_get(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/calls/{id}`."""
    from switchboard.calls.routes import handle_get_call

    return handle_get_call(req)
