"""trace(): run a function once on traced arrays and return the ONNX model it computes."""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import onnx
from onnx import helper

from .. import __version__, dtypes
from ..errors import ExporterError, TracingError, UnsupportedError, excepthook_location
from .graph import OPSET, GraphBuilder, onnx_dtype, to_initializers
from .tracer import SymInt, Tracer
from .weights import traced_constants


def input_names_of(fn, count: int) -> list[str]:
    """Parameter names of `fn` for `count` positional inputs (x0, x1, ... where none can be read)."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if any(p.kind == p.VAR_POSITIONAL for p in _params(fn)) or len(params) < count:
        return [p.name for p in params[:count]] + [f"x{i}" for i in range(len(params), count)]
    return [p.name for p in params[:count]]


def _params(fn):
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []


def normalize_dynamic_axes(dynamic_axes, names, shapes) -> dict[str, dict[int, str]]:
    """{input: {axis: dim name}} with axes made non-negative; an unknown input or an axis outside the
    input's rank is an error (NumPy-style negative axes count from the end)."""
    result: dict[str, dict[int, str]] = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in names:
            have = ", ".join(f"'{n}' (rank {len(s)})" for n, s in zip(names, shapes)) or "none"
            raise ExporterError(f"dynamic_axes names input '{name}', but the inputs are {have}")
        shape = tuple(shapes[names.index(name)])
        if not isinstance(axes, dict):
            raise ExporterError(f"dynamic_axes['{name}'] must be a dict {{axis: name}}, e.g. {{0: 'batch'}}")
        for axis, dim in axes.items():
            try:
                axis = int(axis)
            except (TypeError, ValueError):
                raise ExporterError(f"dynamic axis {axis!r} of input '{name}' is not an integer") from None
            if not -len(shape) <= axis < len(shape):
                valid = f"0..{len(shape) - 1} (or -{len(shape)}..-1)" if shape else "none: it is a scalar"
                raise ExporterError(f"dynamic axis {axis} of input '{name}' is out of range: '{name}' has rank "
                                    f"{len(shape)} (shape {shape}); valid axes are {valid}")
            if not isinstance(dim, str) or not dim:
                raise ExporterError(f"dynamic axis {axis} of input '{name}' needs a name (a non-empty string, "
                                    f"e.g. batch), not {dim!r}")
            result.setdefault(name, {})[axis % len(shape)] = dim
    return result


def _probe_sizes(inputs, names, dynamic_axes) -> dict[str, tuple[int, int]]:
    """Pick a distinct probe size per dynamic axis name: (example size, probe size)."""
    sizes: dict[str, tuple[int, int]] = {}
    for name, axes in dynamic_axes.items():
        x = inputs[names.index(name)]
        for axis, dim in axes.items():
            size = x.shape[int(axis)]
            if dim in sizes and sizes[dim][0] != size:
                raise ExporterError(f"dynamic axis '{dim}' has example size {sizes[dim][0]} and {size} in "
                                    f"different inputs; one name must mean one size")
            sizes.setdefault(dim, (size, size + 7 + 2 * len(sizes)))
    return sizes


RETURNS_KEY = "exporter.returns"


def trace(fn, example_inputs, input_names=None, dynamic_axes=None, graph_name="model") -> onnx.ModelProto:
    """Trace `fn` on `example_inputs` and return an ONNX model computing the same function.

    >>> import numpy as np
    >>> model = trace(lambda x: np.tanh(x) * 2, (np.ones((2, 3), np.float32),))
    >>> [n.op_type for n in model.graph.node]
    ['Tanh', 'Mul']
    """
    inputs = [np.asarray(x) for x in example_inputs]
    for i, x in enumerate(inputs):
        if x.dtype not in dtypes.TRACED:
            raise ExporterError(f"example input {i} has dtype {x.dtype}; supported input dtypes are "
                                f"{dtypes.listing(dtypes.TRACED)}")
    names = list(input_names) if input_names else input_names_of(fn, len(inputs))
    dynamic_axes = normalize_dynamic_axes(dynamic_axes, names, [x.shape for x in inputs])
    sizes = _probe_sizes(inputs, names, dynamic_axes)

    g = GraphBuilder()
    g.probing = bool(sizes)
    g.dim_names = {pair: dim for dim, pair in sizes.items()}
    tracers, graph_inputs = [], []
    for name, x in zip(names, inputs):
        g.reserve(name)
        axes = dynamic_axes.get(name, {})
        probe = None
        if g.probing:
            probe_shape = tuple(sizes[axes[i]][1] if i in axes else d for i, d in enumerate(x.shape))
            probe = np.resize(x, probe_shape) if x.size else np.zeros(probe_shape, x.dtype)
        tracers.append(Tracer(g, name, x, probe))
        dims = [axes[i] if i in axes else d for i, d in enumerate(x.shape)]
        graph_inputs.append(helper.make_tensor_value_info(name, onnx_dtype(x.dtype), dims))

    with g.activate():
        with traced_constants(fn, g):  # the arrays fn reads are named constants while it runs
            result = _call(fn, tracers)
        graph_outputs = _outputs(g, result, fn)
    graph = helper.make_graph(g.nodes, graph_name, graph_inputs, graph_outputs, to_initializers(g.initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="exporter", producer_version=__version__)
    model.ir_version = min(model.ir_version, 10)  # readable by every ONNX Runtime that knows opset 21
    # how the function returned its arrays, so that hybridize() can return the same structure
    helper.set_model_props(model, {RETURNS_KEY: type(result).__name__ if isinstance(result, (tuple, list))
                                   else "array"})
    from ..passes import optimize
    model = optimize(model)
    _verify(model, g)
    return model


def _call(fn, tracers):
    from .creation import size_constructors
    with np.errstate(all="ignore"), warnings.catch_warnings(), size_constructors():
        warnings.simplefilter("ignore")
        try:
            return fn(*tracers)
        except ExporterError:
            raise
        except Exception as exc:
            if _raised_inside_exporter(exc):
                raise  # a bug of ours, not the user's: keep the traceback
            where = excepthook_location(exc)
            raise TracingError(f"the model raised {type(exc).__name__} while being traced: {exc}"
                               + (f"\n  at {where}" if where else "")) from None


def _raised_inside_exporter(exc: BaseException) -> bool:
    import os
    import traceback
    frames = traceback.extract_tb(exc.__traceback__)
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(package + os.sep)


def _return_location(fn) -> str | None:
    """`file:line: code` of fn's return statement (the only one, else the def line), for errors about
    what the model returned: by then the user's frame is gone, so it is read from the source."""
    import ast
    import textwrap
    try:
        lines, first = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return None
    func = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))),
                None)
    if func is None:
        return None
    returns, todo = [], list(ast.iter_child_nodes(func))
    while todo:  # the function's own returns, not those of nested functions
        node = todo.pop()
        if isinstance(node, ast.Return):
            returns.append(node)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    line = (returns[0] if len(returns) == 1 else func).lineno + first - 1
    code = lines[line - first].strip()
    return f"{filename}:{line}: in {getattr(fn, '__name__', 'model')}: {code}"


def _output_error(fn, what: str, fix: str) -> TracingError:
    where = _return_location(fn)
    return TracingError(what + (f"\n  at {where}" if where else "") + f"\n  fix: {fix}")


def _outputs(g: GraphBuilder, result, fn=None):
    if isinstance(result, dict):
        keys = ", ".join(repr(k) for k in list(result)[:4]) + (", ..." if len(result) > 4 else "")
        first = next(iter(result), "a")
        raise _output_error(fn, f"the model returned a dict ({keys}); exporter's outputs are positional: an array "
                            "or a tuple/list of arrays (named output_0, output_1, ...)",
                            f"return a tuple in a fixed order, e.g. return out[{first!r}], ...")
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    if not results:
        raise _output_error(fn, "the model returned no arrays", "return at least one array")
    outputs = []
    for k in range(len(results)):
        g.reserve(f"output_{k}")  # before any node can take the name
    for k, r in enumerate(results):
        if isinstance(r, SymInt):  # a dynamic size returned as is: an int64 scalar, like np.asarray(size)
            from .tracer import name_of
            r = Tracer(g, name_of(g, r), np.asarray(r.value, np.int64), np.asarray(r.probe, np.int64))
        if isinstance(r, (tuple, list, dict)):
            raise _output_error(fn, f"output {k} is a {type(r).__name__} inside the returned tuple; outputs must be "
                                "a flat tuple of arrays", "flatten it: return a, b, c instead of return (a, b), c")
        if not isinstance(r, Tracer):
            try:
                value = np.asarray(r)
            except Exception:
                value = np.asarray(None)
            if value.dtype not in dtypes.TRACED:
                raise _output_error(fn, f"output {k} is a {type(r).__name__} (dtype {value.dtype}), not an array "
                                    f"of a supported dtype ({dtypes.listing(dtypes.TRACED)})",
                                    "return NumPy arrays computed from the inputs")
            r = Tracer(g, g.const(value), value)
        name = f"output_{k}"
        # Outputs get their own names: an input, a repeated output or a constant still needs a node.
        g.nodes.append(helper.make_node("Identity", [r.name], [name], name=g.fresh("Identity_output")))
        if r.probe is None:
            dims = list(r.value.shape)
        else:
            dims = [v if v == p else (g.dim_names.get((v, p)) or f"{name}_dim{i}")
                    for i, (v, p) in enumerate(zip(r.value.shape, r.probe.shape))]
        outputs.append(helper.make_tensor_value_info(name, onnx_dtype(r.dtype), dims))
    return outputs


def _verify(model: onnx.ModelProto, g: GraphBuilder) -> None:
    """Every traced value must have the dtype NumPy gave it: names the lowering that got it wrong.
    Control-flow bodies are checked too (shape inference types the values inside them)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    _verify_graph(inferred.graph, g)


def _verify_graph(graph: onnx.GraphProto, g: GraphBuilder) -> None:
    types = {vi.name: vi.type.tensor_type.elem_type for vi in list(graph.value_info) + list(graph.output)}
    for node in graph.node:
        for out in node.output:
            want = g.value_dtypes.get(out)
            if want is not None and out in types and types[out] != onnx_dtype(want):
                raise AssertionError(f"internal error: {node.op_type} node {node.name} produces "
                                     f"{helper.tensor_dtype_to_np_dtype(types[out])}, NumPy gives {want}")
        for attr in node.attribute:
            for body in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs:
                _verify_graph(body, g)
