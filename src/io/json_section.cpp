#include "io/json_section.h"

#include <cmath>

#include "xlstm/error.h"

namespace xlstm {

JsonSection::JsonSection(const nlohmann::json& j, std::string where)
    : j_(j), where_(std::move(where)) {
  if (!j_.is_object()) throw InvalidInput(tagged("config", where_ + ": must be a JSON object"));
}

bool JsonSection::has(const char* key) const {
  return j_.contains(key) && !j_[key].is_null();
}

void JsonSection::fail(const std::string& key, const std::string& what) const {
  throw InvalidInput(tagged("config", where_ + ": '" + key + "' " + what));
}

int64_t JsonSection::integer(const char* key, int64_t fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX})
      fail(key, "is out of range: " + v.dump());
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9.0e18) return static_cast<int64_t>(d);
  }
  fail(key, "must be an integer, got " + std::string(v.type_name()) + " " + v.dump());
}

double JsonSection::number(const char* key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (!v.is_number()) fail(key, "must be a number, got " + std::string(v.type_name()));
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(key, "must be finite");
  return d;
}

bool JsonSection::boolean(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (!v.is_boolean()) fail(key, "must be a boolean, got " + std::string(v.type_name()));
  return v.get<bool>();
}

std::string JsonSection::string(const char* key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (!v.is_string()) fail(key, "must be a string, got " + std::string(v.type_name()));
  return v.get<std::string>();
}

JsonSection JsonSection::child(const char* key) const {
  if (!has(key)) fail(key, "is missing");
  if (!j_[key].is_object()) fail(key, "must be an object, got " + std::string(j_[key].type_name()));
  return JsonSection(j_[key], where_ + "." + key);
}

}  // namespace xlstm
