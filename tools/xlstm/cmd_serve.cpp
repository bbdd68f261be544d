// xlstm serve -m DIR | --config FILE --tokenizer FILE [--host H] [--port P] [--max-batch N] ... :
// the OpenAI-compatible server (src/server/, docs/serving.md). SIGINT/SIGTERM: stop taking
// requests, let the running ones finish for --drain-seconds, cancel the rest, exit 0.
#include <pthread.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "commands.h"
#include "server/server.h"
#include "xlstm/error.h"

namespace xlstm::cli {

void add_serve(CLI::App& app) {
  struct Opts {
    std::string model_dir, config_file, tokenizer_file, host = "127.0.0.1", api_key, state_dir;
    int port = 8080;
    int64_t max_batch = 16, max_queue = 256, ctx_limit = 16384, state_cache_mb = 256;
    int64_t prefill_chunk = 256, prefill_batch = 8, max_body_mb = 8, drain_seconds = 10,
            http_threads = 0;
    RuntimeOptions runtime;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("serve", "OpenAI-compatible HTTP server (docs/serving.md)");
  auto* m = sub->add_option("-m,--model", o->model_dir, "Model directory");
  auto* c = sub->add_option("--config", o->config_file,
                            "config.json: serve random weights of this shape (benchmarks)");
  m->excludes(c);
  sub->add_option("--tokenizer", o->tokenizer_file,
                  "tokenizer.json (default: the model directory's; needed with --config)");
  sub->add_option("--host", o->host, "Address to listen on");
  sub->add_option("--port", o->port, "Port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--max-batch", o->max_batch, "Sequences decoded together at most")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  sub->add_option("--max-queue", o->max_queue, "Prompts waiting at most (then 429)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--ctx-limit", o->ctx_limit, "Prompt tokens + max_tokens at most")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  sub->add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY'");
  sub->add_option("--state-cache-mb", o->state_cache_mb, "Prefix state cache size in MiB (0: off)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  sub->add_option("--state-dir", o->state_dir,
                  "Directory of named states (POST /v1/states/NAME; \"state\" in completions)");
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "Prompt tokens prefilled per scheduling step (and prefix cache spacing)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--prefill-batch", o->prefill_batch,
                  "Prompts prefilled together (each holds one state while it is read)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  sub->add_option("--max-body-mb", o->max_body_mb, "Request bodies larger than this get 413")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  sub->add_option("--drain-seconds", o->drain_seconds,
                  "On SIGINT/SIGTERM, how long running requests may finish")
      ->check(CLI::Range(int64_t{0}, int64_t{3600}));
  sub->add_option("--http-threads", o->http_threads,
                  "HTTP worker threads (0: max-batch + min(max-queue, 2 x max-batch) + 8)")
      ->check(CLI::Range(int64_t{0}, int64_t{4096}));
  o->runtime.add_to(sub);
  sub->callback([o] {
    // Signals go to one thread (sigwait); every thread started from here on (OpenMP's pool
    // too) has them blocked, so none of them is killed by the default action.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client that went away is a failed write, not a signal
    o->runtime.apply_threads();
    if (!o->config_file.empty() && o->tokenizer_file.empty())
      throw InvalidInput(tagged("cli", "serve --config needs --tokenizer FILE"));
    if (o->model_dir.empty() && o->config_file.empty())
      throw InvalidInput(tagged("cli", "serve needs -m DIR or --config FILE"));
    const Tokenizer tok = o->tokenizer_file.empty() ? load_model_tokenizer(o->model_dir)
                                                    : Tokenizer::from_file(o->tokenizer_file);
    Model model = model_or_random(o->model_dir, o->config_file, o->runtime, "serve");
    if (tok.vocab_size() > model.config().vocab_size) {
      throw InvalidInput(tagged("cli", "--tokenizer has " + std::to_string(tok.vocab_size()) +
                                           " tokens, the model's vocabulary " +
                                           std::to_string(model.config().vocab_size)));
    }
    server::ServerOptions so;
    so.host = o->host;
    so.port = o->port;
    so.api_key = o->api_key;
    so.max_body_bytes = static_cast<size_t>(o->max_body_mb) << 20;
    so.http_threads = o->http_threads > 0
                          ? o->http_threads
                          : o->max_batch + std::min(o->max_queue, 2 * o->max_batch) + 8;
    // Where a chat template (tokenizer_config.json) would be: the model's directory, or the
    // config's.
    so.model_dir = o->model_dir.empty() ? std::filesystem::path(o->config_file).parent_path()
                                        : std::filesystem::path(o->model_dir);
    if (o->model_dir.empty()) {
      so.model_name = "random:" + std::filesystem::path(o->config_file).stem().string();
    } else {
      auto dir = std::filesystem::path(o->model_dir).lexically_normal();
      so.model_name = (dir.filename().empty() ? dir.parent_path() : dir).filename().string();
    }
    if (!o->state_dir.empty()) {
      std::filesystem::create_directories(o->state_dir);
      so.state_dir = std::filesystem::canonical(o->state_dir);
    }
    so.limits.vocab_size = model.config().vocab_size;
    so.limits.ctx_limit = o->ctx_limit;
    so.limits.max_n = std::min<int64_t>(16, o->max_batch);
    so.scheduler.max_batch = o->max_batch;
    so.scheduler.max_queue = o->max_queue;
    so.scheduler.prefill_chunk = o->prefill_chunk;
    so.scheduler.prefill_batch = std::min(o->prefill_batch, o->max_batch);
    so.scheduler.state_cache_bytes = static_cast<size_t>(o->state_cache_mb) << 20;

    server::Server srv(model, tok, so);
    const int port = srv.bind();
    srv.warm_up();  // before the line that tells clients (and scripts) the server is up
    std::cout << "xlstm serve: " << so.model_name << " on " << device_name(model.device())
              << ", listening on http://" << so.host << ":" << port << std::endl;
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&signals, &sig);
      std::cerr << "xlstm serve: signal " << sig << ", draining (up to " << o->drain_seconds
                << " s)\n";
      srv.stop(std::chrono::seconds(o->drain_seconds));
    });
    srv.serve();
    waiter.join();
    std::cerr << "xlstm serve: stopped\n";
  });
}

}  // namespace xlstm::cli
