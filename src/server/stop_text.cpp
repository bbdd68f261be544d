#include "server/stop_text.h"

#include <algorithm>

namespace xlstm::server {

StopTextStream::StopTextStream(const Tokenizer& tokenizer, std::vector<std::string> stops)
    : detok_(tokenizer, /*skip_special_tokens=*/true), stops_(std::move(stops)) {}

std::string StopTextStream::push(int32_t id) {
  if (stopped_) return {};
  held_ += detok_.push(id);
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  return release();
}

std::string StopTextStream::release() {
  // The earliest position from which the rest of held_ is a proper prefix of a stop string.
  size_t keep_from = held_.size();
  for (const auto& s : stops_) {
    const size_t longest = std::min(held_.size(), s.size() - 1);
    for (size_t len = longest; len > 0; --len) {
      if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
        keep_from = std::min(keep_from, held_.size() - len);
        break;
      }
    }
  }
  std::string out = held_.substr(0, keep_from);
  held_.erase(0, keep_from);
  return out;
}

std::string StopTextStream::finish() {
  if (stopped_) return {};
  held_ += detok_.flush();
  // A stop string can still complete with the flushed bytes (U+FFFD in a stop string).
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    held_.resize(first);
  }
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace xlstm::server
