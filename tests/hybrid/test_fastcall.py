"""The fastcall extension (exporter/native/fastcall.c): NativeModel and hybridize call compiled models from C
when the inputs are exactly what the model was last prepared for, and fall back to the Python path (its
coercions, checks and messages) for everything else. Every result is compared with the Python path's
(`NativeModel(..., fastcall=False)` or $EXPORTER_NO_FASTCALL=1)."""
import gc
import os
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
from onnx import TensorProto, helper

import exporter
from exporter.errors import ExporterError, InputError
from exporter.native.library import NativeModel, fastcall_module, load
from tests.cli.test_export_native import load_example

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADERS = os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))


@pytest.fixture(autouse=True)
def fastcall_on(monkeypatch):
    monkeypatch.delenv("EXPORTER_NO_FASTCALL", raising=False)
    if not HEADERS:
        pytest.skip(f"no Python.h in {sysconfig.get_paths()['include']}: the extension cannot be built here "
                    "(calls take the ctypes path)")


@pytest.fixture(scope="module")
def mlp():
    return load_example("mlp")


@pytest.fixture
def mlp_pair(mlp):
    """The MLP's library loaded twice: with the extension and without."""
    fast = load(exporter.trace(mlp.model, mlp.example_inputs, dynamic_axes=mlp.dynamic_axes), "fcmlp")
    return fast, NativeModel(fast.path, fast.name, fastcall=False)


def add_model():
    """z = x + y for x: [a, 4], y: [b, 4]: a != b passes every Python check and fails in the run."""
    graph = helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", 4]),
                               helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 4])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_extension_builds_and_serves_the_mlp(mlp):
    assert fastcall_module() is not None, "the extension did not build (run with log level DEBUG to see why)"
    x = mlp.example_inputs[0]
    fast = exporter.hybridize(mlp.model, (x,))
    caller = fast._runner._caller
    assert caller is not None and not caller.armed  # armed by the first call, through the Python path
    expected = fast(x)
    assert caller.armed and caller.calls == 0
    for _ in range(3):
        np.testing.assert_array_equal(fast(x), expected)
    np.testing.assert_array_equal(fast._runner(x)[0], expected)
    assert caller.calls == 4


def test_a_hybridized_block_calls_through_the_extension():
    from exporter import nn
    net = nn.Sequential(nn.Dense(8, activation="relu"), nn.Dense(3))
    net.initialize()
    x = np.random.default_rng(5).standard_normal((2, 6)).astype(np.float32)
    eager = net(x)
    net.hybridize()
    first = net(x)  # traces, compiles, arms the Caller through the Python path
    caller = net._hybrid._fast[0]
    calls = caller.calls
    for _ in range(3):
        np.testing.assert_allclose(net(x), eager, rtol=1e-5, atol=1e-6)
    assert caller.calls == calls + 3
    np.testing.assert_array_equal(net(x), first)
    assert net(np.ones((5, 6), np.float32)).shape == (5, 3)  # another shape: the Block's own path


def test_results_equal_the_python_path_bit_for_bit(mlp_pair):
    fast, slow = mlp_pair
    rng = np.random.default_rng(3)
    for batch in (1, 1, 7, 7, 1):
        x = rng.standard_normal((batch, 512)).astype(np.float32)
        got, want = fast(x), slow(x)
        assert len(got) == len(want) == 1
        assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
        assert got[0].tobytes() == want[0].tobytes()
    assert fast._caller.calls == 2  # the repeated batches
    assert slow._caller is None


def test_no_fastcall_variable_keeps_the_ctypes_path(mlp):
    script = ("import sys, numpy as np, exporter; sys.path.insert(0, 'examples'); import mlp\n"
              "f = exporter.hybridize(mlp.model, mlp.example_inputs)\n"
              "x = mlp.example_inputs[0]; f(x); y = f(x)\n"
              "assert f._runner._caller is None and f._fast is None\n"
              "sys.stdout.write(y.tobytes().hex())\n")
    env = dict(os.environ, EXPORTER_NO_FASTCALL="1")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    x = mlp.example_inputs[0]
    fast = exporter.hybridize(mlp.model, (x,))
    fast(x)
    assert fast(x).tobytes().hex() == out.stdout.strip()
    assert fast._runner._caller.calls == 1


def test_outputs_are_fresh_arrays(mlp_pair):
    fast, _ = mlp_pair
    x = np.ones((2, 512), np.float32)
    first = fast(x)[0]
    second = fast(x)[0]
    assert fast._caller.calls == 1
    assert first is not second and not np.shares_memory(first, second)
    kept = second.copy()
    first[...] = 0
    np.testing.assert_array_equal(second, kept)
    np.testing.assert_array_equal(fast(x)[0], kept)
    assert second.flags.owndata and second.flags.writeable


def test_new_batch_size_falls_back_and_rearms(mlp):
    fast = exporter.hybridize(mlp.model, dynamic_axes=mlp.dynamic_axes)
    rng = np.random.default_rng(1)
    x1, x5 = (rng.standard_normal((n, 512)).astype(np.float32) for n in (1, 5))
    np.testing.assert_allclose(fast(x1), mlp.model(x1), rtol=1e-5, atol=1e-5)
    caller = fast._runner._caller
    fast(x1)
    assert caller.calls == 1
    np.testing.assert_allclose(fast(x5), mlp.model(x5), rtol=1e-5, atol=1e-5)  # Python path: new shapes
    assert caller.calls == 1 and fast(x5).shape == (5, 2) and caller.calls == 2  # then from C again
    np.testing.assert_allclose(fast(x1), mlp.model(x1), rtol=1e-5, atol=1e-5)
    assert fast(x1).shape == (1, 2) and caller.calls == 3
    assert fast.traces == 1


def test_inputs_the_extension_leaves_to_python(mlp_pair):
    fast, slow = mlp_pair
    x = np.random.default_rng(2).standard_normal((3, 512)).astype(np.float32)
    want = slow(x)[0]
    np.testing.assert_array_equal(fast(x)[0], want)  # armed for (3, 512) float32
    before = fast._caller.calls

    class Sub(np.ndarray):
        pass

    raw = np.empty(x.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(x.shape)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    strided = np.empty((3, 1024), np.float32)[:, ::2]
    strided[...] = x
    for same in (np.asfortranarray(x), strided, x.view(Sub), unaligned):
        np.testing.assert_array_equal(fast(same)[0], want)
        np.testing.assert_array_equal(slow(same)[0], want)
    assert fast._caller.calls == before  # none of those ran from C
    for bad in (x.astype(np.float64), x.astype(">f4"), x.tolist(), x[0], x[None], x.tolist()[0],
                np.ones((3, 3), np.float32)):
        with pytest.raises(InputError) as from_fast:
            fast(bad)
        with pytest.raises(InputError) as from_slow:
            slow(bad)
        assert str(from_fast.value) == str(from_slow.value)
    with pytest.raises(InputError, match="expected dtype float32, got >f4"):
        fast(x.astype(">f4"))
    with pytest.raises(InputError, match="takes 1 input"):
        fast(x, x)
    # the refused shapes left the model unprepared: one call through Python prepares x's again
    np.testing.assert_array_equal(fast(x)[0], want)
    np.testing.assert_array_equal(fast(x)[0], want)
    assert fast._caller.calls == before + 1


def test_run_error_raises_the_c_message():
    model = add_model()
    fast = load(model, "fcadd")
    slow = NativeModel(fast.path, fast.name, fastcall=False)
    x, y = np.ones((3, 4), np.float32), np.ones((5, 4), np.float32)
    message = "Add node 'Add_0': broadcast sizes (axis -2): 3 vs 5 for these input sizes"
    with pytest.raises(ExporterError) as from_slow:
        slow(x, y)
    assert str(from_slow.value) == message
    with pytest.raises(ExporterError) as first:  # the Python path prepares (3, 4), (5, 4), then runs
        fast(x, y)
    assert str(first.value) == message
    fast._run = None  # the ctypes path is out of reach: the next refusal comes from C
    with pytest.raises(ExporterError) as from_c:
        fast(x, y)
    assert str(from_c.value) == message and type(from_c.value) is ExporterError
    with pytest.raises(ExporterError, match="broadcast sizes"):
        fast._caller((x, y))
    assert fast._caller.calls == 0


def test_a_refused_preparation_disarms():
    """New shapes refused half-way (x's taken by the model, then y's refused) must not leave the Caller armed
    for the old ones: the model's dims are no longer theirs."""
    fast = load(add_model(), "fcadd")
    x, y = np.ones((3, 4), np.float32), np.full((3, 4), 2, np.float32)
    fast(x, y)
    assert fast._caller.armed
    with pytest.raises(InputError):
        fast(np.ones((7, 4), np.float32), np.ones((3, 5), np.float32))
    assert not fast._caller.armed
    np.testing.assert_array_equal(fast(x, y)[0], x + y)
    np.testing.assert_array_equal(fast(x, y)[0], x + y)
    assert fast._caller.calls == 1


def test_multiple_outputs_in_order():
    def three(x, n):
        return x * 2, (n + 1).sum(axis=-1), (x > 0)

    rng = np.random.default_rng(4)
    x, n = rng.standard_normal((4, 3)).astype(np.float32), np.arange(8, dtype=np.int64).reshape(4, 2)
    fast = exporter.hybridize(three, (x, n), dynamic_axes={"x": {0: "b"}, "n": {0: "b"}})
    slow = NativeModel(fast._runner.path, fast._runner.name, fastcall=False)
    fast(x, n)
    for _ in range(2):
        got = fast(x, n)
        assert isinstance(got, tuple) and len(got) == 3
        for g, w in zip(got, three(x, n)):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
        for g, s in zip(got, slow(x, n)):
            assert g.tobytes() == s.tobytes()
    assert fast._runner._caller.calls == 2
    # a list is coerced by the Python path (int64 here, as the model takes)
    for g, w in zip(fast._runner(x, n.tolist()), three(x, n)):
        np.testing.assert_array_equal(g, w)
    assert fast._runner._caller.calls == 2

    listed = exporter.hybridize(lambda x: [x + 1, x - 1], (x,))
    listed(x)
    got = listed(x)
    assert isinstance(got, list) and listed._runner._caller.calls == 1
    np.testing.assert_array_equal(got[0], x + 1)
    np.testing.assert_array_equal(got[1], x - 1)


def test_a_caller_outliving_its_model_stops_calling(mlp_pair):
    fast = NativeModel(mlp_pair[0].path, mlp_pair[0].name)
    x = np.ones((1, 512), np.float32)
    fast(x)
    caller = fast._caller
    assert caller.armed
    del fast
    gc.collect()
    assert not caller.armed and caller((x,)) is None


def test_set_shapes_checks_ranks(mlp_pair):
    fast, _ = mlp_pair
    caller = fast._caller
    with pytest.raises(ValueError, match="rank"):
        caller.set_shapes(((1, 2, 3),), ((1, 2),))
    with pytest.raises(ValueError, match="input shapes"):
        caller.set_shapes((), ((1, 2),))
    assert not caller.armed  # a refused set_shapes leaves it disarmed
    x = np.ones((1, 512), np.float32)
    assert caller((x,)) is None
    fast(x)
    assert caller.armed and fast(x)[0].shape == (1, 2) and caller.calls == 1
