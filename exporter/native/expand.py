"""Ops the native backend has no rule for, but ONNX defines as a function of other ops (Attention,
RMSNormalization, RotaryEmbedding, Swish, ...): each such node is replaced by its function body, as ONNX
Runtime does for ops it has no kernel for. Functions local to the model (PyTorch's exporter writes them)
are inlined too. The body is specialised to the node's attributes and input types (context-dependent
functions), so what is left is plain ops the backend knows, or a refusal that names them."""
from __future__ import annotations

import onnx
import onnx.defs
import onnx.inliner
from onnx import helper

_DOMAIN = "exporter.expanded"
# ONNX domains whose function ops are expanded (FlexAttention is in the preview domain)
_DOMAINS = ("ai.onnx", "ai.onnx.preview")


def op_key(domain: str, op_type: str) -> str:
    """The key of an op in the native op table: its name, qualified by its domain outside the default one
    ("ai.onnx.ml.Binarizer")."""
    return op_type if domain in ("", "ai.onnx") else f"{domain}.{op_type}"


def _key(node) -> str:
    return op_key(node.domain, node.op_type)  # where a node's function body is parked until the inliner splices it in


def expand_functions(model: onnx.ModelProto, supported, max_rounds: int = 4) -> bool:
    """Inline `model`'s local functions and replace every node (of the default domain) whose op is not in
    `supported` but has an ONNX function body by that body, until none is left (a body may use other
    function ops). Edits `model` in place; returns whether anything changed."""
    changed = False
    if model.functions:
        _inline(model)
        changed = True
    for _ in range(max_rounds):
        if not _park_function_bodies(model, supported):
            break
        _inline(model)
        changed = True
    return changed


def _inline(model: onnx.ModelProto) -> None:
    # a body written for another opset than the model's is converted to the model's (the inliner leaves it
    # uninlined otherwise)
    try:
        inlined = onnx.inliner.inline_local_functions(model, convert_version=True)
    except Exception:  # noqa: BLE001 (no conversion exists, e.g. a body using CastLike in an opset-9 model)
        inlined = _restore_parked(model)
    model.CopyFrom(inlined)
    kept = [o for o in model.opset_import if o.domain != _DOMAIN]
    del model.opset_import[:]
    model.opset_import.extend(kept)


def _restore_parked(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every parked node back to the op it was (so that a refusal names that op) and the
    model's own local functions inlined where the inliner can."""
    restored = onnx.ModelProto()
    restored.CopyFrom(model)
    parked = {f.name: f.doc_string for f in restored.functions if f.domain == _DOMAIN}
    for node in restored.graph.node:
        if node.domain == _DOMAIN and node.op_type in parked:
            node.domain, node.op_type = parked[node.op_type], node.op_type.rsplit("_", 1)[0]
    kept = [f for f in restored.functions if f.domain != _DOMAIN]
    del restored.functions[:]
    restored.functions.extend(kept)
    try:
        return onnx.inliner.inline_local_functions(restored)
    except Exception:  # noqa: BLE001
        return restored


def _park_function_bodies(model: onnx.ModelProto, supported) -> bool:
    """Turn each expandable node into a call of a model-local function holding its body."""
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    opsets.setdefault("ai.onnx", 21)
    candidates = [n for n in model.graph.node if (n.domain or "ai.onnx") in _DOMAINS
                  and _key(n) not in supported and (n.domain or "ai.onnx") in opsets]
    if not candidates:
        return False
    types = _value_types(model)
    parked = 0
    for node in candidates:
        opset = opsets[node.domain or "ai.onnx"]
        _add_default_attributes(node, opset)
        body = _function_body(node, opset, types)
        if body is None:
            continue
        # the op's own domain kept in the doc string, for _restore_parked
        body.domain, body.name, body.doc_string = _DOMAIN, f"{node.op_type}_{parked}", node.domain
        node.domain, node.op_type = _DOMAIN, body.name
        model.functions.append(body)
        parked += 1
    if parked:
        model.opset_import.append(helper.make_opsetid(_DOMAIN, 1))
    return parked > 0


def _add_default_attributes(node: onnx.NodeProto, opset: int) -> None:
    """Write the schema's default of every attribute the node leaves out: a function body refers to its
    attributes by name (MeanVarianceNormalization's `axes` defaults to [0, 2, 3]), and an absent one would
    otherwise drop out of the inlined body and change what it computes."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return
    given = {a.name for a in node.attribute}
    for name, spec in schema.attributes.items():
        default = spec.default_value
        if name not in given and default is not None and default.type != onnx.AttributeProto.UNDEFINED:
            attr = node.attribute.add()
            attr.CopyFrom(default)
            attr.name = name


def _function_body(node: onnx.NodeProto, opset: int, types: dict) -> onnx.FunctionProto | None:
    """The op's function body for this node (its attributes and input types), or None."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return None
    try:
        if schema.has_context_dependent_function:
            if any(i and i not in types for i in node.input):
                return None  # the body depends on input types shape inference could not give
            inputs = [types[i].SerializeToString() if i else onnx.TypeProto().SerializeToString() for i in node.input]
            data = schema.get_context_dependent_function_with_opset_version(
                _newest(schema.context_dependent_function_opset_versions, opset), node.SerializeToString(), inputs)
        elif schema.has_function:
            data = schema.get_function_with_opset_version(_newest(schema.function_opset_versions, opset))
        else:
            return None
    except Exception:  # noqa: BLE001 (the schema cannot build a body for these attributes or types)
        return None
    body = onnx.FunctionProto.FromString(data) if data else None
    return body if body is not None and len(body.node) else None


def _newest(versions, opset) -> int:
    """The newest function version not newer than the model's opset."""
    usable = [v for v in versions if v <= opset]
    return max(usable) if usable else min(versions)


def _value_types(model: onnx.ModelProto) -> dict:
    """{value name: TypeProto} for every value shape inference can type."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 (types of what could be inferred are enough)
        inferred = model
    g = inferred.graph
    types = {vi.name: vi.type for vi in list(g.input) + list(g.value_info) + list(g.output)}
    for t in g.initializer:
        types[t.name] = helper.make_tensor_type_proto(t.data_type, list(t.dims))
    return types
