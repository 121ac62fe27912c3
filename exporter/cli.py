"""Command line: `exporter export MODEL --to onnx|cpp|exe`, `exporter check MODEL`, `exporter cache info|clear`."""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import ExporterError, print_error
from .native.target import TARGETS as ARCHS

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
    exp.add_argument("--arch", choices=list(ARCHS), default=None,
                     help="CPU the native code is built for (--to cpp/exe/lib): " +
                          "; ".join(f"{t.name}: {t.description}" for t in ARCHS.values()) + " (default: native)")
    exp.set_defaults(run=_cmd_export)

    chk = sub.add_parser("check", help="compare NumPy eager, ONNX Runtime and the native binary",
                         description="Run MODEL through every backend and report whether they agree. "
                                     "Outputs agree when |err| <= atol + rtol*|ref| elementwise (integers: "
                                     "equal). Exit status: 0 all agree, 1 numbers differ, 2 the model cannot "
                                     "be exported or a backend could not run it.")
    _add_model_args(chk)
    chk.add_argument("--samples", type=int, default=3,
                     help="random input sets besides the example or --inputs, with dynamic axes at other "
                          "sizes (default 3; 0: only the example)")
    chk.add_argument("--backends", default=None,
                     help="comma-separated subset of python,onnxruntime,native (default: all that apply)")
    chk.add_argument("--rtol", type=float, default=None,
                     help="relative tolerance (default: set per output by the least precise float dtype on its "
                          "path: 1e-4 for float32, 1e-9 when the whole path is float64)")
    chk.add_argument("--atol", type=float, default=None,
                     help="absolute tolerance (default: 1e-5 for float32, 1e-12 when the whole path is float64)")
    chk.add_argument("--localize", action="store_true",
                     help="also name the first ONNX node whose output differs between ONNX Runtime and the "
                          "native program (a debug build that dumps every step's values)")
    chk.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    chk.add_argument("--seed", type=int, default=0, help="random seed for the sample inputs")
    chk.set_defaults(run=_cmd_check)

    cache = sub.add_parser("cache", help="show or clear the build cache",
                           description="Native builds are cached in $EXPORTER_CACHE_DIR (default "
                                       "~/.cache/exporter) by the hash of the generated code. The cache is capped "
                                       "at $EXPORTER_CACHE_MAX_MB megabytes (default 2048, 0: no cap): after each "
                                       "build the least recently used entries are deleted.")
    cache.add_argument("action", choices=["info", "clear"], help="info: location, entries and size; "
                       "clear: delete every entry (builds in progress are left alone)")
    cache.set_defaults(run=_cmd_cache)
    return parser


def is_onnx_path(path: str) -> bool:
    return path.lower().endswith(".onnx")


def load_onnx_or_trace(args):
    """The ONNX model for MODEL (see loader.load_or_trace) from parsed arguments."""
    from .loader import load_or_trace
    return load_or_trace(args.model, args.entry, args.inputs, args.dynamic)


def _cmd_export(args) -> int:
    from .api import _default_name, check_name, check_path, default_path, export
    if args.to == "onnx" and is_onnx_path(args.model):
        raise ExporterError(f"{args.model} is already ONNX; use --to cpp, exe or lib")
    name = check_name(args.name) if args.name is not None else _default_name(args.model)
    # a bad output path (given or default) fails before tracing or compiling, for every target alike
    check_path(args.to, args.output or default_path(args.to, name), name)
    model, _ = load_onnx_or_trace(args)
    result = export(model, to=args.to, path=args.output, name=name, jobs=args.jobs, progress=True, arch=args.arch)
    print(result.message())
    if args.to == "cpp":
        d = result.paths[0]
        print(f"build it with: cmake -S {d} -B {d}/build -DCMAKE_BUILD_TYPE=Release && cmake --build {d}/build")
    return 0


def _cmd_check(args) -> int:
    from .check import check_model
    report = check_model(args.model, entry=args.entry, inputs=args.inputs, dynamic=args.dynamic,
                         samples=args.samples, backends=args.backends, rtol=args.rtol, atol=args.atol,
                         seed=args.seed, progress=True, localize=args.localize)
    print(report.text(), flush=True)
    if args.json:
        import json
        from .files import atomic_write_text
        atomic_write_text(args.json, json.dumps(report.to_json(), indent=2))
    if report.errors():
        print(f"error: {'; '.join(report.errors())}", file=sys.stderr)
    return report.exit_code


def _cmd_cache(args) -> int:
    from .native.build import cache_info, clear_cache
    if args.action == "clear":
        removed, freed, busy = clear_cache()
        print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'} ({_mib(freed)})"
              + (f"; {busy} in use by a running build kept" if busy else ""))
        return 0
    info = cache_info()
    limit = f"cap {_mib(info['limit'])} ($EXPORTER_CACHE_MAX_MB)" if info["limit"] else "no cap"
    print(f"cache {info['root']}: {info['entries']} entries, {_mib(info['bytes'])}; {limit}")
    for kind, (count, size) in sorted(info["kinds"].items()):
        print(f"  {kind:<8} {count:>5} entries {_mib(size):>12}")
    if info["entries"]:
        import time
        fmt = "%Y-%m-%d %H:%M"
        print(f"  least recently used {time.strftime(fmt, time.localtime(info['oldest']))}, most recently "
              f"{time.strftime(fmt, time.localtime(info['newest']))}")
    return 0


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _terminate(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so temporary files are removed and builds are stopped."""
    raise KeyboardInterrupt


def main(argv=None) -> int:
    import signal
    parser = build_parser()
    args = parser.parse_args(argv)
    import threading
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live there only
    previous = (signal.signal(signal.SIGTERM, _terminate), signal.getsignal(signal.SIGINT)) if main_thread else None
    try:
        return args.run(args)
    except ExporterError as exc:
        print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:  # one line, no traceback (temporary files were removed while unwinding)
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])


if __name__ == "__main__":
    sys.exit(main())
