"""A GRU over time written with `exporter.scan`: one cell step per time step, the hidden state carried
from step to step and every step's state stacked into the output sequence. Time and batch are dynamic
axes; the loop is an ONNX Loop whose trip count is the input's length. Export with
`exporter export examples/rnn_scan.py --to onnx`."""
import numpy as np

import exporter

INPUT, HIDDEN = 8, 16
rng = np.random.default_rng(5)


def weights(*shape):
    return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)


W_Z, U_Z, B_Z = weights(INPUT, HIDDEN), weights(HIDDEN, HIDDEN), np.zeros(HIDDEN, np.float32)
W_R, U_R, B_R = weights(INPUT, HIDDEN), weights(HIDDEN, HIDDEN), np.zeros(HIDDEN, np.float32)
W_N, U_N, B_N = weights(INPUT, HIDDEN), weights(HIDDEN, HIDDEN), np.zeros(HIDDEN, np.float32)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def gru_cell(h, x):
    z = sigmoid(x @ W_Z + h @ U_Z + B_Z)      # update gate
    r = sigmoid(x @ W_R + h @ U_R + B_R)      # reset gate
    n = np.tanh(x @ W_N + (r * h) @ U_N + B_N)
    h = (1 - z) * n + z * h
    return h, h                               # (new carry, this step's output)


def model(xs):
    """xs: (time, batch, INPUT). Returns every step's state (time, batch, HIDDEN) and the last one."""
    h0 = np.zeros((xs.shape[1], HIDDEN), np.float32)
    h_last, hs = exporter.scan(gru_cell, h0, xs)
    return hs, h_last


example_inputs = (rng.standard_normal((5, 2, INPUT)).astype(np.float32),)
dynamic_axes = {"xs": {0: "time", 1: "batch"}}
