// libFuzzer target for the .npy reader: clang++ -fsanitize=fuzzer,address,undefined (see test_npy_fuzz.py).
#include <cstddef>
#include <cstdint>

#include "npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    exporter_npy::Array array;
    std::string error;
    // a small limit keeps the fuzzer's memory flat; the size checks run before it applies
    exporter_npy::parse(data, size, array, error, uint64_t(1) << 24);
    return 0;
}
