// Routes, authentication, error bodies and start/stop of the HTTP server.
#include <sys/socket.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "server/context.h"
#include "xlstm/error.h"

namespace xlstm::server {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The metrics label of a path: one per route, not per state name.
std::string endpoint_label(const std::string& path) {
  for (const char* p : {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health",
                        "/metrics", "/tokenize", "/detokenize"}) {
    if (path == p) return p;
  }
  if (path.rfind("/v1/states/", 0) == 0) return "/v1/states";
  return "other";
}

// Whether the model directory's tokenizer_config.json has a chat template.
bool has_chat_template(const std::filesystem::path& model_dir) {
  std::ifstream in(model_dir / "tokenizer_config.json");
  if (!in) return false;
  const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null();
}

// Debian's cpp-httplib listens with the library's compiled-in backlog of 5 connections: 64
// clients connecting at once overflow it. Linux lets a second listen() raise the backlog.
class HttpServer : public httplib::Server {
 public:
  void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

}  // namespace

struct Server::Impl {
  Context ctx;
  HttpServer http;
  Impl(Model& m, const Tokenizer& t, const ServerOptions& o) : ctx(m, t, o) {}
  void routes();
  // Runs a handler, turning RequestError and library errors into JSON errors.
  template <class F>
  static httplib::Server::Handler guarded(F f) {
    return [f](const httplib::Request& req, httplib::Response& res) {
      try {
        f(req, res);
      } catch (const RequestError& e) {
        send_error(res, e.status(), e.param(), e.what());
      } catch (const InvalidInput& e) {
        send_error(res, 400, "", e.what());
      }
    };
  }
};

void Server::Impl::routes() {
  // Each request in flight (running, prefilling or queued) holds a thread; further connections
  // wait in the pool's queue. Every thread touches its own stack, so the pool is not sized for
  // the whole --max-queue.
  const int64_t threads = ctx.options.http_threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(ctx.options.max_body_bytes);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (ctx.options.api_key.empty() || req.path == "/health")
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string want = "Bearer " + ctx.options.api_key;
    if (req.get_header_value("Authorization") != want) {
      send_error(res, 401, "",
                 req.has_header("Authorization") ? "invalid API key"
                                                 : "missing API key (Authorization: Bearer KEY)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      send_error(res, 413, "", "the request body is larger than the server's limit");
    } else if (res.status == 404) {
      send_error(res, 404, "", "no route " + req.method + " " + req.path);
    } else {
      send_error(res, res.status, "", "HTTP error " + std::to_string(res.status));
    }
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what += std::string(": ") + e.what();
        } catch (...) {
        }
        send_error(res, 500, "", what);
      });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    ctx.metrics.request(endpoint_label(req.path), res.status);
  });

  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(ctx.metrics.render(ctx.options.scheduler.max_batch),
                    "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json model = {{"id", ctx.options.model_name},
                        {"object", "model"},
                        {"created", 0},
                        {"owned_by", "xlstm.cpp"}};
    res.set_content(dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
  });
  http.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
              handle_completion(ctx, req, res);
            }));
  http.Post("/v1/chat/completions",
            guarded([this](const httplib::Request&, httplib::Response& res) {
              if (!has_chat_template(ctx.options.model_dir)) {
                send_error(res, 400, "messages",
                           "the model has no chat template (no chat_template in " +
                               (ctx.options.model_dir / "tokenizer_config.json").string() +
                               "); use /v1/completions");
                return;
              }
              send_error(res, 501, "messages",
                         "the model has a chat template, but chat templates are Jinja programs "
                         "and this server has no Jinja engine (none is packaged in Debian); "
                         "render the conversation yourself and use /v1/completions");
            }));
  http.Post("/tokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
              const auto r = parse_tokenize_request(req.body);
              const auto ids = ctx.tokenizer.encode(r.prompt, r.add_special_tokens);
              res.set_content(dump({{"tokens", ids},
                                    {"count", ids.size()},
                                    {"max_model_len", ctx.options.limits.ctx_limit}}),
                              "application/json");
            }));
  http.Post("/detokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
              const auto ids = parse_detokenize_request(req.body, ctx.options.limits);
              res.set_content(dump({{"prompt", ctx.tokenizer.decode(ids)}}), "application/json");
            }));
  http.Post(R"(/v1/states/([^/]+))",
            guarded([this](const httplib::Request& req, httplib::Response& res) {
              handle_save_state(ctx, req.matches[1].str(), req, res);
            }));
}

Server::Server(Model& model, const Tokenizer& tokenizer, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(model, tokenizer, options)) {
  impl_->ctx.scheduler =
      std::make_unique<Scheduler>(model, tokenizer, impl_->ctx.metrics, options.scheduler);
  impl_->routes();
}

Server::~Server() = default;

int Server::bind() {
  const auto& o = impl_->ctx.options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) throw Error(tagged("serve", "cannot bind " + o.host + " to any port"));
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    throw Error(tagged("serve", "cannot bind " + o.host + ":" + std::to_string(port) +
                                    " (in use, or not an address of this machine)"));
  }
  impl_->http.raise_backlog(1024);
  return port;
}

void Server::warm_up() {
  impl_->ctx.scheduler->warm_up();
}

void Server::serve() {
  // HTTP on its own thread, the scheduler on this one (the thread that loaded the model).
  std::thread http([this] { impl_->http.listen_after_bind(); });
  impl_->ctx.scheduler->run();
  http.join();
}

void Server::stop(std::chrono::milliseconds drain) {
  impl_->ctx.scheduler->drain(drain);  // in-flight requests finish (or are cancelled)
  // The streams then write their last events (a cancelled one's "abort", [DONE]): once stopped,
  // the HTTP server ends chunked responses where they are. Bounded, for clients that stopped
  // reading.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (impl_->ctx.open_streams.load() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  impl_->http.stop();
}

}  // namespace xlstm::server
