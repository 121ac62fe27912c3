"""The native backend as an ONNX backend module (the interface of onnx.backend.base), so that ONNX's
own test suite runs against it:

    import onnx.backend.test, exporter.backend
    onnx.backend.test.BackendTest(exporter.backend, __name__)

`prepare` compiles the model (cached by its generated code) into a shared library loaded in-process.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

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


class NativeBackend(Backend):
    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        from .native import render
        try:
            render(model, "node")
            return True
        except Exception:  # noqa: BLE001 (any refusal means: not compatible)
            return False

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        super().prepare(model, device, **kwargs)
        if isinstance(model, (str, bytes)):
            model = onnx.load(model) if isinstance(model, str) else onnx.load_from_string(model)
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
