"""Every ONNX node case rendered once per session: (case, None) when the native backend accepts it,
(case, the ExporterError) when it refuses it."""
import pytest


@pytest.fixture(scope="session")
def rendered_cases():
    from exporter.errors import ExporterError
    from exporter.native import render
    from tests.backend.test_onnx_node_tests import _node_cases
    result = []
    for case in _node_cases():
        try:
            render(case.model, "node")
            result.append((case, None))
        except ExporterError as exc:
            result.append((case, exc))
    return result
