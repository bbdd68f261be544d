#include "xlstm/npy.h"
#include "core/regular_file.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>
#include <string>

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
  const std::string header = bytes.substr(header_start, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([<>|=]?)([a-z])(\\d+)'")))
    fail("no 'descr' in header");
  const std::string order = m[1], kind = m[2];
  const std::string width_text = m[3];
  const int width = width_text.size() > 2 ? 0 : std::stoi(width_text);
  if (kind != "i" || (width != 4 && width != 8) || order == ">") {
    fail("dtype '" + order + kind + std::to_string(width) + "' is not little-endian int32/int64");
  }
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True")))
    fail("Fortran-order arrays are not supported");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    fail("no 'shape' in header");
  NpyIds out;
  std::stringstream dims(m[1].str());
  std::string d;
  while (std::getline(dims, d, ',')) {
    const auto first = d.find_first_not_of(" ");
    if (first == std::string::npos) continue;
    const auto last = d.find_last_not_of(" ");
    const std::string digits = d.substr(first, last - first + 1);
    // A dimension is 1 to 12 decimal digits: no sign, no garbage, no overflow below.
    if (digits.empty() || digits.size() > 12 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      fail("shape entry '" + digits + "' is not a dimension (0 .. 10^12)");
    }
    out.shape.push_back(std::stoll(digits));
  }
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
