"""ai.onnx.ml ops: Binarizer (an elementwise op of the fused loops) and ArrayFeatureExtractor (a Gather of
the last axis with the indices flattened)."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..cpp import c_text
from . import NUMERIC, OpDef, fail, register
from .elementwise import Elementwise

DOMAIN = "ai.onnx.ml"


@register
class Binarizer(Elementwise):
    """1 where x > threshold, else 0 (in x's type; the threshold compared as a double)."""
    types = (f"{DOMAIN}.Binarizer",)
    dtypes = NUMERIC

    def expr(self, node, args, cg):
        t = cg.ctype(node.outputs[0].dtype)
        return f"(double({args[0]}) > {float(node.attr('threshold', 0.0))!r} ? {t}(1) : {t}(0))"


@register
class ArrayFeatureExtractor(OpDef):
    """data[..., indices] with the indices flattened: [..., K] ([1, K] for a 1-D input), as ONNX Runtime."""
    types = (f"{DOMAIN}.ArrayFeatureExtractor",)
    dtypes = NUMERIC

    def check(self, node):
        if node.inputs[1].dtype.kind != "i":
            return f"indices of dtype {node.inputs[1].dtype}"
        return super().check(node)

    def infer(self, node):
        x, idx = node.inputs
        if x.rank == 0:
            fail(node, "its input is a scalar (at least one axis is needed)")
        lead = [1] if x.rank == 1 else list(x.shape[:-1])
        return [(x.dtype, lead + [idx.numel])]

    def emit(self, node, cg):
        x, idx = node.inputs
        return [{"template": "gather", "src": cg.var(x), "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "indices": cg.var(idx), "itype": cg.ctype(idx.dtype), "outer": cg.dim(D.prod(x.shape[:-1])),
                 "n": cg.dim(x.shape[-1]), "inner": "1", "count": cg.dim(idx.numel), "node": c_text(node.name),
                 "op": "ArrayFeatureExtractor"}]


AGGREGATES = {0: "average", 1: "sum", 2: "min", 3: "max"}


@register
class TreeEnsemble(OpDef):
    """TreeEnsemble (ai.onnx.ml opset 5): every tree walked per row (its tables are weights: each node's
    feature, split, mode, children, set members), leaf weights aggregated per target; post_transform NONE."""
    types = (f"{DOMAIN}.TreeEnsemble",)
    dtypes = {np.dtype(np.float32), np.dtype(np.float64)}

    def check(self, node):
        if node.attr("post_transform", 0) != 0:
            return f"post_transform {node.attr('post_transform')} (only NONE is supported)"
        if node.attr("aggregate_function", 1) not in AGGREGATES:
            return f"aggregate_function {node.attr('aggregate_function')}"
        return super().check(node)

    def infer(self, node):
        x = node.inputs[0]
        if x.rank != 2:
            fail(node, f"its input must be [N, features]; its shape is {x.shape}")
        self._tables(node)
        return [(x.dtype, [x.shape[0], int(node.attr("n_targets", 1))])]

    def _tables(self, node):
        """The node, leaf and root tables (children: a node index, or -(leaf + 1)); set members in the order
        ONNX's reference consumes them (depth first from each root, true branch first)."""
        def ints(key):
            return [int(v) for v in np.asarray(node.attr(key, []), np.int64).reshape(-1)]

        modes, features, splits = ints("nodes_modes"), ints("nodes_featureids"), node.attr("nodes_splits")
        splits = np.asarray(splits if splits is not None else [], np.float64).reshape(-1)
        true_ids, false_ids = ints("nodes_truenodeids"), ints("nodes_falsenodeids")
        true_leafs, false_leafs = ints("nodes_trueleafs"), ints("nodes_falseleafs")
        missing = ints("nodes_missing_value_tracks_true") or [0] * len(modes)
        weights = np.asarray(node.attr("leaf_weights", []), np.float64).reshape(-1)
        targets, roots = ints("leaf_targetids"), ints("tree_roots")
        n, n_targets = len(modes), int(node.attr("n_targets", 1))
        if any(len(a) != n for a in (features, splits, true_ids, false_ids, true_leafs, false_leafs, missing)):
            fail(node, "its nodes_* attributes have different lengths")
        if len(targets) != len(weights) or any(not 0 <= t < n_targets for t in targets):
            fail(node, f"its leaf tables disagree or name targets outside 0..{n_targets - 1}")
        if any(m not in range(7) for m in modes):
            fail(node, f"its nodes_modes has values outside 0..6: {sorted(set(modes))}")
        x = node.inputs[0]
        if not isinstance(x.shape[1], D.Sym) and any(not 0 <= f < x.shape[1] for f in features):
            fail(node, f"a node reads a feature outside its input's {x.shape[1]}")

        def child(ids, leafs, i):
            j = ids[i]
            if not 0 <= j < (len(weights) if leafs[i] else n):
                fail(node, f"node {i} points to {'leaf' if leafs[i] else 'node'} {j}, which does not exist")
            return -(j + 1) if leafs[i] else j

        members = [float(v) for v in np.asarray(node.attr("membership_values", []), np.float64).reshape(-1)]
        member_start, member_count = [0] * n, [0] * n
        cursor, order, tops = 0, [], []
        for r in roots:
            if not 0 <= r < n:
                fail(node, f"tree root {r} is not a node")
            leaf = true_leafs[r] and false_leafs[r] and true_ids[r] == false_ids[r]
            tops.append(-(r + 1) if leaf else r)
            if leaf and r >= len(weights):
                fail(node, f"tree root {r} is a leaf that does not exist")
            stack, seen = ([] if leaf else [r]), set()
            while stack:  # depth first, true branch first
                i = stack.pop()
                if i in seen:
                    fail(node, f"its trees have a cycle through node {i}")
                seen.add(i)
                order.append(i)
                for ids, leafs in ((false_ids, false_leafs), (true_ids, true_leafs)):
                    c = child(ids, leafs, i)
                    if c >= 0:
                        stack.append(c)
        for i in order:
            if modes[i] == 6:
                member_start[i] = cursor
                while cursor < len(members) and not np.isnan(members[cursor]):
                    cursor += 1
                member_count[i] = cursor - member_start[i]
                cursor += 1
        return {"feature": np.asarray(features, np.int64), "split": splits, "mode": np.asarray(modes, np.int64),
                "true_next": np.asarray([child(true_ids, true_leafs, i) for i in range(n)], np.int64),
                "false_next": np.asarray([child(false_ids, false_leafs, i) for i in range(n)], np.int64),
                "missing": np.asarray(missing, np.int64), "member_start": np.asarray(member_start, np.int64),
                "member_count": np.asarray(member_count, np.int64), "members": np.asarray(members or [0.0]),
                "weight": weights if len(weights) else np.zeros(1), "target": np.asarray(targets or [0], np.int64),
                "roots": np.asarray(tops, np.int64)}

    def emit(self, node, cg):
        x, y = node.inputs[0], node.outputs[0]
        tables = {k: cg.constant(v, f"{node.name}_{k}") for k, v in self._tables(node).items()}
        return [{"template": "tree_ensemble", "x": cg.var(x), "y": cg.var(y), "ctype": cg.ctype(x.dtype),
                 "rows": cg.dim(x.shape[0]), "features": cg.dim(x.shape[1]), "targets": y.shape[1],
                 "trees": len(node.attr("tree_roots", [])), "aggregate": AGGREGATES[node.attr("aggregate_function", 1)],
                 **tables}]
