"""Errors a user must get while tracing: what happened, the user's file:line, and how to fix it."""
import re

import numpy as np
import pytest

from exporter import TracingError, UnsupportedError, trace

X = np.ones((2, 3), np.float32)
HERE = re.escape(__file__)


def expect(fn, pattern, cls=TracingError, dynamic=None, inputs=(X,)):
    with pytest.raises(cls) as info:
        trace(fn, inputs, dynamic_axes=dynamic)
    message = str(info.value)
    assert re.search(pattern, message, re.S), message
    return message


def branch_on_data(x):
    if x.sum() > 0:
        return x
    return -x


def test_data_dependent_if_names_line_and_suggests_where():
    message = expect(branch_on_data, r"truth value.*depends on the input data.*fix: branch with "
                     r"np\.where\(cond, a, b\).*exporter\.cond\(pred, true_fn, false_fn, \*operands\).*"
                     r"exporter\.while_loop\(cond_fn, body_fn, init\)")
    assert re.search(HERE + r":\d+: in branch_on_data: if x.sum\(\) > 0:", message), message


def loop_on_data(x):
    while x.sum() < 10:
        x = x * 2
    return x


def test_data_dependent_while_suggests_while_loop():
    message = expect(loop_on_data, r"truth value.*fix: .*exporter\.while_loop")
    assert re.search(HERE + r":\d+: in loop_on_data: while x.sum\(\) < 10:", message), message


@pytest.mark.parametrize("fn, what", [
    (lambda x: float(x.sum()), r"float\(\)"),
    (lambda x: int(x[0, 0]), r"int\(\)"),
    (lambda x: x.sum().item(), r"\.item\(\)"),
    (lambda x: np.asarray(x), r"converted to a concrete NumPy array"),
    (lambda x: list(range(x[0, 0])), r"Python index"),
    (lambda x: np.arange(6.0)[x.astype(np.int64)], r"exporter.ops.gather"),
])
def test_data_dependent_conversions(fn, what):
    message = expect(fn, what)
    assert re.search(HERE + r":\d+", message), message


def test_len_of_dynamic_axis():
    message = expect(lambda x: x * len(x), r"len\(\) of a dynamic dimension \('batch'", dynamic={"x": {0: "batch"}})
    assert re.search(HERE + r":\d+", message)


def test_python_int_of_dynamic_axis():
    expect(lambda x: x[: int(x.shape[0])], r"dynamic dimension \('batch'", dynamic={"x": {0: "batch"}})


def test_example_size_baked_into_reshape():
    expect(lambda x: x.reshape(2, 3) * 2, r"works only for the example size of a dynamic axis \(batch\).*"
           r"x\.reshape\(x\.shape\[0\], -1\)", dynamic={"x": {0: "batch"}})


def test_unsupported_function_is_named():
    expect(lambda x: np.linalg.svd(x)[1], r"numpy\.linalg\.svd is not supported", cls=UnsupportedError)


def test_unsupported_ufunc_is_named():
    expect(lambda x: np.logaddexp(x, x), r"numpy\.logaddexp is not supported", cls=UnsupportedError)


def test_unsupported_argument_is_named():
    expect(lambda x: np.pad(x, 1, mode="symmetric"), r"np\.pad\(mode='symmetric'", cls=UnsupportedError)


def test_traced_boolean_mask():
    expect(lambda x: x[x > 0], r"data-dependent shape.*np\.where")


def test_in_place_assignment():
    def assign(x):
        x[0] = 1
        return x
    expect(assign, r"in-place assignment.*np\.where")


def test_numpy_error_reports_user_line():
    message = expect(lambda x: x @ np.ones((4, 4)), r"numpy\.matmul failed: ValueError")
    assert re.search(HERE + r":\d+", message), message


def test_model_exception_is_reported_with_line():
    def broken(x):
        return x + undefined_name  # noqa: F821
    message = expect(broken, r"NameError.*undefined_name")
    assert re.search(HERE + r":\d+", message)


def test_bad_dynamic_axes():
    with pytest.raises(Exception, match="dynamic_axes names input 'y'"):
        trace(lambda x: x, (X,), dynamic_axes={"y": {0: "batch"}})


def test_unsupported_input_dtype():
    with pytest.raises(Exception, match="float16"):
        trace(lambda x: x, (X.astype(np.float16),))


def returns_dict(x):
    y = x * 2
    return {"double": y, "half": x / 2}


def test_dict_return_names_the_return_line_and_says_tuple():
    message = expect(returns_dict, r"the model returned a dict \('double', 'half'\); exporter's outputs are "
                     r"positional.*fix: return a tuple in a fixed order, e.g. return out\['double'\]")
    assert re.search(HERE + r":\d+: in returns_dict: return \{\"double\": y", message), message


def returns_nested(x):
    return (x, x * 2), x


def test_nested_tuple_return_is_named():
    message = expect(returns_nested, r"output 0 is a tuple inside the returned tuple.*fix: flatten it")
    assert re.search(HERE + r":\d+: in returns_nested: return \(x, x \* 2\), x", message), message


def test_string_output_is_named():
    message = expect(lambda x: (x, "done"), r"output 1 is a str \(dtype <U4\), not an array")
    assert re.search(HERE + r":\d+: in <lambda>", message), message


@pytest.mark.parametrize("fn, what", [
    (lambda x: x * float(x.sum()), r"float\(\)"),
    (lambda x: x * int(x.max()), r"int\(\)"),
    (lambda x: x * x.sum().item(), r"\.item\(\)"),
])
def test_conversions_suggest_keeping_an_array_not_where(fn, what):
    message = expect(fn, what + r" of a traced array .*fix: keep it an array: a 0-d array works wherever the "
                     r"Python number did")
    assert "np.where" not in message and re.search(HERE + r":\d+", message), message


def test_returning_a_dynamic_size_gives_an_int64_scalar():
    from tests.helpers import run_onnxruntime
    model = trace(lambda x: (x.shape[0], x), (X,), dynamic_axes={"x": {0: "n"}})
    size, _ = run_onnxruntime(model, [np.ones((5, 3), np.float32)])
    assert size.dtype == np.int64 and size.shape == () and int(size) == 5


def test_arange_over_a_dynamic_size_traces():
    """np.arange(x.shape[0]) used to fail with "comparison of a dynamic dimension" (nothing was compared)."""
    model = trace(lambda x: x * np.arange(x.shape[1]), (X,), dynamic_axes={"x": {1: "n"}})
    assert "Range" in [n.op_type for n in model.graph.node]


def test_arange_over_data_is_data_dependent():
    message = expect(lambda x: np.arange(x.astype(np.int64).sum()), r"np\.arange with a traced value as a bound.*"
                     r"data-dependent length.*fix: use sizes from x\.shape")
    assert re.search(HERE + r":\d+", message), message


def sort_in_place(x):
    x.sort()
    return x


def test_in_place_sort_points_to_np_sort():
    message = expect(sort_in_place, r"x\.sort\(\) sorts in place.*fix: use x = np\.sort\(x, axis\)", cls=UnsupportedError)
    assert re.search(HERE + r":\d+: in sort_in_place: x\.sort\(\)", message), message

