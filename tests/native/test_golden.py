"""Golden generated C++: the model source rendered for the bundled examples, compared with the reviewed copy
in tests/native/golden/. A change to code generation shows up here as a diff to review, not only as a
pass/fail of the numbers. After reviewing, accept it with:

    EXPORTER_UPDATE_GOLDEN=1 python -m pytest tests/native/test_golden.py
"""
import difflib
import os

import pytest

from exporter.loader import load_or_trace
from exporter.native import render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


@pytest.mark.parametrize("example", ["mlp", "cnn", "transformer"])
def test_generated_model_source_matches_the_golden_copy(example):
    model, _ = load_or_trace(os.path.join(ROOT, "examples", f"{example}.py"))
    files, facts = render(model, example)
    got = files[f"{facts.name}.cpp"]
    path = os.path.join(GOLDEN, f"{example}.cpp")
    if os.environ.get("EXPORTER_UPDATE_GOLDEN"):
        with open(path, "w") as f:
            f.write(got)
    with open(path) as f:
        want = f.read()
    if got != want:
        diff = difflib.unified_diff(want.splitlines(), got.splitlines(), f"golden/{example}.cpp", "generated",
                                    lineterm="", n=2)
        shown = "\n".join(list(diff)[:120])
        pytest.fail(f"the generated C++ for examples/{example}.py changed; review the diff and accept it with "
                    f"EXPORTER_UPDATE_GOLDEN=1:\n{shown}")


def test_template_names_never_use_the_generated_prefixes():
    """The templates' own identifiers and the generator's (values, weights, scratch: codegen.GENERATED_PREFIXES)
    live in one C++ scope; keeping the prefixes apart is what makes any ONNX value name safe to use."""
    import re

    from exporter.native.codegen import GENERATED_PREFIXES
    pattern = re.compile(r"\b(?:%s)\w*" % "|".join(GENERATED_PREFIXES))
    clashes = []
    for folder in (os.path.join(ROOT, "exporter", "templates"), os.path.join(ROOT, "exporter", "templates", "ops")):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".j2") and name != "main.cpp.j2":  # main.cpp is its own translation unit
                text = re.sub(r"{{.*?}}|{%.*?%}", "", open(os.path.join(folder, name)).read())  # Jinja, not C++
                clashes += [f"{name}: {m}" for m in pattern.findall(text)]
    assert not clashes, clashes
