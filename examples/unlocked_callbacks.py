"""Unlocked callbacks, as in the Bokeh guide.

A periodic callback updates the document under the lock every 0.5 s. Another,
decorated with @without_document_lock, waits on slow work in a thread pool
without holding the lock, so the locked updates go on meanwhile; it hands its
result to a locked next-tick callback to change the widgets.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import ipywidgets as w

from jupyter_bridge import curdoc, without_document_lock

doc = curdoc()
executor = ThreadPoolExecutor(max_workers=2)
ticks = w.IntText(0, description="locked ticks", disabled=True)
slow = w.IntText(0, description="slow results", disabled=True)


def blocking_task(n: int) -> int:
    time.sleep(1.0)  # stands in for a slow query
    return n


def locked_update(result: int) -> None:
    slow.value = result


@without_document_lock
async def unlocked_task() -> None:
    result = await asyncio.get_running_loop().run_in_executor(executor, blocking_task, slow.value + 1)
    doc.add_next_tick_callback(partial(locked_update, result))


def tick() -> None:
    ticks.value += 1


doc.add_periodic_callback(unlocked_task, 1000)
doc.add_periodic_callback(tick, 500)
doc.on_session_destroyed(lambda _context: executor.shutdown(wait=False))
doc.title = "Unlocked callbacks"
doc.add_root(w.VBox([ticks, slow]))
