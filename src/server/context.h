#pragma once
// What the HTTP handlers share (src/server/http_server.cpp, completions.cpp).
#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/server.h"

namespace xlstm::server {

struct Context {
  Model& model;
  const Tokenizer& tokenizer;
  ServerOptions options;
  Metrics metrics;
  std::unique_ptr<Scheduler> scheduler;
  std::atomic<uint64_t> next_id{1};
  // Streaming responses not yet written out (respond_stream to its response's end): stop()
  // lets them write their last events before the HTTP server stops.
  std::atomic<int> open_streams{0};
  std::mutex seed_mu;
  std::mt19937_64 seed_rng{std::random_device{}()};

  Context(Model& m, const Tokenizer& t, const ServerOptions& o)
      : model(m), tokenizer(t), options(o) {}
  uint64_t random_seed();
};

// {"error": {"message", "type", "param", "code"}} as OpenAI sends it.
nlohmann::json error_json(int status, const std::string& param, const std::string& message);
void send_error(httplib::Response& res, int status, const std::string& param,
                const std::string& message);

void handle_completion(Context& ctx, const httplib::Request& req, httplib::Response& res);
void handle_save_state(Context& ctx, const std::string& name, const httplib::Request& req,
                       httplib::Response& res);

}  // namespace xlstm::server
