// Minimal .npy reading and writing for the generated command-line programs (little-endian, C order).
#ifndef EXPORTER_NPY_H
#define EXPORTER_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace exporter_npy {

struct Array {
    std::string dtype;            // "float32", "float64", "int32", "int64", "bool"
    std::vector<int64_t> shape;
    std::vector<unsigned char> data;
};

size_t itemsize(const std::string& dtype);
// Reads `path`; on failure returns false and sets `error` to a one-line reason.
bool read(const std::string& path, Array& out, std::string& error);
// Writes atomically (temporary file, then rename); returns false and sets `error` on failure.
bool write(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape, const void* data,
           std::string& error);

}  // namespace exporter_npy

#endif  // EXPORTER_NPY_H
