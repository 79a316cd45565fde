"""What the line's budget costs the SMS webhook: storage round trips, counted against Azurite.

The budget of automatic texts is a row per line, written under its ETag so that no increment is
lost across instances; each instance keeps the row it last wrote and writes its next change
under that ETag at once. The claim: an automatic text costs at most one storage round trip more
than without a budget, and a webhook that sends nothing automatic costs none.

Measured side by side in one run, through the function the host calls for
`POST /api/sms/incoming` (signed requests, the real stores on Azurite, every table request
counted on the clients' own transport: `devkit.storage_counter`):

- automatic: `TEXTS` texts, each from a new sender (so each gets the auto-reply), on a warm
  instance (its tables, its own numbers, the line and its budget row already known), ÷ the same
  texts with the budget's charge taken out (the floor: everything else the webhook does);
  figure = (requests with the budget − requests without) ÷ texts. Goal ≤ 1;
- nothing automatic: the same senders texting again within their window (no auto-reply due),
  with and without the budget; figure = the difference ÷ texts. Goal = 0.

Shown beside them: the webhook's whole round trips per text in each case, and what the first
automatic text of an instance costs (the budget row read once).

Lines and senders' contacts stay cached for the whole run (`LINES_CACHE_SECONDS` at its
maximum): the runs compared must see the same warm instance, however long a busy machine takes
between them (a refresh once per TTL is the voice benchmark's figure).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import azure.functions as func

from bench.figures import Figure, Goal, goals
from bench.services import signed_text
from devkit.azurite import Azurite
from devkit.storage_counter import RequestCounter, counting_table_requests
from switchboard import settings as settings_module
from switchboard.lines import lookup as lines
from switchboard.outbound import service as outbound_service
from switchboard.outbound.own_numbers import OWN_NUMBERS
from switchboard.outbound.store import WARM
from switchboard.sms import blueprint as sms_bp

GOALS = goals(
    {
        "outbound.budget_round_trips_per_automatic_text": Goal("<=", 1.0),
        "outbound.budget_round_trips_per_webhook_without_automatic_text": Goal("==", 0),
    }
)
TEXTS = 200
TOKEN = "bench-outbound-token-0123456789abcdef"
URL = "http://localhost:7071/api/sms/incoming"
LINE = "+15017122661"


def _environment(connection: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "AzureWebJobsStorage": connection,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": LINE,
        "SMS_AUTO_REPLY": "Thanks, we will text you back soon.",
        "TABLE_MESSAGE_LOG": "benchmsg" + tag,
        "TABLE_OPT_OUT": "benchopt" + tag,
        "TABLE_LINES": "benchlines" + tag,
        # A limit no run reaches: the figure is the cost of counting, not of refusing.
        "AUTOMATIC_SMS_DAILY_LIMIT": "100000",
        # The runs compare warm texts: no cached line or sender's contact may expire between a
        # run and the one it is compared with. With the default 15 s a busy machine let the
        # first senders' contacts expire before their second run (0.445 extra round trips a
        # text in one run of three); a refresh's own cost is the voice benchmark's figure.
        "LINES_CACHE_SECONDS": "3600",
        "AUTOMATIC_SMS_BURST_LIMIT": "500",
    }


def _request(sender: str) -> func.HttpRequest:
    return signed_text(URL, TOKEN, sender, LINE, "Hello, is the shop open on Sunday?")


def _texts(counter: RequestCounter, senders: list[str], *, answered: bool) -> int:
    """Post one text from each sender; the table requests they made."""
    requests = [_request(sender) for sender in senders]
    counter.reset()
    for request in requests:
        response = sms_bp.sms_incoming(request)
        if response.status_code != 200:
            raise RuntimeError(f"answered {response.status_code}")
        got_reply = b"<Message>" in response.get_body()
        if got_reply != answered:
            raise RuntimeError(f"auto-reply {got_reply}, expected {answered}")
    return counter.total()


@contextmanager
def _without_budget() -> Iterator[None]:
    """The same webhook with the budget's charge taken out (every text allowed, no I/O)."""
    original: Callable[..., Any] = outbound_service.Outbound.charge
    outbound_service.Outbound.charge = lambda self, line, keys: outbound_service.ALLOW  # type: ignore[method-assign]
    try:
        yield
    finally:
        outbound_service.Outbound.charge = original  # type: ignore[method-assign]


def main() -> dict[str, Any]:
    """Run the four sides and return the figures."""
    with Azurite(ports=0) as azurite:
        environment = _environment(azurite.connection_string)
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        settings_module.reset_settings_cache()
        try:
            with counting_table_requests() as counter:
                settings = settings_module.get_settings()
                # A warm instance: its line, its own numbers.
                lines.line_for(LINE, settings)
                OWN_NUMBERS.get(settings)
                first_senders = [f"+1555{n:07d}" for n in range(1, 3)]
                first_cost = _texts(counter, first_senders[:1], answered=True)
                _texts(counter, first_senders[1:], answered=True)  # the budget row is warm now
                with_budget = [f"+1556{n:07d}" for n in range(TEXTS)]
                without = [f"+1557{n:07d}" for n in range(TEXTS)]
                automatic = _texts(counter, with_budget, answered=True)
                with _without_budget():
                    floor = _texts(counter, without, answered=True)
                again = _texts(counter, with_budget, answered=False)
                with _without_budget():
                    again_floor = _texts(counter, without, answered=False)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            settings_module.reset_settings_cache()
            OWN_NUMBERS.forget()
            WARM.clear()
            lines.forget_cached_lines()
    extra = (automatic - floor) / TEXTS
    extra_nothing = (again - again_floor) / TEXTS
    print(
        f"outbound: an automatic text {automatic / TEXTS:.2f} round trips with the budget, "
        f"{floor / TEXTS:.2f} without: {extra:+.2f} (goal <= 1); nothing automatic "
        f"{again / TEXTS:.2f} vs {again_floor / TEXTS:.2f}: {extra_nothing:+.2f} (goal 0); "
        f"an instance's first automatic text {first_cost}"
    )
    return {
        "figures": [
            Figure(
                "outbound.budget_round_trips_per_automatic_text",
                "outbound: storage round trips the line's budget adds to an automatic text "
                "(SMS webhook, warm instance, Azurite)",
                round(extra, 3),
                detail=f"{automatic / TEXTS:.2f} per text with it, {floor / TEXTS:.2f} without; "
                f"{TEXTS} texts each",
            ).as_dict(),
            Figure(
                "outbound.budget_round_trips_per_webhook_without_automatic_text",
                "outbound: storage round trips the budget adds to a text that gets nothing "
                "automatic",
                round(extra_nothing, 3),
                detail=f"{again / TEXTS:.2f} per text with it, {again_floor / TEXTS:.2f} without",
            ).as_dict(),
            Figure(
                "outbound.first_automatic_text_round_trips",
                "outbound: an instance's first automatic text, all round trips (the budget row "
                "read once)",
                float(first_cost),
            ).as_dict(),
        ],
        "texts": TEXTS,
        "automatic": automatic,
        "automatic_floor": floor,
        "nothing_automatic": again,
        "nothing_automatic_floor": again_floor,
    }


if __name__ == "__main__":
    main()
