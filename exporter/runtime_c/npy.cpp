#include "npy.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace exporter_npy {

namespace {

struct Kind {
    const char* dtype;
    size_t size;
    const char* descr;     // written by save_npy
    const char* codes[8];  // type codes NumPy maps to this dtype (after an optional byte-order character)
};
#define EXPORTER_NPY_KINDS
#include "dtypes.inc"  // kKinds: one row per dtype of exporter/dtypes.py
#undef EXPORTER_NPY_KINDS
constexpr size_t kMaxRank = 64;  // NumPy's NPY_MAXDIMS

// A short, printable rendering of untrusted text for error messages (one line, bounded).
std::string shown(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
        if (out.size() > 40) { out += "..."; break; }
        if (c >= 0x20 && c < 0x7f && c != '\\') out += char(c);
        else { char buf[8]; std::snprintf(buf, sizeof buf, "\\x%02x", c); out += buf; }
    }
    return out;
}

bool resolve_descr(const std::string& descr, std::string& dtype, std::string& error) {
    std::string code = descr;
    char order = 0;
    if (!code.empty() && std::strchr("<>=|", code[0])) { order = code[0]; code = code.substr(1); }
    for (const auto& k : kKinds)
        for (const char* const* c = k.codes; *c; ++c) {
            if (code != *c) continue;
            // names ("float32") take no byte-order character in NumPy
            if (order && std::strlen(*c) > 2) break;
            if (order == '>' && k.size > 1) {
                error = "big-endian data ('" + shown(descr) + "') is not supported (save it with .astype('<" +
                        code + "'))";
                return false;
            }
            dtype = k.dtype;
            return true;
        }
    if (code == "O") error = "object arrays are not supported";
    else error = "unsupported dtype '" + shown(descr) + "' (float32, float64, int8/16/32/64, uint8/16/32/64 or bool)";
    return false;
}

// Recursive-descent parser for the header: a Python dict literal, as NumPy writes and ast.literal_eval reads.
class Header {
public:
    explicit Header(const std::string& s) : s_(s) {}

    bool parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape, std::string& error) {
        bool seen[3] = {false, false, false};
        ws();
        if (!eat('{')) return bad(error, "not a dict");
        ws();
        while (!eat('}')) {
            std::string key;
            if (!string_literal(key)) return bad(error, "expected a quoted key");
            ws();
            if (!eat(':')) return bad(error, "expected ':' after '" + shown(key) + "'");
            ws();
            // a key given twice keeps its last value, as in Python (and therefore NumPy)
            if (key == "descr") {
                if (peek() == '[') return bad(error, "structured dtypes are not supported");
                if (!string_literal(descr)) return bad(error, "'descr' is not a string");
                seen[0] = true;
            } else if (key == "fortran_order") {
                if (word("True")) fortran = true;
                else if (word("False")) fortran = false;
                else return bad(error, "'fortran_order' is not True or False");
                seen[1] = true;
            } else if (key == "shape") {
                if (!tuple(shape, error)) return false;
                seen[2] = true;
            } else {
                return bad(error, "unexpected key '" + shown(key) + "'");
            }
            ws();
            if (eat(',')) { ws(); continue; }
            if (peek() != '}') return bad(error, "expected ',' or '}'");
        }
        ws();
        if (i_ != s_.size()) return bad(error, "text after the dict");
        if (!(seen[0] && seen[1] && seen[2])) return bad(error, "it needs 'descr', 'fortran_order' and 'shape'");
        return true;
    }

private:
    const std::string& s_;
    size_t i_ = 0;

    static bool bad(std::string& error, const std::string& why) {
        error = "malformed .npy header: " + why;
        return false;
    }
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    bool eat(char c) {
        if (peek() != c || i_ >= s_.size()) return false;
        ++i_;
        return true;
    }
    void ws() {
        while (i_ < s_.size() && std::strchr(" \t\n\r\f", s_[i_]) && s_[i_] != '\0') ++i_;
    }
    bool word(const char* w) {
        const size_t n = std::strlen(w);
        if (s_.compare(i_, n, w) != 0) return false;
        const char next = i_ + n < s_.size() ? s_[i_ + n] : '\0';
        if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') || (next >= '0' && next <= '9') ||
            next == '_')
            return false;
        i_ += n;
        return true;
    }
    // '...' or "..." without escapes (NumPy never writes any; a backslash is refused rather than decoded)
    bool string_literal(std::string& out) {
        const char quote = peek();
        if (quote != '\'' && quote != '"') return false;
        const size_t end = s_.find(quote, i_ + 1);
        if (end == std::string::npos) return false;
        out = s_.substr(i_ + 1, end - i_ - 1);
        if (out.find_first_of("\\\n\r") != std::string::npos) return false;
        i_ = end + 1;
        return true;
    }
    // A Python tuple of non-negative decimal integers: (), (3,), (3, 4), (3, 4,)
    bool tuple(std::vector<int64_t>& shape, std::string& error) {
        shape.clear();
        if (!eat('(')) return bad(error, "'shape' is not a tuple");
        ws();
        bool comma = false;
        while (!eat(')')) {
            if (peek() == '-') return bad(error, "negative dimension in 'shape'");
            int64_t value = 0;
            if (!integer(value, error)) return false;
            if (shape.size() == kMaxRank) return bad(error, "more than 64 dimensions");
            shape.push_back(value);
            ws();
            comma = eat(',');
            ws();
            if (!comma && peek() != ')') return bad(error, "'shape' is not a tuple of integers");
        }
        if (shape.size() == 1 && !comma) return bad(error, "'shape' is not a tuple (a 1-tuple needs a comma)");
        return true;
    }
    // Python's decimal integer literal: 0, 00, 123, 1_000 (no leading zeros on non-zero values)
    bool integer(int64_t& value, std::string& error) {
        const size_t start = i_;
        bool digit_last = false, any = false;
        value = 0;
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (c >= '0' && c <= '9') {
                const int64_t d = c - '0';
                if (value > (INT64_MAX - d) / 10) return bad(error, "dimension too large in 'shape'");
                value = value * 10 + d;
                digit_last = any = true;
            } else if (c == '_' && digit_last) {
                digit_last = false;
            } else {
                break;
            }
            ++i_;
        }
        if (!any || !digit_last) return bad(error, "'shape' is not a tuple of integers");
        if (s_[start] == '0' && value != 0) return bad(error, "'shape' is not a tuple of integers");
        return true;
    }
};

struct Parsed {
    std::string dtype;
    std::vector<int64_t> shape;
    size_t data_offset = 0;
    size_t data_bytes = 0;
};

// Validates everything up to the data: `head` holds the first `head_size` bytes of a file of `total` bytes.
bool parse_head(const unsigned char* head, size_t head_size, uint64_t total, uint64_t max_bytes, Parsed& p,
                std::string& error) {
    if (head_size < 8 || std::memcmp(head, "\x93NUMPY", 6) != 0) { error = "not a .npy file"; return false; }
    const unsigned major = head[6], minor = head[7];
    if (major < 1 || major > 3 || minor != 0) {
        error = "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor) +
                " (NumPy writes 1.0, 2.0 and 3.0)";
        return false;
    }
    const size_t prefix = major == 1 ? 10 : 12;
    if (head_size < prefix) { error = "malformed .npy header: truncated before its length field ends"; return false; }
    uint64_t header_len = head[8] | (uint64_t(head[9]) << 8);
    if (major > 1) header_len |= (uint64_t(head[10]) << 16) | (uint64_t(head[11]) << 24);
    // both checks come before the header is read, so a lying length field allocates nothing
    if (header_len > total - prefix) {
        error = "malformed .npy header: its length field says " + std::to_string(header_len) + " bytes, the file has " +
                std::to_string(total - prefix) + " after it";
        return false;
    }
    if (header_len > kMaxHeaderBytes) {
        error = "malformed .npy header: " + std::to_string(header_len) + " bytes, NumPy allows at most " +
                std::to_string(kMaxHeaderBytes);
        return false;
    }
    if (head_size < prefix + header_len) { error = "malformed .npy header: truncated"; return false; }
    const std::string text(reinterpret_cast<const char*>(head) + prefix, size_t(header_len));
    if (text.find('\0') != std::string::npos) { error = "malformed .npy header: contains a NUL byte"; return false; }
    std::string descr;
    bool fortran = false;
    if (!Header(text).parse(descr, fortran, p.shape, error)) return false;
    if (!resolve_descr(descr, p.dtype, error)) return false;
    if (fortran) {
        error = "Fortran-ordered arrays are not supported (save with np.ascontiguousarray)";
        return false;
    }
    // element count and byte size, overflow-checked, before anything is allocated. Like NumPy, the nominal
    // size (zero dims left out) must fit in int64 even when a zero dim makes the array empty.
    std::string dims;
    for (size_t k = 0; k < p.shape.size(); ++k) dims += (k ? ", " : "") + std::to_string(p.shape[k]);
    uint64_t nominal = itemsize(p.dtype);
    bool zero = false;
    for (int64_t d : p.shape) {
        zero = zero || d == 0;
        if (d != 0 && (__builtin_mul_overflow(nominal, uint64_t(d), &nominal) || nominal > uint64_t(INT64_MAX))) {
            error = "shape (" + dims + ") is too large";
            return false;
        }
    }
    const uint64_t bytes = zero ? 0 : nominal;
    p.data_offset = prefix + size_t(header_len);
    const uint64_t available = total - p.data_offset;
    if (bytes > available) {
        error = "truncated data: shape (" + dims + ") needs " + std::to_string(bytes) + " bytes, the file has " +
                std::to_string(available);
        return false;
    }
    if (bytes > max_bytes) {
        error = "input of " + std::to_string(bytes) + " bytes is over the limit of " + std::to_string(max_bytes);
        return false;
    }
    p.data_bytes = size_t(bytes);
    return true;
}

}  // namespace

size_t itemsize(const std::string& dtype) {
    for (const auto& k : kKinds)
        if (dtype == k.dtype) return k.size;
    return 0;
}

bool parse(const unsigned char* bytes, size_t size, Array& out, std::string& error, uint64_t max_bytes) {
    Parsed p;
    if (!parse_head(bytes, size, size, max_bytes, p, error)) return false;
    out.dtype = p.dtype;
    out.shape = p.shape;
    out.data.assign(bytes + p.data_offset, bytes + p.data_offset + p.data_bytes);
    return true;
}

bool read(const std::string& path, Array& out, std::string& error, uint64_t max_bytes) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        error = errno == ENOENT ? std::string("cannot open file") : std::string("cannot open file (") + std::strerror(errno) + ")";
        return false;
    }
    struct Closer { FILE* f; ~Closer() { std::fclose(f); } } closer{f};
    struct stat st;
    if (fstat(fileno(f), &st) != 0) { error = "cannot open file (stat failed)"; return false; }
    if (S_ISDIR(st.st_mode)) { error = "is a directory, not a .npy file"; return false; }
    // the size is what every length in the header is checked against, so it must be known up front
    if (!S_ISREG(st.st_mode)) { error = "not a regular file"; return false; }
    const uint64_t total = uint64_t(st.st_size);
    std::vector<unsigned char> head(size_t(total < 12 + kMaxHeaderBytes ? total : 12 + kMaxHeaderBytes));
    if (!head.empty() && std::fread(head.data(), 1, head.size(), f) != head.size()) {
        error = "cannot read the file";
        return false;
    }
    Parsed p;
    if (!parse_head(head.data(), head.size(), total, max_bytes, p, error)) return false;
    out.dtype = p.dtype;
    out.shape = p.shape;
    try {
        out.data.resize(p.data_bytes);
    } catch (const std::bad_alloc&) {
        error = "out of memory reading " + std::to_string(p.data_bytes) + " bytes";
        return false;
    }
    if (p.data_bytes &&
        (std::fseek(f, long(p.data_offset), SEEK_SET) != 0 || std::fread(out.data.data(), 1, p.data_bytes, f) != p.data_bytes)) {
        error = "truncated data: expected " + std::to_string(p.data_bytes) + " bytes";
        return false;
    }
    return true;
}

bool write(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape, const void* data,
           std::string& error) {
    const char* descr = nullptr;
    for (const auto& k : kKinds)
        if (dtype == k.dtype) descr = k.descr;
    if (!descr) { error = "unsupported dtype " + dtype; return false; }
    std::ostringstream dict;
    dict << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
    uint64_t count = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        dict << shape[i] << (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
        count *= uint64_t(shape[i]);
    }
    dict << "), }";
    std::string header = dict.str();
    const size_t unpadded = 10 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) { error = std::string("cannot create ") + tmp + " (" + std::strerror(errno) + ")"; return false; }
        const unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                          static_cast<unsigned char>(header.size() & 0xff),
                                          static_cast<unsigned char>(header.size() >> 8)};
        out.write(reinterpret_cast<const char*>(prefix), 10);
        out.write(header.data(), std::streamsize(header.size()));
        out.write(static_cast<const char*>(data), std::streamsize(count * itemsize(dtype)));
        out.flush();
        if (!out) {
            out.close();
            std::remove(tmp.c_str());
            error = "write failed for " + path;
            return false;
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        error = "cannot rename into " + path;
        return false;
    }
    return true;
}

}  // namespace exporter_npy
