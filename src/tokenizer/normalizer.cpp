#include "normalizer.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>

#include <utf8proc.h>

#include "unicode_tables.h"
#include "utf8.h"
#include "xlstm/error.h"

namespace xlstm::tok {
namespace {

// Text below U+0300 is already NFC: no character there decomposes or combines with a neighbour.
// Its UTF-8 has no byte >= 0xCC (U+0300 is CC 80).
bool below_u0300(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) break;  // ASCII needs no closer look
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0xCC) return false;
  }
  return true;
}

bool is_nfc_starter(char32_t cp) {
  const auto table = nfc_starters();
  const auto it = std::upper_bound(table.begin(), table.end(), cp,
                                   [](char32_t c, const CodeRange& r) { return c < r.lo; });
  return it != table.begin() && cp <= std::prev(it)->hi;
}

void append_nfc(std::string_view in, std::string& out) {
  if (below_u0300(in)) {
    out.append(in);
    return;
  }
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                   static_cast<utf8proc_ssize_t>(in.size()), &dst,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(dst, &std::free);
  if (n < 0) {
    throw Error(
        tagged("tokenizer", std::string("NFC normalization failed: ") + utf8proc_errmsg(n)));
  }
  out.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
}

}  // namespace

bool may_need_nfc(std::string_view in) {
  return !below_u0300(in);
}

void nfc(std::string_view in, std::string& out) {
  out.clear();
  if (below_u0300(in)) {
    out.append(in);
    return;
  }
  // Normalize the runs between marks HF's NFC does not know (see unicode_tables.h), keeping those
  // marks as they are.
  size_t run = 0;
  for (size_t i = 0; i < in.size();) {
    size_t len = 0;
    const char32_t cp = decode_at(in, i, len);
    if (cp >= 0x7FD && is_nfc_starter(cp)) {
      append_nfc(in.substr(run, i - run), out);
      out.append(in.substr(i, len));
      run = i + len;
    }
    i += len;
  }
  append_nfc(in.substr(run), out);
}

}  // namespace xlstm::tok
