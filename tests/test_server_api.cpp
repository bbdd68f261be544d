// `xlstm serve` as a black box: completions equal the CLI's, streaming, stop strings, seeds,
// logprobs, every error class, API keys, queue limits, disconnects and shutdown.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cmath>
#include <future>

#include "server_harness.h"
#include "test_util.h"

namespace xlstm::testing {
namespace {

const std::string kTiny = kServeModels + "tiny-shakespeare";

std::vector<int32_t> cli_ids(const std::string& args) {
  const std::string cmd = std::string(XLSTM_CLI_PATH) + " generate " + device_flags() + " " + args +
                          " --print-ids 2>/dev/null";
  const std::string out = run_command(cmd).out;
  std::vector<int32_t> ids;
  std::stringstream ss(out);
  for (std::string item; std::getline(ss, item, ',');) ids.push_back(std::stoi(item));
  return ids;
}

class ServerApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"-m", kTiny, "--max-batch", "8", "--ctx-limit", "512"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerProcess* server_;
};
ServerProcess* ServerApi::server_ = nullptr;

TEST_F(ServerApi, GreedyAndSampledEqualTheCli) {
  auto c = server_->client();
  for (const std::string prompt : {"ROMEO:", "First Citizen:\nWe are", "O"}) {
    const auto r = complete(
        c, {{"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}, {"ignore_eos", true}});
    EXPECT_EQ(r.ids, cli_ids("-m " + kTiny + " -p '" + prompt + "' -n 24 --ignore-eos")) << prompt;
    EXPECT_EQ(r.finish_reason, "length");
    EXPECT_EQ(r.raw["usage"]["completion_tokens"], 24);
  }
  const auto s = complete(c, {{"prompt", "JULIET:"},
                              {"max_tokens", 30},
                              {"temperature", 0.9},
                              {"top_k", 40},
                              {"top_p", 0.95},
                              {"min_p", 0.02},
                              {"repetition_penalty", 1.1},
                              {"seed", 42},
                              {"ignore_eos", true}});
  EXPECT_EQ(s.ids, cli_ids("-m " + kTiny +
                           " -p 'JULIET:' -n 30 --temp 0.9 --top-k 40 --top-p 0.95 --min-p 0.02 "
                           "--repeat-penalty 1.1 --seed 42 --ignore-eos"));
}

TEST_F(ServerApi, TheFamilyModelEqualsTheCliToo) {
  const std::string fam = kServeModels + "family-shakespeare";
  ServerProcess s({"-m", fam});
  auto c = s.client();
  const auto r = complete(
      c, {{"prompt", "KING:"}, {"max_tokens", 20}, {"temperature", 0}, {"ignore_eos", true}});
  EXPECT_EQ(r.ids, cli_ids("-m " + fam + " -p 'KING:' -n 20 --ignore-eos"));
}

TEST_F(ServerApi, StreamingGivesTheWholeResponseInPieces) {
  auto c = server_->client();
  const json body = {{"prompt", "ROMEO:"},
                     {"max_tokens", 20},
                     {"temperature", 0},
                     {"ignore_eos", true},
                     {"logprobs", 1}};
  const auto whole = complete(c, body);
  json sb = body;
  sb["stream"] = true;
  sb["stream_options"] = {{"include_usage", true}};
  int status = 0;
  const auto events = stream_events(c, sb, &status);
  ASSERT_EQ(status, 200);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::vector<int32_t> ids;
  std::vector<float> lps;
  std::string finish;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json e = json::parse(events[i]);
    const auto& ch = e["choices"][0];
    text += ch["text"].get<std::string>();
    for (int32_t id : ch["token_ids"]) ids.push_back(id);
    for (float v : ch["logprobs"]["token_logprobs"]) lps.push_back(v);
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  const json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 20);
  EXPECT_EQ(text, whole.text);
  EXPECT_EQ(ids, whole.ids);
  // The second request resumes from a state the first one cached: other float paths.
  ASSERT_EQ(lps.size(), whole.logprobs.size());
  for (size_t i = 0; i < lps.size(); ++i) EXPECT_NEAR(lps[i], whole.logprobs[i], kLogprobTolerance);
  EXPECT_EQ(finish, "length");
}

TEST_F(ServerApi, StopStringsEndTheTextBeforeThem) {
  auto c = server_->client();
  const json body = {
      {"prompt", "ROMEO:"}, {"max_tokens", 40}, {"temperature", 0}, {"ignore_eos", true}};
  const auto whole = complete(c, body);
  ASSERT_GT(whole.text.size(), 20u);
  // A stop string across a token boundary, from the middle of the text.
  const size_t k = whole.text.size() / 2;
  const std::string stop = whole.text.substr(k - 2, 4);
  const size_t first = whole.text.find(stop);
  json sb = body;
  sb["stop"] = {"never-appears", stop};
  const auto r = complete(c, sb);
  EXPECT_EQ(r.text, whole.text.substr(0, first));
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_LT(r.ids.size(), whole.ids.size());
  sb["stream"] = true;
  int status = 0;
  std::string streamed;
  for (const auto& e : stream_events(c, sb, &status)) {
    if (e == "[DONE]") break;
    streamed += json::parse(e)["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(streamed, whole.text.substr(0, first));
}

TEST_F(ServerApi, SameSeedSameTextOtherSeedsDiffer) {
  auto c = server_->client();
  auto body = [](int seed) {
    return json{{"prompt", "KING:"},
                {"max_tokens", 24},
                {"temperature", 1.0},
                {"seed", seed},
                {"ignore_eos", true}};
  };
  const auto a = complete(c, body(7)), b = complete(c, body(7));
  EXPECT_EQ(a.ids, b.ids);
  int differ = 0;
  for (int seed : {8, 9, 10}) differ += complete(c, body(seed)).ids != a.ids;
  EXPECT_GE(differ, 2);
  // n choices: seed + index each, so choice 1 of seed 7 is choice 0 of seed 8.
  json nb = body(7);
  nb["n"] = 2;
  const auto two = post_json(c, "/v1/completions", nb);
  ASSERT_EQ(two.status, 200);
  ASSERT_EQ(two.body["choices"].size(), 2u);
  EXPECT_EQ(two.body["choices"][0]["token_ids"], json(a.ids));
  EXPECT_EQ(two.body["choices"][1]["token_ids"], json(complete(c, body(8)).ids));
}

TEST_F(ServerApi, LogprobsAreLogSoftmaxOfTheModel) {
  auto c = server_->client();
  const auto r = complete(c, {{"prompt", "ROMEO:"},
                              {"max_tokens", 12},
                              {"temperature", 0},
                              {"logprobs", 3},
                              {"ignore_eos", true}});
  const auto& lp = r.raw["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 12u);
  ASSERT_EQ(lp["top_logprobs"].size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    const float v = lp["token_logprobs"][i];
    EXPECT_LE(v, 0.0f);
    double mass = 0, best = -1e30;
    for (auto& [tok, x] : lp["top_logprobs"][i].items()) {
      mass += std::exp(x.get<double>());
      best = std::max(best, x.get<double>());
    }
    EXPECT_LE(lp["top_logprobs"][i].size(), 3u);
    EXPECT_LE(mass, 1.0 + 1e-5);
    EXPECT_FLOAT_EQ(v, static_cast<float>(best)) << "greedy takes the most likely token";
  }
  int64_t offset = 0;  // text offsets add up to the text
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(lp["text_offset"][i], offset);
    offset += static_cast<int64_t>(lp["tokens"][i].get<std::string>().size());
  }
}

TEST_F(ServerApi, PromptFormsEchoAndChoices) {
  auto c = server_->client();
  const json greedy = {{"max_tokens", 8}, {"temperature", 0}, {"ignore_eos", true}};
  auto with = [&](json prompt) {
    json b = greedy;
    b["prompt"] = std::move(prompt);
    return b;
  };
  const auto text = complete(c, with("ROMEO:"));
  const auto tok = post_json(c, "/tokenize", {{"prompt", "ROMEO:"}});
  ASSERT_EQ(tok.status, 200);
  const auto ids = complete(c, with(tok.body["tokens"]));
  EXPECT_EQ(ids.ids, text.ids);
  const auto det = post_json(c, "/detokenize", {{"tokens", text.ids}});
  EXPECT_EQ(det.body["prompt"], text.text);
  json eb = with("ROMEO:");
  eb["echo"] = true;
  EXPECT_EQ(complete(c, eb).text, "ROMEO:" + text.text);
  const auto multi = post_json(c, "/v1/completions", with(json::array({"KING:", "ROMEO:"})));
  ASSERT_EQ(multi.status, 200);
  ASSERT_EQ(multi.body["choices"].size(), 2u);
  EXPECT_EQ(multi.body["choices"][1]["index"], 1);
  EXPECT_EQ(multi.body["choices"][1]["token_ids"], json(text.ids));
  EXPECT_EQ(multi.body["usage"]["completion_tokens"], 16);
  const auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "tiny-shakespeare");
  EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST_F(ServerApi, EveryErrorClassIsAJsonErrorNamingTheField) {
  auto c = server_->client();
  struct Case {
    std::string path, body;
    int status;
    std::string param;
  };
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, ""},
      {"/v1/completions", R"({"prompt": 3})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": "x", "max_tokens": -1})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "x", "temperature": 9})", 400, "temperature"},
      {"/v1/completions", R"({"prompt": [1, 2048]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": "x", "max_tokens": 600})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "x", "max_tokens": 511})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": [1, 2.5]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": "x", "model": "gpt-4"})", 404, "model"},
      {"/v1/completions", R"({"prompt": "x", "state": "s"})", 400, "state"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"/tokenize", R"({"text": "x"})", 400, "text"},
      {"/detokenize", R"({"tokens": [5000]})", 400, "tokens"},
      {"/v1/states/abc", R"({"prompt": "x"})", 404, ""},
  };
  for (const auto& k : cases) {
    auto r = c.Post(k.path.c_str(), k.body, "application/json");
    ASSERT_TRUE(r) << k.body;
    EXPECT_EQ(r->status, k.status) << k.path << " " << k.body << " -> " << r->body;
    const json e = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(e.contains("error")) << r->body;
    EXPECT_EQ(e["error"]["param"], k.param.empty() ? json(nullptr) : json(k.param)) << r->body;
    EXPECT_FALSE(e["error"]["message"].get<std::string>().empty());
  }
  // A prompt past the context limit (512) names the prompt.
  std::string long_prompt;
  for (int i = 0; i < 600; ++i) long_prompt += " the";
  auto r = post_json(c, "/v1/completions", {{"prompt", long_prompt}, {"max_tokens", 1}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["param"], "prompt");
  // Over the body limit (8 MiB): 413.
  auto big = c.Post("/v1/completions", std::string(9u << 20, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_TRUE(json::parse(big->body, nullptr, false).contains("error"));
  // The server counted them.
  EXPECT_GE(metric(c, "xlstm_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"), 8);
}

TEST(ServerAuth, ApiKeyIsRequiredExceptForHealth) {
  ServerProcess s({"-m", kTiny, "--api-key", "sekret"});
  auto none = s.client();
  auto wrong = s.client("nope");
  auto right = s.client("sekret");
  const json body = {{"prompt", "A"}, {"max_tokens", 2}};
  EXPECT_EQ(post_json(none, "/v1/completions", body).status, 401);
  const auto w = post_json(wrong, "/v1/completions", body);
  EXPECT_EQ(w.status, 401);
  EXPECT_EQ(w.body["error"]["type"], "authentication_error");
  EXPECT_EQ(none.Get("/v1/models")->status, 401);
  EXPECT_EQ(post_json(right, "/v1/completions", body).status, 200);
  EXPECT_EQ(none.Get("/health")->status, 200);
}

// Opens a streamed completion on a raw socket, reads until the first token arrived, and
// closes the connection without reading the rest.
void stream_then_disconnect(int port, const json& body) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string b = body.dump();
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(b.size()) + "\r\n\r\n" + b;
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  while (got.find("data: {") == std::string::npos) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
}

template <class F>
bool eventually(F f, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// One batch slot and one queue place: a third request gets 429. A client that disconnects
// mid-stream frees its slot (the queued request then runs).
TEST(ServerLimits, QueueFullIs429AndDisconnectFreesTheSlot) {
  ServerProcess s({"-m", kTiny, "--max-batch", "1", "--max-queue", "1"});
  auto c = s.client();
  const json endless = {{"prompt", "ROMEO:"},
                        {"max_tokens", 16000},
                        {"ignore_eos", true},
                        {"stream", true},
                        {"temperature", 0}};
  stream_then_disconnect(s.port(), endless);  // already gone: must not hold the slot
  ASSERT_TRUE(eventually([&] { return metric(c, "xlstm_cancelled_sequences_total") == 1; }));
  ASSERT_TRUE(eventually([&] { return metric(c, "xlstm_running_sequences") == 0; }));

  // Now hold the slot with a live stream, queue one, and overflow.
  std::promise<void> first_token;
  std::atomic<bool> stop_reading{false};
  std::thread holder([&] {
    auto hc = s.client();
    bool signalled = false;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = endless.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
      if (!signalled) {
        signalled = true;
        first_token.set_value();
      }
      return !stop_reading.load();  // false: the client closes the connection
    };
    hc.send(req);
  });
  first_token.get_future().wait();
  ASSERT_TRUE(eventually([&] { return metric(c, "xlstm_running_sequences") == 1; }));
  auto queued = std::async(std::launch::async, [&] {
    auto qc = s.client();
    return post_json(qc, "/v1/completions", {{"prompt", "KING:"}, {"max_tokens", 3}}).status;
  });
  ASSERT_TRUE(eventually([&] { return metric(c, "xlstm_queue_depth") == 1; }));
  const auto over = post_json(c, "/v1/completions", {{"prompt", "A"}, {"max_tokens", 1}});
  EXPECT_EQ(over.status, 429);
  EXPECT_EQ(over.body["error"]["type"], "rate_limit_error");
  stop_reading = true;  // the holder disconnects: its slot goes to the queued request
  EXPECT_EQ(queued.get(), 200);
  holder.join();
  EXPECT_TRUE(eventually([&] { return metric(c, "xlstm_cancelled_sequences_total") == 2; }));
  EXPECT_TRUE(eventually([&] { return metric(c, "xlstm_running_sequences") == 0; }));
}

// SIGTERM: a running stream finishes, new requests are refused, the process exits 0.
TEST(ServerShutdown, SigtermDrainsAndExitsCleanly) {
  // A drain time no loaded machine reaches: the stream must finish, not be cut.
  ServerProcess s({"-m", kTiny, "--max-batch", "2", "--drain-seconds", "600"});
  auto c = s.client();
  auto running = std::async(std::launch::async, [&] {
    auto rc = s.client();
    int status = 0;
    auto ev = stream_events(
        rc, {{"prompt", "ROMEO:"}, {"max_tokens", 400}, {"ignore_eos", true}, {"stream", true}},
        &status);
    return std::make_pair(status, ev);
  });
  ASSERT_TRUE(eventually([&] { return metric(c, "xlstm_running_sequences") == 1; }));
  EXPECT_EQ(s.stop(SIGTERM, std::chrono::seconds(600)), 0);
  const auto [status, events] = running.get();
  EXPECT_EQ(status, 200);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  int tokens = 0;
  for (const auto& e : events)
    if (e != "[DONE]") tokens += static_cast<int>(json::parse(e)["choices"][0]["token_ids"].size());
  EXPECT_EQ(tokens, 400) << "the stream was drained, not cut";
}

}  // namespace
}  // namespace xlstm::testing

namespace xlstm::testing {
namespace {

// Past --drain-seconds the running streams are cancelled: they end with finish_reason "abort"
// and [DONE], queued requests get 503, and the process still exits 0.
TEST(ServerShutdown, PastTheDrainTimeRunningStreamsAreCancelled) {
  ServerProcess s({"-m", kTiny, "--max-batch", "1", "--drain-seconds", "0"});
  auto c = s.client();
  auto running = std::async(std::launch::async, [&] {
    auto rc = s.client();
    int status = 0;
    auto ev = stream_events(
        rc, {{"prompt", "ROMEO:"}, {"max_tokens", 16000}, {"ignore_eos", true}, {"stream", true}},
        &status);
    return std::make_pair(status, ev);
  });
  ASSERT_TRUE(eventually([&] { return metric(c, "xlstm_running_sequences") == 1; }));
  auto queued = std::async(std::launch::async, [&] {
    auto qc = s.client();
    return post_json(qc, "/v1/completions", {{"prompt", "KING:"}, {"max_tokens", 3}}).status;
  });
  ASSERT_TRUE(eventually([&] { return metric(c, "xlstm_queue_depth") == 1; }));
  EXPECT_EQ(s.stop(SIGINT), 0);
  const auto [status, events] = running.get();
  EXPECT_EQ(status, 200);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "abort");
  EXPECT_EQ(queued.get(), 503);
}

}  // namespace
}  // namespace xlstm::testing
