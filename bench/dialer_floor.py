"""The floor of the dialer benchmark: a hand-written queue worker making the dialer's requests.

`python -m bench.dialer_floor COUNT THREADS` (settings from the environment, as the host gets
them) takes COUNT messages off `OUTBOUND_CALL_QUEUE` the way the Functions host does (16 per
receive, base64) and, on THREADS threads, does for each what the dialer does for a call placed
on its first delivery, and nothing else: insert the CallLog record (the claim), upsert its index
row, create the call with twilio's client (the same TwiML, callback and options), merge the
outcome, delete the message. With THREADS=1 and one message per receive it is also the
one-by-one worker the benchmark compares throughput with. Prints one JSON line: calls, seconds
and this process's CPU seconds.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def main(argv: list[str]) -> int:
    """Process COUNT messages on THREADS threads; print what it did."""
    cpu = time.process_time()  # the app's lazy imports count too: so do these
    count, threads = int(argv[0]), int(argv[1])
    batch = 16 if threads > 1 else 1
    from azure.data.tables import UpdateMode

    from switchboard import records
    from switchboard.logbook.statuses import Kind, status_callback_url
    from switchboard.settings import get_settings
    from switchboard.storage import queues, tables
    from switchboard.twilio import client as twilio_client

    settings = get_settings()
    queue = queues.get_queue(settings.outbound_call_queue, settings)
    table = tables.get_table(settings.table_call_log, settings)
    client = twilio_client.get_client(settings)
    base = settings.public_base_url or "http://localhost:7071"

    def place(message: Any) -> None:
        body = json.loads(message.content)
        key, now = body["id"], records.utcnow()
        table.create_entity(
            {
                "PartitionKey": key,
                "RowKey": records.RECORD_ROW,
                "Id": key,
                "To": body["to"],
                "Status": "queued",
                "IdempotencyStatus": "in-progress",
                "CreatedAt": now,
            }
        )
        table.upsert_entity(
            {
                "PartitionKey": records.index_partition(now),
                "RowKey": records.index_row(now, key),
                "Id": key,
            }
        )
        created = twilio_client.create_call(
            client,
            to=body["to"],
            from_=settings.twilio_from_number or "",
            twiml=f"<Response><Say>{body['say']}</Say></Response>",
            status_callback=status_callback_url(base, Kind.CALL, key),
        )
        table.update_entity(
            {
                "PartitionKey": key,
                "RowKey": records.RECORD_ROW,
                "Sid": created.sid,
                "IdempotencyStatus": "completed",
                "PlacedAt": records.utcnow(),
            },
            mode=UpdateMode.MERGE,
        )
        queue.delete_message(message)

    done = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        while done < count:
            messages = list(
                queue.receive_messages(
                    messages_per_page=batch, max_messages=batch, visibility_timeout=60
                )
            )
            if not messages:
                time.sleep(0.05)
                continue
            for future in [pool.submit(place, m) for m in messages]:
                future.result()
            done += len(messages)
    print(
        json.dumps(
            {
                "calls": done,
                "seconds": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
