#pragma once
// Refuses anything but an existing regular file before it is opened: a FIFO would block the
// open or read forever, a directory reads as empty, a missing path deserves its own message.
#include <filesystem>
#include <string>

#include "xlstm/error.h"

namespace xlstm {

// Throws InvalidInput "[tag] PATH: does not exist | is a directory | is not a regular file".
inline void require_regular_file(const std::filesystem::path& path, const std::string& tag) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);  // stat(): never opens the file
  std::string what;
  if (ec || st.type() == std::filesystem::file_type::not_found) {
    what = "does not exist";
  } else if (st.type() == std::filesystem::file_type::directory) {
    what = "is a directory, not a file";
  } else if (st.type() != std::filesystem::file_type::regular) {
    what = "is not a regular file (a FIFO, socket or device cannot be read as one)";
  }
  if (!what.empty()) throw InvalidInput(tagged(tag, path.string() + ": " + what));
}

}  // namespace xlstm
