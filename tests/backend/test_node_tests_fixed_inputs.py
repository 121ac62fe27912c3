"""ONNX node cases whose shape-defining inputs (Reshape's shape, Slice's starts, Resize's scales, OneHot's
depth...) are graph inputs, i.e. known only at run time: those refused for it, and those accepted because
the generated code reads them at run time, run again with those inputs fixed as initializers, the way
real exports carry them, and checked against ONNX's expected outputs. This checks the ops' export-time
(folded) shape handling on all of ONNX's cases; the conformance figure counts the originals."""
import re

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.backend.test_onnx_node_tests import _array, _run_cases

# one xdist worker renders ONNX's 1,884 node cases once (tests/backend/conftest.py) for both modules
# (test.sh runs with --dist loadgroup); without the group each worker rendered them all again
pytestmark = pytest.mark.xdist_group("node_cases")

SAMPLE_EVERY = 4
RUN_TIME = re.compile(r"\(input '([^']*)'\) is computed from data at run time")


def _fixed(case, refusal, names=()):
    """(model with the run-time shape inputs made initializers, its remaining inputs and expected outputs
    for the first data set), or None when the case is refused for another reason. `names`: inputs of an
    accepted case (refusal None) that its generated code reads at run time, fixed the same way."""
    from exporter.errors import ExporterError
    from exporter.native import render
    model = onnx.ModelProto.FromString(case.model.SerializeToString())
    inputs = [vi.name for vi in case.model.graph.input]
    first, expected = case.data_sets[0]
    fixed = set()
    first_names = set(names)
    while refusal is not None or first_names:
        names = first_names or set(RUN_TIME.findall(str(refusal)))
        first_names = set()
        if not names or names & fixed or not names <= set(inputs):
            return None  # another reason, or a shape computed inside the graph
        for name in names:
            model.graph.initializer.append(numpy_helper.from_array(_array(first[inputs.index(name)]), name))
        kept = [vi for vi in model.graph.input if vi.name not in names]
        del model.graph.input[:]
        model.graph.input.extend(kept)
        fixed |= names
        try:
            render(model, "node")
            refusal = None
        except ExporterError as exc:
            refusal = exc
    if not fixed:
        return None
    return model, [([first[k] for k, name in enumerate(inputs) if name not in fixed], expected)]


@pytest.fixture(scope="module")
def fixed_cases(rendered_cases):
    from exporter.backend import shape_only_inputs
    cases = []
    for case, refusal in rendered_cases:
        if case.name.endswith("_expanded"):
            continue
        # accepted: its shape inputs (if any) are read at run time; fixed, the folded path is checked too
        result = _fixed(case, None, shape_only_inputs(case.model)) if refusal is None else _fixed(case, refusal)
        if result is not None:
            cases.append((case, *result))
    return cases


def test_resize_cases_with_fixed_scales_and_sizes(fixed_cases):
    """Every Resize case (the antialiased ones too) builds once its scales/sizes are fixed."""
    resize = [c for c in fixed_cases if c[0].name.startswith(("test_resize_", "test_upsample"))]
    assert len(resize) >= 36
    failures = _run_cases(resize, "fixed")
    assert not failures, "\n".join(failures)


def test_fixed_input_cases_sample(fixed_cases):
    sample = [c for c in fixed_cases if not c[0].name.startswith(("test_resize_", "test_upsample"))][::SAMPLE_EVERY]
    failures = _run_cases(sample, "fixed")
    assert not failures, f"{len(failures)}/{len(sample)} failed:\n" + "\n".join(failures)


@pytest.mark.slow
def test_fixed_input_cases_all(fixed_cases):
    failures = _run_cases(fixed_cases, "fixed")
    print(f"node cases with shape inputs fixed at export: {len(fixed_cases) - len(failures)}/{len(fixed_cases)} pass")
    assert not failures, f"{len(failures)}/{len(fixed_cases)} failed:\n" + "\n".join(failures)
