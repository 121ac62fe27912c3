"""Registry completeness: every op the native backend registers (exporter/native/ops, OPS) is run by at
least one row of the op table (tests/op_cases.py, checked NumPy vs ONNX Runtime vs native), or is listed
in NATIVE_OPS_WITHOUT_ROWS with the test that covers it instead. Registering an op with neither fails
here. "Run" means the op is a node of the native graph, not folded away at export time."""
import numpy as np
import pytest

from exporter import trace
from exporter.native.ir import Graph
from exporter.native.ops import OPS
from tests.helpers import seed_of
from tests.op_cases import CASES, NATIVE_OPS_WITHOUT_ROWS


@pytest.fixture(scope="module")
def ops_run_by_rows():
    """{ONNX op type: names of the rows whose native graph has it} (traced, not compiled: about a second)."""
    ran: dict = {}
    for case in CASES:
        example = case.inputs(np.random.default_rng(seed_of(case.name)), 2)
        for node in Graph(trace(case.fn, example, dynamic_axes=case.dynamic)).nodes:
            ran.setdefault(node.op, []).append(case.name)
    return ran


def test_every_native_op_has_a_row_or_a_reason(ops_run_by_rows):
    missing = sorted(set(OPS) - set(ops_run_by_rows) - set(NATIVE_OPS_WITHOUT_ROWS))
    assert not missing, (f"native ops no op-table row runs: {missing}. Add a row to tests/op_cases.py (ops the "
                         "NumPy front end cannot emit: see onnx_node there), or list the op in "
                         "NATIVE_OPS_WITHOUT_ROWS with the test that covers it")


def test_allow_list_is_current(ops_run_by_rows):
    unknown = sorted(set(NATIVE_OPS_WITHOUT_ROWS) - set(OPS))
    assert not unknown, f"NATIVE_OPS_WITHOUT_ROWS names ops the native backend does not register: {unknown}"
    covered = {op: ops_run_by_rows[op][:3] for op in NATIVE_OPS_WITHOUT_ROWS if op in ops_run_by_rows}
    assert not covered, f"these ops have rows now; drop them from NATIVE_OPS_WITHOUT_ROWS: {covered}"
    assert all(reason.strip() for reason in NATIVE_OPS_WITHOUT_ROWS.values())
