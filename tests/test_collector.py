"""Full garbage collections in the server's idle moments (--full-gc idle, server/collector.py)."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import ipywidgets as w
import pytest
from support import eventually

from jupyter_bridge.server.builds import build_turns
from jupyter_bridge.server.collector import NEVER, IdleCollector

pytestmark = pytest.mark.skipif(not IdleCollector.supported(), reason="CPython's generational collector only")


class Cycle:
    def __init__(self) -> None:
        self.me = self


def make_garbage() -> weakref.ref[Cycle]:
    """Enough cyclic garbage that Python would run a full collection; a reference to one piece of it."""
    kept = Cycle()
    pieces = [Cycle() for _ in range(300_000)]
    del pieces
    ref = weakref.ref(kept)
    del kept
    return ref


class Burst:
    """Page builds arriving faster than the loop runs them: some always wait for their turn."""

    def __init__(self, pages: int = 3) -> None:
        self.building = True
        self.tasks = [asyncio.create_task(self._page()) for _ in range(pages)]

    async def _page(self) -> None:
        turns = build_turns()
        while self.building:
            await turns.turn()
            time.sleep(0.002)  # the app's code, holding the loop

    async def end(self) -> None:
        self.building = False
        await asyncio.gather(*self.tasks)


def app(doc):
    doc.add_root(w.Label(value="hello"))


async def test_full_gc_idle_takes_the_full_collections_while_the_server_runs(serve):
    before = gc.get_threshold()
    server = serve({"/app": app}, full_gc="idle")
    await eventually(lambda: gc.get_threshold()[2] == NEVER)
    assert gc.get_threshold()[:2] == before[:2]  # the young generations run as Python decides
    await server.shutdown()
    assert gc.get_threshold() == before


async def test_by_default_python_keeps_its_schedule(serve):
    before = gc.get_threshold()
    serve({"/app": app})
    await asyncio.sleep(0.3)
    assert gc.get_threshold() == before


async def test_cyclic_garbage_is_collected_in_an_idle_moment():
    collector = IdleCollector(check=0.02, max_delay=30).start()
    try:
        garbage = make_garbage()
        assert garbage() is not None  # Python itself no longer runs the full collection
        assert collector.due()
        await eventually(lambda: garbage() is None)
        assert collector.collections == 1
        assert not collector.due()
    finally:
        collector.stop()


async def test_a_full_collection_waits_for_a_burst_of_builds_to_end():
    collector = IdleCollector(check=0.02, max_delay=30).start()
    try:
        garbage = make_garbage()
        burst = Burst()
        await asyncio.sleep(1.0)
        assert collector.collections == 0 and garbage() is not None
        await burst.end()
        await eventually(lambda: garbage() is None)
        assert collector.collections == 1
    finally:
        collector.stop()


async def test_a_burst_that_never_ends_holds_the_collection_no_longer_than_max_delay():
    collector = IdleCollector(check=0.02, max_delay=0.3).start()
    burst = Burst()
    try:
        garbage = make_garbage()
        await eventually(lambda: garbage() is None)
        assert collector.collections == 1
    finally:
        await burst.end()
        collector.stop()


async def test_once_sessions_are_destroyed_the_collection_waits_no_more():
    sessions = 10
    collector = IdleCollector(lambda: sessions, check=0.02, max_delay=30).start()
    burst = Burst()
    try:
        garbage = make_garbage()
        await asyncio.sleep(0.5)
        assert collector.collections == 0  # waiting for the burst to end
        sessions = 5  # their objects are the garbage: holding it would only let it grow
        await eventually(lambda: garbage() is None)
        assert collector.collections == 1
    finally:
        await burst.end()
        collector.stop()


async def test_servers_sharing_a_process_give_pythons_schedule_back_once_the_last_stops():
    before = gc.get_threshold()
    first = IdleCollector().start()
    second = IdleCollector().start()
    first.stop()
    assert gc.get_threshold()[2] == NEVER
    second.stop()
    assert gc.get_threshold() == before
