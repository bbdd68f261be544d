#pragma once
// PCRE2 (UTF + UCP, JIT-compiled) made to behave like the Oniguruma regexes HF uses: the same
// \s, and the same match iteration.
#include <cstddef>
#include <string>
#include <string_view>

#include "function_ref.h"

typedef struct pcre2_real_code_8 pcre2_code_8;

namespace xlstm::tok {

class Regex {
 public:
  // `where` labels compile errors, e.g. "[tokenizer] f.json: pre_tokenizer.pretokenizers[0]".
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(begin, end) for each match in `s` (valid UTF-8), left to right. As in
  // Oniguruma's find_iter, an empty match right where the previous match ended is skipped.
  void find_all(std::string_view s, FunctionRef<void(size_t, size_t)> on_match) const;
  // The first match at or after `start`: false if none.
  bool find_at(std::string_view s, size_t start, size_t& begin, size_t& end) const;

 private:
  pcre2_code_8* code_ = nullptr;
  bool jit_ = false;
};

}  // namespace xlstm::tok
