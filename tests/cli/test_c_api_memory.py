"""Embedded use of the C API: the context in the caller's memory, the arena size asked for and given by the
caller, and no allocation at all inside the model between create_in and the end of run (checked by
wrapping the allocator at link time); plus the readable arena plan in the generated source."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from exporter import trace
from exporter.native.library import compiler_flags, find_compiler, runtime_library
from exporter.native.project import render, write_files

W = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)


def model(x):
    h = np.maximum(x @ W, 0)
    return (h - h.mean(axis=-1, keepdims=True)) @ W.T


PROGRAM = r'''
#include <stdio.h>
#include <stdlib.h>
#include "m.h"

/* every allocation our objects (model, runtime) make goes through these while `counting` is set */
static int counting = 0, allocations = 0;
void* __real_malloc(size_t n);
void* __real_calloc(size_t n, size_t k);
void* __real_realloc(void* p, size_t n);
void* __real_aligned_alloc(size_t a, size_t n);
void* __real__Znwm(size_t n);
void* __real__ZnwmRKSt9nothrow_t(size_t n, const void* tag);
void* __wrap_malloc(size_t n) { allocations += counting; return __real_malloc(n); }
void* __wrap_calloc(size_t n, size_t k) { allocations += counting; return __real_calloc(n, k); }
void* __wrap_realloc(void* p, size_t n) { allocations += counting; return __real_realloc(p, n); }
void* __wrap_aligned_alloc(size_t a, size_t n) { allocations += counting; return __real_aligned_alloc(a, n); }
void* __wrap__Znwm(size_t n) { allocations += counting; return __real__Znwm(n); }
void* __wrap__ZnwmRKSt9nothrow_t(size_t n, const void* t) { allocations += counting; return __real__ZnwmRKSt9nothrow_t(n, t); }

static _Alignas(64) unsigned char context[1 << 14];
static _Alignas(64) unsigned char arena[1 << 16];

int main(void) {
    static float x[5 * 8], y[5 * 8];
    for (int i = 0; i < 5 * 8; ++i) x[i] = (float)(i % 5) - 2.0f;
    const void* in[1] = {x};
    void* out[1] = {y};
    int64_t shape[2] = {3, 8}, bigger[2] = {5, 8};
    size_t need = 0, need_bigger = 0;

    m_set_num_threads(1);
    m_ctx* heap = m_create();  /* a first run on the heap: per-thread buffers are set up outside the count */
    m_set_input_shape(heap, 0, shape, 2);
    m_run(heap, in, out);
    m_destroy(heap);

    if (m_context_size() > sizeof context) { printf("context_size %zu\n", m_context_size()); return 1; }
    counting = 1;  /* the count works: the heap context allocates */
    heap = m_create();
    m_destroy(heap);
    printf("heap context allocations %d\n", allocations);
    allocations = 0;
    m_ctx* m = m_create_in(context, sizeof context);
    if (m_run(m, in, out) == 0) return 2;
    printf("unset: %s\n", m_last_error(m));
    m_set_input_shape(m, 0, shape, 2);
    if (m_run(m, in, out) == 0) return 3;
    printf("no arena: %s\n", m_last_error(m));
    m_arena_size(m, &need);
    if (need == 0 || need > sizeof arena) { printf("need %zu\n", need); return 4; }
    m_set_arena(m, arena, need - 64);
    if (m_run(m, in, out) == 0) return 5;
    printf("small: %s\n", m_last_error(m));
    m_set_arena(m, arena, need);
    m_set_input_shape(m, 0, shape, 2);
    if (m_run(m, in, out) != 0) { printf("run: %s\n", m_last_error(m)); return 6; }
    m_set_input_shape(m, 0, bigger, 2);
    m_arena_size(m, &need_bigger);
    if (m_run(m, in, out) == 0) return 7;  /* the given arena is never replaced behind the caller's back */
    printf("grown: %s\n", m_last_error(m));
    m_set_arena(m, arena, sizeof arena);
    m_set_input_shape(m, 0, bigger, 2);
    m_profile_enable(m, 1);  /* profiling allocates nothing either, reading it included */
    if (m_run(m, in, out) != 0) { printf("run: %s\n", m_last_error(m)); return 8; }
    static char report[4096];
    m_profile_record rec;
    if (m_profile_step(m, 0, &rec) != 0 || rec.runs != 1 || m_profile_report(m, report, sizeof report, NULL) != 0)
        return 10;
    if (m_set_arena(m, arena + 8, 100) == 0) return 9;
    printf("misaligned: %s\n", m_last_error(m));
    m_destroy(m);
    counting = 0;
    printf("allocations %d need %zu %zu\n", allocations, need, need_bigger);
    for (int i = 0; i < 5 * 8; ++i) printf("%.6f ", y[i]);
    printf("\n");
    return 0;
}
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    x = np.zeros((3, 8), np.float32)
    files, facts = render(trace(model, (x,), dynamic_axes={"x": {0: "batch"}}), "m")
    directory = tmp_path_factory.mktemp("m")
    write_files(files, str(directory / "m"))
    return directory / "m", facts


def test_runs_on_caller_memory_without_allocating(project, tmp_path):
    directory, facts = project
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    cxx = find_compiler()
    (tmp_path / "use.c").write_text(PROGRAM)
    obj = tmp_path / "use.o"
    proc = subprocess.run([cc, "-std=c11", "-c", str(tmp_path / "use.c"), "-I", str(directory), "-o", str(obj)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    wraps = ",".join(f"--wrap={s}" for s in ("malloc", "calloc", "realloc", "aligned_alloc", "_Znwm",
                                             "_ZnwmRKSt9nothrow_t"))
    exe = tmp_path / "use"
    proc = subprocess.run([cxx, *compiler_flags(cxx), "-I", str(directory), "-I", str(directory / "runtime"),
                           f"-DEXPORTER_WEIGHTS_FILE=\"{directory / 'weights.bin'}\"", str(directory / "m.cpp"),
                           str(directory / "weights.S"), str(obj), runtime_library(), f"-Wl,{wraps}", "-o", str(exe)],
                          capture_output=True, text=True, cwd=directory)
    assert proc.returncode == 0, proc.stderr
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    heap, *lines = result.stdout.splitlines()
    assert heap == "heap context allocations 1"
    assert "dynamic dim 'batch' is not set" in lines[0]
    assert re.search(r"no arena: give one with m_set_arena \(\d+ bytes for these sizes\)", lines[1]), lines[1]
    assert re.search(r"the arena given to m_set_arena has (\d+) bytes; these sizes need (\d+)", lines[2]), lines[2]
    assert re.search(r"has \d+ bytes; these sizes need \d+", lines[3]), lines[3]
    assert "64-byte aligned" in lines[4]
    allocations, need, need_bigger = re.fullmatch(r"allocations (\d+) need (\d+) (\d+)", lines[5]).groups()
    assert int(allocations) == 0
    assert 0 < int(need) < int(need_bigger)  # the arena grows with the batch
    x = ((np.arange(40) % 5) - 2).astype(np.float32).reshape(5, 8)
    np.testing.assert_allclose(np.array(lines[6].split(), np.float32).reshape(5, 8), model(x), rtol=1e-5, atol=1e-5)


def test_plan_is_written_one_buffer_per_line(project):
    directory, _ = project
    source = (directory / "m.cpp").read_text()
    body = source[source.index("static size_t layout("):source.index("static int plan(")]
    assert max(len(line) for line in body.splitlines()) <= 120, body
    assert re.search(r"slot = std::max<int64_t>\(slot, .*d_batch.*\);  // \w+", body), body


STATIC_PROGRAM = r'''
#include <stdio.h>
#include "s.h"
static _Alignas(64) unsigned char context[1 << 14];
static _Alignas(64) unsigned char arena[1 << 16];
int main(void) {
    static float x[3 * 8], y[3 * 8];
    for (int i = 0; i < 3 * 8; ++i) x[i] = (float)i;
    const void* in[1] = {x};
    void* out[1] = {y};
    s_ctx* m = s_create_in(context, sizeof context);
    if (!m || s_create_in(context, 8) != NULL) return 1;
    if (s_run(m, in, out) == 0) return 2;  /* a fixed-size model plans on its first run: no arena yet */
    printf("%s\n", s_last_error(m));
    size_t need = 0;
    if (s_arena_size(m, &need) != 0 || need == 0 || s_set_arena(m, arena, need) != 0) return 3;
    if (s_run(m, in, out) != 0) { printf("%s\n", s_last_error(m)); return 4; }
    s_destroy(m);
    for (int i = 0; i < 3 * 8; ++i) printf("%.6f ", y[i]);
    printf("\n");
    return 0;
}
'''


def test_fixed_size_model_on_caller_memory(tmp_path):
    x = np.zeros((3, 8), np.float32)
    files, _ = render(trace(model, (x,)), "s")
    directory = tmp_path / "s"
    write_files(files, str(directory))
    (tmp_path / "use.c").write_text(STATIC_PROGRAM)
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    obj = tmp_path / "use.o"
    proc = subprocess.run([cc, "-std=c11", "-c", str(tmp_path / "use.c"), "-I", str(directory), "-o", str(obj)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cxx = find_compiler()
    exe = tmp_path / "use"
    proc = subprocess.run([cxx, *compiler_flags(cxx), str(obj), "-I", str(directory), "-I", str(directory / "runtime"),
                           f"-DEXPORTER_WEIGHTS_FILE=\"{directory / 'weights.bin'}\"", str(directory / "s.cpp"),
                           str(directory / "weights.S"), runtime_library(), "-o", str(exe)],
                          capture_output=True, text=True, cwd=directory)
    assert proc.returncode == 0, proc.stderr
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    error, values = result.stdout.splitlines()
    assert re.search(r"no arena: give one with s_set_arena \(\d+ bytes", error), error
    x = np.arange(24, dtype=np.float32).reshape(3, 8)
    np.testing.assert_allclose(np.array(values.split(), np.float32).reshape(3, 8), model(x), rtol=1e-5, atol=1e-4)
