#pragma once
// The real `xlstm serve` as a child process on a free loopback port (--port 0; the port is read
// from its first line of output), and small helpers to talk to it with cpp-httplib's client.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace xlstm::testing {

using json = nlohmann::json;

inline const std::string kServeModels = std::string(XLSTM_SOURCE_DIR) + "/models/";

// XLSTM_TEST_DEVICE=cuda runs the servers (and the CLI runs they are compared with) on the GPU.
// On the GPU in its float32 parity mode (--weights f32): the comparisons' tolerances are float32's
// (bf16 weights would differ between a cold run and a resumed one by bf16 rounding).
inline std::string test_device() {
  const char* d = std::getenv("XLSTM_TEST_DEVICE");
  return d ? d : "cpu";
}
inline std::vector<std::string> device_args() {
  std::vector<std::string> a = {"--device", test_device()};
  if (test_device() == "cuda") a.insert(a.end(), {"--weights", "f32"});
  return a;
}
inline std::string device_flags() {
  std::string out;
  for (const auto& a : device_args()) out += a + " ";
  return out;
}

class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> all = {XLSTM_CLI_PATH, "serve", "--port", "0", "-t", "2"};
      for (const auto& a : device_args()) all.push_back(a);
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    out_ = fdopen(out[0], "r");
    char line[512];
    if (fgets(line, sizeof line, out_) == nullptr) throw std::runtime_error("server did not start");
    const std::string s(line);
    const auto colon = s.rfind(':');
    port_ = std::stoi(s.substr(colon + 1));
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_) fclose(out_);
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  httplib::Client client(const std::string& key = "") const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(std::chrono::seconds(120));
    if (!key.empty()) c.set_bearer_token_auth(key.c_str());
    return c;
  }
  // Sends a signal and waits; returns the exit status (-1 if it did not exit within timeout).
  int stop(int sig, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    kill(pid_, sig);
    const auto end = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < end) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  // Resident set size in KiB (/proc/PID/status VmRSS).
  long rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int port_ = 0;
};

struct Reply {
  int status = 0;
  json body;
};

inline Reply post_json(httplib::Client& c, const std::string& path, const json& body) {
  auto r = c.Post(path.c_str(), body.dump(), "application/json");
  if (!r) return {-1, httplib::to_string(r.error())};
  return {r->status, json::parse(r->body, nullptr, false)};
}

// A whole completion: the first choice's token ids and text.
struct Completion {
  std::vector<int32_t> ids;
  std::string text, finish_reason;
  std::vector<float> logprobs;
  json raw;
};

inline Completion complete(httplib::Client& c, json body) {
  auto r = post_json(c, "/v1/completions", body);
  if (r.status != 200)
    throw std::runtime_error("completion: HTTP " + std::to_string(r.status) + " " + r.body.dump());
  Completion out;
  out.raw = r.body;
  const auto& ch = r.body["choices"][0];
  out.ids = ch["token_ids"].get<std::vector<int32_t>>();
  out.text = ch["text"].get<std::string>();
  out.finish_reason = ch["finish_reason"].get<std::string>();
  if (!ch["logprobs"].is_null())
    out.logprobs = ch["logprobs"]["token_logprobs"].get<std::vector<float>>();
  return out;
}

// Server-sent events of a streamed completion: the data payloads, in order ("[DONE]" included).
inline std::vector<std::string> stream_events(httplib::Client& c, const json& body, int* status) {
  std::string buf;
  std::vector<std::string> events;
  auto r = c.Post("/v1/completions", httplib::Headers{}, body.dump(), "application/json");
  (void)r;
  if (!r) {
    *status = -1;
    return events;
  }
  *status = r->status;
  std::stringstream ss(r->body);
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("data: ", 0) == 0) events.push_back(line.substr(6));
  }
  return events;
}

// A metric's value from /metrics (the first line that starts with name followed by a space).
inline double metric(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  if (!r) return -1;
  std::stringstream ss(r->body);
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

}  // namespace xlstm::testing

namespace xlstm::testing {

// Log-probabilities of two runs of one computation through other float paths (another batch
// composition, another chunking of the prompt) agree to rounding: 1e-4 is about 50 ulps of the
// largest logit the soft cap allows (|logit| < 30, ulp 2^-19); measured differences on the bundled
// models stay under 2e-5.
constexpr double kLogprobTolerance = 1e-4;

// Greedy tokens of `got` equal those of `ref` (a completion with logprobs >= 2). Where they first
// differ, ref's two best tokens must be within the tolerance (a near-tie that rounding may
// flip); the rest is then not compared. Returns 1 for such a near-tie, 0 otherwise.
inline int expect_same_greedy(const Completion& got, const Completion& ref,
                              const std::string& what) {
  size_t i = 0;
  for (; i < ref.ids.size() && i < got.ids.size(); ++i) {
    if (got.ids[i] != ref.ids[i]) break;
    if (i < got.logprobs.size() && i < ref.logprobs.size()) {
      EXPECT_NEAR(got.logprobs[i], ref.logprobs[i], kLogprobTolerance) << what << " token " << i;
    }
  }
  if (i == ref.ids.size() && i == got.ids.size()) return 0;
  if (i == ref.ids.size() || i == got.ids.size()) {
    ADD_FAILURE() << what << ": " << got.ids.size() << " tokens, the reference has "
                  << ref.ids.size();
    return 0;
  }
  const auto& top = ref.raw["choices"][0]["logprobs"]["top_logprobs"][i];
  std::vector<double> v;
  for (auto& [k, x] : top.items()) v.push_back(x.get<double>());
  std::sort(v.rbegin(), v.rend());
  const bool near_tie = v.size() >= 2 && v[0] - v[1] < kLogprobTolerance;
  EXPECT_TRUE(near_tie) << what << ": token " << i << " is " << got.ids[i] << ", the reference's "
                        << ref.ids[i] << " (not a near-tie)";
  return near_tie ? 1 : 0;
}

}  // namespace xlstm::testing
