"""Weights as traced constants: while a function is traced, the NumPy arrays it reads are Constants.

NumPy never hands `E.__getitem__` to the tracer when `E` is a plain array and the index is traced, so
`E[ids]` (an embedding lookup) could not trace. Before tracing, every array the function can reach is
swapped for a `Constant` named after its Python name, and put back afterwards, whatever happens:

- the globals it names (`fn.__code__.co_names`, nested code objects included),
- its closure cells and default arguments (positional and keyword-only),
- the same, recursively, for the functions it names that live in its own module.

Attributes of objects (`self.W`) are not replaced: they keep being read as plain arrays, as before
(an exporter.nn block's parameters are named after their collect_params() names, though).
Arrays the traced function never uses are not exported (unused initializers are dropped by the passes).
"""
from __future__ import annotations

import contextlib
import types

import numpy as np

from .graph import GraphBuilder
from .tracer import Constant

# dtypes a Constant can hold (an initializer); other arrays (strings, objects, float16) are left alone
_KINDS = "biuf"


def _traceable(value) -> bool:
    return (isinstance(value, np.ndarray) and not isinstance(value, np.matrix) and value.dtype.kind in _KINDS
            and value.dtype != np.float16)


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


@contextlib.contextmanager
def traced_constants(fn, graph: GraphBuilder):
    """Within the block, the arrays `fn` can reach are Constants of `graph`; restored on exit."""
    undo: list = []
    _name_block_parameters(fn, graph)
    try:
        _Replacer(graph, undo).visit(fn, _module_of(fn))
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _name_block_parameters(fn, graph: GraphBuilder) -> None:
    """An exporter.nn block's forward: its parameters' initializers take their collect_params() names
    (`weight`, `0.bias`, ...). They stay plain arrays (nothing is replaced): only their names are known."""
    collect = getattr(getattr(fn, "__self__", None), "collect_params", None)
    if callable(collect):
        for name, array in collect().items():
            if _traceable(array):
                graph.name_constant(array, name)


def _module_of(fn):
    fn = getattr(fn, "__func__", fn)
    return getattr(fn, "__module__", None)


class _Replacer:
    def __init__(self, graph: GraphBuilder, undo: list):
        self.graph, self.undo = graph, undo
        self.constants: dict[int, Constant] = {}   # id(array) -> its Constant (one per array, first name wins)
        self.seen: set[int] = set()

    def constant(self, array: np.ndarray, label: str) -> Constant:
        if id(array) not in self.constants:
            self.constants[id(array)] = Constant(self.graph, array, label)
        return self.constants[id(array)]

    def visit(self, fn, module) -> None:
        fn = getattr(fn, "__func__", fn)  # a bound method: its function (the instance is not reached)
        if not isinstance(fn, types.FunctionType) or id(fn) in self.seen:
            return
        self.seen.add(id(fn))
        code, glob = fn.__code__, fn.__globals__
        called = []
        for c in _code_objects(code):
            for name in c.co_names:
                if name not in glob:
                    continue
                value = glob[name]
                if _traceable(value):
                    glob[name] = self.constant(value, name)
                    self.undo.append(lambda g=glob, n=name, v=value: g.__setitem__(n, v))
                elif isinstance(value, types.FunctionType) and value.__module__ == module:
                    called.append(value)
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned later in the enclosing function)
                continue
            if _traceable(value):
                cell.cell_contents = self.constant(value, name)
                self.undo.append(lambda c=cell, v=value: setattr(c, "cell_contents", v))
            elif isinstance(value, types.FunctionType) and value.__module__ == module:
                called.append(value)
        self._defaults(fn, code)
        for f in called:
            self.visit(f, module)

    def _defaults(self, fn, code) -> None:
        defaults = fn.__defaults__
        if defaults and any(_traceable(d) for d in defaults):
            names = code.co_varnames[code.co_argcount - len(defaults):code.co_argcount]
            fn.__defaults__ = tuple(self.constant(d, n) if _traceable(d) else d for n, d in zip(names, defaults))
            self.undo.append(lambda f=fn, d=defaults: setattr(f, "__defaults__", d))
        kwdefaults = fn.__kwdefaults__
        if kwdefaults and any(_traceable(d) for d in kwdefaults.values()):
            fn.__kwdefaults__ = {n: self.constant(d, n) if _traceable(d) else d for n, d in kwdefaults.items()}
            self.undo.append(lambda f=fn, d=kwdefaults: setattr(f, "__kwdefaults__", d))


__all__ = ["traced_constants"]
