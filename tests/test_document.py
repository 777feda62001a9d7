from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import threading

import ipywidgets
import pytest
from support import Clock, eventually, settle

from jupyter_bridge.document import (
    Document,
    curdoc,
    set_curdoc,
    without_document_lock,
)


class Host:
    """Stands in for the session serving a document (the DocumentHost protocol)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.run_context = contextvars.copy_context()
        self.context = None
        self.changes: list[str] = []
        self.errors: list[tuple[BaseException, str]] = []

    def document_changed(self, document: Document) -> None:
        self.changes.append(f"{document.title}: {len(document.roots)} roots")

    def report_error(self, error: BaseException, where: str) -> None:
        self.errors.append((error, where))

    def owner_problem(self, widget) -> str | None:
        return None

    def callback_started(self, func, label):
        return lambda: None


def hosted(document: Document, loop: asyncio.AbstractEventLoop | None = None) -> Host:
    host = Host(loop)
    document.attach(host)
    return host


@pytest.fixture
async def clock():
    return Clock(asyncio.get_running_loop())


@pytest.fixture
async def host(clock):
    document = Document()
    host = hosted(document, clock)
    host.document = document
    yield host
    document.close()


@pytest.fixture
def doc(host):
    return host.document


def test_add_root_shows_a_widget_once_and_tells_listeners():
    document = Document()
    changes = hosted(document).changes
    button, slider = ipywidgets.Button(), ipywidgets.IntSlider()

    document.add_root(button)
    document.add_root(slider)
    document.add_root(button)

    assert document.roots == [button, slider]
    assert changes == ["jupyter_bridge app: 1 roots", "jupyter_bridge app: 2 roots"]


def test_roots_is_a_copy():
    document = Document()
    document.add_root(ipywidgets.Button())

    document.roots.clear()

    assert len(document.roots) == 1


def test_remove_root_and_clear_tell_listeners():
    document = Document()
    a, b, c = ipywidgets.Button(), ipywidgets.Button(), ipywidgets.Button()
    for widget in (a, b, c):
        document.add_root(widget)
    changes = hosted(document).changes

    document.remove_root(b)
    assert document.roots == [a, c]
    document.clear()
    document.clear()

    assert document.roots == []
    assert changes == ["jupyter_bridge app: 2 roots", "jupyter_bridge app: 0 roots"]


def test_set_roots_is_one_change_for_a_whole_list_and_keeps_names_of_kept_roots():
    document = Document()
    a, b, c = ipywidgets.Button(), ipywidgets.Button(), ipywidgets.Button()
    document.add_root(a, name="first")
    document.add_root(b, name="second")
    changes = hosted(document).changes
    many = [ipywidgets.Label(str(i)) for i in range(300)]

    document.set_roots([c, *many, a, c], document.named_roots)

    assert document.roots == [c, *many, a]  # in order, each once
    assert document.named_roots == {"first": a}
    assert changes == ["jupyter_bridge app: 302 roots"]
    document.set_roots(document.roots, document.named_roots)
    assert len(changes) == 1  # the same roots: no change
    with pytest.raises(TypeError, match="set_roots takes an ipywidgets Widget, not str"):
        document.set_roots([a, "not a widget"])
    assert document.roots == [c, *many, a]  # a bad list changes nothing
    document.remove_root(c)
    document.add_root(c)
    assert document.roots == [*many, a, c]


def test_add_root_refuses_what_is_not_a_widget():
    document = Document()

    with pytest.raises(TypeError, match="ipywidgets Widget, not str"):
        document.add_root("<b>hello</b>")
    assert document.roots == []


def test_removing_a_widget_that_is_not_a_root_is_refused_naming_it():
    document = Document()
    stranger = ipywidgets.Label("stranger")

    with pytest.raises(ValueError, match="is not a root") as info:
        document.remove_root(stranger)
    assert "stranger" in str(info.value)


def test_setting_the_title_tells_listeners_only_when_it_changes():
    document = Document()
    changes = hosted(document).changes

    document.title = "Sliders"
    document.title = "Sliders"

    assert document.title == "Sliders"
    assert changes == ["Sliders: 0 roots"]


def test_a_title_must_be_a_string():
    document = Document()

    with pytest.raises(TypeError, match="title must be a string, not int"):
        document.title = 3
    assert document.title == "jupyter_bridge app"


def test_curdoc_outside_a_session_is_one_process_wide_document():
    assert isinstance(curdoc(), Document)
    assert curdoc() is curdoc()


def test_curdoc_inside_a_session_context_is_that_sessions_document():
    session_document = Document()
    context = contextvars.copy_context()
    context.run(set_curdoc, session_document)

    assert context.run(curdoc) is session_document
    assert curdoc() is not session_document


async def test_curdoc_inside_a_callback_is_the_callbacks_document(doc):
    seen = []

    doc.add_next_tick_callback(lambda: seen.append(curdoc()))
    await eventually(lambda: seen)

    assert seen == [doc]


async def test_a_next_tick_callback_runs_once_on_a_later_tick(doc, clock):
    runs = []

    cb = doc.add_next_tick_callback(lambda: runs.append(1))
    assert runs == []
    assert doc.callbacks == [cb]
    await eventually(lambda: runs)
    await clock.advance(60)

    assert runs == [1]
    assert doc.callbacks == []


async def test_a_timeout_callback_runs_once_after_its_delay_not_before(doc, clock):
    runs = []

    doc.add_timeout_callback(lambda: runs.append(clock.time()), 150)
    await clock.advance(0.149)
    assert runs == []
    await clock.advance(0.001)
    assert runs == [0.15]
    await clock.advance(60)

    assert runs == [0.15]
    assert doc.callbacks == []


async def test_a_zero_timeout_runs(doc, clock):
    runs = []

    doc.add_timeout_callback(lambda: runs.append(1), 0)
    await clock.advance(0)

    assert runs == [1]


async def test_a_periodic_callback_runs_repeatedly_until_removed(doc, clock):
    runs = []

    cb = doc.add_periodic_callback(lambda: runs.append(clock.time()), 50)
    await clock.advance(0.175)
    assert runs == pytest.approx([0.05, 0.1, 0.15])
    doc.remove_periodic_callback(cb)
    await clock.advance(60)

    assert len(runs) == 3
    assert cb not in doc.callbacks


async def test_a_periodic_callback_that_raises_keeps_running(doc, clock, caplog):
    caplog.set_level(logging.ERROR, logger="jupyter_bridge.document")
    runs = []

    def flaky():
        runs.append(1)
        raise RuntimeError("flaky")

    doc.add_periodic_callback(flaky, 20)
    await clock.advance(0.07)

    assert len(runs) == 3


@pytest.mark.parametrize("locked", [True, False])
async def test_a_periodic_callback_still_running_skips_its_next_runs(doc, clock, locked):
    gate = asyncio.Event()
    starts = []

    async def slow():
        starts.append(1)
        await gate.wait()

    doc.add_periodic_callback(slow if locked else without_document_lock(slow), 10)
    await clock.advance(0.3)  # 30 periods

    assert len(starts) == 1
    assert len(doc._tasks) == 1
    gate.set()
    await clock.advance(0.02)
    assert len(starts) == 3


async def test_removing_a_callback_twice_is_refused_naming_it(doc):
    def tick():
        pass

    cb = doc.add_timeout_callback(tick, 10_000)
    doc.remove_timeout_callback(cb)

    with pytest.raises(ValueError, match="tick.*already run or been removed"):
        doc.remove_timeout_callback(cb)


async def test_removing_a_next_tick_callback_that_has_run_is_refused(doc):
    runs = []

    cb = doc.add_next_tick_callback(lambda: runs.append(1))
    await eventually(lambda: runs)

    with pytest.raises(ValueError, match="already run"):
        doc.remove_next_tick_callback(cb)


async def test_removed_callbacks_never_run(doc, clock):
    runs = []

    doc.remove_next_tick_callback(doc.add_next_tick_callback(lambda: runs.append("next")))
    doc.remove_timeout_callback(doc.add_timeout_callback(lambda: runs.append("timeout"), 10))
    doc.remove_periodic_callback(doc.add_periodic_callback(lambda: runs.append("periodic"), 10))
    await clock.advance(60)

    assert runs == []
    assert doc.callbacks == []


async def test_removing_with_the_wrong_kind_of_handle_is_refused(doc):
    periodic = doc.add_periodic_callback(lambda: None, 10_000)

    with pytest.raises(TypeError, match="expected the TimeoutCallback.*got PeriodicCallback"):
        doc.remove_timeout_callback(periodic)
    with pytest.raises(TypeError, match="NextTickCallback"):
        doc.remove_next_tick_callback(periodic)
    with pytest.raises(TypeError, match="PeriodicCallback"):
        doc.remove_periodic_callback(lambda: None)
    assert doc.callbacks == [periodic]


async def test_callbacks_added_before_attach_start_after_it():
    document = Document()
    runs = []
    document.add_next_tick_callback(lambda: runs.append("next"))
    document.add_timeout_callback(lambda: runs.append("timeout"), 10)
    document.add_periodic_callback(lambda: runs.append("periodic"), 10)
    # Time passes on the running loop (a later timer of its own fires), and still nothing ran.
    passed = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, passed.set)
    await passed.wait()
    await settle()
    assert runs == []

    hosted(document, asyncio.get_running_loop())
    try:
        await eventually(lambda: {"next", "timeout", "periodic"} <= set(runs))
    finally:
        document.close()


async def test_coroutine_callbacks_are_awaited(doc):
    steps = []

    async def fetch():
        steps.append("started")
        await asyncio.sleep(0.01)
        steps.append("finished")

    doc.add_next_tick_callback(fetch)
    await eventually(lambda: "finished" in steps)

    assert steps == ["started", "finished"]


async def run_two(doc: Document, second_unlocked: bool) -> list[str]:
    """Start a coroutine that waits on a gate, then a second callback; return the event order."""
    order: list[str] = []
    gate = asyncio.Event()

    async def first():
        order.append("first start")
        await gate.wait()
        order.append("first end")

    async def second():
        order.append("second")

    doc.add_next_tick_callback(first)
    doc.add_next_tick_callback(without_document_lock(second) if second_unlocked else second)
    await eventually(lambda: "first start" in order)
    if second_unlocked:
        await eventually(lambda: "second" in order)
    else:
        await settle()  # the second is started and waits for the lock
    gate.set()
    await eventually(lambda: len(order) == 3)
    return order


async def test_a_locked_coroutine_holds_the_document_lock_across_its_awaits(doc):
    assert await run_two(doc, second_unlocked=False) == ["first start", "first end", "second"]


async def test_a_coroutine_without_the_document_lock_lets_others_run_meanwhile(doc):
    assert await run_two(doc, second_unlocked=True) == ["first start", "second", "first end"]


async def test_an_exception_in_a_callback_is_logged_reported_and_the_session_goes_on(doc, host, caplog):
    caplog.set_level(logging.ERROR, logger="jupyter_bridge.document")
    reported = host.errors
    after = []

    def broken():
        raise ValueError("boom")

    doc.add_next_tick_callback(broken)
    doc.add_next_tick_callback(lambda: after.append(1))
    await eventually(lambda: after)

    [(error, where)] = reported
    assert isinstance(error, ValueError) and str(error) == "boom"
    assert "broken" in where
    [record] = [r for r in caplog.records if r.name == "jupyter_bridge.document"]
    assert record.levelno == logging.ERROR
    assert "broken" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is error
    assert "Traceback" in caplog.text and "boom" in caplog.text


async def test_an_exception_in_a_coroutine_callback_is_reported(doc, host):
    reported = host.errors

    async def broken():
        await asyncio.sleep(0)
        raise KeyError("missing")

    doc.add_next_tick_callback(broken)
    await eventually(lambda: reported)

    assert [str(error) for error, _where in reported] == ["'missing'"]


async def test_next_tick_callbacks_added_from_threads_all_run_on_the_loop_thread(doc):
    ran_on: list[int] = []

    def record():
        ran_on.append(threading.get_ident())

    def add_many():
        for _ in range(50):
            doc.add_next_tick_callback(record)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    await eventually(lambda: len(ran_on) == 200)
    for thread in threads:
        thread.join()
    await settle()

    assert len(ran_on) == 200
    assert set(ran_on) == {threading.get_ident()}
    assert doc.callbacks == []


async def test_remove_next_tick_callback_from_a_thread_cancels_it(doc):
    runs = []
    cb = doc.add_next_tick_callback(lambda: runs.append(1))

    thread = threading.Thread(target=doc.remove_next_tick_callback, args=(cb,))
    thread.start()
    thread.join()  # blocks the loop, so the callback cannot run before it is removed
    await settle()  # the start and the cancel were both queued to the loop

    assert runs == []
    assert doc.callbacks == []


async def test_destroy_stops_every_callback_and_returns_the_session_destroyed_ones(doc, clock):
    runs = []
    cancelled = []

    @without_document_lock
    async def forever():
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.append(1)

    def goodbye(session_context):
        pass

    doc.add_next_tick_callback(forever)
    doc.add_periodic_callback(lambda: runs.append("periodic"), 20)
    doc.add_timeout_callback(lambda: runs.append("timeout"), 10_000)
    doc.on_session_destroyed(goodbye)
    await clock.advance(0.05)
    assert runs == ["periodic", "periodic"]

    assert doc.close() == [goodbye]
    await clock.advance(60)

    assert runs == ["periodic", "periodic"]
    assert "timeout" not in runs
    assert cancelled == [1]
    assert doc.callbacks == []


async def test_adding_a_callback_after_destroy_is_refused(doc):
    doc.close()

    with pytest.raises(RuntimeError, match="destroyed"):
        doc.add_next_tick_callback(lambda: None)
    with pytest.raises(RuntimeError, match="destroyed"):
        doc.add_timeout_callback(lambda: None, 10)
    with pytest.raises(RuntimeError, match="destroyed"):
        doc.add_periodic_callback(lambda: None, 10)


@pytest.mark.parametrize("timeout", [-1, -0.5])
def test_a_negative_timeout_is_refused(timeout):
    with pytest.raises(ValueError, match="must not be negative"):
        Document().add_timeout_callback(lambda: None, timeout)


@pytest.mark.parametrize("timeout", ["10", None, True, [10]])
def test_a_timeout_that_is_not_a_number_is_refused(timeout):
    with pytest.raises(TypeError, match="timeout must be a number of milliseconds"):
        Document().add_timeout_callback(lambda: None, timeout)


def test_a_nan_timeout_or_period_is_refused():
    document = Document()

    with pytest.raises(ValueError, match="timeout"):
        document.add_timeout_callback(lambda: None, math.nan)
    with pytest.raises(ValueError, match="period"):
        document.add_periodic_callback(lambda: None, math.nan)
    assert document.callbacks == []


@pytest.mark.parametrize("period", [0, 0.0, -10])
def test_a_period_that_is_not_above_zero_is_refused(period):
    document = Document()

    with pytest.raises(ValueError, match="period"):
        document.add_periodic_callback(lambda: None, period)
    assert document.callbacks == []


def test_a_callback_must_be_callable():
    document = Document()

    with pytest.raises(TypeError, match="must be callable, not int"):
        document.add_next_tick_callback(42)
    with pytest.raises(TypeError, match="on_session_destroyed takes callables"):
        document.on_session_destroyed("goodbye")
