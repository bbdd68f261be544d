// Encode / decode throughput of xlstm::Tokenizer on one thread.
//   tokenizer_bench <tokenizer.json> <text file> [repeats=5]
// Prints one JSON object: MB/s (1 MB = 1e6 bytes of input text) for
//   encode_file   the whole file as one string, best of `repeats` (word cache warm after run 1)
//   encode_cold   the same, first run, on a fresh tokenizer (empty word cache)
//   encode_lines  each line as its own string, best of `repeats`
//   decode        the whole file's ids back to text, best of `repeats`
// and ids_hash, a hash of the whole file's ids that scripts/bench_tokenizer_hf.py computes too.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "xlstm/tokenizer.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class F>
double best_of(int repeats, F&& f) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <tokenizer.json> <text file> [repeats]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;
  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", argv[2]);
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> lines;
  for (size_t i = 0; i < text.size();) {
    const size_t nl = text.find('\n', i);
    const size_t end = nl == std::string::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(i, end - i));
    i = end;
  }
  const double mb = static_cast<double>(text.size()) / 1e6;

  try {
    auto t0 = std::chrono::steady_clock::now();
    const xlstm::Tokenizer tok = xlstm::Tokenizer::from_file(argv[1]);
    const double load_s = seconds_since(t0);

    std::vector<int32_t> ids;
    t0 = std::chrono::steady_clock::now();
    ids = tok.encode(text, false);
    const double cold_s = seconds_since(t0);
    const double file_s = best_of(repeats, [&] { ids = tok.encode(text, false); });
    size_t line_tokens = 0;
    const double lines_s = best_of(repeats, [&] {
      line_tokens = 0;
      for (const auto& l : lines) line_tokens += tok.encode(l, false).size();
    });
    uint64_t ids_hash = 0;
    for (const int32_t id : ids) ids_hash = ids_hash * 1000003u + static_cast<uint64_t>(id);
    std::string back;
    const double decode_s = best_of(repeats, [&] { back = tok.decode(ids); });

    std::printf(
        "{\"impl\": \"xlstm.cpp\", \"bytes\": %zu, \"tokens\": %zu, \"line_tokens\": %zu, "
        "\"load_s\": %.4f, \"encode_cold_mbps\": %.2f, \"encode_file_mbps\": %.2f, "
        "\"encode_lines_mbps\": %.2f, \"decode_mbps\": %.2f, \"roundtrip\": %s, "
        "\"ids_hash\": \"%016llx\"}\n",
        text.size(), ids.size(), line_tokens, load_s, mb / cold_s, mb / file_s, mb / lines_s,
        mb / decode_s, back == text ? "true" : "false", static_cast<unsigned long long>(ids_hash));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
