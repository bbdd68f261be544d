#include "xlstm/sequence_checkpoint.h"

#include <unistd.h>
#include <charconv>

#include "io/safetensors.h"
#include "xlstm/error.h"

namespace xlstm {
namespace {

const char* const kTokensKey = "xlstm.sequence_tokens";

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  return s;
}

}  // namespace

void SequenceCheckpoint::save(const std::filesystem::path& path) const {
  if (tokens.empty()) throw InvalidInput(tagged("checkpoint", "a checkpoint needs its tokens"));
  if (state.batch() != 1)
    throw InvalidInput(tagged(
        "checkpoint", "a checkpoint holds one sequence, not " + std::to_string(state.batch())));
  // State::save names and shapes the tensors; they are written again with the tokens added.
  const auto tmp_state = path.string() + ".state." + std::to_string(::getpid()) + ".tmp";
  const auto tmp = path.string() + "." + std::to_string(::getpid()) + ".tmp";
  try {
    state.save(tmp_state);
    std::vector<TensorToWrite> tensors;
    std::map<std::string, std::string> metadata;
    {
      SafetensorsFile f(tmp_state);
      metadata = f.metadata();
      for (const auto& [name, t] : f.tensors())
        tensors.push_back({name, t.dtype, t.shape, {t.data, t.data + t.nbytes}});
    }
    metadata[kTokensKey] = join(tokens);
    write_safetensors(tmp, tensors, metadata);
    std::filesystem::rename(tmp, path);
    std::filesystem::remove(tmp_state);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp_state, ec);
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

SequenceCheckpoint SequenceCheckpoint::load(const std::filesystem::path& path,
                                            const ModelConfig& config) {
  const std::string src = path.string();
  SequenceCheckpoint c;
  {
    SafetensorsFile f(path);
    auto it = f.metadata().find(kTokensKey);
    if (it == f.metadata().end())
      throw InvalidInput(tagged("checkpoint", src + ": no '" + kTokensKey +
                                                  "' in the metadata (a bare state, not a "
                                                  "sequence checkpoint)"));
    const std::string& s = it->second;
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t end = s.find(',', pos);
      if (end == std::string::npos) end = s.size();
      int32_t v = -1;
      auto [p, ec] = std::from_chars(s.data() + pos, s.data() + end, v);
      if (ec != std::errc() || p != s.data() + end || v < 0 || v >= config.vocab_size) {
        throw InvalidInput(tagged("checkpoint", src + ": token " + std::to_string(c.tokens.size()) +
                                                    " of '" + kTokensKey +
                                                    "' is not a token id of this model"));
      }
      c.tokens.push_back(v);
      pos = end + 1;
    }
  }
  c.state = State::load(path, config);
  if (c.state.batch() != 1)
    throw InvalidInput(tagged("checkpoint", src + ": holds " + std::to_string(c.state.batch()) +
                                                " sequences, a checkpoint one"));
  return c;
}

}  // namespace xlstm
