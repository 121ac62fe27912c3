"""Every row of the op table, compiled by the native backend and run in-process through its C API:
the same inputs as the ONNX Runtime test, compared with NumPy eager (and so with ONNX Runtime), at
the example size and at another size along the dynamic axes."""
import numpy as np
import pytest

from exporter.native.library import NativeModel
from tests.helpers import assert_same, seed_of
from tests.op_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_numpy_vs_native(case, op_table_libraries):
    key, model, built = op_table_libraries[case.name]
    if isinstance(built, Exception):
        raise built
    native = NativeModel(built, key)
    rng = np.random.default_rng(seed_of(case.name))
    example = case.inputs(rng, 2)
    assert_same(case.fn(*example), native(*example), case.rtol, where=f"{case.name} (example)")
    fresh = case.inputs(rng, 5 if case.dynamic else 2)
    assert_same(case.fn(*fresh), native(*fresh), case.rtol, where=f"{case.name} (fresh inputs)")
