#include "byte_level.h"

#include <array>
#include <cstdint>

#include "utf8.h"

namespace xlstm::tok {
namespace {

// Printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes take
// the code points 256, 257, ... in byte order.
struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // indexed by code point < 324, -1: not in the map
  Tables() {
    to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_char[b] = printable ? char32_t(b) : next++;
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t byte_to_char(unsigned char b) {
  return tables().to_char[b];
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  if (!is_valid_utf8(token)) return false;
  const Tables& t = tables();
  const size_t start = out.size();
  for (size_t i = 0; i < token.size();) {
    size_t len = 0;
    const char32_t cp = decode_at(token, i, len);
    if (cp >= t.to_byte.size() || t.to_byte[cp] < 0) {
      out.resize(start);
      return false;
    }
    out.push_back(static_cast<char>(t.to_byte[cp]));
    i += len;
  }
  return true;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) append_utf8(out, byte_to_char(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace xlstm::tok
