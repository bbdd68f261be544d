// POST /v1/completions (whole response or server-sent events) and POST /v1/states/{name}.
#include <chrono>
#include <ctime>

#include "server/context.h"
#include "xlstm/error.h"
#include "xlstm/generator.h"

namespace xlstm::server {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string token_text(const Tokenizer& tok, int32_t id) {
  return tok.decode(std::span<const int32_t>(&id, 1));
}

// The legacy completions logprobs object for some tokens; offset: where their text starts.
json logprobs_json(const Tokenizer& tok, const std::vector<TokenLogprob>& lps, int64_t& offset) {
  json tokens = json::array(), values = json::array(), top = json::array(), offs = json::array();
  for (const auto& t : lps) {
    const std::string s = token_text(tok, t.id);
    tokens.push_back(s);
    values.push_back(t.logprob);
    json d = json::object();
    for (const auto& [id, v] : t.top) {
      const std::string k = token_text(tok, id);
      if (!d.contains(k)) d[k] = v;  // two ids of one spelling: the likelier one
    }
    top.push_back(std::move(d));
    offs.push_back(offset);
    offset += static_cast<int64_t>(s.size());
  }
  return {
      {"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", top}, {"text_offset", offs}};
}

std::shared_ptr<const SequenceCheckpoint> load_named_state(Context& ctx, const std::string& name) {
  if (ctx.options.state_dir.empty())
    throw RequestError(400, "state", "named states are off (start the server with --state-dir)");
  const auto path = ctx.options.state_dir / (name + ".safetensors");
  if (!std::filesystem::is_regular_file(path))
    throw RequestError(404, "state", "no state named '" + name + "'");
  try {
    return std::make_shared<const SequenceCheckpoint>(
        SequenceCheckpoint::load(path, ctx.model.config()));
  } catch (const std::exception& e) {
    throw RequestError(500, "state",
                       std::string("state '") + name + "' cannot be read: " + e.what());
  }
}

struct Prepared {
  CompletionRequest req;
  std::shared_ptr<Channel> channel;
  std::vector<std::shared_ptr<Job>> jobs;
  std::vector<std::string> echo;  // per prompt
  std::string id;
  int64_t created = 0;
};

Prepared prepare(Context& ctx, const std::string& body) {
  Prepared p;
  p.req = parse_completion_request(body, ctx.options.limits);
  CompletionRequest& r = p.req;
  if (!r.model.empty() && r.model != ctx.options.model_name) {
    throw RequestError(404, "model",
                       "model '" + r.model + "' does not exist; this server serves '" +
                           ctx.options.model_name + "'");
  }
  std::shared_ptr<const SequenceCheckpoint> start;
  if (!r.state.empty()) start = load_named_state(ctx, r.state);
  if (!r.has_seed) r.sampling.seed = ctx.random_seed();
  const auto n_prompts = static_cast<int64_t>(r.prompts.size());
  p.channel = std::make_shared<Channel>(n_prompts, p.req.stream);
  for (int64_t i = 0; i < n_prompts; ++i) {
    const PromptInput& in = r.prompts[i];
    std::vector<int32_t> ids;
    if (start) {
      ids = start->tokens;
      const auto more = in.is_text ? ctx.tokenizer.encode(in.text, false) : in.ids;
      ids.insert(ids.end(), more.begin(), more.end());
    } else {
      ids = prepare_prompt(ctx.model.config(),
                           in.is_text ? ctx.tokenizer.encode(in.text, true) : in.ids, true);
    }
    check_prompt_length(static_cast<int64_t>(ids.size()), r.max_tokens, ctx.options.limits);
    p.echo.push_back(in.is_text ? in.text : ctx.tokenizer.decode(in.ids, true));
    auto job = std::make_shared<Job>();
    job->channel = p.channel;
    job->tokens = std::move(ids);
    job->start = start;
    job->first_choice = i * r.n;
    job->n = r.n;
    job->max_tokens = r.max_tokens;
    job->sampling = r.sampling;
    job->stop = r.stop;
    job->logprobs = r.logprobs;
    job->ignore_eos = r.ignore_eos;
    p.jobs.push_back(std::move(job));
  }
  p.id = "cmpl-" + std::to_string(ctx.next_id++);
  p.created = static_cast<int64_t>(std::time(nullptr));
  return p;
}

void post(Context& ctx, const std::vector<std::shared_ptr<Job>>& jobs) {
  switch (ctx.scheduler->post(jobs)) {
    case PostResult::Queued:
      return;
    case PostResult::QueueFull:
      throw RequestError(429, "", "the server's queue is full; retry later");
    case PostResult::ShuttingDown:
      throw RequestError(503, "", "the server is shutting down");
  }
}

json usage_json(const Channel::Totals& t) {
  return {{"prompt_tokens", t.prompt_tokens},
          {"completion_tokens", t.completion_tokens},
          {"total_tokens", t.prompt_tokens + t.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", t.cached_tokens}}}};
}

json chunk_json(const Prepared& p, const std::string& model, json choices) {
  return {{"id", p.id},
          {"object", "text_completion"},
          {"created", p.created},
          {"model", model},
          {"choices", std::move(choices)}};
}

struct ChoiceResult {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
};

void respond_whole(Context& ctx, Prepared& p, httplib::Response& res) {
  const CompletionRequest& r = p.req;
  std::vector<ChoiceResult> out(r.prompts.size() * static_cast<size_t>(r.n));
  for (size_t i = 0; i < out.size(); ++i)
    if (r.echo) out[i].text = p.echo[i / static_cast<size_t>(r.n)];
  for (;;) {
    for (auto& e : p.channel->take(std::chrono::milliseconds(200))) {
      ChoiceResult& c = out[static_cast<size_t>(e.choice)];
      c.text += e.text;
      if (e.token >= 0) c.ids.push_back(e.token);
      for (auto& t : e.tokens) c.logprobs.push_back(std::move(t));
      if (!e.finish_reason.empty()) c.finish_reason = e.finish_reason;
    }
    if (p.channel->done()) break;
  }
  const auto totals = p.channel->totals();
  if (totals.error_status != 0) {
    send_error(res, totals.error_status, "", totals.error);
    return;
  }
  json choices = json::array();
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t offset = r.echo ? static_cast<int64_t>(p.echo[i / static_cast<size_t>(r.n)].size()) : 0;
    choices.push_back(
        {{"index", i},
         {"text", out[i].text},
         {"logprobs",
          r.logprobs >= 0 ? logprobs_json(ctx.tokenizer, out[i].logprobs, offset) : json(nullptr)},
         {"finish_reason", out[i].finish_reason},
         {"token_ids", out[i].ids}});
  }
  json body = chunk_json(p, ctx.options.model_name, std::move(choices));
  body["usage"] = usage_json(totals);
  res.set_content(dump(body), "application/json");
}

void respond_stream(Context& ctx, std::shared_ptr<Prepared> p, httplib::Response& res) {
  struct Stream {
    std::vector<int64_t> offsets;
    std::vector<bool> echoed;
    Clock::time_point last_write = Clock::now();
    bool finished = false;
  };
  auto st = std::make_shared<Stream>();
  const size_t n_choices = p->req.prompts.size() * static_cast<size_t>(p->req.n);
  st->offsets.assign(n_choices, 0);
  st->echoed.assign(n_choices, !p->req.echo);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [&ctx, p, st](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) {
          if (!sink.write(s.data(), s.size())) return false;
          st->last_write = Clock::now();
          return true;
        };
        const CompletionRequest& r = p->req;
        for (auto& e : p->channel->take(std::chrono::milliseconds(100))) {
          const auto i = static_cast<size_t>(e.choice);
          std::string text = e.text;
          if (!st->echoed[i]) {
            text = p->echo[i / static_cast<size_t>(r.n)] + text;
            st->echoed[i] = true;
          }
          json choice = {
              {"index", e.choice},
              {"text", text},
              {"logprobs", r.logprobs >= 0 ? logprobs_json(ctx.tokenizer, e.tokens, st->offsets[i])
                                           : json(nullptr)},
              {"finish_reason", e.finish_reason.empty() ? json(nullptr) : json(e.finish_reason)},
              {"token_ids", e.token >= 0 ? json::array({e.token}) : json::array()}};
          const json chunk = chunk_json(*p, ctx.options.model_name, json::array({choice}));
          if (!write("data: " + dump(chunk) + "\n\n")) {
            p->channel->cancel();
            return false;
          }
        }
        if (p->channel->done()) {
          const auto totals = p->channel->totals();
          std::string tail;
          if (totals.error_status != 0)
            tail += "data: " + dump(error_json(totals.error_status, "", totals.error)) + "\n\n";
          if (r.include_usage) {
            json chunk = chunk_json(*p, ctx.options.model_name, json::array());
            chunk["usage"] = usage_json(totals);
            tail += "data: " + dump(chunk) + "\n\n";
          }
          tail += "data: [DONE]\n\n";
          if (!write(tail)) return false;
          st->finished = true;
          sink.done();
          return true;
        }
        // A comment line now and then: a client that went away is noticed (the write fails)
        // even while its prompt waits or prefills.
        if (Clock::now() - st->last_write > std::chrono::seconds(1) && !write(": keep-alive\n\n")) {
          p->channel->cancel();
          return false;
        }
        return true;
      },
      [&ctx, p, st](bool success) {
        if (!success || !st->finished) p->channel->cancel();
        ctx.open_streams.fetch_sub(1);
      });
}

}  // namespace

uint64_t Context::random_seed() {
  std::lock_guard lock(seed_mu);
  return seed_rng();
}

json error_json(int status, const std::string& param, const std::string& message) {
  const char* type = status == 401   ? "authentication_error"
                     : status == 404 ? "not_found_error"
                     : status == 429 ? "rate_limit_error"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", status}}}};
}

void send_error(httplib::Response& res, int status, const std::string& param,
                const std::string& message) {
  res.status = status;
  res.set_content(dump(error_json(status, param, message)), "application/json");
}

void handle_completion(Context& ctx, const httplib::Request& req, httplib::Response& res) {
  auto p = std::make_shared<Prepared>(prepare(ctx, req.body));
  if (p->req.stream) {
    // Counted before the scheduler can start it (Server::stop waits for open streams); the
    // response's releaser (respond_stream) takes the count back.
    ctx.open_streams.fetch_add(1);
    try {
      post(ctx, p->jobs);
    } catch (...) {
      ctx.open_streams.fetch_sub(1);
      throw;
    }
    respond_stream(ctx, p, res);
  } else {
    post(ctx, p->jobs);
    respond_whole(ctx, *p, res);
  }
}

void handle_save_state(Context& ctx, const std::string& name, const httplib::Request& req,
                       httplib::Response& res) {
  if (ctx.options.state_dir.empty())
    throw RequestError(404, "", "named states are off (start the server with --state-dir)");
  validate_state_name(name);
  const PromptInput in = parse_state_request(req.body, ctx.options.limits);
  auto job = std::make_shared<Job>();
  job->channel = std::make_shared<Channel>(1, false);
  job->tokens = prepare_prompt(ctx.model.config(),
                               in.is_text ? ctx.tokenizer.encode(in.text, true) : in.ids, true);
  check_prompt_length(static_cast<int64_t>(job->tokens.size()), 0, ctx.options.limits);
  job->save_to = ctx.options.state_dir / (name + ".safetensors");
  post(ctx, {job});
  while (!job->channel->done()) job->channel->take(std::chrono::milliseconds(200));
  const auto totals = job->channel->totals();
  if (totals.error_status != 0) {
    send_error(res, totals.error_status, "", totals.error);
    return;
  }
  res.set_content(dump({{"name", name},
                        {"tokens", job->tokens.size()},
                        {"cached_tokens", totals.cached_tokens}}),
                  "application/json");
}

}  // namespace xlstm::server
