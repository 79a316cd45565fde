"""Callers who wait: the dispatch queue's trigger and the queue's timer.

- `callqueue_dispatch` (queue `call-queue-dispatch`, a fixed name: no setting is needed for its
  trigger): ring the free people of one line's queue while callers wait
  (`switchboard.callqueue.service.dispatch`); the voice webhooks ask for one when a caller
  joins, a callback is kept or a person's call ends.
- `callqueue_timer` (every minute): every line with something live is dispatched (callbacks
  due at an opening, offers that lapsed), lapsed callback connections are closed, idle Twilio
  queues deleted (`switchboard.callqueue.service.tick`).

Thin on purpose: the core is imported on the first call (cold start).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.queue_trigger(
    arg_name="msg", queue_name="call-queue-dispatch", connection="AzureWebJobsStorage"
)
def callqueue_dispatch(msg: func.QueueMessage) -> None:
    """Ring the free people of a line's queue while callers wait."""
    from switchboard.callqueue.service import handle_dispatch

    handle_dispatch(msg.get_body())


@bp.timer_trigger(
    schedule="0 */1 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True
)
def callqueue_timer(timer: func.TimerRequest) -> None:
    """Dispatch every live line, close lapsed callbacks, delete idle Twilio queues."""
    from switchboard.callqueue.service import run_timer

    run_timer()
