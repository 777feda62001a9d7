"""examples/sliders.py, allowing its sessions to be prepared ahead of their pages.

It reads nothing of the request while it builds, so it says so; served with
``--prepared-sessions N`` (bench/reliability.py burst), pages take sessions built ahead.
"""

from pathlib import Path

from jupyter_bridge import curdoc

curdoc().prepare_ahead = True
_example = Path(__file__).resolve().parents[3] / "examples" / "sliders.py"
exec(compile(_example.read_text(encoding="utf-8"), str(_example), "exec"))
