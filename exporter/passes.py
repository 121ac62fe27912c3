"""Graph passes over ONNX models. Each pass is a small function that edits the model in place and
returns whether it changed anything; `optimize` runs them to a fixed point.

They serve both the traced graphs and imported .onnx files (whose exporters leave shape arithmetic,
Identity chains and unused nodes behind).
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Folding never lets the model grow much: a node whose constant output is larger than this and than
# 4x its inputs (an Expand of a scalar, say) stays a node.
_FOLD_MIN_BYTES = 1 << 16
_NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


def _consumers(graph):
    uses = {}
    for node in graph.node:
        for name in node.input:
            uses.setdefault(name, []).append(node)
    return uses


def eliminate_dead_nodes(model: onnx.ModelProto) -> bool:
    """Drop nodes and initializers that no graph output depends on."""
    graph = model.graph
    live = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(o in live for o in node.output) or _has_subgraph(node):
            kept.append(node)
            live.update(i for i in node.input if i)
            live.update(_subgraph_inputs(node))
    changed = len(kept) != len(graph.node)
    if changed:
        del graph.node[:]
        graph.node.extend(reversed(kept))
    unused = [t for t in graph.initializer if t.name not in live]
    for t in unused:
        graph.initializer.remove(t)
    return changed or bool(unused)


def _has_subgraph(node):
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _subgraphs(node):
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def _subgraph_inputs(node):
    """Every name the node's bodies read, at any depth (a cond nested in a loop reads outer values too)."""
    for g in _subgraphs(node):
        for n in g.node:
            yield from (i for i in n.input if i)
            yield from _subgraph_inputs(n)
        yield from (o.name for o in g.output)  # a body output may be an outer value itself


def _outer_reads(graph) -> set:
    """Names the graph's subgraphs read (possibly from this scope): passes that drop or merge values treat
    them like graph outputs (BatchNorm folding, say, counts only this graph's consumers)."""
    return {name for node in graph.node for name in _subgraph_inputs(node)}


def deduplicate_initializers(model: onnx.ModelProto) -> bool:
    """Make identical initializers one (exporters often store a shared weight twice)."""
    graph = model.graph
    seen, rename = {}, {}
    outputs = {o.name for o in graph.output}
    for t in list(graph.initializer):
        key = (t.data_type, tuple(t.dims), hashlib.sha1(numpy_helper.to_array(t).tobytes()).hexdigest())
        if key in seen and t.name not in outputs:
            rename[t.name] = seen[key]
            graph.initializer.remove(t)
        else:
            seen.setdefault(key, t.name)
    if rename:
        _rename_inputs(graph, rename)
    return bool(rename)


def _rename_inputs(graph, rename):
    _rename_in_nodes(graph.node, rename)


def _rename_in_nodes(nodes, rename):
    """Rename what `nodes` read, inside control-flow bodies too (where a body does not define the name
    itself: a body's own inputs and values shadow the outer ones)."""
    for node in nodes:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
        for body in _subgraphs(node):
            local = ({i.name for i in body.input} | {t.name for t in body.initializer}
                     | {o for n in body.node for o in n.output})
            inner = {k: v for k, v in rename.items() if k not in local}
            if inner:
                _rename_in_nodes(body.node, inner)
                for o in body.output:
                    if o.name in inner:
                        o.name = inner[o.name]


def remove_identities(model: onnx.ModelProto) -> bool:
    """Bypass Identity/Dropout-at-inference nodes, except where they produce a graph output."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    rename, kept = {}, []
    for node in graph.node:
        passthrough = node.op_type == "Identity" or (node.op_type == "Dropout" and len(
            [o for o in node.output if o]) == 1 and not _training_mode(node, graph))
        if passthrough and node.output[0] not in outputs and node.domain in ("", "ai.onnx"):
            rename[node.output[0]] = rename.get(node.input[0], node.input[0])
        else:
            kept.append(node)
    resolved = {}
    for name in rename:
        target = name
        while target in rename:
            target = rename[target]
        resolved[name] = target
    _rename_in_nodes(kept, resolved)
    changed = bool(rename) | _name_outputs_at_producers(graph, kept)
    del graph.node[:]
    graph.node.extend(kept)
    return changed


def _name_outputs_at_producers(graph, nodes) -> bool:
    """Identity(x) -> output, with x computed by a node: that node writes the output directly."""
    outputs = {o.name for o in graph.output}
    produced = {name: node for node in nodes for name in node.output if name}
    sources = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    changed = False
    for node in list(nodes):
        if node.op_type != "Identity" or node.domain not in ("", "ai.onnx") or node.output[0] not in outputs:
            continue
        src, out = node.input[0], node.output[0]
        if src not in produced or src in outputs or src in sources:
            continue
        producer = produced[src]
        producer.output[list(producer.output).index(src)] = out
        nodes.remove(node)
        _rename_in_nodes(nodes, {src: out})
        produced[out] = producer
        changed = True
    return changed


def _training_mode(node, graph):
    if len(node.input) < 3 or not node.input[2]:
        return False
    for t in graph.initializer:
        if t.name == node.input[2]:
            return bool(numpy_helper.to_array(t))
    return True


def _unsqueeze_by_attribute(node, values):
    """Unsqueeze of opsets 1-12 (axes an attribute), which onnx's reference evaluator fails on (1.23: it takes the
    list for an array): the Inception-v2 and DenseNet of the onnx wheel shape every per-channel scale that way."""
    axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
    if node.op_type != "Unsqueeze" or axes is None or len(values) != 1:
        return None
    rank = values[0].ndim + len(axes)
    return [np.expand_dims(values[0], tuple(sorted(a % rank for a in axes)))]


def fold_constants(model: onnx.ModelProto) -> bool:
    """Evaluate nodes whose inputs are all constants and store their results as initializers."""
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    consts = {t.name: t for t in graph.initializer}
    graph_inputs = {i.name for i in graph.input}
    outputs = {o.name for o in graph.output}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 21)
    kept, changed = [], False
    for node in graph.node:
        inputs = [i for i in node.input if i]
        foldable = (node.domain in ("", "ai.onnx") and node.op_type not in _NEVER_FOLD
                    and all(i in consts and i not in graph_inputs for i in inputs)
                    and not any(o in outputs for o in node.output) and not _has_subgraph(node))
        if foldable:
            values = [numpy_helper.to_array(consts[i]) if i else None for i in node.input]
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    results = _unsqueeze_by_attribute(node, values)
                    if results is None:
                        results = ReferenceEvaluator(node, opsets={"": opset}).run(
                            None, {i: v for i, v in zip(node.input, values) if i})
            except Exception:
                results = None
            in_bytes = sum(v.nbytes for v in values if v is not None)
            if results is not None and all(
                    np.asarray(r).nbytes <= max(_FOLD_MIN_BYTES, 4 * in_bytes) for r in results):
                for name, value in zip(node.output, results):
                    if name:
                        tensor = numpy_helper.from_array(np.asarray(value), name)
                        graph.initializer.append(tensor)
                        consts[name] = tensor
                changed = True
                continue
        kept.append(node)
    if changed:
        del graph.node[:]
        graph.node.extend(kept)
    return changed


def eliminate_common_subexpressions(model: onnx.ModelProto) -> bool:
    """Compute each distinct (op, inputs, attributes) once: a later identical node is dropped and its
    outputs are read from the first (mean and var of the same tensor share one ReduceMean, say)."""
    graph = model.graph
    # names a subgraph reads from the outer scope are not renamed there: keep their producers
    outputs = {o.name for o in graph.output} | {i for n in graph.node for i in _subgraph_inputs(n)}
    seen, rename, kept = {}, {}, []
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
        pure = (node.op_type not in _NEVER_FOLD and not _has_subgraph(node)
                and not any(o in outputs for o in node.output))
        if not pure:
            kept.append(node)
            continue
        key = (node.domain, node.op_type, tuple(node.input), len(node.output),
               tuple(a.SerializeToString(deterministic=True) for a in sorted(node.attribute, key=lambda a: a.name)))
        first = seen.get(key)
        if first is None:
            seen[key] = node
            kept.append(node)
            continue
        if any(mine and not theirs for mine, theirs in zip(node.output, first.output)):
            kept.append(node)  # the first node left out an optional output this one needs
            continue
        rename.update((mine, theirs) for mine, theirs in zip(node.output, first.output) if mine)
    if len(kept) == len(graph.node):
        return False
    del graph.node[:]
    graph.node.extend(kept)
    return True


def _filled_constants(graph) -> dict:
    """{name: TensorProto} of ConstantOfShape outputs over a constant shape (fold_constants leaves large ones
    alone; model files made small that way, such as the onnx wheel's model-zoo CNNs, hold their weights so)."""
    consts = {t.name: t for t in graph.initializer}
    filled = {}
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx") and node.input and node.input[0] in consts:
            shape = numpy_helper.to_array(consts[node.input[0]]).astype(np.int64)
            value = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"),
                         np.zeros(1, np.float32))
            if shape.ndim == 1 and (shape >= 0).all() and int(np.prod(shape)) <= 1 << 26:
                filled[node.output[0]] = numpy_helper.from_array(np.full(shape, value.reshape(-1)[0], value.dtype),
                                                                 node.output[0])
    return filled


def _fold_into_conv(model: onnx.ModelProto, per_channel, suffix: str) -> bool:
    """The walk fold_batch_norm and fold_conv_scale share: each Conv with constant weights whose output only
    `per_channel`'s node reads, where per_channel(reader, conv_output, consts, graph_inputs, weights) gives float64
    (factor, shift) per output channel (shift None: none) or None, becomes one Conv computing the reader's output:
    w' = w * factor, b' = b * factor + shift (float64, stored in the weights' dtype). Weights may be initializers
    or ConstantOfShape fills."""
    graph = model.graph
    consts = {**_filled_constants(graph), **{t.name: t for t in graph.initializer}}
    graph_inputs = {i.name for i in graph.input}
    outputs = {o.name for o in graph.output} | _outer_reads(graph)
    uses = _consumers(graph)
    names = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
    removed, changed = set(), False
    for conv in graph.node:
        if conv.op_type != "Conv" or conv.domain not in ("", "ai.onnx") or conv.output[0] in outputs:
            continue
        readers = uses.get(conv.output[0], [])
        weights = [w for w in conv.input[1:3] if w]
        if len(readers) != 1 or readers[0].domain not in ("", "ai.onnx") or \
                len([o for o in readers[0].output if o]) != 1 or \
                any(n not in consts or n in graph_inputs for n in weights):
            continue
        reader = readers[0]
        w = numpy_helper.to_array(consts[conv.input[1]])
        folded = per_channel(reader, conv.output[0], consts, graph_inputs, w) if w.dtype.kind == "f" else None
        if folded is None:
            continue
        factor, shift = folded
        w_name = _fresh(names, conv.input[1] + suffix)
        graph.initializer.append(numpy_helper.from_array(
            (w.astype(np.float64) * factor.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype), w_name))
        has_bias = len(conv.input) > 2 and conv.input[2]
        new_inputs = [conv.input[0], w_name]
        if has_bias or shift is not None:
            b = numpy_helper.to_array(consts[conv.input[2]]).astype(np.float64) if has_bias else np.zeros(w.shape[0])
            b_name = _fresh(names, (conv.name or "conv") + suffix + "_bias")
            graph.initializer.append(numpy_helper.from_array(
                (b * factor + (shift if shift is not None else 0)).astype(w.dtype), b_name))
            new_inputs.append(b_name)
        del conv.input[:]
        conv.input.extend(new_inputs)
        conv.output[0] = reader.output[0]
        removed.add(id(reader))
        changed = True
    if changed:
        kept = [n for n in graph.node if id(n) not in removed]
        del graph.node[:]
        graph.node.extend(kept)
        eliminate_dead_nodes(model)
    return changed


def fold_batch_norm(model: onnx.ModelProto) -> bool:
    """Conv -> BatchNormalization (inference, constant statistics, the conv's only consumer) becomes one
    Conv with scaled weights and shifted bias: w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta
    (computed in float64, stored in the weights' dtype). Weights and statistics may be initializers or
    ConstantOfShape fills."""
    def per_channel(bn, x, consts, graph_inputs, w):
        stats = list(bn.input[1:5])
        if (bn.op_type != "BatchNormalization" or bn.input[0] != x or len(stats) != 4
                or any(a.name == "training_mode" and a.i for a in bn.attribute)
                or any(n not in consts or n in graph_inputs for n in stats)):
            return None
        scale, beta, mean, var = (numpy_helper.to_array(consts[n]).astype(np.float64) for n in stats)
        if scale.shape != (w.shape[0],):
            return None
        factor = scale / np.sqrt(var + next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5))
        return factor, beta - mean * factor

    return _fold_into_conv(model, per_channel, "_bnfold")


def fold_conv_scale(model: onnx.ModelProto) -> bool:
    """Conv -> Mul by a constant per output channel (the conv's only reader; the factor a scalar or shaped to
    broadcast over axis 1: [M, 1, 1], [1, M, 1, 1]) becomes one Conv with scaled weights and bias (w' = w * s,
    b' = b * s). Models that spell a norm's affine part as Mul and Add after the conv (the onnx wheel's
    Inception-v2: BatchNormalization, then Mul and Add by "sc_w", "sc_b") then run one convolution whose epilogue
    adds the shift, instead of two passes over its output."""
    def per_channel(mul, x, consts, graph_inputs, w):
        if mul.op_type != "Mul" or len(mul.input) != 2 or list(mul.input).count(x) != 1:
            return None
        name = mul.input[1] if mul.input[0] == x else mul.input[0]
        if name not in consts or name in graph_inputs:
            return None
        s = numpy_helper.to_array(consts[name])
        if s.dtype != w.dtype or s.ndim > w.ndim:
            return None
        shape = (1,) * (w.ndim - s.ndim) + s.shape  # as it broadcasts against the conv's [N, M, ...] output
        if shape[0] != 1 or shape[1] not in (1, w.shape[0]) or any(d != 1 for d in shape[2:]):
            return None
        return np.broadcast_to(s.astype(np.float64).reshape(-1), (w.shape[0],)), None

    return _fold_into_conv(model, per_channel, "_scaled")


# ops whose output has the rank of their first input, and elementwise ops (the largest rank of their inputs)
_SAME_RANK = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "BatchNormalization", "Concat", "LRN",
              "InstanceNormalization", "LayerNormalization", "Softmax", "LogSoftmax", "Dropout", "Identity", "Pad",
              "Resize", "Upsample", "DepthToSpace", "SpaceToDepth", "Transpose", "Split", "Slice", "Tile"}
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Where", "Relu", "LeakyRelu",
              "Sigmoid", "Tanh", "Clip", "Elu", "Selu", "HardSigmoid", "HardSwish", "Softplus", "Exp", "Log", "Abs",
              "Neg", "Sqrt", "Erf", "Gelu", "Mish", "Cast"}


def _ranks(model: onnx.ModelProto) -> dict:
    """{value name: rank} where known: stated by the model or ONNX's shape inference, else carried along
    rank-preserving ops from the inputs and initializers (shape inference gives up on some real models)."""
    try:
        graph = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - an uninferable model just keeps its nodes as they are
        graph = model.graph
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in [*graph.input, *graph.value_info, *graph.output]
             if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")}
    ranks.update({t.name: len(t.dims) for t in model.graph.initializer})
    ranks.update({name: len(t.dims) for name, t in _filled_constants(model.graph).items()})
    consts = {t.name: t for t in model.graph.initializer}

    def axes(node):  # Unsqueeze's axes (attribute before opset 13, a constant input after)
        attr = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
        if attr is None and len(node.input) > 1 and node.input[1] in consts:
            attr = numpy_helper.to_array(consts[node.input[1]]).reshape(-1).tolist()
        return attr

    for node in model.graph.node:
        known = [ranks.get(i) for i in node.input if i]
        if node.domain not in ("", "ai.onnx") or not known or any(o in ranks for o in node.output if o):
            continue
        if node.op_type in _SAME_RANK and known[0] is not None:
            rank = known[0]
        elif node.op_type in _BROADCAST and None not in known:
            rank = max(known)
        elif node.op_type == "Unsqueeze" and known[0] is not None and axes(node) is not None:
            rank = known[0] + len(axes(node))
        elif node.op_type == "Reshape" and len(node.input) > 1 and node.input[1] in consts:
            rank = int(np.prod(consts[node.input[1]].dims))
        else:
            continue
        ranks.update({o: rank for o in node.output if o})
    return ranks


def scale_shift_batch_norm(model: onnx.ModelProto) -> bool:
    """A BatchNormalization that fold_batch_norm cannot fold (its input is not a Conv's alone: DenseNet's
    pre-activations, a norm after an Add) with constant statistics becomes x * s + t, s = g / sqrt(v + eps),
    t = beta - m * s (float64, stored in the statistics' dtype, shaped [C, 1, ...] to broadcast over axis 1):
    per element one multiply-add instead of a subtraction, square root and division, and it fuses with the
    activation that follows."""
    graph = model.graph
    consts = {**_filled_constants(graph), **{t.name: t for t in graph.initializer}}
    graph_inputs = {i.name for i in graph.input}
    candidates = [n for n in graph.node
                  if n.op_type == "BatchNormalization" and n.domain in ("", "ai.onnx") and len(n.input) == 5
                  and len([o for o in n.output if o]) == 1 and n.output[0]
                  and not any(a.name == "training_mode" and a.i for a in n.attribute)
                  and all(i in consts and i not in graph_inputs for i in n.input[1:])]
    # a Conv's only reader is left to fold_batch_norm (its weights may become constant in a later round)
    producers, uses = {o: n for n in graph.node for o in n.output}, _consumers(graph)
    candidates = [n for n in candidates
                  if not (producers.get(n.input[0]) is not None and producers[n.input[0]].op_type == "Conv"
                          and len(uses.get(n.input[0], [])) == 1
                          and producers[n.input[0]].input[1] not in graph_inputs)]
    if not candidates:
        return False
    ranks = _ranks(model)
    names = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output} | graph_inputs
    replaced = {}
    for bn in candidates:
        rank = ranks.get(bn.input[0])
        scale, beta, mean, var = (numpy_helper.to_array(consts[i]) for i in bn.input[1:])
        if rank is None or rank < 2 or scale.dtype.kind != "f" or scale.ndim != 1 or \
                any(a.shape != scale.shape for a in (beta, mean, var)):
            continue
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        s64 = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
        t64 = beta.astype(np.float64) - mean.astype(np.float64) * s64
        shape = (-1,) + (1,) * (rank - 2)
        base = bn.name or bn.output[0]
        s_name, t_name = _fresh(names, base + "_scale"), _fresh(names, base + "_shift")
        scaled = _fresh(names, base + "_scaled")
        graph.initializer.extend([numpy_helper.from_array(s64.astype(scale.dtype).reshape(shape), s_name),
                                  numpy_helper.from_array(t64.astype(scale.dtype).reshape(shape), t_name)])
        replaced[id(bn)] = [helper.make_node("Mul", [bn.input[0], s_name], [scaled], name=base + "_mul"),
                            helper.make_node("Add", [scaled, t_name], [bn.output[0]], name=base + "_add")]
    if not replaced:
        return False
    nodes = [m for n in graph.node for m in replaced.get(id(n), [n])]
    del graph.node[:]
    graph.node.extend(nodes)
    eliminate_dead_nodes(model)
    return True


def _fresh(names: set, base: str) -> str:
    name, k = base, 1
    while name in names:
        name, k = f"{base}_{k}", k + 1
    names.add(name)
    return name


PASSES = [remove_identities, fold_constants, deduplicate_initializers, eliminate_common_subexpressions,
          eliminate_dead_nodes]
# The native backend also folds BatchNormalization into the preceding Conv, or else into a scale and shift, and
# a per-channel Mul into the preceding Conv (the ONNX export keeps them).
NATIVE_PASSES = [fold_batch_norm, scale_shift_batch_norm, fold_conv_scale] + PASSES


def optimize(model: onnx.ModelProto, passes=None, max_rounds: int = 8) -> onnx.ModelProto:
    """Run `passes` (default: all) until none changes the model."""
    for _ in range(max_rounds):
        if not any([p(model) for p in (passes or PASSES)]):
            break
    return model


__all__ = ["optimize", "fold_constants", "eliminate_dead_nodes", "deduplicate_initializers",
           "remove_identities", "eliminate_common_subexpressions", "fold_batch_norm", "scale_shift_batch_norm",
           "fold_conv_scale",
           "NATIVE_PASSES"]
