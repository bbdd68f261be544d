#include "io/json_section.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "xlstm/error.h"

namespace xlstm {

JsonSection::JsonSection(const nlohmann::json& j, std::string where)
    : j_(j), where_(std::move(where)) {
  if (!j_.is_object()) throw InvalidInput(tagged("config", where_ + ": must be a JSON object"));
}

bool JsonSection::has(const char* key) const {
  return j_.contains(key) && !j_[key].is_null();
}

namespace {

// Levenshtein distance of a and b (config keys: a few dozen characters).
size_t edits(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

void JsonSection::warn_unknown_keys(const std::set<std::string>& known,
                                    std::vector<std::string>& out) const {
  constexpr size_t kMaxLines = 32;  // a config of junk gets a count, not a line per key
  size_t lines = 0, more = 0;
  for (const auto& [key, value] : j_.items()) {
    if (known.count(key)) continue;
    if (lines == kMaxLines) {
      ++more;
      continue;
    }
    std::string line = where_ + ": unknown key '" + key + "' ignored";
    std::string best;
    size_t best_edits = 3;  // suggest within two edits only
    for (const auto& k : known) {
      if (key.size() > k.size() + 2 || k.size() > key.size() + 2) continue;  // > 2 edits apart
      const size_t e = edits(key, k);
      if (e < best_edits) best = k, best_edits = e;
    }
    if (!best.empty()) line += " (did you mean '" + best + "'?)";
    out.push_back(line), ++lines;
  }
  if (more > 0) out.push_back(where_ + ": " + std::to_string(more) + " more unknown keys ignored");
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
