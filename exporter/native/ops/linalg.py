"""Matrix products: MatMul (NumPy semantics, batched with broadcasting), Gemm, Einsum."""
from __future__ import annotations

import re

import numpy as np

from .. import dims as D
from . import NUMERIC, OpDef, broadcast_shapes, register


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
        out = node.outputs[0]
        sa = [1] + a.shape if a.rank == 1 else a.shape
        sb = b.shape + [1] if b.rank == 1 else b.shape
        m, k, n = sa[-2], sa[-1], sb[-1]
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        packed = b.data is not None and (len(sb) == 2 or D.prod(sb[:-2]) == 1)
        b_var = cg.constant(pack_panels(b.data.reshape(sb[-2], sb[-1])), f"{b.name}_packed") if packed else cg.var(b)
        step = {"template": "matmul", "a": cg.var(a), "b": b_var, "packed": packed, "c": cg.var(out), "ctype": cg.ctype(out.dtype),
                "k": cg.dim(k), "n": cg.dim(n)}
        if len(sb) == 2 or D.prod(sb[:-2]) == 1:
            # B is one matrix: fold A's batch dims into M, a single GEMM
            return [dict(step, m=cg.dim(D.mul(D.prod(sa[:-2]), m)), batch=None)]
        # batched: per batch index, offsets of A and B under broadcasting
        rank = len(batch)
        pa = [1] * (rank - len(sa[:-2])) + sa[:-2]
        pb = [1] * (rank - len(sb[:-2])) + sb[:-2]
        return [dict(step, m=cg.dim(m), batch={
            "dims": cg.dims(batch), "count": cg.dim(D.prod(batch)),
            "a_strides": cg.dims(_broadcast_strides(pa, D.mul(m, k))),
            "b_strides": cg.dims(_broadcast_strides(pb, D.mul(k, n)))})]


def pack_panels(b: np.ndarray) -> np.ndarray:
    """A constant [K, N] matrix in the layout of exporter_rt::gemm_packed: panels of 128 bytes' worth of
    columns, each [K][width] contiguous, the last zero-padded; the GEMM then streams it."""
    width = 128 // b.dtype.itemsize
    k, n = b.shape
    panels = -(-n // width)
    padded = np.zeros((k, panels * width), b.dtype)
    padded[:, :n] = b
    return np.ascontiguousarray(padded.reshape(k, panels, width).transpose(1, 0, 2))


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

    def scratch(self, node):
        a, b = node.inputs[:2]
        size = 0
        if node.attr("transA", 0) and a.data is None:
            size = D.add(size, a.numel)
        if node.attr("transB", 0) and b.data is None:
            size = D.add(size, b.numel)
        return size

    def emit(self, node, cg):
        a, b = node.inputs[:2]
        c = node.input(2)
        out = node.outputs[0]
        m, n = out.shape
        k = a.shape[0] if node.attr("transA", 0) else a.shape[1]
        operands, scratch_used = [], 0
        steps = []
        packed = b.data is not None
        for value, transposed in ((a, node.attr("transA", 0)), (b, node.attr("transB", 0))):
            if value is b and packed:
                operands.append(cg.constant(pack_panels(value.data.T if transposed else value.data), f"{value.name}_packed"))
            elif not transposed:
                operands.append(cg.var(value))
            elif value.data is not None:
                operands.append(cg.constant(value.data.T, f"{value.name}_T"))
            else:
                dst = f"({cg.scratch_var(node)} + {cg.dim(scratch_used)})"
                steps.append({"template": "transpose", "src": cg.var(value), "dst": dst, "ctype": cg.ctype(value.dtype),
                              "rank": 2, "shape": cg.dims(value.shape), "perm": [1, 0]})
                operands.append(dst)
                scratch_used = D.add(scratch_used, value.numel)
        alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
        bias = None
        if c is not None and beta != 0.0:
            cs = [1] * (2 - c.rank) + c.shape
            bias = {"var": cg.var(c), "row_stride": "0" if cs[0] == 1 else cg.dim(cs[1]),
                    "col_stride": "0" if cs[1] == 1 else "1"}
        from .elementwise import literal
        steps.append({"template": "matmul", "a": operands[0], "b": operands[1], "c": cg.var(out),
                      "ctype": cg.ctype(out.dtype), "m": cg.dim(m), "k": cg.dim(k), "n": cg.dim(n), "batch": None,
                      "packed": packed,
                      "alpha": None if alpha == 1.0 else literal(alpha, out.dtype), "bias": bias,
                      "beta": None if beta == 1.0 else literal(beta, out.dtype)})
        return steps


@register
class Einsum(OpDef):
    """General Einsum as one loop nest over all its letters (no ellipsis)."""
    types = ("Einsum",)
    dtypes = NUMERIC

    def _parse(self, node):
        equation = node.attr("equation").replace(" ", "")
        if "..." in equation:
            return None
        lhs, _, rhs = equation.partition("->")
        terms = lhs.split(",")
        if not _:
            letters = sorted(set(lhs.replace(",", "")))
            rhs = "".join(c for c in letters if lhs.replace(",", "").count(c) == 1)
        return terms, rhs

    def check(self, node):
        if self._parse(node) is None:
            return "ellipsis in the equation"
        if not re.fullmatch(r"[a-zA-Z,\->]*", node.attr("equation").replace(" ", "")):
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

