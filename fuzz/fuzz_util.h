#pragma once
// Shared by the fuzz targets: the input as a file for parsers that take a path, the check that an
// error names its source, and how a broken property is reported.
//
// A target catches xlstm::InvalidInput only, the library's documented error for bad input. Any
// other exception escapes (libFuzzer reports it as a crash), as do sanitizer reports, leaks and the
// property checks below.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "xlstm/error.h"

namespace xlstm::fuzz {

// A broken property: print it and abort, which libFuzzer records as a crash with its input.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "\nFUZZ FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// An InvalidInput must say where it came from: "[tag] ..." that names the file (or the label
// given for a buffer). what() is a C string: a name holding a NUL byte (JSON allows "\u0000")
// shows up to that byte.
inline void require_named(const InvalidInput& e, std::string_view source) {
  source = source.substr(0, source.find('\0'));
  const std::string_view msg = e.what();
  if (msg.size() < 3 || msg[0] != '[' || msg.find("] ") == std::string_view::npos)
    finding("error without a [tag]: " + std::string(msg));
  if (msg.find(source) == std::string_view::npos)
    finding("error does not name '" + std::string(source) + "': " + std::string(msg));
}

// An in-memory file (memfd), rewritten with each input. Its path, /proc/self/fd/N, is a regular
// file for stat(), open() and mmap() alike, so path-taking parsers read it as any other file.
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) finding(std::string("memfd_create failed for ") + name);
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::filesystem::path& write(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) finding("ftruncate failed on " + path_.string());
    size_t done = 0;
    while (done < size) {
      const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) finding("pwrite failed on " + path_.string());
      done += static_cast<size_t>(n);
    }
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_;
  std::filesystem::path path_;
};

// Strict UTF-8 validity (RFC 3629: shortest forms, no surrogates, at most U+10FFFF), written here
// rather than taken from the tokenizer so that it checks the tokenizer's output independently.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace xlstm::fuzz
