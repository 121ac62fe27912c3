"""Malformed and hostile .onnx files: one `error:` line, exit 2, no traceback, nothing written, for
`export --to exe`, `export --to cpp` and `check` (issues 10.4, 12, 16.2)."""
from __future__ import annotations

import os
import re

import pytest

from exporter.cli import main
from tests.hardening.conftest import exporter_cli
from tests.hardening.malformed_models import write_all

EXPECT = {  # a word the one error line must contain: it says what is wrong, not just that something is
    "empty-file": "", "random-bytes": "", "truncated": "", "dangling-input": "ghost", "cycle": "",
    "raw-data-too-long": "4096 bytes", "raw-data-too-short": "8 bytes", "unknown-domain": "Frobnicate",
    "opset-99": "opset 99", "negative-dim": "-3", "huge-dim": str(2**62), "huge-output-dim": str(2**40),
    "output-contradicts": "", "duplicate-outputs": "'y'", "empty-graph": "", "no-inputs": "no inputs",
    "matmul-mismatch": "", "external-data-escape": "outside the model's folder",
    "external-data-absolute": "outside the model's folder",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("malformed"))


def test_the_corpus_is_complete(models):
    assert set(models) == set(EXPECT)


@pytest.mark.parametrize("case", sorted(EXPECT))
def test_malformed_model_is_one_error_line(models, case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPORTER_CACHE_DIR", str(tmp_path / "cache"))
    for argv, written in ((["export", models[case], "--to", "exe", "-o", str(tmp_path / "prog")], tmp_path / "prog"),
                          (["export", models[case], "--to", "cpp", "-o", str(tmp_path / "proj")], tmp_path / "proj"),
                          (["check", models[case], "--samples", "0"], None)):
        code = main(argv)
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code == 2, f"{case} {argv[0]}: exit {code}\n{captured.out}{captured.err}"
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{case} {argv[0]}: {captured.err}"
        assert EXPECT[case] in lines[0], f"{case}: {lines[0]}"
        if written is not None:
            assert not written.exists(), f"{case}: {written} was written"
    assert not (tmp_path / "cache").exists() or not [p for p in os.listdir(tmp_path / "cache") if "build" in p]


def test_through_a_real_process_no_traceback(models, tmp_path):
    # the in-process runs above share one interpreter; this proves the same at the command line
    for case in ("raw-data-too-long", "opset-99", "external-data-escape"):
        for args in (["export", models[case], "--to", "exe", "-o", str(tmp_path / "p")], ["check", models[case]]):
            result = exporter_cli(*args)
            assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_directory_and_upper_case_suffix(tmp_path, models):
    result = exporter_cli("export", str(tmp_path), "--to", "exe")
    assert result.returncode == 2 and "is a directory" in result.stderr, result.stderr
    upper = tmp_path / "model.ONNX"
    upper.write_bytes(open(models["opset-99"], "rb").read())
    result = exporter_cli("check", str(upper))
    assert result.returncode == 2 and "opset 99" in result.stderr, result.stderr


def test_graph_level_checks_apply_without_the_file_loader(models):
    # exporter.backend and hybridize build the native Graph from a ModelProto directly
    import onnx

    from exporter.errors import ExporterError
    from exporter.native.ir import Graph
    for case, words in (("matmul-mismatch", "(4 vs 5)"), ("negative-dim", "-3"), ("huge-dim", str(2**62))):
        with pytest.raises(ExporterError, match=re.escape(words)):
            Graph(onnx.load(models[case]))


def test_external_data_next_to_the_model_is_read_and_a_short_file_is_one_line(tmp_path, capsys):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="m.data", size_threshold=0)
    from exporter.onnx_io import load_model
    loaded = load_model(str(path))
    assert numpy_helper.to_array(loaded.graph.initializer[0]).sum() == 120
    (tmp_path / "m.data").write_bytes((tmp_path / "m.data").read_bytes()[:40])
    assert main(["export", str(path), "--to", "cpp", "-o", str(tmp_path / "proj")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "external data" in err[0] and not (tmp_path / "proj").exists()
