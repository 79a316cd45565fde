"""A history of conversations written in bulk, as the conversations store and the MessageLog
writer would write it (the rows built by the same rules): for the tests and benchmarks that
count what a page reads against a long history, where writing 10,000 events one webhook at a
time would take minutes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from switchboard.conversations import rules
from switchboard.conversations.rules import Change, Event
from switchboard.outbound import messagelog
from switchboard.settings import Settings
from switchboard.storage import tables


def seed_history(
    settings: Settings, lines_: list[str], *, per_line: int, events_each: int, now: datetime
) -> int:
    """`per_line` conversations on each line (customers +15550000000, +15550000001, ...; a
    third of them done; tags A1, B1, ... and the line's counter past them) with `events_each`
    texts each, the newest `now`; returns the events written."""
    conversations_table = tables.get_table(settings.table_conversations, settings)
    log = tables.get_table(settings.table_message_log, settings)
    batches: list[tuple[Any, list[dict[str, Any]]]] = []
    for line in lines_:
        rows: list[dict[str, Any]] = []
        for c in range(per_line):
            customer = f"+1555{c:07d}"
            state = rules.new_conversation(line, customer, rules.tag_for(c), now)
            events: list[dict[str, Any]] = []
            for e in range(events_each):
                at = now - timedelta(minutes=c * events_each + e)
                found = rules.apply_event(
                    state,
                    Event(f"SM{e:032d}", at, rules.KIND_TEXT, rules.INBOUND, f"text {e}", True),
                )
                assert found is not None
                state = found
                entry = messagelog.conversation_entry(
                    line=line,
                    party=customer,
                    record_id=f"SM{line[-4:]}{c:06d}{e:04d}",
                    at=at,
                    direction="inbound",
                    from_=customer,
                    to=line,
                    body=f"text {e}",
                )
                assert entry is not None
                events.append(entry)
            batches += [(log, events[i : i + 100]) for i in range(0, len(events), 100)]
            state = rules.apply_change(state, Change(state=rules.DONE if c % 3 == 0 else None), now)
            tag = {
                "PartitionKey": rules.PARTITION,
                "RowKey": rules.tag_key(line, state.tag),
                "Customer": customer,
            }
            rows += [rules.state_row(state), rules.index_row(state), tag]
        rows.append(
            {"PartitionKey": rules.PARTITION, "RowKey": rules.line_key(line), "NextTag": per_line}
        )
        rows += rules.marker_rows([line], now)[1:]
        batches += [(conversations_table, rows[i : i + 99]) for i in range(0, len(rows), 99)]
    batches.append((conversations_table, rules.marker_rows((), now)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda b: b[0].submit_transaction([("upsert", r) for r in b[1]]), batches))
    return len(lines_) * per_line * events_each
