#pragma once
// NFC normalization (utf8proc), the one normalizer byte-level BPE files use.
#include <string>
#include <string_view>

namespace xlstm::tok {

// Writes NFC(in) to `out` (replacing its contents). `in` must be valid UTF-8.
void nfc(std::string_view in, std::string& out);

}  // namespace xlstm::tok
