#include "server/metrics.h"

#include <sstream>

namespace xlstm::server {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double x) {
  size_t i = 0;
  while (i < bounds_.size() && x > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += x;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name) const {
  std::ostringstream s;
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    s << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cum << "\n";
  }
  s << name << "_bucket{le=\"+Inf\"} " << count_ << "\n";
  s << name << "_sum " << sum_ << "\n" << name << "_count " << count_ << "\n";
  out += s.str();
}

namespace {
std::vector<double> latency_bounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}
void line(std::string& out, const std::string& name, const char* type, const char* help,
          double value) {
  std::ostringstream s;
  s << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
    << name << " " << value << "\n";
  out += s.str();
}
}  // namespace

Metrics::Metrics() : ttft_(latency_bounds()), itl_(latency_bounds()) {}

void Metrics::request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}
void Metrics::tokens(int64_t prompt, int64_t generated) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += static_cast<uint64_t>(prompt);
  generated_tokens_ += static_cast<uint64_t>(generated);
}
void Metrics::prefilled(int64_t rows, int64_t tokens) {
  std::lock_guard lock(mu_);
  prefilled_tokens_ += static_cast<uint64_t>(tokens);
  ++prefill_forwards_;
  prefill_rows_ += static_cast<uint64_t>(rows);
}
uint64_t Metrics::prefill_forwards() const {
  std::lock_guard lock(mu_);
  return prefill_forwards_;
}
void Metrics::cache_lookup(bool hit, int64_t tokens_saved) {
  std::lock_guard lock(mu_);
  ++(hit ? cache_hits_ : cache_misses_);
  cache_tokens_saved_ += static_cast<uint64_t>(tokens_saved);
}
void Metrics::cache_size(size_t entries, size_t bytes, int64_t evictions) {
  std::lock_guard lock(mu_);
  cache_entries_ = entries;
  cache_bytes_ = bytes;
  cache_evictions_ = evictions;
}
void Metrics::load(int64_t queued, int64_t running) {
  std::lock_guard lock(mu_);
  queued_ = queued;
  running_ = running;
}
void Metrics::queued(int64_t queued) {
  std::lock_guard lock(mu_);
  queued_ = queued;
}
void Metrics::ttft(double seconds) {
  std::lock_guard lock(mu_);
  ttft_.observe(seconds);
}
void Metrics::inter_token(double seconds) {
  std::lock_guard lock(mu_);
  itl_.observe(seconds);
}
void Metrics::cancelled() {
  std::lock_guard lock(mu_);
  ++cancelled_;
}

std::string Metrics::render(int64_t batch_capacity) const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP xlstm_requests_total HTTP requests by endpoint and status\n";
  out += "# TYPE xlstm_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "xlstm_requests_total{endpoint=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  line(out, "xlstm_prompt_tokens_total", "counter", "Prompt tokens of completed requests",
       static_cast<double>(prompt_tokens_));
  line(out, "xlstm_generation_tokens_total", "counter", "Generated tokens",
       static_cast<double>(generated_tokens_));
  line(out, "xlstm_prefill_tokens_total", "counter",
       "Prompt tokens run through the model (the rest came from cached states)",
       static_cast<double>(prefilled_tokens_));
  line(out, "xlstm_prefill_forwards_total", "counter",
       "Prefill passes (each runs every prompt being prefilled, up to --prefill-batch)",
       static_cast<double>(prefill_forwards_));
  line(out, "xlstm_prefill_rows_total", "counter", "Prompts run, summed over the prefill passes",
       static_cast<double>(prefill_rows_));
  line(out, "xlstm_queue_depth", "gauge", "Requests waiting for a batch slot",
       static_cast<double>(queued_));
  line(out, "xlstm_running_sequences", "gauge", "Sequences in the running batch",
       static_cast<double>(running_));
  line(out, "xlstm_batch_capacity", "gauge", "Sequences the running batch holds at most",
       static_cast<double>(batch_capacity));
  line(out, "xlstm_cancelled_sequences_total", "counter",
       "Sequences cancelled by a client disconnect or shutdown", static_cast<double>(cancelled_));
  line(out, "xlstm_state_cache_hits_total", "counter",
       "Prompts resumed from a cached or named prefix state", static_cast<double>(cache_hits_));
  line(out, "xlstm_state_cache_misses_total", "counter", "Prompts prefilled from the start",
       static_cast<double>(cache_misses_));
  line(out, "xlstm_state_cache_tokens_saved_total", "counter",
       "Prompt tokens not run because a cached state covered them",
       static_cast<double>(cache_tokens_saved_));
  line(out, "xlstm_state_cache_entries", "gauge", "Prefix states in the cache",
       static_cast<double>(cache_entries_));
  line(out, "xlstm_state_cache_bytes", "gauge", "Bytes of the cached prefix states",
       static_cast<double>(cache_bytes_));
  line(out, "xlstm_state_cache_evictions_total", "counter", "Prefix states evicted (LRU)",
       static_cast<double>(cache_evictions_));
  out += "# HELP xlstm_time_to_first_token_seconds From arrival to the first generated token\n";
  out += "# TYPE xlstm_time_to_first_token_seconds histogram\n";
  ttft_.render(out, "xlstm_time_to_first_token_seconds");
  out += "# HELP xlstm_inter_token_latency_seconds Between consecutive tokens of a sequence\n";
  out += "# TYPE xlstm_inter_token_latency_seconds histogram\n";
  itl_.render(out, "xlstm_inter_token_latency_seconds");
  return out;
}

}  // namespace xlstm::server
