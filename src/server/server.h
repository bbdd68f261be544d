#pragma once
// `xlstm serve`: an OpenAI-compatible HTTP server (cpp-httplib) in front of one Scheduler.
// docs/serving.md describes the endpoints, the cache semantics and the limits.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "server/request.h"
#include "server/scheduler.h"
#include "xlstm/model.h"
#include "xlstm/tokenizer.h"

namespace xlstm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (printed at start)
  std::string api_key;
  size_t max_body_bytes = 8u << 20;
  int64_t http_threads = 64;
  std::filesystem::path state_dir;  // empty: named states are off
  std::filesystem::path model_dir;  // for tokenizer_config.json (chat template)
  std::string model_name;           // the id /v1/models lists and requests may name
  RequestLimits limits;
  SchedulerOptions scheduler;
};

class Server {
 public:
  Server(Model& model, const Tokenizer& tokenizer, const ServerOptions& options);
  ~Server();
  // Binds; returns the bound port. Throws Error when the address cannot be bound.
  int bind();
  // On a GPU, captures what the first requests would wait for (Scheduler::warm_up); call it on
  // serve()'s thread, before serve().
  void warm_up();
  // Serves until stop(); returns then. Runs the scheduler on the calling thread, which should be
  // the one that loaded the model (Scheduler::run).
  void serve();
  // From another thread: stop taking requests, let in-flight ones finish for up to drain (then
  // cancel them), close the listener.
  void stop(std::chrono::milliseconds drain);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xlstm::server
