#pragma once
// The one thread that owns the model and every sequence state (the one that calls run()). HTTP
// threads post jobs and read their results through a Channel; nothing else touches the model.
//
// Running sequences live in rows [0, n) of one state of capacity max_batch: each step runs all n
// of them (RunOptions::rows = n) on their last tokens, and every sequence samples its next token
// with its own seeded Sampler (its draws; the pick runs on the model's device when the rows
// share one rule; on a GPU the host then emits a step's tokens while the next step runs). A joining
// sequence's state is copied into row n; a finished or cancelled one is replaced by the last row.
// New prompts are prefilled in a separate state of prefill_batch rows, all of them together, one
// piece per step between decode steps (so running streams keep flowing): every prefilling row runs
// the same number of tokens, up to the nearest chunk end among them (chunks end at multiples of the
// chunk size). A finished prefill's state joins the batch. While prefilling, the states at chunk
// ends, at the prompt's end and where it leaves the recent prompt it shares most with go into the
// prefix cache, and a prompt starts from the longest cached prefix (or its named state) shorter
// than itself. On a GPU every state (batch, prefill rows, cache entries) stays in device memory;
// moving a sequence is a device copy.
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"
#include "server/prefix_cache.h"
#include "server/stop_text.h"
#include "xlstm/model.h"
#include "xlstm/sequence_checkpoint.h"
#include "xlstm/tokenizer.h"

namespace xlstm::server {

using Clock = std::chrono::steady_clock;

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;                           // of the raw model distribution
  std::vector<std::pair<int32_t, float>> top;  // the k most likely tokens, most likely first
};

// What a choice produced since the last event.
struct Event {
  int64_t choice = 0;
  int32_t token = -1;  // the new token (-1: an event without one)
  std::string text;
  std::vector<TokenLogprob> tokens;
  std::string finish_reason;  // "" while running; "stop", "length", "cancelled"
};

// Between one HTTP request and the scheduler: the request's jobs append events; the HTTP thread
// takes them. cancel() (a client went away) makes the scheduler drop the request's sequences.
class Channel {
 public:
  // streaming: the reader wakes for every event; otherwise only at the end (a wake-up per token
  // costs the model's threads their cores on a small machine).
  Channel(int64_t jobs, bool streaming) : jobs_left_(jobs), streaming_(streaming) {}
  void push(Event e);
  void job_done(int64_t prompt_tokens, int64_t cached_tokens, int64_t generated);
  void fail(int status, const std::string& message);
  // Waits up to timeout for events or the end; returns what arrived.
  std::vector<Event> take(std::chrono::milliseconds timeout);
  bool done() const;
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  struct Totals {
    int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
    int error_status = 0;
    std::string error;
  };
  Totals totals() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  int64_t jobs_left_;
  bool streaming_;
  Totals totals_;
  std::atomic<bool> cancelled_{false};
};

// One prompt to prefill: a completion's n choices, or a named state to save.
struct Job {
  std::shared_ptr<Channel> channel;
  std::vector<int32_t> tokens;  // the whole sequence: a named state's tokens, then the prompt's
  std::shared_ptr<const SequenceCheckpoint> start;  // a named state the tokens begin with
  // Completion
  int64_t first_choice = 0;  // the choices' indices in the response: first_choice + [0, n)
  int64_t n = 1;
  int64_t max_tokens = 16;
  SamplingParams sampling;  // choice j samples with seed + j
  std::vector<std::string> stop;
  int64_t logprobs = -1;
  bool ignore_eos = false;
  // Save: the prefilled sequence is written here (SequenceCheckpoint) instead of generating.
  std::filesystem::path save_to;
  Clock::time_point arrival = Clock::now();
  // The scheduler's bookkeeping.
  int64_t choices_left = 0, generated = 0, cached_tokens = 0;
  bool first_token_seen = false;
};

enum class PostResult { Queued, QueueFull, ShuttingDown };

struct SchedulerOptions {
  int64_t max_batch = 16;
  int64_t max_queue = 256;  // prompts waiting to be prefilled
  int64_t prefill_chunk = 256;
  int64_t prefill_batch = 8;  // prompts prefilled together
  size_t state_cache_bytes = 256u << 20;
};

class Scheduler {
 public:
  Scheduler(Model& model, const Tokenizer& tokenizer, Metrics& metrics,
            const SchedulerOptions& options);
  ~Scheduler();  // drain(0): cancels what is left, waits for run() to return
  // The scheduling loop, on the calling thread, until drain(). Call it on the thread that loaded
  // the model: with libgomp, OpenMP regions of another thread, once the loading thread has used
  // OpenMP (the weight scan), ran decode 5-7x slower on 2 cores (tiny model: 2.1 vs 0.35 ms per
  // token), as its pool and the first one compete.
  void run();
  // On a GPU: the largest prefill, then two decode steps of every batch size max_batch..1 (the
  // first runs eagerly, the second captures its CUDA graph; at most the 256 largest sizes), so
  // that no request waits for the workspace to grow or for a capture. ~2 s for a 7B model at
  // --max-batch 64; nothing on the CPU. A failure is reported and the server starts anyway. Call
  // it on run()'s thread, before run().
  void warm_up();
  // Queues the jobs (all or none).
  PostResult post(const std::vector<std::shared_ptr<Job>>& jobs);
  // Stops taking jobs; waits up to timeout for the queued and running ones to finish, then
  // cancels the rest. Returns when run() has returned (at once if it is not running).
  void drain(std::chrono::milliseconds timeout);
  int64_t max_batch() const { return options_.max_batch; }

 private:
  struct Choice;
  // A prompt being prefilled, in row i of prefill_ for prefilling_[i].
  struct Prefill {
    std::shared_ptr<Job> job;
    int64_t pos = 0;    // tokens its row has seen
    int64_t end = 0;    // where its prefill stops
    int64_t split = 0;  // an extra chunk end (and cached state): see start_prefill
  };
  bool step();  // one scheduling step; false when there was nothing to do
  // Moves queued prompts into free prefill rows while the batch has rows for their choices.
  void admit_prefills();
  void start_prefill(std::shared_ptr<Job> job);  // into row prefilling_.size()
  // One forward of every prefilling row; finished prompts join the batch (or are saved).
  void prefill_step();
  void finish_prefill(const Prefill& p, int64_t row, std::span<const float> logits);
  void remove_prefill_row(size_t i);  // the last row takes its place
  int64_t rows_reserved() const;      // running rows and the choices of prefilling prompts
  // One decode step of every running row. When every row samples on the device, the step is
  // started (ids: each row's newest token) and the previous step's tokens are emitted while it
  // runs (on a GPU the host's text and stop-string work overlaps the step); its tokens are
  // collected at the next call. Otherwise a step with logits on the host.
  void decode();
  void decode_on_host();
  void collect_step();        // waits for the started step; its tokens become the rows' `next`
  void finish_decode();       // collects the step in flight, emits its tokens, drops ended rows
  void emit_collected();      // every row's collected token
  void emit_ending_tokens();  // the collected tokens that end their choice
  bool ends_choice(const Choice& c, int32_t t) const;  // by length or end of text
  bool queued();                                       // prompts wait in the queue
  int64_t running_rows() const;                        // rows not finished
  // XLSTM_SERVE_TRACE: a step's phases (times at its start, after admission, after prefill and
  // at its end) when it took trace_ms_ or longer.
  void trace_step(const std::array<Clock::time_point, 4>& t, int64_t prefill_rows,
                  int64_t decode_rows) const;
  // Samples the next token of a choice from its logits row, emits it; true when it finished.
  bool advance(Choice& c, std::span<const float> logits);
  // Emits token t of a choice (logits: for log-probabilities, empty when none are asked for).
  bool emit(Choice& c, int32_t t, std::span<const float> logits);
  // Whether one step can pick every row's token on the model's device (forward_sample): no row
  // wants log-probabilities or a repetition penalty, and all share the sampling rule.
  bool sample_on_device() const;
  void drop_finished_rows();
  void choice_done(Job& job);
  void cancel_everything(const std::string& why);

  Model& model_;
  const Tokenizer& tokenizer_;
  Metrics& metrics_;
  SchedulerOptions options_;
  int64_t vocab_ = 0;
  int32_t eos_ = 0;
  int64_t in_flight_ = 0;  // rows of the started decode step (0: none)
  bool overlap_ = true;    // emit a step's tokens while the next one runs (async sampling only)
  double trace_ms_ = 0;    // XLSTM_SERVE_TRACE: report steps at least this long

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool accepting_ = true, stopping_ = false;
  bool running_ = false;          // run() is looping
  std::condition_variable done_;  // run() returned
  std::atomic<bool> abort_{false};

  // Scheduler thread only.
  State batch_;    // rows [0, rows_.size()) run
  State prefill_;  // rows [0, prefilling_.size()) are being prefilled
  State zero_;     // batch 1, zeros: a new prompt's row starts from it
  std::vector<std::unique_ptr<Choice>> rows_;
  std::vector<Prefill> prefilling_;
  static constexpr size_t kRecentPrompts = 64;
  static constexpr int64_t kMinSplit = 32;  // shared beginnings shorter than this: no split
  std::deque<std::shared_ptr<const std::vector<int32_t>>> recent_;  // newest last
  PrefixCache cache_;
};

}  // namespace xlstm::server
