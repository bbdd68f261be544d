#pragma once
// The server's counters, gauges and latency histograms, rendered in the Prometheus text format
// (GET /metrics). Thread-safe: HTTP threads and the scheduler update it.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace xlstm::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double x);
  // Appends NAME_bucket{le=...}, NAME_sum and NAME_count lines.
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void request(const std::string& endpoint, int status);
  void tokens(int64_t prompt, int64_t generated);
  // One prefill forward of `rows` prompts, `tokens` prompt tokens in all (not taken from a cached
  // state).
  void prefilled(int64_t rows, int64_t tokens);
  uint64_t prefill_forwards() const;
  void cache_lookup(bool hit, int64_t tokens_saved);
  void cache_size(size_t entries, size_t bytes, int64_t evictions);
  void load(int64_t queued, int64_t running);
  void queued(int64_t queued);
  void ttft(double seconds);
  void inter_token(double seconds);
  void cancelled();
  std::string render(int64_t batch_capacity) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0, prefilled_tokens_ = 0;
  uint64_t prefill_forwards_ = 0, prefill_rows_ = 0;
  uint64_t cache_hits_ = 0, cache_misses_ = 0, cache_tokens_saved_ = 0;
  size_t cache_entries_ = 0, cache_bytes_ = 0;
  int64_t cache_evictions_ = 0;
  int64_t queued_ = 0, running_ = 0;
  uint64_t cancelled_ = 0;
  Histogram ttft_, itl_;
};

}  // namespace xlstm::server
