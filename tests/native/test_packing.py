"""The exporter writes constant GEMM operands pre-packed (exporter/native/ops/linalg.py); the runtime reads
them in place (runtime_c/gemm_driver.h). Both sides must agree on the layout: the constants, and the bytes
of the runtime's reference packers against the Python ones."""
import re
import subprocess

import numpy as np

from exporter.native.library import find_compiler
from exporter.native.ops.linalg import pack_panels, pack_rows
from exporter.native.target import PACK_ROWS, PANEL_BYTES
from exporter.native.project import data_dir

PROGRAM = r"""
#include <cstdio>
#include <vector>
#include "exporter_runtime.h"
template <typename T> void dump(int64_t rows, int64_t cols) {
    std::vector<T> m(rows * cols), pb(((cols + exporter_rt::panel_width<T>() - 1) / exporter_rt::panel_width<T>())
                                      * exporter_rt::panel_width<T>() * rows),
        pa(((rows + exporter_rt::kPackRows - 1) / exporter_rt::kPackRows) * exporter_rt::kPackRows * cols);
    for (int64_t i = 0; i < rows * cols; ++i) m[i] = T(i + 1);
    exporter_rt::pack_b_panels<T>(rows, cols, m.data(), pb.data());  // m as B [K=rows, N=cols]
    exporter_rt::pack_a_panels<T>(rows, cols, m.data(), pa.data());  // m as A [M=rows, K=cols]
    for (T v : pb) std::printf("%g ", double(v));
    std::printf("\n");
    for (T v : pa) std::printf("%g ", double(v));
    std::printf("\n");
}
int main() { dump<float>(13, 37); dump<double>(5, 17); return 0; }
"""


def test_layout_constants_match_the_runtime():
    header = (data_dir("runtime_c") / "exporter_runtime.h").read_text()
    assert int(re.search(r"constexpr int kPanelBytes = (\d+);", header).group(1)) == PANEL_BYTES
    assert int(re.search(r"constexpr int kPackRows = (\d+);", header).group(1)) == PACK_ROWS


def test_packed_bytes_match_the_runtime(tmp_path):
    runtime = data_dir("runtime_c")
    src = tmp_path / "pack.cpp"
    src.write_text(PROGRAM)
    exe = tmp_path / "pack"
    subprocess.run([find_compiler(), "-std=c++17", "-O1", "-I", str(runtime), str(src), str(runtime / "gemm.cpp"),
                    str(runtime / "threads.cpp"), "-pthread", "-o", str(exe)], check=True, capture_output=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    for (rows, cols, dtype), (b_line, a_line) in zip([(13, 37, np.float32), (5, 17, np.float64)],
                                                     [lines[0:2], lines[2:4]]):
        m = np.arange(1, rows * cols + 1, dtype=dtype).reshape(rows, cols)
        np.testing.assert_array_equal(np.array(b_line.split(), dtype), pack_panels(m).reshape(-1))
        np.testing.assert_array_equal(np.array(a_line.split(), dtype), pack_rows(m).reshape(-1))


INT_PROGRAM = r"""
#include <cstdio>
#include <vector>
#include "exporter_runtime.h"
int main() {
    const int64_t K = 7, N = 37;  // odd K and a partial panel: the zero padding of both
    std::vector<uint8_t> b(K * N);
    std::vector<uint8_t> zp(N);
    for (int64_t i = 0; i < K * N; ++i) b[i] = uint8_t(i * 7 % 256);
    for (int64_t j = 0; j < N; ++j) zp[j] = uint8_t(j * 3);
    std::vector<int16_t> packed(exporter_rt::qpacked_size(K, N));
    exporter_rt::qpack_b<uint8_t>(K, N, b.data(), N, zp.data(), 1, packed.data());
    for (int16_t v : packed) std::printf("%d ", int(v));
    std::printf("\n");
    return 0;
}
"""


def test_integer_panels_match_the_runtime(tmp_path):
    """The integer GEMM's packed B (runtime_c/quant.h) as the exporter writes it for constant weights."""
    from exporter.native.ops.quant import QPANEL, pack_int_panels
    runtime = data_dir("runtime_c")
    assert int(re.search(r"constexpr int64_t kQPanel = (\d+);", (runtime / "quant.h").read_text()).group(1)) == QPANEL
    src, exe = tmp_path / "qpack.cpp", tmp_path / "qpack"
    src.write_text(INT_PROGRAM)
    subprocess.run([find_compiler(), "-std=c++17", "-O1", "-I", str(runtime), str(src), str(runtime / "quant.cpp"),
                    str(runtime / "threads.cpp"), "-pthread", "-o", str(exe)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    b = (np.arange(7 * 37) * 7 % 256).astype(np.uint8).reshape(7, 37)
    zp = (np.arange(37) * 3).astype(np.uint8)
    np.testing.assert_array_equal(np.array(out, np.int16), pack_int_panels(b, zp))


WINOGRAD_PROGRAM = r"""
#include <cstdio>
#include <vector>
#include "exporter_runtime.h"
int main() {
    const exporter_rt::Conv2dShape s{1, 5, 8, 8, 14, 3, 3, 8, 8, 1, 1, 1, 1, 1, 1, 1};  // 14 rows: a partial A panel
    std::vector<float> w(14 * 5 * 9);
    for (size_t i = 0; i < w.size(); ++i) w[i] = float(int(i * 7 % 23) - 11) / 8.0f;
    for (int tile : {2, 4}) {
        std::vector<float> u(exporter_rt::winograd_weights_size(s, tile));
        exporter_rt::winograd_weights<float>(s, tile, w.data(), u.data());
        for (float v : u) std::printf("%.9g ", double(v));
        std::printf("\n");
    }
    return 0;
}
"""


def test_winograd_weights_match_the_runtime(tmp_path):
    """The Winograd-transformed convolution weights the exporter writes are the ones the runtime's reference makes."""
    from exporter.native.ops.nn import winograd_weights
    runtime = data_dir("runtime_c")
    src, exe = tmp_path / "wino.cpp", tmp_path / "wino"
    src.write_text(WINOGRAD_PROGRAM)
    subprocess.run([find_compiler(), "-std=c++17", "-O1", "-I", str(runtime), str(src), str(runtime / "winograd.cpp"),
                    str(runtime / "gemm.cpp"), str(runtime / "threads.cpp"), "-pthread", "-o", str(exe)], check=True, capture_output=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    w = ((np.arange(14 * 5 * 9) * 7 % 23 - 11) / 8).astype(np.float32).reshape(14, 5, 3, 3)
    for tile, line in zip((2, 4), lines):
        np.testing.assert_allclose(np.array(line.split(), np.float32), winograd_weights(w, tile), rtol=1e-6, atol=1e-7)
