"""The op-table fixture compiles only the rows this session selected (tests/native/conftest.py)."""
from types import SimpleNamespace

from tests.native.conftest import selected_cases
from tests.op_cases import CASES


def _item(case=None, fixtures=("op_table_libraries",)):
    callspec = SimpleNamespace(params={"case": case}) if case is not None else None
    return SimpleNamespace(callspec=callspec, fixturenames=list(fixtures))


def test_only_selected_rows_are_compiled_in_table_order():
    first, second = CASES[5], CASES[2]
    items = [_item(first), _item(second), _item(first), _item(), _item(CASES[7], fixtures=("tmp_path",))]
    assert selected_cases(items) == [second, first]


def test_a_full_run_compiles_every_row():
    assert selected_cases([_item(case) for case in CASES]) == CASES
