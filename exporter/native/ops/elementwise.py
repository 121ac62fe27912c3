"""Elementwise ops. Each contributes a C++ expression; the code generator fuses runs of them into one
loop nest over the output shape, so chains like Add -> Relu never touch memory in between."""
from __future__ import annotations

import math

import numpy as np

from ...dtypes import FLOATS
from .. import dims as D
from .. import runtime_values
from ..cpp import literal
from . import ALL, ARITH, LOOP_FLOAT, OpDef, broadcast_shapes, read_at_run_time, register, require_known

BOOL = np.dtype(np.bool_)


def _flat_size(node, knowns):
    """The output's element count when the inputs' flat contents pair up element by element (each input has
    the output's shape or is a single value), else None: [4] against [4, 1] broadcasts to 16 elements."""
    values = [v for v in node.inputs if v is not None]
    out = broadcast_shapes(*[v.shape for v in values])
    if not D.is_static(out):
        return None
    for v, k in zip(values, knowns):
        if len(k) != 1 and (len(v.shape) != len(out) or not all(D.same(a, b) for a, b in zip(v.shape, out))):
            return None
    return int(D.prod(out))


def _float_inputs(node) -> bool:
    """Shape arithmetic is integer arithmetic: float tensors are never folded into known values."""
    return any(v is not None and v.dtype in FLOATS for v in node.inputs)


class Elementwise(OpDef):
    kind = "elementwise"
    formula = "{0}"          # C++ expression over the inputs {0}, {1}, ...; {T}: output type, {I}: input type
    out_dtype = None         # fixed output dtype (comparisons give bool)
    costly = False           # a math function (exp, erf, sin, ...): loops of it pay for threads sooner
    widens = True            # narrow float inputs (dtypes.DType.compute) are widened before `expr` runs

    def infer(self, node):
        shapes = [v.shape for v in node.inputs if v is not None]
        dtype = self.out_dtype or node.inputs[0].dtype
        return [(dtype, broadcast_shapes(*shapes))]

    def operand_shapes(self, node):
        """Shapes used to broadcast each input against the output."""
        return [None if v is None else v.shape for v in node.inputs]

    def expr(self, node, args, cg):
        return self.formula.format(*args, T=cg.ctype(node.outputs[0].dtype), I=cg.ctype(node.inputs[0].dtype))

    def value(self, node):
        fn = getattr(self, "fold", None)
        knowns = [v.known_ints() if v is not None else None for v in node.inputs]
        if fn is None or any(k is None for k in knowns) or _float_inputs(node):
            return None
        n = _flat_size(node, knowns)
        if n is None:
            return None
        try:
            return [[fn(*[k[i if len(k) > 1 else 0] for k in knowns]) for i in range(n)]]
        except TypeError:  # e.g. comparing symbolic dims
            return None


def _div(a, b):
    """Integer Div of known contents: a quotient of sizes as a Dim; one of values read at run time (which
    may be negative) truncates toward zero, as ONNX's Div does."""
    from ..runtime_values import depends
    if depends(a) or depends(b):
        return D.call("div_trunc", [a, b], D.div_trunc)
    return D.floordiv(a, b)


def _def(name, formula, dtypes=ALL, out_dtype=None, fold=None, costly=False):
    cls = type(name, (Elementwise,), {"types": (name,), "formula": formula, "dtypes": dtypes, "costly": costly,
                                      "out_dtype": np.dtype(out_dtype) if out_dtype else None})
    if fold is not None:
        cls.fold = staticmethod(fold)
    register(cls)


_def("Add", "{0} + {1}", ARITH, fold=lambda a, b: D.add(a, b))
_def("Sub", "{0} - {1}", ARITH, fold=lambda a, b: D.sub(a, b))
_def("Mul", "{0} * {1}", ARITH, fold=lambda a, b: D.mul(a, b))
_def("Div", "exporter_rt::div<{T}>({0}, {1})", ARITH, fold=lambda a, b: _div(a, b))
_def("Neg", "-{0}", ARITH)
_def("Sign", "exporter_rt::sign<{T}>({0})", ARITH)
_def("Reciprocal", "{T}(1) / {0}", LOOP_FLOAT)
for _name, _fn in [("Log", "log"), ("Sqrt", "sqrt"), ("Sin", "sin"), ("Cos", "cos"), ("Tan", "tan"),
                   ("Sinh", "sinh"), ("Cosh", "cosh"), ("Asin", "asin"), ("Acos", "acos"),
                   ("Atan", "atan"), ("Asinh", "asinh"), ("Acosh", "acosh"), ("Atanh", "atanh"),
                   ("Floor", "floor"), ("Ceil", "ceil")]:
    _def(_name, f"std::{_fn}({{0}})", LOOP_FLOAT, costly=_name not in ("Floor", "Ceil"))
# runtime_c/vmath.h: branch-free float32 versions the compiler vectorises inside the fused loop (other
# dtypes go to std::); ~8x faster than libm's erff/expf in a loop, within 2 ulp
for _name, _fn in [("Exp", "exp"), ("Tanh", "tanh"), ("Erf", "erf"), ("Sigmoid", "sigmoid")]:
    _def(_name, f"exporter_rt::vm::{_fn}<{{T}}>({{0}})", LOOP_FLOAT, costly=True)
_def("Round", "std::nearbyint({0})", LOOP_FLOAT)
_def("Relu", "({0} < {T}(0) ? {T}(0) : {0})", ARITH)
_def("Softsign", "{0} / ({T}(1) + std::abs({0}))", LOOP_FLOAT)
_def("Softplus", "({0} > {T}(20) ? {0} : std::log1p(std::exp({0})))", LOOP_FLOAT, costly=True)
_def("Not", "!{0}", {BOOL})
_def("And", "({0} && {1})", {BOOL})
_def("Or", "({0} || {1})", {BOOL})
_def("Xor", "({0} != {1})", {BOOL})
_def("BitwiseAnd", "({0} & {1})", ARITH - LOOP_FLOAT)
_def("BitwiseOr", "({0} | {1})", ARITH - LOOP_FLOAT)
_def("BitwiseXor", "({0} ^ {1})", ARITH - LOOP_FLOAT)
_def("BitwiseNot", "{T}(~{0})", ARITH - LOOP_FLOAT)


def _fold_equal(a, b):
    """Equal on shape values; raises TypeError when the answer depends on run-time sizes."""
    if isinstance(a, D.Sym) and isinstance(b, D.Sym):
        if a.cpp == b.cpp:
            return 1
        raise TypeError("unknown")
    if isinstance(a, D.Sym) or isinstance(b, D.Sym):
        sym = a if isinstance(a, D.Sym) else b
        # a dimension is never negative (the -1 of reshape targets); a value read at run time may be
        if int(b if isinstance(a, D.Sym) else a) < 0 and not runtime_values.depends(sym):
            return 0
        raise TypeError("unknown")
    return int(a == b)


_def("Equal", "({0} == {1})", ALL, np.bool_, fold=_fold_equal)
_def("Less", "({0} < {1})", ARITH, np.bool_)
_def("LessOrEqual", "({0} <= {1})", ARITH, np.bool_)
_def("Greater", "({0} > {1})", ARITH, np.bool_)
_def("GreaterOrEqual", "({0} >= {1})", ARITH, np.bool_)
_def("IsNaN", "std::isnan({0})", LOOP_FLOAT, np.bool_)


@register
class Expand(Elementwise):
    """Expand as a broadcasting loop (each output element reads its broadcast source element)."""
    types = ("Expand",)
    shape_inputs = (1,)

    def infer(self, node):
        x = node.inputs[0]
        target = require_known(node, 1, "target shape", kind="size")
        if not read_at_run_time(node, 1):
            return [(x.dtype, broadcast_shapes(x.shape, target))]
        # read at run time: only an input size fixed at 1 stretches (the loop reads any other in full), and
        # a target size must be 1 or the input's size there; otherwise no valid size (reported when read)
        rank = max(x.rank, len(target))
        dims = [1] * (rank - x.rank) + list(x.shape)
        target = [1] * (rank - len(target)) + list(target)
        return [(x.dtype, [D.call("expand_dim", [d, t, int(not isinstance(d, D.Sym) and d == 1)], D.expand_dim)
                           for d, t in zip(dims, target)])]

    def operand_shapes(self, node):
        return [node.inputs[0].shape, None]

    def expr(self, node, args, cg):
        return args[0]


@register
class Abs(Elementwise):
    types = ("Abs",)
    dtypes = ARITH

    def expr(self, node, args, cg):
        # std::abs has no unsigned overloads (ambiguous call); an unsigned value is its own magnitude
        return args[0] if node.inputs[0].dtype.kind == "u" else f"std::abs({args[0]})"


@register
class BitShift(Elementwise):
    """Shifts as ONNX's reference defines them: a shift by a negative amount or by the bit width or more
    (undefined in C++) gives 0, or -1 for a negative value shifted right; left shifts of signed values
    shift the bits (in the unsigned type of the same width)."""
    types = ("BitShift",)
    dtypes = ARITH - LOOP_FLOAT

    def expr(self, node, args, cg):
        t = cg.ctype(node.outputs[0].dtype)
        a, b = args
        out_of_range = f"({b} < {t}(0) || {b} >= {t}(8 * sizeof({t})))"
        if node.attr("direction") == "LEFT":
            return f"({out_of_range} ? {t}(0) : {t}(std::make_unsigned_t<{t}>({a}) << {b}))"
        return f"({out_of_range} ? {t}({a} < {t}(0) ? -1 : 0) : {t}({a} >> {b}))"


@register
class IsInf(Elementwise):
    types = ("IsInf",)
    dtypes = LOOP_FLOAT
    out_dtype = BOOL

    def expr(self, node, args, cg):
        pos, neg = node.attr("detect_positive", 1), node.attr("detect_negative", 1)
        if pos and neg:
            return f"std::isinf({args[0]})"
        if pos:
            return f"({args[0]} == std::numeric_limits<{cg.ctype(node.inputs[0].dtype)}>::infinity())"
        if neg:
            return f"({args[0]} == -std::numeric_limits<{cg.ctype(node.inputs[0].dtype)}>::infinity())"
        return "false"


@register
class Pow(Elementwise):
    types = ("Pow",)
    dtypes = ARITH
    costly = True

    def expr(self, node, args, cg):
        return f"exporter_rt::power<{cg.ctype(node.outputs[0].dtype)}>({args[0]}, {args[1]})"


@register
class Mod(Elementwise):
    types = ("Mod",)
    dtypes = ARITH

    def expr(self, node, args, cg):
        fn = "mod_trunc" if node.attr("fmod", 0) else "mod_floor"
        return f"exporter_rt::{fn}<{cg.ctype(node.outputs[0].dtype)}>({args[0]}, {args[1]})"


@register
class Variadic(Elementwise):
    """Max/Min/Sum/Mean over any number of inputs (NaN propagates through Max/Min, as in NumPy)."""
    types = ("Max", "Min", "Sum", "Mean")
    dtypes = ARITH

    def expr(self, node, args, cg):
        t = cg.ctype(node.outputs[0].dtype)
        result = args[0]
        for a in args[1:]:
            result = {"Max": f"exporter_rt::maximum<{t}>({result}, {a})", "Min": f"exporter_rt::minimum<{t}>({result}, {a})"
                      }.get(node.op, f"({result} + {a})")
        return f"({result} / {t}({len(args)}))" if node.op == "Mean" else result

    def value(self, node):
        knowns = [v.known_ints() for v in node.inputs]
        if node.op not in ("Max", "Min") or any(k is None for k in knowns):
            return None
        from ..runtime_values import depends
        if any(isinstance(x, D.Sym) and not depends(x) for k in knowns for x in k):
            return None  # (sizes alone: left to the step; values read at run time: expressions)
        n = _flat_size(node, knowns)
        if n is None:
            return None

        def pick(*args):
            out = args[0]
            for x in args[1:]:
                out = D.maximum(out, x) if node.op == "Max" else D.mul(-1, D.maximum(D.mul(-1, out), D.mul(-1, x)))
            return out
        return [[pick(*[k[i if len(k) > 1 else 0] for k in knowns]) for i in range(n)]]


@register
class Where(Elementwise):
    types = ("Where",)

    def infer(self, node):
        return [(node.inputs[1].dtype, broadcast_shapes(*[v.shape for v in node.inputs]))]

    def expr(self, node, args, cg):
        return f"({args[0]} ? {args[1]} : {args[2]})"

    def value(self, node):
        c, a, b = (v.known_ints() for v in node.inputs)
        if c is None or a is None or b is None:
            return None
        n = _flat_size(node, [c, a, b])
        if n is None:
            return None
        pick = lambda k, i: k[i if len(k) > 1 else 0]  # noqa: E731
        return [[pick(a, i) if pick(c, i) else pick(b, i) for i in range(n)]]


@register
class Cast(Elementwise):
    types = ("Cast",)
    widens = False  # one conversion, one rounding: int64 -> float -> float16 would round twice

    def check(self, node):
        from onnx import helper
        to = np.dtype(helper.tensor_dtype_to_np_dtype(node.attr("to")))
        if to not in ALL or node.inputs[0].dtype not in ALL:
            return f"cast {node.inputs[0].dtype} -> {to}"
        if node.attr("round_mode", "up") not in ("up", "down", "nearest"):
            return f"round_mode {node.attr('round_mode')!r} (up, down or nearest)"
        return None

    def infer(self, node):
        from onnx import helper
        return [(np.dtype(helper.tensor_dtype_to_np_dtype(node.attr("to"))), node.inputs[0].shape)]

    def expr(self, node, args, cg):
        to = node.outputs[0].dtype
        if to.name == "float8_e8m0fnu":  # round_mode (opset 24: up, down or nearest) and saturate
            mode = {"up": "kUp", "down": "kDown", "nearest": "kNearest"}[node.attr("round_mode", "up")]
            saturate = "true" if node.attr("saturate", 1) else "false"
            return f"{cg.ctype(to)}::from(float({args[0]}), {saturate}, {cg.ctype(to)}::{mode})"
        # saturate=0 (float8 targets only): out-of-range values become inf/NaN instead of the largest value
        fn = "cast_unsaturated" if to.name.startswith("float8") and not node.attr("saturate", 1) else "cast"
        return f"exporter_rt::{fn}<{cg.ctype(to)}>({args[0]})"

    def value(self, node):
        known = node.inputs[0].known_ints()
        to_float = self.infer(node)[0][0] in FLOATS
        return None if known is None or _float_inputs(node) or to_float else [known]


@register
class CastLike(Cast):
    """Cast to the dtype of the second input (whose contents are never read)."""
    types = ("CastLike",)

    def check(self, node):
        if node.inputs[1].dtype not in ALL or node.inputs[0].dtype not in ALL:
            return f"cast {node.inputs[0].dtype} -> {node.inputs[1].dtype}"
        return None

    def infer(self, node):
        return [(node.inputs[1].dtype, node.inputs[0].shape)]

    def operand_shapes(self, node):
        return [node.inputs[0].shape, None]


@register
class Clip(Elementwise):
    types = ("Clip",)
    dtypes = ARITH

    def expr(self, node, args, cg):
        t = cg.ctype(node.outputs[0].dtype)
        result = args[0]
        if node.opset < 11:
            lo, hi = node.attr("min"), node.attr("max")
            lo = None if lo is None else literal(lo, node.outputs[0].dtype)
            hi = None if hi is None else literal(hi, node.outputs[0].dtype)
        else:
            lo = args[1] if len(args) > 1 and node.input(1) is not None else None
            hi = args[2] if len(args) > 2 and node.input(2) is not None else None
        if lo is not None:
            result = f"exporter_rt::maximum<{t}>({result}, {lo})"
        if hi is not None:
            result = f"exporter_rt::minimum<{t}>({result}, {hi})"
        return result


class Activation(Elementwise):
    dtypes = LOOP_FLOAT


def _activation(name, build, costly=False):
    register(type(name, (Activation,), {"types": (name,), "costly": costly, "expr": lambda self, node, args, cg: build(
        node, args[0], cg.ctype(node.outputs[0].dtype))}))


def _f(node, key, default, t):
    return f"{t}({float(node.attr(key, default))!r})"


_activation("LeakyRelu", lambda n, x, t: f"({x} < {t}(0) ? {x} * {_f(n, 'alpha', 0.01, t)} : {x})")
_activation("Elu", lambda n, x, t: f"({x} < {t}(0) ? {_f(n, 'alpha', 1.0, t)} * std::expm1({x}) : {x})", True)
_activation("Selu", lambda n, x, t: f"{_f(n, 'gamma', 1.0507009873554805, t)} * ({x} <= {t}(0) ? "
            f"{_f(n, 'alpha', 1.6732632423543772, t)} * std::expm1({x}) : {x})", True)
_activation("HardSigmoid", lambda n, x, t: f"std::max({t}(0), std::min({t}(1), {_f(n, 'alpha', 0.2, t)} * {x} + "
            f"{_f(n, 'beta', 0.5, t)}))")
_activation("HardSwish", lambda n, x, t: f"({x} * std::max({t}(0), std::min({t}(1), {x} / {t}(6) + {t}(0.5))))")
_activation("Gelu", lambda n, x, t: f"exporter_rt::vm::gelu_tanh<{t}>({x})" if n.attr("approximate", "none") == "tanh"
            else f"exporter_rt::vm::gelu<{t}>({x})", True)
_activation("Mish", lambda n, x, t: f"({x} * std::tanh({x} > {t}(20) ? {x} : std::log1p(std::exp({x}))))", True)
_activation("Swish", lambda n, x, t: f"({x} * exporter_rt::vm::sigmoid<{t}>({_f(n, 'alpha', 1.0, t)} * {x}))", True)
_activation("Celu", lambda n, x, t: f"(std::max({t}(0), {x}) + std::min({t}(0), {_f(n, 'alpha', 1.0, t)} * "
            f"std::expm1({x} / {_f(n, 'alpha', 1.0, t)})))", True)


@register
class Shrink(Elementwise):
    """Shrink: x+bias below -lambd, x-bias above lambd, 0 between (any numeric type; lambd and bias are
    floats, converted to the element type as ONNX's function body does with CastLike)."""
    types = ("Shrink",)
    dtypes = ARITH

    def expr(self, node, args, cg):
        t, x = cg.ctype(node.outputs[0].dtype), args[0]
        lambd, bias = _f(node, "lambd", 0.5, t), _f(node, "bias", 0.0, t)
        return f"({x} < -{lambd} ? {x} + {bias} : ({x} > {lambd} ? {x} - {bias} : {t}(0)))"


@register
class PRelu(Elementwise):
    types = ("PRelu",)
    dtypes = LOOP_FLOAT

    def expr(self, node, args, cg):
        return f"({args[0]} < 0 ? {args[0]} * {args[1]} : {args[0]})"


@register
class BatchNormalization(Elementwise):
    """Inference batch norm: per-channel (axis 1) affine map; constant statistics fold into scale/shift."""
    types = ("BatchNormalization",)
    dtypes = LOOP_FLOAT

    def check(self, node):
        if node.attr("training_mode", 0) or len([o for o in node.outputs if o is not None]) > 1:
            # (opset 14+ training mode is expanded by the importer into the batch's statistics)
            return "training mode before opset 14 (with saved mean/variance outputs)"
        return super().check(node)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def operand_shapes(self, node):
        x = node.inputs[0]
        per_channel = [x.shape[1]] + [1] * (x.rank - 2)
        return [x.shape] + [per_channel] * (len(node.inputs) - 1)

    def expr(self, node, args, cg):
        t = cg.ctype(node.outputs[0].dtype)
        x, scale, bias, mean, var = args
        eps = float(node.attr("epsilon", 1e-5))
        return f"(({x} - {mean}) / std::sqrt({var} + {t}({eps!r})) * {scale} + {bias})"
