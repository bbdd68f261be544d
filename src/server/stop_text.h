#pragma once
// Generated tokens -> the text a client may see, with stop strings: text that could still turn
// out to be the start of a stop string is held back until it cannot, so a streamed response never
// shows a stop string or a piece of one, and a stop string split across tokens is found.
#include <cstdint>
#include <string>
#include <vector>

#include "xlstm/tokenizer.h"

namespace xlstm::server {

class StopTextStream {
 public:
  StopTextStream(const Tokenizer& tokenizer, std::vector<std::string> stops);
  // Appends one token. Returns the text that is now safe to show. After a stop string appears,
  // stopped() is true, the text before it has been returned and everything after is dropped.
  std::string push(int32_t id);
  // The end of the sequence without a stop string: the held-back text.
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::string release();  // the part of held_ that cannot start a stop string
  StreamingDetokenizer detok_;
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace xlstm::server
