"""Per-session output: print, display and ipywidgets.Output in served sessions (and nowhere else)."""

from __future__ import annotations

import asyncio
import logging
import sys

import IPython.display as ipd
import ipywidgets as w
from IPython.display import HTML
from wsclient import Client

from jupyter_bridge import output

CLICK = {"method": "custom", "content": {"event": "click"}}


# Looked up at call time, as app code (which runs after install) finds them.
def display(*objs, **kwargs):
    return ipd.display(*objs, **kwargs)


def clear_output(wait=False):
    return ipd.clear_output(wait=wait)


async def click(client: Client, description: str = "") -> dict:
    (button,) = [
        cid for cid in client.model_ids("ButtonModel") if client.models[cid]["description"] == description
    ]
    return await client.request({"type": "comm_msg", "comm_id": button, "data": CLICK})


def text_of(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")


# Outside sessions nothing changes


def test_without_a_session_print_display_and_output_behave_as_before(capsys):
    output.install()
    output.install()  # idempotent: one layer of routing, chained to the stream it replaced
    assert not isinstance(sys.stdout.previous, type(sys.stdout))

    print("plain print")
    display(HTML("<b>x</b>"))  # IPython without a shell prints the object
    out = w.Output()
    with out:
        print("inside an Output, no kernel")
    assert out.outputs == ()
    captured = capsys.readouterr().out
    assert "plain print" in captured
    assert "<IPython.core.display.HTML object>" in captured
    assert "inside an Output, no kernel" in captured


def test_routers_chain_to_hooks_installed_before_them(monkeypatch):
    import IPython.core.display_functions as display_functions
    from ipywidgets.widgets import interaction

    seen = []
    monkeypatch.setattr(display_functions, "display", lambda *objs, **kw: seen.append(("core", objs)))
    monkeypatch.setattr(interaction, "clear_output", lambda wait=False: seen.append(("clear", wait)))
    output.install()
    display_functions.display(1, 2)
    interaction.clear_output(wait=True)
    assert seen == [("core", (1, 2)), ("clear", True)]


class Recorder(output.OutputTarget):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def write(self, name, text):
        self.events.append((name, text))

    def show(self, item):
        self.events.append(("display", item.data))

    def clear(self, wait=False):
        self.events.append(("clear", wait))


def test_a_redirected_context_sends_print_display_and_clear_to_its_target(capsys):
    target = Recorder()
    with output.redirect(target):
        print("to the target")
        print("to stderr", file=sys.stderr)
        display(HTML("<i>hi</i>"))
        clear_output(wait=True)
    print("after the block")
    assert ("stdout", "to the target") in target.events
    assert ("stderr", "to stderr") in target.events
    assert ("display", {"text/plain": "<IPython.core.display.HTML object>", "text/html": "<i>hi</i>"}) in target.events
    assert ("clear", True) in target.events
    captured = capsys.readouterr()
    assert "to the target" not in captured.out and "to stderr" not in captured.err
    assert "after the block" in captured.out


def test_an_output_entered_outside_a_session_is_left_to_ipywidgets(capsys):
    # e.g. a kernel: the widget captures through the kernel, not through our target
    target = Recorder()
    with output.redirect(target):
        with w.Output():
            print("ipywidgets' business")
        print("back to the target")
    assert target.events == [("stdout", "back to the target"), ("stdout", "\n")]
    assert "ipywidgets' business" in capsys.readouterr().out


def test_log_records_never_reach_a_target():
    handler = logging.StreamHandler(sys.stderr)  # made after install: holds the router
    logger = logging.getLogger("test_output.records")
    logger.addHandler(handler)
    target = Recorder()
    try:
        with output.redirect(target):
            logger.warning("a server log line")
    finally:
        logger.removeHandler(handler)
    assert target.events == []


# Output widgets in served sessions


def output_app(doc):
    sid = doc.session_context.id
    out = w.Output()
    button = w.Button()

    async def work():
        with out:
            for i in range(3):
                print(f"line {i} of {sid}")
                await asyncio.sleep(0.02)

    button.on_click(lambda _: doc.add_next_tick_callback(work))
    doc.add_root(w.VBox([button, out]))


async def test_two_sessions_printing_at_once_each_see_only_their_own_text(serve, capfd):
    server = serve({"/out": output_app})
    first = await Client.open(server.url, "out")
    second = await Client.open(server.url, "out")
    await asyncio.gather(click(first), click(second))

    for client in (first, second):
        sid = client.config["sessionId"]
        expected = "".join(f"line {i} of {sid}\n" for i in range(3))
        await client.wait_for(lambda c=client, e=expected: text_of(c.model("OutputModel")["outputs"]) == e)
    captured = capfd.readouterr()
    assert "line 0 of" not in captured.out + captured.err
    await first.close()
    await second.close()


def rich_app(doc):
    out = w.Output()
    slider = w.IntSlider(description="shown in out")
    with out:
        print("text")
        display(HTML("<b>bold</b>"))
        display(slider)
    doc.add_root(out)


async def test_display_inside_output_appends_mime_bundles(serve):
    server = serve({"/rich": rich_app})
    client = await Client.open(server.url, "rich")
    outputs = client.model("OutputModel")["outputs"]
    assert outputs[0] == {"output_type": "stream", "name": "stdout", "text": "text\n"}
    assert outputs[1]["output_type"] == "display_data"
    assert outputs[1]["data"]["text/html"] == "<b>bold</b>"
    view = outputs[2]["data"]["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == client.model_ids("IntSliderModel")[0]
    await client.close()


def raising_app(doc):
    out = w.Output()
    with out:
        print("before")
        print(1 / 0)
    doc.add_root(w.VBox([out, w.Label("the app went on")]))


async def test_exception_inside_output_becomes_an_error_output_and_is_logged(serve, caplog):
    server = serve({"/raising": raising_app})
    with caplog.at_level(logging.ERROR, logger="jupyter_bridge.output"):
        client = await Client.open(server.url, "raising")
    outputs = client.model("OutputModel")["outputs"]
    assert outputs[0]["text"] == "before\n"
    error = outputs[1]
    assert error["output_type"] == "error"
    assert error["ename"] == "ZeroDivisionError" and error["evalue"] == "division by zero"
    assert any("print(1 / 0)" in line for line in error["traceback"])
    assert client.model("LabelModel")["value"] == "the app went on"
    assert "ZeroDivisionError" in caplog.text
    await client.close()


def clearing_app(doc):
    out = w.Output()
    count = {"n": 0}

    @out.capture(clear_output=True)
    def on_click(_):
        count["n"] += 1
        print(f"click {count['n']}")

    reset = w.Button(description="reset")
    reset.on_click(lambda _: out.clear_output())
    button = w.Button(description="count")
    button.on_click(on_click)
    with out:
        print("first text")
    doc.add_root(w.VBox([button, reset, out]))


async def test_capture_decorator_and_clear_output(serve):
    server = serve({"/clearing": clearing_app})
    client = await Client.open(server.url, "clearing")
    assert text_of(client.model("OutputModel")["outputs"]) == "first text\n"
    await click(client, "count")
    assert text_of(client.model("OutputModel")["outputs"]) == "click 1\n"
    await click(client, "count")
    assert text_of(client.model("OutputModel")["outputs"]) == "click 2\n"
    await click(client, "reset")
    assert client.model("OutputModel")["outputs"] == []
    await client.close()


def updating_app(doc):
    out = w.Output()
    with out:
        handle = display(HTML("<p>first</p>"), display_id=True)
        print("text after the display")
    button = w.Button()
    button.on_click(lambda _: handle.update(HTML("<p>second</p>")))
    doc.add_root(w.VBox([button, out]))


async def test_a_display_handle_updates_its_output_from_a_later_callback(serve):
    server = serve({"/updating": updating_app})
    client = await Client.open(server.url, "updating")
    await click(client)
    outputs = client.model("OutputModel")["outputs"]
    assert outputs[0]["data"]["text/html"] == "<p>second</p>"
    assert outputs[1]["text"] == "text after the display\n"
    await client.close()


# interact


def interact_app(doc):
    sid = doc.session_context.id

    def f(x=1):
        if x == 13:
            raise ValueError("unlucky")
        print(f"x={x} in {sid}")

    doc.add_root(w.interactive(f, x=(0, 20)))


async def test_interact_output_lands_in_that_sessions_own_output(serve, capfd, caplog):
    server = serve({"/interact": interact_app})
    first = await Client.open(server.url, "interact")
    second = await Client.open(server.url, "interact")
    a, b = first.config["sessionId"], second.config["sessionId"]
    assert text_of(first.model("OutputModel")["outputs"]) == f"x=1 in {a}\n"

    await asyncio.gather(first.set_state("IntSliderModel", value=5), second.set_state("IntSliderModel", value=7))
    # clear_output(wait=True) in interact: each run replaces the one before
    assert text_of(first.model("OutputModel")["outputs"]) == f"x=5 in {a}\n"
    assert text_of(second.model("OutputModel")["outputs"]) == f"x=7 in {b}\n"

    with caplog.at_level(logging.ERROR):
        await first.set_state("IntSliderModel", value=13)
    (error,) = first.model("OutputModel")["outputs"]
    assert error["output_type"] == "error" and error["evalue"] == "unlucky"
    assert text_of(second.model("OutputModel")["outputs"]) == f"x=7 in {b}\n"
    assert not first.of_type("error")  # shown in the Output, not reported as a page error

    captured = capfd.readouterr()
    assert " in " + a not in captured.out + captured.err and "x=7" not in captured.out + captured.err
    await first.close()
    await second.close()
