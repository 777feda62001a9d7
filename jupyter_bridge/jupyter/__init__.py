"""jupyter_bridge inside Jupyter: show(app) in a kernel, and the server extension.

The server extension (``.extension``) is the package's, ``jupyter_bridge``: enabled by
``jupyter_server_config.d/jupyter_bridge.json`` (installed with the package); see
docs/jupyter.md.
"""
