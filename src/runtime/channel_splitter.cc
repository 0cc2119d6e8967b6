#include "runtime/channel_splitter.h"

#include <algorithm>

namespace r1 {
namespace {

const std::string kThinkOpen = "<think>";
const std::string kThinkClose = "</think>";

// Length of the longest proper prefix of `pattern` that `text` ends with.
size_t partial_match_at_end(std::string_view text, std::string_view pattern) {
  for (size_t n = std::min(text.size(), pattern.size() - 1); n > 0; n--) {
    if (text.substr(text.size() - n) == pattern.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

const char* channel_name(Channel c) { return c == Channel::Reasoning ? "reasoning" : "answer"; }

ChannelSplitter::ChannelSplitter(const std::vector<std::string>& stop, bool start_in_reasoning)
    : channel_(start_in_reasoning ? Channel::Reasoning : Channel::Answer),
      may_open_(!start_in_reasoning),
      may_close_(start_in_reasoning) {
  for (const std::string& s : stop) {
    if (!s.empty()) stop_.push_back(s);
  }
}

void ChannelSplitter::emit(size_t n, std::vector<TextChunk>& out) {
  if (n == 0) return;
  text_.append(pending_, 0, n);
  if (!out.empty() && out.back().channel == channel_) {
    out.back().text.append(pending_, 0, n);
  } else {
    out.push_back({channel_, pending_.substr(0, n)});
  }
  pending_.erase(0, n);
  if (channel_ == Channel::Answer) may_open_ = false;
}

void ChannelSplitter::drop_leading_newlines() {
  if (!after_marker_) return;
  const size_t n = std::min(pending_.find_first_not_of('\n'), pending_.size());
  text_.append(pending_, 0, n);
  pending_.erase(0, n);
  if (!pending_.empty()) after_marker_ = false;
}

size_t ChannelSplitter::held_back() const {
  size_t hold = 0;
  for (const std::string& s : stop_) hold = std::max(hold, partial_match_at_end(pending_, s));
  if (may_close_) hold = std::max(hold, partial_match_at_end(pending_, kThinkClose));
  // "<think>" only counts as the very first text, so only a pending_ that starts it is held.
  if (may_open_ && kThinkOpen.starts_with(pending_)) hold = std::max(hold, pending_.size());
  return hold;
}

bool ChannelSplitter::push(std::string_view text, std::vector<TextChunk>& out) {
  if (stopped_) return true;
  pending_ += text;
  for (;;) {
    drop_leading_newlines();
    // The earliest stop string, then a marker only if it starts strictly before it.
    size_t stop_at = std::string::npos;
    for (const std::string& s : stop_) stop_at = std::min(stop_at, pending_.find(s));
    const std::string* marker = nullptr;
    size_t marker_at = std::string::npos;
    if (may_close_) {
      marker = &kThinkClose;
      marker_at = pending_.find(kThinkClose);
    } else if (may_open_ && pending_.starts_with(kThinkOpen)) {
      marker = &kThinkOpen;
      marker_at = 0;
    }
    if (marker_at != std::string::npos && marker_at < stop_at) {
      emit(marker_at, out);
      text_ += *marker;
      pending_.erase(0, marker->size());
      channel_ = marker == &kThinkOpen ? Channel::Reasoning : Channel::Answer;
      may_open_ = false;
      may_close_ = channel_ == Channel::Reasoning;
      after_marker_ = true;
      continue;
    }
    if (stop_at != std::string::npos) {
      emit(stop_at, out);
      pending_.clear();
      stopped_ = true;
      return true;
    }
    emit(pending_.size() - held_back(), out);
    return false;
  }
}

void ChannelSplitter::flush(std::vector<TextChunk>& out) {
  if (stopped_) return;
  drop_leading_newlines();
  emit(pending_.size(), out);
}

}  // namespace r1
