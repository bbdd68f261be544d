#pragma once
// UTF-8 helpers: validation, lossy repair (maximal-subpart U+FFFD, as Python "replace" and Rust
// from_utf8_lossy), and the two Unicode classes the added-token matcher needs.
#include <cstddef>
#include <string>
#include <string_view>

namespace xlstm::tok {

bool is_ascii(std::string_view s);
bool is_valid_utf8(std::string_view s);
// Appends `bytes` to `out`, each maximal invalid subpart replaced by U+FFFD.
void append_lossy(std::string& out, std::string_view bytes);
// Length of a trailing valid-but-truncated character prefix (0..3): bytes that may still become a
// character when more arrive.
size_t incomplete_tail(std::string_view bytes);

// Decodes the character at s[i] of valid UTF-8; sets `len` to its byte length.
char32_t decode_at(std::string_view s, size_t i, size_t& len);
// Code point of the last character of valid, non-empty UTF-8.
char32_t last_char(std::string_view s);
void append_utf8(std::string& out, char32_t cp);

// Rust regex `\w`: Alphabetic | Mark | Decimal_Number | Connector_Punctuation | Join_Control.
bool is_word_char(char32_t cp);
// Unicode White_Space (Rust regex `\s`).
bool is_white_space(char32_t cp);

}  // namespace xlstm::tok
