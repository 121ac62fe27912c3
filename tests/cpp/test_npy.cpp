// npy.cpp: the .npy reader and writer of the generated programs: round trips of every dtype, the header
// spellings NumPy writes, and the refusals the README documents (big-endian, Fortran order, truncated
// data, a missing file). The hardening fuzz corpus (tests/hardening) covers the parser far more widely.
#include <cstring>
#include <string>

#include "check.h"
#include "npy.h"

// A version 1.0 .npy file with `header` (padded with spaces to a multiple of 64) and `data_bytes` zero bytes.
static std::vector<unsigned char> npy_bytes(std::string header, size_t data_bytes) {
    const size_t total = 10 + header.size() + 1;
    header += std::string((64 - total % 64) % 64, ' ') + "\n";
    std::string out = "\x93NUMPY";
    out += char(1);
    out += char(0);
    out += char(header.size() & 0xff);
    out += char(header.size() >> 8);
    out += header + std::string(data_bytes, '\0');
    return std::vector<unsigned char>(out.begin(), out.end());
}

static void test_round_trip() {
    const char* dtypes[] = {"float32", "float64", "int32", "int64", "bool", "uint8", "int8", "int16", "uint16", "uint32", "uint64"};
    for (const char* dtype : dtypes) {
        const std::vector<int64_t> shape = {2, 3};
        const size_t bytes = 6 * exporter_npy::itemsize(dtype);
        std::vector<unsigned char> data(bytes);
        for (size_t i = 0; i < bytes; ++i) data[i] = (unsigned char)(i % 2 ? 1 : 0);  // valid for bool too
        std::string error;
        const std::string path = std::string("roundtrip_") + dtype + ".npy";
        CHECK(exporter_npy::write(path, dtype, shape, data.data(), error), "npy write %s: %s", dtype, error.c_str());
        exporter_npy::Array back;
        CHECK(exporter_npy::read(path, back, error), "npy read %s: %s", dtype, error.c_str());
        CHECK(back.dtype == dtype && back.shape == shape && back.data == data, "npy round trip %s", dtype);
    }
    // a 0-d array and an empty one
    std::string error;
    const double scalar = 2.5;
    exporter_npy::Array back;
    CHECK(exporter_npy::write("scalar.npy", "float64", {}, &scalar, error) && exporter_npy::read("scalar.npy", back, error) &&
              back.shape.empty() && back.data.size() == 8,
          "npy 0-d round trip: %s", error.c_str());
    CHECK(exporter_npy::write("empty.npy", "int32", {0, 4}, nullptr, error) && exporter_npy::read("empty.npy", back, error) &&
              back.shape == std::vector<int64_t>({0, 4}) && back.data.empty(),
          "npy empty round trip: %s", error.c_str());
}

static void test_parse() {
    exporter_npy::Array a;
    std::string error;
    auto parse = [&](const std::vector<unsigned char>& bytes) {
        error.clear();
        return exporter_npy::parse(bytes.data(), bytes.size(), a, error);
    };
    CHECK(parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 24)) && a.dtype == "float32" &&
              a.shape == std::vector<int64_t>({3, 2}),
          "parse a NumPy header: %s", error.c_str());
    CHECK(parse(npy_bytes("{'descr': 'float64', 'fortran_order': False, 'shape': (5,), }", 40)) && a.dtype == "float64",
          "parse a dtype name: %s", error.c_str());
    CHECK(parse(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 20)) && a.data.size() == 16,
          "trailing bytes after the data are ignored: %s", error.c_str());
    CHECK(!parse(npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8)) &&
              error.find("big-endian") != std::string::npos,
          "big-endian refused: %s", error.c_str());
    CHECK(!parse(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16)) &&
              error.find("Fortran") != std::string::npos,
          "Fortran order refused: %s", error.c_str());
    CHECK(!parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", 60)) &&
              error.find("truncated data") != std::string::npos,
          "truncated data refused: %s", error.c_str());
    CHECK(!parse(npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8)) &&
              error.find("object") != std::string::npos,
          "object arrays refused: %s", error.c_str());
    const unsigned char not_npy[] = "PK\x03\x04 a zip file";
    CHECK(!exporter_npy::parse(not_npy, sizeof(not_npy), a, error) && error == "not a .npy file", "not a .npy file");
    CHECK(!exporter_npy::read("missing.npy", a, error) && error == "cannot open file", "missing file: %s", error.c_str());
    const auto sixteen_floats = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", 64);
    CHECK(exporter_npy::parse(sixteen_floats.data(), sixteen_floats.size(), a, error, 64), "max_bytes admits its size: %s",
          error.c_str());
    CHECK(!exporter_npy::parse(sixteen_floats.data(), sixteen_floats.size(), a, error, 63) &&
              error.find("over the limit") != std::string::npos,
          "max_bytes refuses larger data: %s", error.c_str());
}

int main() {
    test_round_trip();
    test_parse();
    return finish("npy");
}
