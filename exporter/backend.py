"""The native backend as an ONNX backend module (the interface of onnx.backend.base), so that ONNX's
own test suite runs against it:

    import onnx.backend.test, exporter.backend
    onnx.backend.test.BackendTest(exporter.backend, __name__)

`prepare` compiles the model (cached by its generated code) into a shared library loaded in-process. A model
whose shape-defining inputs (TopK's k, Reshape's shape, ...) are graph inputs, as in ONNX's node tests, is
compiled when they arrive with the data, once per distinct value.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from .errors import ExporterError, InternalError
from .native.library import NativeModel, load


class NativeRep(BackendRep):
    def __init__(self, native: NativeModel):
        self.native = native

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.native.input_names]
        elif isinstance(inputs, np.ndarray):
            inputs = [inputs]
        return tuple(self.native(*[np.asarray(x) for x in inputs]))


def shape_only_inputs(model: onnx.ModelProto) -> list[str]:
    """Graph inputs read only where the native backend needs values at export time (TopK's k, Reshape's
    shape, axes...): ONNX's node tests pass these as inputs. Such a model is compiled per distinct value."""
    from .native.expand import op_key
    from .native.ops import OPS
    init = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init]
    uses: dict = {name: [] for name in names}
    for node in model.graph.node:
        opdef = OPS.get(op_key(node.domain, node.op_type))
        for k, name in enumerate(node.input):
            if name in uses:
                uses[name].append(opdef is not None and k in opdef.shape_inputs)
    outputs = {o.name for o in model.graph.output}
    return [n for n in names if uses[n] and all(uses[n]) and n not in outputs]


def specialize(model: onnx.ModelProto, values: dict) -> onnx.ModelProto:
    """`model` with the given inputs turned into constants (initializers)."""
    from onnx import numpy_helper
    special = onnx.ModelProto()
    special.CopyFrom(model)
    kept = [i for i in special.graph.input if i.name not in values]
    del special.graph.input[:]
    special.graph.input.extend(kept)
    special.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), name) for name, v in values.items())
    try:  # output shapes that depended on those values can be inferred now
        return onnx.shape_inference.infer_shapes(special, data_prop=True)
    except Exception:  # noqa: BLE001 (the backend reports anything still wrong with its own message)
        return special


class SpecializingRep(BackendRep):
    """A model whose shape-defining inputs arrive with the data: compiled (and cached) per their values."""

    def __init__(self, model: onnx.ModelProto, fixed: list[str]):
        self.model, self.fixed = model, fixed
        self.names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        self.reps: dict = {}

    def run(self, inputs, **kwargs):
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        given = dict(inputs) if isinstance(inputs, dict) else dict(zip(self.names, inputs))
        values = {n: np.asarray(given[n]) for n in self.fixed}
        key = tuple((n, v.dtype.str, v.shape, v.tobytes()) for n, v in values.items())
        if key not in self.reps:
            self.reps[key] = NativeRep(load(specialize(self.model, values), "model"))
        return self.reps[key].run([np.asarray(given[n]) for n in self.names if n not in values])


class NativeBackend(Backend):
    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        from .native import render
        if shape_only_inputs(model):  # decided when the values arrive with the data
            return True
        try:
            render(model, "node")
            return True
        except InternalError:
            raise  # a bug of ours is reported, not passed off as "not compatible"
        except ExporterError:
            return False

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        super().prepare(model, device, **kwargs)
        if isinstance(model, (str, bytes)):
            model = onnx.load(model) if isinstance(model, str) else onnx.load_from_string(model)
        fixed = shape_only_inputs(model)
        if fixed:
            return SpecializingRep(model, fixed)
        return NativeRep(load(model, "model"))

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        super().run_node(node, inputs, device=device, outputs_info=outputs_info)
        inputs = [np.asarray(x) for x in inputs]
        graph_inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
                        for name, x in zip(node.input, inputs) if name]
        graph_outputs = [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
                         for name in node.output if name]
        model = helper.make_model(helper.make_graph([node], "run_node", graph_inputs, graph_outputs),
                                  opset_imports=[helper.make_opsetid("", kwargs.get("opset_version", 21))])
        model = onnx.shape_inference.infer_shapes(model)
        return cls.run_model(model, [x for name, x in zip(node.input, inputs) if name], device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU


is_compatible = NativeBackend.is_compatible
prepare = NativeBackend.prepare
run_model = NativeBackend.run_model
run_node = NativeBackend.run_node
supports_device = NativeBackend.supports_device
