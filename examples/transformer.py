"""A small pre-norm transformer encoder block in plain NumPy plus exporter.ops: multi-head
self-attention and a GELU feed-forward layer, on (batch, seq, d_model) inputs."""
import numpy as np

from exporter import ops

rng = np.random.default_rng(1)
D_MODEL, HEADS, D_FF = 64, 4, 128
D_HEAD = D_MODEL // HEADS


def param(*shape, scale=0.1):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


Wq, Wk, Wv, Wo = (param(D_MODEL, D_MODEL) for _ in range(4))
W_ff1, b_ff1 = param(D_MODEL, D_FF), np.zeros(D_FF, np.float32)
W_ff2, b_ff2 = param(D_FF, D_MODEL), np.zeros(D_MODEL, np.float32)
ln1_g, ln1_b = np.ones(D_MODEL, np.float32), np.zeros(D_MODEL, np.float32)
ln2_g, ln2_b = np.ones(D_MODEL, np.float32), np.zeros(D_MODEL, np.float32)


def split_heads(t):
    b, s, _ = t.shape
    return t.reshape(b, s, HEADS, D_HEAD).transpose(0, 2, 1, 3)


def attention(x):
    q, k, v = split_heads(x @ Wq), split_heads(x @ Wk), split_heads(x @ Wv)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(np.float32(D_HEAD))
    ctx = ops.softmax(scores, axis=-1) @ v
    b, _, s, _ = ctx.shape
    return ctx.transpose(0, 2, 1, 3).reshape(b, s, D_MODEL) @ Wo


def model(x):
    x = x + attention(ops.layer_norm(x, ln1_g, ln1_b))
    h = ops.gelu(ops.layer_norm(x, ln2_g, ln2_b) @ W_ff1 + b_ff1)
    return x + h @ W_ff2 + b_ff2


example_inputs = (rng.standard_normal((2, 16, D_MODEL)).astype(np.float32),)
dynamic_axes = {"x": {0: "batch", 1: "seq"}}
