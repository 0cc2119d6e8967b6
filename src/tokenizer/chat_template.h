// The DeepSeek-R1 chat format, rendered natively (no Jinja engine). It reproduces the official
// template byte for byte, quirks included (SPEC §4.3):
//   * BOS, then the system prompt with no marker (only the LAST system message's content),
//   * "<｜User｜>" + content for user turns,
//   * "<｜Assistant｜>" + content + "<｜end▁of▁sentence｜>" for assistant turns, where content is cut
//     to what follows the last "</think>" (earlier turns' reasoning is dropped),
//   * tool calls / tool outputs with the <｜tool▁…｜> markers (a single call is never closed; the
//     "first call" flag is never reset across messages; a later call repeats the closer),
//   * generation prompt "<｜Assistant｜><think>\n" (unless the conversation ends in tool output).
// detect_chat_format() reads a file's Jinja template to pick the variant: DeepSeek-V3's template
// joins all system messages and keeps reasoning, the original January-2025 R1 template ends the
// generation prompt at "<｜Assistant｜>". A template that is not DeepSeek's (no "<｜Assistant｜>")
// is reported as unrecognized and rendered in the R1 format anyway.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

struct ToolCall {
  std::string type = "function";
  std::string name;
  std::string arguments;  // JSON text, inserted verbatim
};

struct ChatMessage {
  std::string role;                    // "system", "user", "assistant" or "tool"
  std::optional<std::string> content;  // nullopt (JSON null): an assistant turn that only calls tools
  std::optional<std::string> reasoning_content;  // accepted but not rendered: the R1 format drops reasoning
  std::vector<ToolCall> tool_calls;
};

struct ChatFormat {
  bool recognized = true;        // the template is a DeepSeek one
  bool think_in_prompt = true;   // the generation prompt ends with "<think>\n"
  bool join_system = false;      // all system messages, joined by "\n\n" (V3) instead of the last one
  bool strip_reasoning = true;   // assistant content is cut after the last "</think>"
};

inline constexpr std::string_view kDeepSeekBos = "<｜begin▁of▁sentence｜>";

ChatFormat detect_chat_format(std::string_view jinja_template);

// Throws r1::Error for an unknown role.
std::string render_chat(std::span<const ChatMessage> messages, bool add_generation_prompt,
                        const ChatFormat& format = {}, std::string_view bos_token = kDeepSeekBos);

}  // namespace r1
