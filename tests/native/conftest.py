"""Native tests share compiled libraries: every op-table case is compiled once per session, in parallel."""
import numpy as np
import pytest

from exporter import trace
from exporter.native.library import compile_models
from tests.helpers import seed_of
from tests.op_cases import CASES


@pytest.fixture(scope="session")
def op_table_libraries():
    """{case name: (traced model, library path or the exception that stopped it)}."""
    models = {}
    for index, case in enumerate(CASES):
        example = case.inputs(np.random.default_rng(seed_of(case.name)), 2)
        models[f"case{index}"] = (case, trace(case.fn, example, dynamic_axes=case.dynamic))
    built = compile_models({key: model for key, (_, model) in models.items()})
    return {case.name: (key, model, built[key]) for key, (case, model) in models.items()}
