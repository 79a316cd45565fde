"""The Lines table against Azurite: versions and history in one partition transaction, racing
writers, the call path's read (0 storage reads while warm, the last known version while storage
is down, the default line when never read), and the service's rules on top."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devkit.azurite import Azurite
from switchboard.http import ApiError
from switchboard.lines import service
from switchboard.lines.cache import LineCache
from switchboard.lines.defaults import default_line
from switchboard.lines.store import LineStore, VersionConflict
from switchboard.settings import Settings, load_settings
from switchboard.storage import tables

NUMBER = "+15017122661"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
DOC: dict[str, Any] = {"number": NUMBER, "name": "Main line", "open": [{"say": "Hi"}]}


@pytest.fixture
def settings(storage_connection_string: str, unique_name: str) -> Iterator[Settings]:
    loaded = load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            "TABLE_LINES": unique_name,
            "LINES_CACHE_SECONDS": "60",
        }
    )
    service.forget_cached_lines()
    yield loaded
    service.forget_cached_lines()


def test_versions_and_history(settings: Settings) -> None:
    store = LineStore.from_settings(settings)
    first = store.write(NUMBER, DOC, change="put", now=NOW, expected=None)
    assert first.version == 1
    current = store.get(NUMBER)
    assert current is not None
    assert current.document == DOC
    second = store.write(
        NUMBER, {**DOC, "name": "Renamed"}, change="put", now=NOW, expected=current
    )
    assert second.version == 2
    third = store.write(NUMBER, None, change="delete", now=NOW, expected=store.get(NUMBER))
    assert third.version == 3
    deleted = store.get(NUMBER)
    assert deleted is not None
    assert deleted.deleted
    history = store.history(NUMBER, 10)
    assert [(v.version, v.change, v.deleted) for v in history] == [
        (3, "delete", True),
        (2, "put", False),
        (1, "put", False),
    ]
    assert [v.version for v in store.history(NUMBER, 10, before_version=3)] == [2, 1]
    assert store.list_current() == []  # a deleted line is not listed


def test_a_stale_version_writes_nothing(settings: Settings) -> None:
    store = LineStore.from_settings(settings)
    store.write(NUMBER, DOC, change="put", now=NOW, expected=None)
    read = store.get(NUMBER)
    store.write(NUMBER, {**DOC, "name": "First"}, change="put", now=NOW, expected=read)
    with pytest.raises(VersionConflict):
        store.write(NUMBER, {**DOC, "name": "Second"}, change="put", now=NOW, expected=read)
    with pytest.raises(VersionConflict):
        store.write(NUMBER, DOC, change="put", now=NOW, expected=None)  # it exists
    assert [v.version for v in store.history(NUMBER, 10)] == [2, 1]
    current = store.get(NUMBER)
    assert current is not None
    assert current.document is not None
    assert current.document["name"] == "First"


def test_racing_writers_one_wins_per_version(settings: Settings) -> None:
    store = LineStore.from_settings(settings)
    store.write(NUMBER, DOC, change="put", now=NOW, expected=None)
    read = store.get(NUMBER)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def write(name: str) -> None:
        barrier.wait()
        try:
            store.write(NUMBER, {**DOC, "name": name}, change="put", now=NOW, expected=read)
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["lost"] * 5 + ["won"]
    assert [v.version for v in store.history(NUMBER, 10)] == [2, 1]


def test_the_call_path_reads_once_per_ttl_and_never_without_a_table(settings: Settings) -> None:
    # No Lines table at all yet: "no line", without creating the table.
    assert service.load(NUMBER, settings) is None
    assert settings.table_lines not in {t.name for t in tables._service(settings).list_tables()}
    LineStore.from_settings(settings).write(NUMBER, DOC, change="put", now=NOW, expected=None)
    cache = LineCache(60)
    loads = []

    def load(number: str) -> Any:
        loads.append(number)
        return service.load(number, settings)

    first = cache.get(NUMBER, load)
    assert first is not None
    assert first.name == "Main line"
    for _ in range(50):
        assert cache.get(NUMBER, load) is first
    assert loads == [NUMBER]  # 0 storage reads while warm


def test_storage_down_keeps_the_last_known_version(settings: Settings, tmp_path: Any) -> None:
    clock = [0.0]
    with Azurite(ports=0, data_dir=str(tmp_path)) as own:
        local = load_settings(
            {"AzureWebJobsStorage": own.connection_string, "TABLE_LINES": settings.table_lines}
        )
        LineStore.from_settings(local).write(NUMBER, DOC, change="put", now=NOW, expected=None)
        cache = LineCache(5, clock=lambda: clock[0])
        known = cache.get(NUMBER, lambda n: service.load(n, local))
        assert known is not None
        own.stop()
        clock[0] = 10.0  # stale: the cache asks storage, which is down
        assert cache.get(NUMBER, lambda n: service.load(n, local)) is known
        fresh = LineCache(5)
        assert fresh.get(NUMBER, lambda n: service.load(n, local)) is None  # the default line


def test_line_for_falls_back_to_the_default_line(settings: Settings) -> None:
    assert service.line_for(NUMBER, settings) is default_line(settings)
    assert service.line_for("", settings) is default_line(settings)


def test_service_put_override_and_delete(settings: Settings) -> None:
    written = service.put(settings, NUMBER, DOC, if_match=None, force=True)
    assert (written.version, written.created) == (1, True)
    with pytest.raises(ApiError) as blind:
        service.put(settings, NUMBER, DOC, if_match=None, force=True)
    assert blind.value.status == 428
    # A line without hours never changes: "until the next change" needs an until.
    with pytest.raises(ApiError) as never:
        service.override(settings, NUMBER, {"state": "closed"}, NOW)
    assert never.value.code == "no_next_change"
    line = service.override(
        settings, NUMBER, {"state": "closed", "until": "2026-12-01T18:00:00Z"}, NOW
    )
    assert line.version == 2
    status = service.status(settings, NUMBER, NOW)
    assert (status["state"], status["reason"]) == ("closed", "override")
    assert status["nextChange"] == {"at": "2026-12-01T18:00:00+00:00", "state": "open"}
    # The writer's own cache holds the new version at once.
    assert service.line_for(NUMBER, settings).version == 2
    assert service.delete(settings, NUMBER, if_match='"2"') == 3
    assert service.line_for(NUMBER, settings) is default_line(settings)
    with pytest.raises(ApiError) as gone:
        service.get(settings, NUMBER)
    assert gone.value.status == 404
    again = service.put(settings, NUMBER, DOC, if_match=None, force=True)
    assert (again.version, again.created) == (4, True)  # versions go on after a delete


def test_a_line_may_not_forward_to_its_own_numbers(settings: Settings) -> None:
    looping = {"open": [{"ring": {"people": [{"number": "+15559990000"}, {"number": NUMBER}]}}]}
    with pytest.raises(ApiError) as refused:
        service.put(settings, NUMBER, looping, if_match=None, force=True)
    assert refused.value.code == "forwards_to_own_number"
    assert refused.value.field == "/open/0/ring/people/1/number"
