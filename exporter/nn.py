"""D2L-style blocks on plain NumPy: they run eagerly, trace, hybridize in place and export.

    net = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"), nn.Dense(2))
    net.initialize()
    y = net(x)                # NumPy, eagerly (parameters are created at the first call: deferred init)
    net.hybridize()           # the next call traces once and compiles; later calls run the native code
    y = net(x)
    net.export("mlp")         # mlp.onnx and the executable ./mlp

Parameters are float32 NumPy arrays, saved and loaded as .npz (`save_parameters`, `load_parameters`).
"""
from __future__ import annotations

import numpy as np

from . import ops
from .errors import ExporterError

ACTIVATIONS = {None: lambda x: x, "relu": ops.relu, "sigmoid": ops.sigmoid, "tanh": np.tanh, "gelu": ops.gelu,
               "softmax": ops.softmax}


class Block:
    """A layer or a network: parameters, child blocks, `forward`."""

    def __init__(self):
        self._children: dict[str, Block] = {}
        self._params: dict[str, np.ndarray] = {}
        self._hybrid_backend = None
        self._hybrid = None
        self._rng = np.random.default_rng(0)

    # ---- structure --------------------------------------------------------------------------------------
    def register(self, name: str, block: "Block") -> "Block":
        self._children[name] = block
        return block

    def param(self, name: str, shape, init) -> np.ndarray:
        """The parameter `name`, created with `init(rng, shape)` on first use (deferred initialization)."""
        if name not in self._params:
            self._params[name] = np.asarray(init(self._rng, tuple(int(s) for s in shape)), np.float32)
        return self._params[name]

    def collect_params(self, prefix: str = "") -> dict[str, np.ndarray]:
        out = {f"{prefix}{k}": v for k, v in self._params.items()}
        for name, child in self._children.items():
            out.update(child.collect_params(f"{prefix}{name}."))
        return out

    def initialize(self, seed: int = 0) -> "Block":
        """Reset parameters; they are drawn (from `seed`) when the first input fixes their shapes."""
        self._params.clear()
        self._rng = np.random.default_rng(seed)
        for k, child in enumerate(self._children.values()):
            child.initialize(seed * 1000 + k + 1)
        self._hybrid = None
        return self

    # ---- running ----------------------------------------------------------------------------------------
    def forward(self, *args):
        raise NotImplementedError

    def __call__(self, *args):
        if self._hybrid is not None:  # the compiled form's C path takes plain arrays of its last call's shapes
            result = self._hybrid._call_fast(args)
            if result is not None:
                return result
        if self._hybrid_backend is None or _is_traced(args):
            return self.forward(*args)
        if self._hybrid is None or not self._matches(args):
            self.forward(*[np.asarray(a) for a in args])  # eager once: creates deferred parameters
            from .hybrid import hybridize
            self._hybrid = hybridize(self.forward, args, backend=self._hybrid_backend,
                                     input_names=[f"x{k}" if len(args) > 1 else "x" for k in range(len(args))])
            self._hybrid_shapes = [(np.shape(a), np.asarray(a).dtype) for a in args]
        return self._hybrid(*args)

    def _matches(self, args) -> bool:
        return [(np.shape(a), np.asarray(a).dtype) for a in args] == self._hybrid_shapes

    def hybridize(self, active: bool = True, backend: str = "native") -> "Block":
        """Compile at the next call (traced at that call's shapes; a new shape compiles again, cached)."""
        self._hybrid_backend = backend if active else None
        self._hybrid = None
        return self

    # ---- saving and exporting ---------------------------------------------------------------------------
    def save_parameters(self, path: str) -> None:
        from .files import atomic_output
        params = self.collect_params()
        with atomic_output(path) as f:
            np.savez(f, **params)

    def load_parameters(self, path: str) -> None:
        with np.load(path) as data:
            self._load(dict(data), "")
        self._hybrid = None

    def _load(self, data: dict, prefix: str) -> None:
        for key in list(data):
            if key.startswith(prefix) and "." not in key[len(prefix):]:
                self._params[key[len(prefix):]] = data[key].astype(np.float32)
        for name, child in self._children.items():
            child._load(data, f"{prefix}{name}.")

    def export(self, path: str, example_inputs=None, dynamic_axes=None, to=("onnx", "exe")):
        """Write `path`.onnx and build the executable `path` from this block's forward."""
        from .onnx_io import save_model
        from .tracing import trace
        if example_inputs is None:
            shapes = getattr(self, "_hybrid_shapes", None)
            if not shapes:
                raise ExporterError("export needs example_inputs (or call the block once after hybridize())")
            example_inputs = tuple(np.zeros(s, d) for s, d in shapes)
        if isinstance(example_inputs, np.ndarray):
            example_inputs = (example_inputs,)
        self.forward(*example_inputs)
        names = ["x"] if len(example_inputs) == 1 else [f"x{k}" for k in range(len(example_inputs))]
        if dynamic_axes is None:
            dynamic_axes = {n: {0: "batch"} for n in names}
        model = trace(self.forward, example_inputs, input_names=names, dynamic_axes=dynamic_axes,
                      graph_name=type(self).__name__)
        written = []
        if "onnx" in to:
            written += save_model(model, f"{path}.onnx")
        if "exe" in to:
            from .native import build_executable
            import os
            build_executable(model, path, name=os.path.basename(path) or "model")
            written.append(path)
        return written


def _is_traced(args) -> bool:
    from .tracing.tracer import Tracer
    return any(isinstance(a, Tracer) for a in args)


def _uniform(scale):
    return lambda rng, shape: rng.uniform(-scale, scale, shape)


def _xavier(fan_in, fan_out):
    return _uniform(np.sqrt(6.0 / (fan_in + fan_out)))


def _zeros(rng, shape):
    return np.zeros(shape)


def _ones(rng, shape):
    return np.ones(shape)


class Sequential(Block):
    def __init__(self, *blocks):
        super().__init__()
        for b in blocks:
            self.add(b)

    def add(self, *blocks):
        for b in blocks:
            self.register(str(len(self._children)), b)
        return self

    def forward(self, x):
        for block in self._children.values():
            x = block(x)
        return x

    def __getitem__(self, k):
        return list(self._children.values())[k]

    def __len__(self):
        return len(self._children)


class Dense(Block):
    """y = activation(x @ W + b) over the last axis (flattening nothing: D2L's flatten=False)."""

    def __init__(self, units: int, activation=None, in_units: int | None = None, use_bias: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ExporterError(f"unknown activation {activation!r}; choose from {sorted(map(str, ACTIVATIONS))}")
        self.units, self.activation, self.in_units, self.use_bias = units, activation, in_units, use_bias

    def forward(self, x):
        n_in = self.in_units or x.shape[-1]
        y = x @ self.param("weight", (n_in, self.units), _xavier(n_in, self.units))
        if self.use_bias:
            y = y + self.param("bias", (self.units,), _zeros)
        return ACTIVATIONS[self.activation](y)


class Conv2D(Block):
    """NCHW convolution: weight [channels, in_channels / groups, k, k]."""

    def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1, activation=None,
                 in_channels=None, use_bias=True):
        super().__init__()
        self.channels, self.kernel, self.strides, self.padding = channels, ops._pair(kernel_size), strides, padding
        self.dilation, self.groups, self.activation = dilation, groups, activation
        self.in_channels, self.use_bias = in_channels, use_bias

    def forward(self, x):
        c = self.in_channels or x.shape[1]
        fan_in = c // self.groups * self.kernel[0] * self.kernel[1]
        w = self.param("weight", (self.channels, c // self.groups, *self.kernel),
                       _xavier(fan_in, self.channels * self.kernel[0] * self.kernel[1]))
        b = self.param("bias", (self.channels,), _zeros) if self.use_bias else None
        y = ops.conv2d(x, w, b, stride=self.strides, padding=self.padding, dilation=self.dilation,
                       groups=self.groups)
        return ACTIVATIONS[self.activation](y)


class MaxPool2D(Block):
    def __init__(self, pool_size=2, strides=None, padding=0):
        super().__init__()
        self.pool_size, self.strides, self.padding = pool_size, strides or pool_size, padding

    def forward(self, x):
        return ops.max_pool2d(x, self.pool_size, stride=self.strides, padding=self.padding)


class AvgPool2D(MaxPool2D):
    def forward(self, x):
        return ops.avg_pool2d(x, self.pool_size, stride=self.strides, padding=self.padding)


class BatchNorm(Block):
    """Inference batch normalization over axis 1 with running statistics."""

    def __init__(self, epsilon=1e-5, in_channels=None):
        super().__init__()
        self.epsilon, self.in_channels = epsilon, in_channels

    def forward(self, x):
        c = (self.in_channels or x.shape[1],)
        return ops.batch_norm(x, self.param("running_mean", c, _zeros), self.param("running_var", c, _ones),
                              self.param("gamma", c, _ones), self.param("beta", c, _zeros), eps=self.epsilon)


class LayerNorm(Block):
    def __init__(self, epsilon=1e-5, in_channels=None):
        super().__init__()
        self.epsilon, self.in_channels = epsilon, in_channels

    def forward(self, x):
        c = (self.in_channels or x.shape[-1],)
        return ops.layer_norm(x, self.param("gamma", c, _ones), self.param("beta", c, _zeros), eps=self.epsilon)


class Embedding(Block):
    """Rows of a [input_dim, output_dim] table picked by integer indices."""

    def __init__(self, input_dim, output_dim):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim

    def forward(self, x):
        table = self.param("weight", (self.input_dim, self.output_dim), _uniform(0.07))
        return ops.gather(table, x)


class Dropout(Block):
    """Identity at inference (exporter exports inference graphs)."""

    def __init__(self, rate=0.5):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        return x


class Flatten(Block):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


__all__ = ["Block", "Sequential", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm", "LayerNorm",
           "Embedding", "Dropout", "Flatten"]
