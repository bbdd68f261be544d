#include "xlstm/model_path.h"

#include <cctype>
#include <cstdlib>
#include <fstream>

#include "xlstm/error.h"

namespace xlstm {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

const std::string kNameChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

bool is_name(const std::string& s) {
  return !s.empty() && s.size() <= 96 && std::isalnum(static_cast<unsigned char>(s[0])) &&
         s.find_first_not_of(kNameChars) == std::string::npos;
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::filesystem::path hf_hub_cache_dir() {
  if (const auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (const auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;  // the older name
  if (const auto v = env("HF_HOME"); !v.empty()) return std::filesystem::path(v) / "hub";
  if (const auto v = env("XDG_CACHE_HOME"); !v.empty())
    return std::filesystem::path(v) / "huggingface" / "hub";
  return std::filesystem::path(env("HOME")) / ".cache" / "huggingface" / "hub";
}

std::filesystem::path resolve_model_path(const std::string& arg) {
  std::error_code ec;
  if (std::filesystem::exists(arg, ec)) return arg;
  // Hub ids: owner/name of letters, digits, '-', '_', '.' (not starting with '.', '-' or '_'),
  // then perhaps '@' and a revision (a branch, tag or commit). Parsed by hand: no std::regex on
  // arguments of any length.
  const size_t at = arg.find('@');
  const std::string id = arg.substr(0, at);
  const size_t slash = id.find('/');
  if (slash == std::string::npos || id.find('/', slash + 1) != std::string::npos) return arg;
  const std::string owner = id.substr(0, slash), name = id.substr(slash + 1);
  if (!is_name(owner) || !is_name(name)) return arg;
  const std::string revision = at == std::string::npos ? "main" : arg.substr(at + 1);
  if (revision.empty() || revision.find("..") != std::string::npos ||
      revision.find_first_not_of(kNameChars + std::string("/")) != std::string::npos)
    return arg;
  const std::string repo = owner + "/" + name;
  const auto cache = hf_hub_cache_dir();
  const auto repo_dir = cache / ("models--" + owner + "--" + name);
  std::string commit = revision;
  std::string looked = (repo_dir / "snapshots" / revision).string();
  if (!is_commit_hash(revision)) {
    const auto ref = repo_dir / "refs" / revision;
    looked = ref.string();
    std::ifstream in(ref);
    commit.clear();
    if (in) std::getline(in, commit);
    if (!is_commit_hash(commit)) commit.clear();
  }
  if (!commit.empty()) {
    const auto snapshot = repo_dir / "snapshots" / commit;
    if (std::filesystem::is_directory(snapshot, ec)) return snapshot;
    looked = snapshot.string();
  }
  throw InvalidInput(tagged(
      "model", "'" + arg + "' is not a directory, and the Hugging Face cache (" + cache.string() +
                   ") does not hold it at revision '" + revision + "' (looked for " + looked +
                   "). Download it where the hub is reachable (hf download " + repo +
                   ", then copy the cache or set HF_HUB_CACHE / HF_HOME), or pass the model's "
                   "directory."));
}

}  // namespace xlstm
