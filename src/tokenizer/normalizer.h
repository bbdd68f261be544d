#pragma once
// NFC normalization (utf8proc), the one normalizer byte-level BPE files use.
#include <string>
#include <string_view>

namespace xlstm::tok {

// False when `in` is NFC for certain (all of it below U+0300); then nfc() would copy it.
bool may_need_nfc(std::string_view in);
// Writes NFC(in) to `out` (replacing its contents). `in` must be valid UTF-8.
void nfc(std::string_view in, std::string& out);

}  // namespace xlstm::tok
