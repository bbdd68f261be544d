#include "xlstm/npy.h"
#include "core/regular_file.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "xlstm/error.h"

namespace xlstm {

void write_npy_f32(const std::filesystem::path& path, const std::vector<int64_t>& shape,
                   const float* data) {
  std::string dims;
  int64_t n = 1;
  for (auto d : shape) {
    dims += std::to_string(d) + ",";
    n *= d;
  }
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Magic(6) + version(2) + len(2) + header + '\n' must be a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InvalidInput(tagged("npy", path.string() + ": cannot open for writing"));
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(magic, 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n * sizeof(float)));
  if (!out) throw Error(tagged("npy", path.string() + ": write failed"));
}

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// The header is a Python dict literal: {'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }
// then spaces and a newline. Scanned by hand: a std::regex over it recursed once per character and
// overflowed the stack on a long header (found by fuzz/fuzz_npy).
template <class Fail>
NpyHeader parse_header(std::string_view s, const Fail& fail) {
  size_t i = 0;
  const auto skip_space = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  };
  const auto eat = [&](char c) {
    skip_space();
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  };
  const auto quoted = [&](const std::string& what) {
    skip_space();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail(what + " is not a quoted string");
    const size_t close = s.find(s[i], i + 1);
    if (close == std::string_view::npos) fail(what + " has no closing quote");
    const std::string text(s.substr(i + 1, close - i - 1));
    i = close + 1;
    return text;
  };
  NpyHeader h;
  bool seen_descr = false, seen_shape = false, seen_order = false;
  if (!eat('{')) fail("header is not a dict");
  while (!eat('}')) {
    const std::string key = quoted("a header key");
    if (!eat(':')) fail("no ':' after header key '" + key + "'");
    skip_space();
    if (key == "descr" && !seen_descr) {
      h.descr = quoted("'descr'");
      seen_descr = true;
    } else if (key == "fortran_order" && !seen_order) {
      if (s.substr(i, 4) == "True") {
        h.fortran_order = true, i += 4;
      } else if (s.substr(i, 5) == "False") {
        i += 5;
      } else {
        fail("'fortran_order' is not True or False");
      }
      seen_order = true;
    } else if (key == "shape" && !seen_shape) {
      if (!eat('(')) fail("'shape' is not a tuple");
      const size_t close = s.find(')', i);
      if (close == std::string_view::npos) fail("'shape' has no closing ')'");
      const std::string_view dims = s.substr(i, close - i);
      for (size_t at = 0; at <= dims.size();) {
        const size_t comma = std::min(dims.find(',', at), dims.size());
        const std::string_view d = dims.substr(at, comma - at);
        at = comma + 1;
        const size_t first = d.find_first_not_of(" "), last = d.find_last_not_of(" ");
        if (first == std::string_view::npos) {
          if (comma == dims.size()) continue;  // the end of "(5,)" and "()"
          fail("shape entry '' is not a dimension (0 .. 10^12)");
        }
        const std::string digits(d.substr(first, last - first + 1));
        // A dimension is 1 to 12 decimal digits: no sign, no garbage, no overflow below.
        if (digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
          fail("shape entry '" + digits + "' is not a dimension (0 .. 10^12)");
        h.shape.push_back(std::stoll(digits));
      }
      i = close + 1;
      seen_shape = true;
    } else {
      fail("header key '" + key + "' is " +
           (key == "descr" || key == "shape" || key == "fortran_order"
                ? "given twice"
                : "not one of 'descr', 'fortran_order', 'shape'"));
    }
    if (!eat(',')) {
      if (!eat('}')) fail("no ',' or '}' after header key '" + key + "'");
      break;
    }
  }
  skip_space();
  if (i != s.size()) fail("text after the header dict");
  if (!seen_descr) fail("no 'descr' in header");
  if (!seen_shape) fail("no 'shape' in header");
  return h;
}

}  // namespace

NpyIds read_npy_ids(const std::filesystem::path& path) {
  const std::string where = path.string();
  auto fail = [&](const std::string& what) -> void {
    throw InvalidInput(tagged("npy", where + ": " + what));
  };
  require_regular_file(path, "npy");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    fail("not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail("truncated header");
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    fail("unsupported .npy version " + std::to_string(major));
  }
  if (header_start + header_len > bytes.size()) fail("header longer than the file");
  const NpyHeader h = parse_header(std::string_view(bytes).substr(header_start, header_len), fail);
  const std::string_view descr = h.descr;
  const std::string_view order = descr.substr(0, descr.find_first_not_of("<>|="));
  const std::string_view type = descr.substr(order.size());
  const bool digits = type.size() >= 2 && type.size() <= 3 &&
                      type.find_first_not_of("0123456789", 1) == std::string_view::npos;
  const int width = digits ? std::stoi(std::string(type.substr(1))) : 0;
  if (order.size() > 1 || order == ">" || type.empty() || type[0] != 'i' ||
      (width != 4 && width != 8)) {
    fail("dtype '" + h.descr + "' is not little-endian int32/int64");
  }
  if (h.fortran_order) fail("Fortran-order arrays are not supported");
  NpyIds out;
  out.shape = h.shape;
  if (out.shape.size() == 1) out.shape.insert(out.shape.begin(), 1);
  if (out.shape.size() != 2) fail("expected a 1-D or 2-D array of token ids");
  if (out.shape[0] == 0 || out.shape[1] == 0) {
    fail("shape (" + std::to_string(out.shape[0]) + ", " + std::to_string(out.shape[1]) +
         ") is empty: at least one sequence of one token is needed");
  }
  if (out.shape[0] > (int64_t{1} << 40) / out.shape[1])
    fail("shape product overflows (more than 2^40 ids)");
  const size_t n = static_cast<size_t>(out.shape[0] * out.shape[1]);
  const size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != n * static_cast<size_t>(width)) {
    fail("data is " + std::to_string(bytes.size() - data_start) + " bytes, expected " +
         std::to_string(n * width));
  }
  out.ids.resize(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t v = 0;
    if (width == 4) {
      int32_t x;
      std::memcpy(&x, bytes.data() + data_start + 4 * i, 4);
      v = x;
    } else {
      std::memcpy(&v, bytes.data() + data_start + 8 * i, 8);
    }
    if (v < 0 || v > std::numeric_limits<int32_t>::max())
      fail("token id " + std::to_string(v) + " out of range");
    out.ids[i] = static_cast<int32_t>(v);
  }
  return out;
}

}  // namespace xlstm
