#include "core/env_settings.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "xlstm/error.h"

namespace xlstm {

namespace {

// The variable's value; null where it is unset or empty (the fallback applies).
const char* value_of(const char* name) {
  const char* e = std::getenv(name);
  return e != nullptr && *e != '\0' ? e : nullptr;
}

[[noreturn]] void bad(const char* name, const std::string& expected, const char* got) {
  throw InvalidInput(
      tagged("environment", std::string(name) + ": expected " + expected + ", got '" + got + "'"));
}

std::string format(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

bool env_switch(const char* name, bool fallback) {
  const char* e = value_of(name);
  if (e == nullptr) return fallback;
  const std::string v(e);
  if (v == "on" || v == "1") return true;
  if (v == "off" || v == "0") return false;
  bad(name, "on or off (1 or 0)", e);
}

uint32_t env_count(const char* name, uint32_t fallback, uint32_t lo, uint32_t hi) {
  const char* e = value_of(name);
  if (e == nullptr) return fallback;
  const char* end = e + std::strlen(e);
  unsigned long long v = 0;
  const auto [at, err] = std::from_chars(e, end, v);  // digits only: no sign, space or base
  if (err != std::errc() || at != end || v < lo || v > hi)
    bad(name, "a whole number " + std::to_string(lo) + " .. " + std::to_string(hi), e);
  return static_cast<uint32_t>(v);
}

double env_number(const char* name, double fallback, double lo, double hi) {
  const char* e = value_of(name);
  if (e == nullptr) return fallback;
  const char* end = e + std::strlen(e);
  double v = 0;
  const auto [at, err] = std::from_chars(e, end, v);  // decimal, locale-free: no space or hex
  if (err != std::errc() || at != end || !std::isfinite(v) || v < lo || v > hi)
    bad(name, "a number " + format(lo) + " .. " + format(hi), e);
  return v;
}

int env_choice(const char* name, int fallback, std::initializer_list<const char*> choices) {
  const char* e = value_of(name);
  if (e == nullptr) return fallback;
  std::string listed;
  int index = 0;
  for (const char* c : choices) {
    if (std::string(c) == e) return index;
    listed += (listed.empty() ? "" : ", ") + std::string(c);
    ++index;
  }
  bad(name, "one of " + listed, e);
}

}  // namespace xlstm
