#include "cli/args.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace r1::cli {
namespace {

Args make() {
  return Args("run", "-m PATH",
              {{"--model", "-m", FlagKind::String, "", "model", "PATH"},
               {"--temp", "", FlagKind::Float, "0.6", "temperature", "T"},
               {"--n-predict", "-n", FlagKind::Int, "-1", "tokens", "N"},
               {"--raw", "", FlagKind::Bool, "", "no template"}});
}

TEST(Args, ParsesShortLongInlineAndDefaults) {
  Args a = make();
  a.parse({"-m", "x.gguf", "--temp=0.8", "-n", "12", "--raw", "rest"});
  EXPECT_EQ(a.str("--model"), "x.gguf");
  EXPECT_DOUBLE_EQ(a.f64("--temp"), 0.8);
  EXPECT_EQ(a.i64("-n"), 12);
  EXPECT_TRUE(a.flag("--raw"));
  EXPECT_EQ(a.positional(), std::vector<std::string>{"rest"});
  Args b = make();
  b.parse({});
  EXPECT_DOUBLE_EQ(b.f64("--temp"), 0.6);
  EXPECT_FALSE(b.flag("--raw"));
  EXPECT_FALSE(b.has("--model"));
}

TEST(Args, ErrorsNameTheFlag) {
  auto msg = [](std::vector<std::string> v) {
    try {
      Args a = make();
      a.parse(v);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg({"--bogus"}).find("unknown flag --bogus"), std::string::npos);
  EXPECT_NE(msg({"-n", "abc"}).find("-n expects an integer"), std::string::npos);
  EXPECT_NE(msg({"--temp", "1.5x"}).find("--temp expects a number"), std::string::npos);
  EXPECT_NE(msg({"-m"}).find("-m needs a value"), std::string::npos);
}

TEST(Args, HelpListsEveryFlagWithDefault) {
  Args a = make();
  std::string h = a.help_text();
  for (const char* s : {"--model", "--temp", "(default: 0.6)", "-n, --n-predict", "(default: -1)", "--raw"})
    EXPECT_NE(h.find(s), std::string::npos) << s;
}

}  // namespace
}  // namespace r1::cli
