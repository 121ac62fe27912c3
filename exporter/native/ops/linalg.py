"""Matrix products: MatMul (NumPy semantics, batched with broadcasting), Gemm, Einsum."""
from __future__ import annotations

import re
import string

import numpy as np

from .. import dims as D
from ..cpp import literal
from ..target import PACK_ROWS, PANEL_BYTES
from . import NUMERIC, OpDef, broadcast_shapes, fail, register


@register
class MatMul(OpDef):
    types = ("MatMul",)
    dtypes = NUMERIC

    def infer(self, node):
        a, b = node.inputs
        sa = [1] + a.shape if a.rank == 1 else a.shape
        sb = b.shape + [1] if b.rank == 1 else b.shape
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        out = batch + [sa[-2], sb[-1]]
        if a.rank == 1:
            out.pop(-2)
        if b.rank == 1:
            out.pop(-1)
        return [(a.dtype, out)]

    def emit(self, node, cg):
        a, b = node.inputs
        out = cg.result(node)
        sa = [1] + a.shape if a.rank == 1 else a.shape
        sb = b.shape + [1] if b.rank == 1 else b.shape
        m, k, n = sa[-2], sa[-1], sb[-1]
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        single_b = len(sb) == 2 or D.prod(sb[:-2]) == 1
        packed = b.data is not None and single_b
        b_var = cg.constant(pack_panels(b.data.reshape(sb[-2], sb[-1])), f"{b.name}_packed") if packed else cg.var(b)
        step = {"template": "matmul", "a": cg.var(a), "a_rs": cg.dim(k), "a_cs": "1", "b": b_var, "b_rs": cg.dim(n),
                "b_cs": "1", "packed": packed, "c": cg.var(out), "ctype": cg.ctype(out.dtype), "k": cg.dim(k),
                "n": cg.dim(n), "epilogue": cg.epilogue(node, per_row=False)}
        step["flops"] = cg.flops((batch if not single_b else sa[:-2]) + [m, n, k])
        if single_b:
            # B is one matrix: fold A's batch dims into M, a single GEMM
            return [dict(step, m=cg.dim(D.mul(D.prod(sa[:-2]), m)), batch=None)]
        # batched (attention's products): per batch index, offsets of A and B under broadcasting
        rank = len(batch)
        pa = [1] * (rank - len(sa[:-2])) + sa[:-2]
        pb = [1] * (rank - len(sb[:-2])) + sb[:-2]
        return [dict(step, m=cg.dim(m), batch={
            "dims": cg.dims(batch), "count": cg.dim(D.prod(batch)),
            "a_strides": cg.dims(_broadcast_strides(pa, D.mul(m, k))),
            "b_strides": cg.dims(_broadcast_strides(pb, D.mul(k, n)))})]




def pack_panels(b: np.ndarray) -> np.ndarray:
    """A constant [K, N] matrix in the B layout of exporter_rt::gemm_ex: panels of PANEL_BYTES' worth of
    columns, each [K][width] contiguous, the last zero-padded; every micro-kernel reads it in place."""
    width = PANEL_BYTES // b.dtype.itemsize
    k, n = b.shape
    panels = -(-n // width)
    padded = np.zeros((k, panels * width), b.dtype)
    padded[:, :n] = b
    return np.ascontiguousarray(padded.reshape(k, panels, width).transpose(1, 0, 2))


def pack_rows(a: np.ndarray) -> np.ndarray:
    """A constant [M, K] matrix in the A layout (convolution weights): panels of PACK_ROWS rows, each
    [K][PACK_ROWS] contiguous, the last zero-padded."""
    m, k = a.shape
    panels = -(-m // PACK_ROWS)
    padded = np.zeros((panels * PACK_ROWS, k), a.dtype)
    padded[:m] = a
    return np.ascontiguousarray(padded.reshape(panels, PACK_ROWS, k).transpose(0, 2, 1))


def _broadcast_strides(shape, block):
    """Element strides of a contiguous batch of `block`-sized matrices; 0 where the dim broadcasts."""
    strides, stride = [], block
    for d in reversed(shape):
        strides.insert(0, 0 if (not isinstance(d, D.Sym) and d == 1) else stride)
        stride = D.mul(stride, d)
    return strides


@register
class Gemm(OpDef):
    """Y = alpha * A' @ B' + beta * C. Transposed constant operands are transposed once, at export."""
    types = ("Gemm",)
    dtypes = NUMERIC

    def infer(self, node):
        a, b = node.inputs[:2]
        m = a.shape[1] if node.attr("transA", 0) else a.shape[0]
        n = b.shape[0] if node.attr("transB", 0) else b.shape[1]
        return [(a.dtype, [m, n])]

    def emit(self, node, cg):
        a, b = node.inputs[:2]
        c = node.input(2)
        out = cg.result(node)
        m, n = node.outputs[0].shape
        trans_a, trans_b = node.attr("transA", 0), node.attr("transB", 0)
        k = a.shape[0] if trans_a else a.shape[1]
        packed = b.data is not None
        # transposed operands are read through their strides: no copy
        a_rs, a_cs = ("1", cg.dim(m)) if trans_a else (cg.dim(k), "1")
        if packed:
            b_var, b_rs, b_cs = cg.constant(pack_panels(b.data.T if trans_b else b.data), f"{b.name}_packed"), "0", "0"
        else:
            b_var = cg.var(b)
            b_rs, b_cs = ("1", cg.dim(k)) if trans_b else (cg.dim(n), "1")
        alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
        epilogue = cg.epilogue(node, per_row=False)
        if alpha != 1.0:
            epilogue["alpha"] = literal(alpha, out.dtype)
        if c is not None and beta != 0.0:
            cs = [1] * (2 - c.rank) + c.shape
            epilogue["bias"] = {"var": cg.var(c), "rs": "0" if _is_one(cs[0]) else cg.dim(cs[1]),
                                "cs": "0" if _is_one(cs[1]) else "1"}
            if beta != 1.0:
                epilogue["beta"] = literal(beta, out.dtype)
        return [{"template": "matmul", "a": cg.var(a), "a_rs": a_rs, "a_cs": a_cs, "b": b_var, "b_rs": b_rs,
                 "b_cs": b_cs, "packed": packed, "c": cg.var(out), "ctype": cg.ctype(out.dtype), "m": cg.dim(m),
                 "k": cg.dim(k), "n": cg.dim(n), "batch": None, "epilogue": epilogue,
                 "flops": cg.flops([m, n, k])}]


def _is_one(d):
    return not isinstance(d, D.Sym) and d == 1


@register
class Einsum(OpDef):
    """General Einsum as one loop nest over all its letters; an ellipsis stands for letters of its own (its
    axes broadcast from the right, and lead the output when the equation has no '->')."""
    types = ("Einsum",)
    dtypes = NUMERIC

    def _parse(self, node):
        equation = node.attr("equation").replace(" ", "")
        lhs, arrow, rhs = equation.partition("->")
        terms = lhs.split(",")
        named = lhs.replace(",", "").replace("...", "")
        if not arrow:
            rhs = "".join(c for c in sorted(set(named)) if named.count(c) == 1)
        if "..." not in lhs:
            return terms, rhs
        # the ellipsis: axes not named by letters, as fresh letters shared by every term (aligned on the right)
        free = [c for c in string.ascii_letters if c not in equation]
        ranks = [v.rank - len(t.replace("...", "")) if "..." in t else 0 for t, v in zip(terms, node.inputs)]
        if min(ranks) < 0 or max(ranks) > len(free):
            fail(node, f"equation '{equation}' does not fit inputs of ranks {[v.rank for v in node.inputs]}")
        extra = "".join(free[:max(ranks)])
        terms = [t.replace("...", extra[len(extra) - r:]) for t, r in zip(terms, ranks)]
        return terms, (rhs.replace("...", extra) if arrow else extra + rhs)

    def check(self, node):
        lhs, _, rhs = node.attr("equation").replace(" ", "").partition("->")
        if not all(re.fullmatch(r"[a-zA-Z]*(\.\.\.)?[a-zA-Z]*", t) for t in lhs.split(",") + [rhs]):
            return "equation"
        return super().check(node)

    def _extents(self, node):
        terms, _ = self._parse(node)
        extents = {}
        for term, v in zip(terms, node.inputs):
            for letter, d in zip(term, v.shape):
                if letter not in extents or (not isinstance(extents[letter], D.Sym) and extents[letter] == 1):
                    extents[letter] = d
        return extents

    def infer(self, node):
        _, rhs = self._parse(node)
        extents = self._extents(node)
        return [(node.inputs[0].dtype, [extents[c] for c in rhs])]

    def emit(self, node, cg):
        terms, rhs = self._parse(node)
        extents = self._extents(node)
        letters = list(rhs) + sorted(set("".join(terms)) - set(rhs))

        def index(term, shape):
            parts, stride = [], 1
            for letter, d in reversed(list(zip(term, shape))):
                if not (not isinstance(d, D.Sym) and d == 1):
                    parts.insert(0, f"i_{letter} * {cg.dim(stride)}" if cg.dim(stride) != "1" else f"i_{letter}")
                stride = D.mul(stride, d)
            return " + ".join(parts) or "0"

        out = node.outputs[0]
        return [{"template": "einsum", "out": cg.var(out), "ctype": cg.ctype(out.dtype), "count": cg.dim(out.numel),
                 "loops": [{"letter": c, "extent": cg.dim(extents[c])} for c in letters], "n_out": len(rhs),
                 "out_index": index(rhs, out.shape),
                 "factors": [{"var": cg.var(v), "index": index(t, v.shape)} for t, v in zip(terms, node.inputs)]}]



@register
class Det(OpDef):
    """Determinants of [..., M, M] matrices: LU decomposition with partial pivoting, in double (scratch)."""
    types = ("Det",)
    dtypes = {np.dtype(np.float32), np.dtype(np.float64)}

    def infer(self, node):
        x = node.inputs[0]
        if x.rank < 2:
            fail(node, f"its input has rank {x.rank}; Det needs [..., M, M]")
        a, b = x.shape[-2:]
        if not isinstance(a, D.Sym) and not isinstance(b, D.Sym) and a != b:
            fail(node, f"its input's matrices are {a}x{b}, not square")
        if not D.same(a, b):
            node.checks.append((a, b, "its matrices are square"))
        return [(x.dtype, list(x.shape[:-2]))]

    def scratch(self, node):
        x = node.inputs[0]
        return D.mul(D.mul(x.shape[-1], x.shape[-1]), 8 // x.dtype.itemsize)

    def emit(self, node, cg):
        x = node.inputs[0]
        return [{"template": "det", "x": cg.var(x), "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "batch": cg.dim(D.prod(x.shape[:-2])), "m": cg.dim(x.shape[-1]), "scratch": cg.scratch_var(node)}]
