#include "normalizer.h"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "xlstm/error.h"

namespace xlstm::tok {
namespace {

// Text below U+0300 is already NFC: no character there decomposes or combines with a neighbour.
// Its UTF-8 has no byte >= 0xCC (U+0300 is CC 80).
bool below_u0300(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0xCC) return false;
  }
  return true;
}

}  // namespace

void nfc(std::string_view in, std::string& out) {
  if (below_u0300(in)) {
    out.assign(in);
    return;
  }
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                   static_cast<utf8proc_ssize_t>(in.size()), &dst,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(dst, &std::free);
  if (n < 0) {
    throw Error(tagged("tokenizer", std::string("NFC normalization failed: ") +
                                        utf8proc_errmsg(n)));
  }
  out.assign(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
}

}  // namespace xlstm::tok
