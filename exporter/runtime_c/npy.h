// Minimal .npy reading and writing for the generated command-line programs (little-endian, C order).
// The reader treats every file as untrusted: the header is parsed as the grammar NumPy writes (a Python
// dict literal with exactly 'descr', 'fortran_order' and 'shape'), and the data size is overflow-checked
// against the bytes actually present before anything is allocated.
#ifndef EXPORTER_NPY_H
#define EXPORTER_NPY_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace exporter_npy {

struct Array {
    std::string dtype;            // "float32", "float64", "int32", "int64", "bool", "uint8"
    std::vector<int64_t> shape;
    std::vector<unsigned char> data;
};

// NumPy refuses headers longer than this (np.load's max_header_size); so do we.
constexpr size_t kMaxHeaderBytes = 10000;

size_t itemsize(const std::string& dtype);
// Reads `path` (a regular file); on failure returns false and sets `error` to a one-line reason. The data
// may not exceed `max_bytes` (besides having to be present in the file).
bool read(const std::string& path, Array& out, std::string& error, uint64_t max_bytes = UINT64_MAX);
// The same checks on a file already in memory (used by the fuzz harnesses).
bool parse(const unsigned char* bytes, size_t size, Array& out, std::string& error, uint64_t max_bytes = UINT64_MAX);
// Writes atomically (temporary file, then rename); returns false and sets `error` on failure.
bool write(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape, const void* data,
           std::string& error);

}  // namespace exporter_npy

#endif  // EXPORTER_NPY_H
