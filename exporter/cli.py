"""Command line: `exporter export MODEL --to onnx|cpp|exe`, `exporter check MODEL`."""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import ExporterError, print_error

_MODEL_HELP = ("a model.py (defines `model` and `example_inputs`, optionally `dynamic_axes`) or, for the "
               "native targets, any .onnx file")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("--entry", metavar="NAME", help="export the callable NAME instead of `model` (its example "
                   "inputs: NAME_example_inputs)")
    p.add_argument("--inputs", nargs="+", metavar="NPY", help="example inputs as .npy files, in parameter order")
    p.add_argument("--dynamic", action="append", metavar="INPUT:AXIS=NAME",
                   help="mark a dimension as variable at run time, e.g. x:0=batch (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exporter", description="Trace NumPy models into ONNX and standalone native programs.",
        epilog="Run `exporter COMMAND --help` for each command's options.")
    parser.add_argument("--version", action="version", version=f"exporter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    exp = sub.add_parser("export", help="export a model to ONNX, a C++ project or a native executable",
                         description="Trace MODEL and write it as ONNX (--to onnx), a self-contained C++17/CMake "
                                     "project (--to cpp) or a built native executable (--to exe).")
    _add_model_args(exp)
    exp.add_argument("--to", choices=["onnx", "cpp", "exe", "lib"], default="onnx",
                     help="onnx: an .onnx file (default <name>.onnx); cpp: a C++ project directory "
                          "(default <name>_cpp/); exe: a built executable (default ./<name>); lib: a directory "
                          "with lib<name>.a, lib<name>.so and <name>.h (default <name>_lib/)")
    exp.add_argument("-o", "--output", metavar="PATH", help="where to write the result (missing directories are "
                     "created)")
    exp.add_argument("--name", metavar="NAME", help="C identifier prefixing the C API (NAME_create ...), the CMake "
                     "targets (NAME, NAME_static, NAME_shared, exporter::NAME) and the file names (default: MODEL's "
                     "file stem)")
    exp.add_argument("--jobs", "-j", type=int, default=None, help="compiler jobs for --to exe/lib (default: all cores)")
    exp.set_defaults(run=_cmd_export)

    chk = sub.add_parser("check", help="compare NumPy eager, ONNX Runtime and the native binary",
                         description="Run MODEL through every backend and report whether they agree. Exit "
                                     "status: 0 all agree, 1 a mismatch, 2 the model cannot be exported.")
    _add_model_args(chk)
    chk.add_argument("--samples", type=int, default=3, help="random inputs besides the example (default 3)")
    chk.add_argument("--backends", default=None,
                     help="comma-separated subset of python,onnxruntime,native (default: all that apply)")
    chk.add_argument("--rtol", type=float, default=None, help="relative tolerance (default by dtype)")
    chk.add_argument("--atol", type=float, default=None, help="absolute tolerance (default by dtype)")
    chk.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    chk.add_argument("--seed", type=int, default=0, help="random seed for the sample inputs")
    chk.set_defaults(run=_cmd_check)
    return parser


def load_onnx_or_trace(args):
    """The ONNX model for MODEL: traced from a model.py, or read from an .onnx file."""
    from .onnx_io import load_model
    if args.model.endswith(".onnx"):
        if args.entry:
            raise ExporterError("--entry applies to model.py files, not .onnx files")
        return load_model(args.model), None
    from .loader import load_model_file
    from .tracing import trace
    spec = load_model_file(args.model, args.entry, args.inputs, args.dynamic)
    return trace(spec.fn, spec.example_inputs, spec.input_names, spec.dynamic_axes, graph_name=spec.stem), spec


def _cmd_export(args) -> int:
    from .api import _default_name, check_name, export
    if args.to == "onnx" and args.model.endswith(".onnx"):
        raise ExporterError(f"{args.model} is already ONNX; use --to cpp, exe or lib")
    name = check_name(args.name) if args.name is not None else _default_name(args.model)
    model, _ = load_onnx_or_trace(args)
    result = export(model, to=args.to, path=args.output, name=name, jobs=args.jobs, progress=True)
    print(result.message())
    if args.to == "cpp":
        d = result.paths[0]
        print(f"build it with: cmake -S {d} -B {d}/build -DCMAKE_BUILD_TYPE=Release && cmake --build {d}/build")
    return 0


def _cmd_check(args) -> int:
    from .check import run_check
    return run_check(args)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ExporterError as exc:
        print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
