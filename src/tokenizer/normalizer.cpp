#include "normalizer.h"

#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>

#include <utf8proc.h>

#include "utf8.h"
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

// HF's NFC tables predate Unicode 11: these later combining marks (and U+11930, which composes
// since Unicode 13) are plain starters to it, so nothing reorders or composes across them.
// Found by comparing HF's NFC with utf8proc's on every code point; the parity corpus has some.
constexpr char32_t kNewerMarks[][2] = {
    {0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8D3},     {0x9FE, 0x9FE},
    {0xC3C, 0xC3C},     {0xD3B, 0xD3C},     {0xEBA, 0xEBA},     {0x1715, 0x1715},
    {0x1ABF, 0x1ACE},   {0x1DF6, 0x1DFA},   {0xA82C, 0xA82C},   {0x10D24, 0x10D27},
    {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85},
    {0x11070, 0x11070}, {0x1133B, 0x1133B}, {0x1145E, 0x1145E}, {0x11839, 0x1183A},
    {0x11930, 0x11930}, {0x1193D, 0x1193E}, {0x11943, 0x11943}, {0x119E0, 0x119E0},
    {0x11A34, 0x11A34}, {0x11A47, 0x11A47}, {0x11A99, 0x11A99}, {0x11D42, 0x11D42},
    {0x11D44, 0x11D45}, {0x11D97, 0x11D97}, {0x11F41, 0x11F42}, {0x16FF0, 0x16FF1},
    {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF},
    {0x1E4EC, 0x1E4EF},
};

bool is_newer_mark(char32_t cp) {
  if (cp < kNewerMarks[0][0]) return false;
  for (const auto& r : kNewerMarks) {
    if (cp >= r[0] && cp <= r[1]) return true;
  }
  return false;
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
    throw Error(tagged("tokenizer", std::string("NFC normalization failed: ") +
                                        utf8proc_errmsg(n)));
  }
  out.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
}

}  // namespace

void nfc(std::string_view in, std::string& out) {
  out.clear();
  if (below_u0300(in)) {
    out.append(in);
    return;
  }
  // Normalize the runs between marks HF does not know, keeping those marks as they are.
  size_t run = 0;
  for (size_t i = 0; i < in.size();) {
    size_t len = 0;
    const char32_t cp = decode_at(in, i, len);
    if (cp >= 0x7FD && is_newer_mark(cp)) {
      append_nfc(in.substr(run, i - run), out);
      out.append(in.substr(i, len));
      run = i + len;
    }
    i += len;
  }
  append_nfc(in.substr(run), out);
}

}  // namespace xlstm::tok
