"""Static memory plan: every intermediate tensor and scratch area gets a slot in one arena; tensors whose
lifetimes do not overlap share a slot. Sizes may be expressions of dynamic dims, so a slot's size is the
max of its members and offsets are prefix sums (evaluated once per input shape at run time)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import dims as D

if TYPE_CHECKING:
    from .codegen import CodeGen

_aligned = D.aligned


@dataclass(eq=False)
class Buffer:
    """An arena allocation: a value's storage or a step's scratch, live from `first` to `last` step."""
    var: str
    size: object                 # bytes, a Dim
    first: int
    last: int
    ctype: str
    slot: int = -1


def plan(cg: "CodeGen", example_env: dict) -> tuple[list[Buffer], list]:
    """Assign arena slots; returns the buffers and the slot sizes (Dims, in bytes)."""
    buffers: dict[str, Buffer] = {}
    for index, step in enumerate(cg.steps):
        for value in step.writes:
            root = cg.alias_of.get(value, value)
            if root.is_input or root.data is not None:
                continue
            if root.is_output and cg.output_vars.get(root) == cg.vars.get(root):
                continue  # written straight into the caller's buffer (an export-time value with run-time
                          # sizes, such as a returned x.shape[0], is filled here and then copied out)
            var = cg.var(root)
            if var not in buffers:
                buffers[var] = Buffer(var, _aligned(D.mul(root.numel, root.dtype.itemsize)), index, index,
                                      cg.ctype(root.dtype))
        if step.scratch and not (not isinstance(step.scratch, D.Sym) and step.scratch == 0):
            for node in step.nodes:
                if node in cg.scratch_vars and cg.scratch_vars[node] not in buffers:
                    buffers[cg.scratch_vars[node]] = Buffer(
                        cg.scratch_vars[node], _aligned(D.mul(step.scratch, step.scratch_dtype.itemsize)), index, index,
                        cg.ctype(step.scratch_dtype))
        for value in step.reads:
            root = cg.alias_of.get(value, value)
            var = cg.vars.get(root)
            if var in buffers:
                buffers[var].last = max(buffers[var].last, index)
    for node, var in cg.scratch_vars.items():  # a node's scratch lives through all its steps
        if var in buffers:
            steps = [i for i, s in enumerate(cg.steps) if node in s.nodes]
            buffers[var].first, buffers[var].last = min(steps), max(steps)
    # Greedy by size: biggest first, each into the first slot none of whose members overlap in time.
    order = sorted(buffers.values(), key=lambda b: -D.evaluate(b.size, example_env))
    slots: list[list[Buffer]] = []
    for buf in order:
        for k, members in enumerate(slots):
            if all(buf.last < m.first or m.last < buf.first for m in members):
                members.append(buf)
                buf.slot = k
                break
        else:
            buf.slot = len(slots)
            slots.append([buf])
    sizes = []
    for members in slots:
        size = members[0].size
        for m in members[1:]:
            size = D.maximum(size, m.size)
        sizes.append(size)
    return list(buffers.values()), sizes
