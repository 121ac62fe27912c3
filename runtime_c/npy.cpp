#include "npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace exporter_npy {

namespace {

struct Descr {
    const char* npy;
    const char* dtype;
    size_t size;
};
const Descr kDescrs[] = {{"<f4", "float32", 4}, {"<f8", "float64", 8}, {"<i4", "int32", 4}, {"<i8", "int64", 8},
                         {"|b1", "bool", 1},    {"|u1", "uint8", 1},   {"|i1", "int8", 1},  {"<i2", "int16", 2},
                         {"<u2", "uint16", 2},  {"<u4", "uint32", 4},  {"<u8", "uint64", 8}};

std::string field(const std::string& header, const std::string& key) {
    const size_t at = header.find("'" + key + "'");
    if (at == std::string::npos) return "";
    size_t start = header.find(':', at);
    if (start == std::string::npos) return "";
    ++start;
    while (start < header.size() && header[start] == ' ') ++start;
    if (header[start] == '\'') {
        const size_t end = header.find('\'', start + 1);
        return header.substr(start + 1, end - start - 1);
    }
    if (header[start] == '(') return header.substr(start, header.find(')', start) - start + 1);
    size_t end = start;
    while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
    return header.substr(start, end - start);
}

}  // namespace

size_t itemsize(const std::string& dtype) {
    for (const auto& d : kDescrs)
        if (dtype == d.dtype) return d.size;
    return 0;
}

bool read(const std::string& path, Array& out, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) { error = "cannot open file"; return false; }
    char magic[8];
    if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) { error = "not a .npy file"; return false; }
    uint32_t header_len = 0;
    if (magic[6] == 1) {
        unsigned char b[2];
        if (!in.read(reinterpret_cast<char*>(b), 2)) { error = "truncated .npy header"; return false; }
        header_len = b[0] | (b[1] << 8);
    } else {
        unsigned char b[4];
        if (!in.read(reinterpret_cast<char*>(b), 4)) { error = "truncated .npy header"; return false; }
        header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
    }
    std::string header(header_len, '\0');
    if (!in.read(&header[0], header_len)) { error = "truncated .npy header"; return false; }
    const std::string descr = field(header, "descr");
    out.dtype.clear();
    for (const auto& d : kDescrs)
        if (descr == d.npy) out.dtype = d.dtype;
    if (out.dtype.empty()) { error = "unsupported dtype '" + descr + "'"; return false; }
    if (field(header, "fortran_order").find("True") != std::string::npos) {
        error = "Fortran-ordered arrays are not supported (save with np.ascontiguousarray)";
        return false;
    }
    const std::string shape = field(header, "shape");
    if (shape.empty() || shape[0] != '(' || shape.back() != ')') {
        error = "malformed .npy header (no shape)";
        return false;
    }
    out.shape.clear();
    int64_t count = 1;
    std::string digits;
    for (char ch : shape) {
        if (ch >= '0' && ch <= '9') digits += ch;
        else if (!digits.empty()) { out.shape.push_back(std::stoll(digits)); count *= out.shape.back(); digits.clear(); }
    }
    const size_t bytes = size_t(count) * itemsize(out.dtype);
    out.data.resize(bytes);
    if (bytes && !in.read(reinterpret_cast<char*>(out.data.data()), std::streamsize(bytes))) {
        error = "truncated data: expected " + std::to_string(bytes) + " bytes";
        return false;
    }
    return true;
}

bool write(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape, const void* data,
           std::string& error) {
    const char* descr = nullptr;
    for (const auto& d : kDescrs)
        if (dtype == d.dtype) descr = d.npy;
    if (!descr) { error = "unsupported dtype " + dtype; return false; }
    std::ostringstream dict;
    dict << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
    int64_t count = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        dict << shape[i] << (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
        count *= shape[i];
    }
    dict << "), }";
    std::string header = dict.str();
    const size_t unpadded = 10 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) { error = "cannot write " + path; return false; }
        const unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                          static_cast<unsigned char>(header.size() & 0xff),
                                          static_cast<unsigned char>(header.size() >> 8)};
        out.write(reinterpret_cast<const char*>(prefix), 10);
        out.write(header.data(), std::streamsize(header.size()));
        out.write(static_cast<const char*>(data), std::streamsize(size_t(count) * itemsize(dtype)));
        if (!out) {
            out.close();
            std::remove(tmp.c_str());
            error = "write failed for " + path;
            return false;
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) { error = "cannot rename into " + path; return false; }
    return true;
}

}  // namespace exporter_npy
