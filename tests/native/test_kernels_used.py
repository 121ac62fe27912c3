"""project.kernels_used: which runtime kernel sources a generated model calls. A program compiles and links only
those, so the table read off the sources is checked against the compiler's own: the symbols each runtime object
defines and the ones it needs from others (nm)."""
import re
import shutil
import subprocess

import pytest
from onnx import TensorProto, helper

from exporter.native import project
from exporter.native.build import build
from exporter.native.library import runtime_library


def test_a_convnet_calls_the_convolution_family_and_no_other():
    used = project.kernels_used("exporter_rt::conv2d_ex<float>(s, x, w, true, y, ep);\n"
                                "exporter_rt::global_avg_pool<float>(64, 49, x, y);\n")
    assert {"conv.cpp", "gemm.cpp", "pool.cpp", "winograd.cpp", "threads.cpp"} <= set(used)
    assert not {"quant.cpp", "rnn.cpp", "sort.cpp", "signal.cpp", "norm.cpp", "reduce.cpp"} & set(used), used
    assert used == tuple(f for f in project.kernel_sources() if f in used)  # the slowest to compile first


def test_elementwise_code_needs_only_the_thread_team():
    assert project.kernels_used("y[i] = std::max(x[i], 0.0f);") == ("threads.cpp",)


def _symbols(obj: str, *flags) -> set:
    """Base names of the exporter_rt functions in an object's symbol table (nm -C `flags`)."""
    out = subprocess.run(["nm", "-C", *flags, obj], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"exporter_rt::(?:detail::)?(\w+)\s*[<(]", out))


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm (binutils)")
def test_the_kernel_table_agrees_with_the_compiled_objects():
    directory = runtime_library().rsplit("/", 1)[0]
    defined, _ = project._kernel_graph()
    objects = {f: f"{directory}/{f[:-4]}.o" for f in project.kernel_sources()}
    provides = {f: _symbols(o, "--defined-only") for f, o in objects.items()}
    for f, obj in objects.items():
        # every function the headers declare and this object defines is attributed to this source
        for name in provides[f] & set(defined):
            assert f in defined[name], (name, f, defined[name])
        # whatever it needs from other runtime objects is in the sources its own names pull in
        closure = project.kernels_used(" ".join(f"exporter_rt::{n}(" for n in defined if f in defined[n]))
        needed = _symbols(obj, "--undefined-only") - provides[f]
        missing = {n for n in needed if not any(n in provides[g] for g in closure)}
        assert not missing, (f, closure, missing)


def test_a_model_the_table_misses_still_links(monkeypatch):
    """Should kernels_used miss a source (a bug of ours), the build links every kernel source instead of failing."""
    monkeypatch.setattr(project, "kernels_used", lambda source: ("threads.cpp",))
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    model = helper.make_model(helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "mm", [a, b], [y]))
    result = build(model, "missed_kernels")
    assert result.project.kernels == ("threads.cpp",)
    cache = open(f"{result.directory}/build/CMakeCache.txt").read()
    assert "gemm.cpp" in cache  # relinked with all of them
