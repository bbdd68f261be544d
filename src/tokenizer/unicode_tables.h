#pragma once
// Where HF's Unicode data is newer or older than the system's: HF's regexes (Oniguruma) know
// Unicode 16, Debian's PCRE2 Unicode 14; HF's NFC predates Unicode 11, utf8proc knows 15.
#include <span>
#include <string_view>

namespace xlstm::tok {

struct CodeRange {
  char32_t lo, hi;
};

// Code points HF's regex class has and PCRE2's lacks. `name`: "L", "N", "Nd" (\d), "M", "P",
// "S", or "Word" (\w, against PCRE2's [\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]). Empty otherwise.
std::span<const CodeRange> regex_class_extra(std::string_view name);

// Combining marks that HF's NFC treats as plain starters (and U+11930, which it never composes
// onto): nothing reorders or composes across them.
std::span<const CodeRange> nfc_starters();

}  // namespace xlstm::tok
