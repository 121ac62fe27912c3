"""GFLOP/s of the native runtime's float32 GEMM next to NumPy's BLAS (OpenBLAS here) on the same machine.

    python benchmarks/gemm.py [--threads 1 2] [--shapes all]

The runtime is the one generated programs link (exporter.native.library.runtime_library(): -O3 -march=native),
called through a 10-line C shim. "native" packs both operands per call, like a product of two activations;
"native packed B" takes B pre-packed, like every product with a constant weight in an exported model.
Each thread count runs in its own process so that OpenBLAS honours OPENBLAS_NUM_THREADS.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

SHAPES = [  # (label, M, N, K)
    ("square 256", 256, 256, 256),
    ("square 1024", 1024, 1024, 1024),
    ("square 2048", 2048, 2048, 2048),
    ("batch-1 dense 1024", 1, 1024, 1024),
    ("batch-1 dense 4096x1024", 1, 4096, 1024),
    ("batch-16 dense 1024", 16, 1024, 1024),
    ("batch-16 dense 4096x1024", 16, 4096, 1024),
    ("batch-64 dense 1024", 64, 1024, 1024),
    ("conv 3x3 64ch 56x56", 64, 3136, 576),
    ("conv 3x3 512ch 7x7", 512, 49, 4608),
]

SHIM = r"""
#include "exporter_runtime.h"
extern "C" {
void bench_threads(int t) { exporter_rt::set_num_threads(t); }
const char* bench_isa() { return exporter_rt::gemm_isa(); }
void bench_pack(int64_t K, int64_t N, const float* B, float* out) { exporter_rt::pack_b_panels<float>(K, N, B, out); }
void bench_gemm(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C, int packed) {
    exporter_rt::Epilogue<float> ep;
    exporter_rt::gemm_ex<float>(M, N, K, A, K, 1, false, B, N, 1, packed != 0, C, N, ep);
}
}
"""


def build_shim() -> str:
    from exporter.native.library import compiler_flags, find_compiler, runtime_library
    from exporter.native.project import data_dir
    cxx = find_compiler()
    lib = runtime_library()
    out = os.path.join(os.path.dirname(lib), "libgemm_bench.so")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "shim.cpp")
        with open(src, "w") as f:
            f.write(SHIM)
        subprocess.run([cxx, *compiler_flags(cxx), "-shared", "-I", str(data_dir("runtime_c")), src, lib,
                        "-o", out + ".tmp"], check=True)
        os.replace(out + ".tmp", out)
    return out


def best_seconds(fn, flops):
    reps = max(1, int(2e8 / flops))
    fn()
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def worker(threads: int, lib_path: str, shapes):
    lib = ctypes.CDLL(lib_path)
    lib.bench_isa.restype = ctypes.c_char_p
    lib.bench_threads(threads)
    p = ctypes.POINTER(ctypes.c_float)
    i64 = ctypes.c_int64
    lib.bench_gemm.argtypes = [i64, i64, i64, p, p, p, ctypes.c_int]
    lib.bench_pack.argtypes = [i64, i64, p, p]
    rng = np.random.default_rng(0)
    # every native product first, then NumPy's (and the reference results): OpenBLAS's worker threads keep spinning
    # for a while after each of its calls, and timed in between they took the cores from the runtime's threads
    # (2-thread rows at 1.0-1.1x of 1 thread, where a C++ loop measures 1.95-2.0x)
    rows = []
    for label, m, n, k in shapes:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        c = np.empty((m, n), np.float32)
        width = 32
        packed = np.zeros(-(-n // width) * width * k, np.float32)
        ptr = lambda x: x.ctypes.data_as(p)  # noqa: E731
        lib.bench_pack(k, n, ptr(b), ptr(packed))
        flops = 2.0 * m * n * k
        t_nat = best_seconds(lambda: lib.bench_gemm(m, n, k, ptr(a), ptr(b), ptr(c), 0), flops)
        c_nat = c.copy()
        t_pk = best_seconds(lambda: lib.bench_gemm(m, n, k, ptr(a), ptr(packed), ptr(c), 1), flops)
        rows.append((label, m, n, k, a, b, (c_nat, c.copy()), flops, t_nat, t_pk))
    for label, m, n, k, a, b, results, flops, t_nat, t_pk in rows:
        want = a.astype(np.float64) @ b.astype(np.float64)
        ok = all(np.allclose(r, want, rtol=1e-3, atol=1e-3 * np.abs(want).max()) for r in results)
        c = np.empty((m, n), np.float32)
        t_np = best_seconds(lambda: np.matmul(a, b, out=c), flops)
        g = lambda t: flops / t / 1e9  # noqa: E731
        print(f"{label:<26} {m:>5} {n:>5} {k:>5} {threads:>2}T {g(t_np):>9.1f} {g(t_nat):>9.1f} {g(t_pk):>10.1f}"
              f" {g(t_nat) / g(t_np) * 100:>7.0f}% {g(t_pk) / g(t_np) * 100:>7.0f}%{'' if ok else '  WRONG RESULT'}",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="*", help="substrings of shape labels to run")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lib", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shapes = [s for s in SHAPES if not args.only or any(o in s[0] for o in args.only)]
    if args.worker:
        return worker(args.worker, args.lib, shapes)
    lib = build_shim()
    isa = ctypes.CDLL(lib)
    isa.bench_isa.restype = ctypes.c_char_p
    print(f"{os.cpu_count()} cores; native micro-kernel: {isa.bench_isa().decode()}; GFLOP/s, best of 7 (float32)")
    print(f"{'shape':<26} {'M':>5} {'N':>5} {'K':>5} {'thr':>3} {'numpy':>9} {'native':>9} {'packed B':>10}"
          f" {'nat/np':>8} {'pk/np':>8}")
    for t in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        cmd = [sys.executable, __file__, "--worker", str(t), "--lib", lib] + (["--only", *args.only] if args.only else [])
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
