"""Names from an .onnx file reach the generated C++ only as escaped string literals or generated
identifiers (issue 16.1): format specifiers, newlines with preprocessor lines, quotes, backslashes,
comment ends, trigraphs, non-ASCII, non-UTF-8 and very long names go through export, build, --help,
--signature, bad input and a correct run; nothing crashes and printed names are escaped."""
from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.hardening import sanitize
from tests.hardening.conftest import cxx, exporter_cli, sanitizers_work

HOSTILE = ["%s%s%s%s%s%s%n", "x\n#error injected", 'quo"te', "back\\slash\\", "end */ /* c", "#include <stdio.h>",
           "??/ trigraph", "名前", "n" * 3000, "a-b", "a_b", "%n" * 200, "tab\there\r", "v_0", "d_batch"]


def hostile_model() -> onnx.ModelProto:
    nodes, inputs, outputs = [], [], []
    for k, name in enumerate(HOSTILE):
        dim = HOSTILE[(k + 1) % len(HOSTILE)]  # every input has its own hostile dynamic dim
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [dim, 3]))
        outputs.append(helper.make_tensor_value_info(name + " out", TensorProto.FLOAT, [dim, 3]))
        nodes.append(helper.make_node("Relu", [name], [name + " out"], name=name, doc_string="*/ #error doc " + name))
    graph = helper.make_graph(nodes, "%n%n\n#error graph */", inputs, outputs, doc_string="*/\n#error doc")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="%n\n#error p",
                              doc_string="\n#error model doc")
    helper.set_model_props(model, {"%s\n#error key": "*/ value \\"})
    return model


def shown(name: str) -> str:
    """How the program prints a name: control characters and backslashes as \\xNN."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or c == "\\" else c for c in name)


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    path = d / "hostile.onnx"
    onnx.save(hostile_model(), str(path))
    result = exporter_cli("export", str(path), "--to", "cpp", "-o", str(d / "proj"))
    assert result.returncode == 0, result.stderr
    result = exporter_cli("export", str(path), "--to", "exe", "-o", str(d / "prog"))
    assert result.returncode == 0, result.stderr
    return str(d / "prog"), d / "proj"


def test_generated_sources_hold_names_only_as_literals(program):
    _, proj = program
    for name in ("main.cpp", "hostile.cpp", "hostile.h", "CMakeLists.txt"):
        text = (proj / name).read_text()
        for line in text.splitlines():
            stripped = line.strip()
            assert not stripped.startswith("#error"), f"{name}: {line}"
            if stripped.startswith("#include"):
                assert re.fullmatch(r'#include [<"][\w./]+[>"]', stripped), f"{name}: {line}"
        # no format string holds anything from the model (names are "%s" arguments)
        formats = re.findall(r'(?:printf\(|fprintf\(\w+,|fail\(ctx,)\s*"((?:[^"\\]|\\.)*)"', text)
        assert formats or name != "main.cpp"
        for f in formats:
            assert "%n" not in f and "#error" not in f and "%s%s%s" not in f, f"{name}: format {f!r}"


def _run(exe, *args, cwd=None):
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def _check_program(exe, tmp_path, run=_run):
    for flag in ("--help", "--signature"):
        proc = run(exe, flag)
        assert proc.returncode == 0, proc.stderr
        for name in HOSTILE:
            assert shown(name) in proc.stdout, f"{flag}: {name!r} not shown as {shown(name)!r}"
        assert "\n#error" not in proc.stdout
    proc = run(exe, "only-one.npy")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    paths = []
    for k in range(len(HOSTILE)):
        paths.append(str(tmp_path / f"in{k}.npy"))
        np.save(paths[-1], np.linspace(-1, 1, 3 * (k + 1), dtype=np.float32).reshape(k + 1, 3))
    np.save(tmp_path / "bad.npy", np.ones((2, 3), np.float64))
    proc = run(exe, "--out", str(tmp_path / "never"), str(tmp_path / "bad.npy"), *paths[1:])
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert shown(HOSTILE[0]) in proc.stderr and not (tmp_path / "never").exists()
    proc = run(exe, "--out", str(tmp_path / "out"), *paths)
    assert proc.returncode == 0, proc.stderr
    for k in range(len(HOSTILE)):
        np.testing.assert_array_equal(np.load(tmp_path / "out" / f"output_{k}.npy"), np.maximum(np.load(paths[k]), 0))
    # the profile: one table line per step whatever the names hold, names shown escaped; exact in the JSON
    report = tmp_path / "profile.json"
    proc = run(exe, "--profile", "--profile-json", str(report), "--out", str(tmp_path / "out"), *paths)
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(report.read_text(encoding="utf-8"))["steps"]
    assert sorted(n["name"] for s in steps for n in s["nodes"]) == sorted(HOSTILE)
    table = proc.stderr[proc.stderr.index("profile of"):].splitlines()
    assert len(table) == 3 + len(steps) and table[-1].split()[0] == "total", proc.stderr
    for name in HOSTILE:
        assert f"Relu '{shown(name)}'" in proc.stderr


def test_program_with_hostile_names(program, tmp_path):
    _check_program(program[0], tmp_path)


def test_program_with_hostile_names_under_sanitizers(tmp_path):
    c = cxx()
    if c is None or not sanitizers_work(c):
        pytest.skip("cannot build and run -fsanitize=address,undefined programs here")
    exe = sanitize.build(c, hostile_model(), "hostile")
    _check_program(exe, tmp_path, run=lambda exe, *args: sanitize.run(exe, *args))


def test_c_api_returns_the_exact_names():
    from exporter.native.library import load
    model = load(hostile_model(), "hostile")
    assert model.input_names == HOSTILE
    assert model.output_names == [n + " out" for n in HOSTILE]


def test_non_utf8_name_is_one_error_line_or_escaped(tmp_path):
    model = hostile_model()
    model.graph.input[0].name = model.graph.node[0].input[0] = "QQQQ"
    blob = model.SerializeToString().replace(b"QQQQ", b"\xff\xfe\n\x00")
    path = tmp_path / "bad_utf8.onnx"
    path.write_bytes(blob)
    result = exporter_cli("export", str(path), "--to", "exe", "-o", str(tmp_path / "prog"))
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        _check_program(str(tmp_path / "prog"), tmp_path)
    else:
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not (tmp_path / "prog").exists()


def test_duplicate_graph_output_names_are_refused(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])] * 2)
    path = tmp_path / "dup.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    result = exporter_cli("export", str(path), "--to", "exe", "-o", str(tmp_path / "prog"))
    assert result.returncode == 2 and "more than once" in result.stderr and not (tmp_path / "prog").exists()
    assert len(result.stderr.strip().splitlines()) == 1
