#pragma once
// Typed reads of one JSON object of a config file, with errors that name the file, the section
// path and the key, and what was expected.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace xlstm {

class JsonSection {
 public:
  // where: e.g. "models/x/config.json: slstm_block.slstm".
  JsonSection(const nlohmann::json& j, std::string where);

  bool has(const char* key) const;  // present and not null
  int64_t integer(const char* key, int64_t fallback) const;
  double number(const char* key, double fallback) const;
  bool boolean(const char* key, bool fallback) const;
  std::string string(const char* key, const std::string& fallback) const;
  // The sub-object under key; throws unless it is an object.
  JsonSection child(const char* key) const;
  const nlohmann::json& json() const { return j_; }
  const std::string& where() const { return where_; }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

  // Appends to warnings a line for each key of this object that is not in known: "where: unknown
  // key 'k' ignored", with "(did you mean 'x'?)" where a known key is within two edits (a
  // misspelt field would otherwise quietly take its default); 32 lines at most, then a count.
  void warn_unknown_keys(const std::set<std::string>& known,
                         std::vector<std::string>& warnings) const;

 private:
  const nlohmann::json& j_;
  std::string where_;
};

}  // namespace xlstm
