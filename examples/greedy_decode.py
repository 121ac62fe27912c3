"""Greedy decoding with `exporter.while_loop`: a small recurrent language model emits the most likely
next token until it emits END or has written MAX_LEN tokens. The number of steps depends on the data,
so the loop is an ONNX Loop with a condition (no trip count). Export with
`exporter export examples/greedy_decode.py --to onnx`."""
import numpy as np

import exporter
from exporter import ops

VOCAB, DIM, MAX_LEN, END = 16, 32, 12, 0
rng = np.random.default_rng(4)
EMBED = rng.standard_normal((VOCAB, DIM)).astype(np.float32)
W_H = (rng.standard_normal((DIM, DIM)) / np.sqrt(DIM)).astype(np.float32)
W_OUT = rng.standard_normal((DIM, VOCAB)).astype(np.float32)


def model(h0, start):
    """h0: (DIM,) initial state; start: () int64 first token. Returns the tokens (MAX_LEN,), END-padded,
    and how many were generated."""
    positions = np.arange(MAX_LEN)

    def keep_going(carry):
        step, token, _, _ = carry
        return (step < MAX_LEN) & (token != END)

    def decode_one(carry):
        step, token, h, tokens = carry
        h = np.tanh(ops.gather(EMBED, token) + h @ W_H)
        token = np.argmax(h @ W_OUT)
        tokens = np.where(positions == step, token, tokens)  # a fixed-size buffer: carries keep their shape
        return step + 1, token, h, tokens

    init = (np.int64(0), start, h0, np.full(MAX_LEN, END, np.int64))
    length, _, _, tokens = exporter.while_loop(keep_going, decode_one, init)
    return tokens, length


example_inputs = (np.random.default_rng(2).standard_normal(DIM).astype(np.float32), np.int64(3))  # stops at END after 9
