"""Dimensions for the native backend: a dimension is a Python int (static) or a `Sym`, a small expression
tree over the model's dynamic dimensions. Syms are kept in a canonical, simplified form (constants folded,
sums and products flattened with like terms collected, `x * a / x -> a`, a full-range slice_len -> the dim)
and are rendered only when asked: as C++ (`D.cpp`) or as text for people (`D.text`, with the user's names).

>>> b = Sym.var("batch")
>>> D_ = (((b * 16) * 4) * 4) // b
>>> D_
256
>>> cpp(call("slice_len", [b, 0, 2**62 - 1, 1], slice_len)), text(b * 2 + 1)
('d_batch', '2 * batch + 1')
"""
from __future__ import annotations

import math
import re
import struct

ALIGN = 64  # bytes: every arena buffer starts at a multiple (cache lines, and the widest vector loads)


def aligned(nbytes):
    """`nbytes` rounded up to a multiple of ALIGN (a Dim when `nbytes` is one)."""
    return mul(floordiv(add(nbytes, ALIGN - 1), ALIGN), ALIGN)


# Sizes the tracer uses for "to the end" (ONNX Slice ends such as INT64_MAX): any value this large is
# past the end of every real dimension.
_HUGE = 2 ** 31 - 1


class Sym:
    """A symbolic dimension. Build them with `Sym.var(name)`, arithmetic (+ - * //), `maximum` and `call`;
    `cpp` is the C++ expression, `fn(env)` the value for concrete sizes ({dim name: int}).

    Nodes: var(name) | add(const, ((coef, monomial), ...)) | mul(coef, (factor, ...)) | div(a, b) |
    max(a, b) | call(func, args, pyfn) | opaque(cpp, fn) (the old `Sym(cpp, fn)` constructor)."""

    __slots__ = ("op", "args", "key", "_cpp", "_fn")

    def __init__(self, cpp: str, fn):
        # kept for callers that build a Sym from ready C++ text and a Python mirror
        self.op, self.args, self.key = "opaque", (cpp, fn), f"opaque({cpp})"
        self._cpp, self._fn = cpp, fn

    @classmethod
    def _node(cls, op: str, args: tuple, key: str) -> "Sym":
        s = cls.__new__(cls)
        s.op, s.args, s.key, s._cpp, s._fn = op, args, key, None, None
        return s

    @staticmethod
    def var(name: str) -> "Sym":
        return Sym._node("var", (str(name),), f"var({name})")

    @property
    def cpp(self) -> str:
        if self._cpp is None:
            self._cpp = _render(self, cpp_dim_name, "exporter_rt::", "std::max<int64_t>")
        return self._cpp

    @property
    def fn(self):
        return lambda env: evaluate(self, env)

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
    def __neg__(self): return mul(-1, self)


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


def text(d) -> str:
    """A dimension as people read it: the user's dim names, no C++ namespaces (`2 * batch`)."""
    return _render(d, str, "", "max", huge="inf") if isinstance(d, Sym) else str(int(d))


def evaluate(d, env) -> int:
    """The value of `d` for concrete sizes `env` ({dim name: int})."""
    if not isinstance(d, Sym):
        return int(d)
    op, args = d.op, d.args
    if op == "var":
        return env[args[0]]
    if op == "add":
        return args[0] + sum(c * evaluate(m, env) for c, m in args[1])
    if op == "mul":
        result = args[0]
        for f in args[1]:
            result *= evaluate(f, env)
        return result
    if op == "div":
        y = evaluate(args[1], env)
        return evaluate(args[0], env) // y if y else 0
    if op == "max":
        return max(evaluate(args[0], env), evaluate(args[1], env))
    if op == "call":
        return args[2](*[evaluate(a, env) for a in args[1]])
    return args[1](env)  # opaque


def same(a, b) -> bool:
    """True when a and b are the same dimension (for Syms: the same canonical expression)."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return isinstance(a, Sym) and isinstance(b, Sym) and a.key == b.key
    return int(a) == int(b)


def free_vars(d) -> set:
    """Names of the variables `d` depends on."""
    if not isinstance(d, Sym):
        return set()
    if d.op == "var":
        return {d.args[0]}
    if d.op == "add":
        return set().union(*(free_vars(m) for _, m in d.args[1]))
    if d.op == "mul":
        return set().union(*(free_vars(f) for f in d.args[1]))
    if d.op in ("div", "max"):
        return free_vars(d.args[0]) | free_vars(d.args[1])
    if d.op == "call":
        return set().union(*(free_vars(a) for a in d.args[1]))
    return set()  # opaque: built from dynamic dims only


def is_static(shape) -> bool:
    return all(not isinstance(d, Sym) for d in shape)


def _key(d) -> str:
    return d.key if isinstance(d, Sym) else str(int(d))


# --- canonical forms -----------------------------------------------------------------------------------

def _linear(d):
    """d as (const, {monomial key: [coef, monomial]})."""
    if not isinstance(d, Sym):
        return int(d), {}
    if d.op == "add":
        return d.args[0], {m.key: [c, m] for c, m in d.args[1]}
    coef, mono = _split_coef(d)
    return 0, {mono.key: [coef, mono]}


def _split_coef(d: Sym):
    """A non-add Sym as (coef, monomial with coefficient 1)."""
    if d.op == "mul" and d.args[0] != 1:
        return d.args[0], _make_mul(1, d.args[1])
    return 1, d


def _make_add(const: int, terms: dict):
    items = sorted(((c, m) for c, m in terms.values() if c != 0), key=lambda cm: cm[1].key)
    if not items:
        return const
    if const == 0 and len(items) == 1:
        c, m = items[0]
        return m if c == 1 else _make_mul(c, _factors(m))
    key = "add(" + ",".join([str(const)] + [f"{c}*{m.key}" for c, m in items]) + ")"
    return Sym._node("add", (const, tuple(items)), key)


def _factors(d: Sym) -> tuple:
    return d.args[1] if d.op == "mul" else (d,)


def _make_mul(coef: int, factors) -> int | Sym:
    if coef == 0:
        return 0
    factors = tuple(sorted(factors, key=lambda f: f.key))
    if not factors:
        return coef
    if coef == 1 and len(factors) == 1:
        return factors[0]
    key = "mul(" + ",".join([str(coef)] + [f.key for f in factors]) + ")"
    return Sym._node("mul", (coef, factors), key)


def add(a, b):
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) + int(b)
    ca, ta = _linear(a)
    cb, tb = _linear(b)
    terms = {k: list(v) for k, v in ta.items()}
    for k, (c, m) in tb.items():
        if k in terms:
            terms[k][0] += c
        else:
            terms[k] = [c, m]
    return _make_add(ca + cb, terms)


def sub(a, b):
    return add(a, mul(-1, b))


def mul(a, b):
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) * int(b)
    if not isinstance(a, Sym):
        a, b = b, a
    if not isinstance(b, Sym):  # scale: distributes over sums so that (x + 1) * 2 and 2 * x + 2 agree
        k = int(b)
        if k == 0:
            return 0
        if a.op == "add":
            return _make_add(a.args[0] * k, {m.key: [c * k, m] for c, m in a.args[1]})
        coef, mono = _split_coef(a)
        return _make_mul(coef * k, _factors(mono))
    ca, ma = _split_coef(a) if a.op != "add" else (1, a)
    cb, mb = _split_coef(b) if b.op != "add" else (1, b)
    return _make_mul(ca * cb, _factors(ma) + _factors(mb))


def floordiv(a, b):
    if not isinstance(b, Sym):
        k = int(b)
        if not isinstance(a, Sym):
            return int(a) // k if k else 0
        if k == 1:
            return a
        if k != 0:
            const, terms = _linear(a)
            if const % k == 0 and all(c % k == 0 for c, _ in terms.values()):
                return _make_add(const // k, {key: [c // k, m] for key, (c, m) in terms.items()})
    elif isinstance(a, Sym) and a.op != "add" and b.op != "add":
        # cancel common factors: (c_a * F * G) // (c_b * G) == (c_a * F) // c_b when G > 0, which holds
        # for dynamic dims (variables), not for derived expressions (a slice_len may be 0)
        ca, ma = _split_coef(a)
        cb, mb = _split_coef(b)
        rest = list(_factors(ma))
        common = True
        for f in _factors(mb):
            keys = [r.key for r in rest]
            if f.op != "var" or f.key not in keys:
                common = False
                break
            rest.pop(keys.index(f.key))
        if common:
            return floordiv(_make_mul(ca, rest), cb)
    if isinstance(a, Sym) or isinstance(b, Sym):
        if not isinstance(a, Sym) and int(a) == 0:
            return 0
        return Sym._node("div", (a, b), f"div({_key(a)},{_key(b)})")
    return 0


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
    a, b = sorted((a, b), key=_key)
    return Sym._node("max", (a, b), f"max({_key(a)},{_key(b)})")


def call(func: str, args, fn):
    """A dimension computed by a C++ helper (exporter_rt::func) mirrored by the Python `fn`."""
    if all(not isinstance(a, Sym) for a in args):
        return fn(*[int(a) for a in args])
    args = tuple(a if isinstance(a, Sym) else int(a) for a in args)
    if func in ("slice_len", "slice_start") and all(not isinstance(a, Sym) for a in args[1:]):
        dim, start, *rest = args
        step = rest[-1]
        if func == "slice_start" and step > 0 and start == 0:
            return 0
        if func == "slice_len" and step == 1 and start == 0 and rest[0] >= _HUGE:
            return dim  # x[:] over a dynamic axis: the whole axis
    return Sym._node("call", (func, args, fn), f"{func}(" + ",".join(_key(a) for a in args) + ")")


def _render(d, var_name, ns: str, max_name: str, huge: str | None = None) -> str:
    def r(x, parent=""):
        if not isinstance(x, Sym):
            s = huge if huge and abs(int(x)) >= _HUGE else str(int(x))
            return f"({s})" if int(x) < 0 and parent in ("mul", "div") else s
        op, args = x.op, x.args
        if op == "var":
            s = var_name(args[0])
        elif op == "add":
            parts = [] if args[0] == 0 else [str(args[0])]
            for c, m in args[1]:
                body = r(m, "mul") if abs(c) == 1 else f"{abs(c)} * {r(m, 'mul')}"
                parts.append(("- " if c < 0 else "+ ") + body)
            if args[0] != 0:  # constant last reads better: 2 * batch + 1
                parts = parts[1:] + [("- " if args[0] < 0 else "+ ") + str(abs(args[0]))]
            s = " ".join(parts)
            s = s[2:] if s.startswith("+ ") else "-" + s[2:]
            return f"({s})" if parent else s
        elif op == "mul":
            factors = [r(f, "mul") for f in args[1]]
            s = " * ".join(([] if args[0] == 1 else [str(args[0])]) + factors)
            if args[0] == -1:
                s = "-" + " * ".join(factors)
            return f"({s})" if parent in ("div_den",) or (parent == "mul" and args[0] < 0) else s
        elif op == "div":
            if ns and isinstance(args[1], Sym):  # C++: a run-time divisor may be 0 (a batch of 0): no trap
                return f"{ns}dim_div({r(args[0])}, {r(args[1])})"
            s = f"{r(args[0], 'div')} / {r(args[1], 'div_den')}"
            return f"({s})" if parent else s
        elif op == "max":
            s = f"{max_name}({r(args[0])}, {r(args[1])})"
        elif op == "call":
            s = f"{ns}{args[0]}({', '.join(r(a) for a in args[1])})"
        else:
            s = args[0]
            return f"({s})" if parent else s
        return s
    return r(d)


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


# Helpers for sizes that follow from values read at run time (shape-defining inputs). Each returns -1
# for values that give no valid size, which the generated program reports as an error before planning.
def reshape_fix(target: int, dim: int, allowzero: int) -> int:
    """A Reshape target entry with 0 meaning "copy the input's size" (unless allowzero)."""
    return dim if target == 0 and not allowzero else target


def reshape_infer(entry: int, count: int, *entries: int) -> int:
    """A Reshape target entry with -1 resolved from the element count (at most one -1)."""
    if entry != -1:
        return entry
    known = [e for e in entries if e != -1]
    if len(entries) - len(known) > 1:
        return -1
    product = 1
    for e in known:
        product *= e
    return count // product if product > 0 and count % product == 0 else -1


def expand_dim(dim: int, target: int, broadcasts: int) -> int:
    """Expand's output size for an input size and a target size; an input size that is not a fixed 1
    is never stretched (the generated loop reads it in full)."""
    if broadcasts:
        return target
    return dim if target in (1, dim) else -1


def axis_pick(axis: int, rank: int, default: int, n: int, *rest: int) -> int:
    """rest = n axes then n values: the value whose axis (negative = from the end) is `axis`."""
    for a, v in zip(rest[:n], rest[n:2 * n]):
        if (a + rank if a < 0 else a) == axis:
            return v
    return default


def axes_valid(rank: int, n: int, *axes: int) -> int:
    """1 when the n axes are in -rank..rank-1 and distinct once normalised, else 0."""
    seen = set()
    for a in axes[:n]:
        if not -rank <= a < rank or a % rank in seen:
            return 0
        seen.add(a % rank)
    return 1


def unsqueeze_dim(axis: int, rank: int, n: int, *rest: int) -> int:
    """Size of output axis `axis` of Unsqueeze (output rank `rank`): rest = n axes, then the input dims."""
    if not axes_valid(rank, n, *rest[:n]):
        return -1
    axes = {a + rank if a < 0 else a for a in rest[:n]}
    if axis in axes:
        return 1
    return rest[n + axis - sum(1 for a in axes if a < axis)]


def squeeze_dim(axis: int, rank: int, n: int, *rest: int) -> int:
    """Size of output axis `axis` of Squeeze (input rank `rank`): rest = n axes, then the input dims; -1
    when an axis is invalid or its size is not 1."""
    axes, dims = {a + rank if a < 0 else a for a in rest[:n]}, rest[n:]
    if not axes_valid(rank, n, *rest[:n]) or any(dims[a] != 1 for a in axes):
        return -1
    return [d for i, d in enumerate(dims) if i not in axes][axis]


def reduce_dim(axis: int, rank: int, keep: int, n: int, *rest: int) -> int:
    """Size of output axis `axis` of a reduction over n axes read at run time (rest = n axes, then the
    input's rank dims): with keep, 1 for a reduced axis and the input's size otherwise; without, the
    `axis`-th axis left. -1 when the axes are not valid and distinct."""
    if not axes_valid(rank, n, *rest[:n]):
        return -1
    axes, dims = {a + rank if a < 0 else a for a in rest[:n]}, rest[n:]
    if keep:
        return 1 if axis in axes else dims[axis]
    left = [d for i, d in enumerate(dims) if i not in axes]
    return left[axis] if axis < len(left) else -1


def resize_keep_scale(larger: int, n: int, *rest: int) -> float:
    """Resize's common scale under keep_aspect_ratio_policy (rest = n input sizes, then n target sizes):
    the smallest target/input ratio (not_larger) or the largest (not_smaller); -1 when an input size is 0."""
    ins, targets = rest[:n], rest[n:2 * n]
    if any(i <= 0 for i in ins):
        return -1.0
    ratios = [t / i for i, t in zip(ins, targets)]
    return max(ratios) if larger else min(ratios)


def resize_keep_size(k: int, larger: int, n: int, *rest: int) -> int:
    """Output size of the k-th resized axis under keep_aspect_ratio_policy: round(scale * input size), half
    up as ONNX writes it; -1 (no valid size) when an input size is 0 or the result is out of range."""
    scale = resize_keep_scale(larger, n, *rest)
    size = scale * rest[k] + 0.5
    return int(size) if scale >= 0 and size < 2.0 ** 62 else -1


def real_bits(bits: int) -> float:
    """The double whose bits are `bits` (a float read at run time as a number, see runtime_values)."""
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def resize_scaled(dim: int, scale_bits: int) -> int:
    """Resize's output size for a scale read at run time: floor(dim * scale), as for a fixed scale; -1 when
    that is out of range."""
    size = dim * real_bits(scale_bits)
    return int(size) if 0 <= size < 2.0 ** 62 else -1


def range_count_real(start_bits: int, limit_bits: int, delta_bits: int) -> int:
    """Elements of a float Range read at run time: max(0, ceil((limit - start) / delta)) in double precision
    (as NumPy's arange); -1 for a zero or non-finite delta or a count out of range."""
    start, limit, delta = real_bits(start_bits), real_bits(limit_bits), real_bits(delta_bits)
    if delta == 0:
        return -1
    n = (limit - start) / delta
    if not -2.0 ** 62 < n < 2.0 ** 62:  # (NaN fails too)
        return -1
    return max(0, math.ceil(n))


def div_trunc(a: int, b: int) -> int:
    """Integer division toward zero (ONNX's Div of integers); 0 for a zero divisor (no trap)."""
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def at_most(value: int, limit: int) -> int:
    """`value` when it is at most `limit`, else -1 (no valid size)."""
    return value if value <= limit else -1


def slice_step(dim: int, step: int) -> int:
    """A slice step no larger than the axis (a bigger one takes the same single element), so that the
    strides computed from it cannot overflow; 0 stays 0 (refused when the values are read)."""
    bound = max(dim, 1)
    return max(-bound, min(step, bound))


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
