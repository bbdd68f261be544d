// The environment's measurement settings (core/env_settings.h): unset or empty gives the
// fallback, every value a setting takes is read, and anything else is an error naming the
// variable, what it takes and what it got.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/env_settings.h"
#include "xlstm/error.h"

namespace xlstm {
namespace {

constexpr const char* kName = "XLSTM_TEST_ENV_SETTING";

class EnvSettings : public ::testing::Test {
 protected:
  void TearDown() override { unsetenv(kName); }
  static void set(const char* value) { setenv(kName, value, 1); }
  // The message of the InvalidInput that f throws (empty, and a failure, where it throws none).
  template <typename F>
  static std::string error_of(F f) {
    try {
      f();
    } catch (const InvalidInput& e) {
      return e.what();
    }
    ADD_FAILURE() << kName << " was taken";
    return "";
  }
};

TEST_F(EnvSettings, UnsetOrEmptyGivesTheFallback) {
  unsetenv(kName);
  EXPECT_TRUE(env_switch(kName, true));
  EXPECT_FALSE(env_switch(kName, false));
  EXPECT_EQ(env_count(kName, 7, 1, 9), 7u);
  EXPECT_EQ(env_number(kName, 2.5, 0, 10), 2.5);
  EXPECT_EQ(env_choice(kName, 1, {"a", "b"}), 1);
  set("");
  EXPECT_TRUE(env_switch(kName, true));
  EXPECT_EQ(env_count(kName, 7, 1, 9), 7u);
  EXPECT_EQ(env_choice(kName, 1, {"a", "b"}), 1);
}

TEST_F(EnvSettings, SwitchesTakeOnOffOneAndZero) {
  for (const char* v : {"on", "1"}) {
    set(v);
    EXPECT_TRUE(env_switch(kName, false)) << v;
  }
  for (const char* v : {"off", "0"}) {
    set(v);
    EXPECT_FALSE(env_switch(kName, true)) << v;
  }
}

TEST_F(EnvSettings, CountsAndNumbersTakeTheirRangeInclusive) {
  set("1");
  EXPECT_EQ(env_count(kName, 0, 1, 9), 1u);
  set("9");
  EXPECT_EQ(env_count(kName, 0, 1, 9), 9u);
  set("0.25");
  EXPECT_EQ(env_number(kName, 0, 0, 1), 0.25);
  set("1000");
  EXPECT_EQ(env_number(kName, 0, 0, 1e9), 1000.0);
  set("normal");
  EXPECT_EQ(env_choice(kName, 0, {"last", "normal", "none"}), 1);
}

TEST_F(EnvSettings, AnythingElseIsAnErrorNamingTheVariableTheRangeAndTheValue) {
  for (const char* v : {"yes", "ON", "2", " on", "true"}) {
    set(v);
    const std::string e = error_of([] { env_switch(kName, false); });
    EXPECT_NE(e.find(kName), std::string::npos) << e;
    EXPECT_NE(e.find("on or off"), std::string::npos) << e;
    EXPECT_NE(e.find(std::string("'") + v + "'"), std::string::npos) << e;
  }
  for (const char* v :
       {"0", "10", "-1", "+3", " 3", "3x", "four", "3.0", "0x3", "99999999999999999999"}) {
    set(v);
    const std::string e = error_of([] { env_count(kName, 5, 1, 9); });
    EXPECT_NE(e.find(kName), std::string::npos) << e;
    EXPECT_NE(e.find("1 .. 9"), std::string::npos) << v << ": " << e;
  }
  for (const char* v : {"-0.5", "1.5", "nan", "inf", "1ms", " 0.5", "0x0.8", "+0.5"}) {
    set(v);
    const std::string e = error_of([] { env_number(kName, 0, 0, 1); });
    EXPECT_NE(e.find("a number 0 .. 1"), std::string::npos) << v << ": " << e;
  }
  set("first");
  const std::string e = error_of([] { env_choice(kName, 0, {"last", "normal", "none"}); });
  EXPECT_NE(e.find("one of last, normal, none"), std::string::npos) << e;
  EXPECT_NE(e.find("'first'"), std::string::npos) << e;
}

}  // namespace
}  // namespace xlstm
