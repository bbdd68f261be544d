#include "utf8.h"

#include <cstdint>
#include <cstring>

#include <utf8proc.h>

namespace xlstm::tok {
namespace {

// Well-formed UTF-8 (Unicode Table 3-7): the length a lead byte announces (0: cannot start a
// character) and the range allowed for the second byte.
struct Lead {
  int len;
  uint8_t lo, hi;
};

Lead lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Bytes from s[i] that form a well-formed prefix of one character (its maximal subpart), and
// the length the lead byte announces in `need` (0 when s[i] cannot start a character).
size_t valid_run(const uint8_t* s, size_t n, size_t i, int& need) {
  const Lead l = lead_info(s[i]);
  need = l.len;
  if (l.len <= 1) return 1;
  if (i + 1 >= n || s[i + 1] < l.lo || s[i + 1] > l.hi) return 1;
  size_t k = 2;
  while (k < static_cast<size_t>(l.len) && i + k < n && (s[i + k] & 0xC0) == 0x80) ++k;
  return k;
}

// Length of the ASCII run starting at s[i].
size_t ascii_run(const uint8_t* s, size_t n, size_t i) {
  size_t j = i;
  while (j + 8 <= n) {
    uint64_t w;
    std::memcpy(&w, s + j, 8);
    if (w & 0x8080808080808080ull) break;
    j += 8;
  }
  while (j < n && s[j] < 0x80) ++j;
  return j - i;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

}  // namespace

bool is_ascii(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  return ascii_run(p, s.size(), 0) == s.size();
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    i += ascii_run(p, n, i);
    if (i >= n) break;
    int need = 0;
    const size_t k = valid_run(p, n, i, need);
    if (need == 0 || k != static_cast<size_t>(need)) return false;
    i += k;
  }
  return true;
}

void append_lossy(std::string& out, std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const size_t a = ascii_run(p, n, i);
    out.append(bytes.substr(i, a));
    i += a;
    if (i >= n) break;
    int need = 0;
    const size_t k = valid_run(p, n, i, need);
    if (need != 0 && k == static_cast<size_t>(need)) {
      out.append(bytes.substr(i, k));
    } else {
      out.append(kReplacement);
    }
    i += k;
  }
}

size_t incomplete_tail(std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    if ((p[n - back] & 0xC0) == 0x80) continue;  // continuation byte: look further back
    int need = 0;
    const size_t k = valid_run(p, n, n - back, need);
    return (static_cast<size_t>(need) > back && k == back) ? back : 0;
  }
  return 0;
}

char32_t decode_at(std::string_view s, size_t i, size_t& len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + i;
  if (p[0] < 0x80) {
    len = 1;
    return p[0];
  }
  if (p[0] < 0xE0) {
    len = 2;
    return (char32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (p[0] < 0xF0) {
    len = 3;
    return (char32_t(p[0] & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  len = 4;
  return (char32_t(p[0] & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
         (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

char32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  size_t len = 0;
  return decode_at(s, i, len);
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_word_char(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           cp == '_';
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      break;
  }
  // Join_Control, and the Other_Alphabetic symbols (circled / squared Latin letters).
  return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) ||
         (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
         (cp >= 0x1F170 && cp <= 0x1F189);
}

bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

}  // namespace xlstm::tok
