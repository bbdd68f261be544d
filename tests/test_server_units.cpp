// The server's parts without HTTP: request parsing and validation, stop strings over streamed
// tokens, the prefix state cache (exact keys under collisions and eviction).
#include <gtest/gtest.h>

#include "server/prefix_cache.h"
#include "server/request.h"
#include "server/stop_text.h"
#include "xlstm/model.h"

namespace xlstm::server {
namespace {

const std::string kModel = std::string(XLSTM_SOURCE_DIR) + "/models/tiny-shakespeare";

RequestLimits limits() {
  RequestLimits l;
  l.vocab_size = 100;
  l.ctx_limit = 50;
  l.max_n = 4;
  return l;
}

void expect_rejected(const std::string& body, const std::string& param, const std::string& words) {
  try {
    parse_completion_request(body, limits());
    ADD_FAILURE() << "accepted: " << body;
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400) << body;
    EXPECT_EQ(e.param(), param) << body << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << body << ": " << e.what();
  }
}

TEST(ServerRequest, PromptForms) {
  auto r = parse_completion_request(R"({"prompt": "hi"})", limits());
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_TRUE(r.prompts[0].is_text);
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  r = parse_completion_request(R"({"prompt": [1, 2, 99]})", limits());
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].ids, (std::vector<int32_t>{1, 2, 99}));
  r = parse_completion_request(R"({"prompt": ["a", [3], "b"], "n": 2})", limits());
  ASSERT_EQ(r.prompts.size(), 3u);
  EXPECT_FALSE(r.prompts[1].is_text);
  EXPECT_EQ(r.n, 2);
  r = parse_completion_request(
      R"({"prompt": "x", "stop": "\n", "seed": -5, "top_k": -1, "logprobs": 2, "stream": true,
          "stream_options": {"include_usage": true}, "temperature": 0, "max_tokens": null})",
      limits());
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(r.has_seed);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_TRUE(r.include_usage);
}

TEST(ServerRequest, EveryRejectionNamesItsField) {
  expect_rejected("", "", "not valid JSON");
  expect_rejected("[1]", "", "JSON object");
  expect_rejected("{}", "prompt", "required");
  expect_rejected(R"({"prompt": []})", "prompt", "empty");
  expect_rejected(R"({"prompt": 5})", "prompt", "must be a string");
  expect_rejected(R"({"prompt": [1, 100]})", "prompt", "not a token id");
  expect_rejected(R"({"prompt": [1, -1]})", "prompt", "not a token id");
  expect_rejected(R"({"prompt": [[1], [2, 1e3]]})", "prompt", "prompt[1]");
  expect_rejected(R"({"prompt": "x", "max_tokens": 51})", "max_tokens", "out of range");
  expect_rejected(R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens", "integer");
  // Zero parses as an unsigned JSON number; the lower bound holds for it too (fuzz_server_request).
  expect_rejected(R"({"prompt": "x", "n": 0})", "n", "out of range");
  expect_rejected(R"({"prompt": "x", "n": 1, "best_of": 0})", "best_of", "out of range");
  expect_rejected(R"({"prompt": "x", "max_tokens": 18446744073709551615})", "max_tokens", "range");
  expect_rejected(R"({"prompt": "x", "temperature": "hot"})", "temperature", "number");
  expect_rejected(R"({"prompt": "x", "temperature": 2.5})", "temperature", "range");
  expect_rejected(R"({"prompt": "x", "top_p": 0})", "top_p", "range");
  expect_rejected(R"({"prompt": "x", "top_k": 101})", "top_k", "range");
  expect_rejected(R"({"prompt": "x", "min_p": -0.1})", "min_p", "range");
  expect_rejected(R"({"prompt": "x", "repetition_penalty": 0})", "repetition_penalty", "range");
  expect_rejected(R"({"prompt": "x", "n": 5})", "n", "range");
  expect_rejected(R"({"prompt": "x", "logprobs": 21})", "logprobs", "range");
  expect_rejected(R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})", "stop", "more than");
  expect_rejected(R"({"prompt": "x", "stop": [""]})", "stop", "empty");
  expect_rejected(R"({"prompt": "x", "stop": [1]})", "stop[0]", "string");
  expect_rejected(R"({"prompt": "x", "echo": 1})", "echo", "true or false");
  expect_rejected(R"({"prompt": "x", "stream": "yes"})", "stream", "true or false");
  expect_rejected(R"({"prompt": "x", "temprature": 1})", "temprature", "unknown parameter");
  expect_rejected(R"({"prompt": "x", "state": "../etc"})", "name", "state name");
  expect_rejected(R"({"prompt": "x", "frequency_penalty": 1})", "frequency_penalty",
                  "not supported");
  expect_rejected(R"({"prompt": "x", "echo": true, "logprobs": 1})", "echo", "not supported");
}

TEST(ServerRequest, StateNames) {
  for (const std::string& ok :
       std::vector<std::string>{"a", "sys-prompt_1.v2", std::string(64, 'x')})
    EXPECT_NO_THROW(validate_state_name(ok)) << ok;
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", ".hidden", "a/b", "a\\b", "..%2F",
                                std::string(65, 'x'), std::string("a\0b", 3), "ä"})
    EXPECT_THROW(validate_state_name(bad), RequestError) << bad;
}

TEST(ServerRequest, ContextLimit) {
  EXPECT_NO_THROW(check_prompt_length(40, 10, limits()));
  try {
    check_prompt_length(51, 0, limits());
    ADD_FAILURE();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.param(), "prompt");
  }
  try {
    check_prompt_length(40, 11, limits());
    ADD_FAILURE();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.param(), "max_tokens");
  }
}

// Pushes text as one token per character through a tokenizer-free path: the bundled tokenizer
// has single-character tokens for ASCII letters and spaces.
std::string run_stop(const Tokenizer& tok, const std::string& text,
                     const std::vector<std::string>& stops, bool* stopped,
                     std::vector<std::string>* pieces = nullptr) {
  StopTextStream s(tok, stops);
  std::string out;
  for (int32_t id : tok.encode(text, false)) {
    const std::string piece = s.push(id);
    if (pieces) pieces->push_back(piece);
    out += piece;
    if (s.stopped()) break;
  }
  out += s.finish();
  *stopped = s.stopped();
  return out;
}

TEST(ServerStopText, StopsAndHoldsBackPrefixes) {
  const Tokenizer tok = Tokenizer::from_file(kModel + "/tokenizer.json");
  bool stopped = false;
  EXPECT_EQ(run_stop(tok, "hello world, and more", {"d, a"}, &stopped), "hello worl");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(run_stop(tok, "hello world", {"xyz"}, &stopped), "hello world");
  EXPECT_FALSE(stopped);
  // The earliest of several stop strings wins.
  EXPECT_EQ(run_stop(tok, "one two three", {"three", "o t"}, &stopped), "one tw");
  // What could still become a stop string is held back until the end.
  std::vector<std::string> pieces;
  EXPECT_EQ(run_stop(tok, "one two thr", {"three"}, &stopped, &pieces), "one two thr");
  std::string streamed;
  for (const auto& p : pieces) streamed += p;
  EXPECT_EQ(streamed, "one two ");
  // A partial match at the end that never completes is released at the end.
  EXPECT_EQ(run_stop(tok, "to be or not to b", {"to be!"}, &stopped), "to be or not to b");
  EXPECT_FALSE(stopped);
}

class ServerPrefixCache : public ::testing::Test {
 protected:
  void SetUp() override { model_ = std::make_unique<Model>(Model::load(kModel)); }
  State state_after(const std::vector<int32_t>& ids) {
    State s = model_->new_state(1);
    RunOptions run;
    run.all_logits = false;
    model_->forward(ids, s, run);
    return s;
  }
  std::unique_ptr<Model> model_;
};

bool same_state(const State& a, const State& b) {
  for (size_t i = 0; i < a.blocks().size(); ++i)
    for (size_t j = 0; j < a.blocks()[i].tensors.size(); ++j)
      if (a.blocks()[i].tensors[j].data != b.blocks()[i].tensors[j].data) return false;
  return true;
}

TEST_F(ServerPrefixCache, LongestStrictlyShorterPrefix) {
  PrefixCache cache(64u << 20);
  const std::vector<int32_t> p = {0, 5, 6, 7, 8, 9, 10};
  const State s3 = state_after({0, 5, 6}), s5 = state_after({0, 5, 6, 7, 8});
  cache.insert(p, 3, s3);
  cache.insert(p, 5, s5);
  cache.insert(p, 7, state_after(p));
  auto hit = cache.lookup(p);  // 7 is the whole prompt: not used
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->length, 5);
  EXPECT_TRUE(same_state(*hit->state, s5));
  hit = cache.lookup(std::vector<int32_t>{0, 5, 6, 7, 8});
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->length, 3);
  EXPECT_TRUE(same_state(*hit->state, s3));
  EXPECT_FALSE(cache.lookup(std::vector<int32_t>{0, 5, 7, 7, 8, 9}));  // differs at token 2
  EXPECT_FALSE(cache.lookup(std::vector<int32_t>{0, 5, 6}));           // only 3 itself cached
}

// Every hash collides (mask 0): entries are still told apart by their tokens, and after eviction
// a slot's new occupant is never returned for the old prefix.
TEST_F(ServerPrefixCache, CollisionsAndEvictionNeverReturnAnotherPrefix) {
  const State probe = state_after({0});
  const size_t one = static_cast<size_t>(probe.floats_per_sequence()) * sizeof(float);
  PrefixCache cache(3 * one, /*hash_mask=*/0);
  std::vector<std::vector<int32_t>> seqs;
  std::vector<State> states;
  for (int32_t k = 0; k < 6; ++k) {
    seqs.push_back({0, 10 + k, 20 + k, 30});
    states.push_back(state_after({0, 10 + k, 20 + k}));
  }
  for (size_t k = 0; k < 6; ++k) {
    cache.insert(seqs[k], 3, states[k]);
    EXPECT_LE(cache.entries(), 3u);
    for (size_t j = 0; j < 6; ++j) {
      auto hit = cache.lookup(seqs[j]);
      const bool should = j <= k && j + 3 > k;  // the 3 most recent
      ASSERT_EQ(static_cast<bool>(hit), should) << "k=" << k << " j=" << j;
      if (hit) {
        EXPECT_TRUE(same_state(*hit->state, states[j])) << j;
      }
    }
  }
  EXPECT_EQ(cache.evictions(), 3);
  EXPECT_EQ(cache.bytes(), 3 * one);
}

TEST_F(ServerPrefixCache, OffAndTooSmall) {
  PrefixCache off(0);
  off.insert(std::vector<int32_t>{0, 1, 2}, 2, state_after({0, 1}));
  EXPECT_EQ(off.entries(), 0u);
  EXPECT_FALSE(off.lookup(std::vector<int32_t>{0, 1, 2}));
  PrefixCache tiny(16);
  tiny.insert(std::vector<int32_t>{0, 1, 2}, 2, state_after({0, 1}));
  EXPECT_EQ(tiny.entries(), 0u);
}

}  // namespace
}  // namespace xlstm::server
