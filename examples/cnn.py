"""A small LeNet-style CNN in plain NumPy plus exporter.ops, on (batch, 1, 28, 28) images."""
import numpy as np

from exporter import ops

rng = np.random.default_rng(2)


def param(*shape):
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)


conv1_w, conv1_b = param(8, 1, 5, 5), np.zeros(8, np.float32)
bn_mean, bn_var = np.zeros(8, np.float32), np.ones(8, np.float32)
bn_gamma, bn_beta = np.ones(8, np.float32), np.zeros(8, np.float32)
conv2_w, conv2_b = param(16, 8, 5, 5), np.zeros(16, np.float32)
fc1_w, fc1_b = param(64, 16 * 4 * 4).T.copy(), np.zeros(64, np.float32)
fc2_w, fc2_b = param(64, 10), np.zeros(10, np.float32)


def model(x):
    h = ops.conv2d(x, conv1_w, conv1_b)                       # (b, 8, 24, 24)
    h = ops.relu(ops.batch_norm(h, bn_mean, bn_var, bn_gamma, bn_beta))
    h = ops.max_pool2d(h, 2)                                  # (b, 8, 12, 12)
    h = ops.relu(ops.conv2d(h, conv2_w, conv2_b, padding=0))  # (b, 16, 8, 8)
    h = ops.avg_pool2d(h, 2)                                  # (b, 16, 4, 4)
    h = h.reshape(h.shape[0], -1)
    h = ops.relu(h @ fc1_w + fc1_b)
    return ops.log_softmax(h @ fc2_w + fc2_b, axis=-1)


example_inputs = (rng.standard_normal((2, 1, 28, 28)).astype(np.float32),)
dynamic_axes = {"x": {0: "batch"}}
