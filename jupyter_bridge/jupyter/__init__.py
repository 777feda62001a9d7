"""jupyter_bridge inside Jupyter: show(app) in a kernel, and the server extension."""
