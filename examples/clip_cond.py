"""Gradient clipping by norm with `exporter.cond`: rescale the gradient only when its norm exceeds
MAX_NORM. Traced, the branch is an ONNX If that computes only the side taken. Export with
`exporter export examples/clip_cond.py --to onnx`."""
import numpy as np

import exporter

MAX_NORM = np.float32(1.0)


def model(grad):
    """grad: (n,) float32. Returns the clipped gradient and the norm before clipping."""
    norm = np.linalg.norm(grad)
    clipped = exporter.cond(norm > MAX_NORM,
                            lambda g: g * (MAX_NORM / norm),   # too long: scale it back to MAX_NORM
                            lambda g: g,                       # short enough: leave it
                            grad)
    return clipped, norm


example_inputs = (np.random.default_rng(6).standard_normal(10).astype(np.float32),)
dynamic_axes = {"grad": {0: "n"}}
