"""dims.Sym: the simplifier must never change a dimension's value, and must produce the forms users read."""
import ast

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from exporter.native import dims as D

NAMES = ("batch", "seq", "n")
B, S = D.Sym.var("batch"), D.Sym.var("seq")


def _draw_raw():
    """Expressions paired with an unsimplified Python evaluator."""
    leaves = st.one_of(st.sampled_from(NAMES).map(lambda n: (D.Sym.var(n), lambda env, n=n: env[n])),
                       st.integers(-5, 40).map(lambda v: (v, lambda env, v=v: v)))

    def extend(children):
        def build(spec):
            op, (a, fa), (b, fb), k, step = spec
            if op == "+":
                return D.add(a, b), lambda env: fa(env) + fb(env)
            if op == "-":
                return D.sub(a, b), lambda env: fa(env) - fb(env)
            if op == "*":
                return D.mul(a, b), lambda env: fa(env) * fb(env)
            if op == "//":
                return D.floordiv(a, b), lambda env: fa(env) // fb(env) if fb(env) else 0
            if op == "max":
                return D.maximum(a, b), lambda env: max(fa(env), fb(env))
            if op in ("slice_len", "slice_start"):
                # the size a slice sweeps is a dim, never negative (the simplifier relies on it: a full-range
                # slice_len is the dim itself); a difference drawn above may be, so clamp it as a model would
                a, fa = D.maximum(a, 0), (lambda env, fa=fa: max(fa(env), 0))
            if op == "slice_len":
                start = max(k, 0) if step > 0 else -1
                if k % 2:
                    return (D.call("slice_len", [a, start, b, step], D.slice_len),
                            lambda env: D.slice_len(fa(env), start, fb(env), step))
                return (D.call("slice_len", [a, start, 2 ** 62 - 1, step], D.slice_len),
                        lambda env: D.slice_len(fa(env), start, 2 ** 62 - 1, step))
            return (D.call("slice_start", [a, k, step], D.slice_start),
                    lambda env: D.slice_start(fa(env), k, step))
        return st.tuples(st.sampled_from(["+", "-", "*", "//", "max", "slice_len", "slice_start"]),
                         children, children, st.integers(-6, 6), st.sampled_from([1, 2, -1, 3])).map(build)
    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(_draw_raw(), st.fixed_dictionaries({n: st.integers(1, 50) for n in NAMES}))
def test_simplified_expression_evaluates_like_the_unsimplified_one(pair, env):
    expr, reference = pair
    assert D.evaluate(expr, env) == reference(env)


class _FloorDiv(ast.NodeTransformer):
    """C++ `/` on dims is mirrored by Python `//` with x / 0 -> 0 (as dims.evaluate does)."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            return ast.Call(ast.Name("_div", ast.Load()), [node.left, node.right], [])
        return node


@settings(max_examples=300, deadline=None)
@given(_draw_raw(), st.fixed_dictionaries({n: st.integers(1, 50) for n in NAMES}))
def test_cpp_text_is_the_same_expression(pair, env):
    """The rendered C++ must mean what the tree means (precedence, parentheses, signs)."""
    expr, reference = pair
    code = D.cpp(expr).replace("exporter_rt::", "").replace("std::max<int64_t>", "max")
    tree = ast.fix_missing_locations(_FloorDiv().visit(ast.parse(code, mode="eval")))
    namespace = {D.cpp_dim_name(n): v for n, v in env.items()}
    namespace.update(slice_len=D.slice_len, slice_start=D.slice_start, _div=lambda a, b: a // b if b else 0,
                     dim_div=lambda a, b: a // b if b else 0)
    assert eval(compile(tree, "<dim>", "eval"), namespace) == reference(env)


@pytest.mark.parametrize("expr, cpp, text", [
    (lambda: (((B * 16) * 4) * 4) // B, "256", "256"),
    (lambda: D.call("slice_len", [B, 0, 4611686018427387903, 1], D.slice_len), "d_batch", "batch"),
    (lambda: B * S // S, "d_batch", "batch"),
    (lambda: (B * S * 4) // (S * 2), "2 * d_batch", "2 * batch"),
    (lambda: (B + 1) * 2 - B, "d_batch + 2", "batch + 2"),
    (lambda: D.prod([2, B, 3, S]), "6 * d_batch * d_seq", "6 * batch * seq"),
    (lambda: B - B, "0", "0"),
    (lambda: D.maximum(B, B * 1), "d_batch", "batch"),
    (lambda: D.call("slice_len", [B, 1, 2 ** 62, 1], D.slice_len),
     "exporter_rt::slice_len(d_batch, 1, 4611686018427387904, 1)", "slice_len(batch, 1, inf, 1)"),
    (lambda: B // (S * 2), "exporter_rt::dim_div(d_batch, 2 * d_seq)", "batch / (2 * seq)"),
])
def test_simplified_forms(expr, cpp, text):
    value = expr()
    assert D.cpp(value) == cpp and D.text(value) == text


def test_same_sees_through_order_and_grouping():
    assert D.same(B * S + 1, 1 + S * B)
    assert D.same((B + S) * 2, 2 * S + 2 * B)
    assert not D.same(B, S) and not D.same(B, 1)


def test_legacy_constructor_and_fn_still_work():
    opaque = D.Sym("d_batch + 7", lambda env: env["batch"] + 7)
    twice = opaque * 2
    assert D.evaluate(twice, {"batch": 3}) == 20 and twice.fn({"batch": 3}) == 20
    assert D.cpp(twice) == "2 * (d_batch + 7)"
    assert np.int64(3) * B is not None and D.evaluate(np.int64(3) * B, {"batch": 2}) == 6
