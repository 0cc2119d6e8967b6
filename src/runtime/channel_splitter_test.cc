// The reasoning / answer split and stop strings, fed whole and in pieces of every size: a marker or
// stop string split over tokens must give exactly what it gives in one piece, and never show up.
#include "runtime/channel_splitter.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

struct Split {
  std::string reasoning, answer, text;
  bool stopped = false;
  std::string shown;  // every chunk in order, both channels
};

// Feeds `input` in pieces of `piece` bytes (0: in one piece), then flushes.
Split run(const std::string& input, size_t piece, bool start_in_reasoning, const std::vector<std::string>& stop = {}) {
  ChannelSplitter s(stop, start_in_reasoning);
  std::vector<TextChunk> out;
  const size_t step = piece == 0 ? input.size() : piece;
  for (size_t i = 0; i < input.size() && !s.stopped(); i += step) s.push(std::string_view(input).substr(i, step), out);
  s.flush(out);
  Split r;
  for (const TextChunk& c : out) {
    EXPECT_FALSE(c.text.empty());
    (c.channel == Channel::Reasoning ? r.reasoning : r.answer) += c.text;
    r.shown += c.text;
  }
  r.text = s.text();
  r.stopped = s.stopped();
  return r;
}

// Runs every piece size and checks they all agree with the one-piece result.
Split run_all_splits(const std::string& input, bool start_in_reasoning, const std::vector<std::string>& stop = {}) {
  const Split whole = run(input, 0, start_in_reasoning, stop);
  for (size_t piece = 1; piece <= input.size(); piece++) {
    const Split p = run(input, piece, start_in_reasoning, stop);
    EXPECT_EQ(p.reasoning, whole.reasoning) << "pieces of " << piece;
    EXPECT_EQ(p.answer, whole.answer) << "pieces of " << piece;
    EXPECT_EQ(p.text, whole.text) << "pieces of " << piece;
    EXPECT_EQ(p.stopped, whole.stopped) << "pieces of " << piece;
  }
  return whole;
}

TEST(ChannelSplitter, PromptInsideThinkStartsInReasoning) {
  const Split r = run_all_splits("Let me see: 2+2.\n</think>\n\nIt is 4.", true);
  EXPECT_EQ(r.reasoning, "Let me see: 2+2.\n");
  EXPECT_EQ(r.answer, "It is 4.");
  EXPECT_EQ(r.text, "Let me see: 2+2.\n</think>\n\nIt is 4.");
}

TEST(ChannelSplitter, ModelOpensThinkItself) {
  const Split r = run_all_splits("<think>\nhmm</think>\n\nyes", false);
  EXPECT_EQ(r.reasoning, "hmm");
  EXPECT_EQ(r.answer, "yes");
  EXPECT_EQ(r.text, "<think>\nhmm</think>\n\nyes");
}

TEST(ChannelSplitter, ThinkAfterOtherTextIsOrdinaryText) {
  const Split r = run_all_splits("a <think>b</think> c", false);
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.answer, "a <think>b</think> c");
}

TEST(ChannelSplitter, OnlyTheFirstCloseSwitches) {
  const Split r = run_all_splits("r</think>a</think>\n<think>b", true);
  EXPECT_EQ(r.reasoning, "r");
  EXPECT_EQ(r.answer, "a</think>\n<think>b");
}

TEST(ChannelSplitter, UnfinishedMarkerIsReleasedAtTheEnd) {
  EXPECT_EQ(run_all_splits("abc</thin", true).reasoning, "abc</thin");
  EXPECT_EQ(run_all_splits("<thin", false).answer, "<thin");
  EXPECT_EQ(run_all_splits("<think", true).reasoning, "<think");
  // Only newlines after the marker are dropped, spaces are kept.
  EXPECT_EQ(run_all_splits("x</think>\n\n\n  y\n", true).answer, "  y\n");
}

TEST(ChannelSplitter, StopStringIsCutInEitherChannel) {
  Split r = run_all_splits("think more STOP hidden", true, {"STOP"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.reasoning, "think more ");
  EXPECT_EQ(r.text, "think more ");

  r = run_all_splits("ab</think>\n\nthe answer ends here. More", true, {"here.", "ends"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.reasoning, "ab");
  EXPECT_EQ(r.answer, "the answer ");  // the earliest of the stop strings
  EXPECT_EQ(r.text, "ab</think>\n\nthe answer ");
}

TEST(ChannelSplitter, StopStringBeatsMarkerAtTheSamePlace) {
  const Split r = run_all_splits("x</think>y", true, {"</th"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.reasoning, "x");
  EXPECT_EQ(r.answer, "");
}

TEST(ChannelSplitter, NearMissOfStopStringIsShown) {
  const Split r = run_all_splits("aaab aab", false, {"aaaa", "abc", ""});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.answer, "aaab aab");
}

TEST(ChannelSplitter, HeldBackTextIsOnlyWhatCouldStillMatch) {
  ChannelSplitter s({"<END>"}, false);
  std::vector<TextChunk> out;
  EXPECT_FALSE(s.push("hello <E", out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "hello ");  // "<E" may start the stop string
  out.clear();
  EXPECT_FALSE(s.push("X", out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "<EX");
  out.clear();
  EXPECT_FALSE(s.push("<EN", out));  // not yet a match, but nothing of it is shown
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(s.push("D> tail", out));
  EXPECT_TRUE(out.empty());
  s.flush(out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s.text(), "hello <EX");
}

TEST(ChannelSplitter, ChunksKeepTheirChannel) {
  ChannelSplitter s({}, true);
  std::vector<TextChunk> out;
  s.push("abc</think>\n\ndef", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].channel, Channel::Reasoning);
  EXPECT_EQ(out[0].text, "abc");
  EXPECT_EQ(out[1].channel, Channel::Answer);
  EXPECT_EQ(out[1].text, "def");
  EXPECT_EQ(s.channel(), Channel::Answer);
  EXPECT_STREQ(channel_name(Channel::Reasoning), "reasoning");
}

}  // namespace
}  // namespace r1
