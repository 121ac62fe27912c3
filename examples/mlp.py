"""The multilayer perceptron used to illustrate hybridization: Dense(256)+ReLU, Dense(128)+ReLU, Dense(2)
on a (1, 512) input. Export it with `exporter export examples/mlp.py --to exe`."""
import numpy as np

rng = np.random.default_rng(0)


def dense(n_in, n_out):
    bound = np.sqrt(6 / (n_in + n_out))  # Xavier-uniform, as the classic example initializes
    return rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32), np.zeros(n_out, np.float32)


W1, b1 = dense(512, 256)
W2, b2 = dense(256, 128)
W3, b3 = dense(128, 2)


def model(x):
    h = np.maximum(x @ W1 + b1, 0)
    h = np.maximum(h @ W2 + b2, 0)
    return h @ W3 + b3


example_inputs = (rng.standard_normal((1, 512)).astype(np.float32),)
dynamic_axes = {"x": {0: "batch"}}
