"""A user filling in examples/kept_changes.py's form in Chromium: for tests/test_restart.py and bench/restart.py."""

from __future__ import annotations

#: How long a step of the form may take to show its effect: a bound, not a pause.
PAGE_MS = 60_000


def label(page) -> str:
    """The summary the app computes from the form."""
    return page.locator(".widget-label:not(.widget-description-label)").last.inner_text()


def wait_for_label(page, text: str) -> None:
    """Wait until the summary reads ``text``; fail saying what it reads and what the page kept."""
    try:
        page.wait_for_function(
            "text => [...document.querySelectorAll('.widget-label')].some(e => e.textContent === text)",
            arg=text, timeout=PAGE_MS,
        )  # fmt: skip
    except Exception:
        kept = page.evaluate("JSON.stringify(window.jupyterBridge.changes.message('x').message.changes)")
        raise AssertionError(f"the page shows {label(page)!r}, not {text!r}; it kept {kept}") from None


def brush_selected(page):
    """The brush selector's `selected` (an x range) as the page's model has it."""
    return page.evaluate("""async () => {
        const models = await Promise.all(Object.values(window.jupyterBridge.manager._models));
        const brush = models.find(m => m.get('_model_name') === 'BrushIntervalSelectorModel');
        const selected = brush.get('selected');
        return selected === null ? null : Array.from(selected);
    }""")


def use_the_form(page) -> str:
    """Move the slider, pick a colour, type a name and a password, brush over points: the summary."""
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    wait_for_label(page, "nobody: 3 red, 0 points selected")
    page.locator(".widget-dropdown select").select_option("blue")
    wait_for_label(page, "nobody: 3 blue, 0 points selected")
    page.get_by_label("Name").fill("Ada")
    wait_for_label(page, "Ada: 3 blue, 0 points selected")
    page.get_by_label("Password").fill("hunter2")
    # Brush over the middle of the plot area (inside the figure's 60 px margins).
    box = page.locator(".bqplot").first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.35, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.65, y, steps=5)
    page.mouse.up()
    # The brush's end set the scatter's final selection in the page: Python's summary follows it.
    chosen = page.evaluate("""async () => {
        const models = await Promise.all(Object.values(window.jupyterBridge.manager._models));
        const selected = models.find(m => m.get('_model_name') === 'ScatterModel').get('selected');
        return selected === null ? 0 : selected.length;
    }""")
    assert chosen > 0, "the brush selected no point"
    summary = f"Ada: 3 blue, {chosen} points selected"
    wait_for_label(page, summary)
    return summary
