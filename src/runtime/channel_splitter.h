// Turns the text of a generation, as it streams in, into what the user sees: the R1 models think
// inside <think> ... </think> before answering, so the text is split into a reasoning and an answer
// channel, and it is cut at the first stop string. A marker or stop string may arrive in pieces
// over several tokens, so the end of the text that could still become one is held back until the
// next piece decides it: no marker and no stop string ever leaks into the shown text.
//
// The rules (the markers themselves are shown in neither channel):
//   * A generation starts in the reasoning channel when its prompt ends inside <think> (the R1 chat
//     template ends with "<think>\n"), else in the answer channel.
//   * In the answer channel, "<think>" as the very first text enters reasoning (models prompted
//     with the older template open the block themselves); later it is ordinary text.
//   * In reasoning, "</think>" switches to the answer for good; later markers are ordinary text.
//   * Newlines right after a marker are dropped: the answer of "</think>\n\nHi" is "Hi" and the
//     reasoning of "<think>\nHmm" is "Hmm".
//   * Stop strings are looked for in the whole generated text, in both channels; empty ones are
//     ignored. Where a stop string and a marker start at the same place, the stop string wins.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

enum class Channel { Reasoning, Answer };

const char* channel_name(Channel c);  // "reasoning" / "answer"

struct TextChunk {
  Channel channel;
  std::string text;
};

class ChannelSplitter {
 public:
  ChannelSplitter(const std::vector<std::string>& stop, bool start_in_reasoning);

  // Feeds the next piece of generated text and appends the text that is now safe to show to `out`
  // (nothing is appended for an empty chunk). Returns true once a stop string has been found;
  // the text from it on is dropped, and so is everything pushed afterwards.
  bool push(std::string_view text, std::vector<TextChunk>& out);
  // The end of the generation: releases the held-back text (it can no longer become a marker or
  // a stop string). Nothing is released after a stop.
  void flush(std::vector<TextChunk>& out);

  Channel channel() const { return channel_; }
  bool stopped() const { return stopped_; }
  // Every character consumed so far, markers included, up to (not including) the stop string.
  const std::string& text() const { return text_; }

 private:
  void emit(size_t n, std::vector<TextChunk>& out);  // shows the first n bytes of pending_
  void drop_leading_newlines();
  size_t held_back() const;  // bytes at the end of pending_ that may start a marker / stop string

  std::vector<std::string> stop_;
  Channel channel_;
  bool may_open_;            // "<think>" still opens reasoning (answer channel, nothing shown yet)
  bool may_close_;           // "</think>" still closes reasoning
  bool after_marker_ = false;  // dropping the newlines that follow a marker
  bool stopped_ = false;
  std::string pending_;  // consumed but not yet shown
  std::string text_;
};

}  // namespace r1
