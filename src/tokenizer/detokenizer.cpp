#include "impl.h"
#include "utf8.h"

namespace xlstm {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : impl_(tokenizer.impl_), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDetokenizer::push(int32_t id) {
  impl_->append_bytes(id, skip_special_tokens_, pending_);
  // Everything but a truncated character at the end is final: lossy decoding of a prefix that
  // ends on such a boundary agrees with lossy decoding of the whole stream.
  const size_t ready = pending_.size() - tok::incomplete_tail(pending_);
  std::string out;
  tok::append_lossy(out, std::string_view(pending_).substr(0, ready));
  pending_.erase(0, ready);
  return out;
}

std::string StreamingDetokenizer::flush() {
  std::string out;
  tok::append_lossy(out, pending_);
  pending_.clear();
  return out;
}

}  // namespace xlstm
