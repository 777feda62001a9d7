"""anywidget: a widget written inline, with a synced trait, custom messages and binary buffers.

The slider's callback sets the widget's ``count`` trait; a click in the page
sends a custom message, and Python answers with a binary buffer that the page
shows the size of.
"""

import anywidget
import ipywidgets as w
import traitlets

from jupyter_bridge import curdoc


class Tally(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const box = document.createElement("button");
      box.className = "tally";
      const got = document.createElement("span");
      got.className = "tally-reply";
      const draw = () => { box.textContent = `count is ${model.get("count")}`; };
      model.on("change:count", draw);
      model.on("msg:custom", (message, buffers) => {
        got.textContent = ` reply: ${message.text}, ${buffers[0].byteLength} bytes`;
      });
      box.addEventListener("click", () => model.send({ clicked: model.get("count") }));
      draw();
      el.append(box, got);
    }
    export default { render };
    """
    _css = ".tally { padding: 0.5em 1em; border-radius: 6px; background: #ffe9b3; border: 1px solid #c90; }"
    count = traitlets.Int(0).tag(sync=True)


tally = Tally()
slider = w.IntSlider(description="Count", min=0, max=10)
heard = w.Label("Click the widget.")


def on_message(widget, content, buffers):
    heard.value = f"Python heard a click at count {content['clicked']}"
    widget.send({"text": "thanks"}, buffers=[bytes(range(256)) * 4])


slider.observe(lambda change: setattr(tally, "count", change["new"]), "value")
tally.on_msg(on_message)

doc = curdoc()
doc.title = "anywidget"
doc.add_root(w.VBox([slider, tally, heard]))
