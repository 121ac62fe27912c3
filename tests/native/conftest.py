"""Native tests share compiled libraries: the op-table cases this session selected are compiled once, in
one parallel batch (all of them for a full run, only the chosen rows under `-k` or a node id)."""
import numpy as np
import pytest

from exporter import trace
from exporter.native.library import compile_models
from tests.helpers import seed_of
from tests.op_cases import CASES

POSITION = {case.name: index for index, case in enumerate(CASES)}


def selected_cases(items) -> list:
    """The op-table cases that the selected test items take as their `case` parameter, in table order."""
    wanted = set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "op_table_libraries" in getattr(item, "fixturenames", ()):
            case = callspec.params.get("case")
            if case is not None:
                wanted.add(case.name)
    return [case for case in CASES if case.name in wanted]


class OpTableLibraries:
    """{case name: (library key, traced model, library path or the exception that stopped it)}, compiled in
    one batch for the cases given; a case asked for outside it (none, when the selection is read right) is
    compiled on its own rather than failing."""

    def __init__(self, cases):
        self._built = {}
        self._compile(cases)

    def _compile(self, cases):
        models = {}
        for case in cases:
            # the key is the row's position in the whole table, so a subset hits the cache a full run filled
            example = case.inputs(np.random.default_rng(seed_of(case.name)), 2)
            models[f"case{POSITION[case.name]}"] = (case, trace(case.fn, example, dynamic_axes=case.dynamic))
        built = compile_models({key: model for key, (_, model) in models.items()})
        self._built.update({case.name: (key, model, built[key]) for key, (case, model) in models.items()})

    def __getitem__(self, name):
        if name not in self._built:
            self._compile([case for case in CASES if case.name == name])
        return self._built[name]

    def __len__(self):
        return len(self._built)


@pytest.fixture(scope="session")
def op_table_libraries(request):
    return OpTableLibraries(selected_cases(request.session.items))
