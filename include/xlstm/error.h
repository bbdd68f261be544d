#pragma once
// Library errors: every message starts with where it came from, e.g. "[safetensors]
// model.safetensors: ...". The library only throws; main() and the server turn these into exit
// codes / HTTP errors.
#include <stdexcept>
#include <string>

namespace xlstm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Input that does not meet what was expected (files, configs, shapes, arguments).
class InvalidInput : public Error {
 public:
  using Error::Error;
};

// Build "[where] what" messages.
inline std::string tagged(const std::string& where, const std::string& what) {
  return "[" + where + "] " + what;
}

}  // namespace xlstm
