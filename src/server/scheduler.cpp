#include "server/scheduler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iostream>
#include <limits>
#include <numeric>

#include "core/env_settings.h"

namespace xlstm::server {

// --- Channel ---------------------------------------------------------------------------------

void Channel::push(Event e) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
  }
  if (streaming_) cv_.notify_all();
}

void Channel::job_done(int64_t prompt_tokens, int64_t cached_tokens, int64_t generated) {
  {
    std::lock_guard lock(mu_);
    totals_.prompt_tokens += prompt_tokens;
    totals_.cached_tokens += cached_tokens;
    totals_.completion_tokens += generated;
    if (jobs_left_ > 0) --jobs_left_;
  }
  cv_.notify_all();
}

void Channel::fail(int status, const std::string& message) {
  {
    std::lock_guard lock(mu_);
    if (totals_.error_status == 0) {
      totals_.error_status = status;
      totals_.error = message;
    }
    jobs_left_ = 0;
  }
  cv_.notify_all();
}

std::vector<Event> Channel::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty() || jobs_left_ == 0; });
  std::vector<Event> out(std::make_move_iterator(events_.begin()),
                         std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

bool Channel::done() const {
  std::lock_guard lock(mu_);
  return jobs_left_ == 0 && events_.empty();
}

Channel::Totals Channel::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

// --- Scheduler -------------------------------------------------------------------------------

struct Scheduler::Choice {
  std::shared_ptr<Job> job;
  int64_t index = 0;  // in the response
  Sampler sampler;
  StopTextStream text;
  std::vector<int32_t> history;  // the sequence so far, when a repetition penalty needs it
  int64_t generated = 0;
  int32_t last = 0;   // the newest token emitted
  int32_t next = -1;  // a token the last decode step picked and that is not emitted yet
  bool finished = false;
  Clock::time_point last_time;
  Choice(std::shared_ptr<Job> j, int64_t i, const SamplingParams& p, const Tokenizer& tok)
      : job(std::move(j)), index(i), sampler(p), text(tok, job->stop) {}
};

Scheduler::Scheduler(Model& model, const Tokenizer& tokenizer, Metrics& metrics,
                     const SchedulerOptions& options)
    : model_(model),
      tokenizer_(tokenizer),
      metrics_(metrics),
      options_(options),
      vocab_(model.config().vocab_size),
      eos_(static_cast<int32_t>(model.config().eos_token_id)),
      batch_(model.new_state(options.max_batch)),
      prefill_(model.new_state(std::max<int64_t>(1, options.prefill_batch))),
      zero_(model.new_state(1)),
      cache_(options.state_cache_bytes, ~uint64_t{0}, [&model] { return model.new_state(1); }) {
  // For measuring what the overlap of host work and device steps gives (docs/serving.md).
  // Unset: when the backend samples asynchronously; 0: never; 1: always (tests run the
  // bookkeeping on a synchronous backend, where it only delays tokens by a step).
  overlap_ = env_switch("XLSTM_SERVE_OVERLAP", model.samples_async());
  // XLSTM_SERVE_TRACE=MS: a line on stderr for every scheduling step that took MS or longer.
  trace_ms_ = env_number("XLSTM_SERVE_TRACE", trace_ms_, 0.0, 1e9);
}

Scheduler::~Scheduler() {
  drain(std::chrono::milliseconds(0));
}

PostResult Scheduler::post(const std::vector<std::shared_ptr<Job>>& jobs) {
  {
    std::lock_guard lock(mu_);
    if (!accepting_) return PostResult::ShuttingDown;
    if (static_cast<int64_t>(queue_.size() + jobs.size()) > options_.max_queue)
      return PostResult::QueueFull;
    for (const auto& j : jobs) queue_.push_back(j);
    metrics_.queued(static_cast<int64_t>(queue_.size()));
  }
  cv_.notify_all();
  return PostResult::Queued;
}

void Scheduler::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  accepting_ = false;
  stopping_ = true;
  cv_.notify_all();
  // run() returns by itself once idle; past the timeout everything left is cancelled.
  if (!done_.wait_for(lock, timeout, [&] { return !running_; })) {
    abort_ = true;
    cv_.notify_all();
    done_.wait(lock, [&] { return !running_; });
  }
}

void Scheduler::warm_up() {
  if (model_.device() != Device::Cuda) return;
  const auto start = Clock::now();
  // The largest prefill first, then the decode steps from the largest batch down: the device's
  // workspace reaches its final size before any graph is captured (a regrowth drops them all).
  // Bounded: at most 256 batch sizes (the largest) and 8,192 tokens per prefill row.
  constexpr int64_t kMaxSizes = 256, kMaxChunk = 8192;
  const int64_t smallest = std::max<int64_t>(1, options_.max_batch - kMaxSizes + 1);
  try {
    RunOptions run;
    run.all_logits = false;
    const int64_t g = prefill_.batch(), chunk = std::min(options_.prefill_chunk, kMaxChunk);
    model_.forward(std::vector<int32_t>(static_cast<size_t>(g * chunk), 0), prefill_, run);
    run.formulation = Formulation::Step;
    for (int64_t n = options_.max_batch; n >= smallest; --n) {
      run.rows = n;
      const std::vector<int32_t> ids(static_cast<size_t>(n), 0);
      for (int pass = 0; pass < 2; ++pass) model_.forward(ids, batch_, run);
    }
  } catch (const std::exception& e) {
    // Only an optimisation: what failed here fails again, with its error, in the request that
    // needs it.
    std::cerr << "xlstm serve: warm-up stopped: " << e.what() << "\n";
    return;
  }
  // The rows now hold what the zeros ran into; a joining sequence overwrites its whole row.
  std::cerr << "xlstm serve: prefill and decode steps of " << smallest << ".." << options_.max_batch
            << " sequences ready in " << std::chrono::duration<double>(Clock::now() - start).count()
            << " s\n";
}

void Scheduler::run() {
  {
    std::lock_guard lock(mu_);
    running_ = true;
  }
  for (;;) {
    bool did = false;
    try {
      if (abort_) cancel_everything("the server is shutting down");
      did = step();
    } catch (const std::exception& e) {
      std::cerr << "scheduler: " << e.what() << "\n";
      cancel_everything(std::string("internal error: ") + e.what());
    }
    std::unique_lock lock(mu_);
    const bool busy = !queue_.empty() || !rows_.empty() || !prefilling_.empty();
    if (!busy && stopping_) {
      running_ = false;
      done_.notify_all();
      return;
    }
    if (!did) cv_.wait(lock, [&] { return stopping_ || abort_ || !queue_.empty(); });
  }
}

bool Scheduler::step() {
  const auto t0 = Clock::now();
  // Before prefill work the decode step in flight is finished: its tokens go out and its ended
  // rows free their places for the queue now, not one prefill step later.
  if (in_flight_ > 0 && (!prefilling_.empty() || queued())) finish_decode();
  drop_finished_rows();  // cancelled ones
  admit_prefills();
  const auto t1 = Clock::now();
  const auto prefill_rows = static_cast<int64_t>(prefilling_.size());
  bool did = false;
  if (!prefilling_.empty()) {
    prefill_step();
    did = true;
  }
  const auto t2 = Clock::now();
  const auto decode_rows = static_cast<int64_t>(rows_.size());
  if (!rows_.empty()) {
    decode();
    did = true;
  }
  if (trace_ms_ > 0) trace_step({t0, t1, t2, Clock::now()}, prefill_rows, decode_rows);
  {
    std::lock_guard lock(mu_);
    metrics_.load(static_cast<int64_t>(queue_.size()), running_rows());
  }
  metrics_.cache_size(cache_.entries(), cache_.bytes(), cache_.evictions());
  return did;
}

bool Scheduler::queued() {
  std::lock_guard lock(mu_);
  return !queue_.empty();
}

int64_t Scheduler::running_rows() const {
  return std::count_if(rows_.begin(), rows_.end(), [](const auto& c) { return !c->finished; });
}

void Scheduler::trace_step(const std::array<Clock::time_point, 4>& t, int64_t prefill_rows,
                           int64_t decode_rows) const {
  const auto ms = [](Clock::duration d) { return std::chrono::duration<double>(d).count() * 1e3; };
  if (ms(t[3] - t[0]) < trace_ms_) return;
  std::cerr << "xlstm serve: step " << ms(t[3] - t[0]) << " ms: admit " << ms(t[1] - t[0])
            << ", prefill " << ms(t[2] - t[1]) << " (" << prefill_rows << " rows), decode "
            << ms(t[3] - t[2]) << " (" << decode_rows << " rows)\n";
}

int64_t Scheduler::rows_reserved() const {
  auto n = static_cast<int64_t>(rows_.size());
  for (const auto& p : prefilling_)
    if (p.job->save_to.empty()) n += p.job->n;
  return n;
}

void Scheduler::admit_prefills() {
  while (static_cast<int64_t>(prefilling_.size()) < prefill_.batch()) {
    std::shared_ptr<Job> job;
    {
      std::lock_guard lock(mu_);
      while (!queue_.empty()) {
        auto& head = queue_.front();
        if (head->channel->cancelled()) {
          head->channel->job_done(0, 0, 0);
          queue_.pop_front();
          continue;
        }
        const int64_t rows_needed = head->save_to.empty() ? head->n : 0;
        if (rows_reserved() + rows_needed > options_.max_batch) return;
        job = head;
        queue_.pop_front();
        break;
      }
    }
    if (!job) return;
    start_prefill(std::move(job));
  }
}

void Scheduler::start_prefill(std::shared_ptr<Job> job) {
  const auto row = static_cast<int64_t>(prefilling_.size());
  const auto n_tokens = static_cast<int64_t>(job->tokens.size());
  Prefill p;
  p.end = job->save_to.empty() ? n_tokens : n_tokens - 1;
  // The row starts from the named state, or the longest cached prefix strictly shorter than the
  // sequence (so at most p.end), or zeros.
  const State* from = &zero_;
  if (job->start) {
    p.pos = static_cast<int64_t>(job->start->tokens.size()) - 1;
    from = &job->start->state;
  }
  if (auto hit = cache_.lookup(job->tokens); hit && hit->length > p.pos) {
    p.pos = hit->length;
    from = hit->state;
  }
  prefill_.copy_sequence(row, *from, 0);
  job->cached_tokens = p.pos;
  metrics_.cache_lookup(p.pos > 0, p.pos);
  // Where this prompt leaves the recent prompt it shares most with: a state there serves the
  // next prompt with the same beginning (a shared system prompt followed by other text) to its
  // last shared token, not only to the last chunk end before it. At most one token short of
  // the prompt: a repeated prompt then runs one token.
  if (options_.state_cache_bytes > 0) {
    for (const auto& r : recent_) {
      const auto common = static_cast<int64_t>(
          std::mismatch(job->tokens.begin(), job->tokens.end(), r->begin(), r->end()).first -
          job->tokens.begin());
      if (common >= kMinSplit) p.split = std::max(p.split, std::min(common, n_tokens - 1));
    }
    recent_.push_back(std::make_shared<const std::vector<int32_t>>(job->tokens));
    if (recent_.size() > kRecentPrompts) recent_.pop_front();
  }
  p.job = std::move(job);
  prefilling_.push_back(std::move(p));
}

void Scheduler::remove_prefill_row(size_t i) {
  const size_t last = prefilling_.size() - 1;
  if (i != last) {
    prefill_.copy_sequence(static_cast<int64_t>(i), prefill_, static_cast<int64_t>(last));
    prefilling_[i] = std::move(prefilling_[last]);
  }
  prefilling_.pop_back();
}

void Scheduler::prefill_step() {
  // Cancelled prompts leave; so does a named state whose tokens a cached state already covers
  // (it is saved as it is).
  for (size_t i = prefilling_.size(); i-- > 0;) {
    Prefill& p = prefilling_[i];
    if (p.job->channel->cancelled()) {
      metrics_.cancelled();
      p.job->channel->job_done(0, 0, 0);
      remove_prefill_row(i);
    } else if (p.pos == p.end) {
      finish_prefill(p, static_cast<int64_t>(i), {});
      remove_prefill_row(i);
    }
  }
  if (prefilling_.empty()) return;
  // Every row runs L tokens: up to the nearest chunk end (or split point) among the rows, so that
  // each row's cached states fall where they would alone.
  const int64_t K = options_.prefill_chunk;
  int64_t L = std::numeric_limits<int64_t>::max();
  for (const auto& p : prefilling_) {
    int64_t e = std::min(p.end, (p.pos / K + 1) * K);
    if (p.split > p.pos && p.split < e) e = p.split;
    L = std::min(L, e - p.pos);
  }
  const auto g = static_cast<int64_t>(prefilling_.size());
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(g * L));
  for (const auto& p : prefilling_) {
    const auto first = p.job->tokens.begin() + p.pos;
    ids.insert(ids.end(), first, first + L);
  }
  RunOptions run;
  run.all_logits = false;
  run.rows = g;
  const auto logits = model_.forward(ids, prefill_, run);  // [g, V]
  metrics_.prefilled(g, g * L);
  for (size_t i = prefilling_.size(); i-- > 0;) {
    Prefill& p = prefilling_[i];
    p.pos += L;
    const auto& tokens = p.job->tokens;
    if (p.pos % K == 0 || p.pos == p.split || p.pos == static_cast<int64_t>(tokens.size()))
      cache_.insert(tokens, p.pos, prefill_, static_cast<int64_t>(i));
  }
  // Rows from the last down: a removed row's place is taken by one already looked at.
  for (size_t i = prefilling_.size(); i-- > 0;) {
    if (prefilling_[i].pos != prefilling_[i].end) continue;
    finish_prefill(prefilling_[i], static_cast<int64_t>(i),
                   std::span<const float>(logits).subspan(i * static_cast<size_t>(vocab_),
                                                          static_cast<size_t>(vocab_)));
    remove_prefill_row(i);
  }
}

void Scheduler::finish_prefill(const Prefill& p, int64_t row, std::span<const float> logits) {
  const auto& job = p.job;
  const auto n_tokens = static_cast<int64_t>(job->tokens.size());
  if (!job->save_to.empty()) {
    try {
      SequenceCheckpoint ck;
      ck.tokens = job->tokens;
      // One sequence off the device (slice() would download every prefill row first).
      ck.state = State(prefill_.layout(), 1);
      ck.state.copy_sequence(0, prefill_, row);
      ck.save(job->save_to);
    } catch (const std::exception& e) {
      job->channel->fail(500, std::string("saving the state failed: ") + e.what());
      return;
    }
    job->channel->job_done(n_tokens, job->cached_tokens, 0);
    return;
  }
  if (job->max_tokens == 0) {
    for (int64_t j = 0; j < job->n; ++j)
      job->channel->push(Event{job->first_choice + j, -1, {}, {}, "length"});
    metrics_.tokens(n_tokens, 0);
    job->channel->job_done(n_tokens, job->cached_tokens, 0);
    return;
  }
  job->choices_left = job->n;
  for (int64_t j = 0; j < job->n; ++j) {
    SamplingParams sp = job->sampling;
    sp.seed += static_cast<uint64_t>(j);
    auto c = std::make_unique<Choice>(job, job->first_choice + j, sp, tokenizer_);
    if (sp.repeat_penalty != 1.0f) c->history = job->tokens;
    batch_.copy_sequence(static_cast<int64_t>(rows_.size()), prefill_, row);
    c->finished = advance(*c, logits);
    rows_.push_back(std::move(c));
  }
  drop_finished_rows();
}

void Scheduler::decode() {
  collect_step();
  if (!sample_on_device()) {
    emit_collected();
    drop_finished_rows();
    if (!rows_.empty()) decode_on_host();
    return;
  }
  // Rows whose collected token ends them (length, end of text) are emitted and leave first, so
  // the next step does not carry them; the rest are emitted while that step runs.
  emit_ending_tokens();
  drop_finished_rows();
  if (rows_.empty()) return;
  const auto n = static_cast<int64_t>(rows_.size());
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[i] = rows_[i]->next >= 0 ? rows_[i]->next : rows_[i]->last;
  // Same draws, same rule (sample_token's): the tokens the host would pick, and on a GPU only
  // the tokens cross to the host instead of [n, V] logits.
  std::vector<double> u(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) u[i] = rows_[i]->sampler.draw();
  RunOptions run;
  run.all_logits = false;
  run.formulation = Formulation::Step;
  run.rows = n;
  model_.start_forward_sample(ids, batch_, rows_[0]->sampler.params(), u, {}, run);
  in_flight_ = n;
  // Without overlap (a backend that samples synchronously, or XLSTM_SERVE_OVERLAP=0) the step's
  // tokens go out now rather than a step later.
  if (!overlap_)
    finish_decode();
  else
    emit_collected();
}

void Scheduler::finish_decode() {
  collect_step();
  emit_collected();
  drop_finished_rows();
}

void Scheduler::decode_on_host() {
  const auto n = static_cast<int64_t>(rows_.size());
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[i] = rows_[i]->last;
  RunOptions run;
  run.all_logits = false;
  run.formulation = Formulation::Step;
  run.rows = n;
  const auto logits = model_.forward(ids, batch_, run);  // [n, V]
  for (int64_t i = 0; i < n; ++i) {
    auto row = std::span<const float>(logits).subspan(static_cast<size_t>(i * vocab_),
                                                      static_cast<size_t>(vocab_));
    rows_[i]->finished = advance(*rows_[i], row);
  }
  drop_finished_rows();
}

void Scheduler::collect_step() {
  if (in_flight_ == 0) return;
  const int64_t n = in_flight_;
  in_flight_ = 0;
  const auto tokens = model_.finish_forward_sample();
  for (int64_t i = 0; i < n; ++i) rows_[i]->next = tokens[i];
}

void Scheduler::emit_collected() {
  for (auto& c : rows_) {
    if (c->next < 0) continue;
    // A finished row's token is dropped with it; a cancelled one leaves (counted) unemitted.
    if (!c->finished && !c->job->channel->cancelled()) c->finished = emit(*c, c->next, {});
    c->next = -1;
  }
}

void Scheduler::emit_ending_tokens() {
  for (auto& c : rows_) {
    if (c->next < 0 || c->finished || c->job->channel->cancelled() || !ends_choice(*c, c->next))
      continue;
    c->finished = emit(*c, c->next, {});
    c->next = -1;
  }
}

bool Scheduler::ends_choice(const Choice& c, int32_t t) const {
  return c.generated + 1 >= c.job->max_tokens || (t == eos_ && !c.job->ignore_eos);
}

bool Scheduler::sample_on_device() const {
  const SamplingParams& p = rows_[0]->sampler.params();
  for (const auto& c : rows_) {
    const SamplingParams& q = c->sampler.params();
    if (c->job->logprobs >= 0 || q.repeat_penalty != 1.0f || q.temperature != p.temperature ||
        q.top_k != p.top_k || q.top_p != p.top_p || q.min_p != p.min_p)
      return false;
  }
  return true;
}

namespace {

// log-softmax of the raw logits at one token, and the k most likely tokens (ties: lower id).
TokenLogprob logprobs_of(std::span<const float> logits, int32_t id, int64_t k) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
  const double lse = mx + std::log(sum);
  TokenLogprob t;
  t.id = id;
  t.logprob = static_cast<float>(logits[id] - lse);
  if (k > 0) {
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    const auto kk = std::min<size_t>(static_cast<size_t>(k), order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kk), order.end(),
                      [&](int32_t a, int32_t b) {
                        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                      });
    for (size_t i = 0; i < kk; ++i)
      t.top.emplace_back(order[i], static_cast<float>(logits[order[i]] - lse));
  }
  return t;
}

}  // namespace

bool Scheduler::advance(Choice& c, std::span<const float> logits) {
  return emit(c, c.sampler.sample(logits, c.history), logits);
}

bool Scheduler::emit(Choice& c, int32_t t, std::span<const float> logits) {
  Job& job = *c.job;
  const auto now = Clock::now();
  if (c.generated == 0) {
    if (!job.first_token_seen) {
      job.first_token_seen = true;
      metrics_.ttft(std::chrono::duration<double>(now - job.arrival).count());
    }
  } else {
    metrics_.inter_token(std::chrono::duration<double>(now - c.last_time).count());
  }
  c.last_time = now;
  ++c.generated;
  c.last = t;
  if (!c.history.empty()) c.history.push_back(t);
  Event e;
  e.choice = c.index;
  e.token = t;
  if (job.logprobs >= 0 && !logits.empty())
    e.tokens.push_back(logprobs_of(logits, t, job.logprobs));
  if (t == eos_ && !job.ignore_eos) {
    e.text = c.text.finish();
    e.finish_reason = "stop";
  } else {
    e.text = c.text.push(t);
    if (c.text.stopped()) {
      e.finish_reason = "stop";
    } else if (c.generated >= job.max_tokens) {
      e.text += c.text.finish();
      e.finish_reason = c.text.stopped() ? "stop" : "length";
    }
  }
  const bool finished = !e.finish_reason.empty();
  job.channel->push(std::move(e));
  return finished;
}

void Scheduler::choice_done(Job& job) {
  if (--job.choices_left == 0) {
    metrics_.tokens(static_cast<int64_t>(job.tokens.size()), job.generated);
    job.channel->job_done(static_cast<int64_t>(job.tokens.size()), job.cached_tokens,
                          job.generated);
  }
}

void Scheduler::drop_finished_rows() {
  if (in_flight_ > 0) return;  // rows keep their places until the step's tokens are collected
  for (size_t i = 0; i < rows_.size();) {
    Choice& c = *rows_[i];
    const bool cancelled = !c.finished && c.job->channel->cancelled();
    if (!c.finished && !cancelled) {
      ++i;
      continue;
    }
    if (cancelled) metrics_.cancelled();
    c.job->generated += c.generated;
    choice_done(*c.job);
    const size_t last = rows_.size() - 1;
    if (i != last) {
      batch_.copy_sequence(static_cast<int64_t>(i), batch_, static_cast<int64_t>(last));
      rows_[i] = std::move(rows_[last]);
    }
    rows_.pop_back();
  }
}

void Scheduler::cancel_everything(const std::string& why) {
  try {
    collect_step();
  } catch (const std::exception&) {
    // The step's tokens are lost with the sequences cancelled below.
  }
  std::deque<std::shared_ptr<Job>> queued;
  {
    std::lock_guard lock(mu_);
    queued.swap(queue_);
  }
  for (auto& j : queued) j->channel->fail(503, why);
  for (auto& p : prefilling_) p.job->channel->fail(503, why);
  prefilling_.clear();
  for (auto& c : rows_) {
    if (!c->finished) {
      c->job->channel->push(Event{c->index, -1, c->text.finish(), {}, "abort"});
      metrics_.cancelled();
    }
    c->finished = true;
  }
  drop_finished_rows();
}

}  // namespace xlstm::server
