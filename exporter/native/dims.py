"""Dimensions for the native backend: a dimension is a Python int (static) or a `Sym`, a C++ expression
over the model's dynamic dimensions that can also be evaluated in Python for given sizes."""
from __future__ import annotations

import re


class Sym:
    """A symbolic dimension: `cpp` is its C++ expression, `fn(env)` its value for concrete dim sizes."""

    __slots__ = ("cpp", "fn")

    def __init__(self, cpp: str, fn):
        self.cpp, self.fn = cpp, fn

    @staticmethod
    def var(name: str) -> "Sym":
        return Sym(cpp_dim_name(name), lambda env, n=name: env[n])

    def __repr__(self):
        return f"Sym({self.cpp})"

    # arithmetic folds ints and returns Syms otherwise
    def __add__(self, o): return add(self, o)
    def __radd__(self, o): return add(o, self)
    def __sub__(self, o): return sub(self, o)
    def __rsub__(self, o): return sub(o, self)
    def __mul__(self, o): return mul(self, o)
    def __rmul__(self, o): return mul(o, self)
    def __floordiv__(self, o): return floordiv(self, o)
    def __rfloordiv__(self, o): return floordiv(o, self)


Dim = int | Sym


def cpp_dim_name(name: str) -> str:
    """C++ identifier of a dynamic dim: ASCII only; a name that had to be changed (or shortened) gets a
    hash suffix, so that two different names never share an identifier."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    if ident != str(name) or len(ident) > 40:
        import zlib
        ident = f"{ident[:40]}_{zlib.crc32(str(name).encode('utf-8', 'surrogateescape')):08x}"
    return "d_" + ident


def cpp(d) -> str:
    """C++ expression of a dimension."""
    return d.cpp if isinstance(d, Sym) else str(int(d))


def evaluate(d, env) -> int:
    return d.fn(env) if isinstance(d, Sym) else int(d)


def same(a, b) -> bool:
    if isinstance(a, Sym) or isinstance(b, Sym):
        return isinstance(a, Sym) and isinstance(b, Sym) and a.cpp == b.cpp
    return int(a) == int(b)


def is_static(shape) -> bool:
    return all(not isinstance(d, Sym) for d in shape)


def _binary(a, b, op: str, fn):
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return fn(int(a), int(b))
    ca, cb = cpp(a), cpp(b)
    return Sym(f"({ca} {op} {cb})", lambda env: fn(evaluate(a, env), evaluate(b, env)))


def add(a, b):
    if not isinstance(b, Sym) and int(b) == 0:
        return a
    if not isinstance(a, Sym) and int(a) == 0:
        return b
    return _binary(a, b, "+", lambda x, y: x + y)


def sub(a, b):
    if not isinstance(b, Sym) and int(b) == 0:
        return a
    return _binary(a, b, "-", lambda x, y: x - y)


def mul(a, b):
    for x, y in ((a, b), (b, a)):
        if not isinstance(x, Sym) and int(x) == 1:
            return y
        if not isinstance(x, Sym) and int(x) == 0:
            return 0
    return _binary(a, b, "*", lambda x, y: x * y)


def floordiv(a, b):
    if not isinstance(b, Sym) and int(b) == 1:
        return a
    if isinstance(b, Sym):  # a run-time divisor may be 0 (a batch of 0): the C++ must not divide by it
        ca, cb = cpp(a), cpp(b)
        return Sym(f"(({cb}) != 0 ? ({ca}) / ({cb}) : int64_t(0))",
                   lambda env: (lambda x, y: x // y if y else 0)(evaluate(a, env), evaluate(b, env)))
    return _binary(a, b, "/", lambda x, y: x // y if y else 0)


def prod(dims):
    result = 1
    for d in dims:
        result = mul(result, d)
    return result


def maximum(a, b):
    if same(a, b):
        return a
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return max(int(a), int(b))
    return Sym(f"std::max<int64_t>({cpp(a)}, {cpp(b)})", lambda env: max(evaluate(a, env), evaluate(b, env)))


def call(func: str, args, fn):
    """A dimension computed by a C++ helper (exporter_rt::func) mirrored by the Python `fn`."""
    if all(not isinstance(a, Sym) for a in args):
        return fn(*[int(a) for a in args])
    return Sym(f"exporter_rt::{func}({', '.join(cpp(a) for a in args)})",
               lambda env: fn(*[evaluate(a, env) for a in args]))


# Python mirrors of the C++ helpers in exporter_runtime.h (keep in step).
def slice_start(dim: int, start: int, step: int) -> int:
    if start < 0:
        start += dim
    return max(0, min(start, dim)) if step > 0 else max(-1, min(start, dim - 1))


def slice_len(dim: int, start: int, end: int, step: int) -> int:
    begin = slice_start(dim, start, step)
    if end < 0:
        end += dim
    end = max(0, min(end, dim)) if step > 0 else max(-1, min(end, dim - 1))
    if step > 0:
        return max(0, (end - begin + step - 1) // step)
    return max(0, (begin - end + (-step) - 1) // (-step))


def conv_out(size: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int,
             ceil_mode: int = 0) -> int:
    """Output length of a convolution or pooling window sweep (ONNX/PyTorch rules)."""
    span = (kernel - 1) * dilation + 1
    num = size + pad_begin + pad_end - span
    if not ceil_mode:
        return num // stride + 1
    out = -(-num // stride) + 1
    if (out - 1) * stride >= size + pad_begin:  # the last window must start inside the input or left padding
        out -= 1
    return out
