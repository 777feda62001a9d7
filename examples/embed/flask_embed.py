"""Embed a customised session of the sliders app in a Flask page.

Each page view pulls a new session of the sliders app, customises it from Python
(the slider's start value and label, the document's title) and embeds exactly
that session with ``server_session``. Run the two servers:

    jupyter-bridge serve examples/sliders.py --allow-websocket-origin=localhost:8000
    python examples/embed/flask_embed.py

then open http://localhost:8000/. (This folder has no main.py, so
``jupyter-bridge serve --glob 'examples/*'`` skips it: it is not an app.)
"""

import os

import ipywidgets as w
from flask import Flask, render_template_string

from jupyter_bridge.client import pull_session, server_session

APP_URL = os.environ.get("JUPYTER_BRIDGE_APP_URL", "http://localhost:5006/sliders")
PORT = int(os.environ.get("FLASK_PORT", "8000"))

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Flask embeds jupyter_bridge</title></head>
<body>
  <h1>Sliders, served by Flask</h1>
  <p>The app below is a jupyter_bridge session, customised for this page view.</p>
  {{ script | safe }}
</body>
</html>
"""

app = Flask(__name__)


@app.route("/", methods=["GET"])
def sliders_page() -> str:
    with pull_session(url=APP_URL) as session:
        # Customise this session before the browser sees it.
        slider = session.document.select_one(w.IntSlider)
        slider.description = "Your N"
        slider.value = 42  # runs the app's callback on the server: the label follows
        session.document.title = "Special sliders for a specific user!"
        # Closing syncs first; the session waits on the server for the browser.
        script = server_session(session_id=session.id, url=APP_URL)
    return render_template_string(PAGE, script=script)


if __name__ == "__main__":
    app.run(port=PORT)
