"""ipywebrtc: a stream of an image that Python chooses, and a snapshot of it taken in the page.

A camera needs a device and the user's permission; an ImageStream works
anywhere. The button's callback asks the page's recorder for a frame; the
page sends it back and Python says what arrived.
"""

import ipywidgets as w
from ipywebrtc import ImageRecorder, ImageStream

from jupyter_bridge import curdoc


def square(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A one-colour PNG, made here so the example needs no image file."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + bytes(rgb) * size) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


COLOURS = {"teal": (0, 128, 128), "orange": (255, 140, 0)}
image = w.Image(value=square(COLOURS["teal"]), format="png", width=64, height=64)
stream = ImageStream(image=image)
recorder = ImageRecorder(stream=stream)
colour = w.ToggleButtons(options=list(COLOURS), description="Colour")
snap = w.Button(description="Take a snapshot")
arrived = w.Label("No snapshot yet.")


def set_colour(change):
    image.value = square(COLOURS[change["new"]])


def take(_):
    recorder.recording = True


def on_snapshot(change):
    arrived.value = f"snapshot of {len(change['new'])} bytes, {recorder.image.width}x{recorder.image.height}"


colour.observe(set_colour, "value")
snap.on_click(take)
recorder.image.observe(on_snapshot, "value")

doc = curdoc()
doc.title = "ipywebrtc"
doc.add_root(w.VBox([colour, stream, w.HBox([snap, recorder]), arrived]))
