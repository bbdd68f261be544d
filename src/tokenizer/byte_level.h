#pragma once
// GPT-2's reversible map between bytes and printable characters, in which byte-level BPE
// vocabularies are written ("Ġ" is the space byte 0x20).
#include <string>
#include <string_view>

namespace xlstm::tok {

// The character (code point) that stands for byte b.
char32_t byte_to_char(unsigned char b);
// Appends the bytes a byte-level token string stands for. Returns false (appending nothing) when
// the string holds a character outside the map or is not valid UTF-8.
bool byte_level_to_bytes(std::string_view token, std::string& out);
// The byte-level string for raw bytes.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace xlstm::tok
