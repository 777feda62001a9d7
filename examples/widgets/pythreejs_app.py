"""pythreejs: a three.js cube that a slider turns from Python, and that says where it was clicked."""

import math

import ipywidgets as w
from pythreejs import (
    AmbientLight,
    BoxGeometry,
    Mesh,
    MeshLambertMaterial,
    PerspectiveCamera,
    Picker,
    PointLight,
    Renderer,
    Scene,
)

from jupyter_bridge import curdoc

cube = Mesh(BoxGeometry(1, 1, 1), MeshLambertMaterial(color="orange"))
camera = PerspectiveCamera(position=[0, 0, 3], aspect=1.5)
scene = Scene(children=[cube, camera, AmbientLight(intensity=0.4), PointLight(position=[3, 5, 4])])
picker = Picker(controlling=cube, event="click")
renderer = Renderer(camera=camera, scene=scene, controls=[picker], width=360, height=240)
angle = w.IntSlider(description="Turn (°)", min=0, max=90, value=0)
clicked = w.Label("Click the cube.")


# About a tilted axis, so that a turn shows another face. (A quaternion, not
# `rotation`: pythreejs 2.4's front end lower-cases a rotation's "XYZ" order and
# sends it back, which its own Python side then refuses.)
AXIS = (0.5 / math.sqrt(1.25), 1 / math.sqrt(1.25), 0.0)


def turn(change):
    half = math.radians(change["new"]) / 2
    cube.quaternion = (*(math.sin(half) * c for c in AXIS), math.cos(half))


def on_pick(change):
    if picker.object is not None:
        x, y, z = change["new"]
        clicked.value = f"clicked the cube at ({x:.1f}, {y:.1f}, {z:.1f})"


angle.observe(turn, "value")
picker.observe(on_pick, "point")

doc = curdoc()
doc.title = "pythreejs"
doc.add_root(w.VBox([angle, renderer, clicked]))
