// Drives the .npy reader (runtime_c/npy.cpp) over many files in one process, for the fuzz corpus test.
// Usage: npy_harness LIST   (LIST: one path per line). Prints one line per file:
//   ok <dtype> <rank> <dims...> <bytes> <fnv1a64 of the data>   or   error <message>
// Each file is read twice, through read() (the program's path) and parse() (in memory); the verdicts must
// agree, else the line starts with "MISMATCH".
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "npy.h"

static unsigned long long fnv(const std::vector<unsigned char>& data) {
    unsigned long long h = 1469598103934665603ull;
    for (unsigned char c : data) { h ^= c; h *= 1099511628211ull; }
    return h;
}

static std::string describe(bool ok, const exporter_npy::Array& a, const std::string& error) {
    if (!ok) return "error " + error;
    std::string line = "ok " + a.dtype + " " + std::to_string(a.shape.size());
    for (int64_t d : a.shape) line += " " + std::to_string(d);
    return line + " " + std::to_string(a.data.size()) + " " + std::to_string(fnv(a.data));
}

int main(int argc, char** argv) {
    if (argc != 2) { std::fprintf(stderr, "usage: npy_harness LIST\n"); return 2; }
    std::ifstream list(argv[1]);
    std::string path;
    while (std::getline(list, path)) {
        exporter_npy::Array a, b;
        std::string e1, e2;
        const bool ok1 = exporter_npy::read(path, a, e1);
        std::ifstream in(path, std::ios::binary);
        std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const bool ok2 = exporter_npy::parse(bytes.data(), bytes.size(), b, e2);
        const std::string d1 = describe(ok1, a, e1), d2 = describe(ok2, b, e2);
        if (d1 != d2) std::printf("MISMATCH %s | %s\n", d1.c_str(), d2.c_str());
        else std::printf("%s\n", d1.c_str());
    }
    return 0;
}
