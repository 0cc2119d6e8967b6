#include "tokenizer/chat_template.h"

#include "core/error.h"

namespace r1 {

ChatFormat detect_chat_format(std::string_view t) {
  const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  ChatFormat f;
  f.recognized = has("<｜Assistant｜>") && has("<｜User｜>");
  if (!f.recognized) return f;  // unknown: the R1 defaults
  f.think_in_prompt = has("<｜Assistant｜><think>");
  f.join_system = has("is_first_sp");  // V3's flag for "first system prompt"
  f.strip_reasoning = has("</think>");
  return f;
}

std::string render_chat(std::span<const ChatMessage> messages, bool add_generation_prompt, const ChatFormat& format,
                        std::string_view bos_token) {
  constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
  const auto text = [](const ChatMessage& m) -> const std::string& {
    static const std::string none;
    return m.content ? *m.content : none;
  };

  std::string system;
  bool first_system = true;
  for (const ChatMessage& m : messages) {
    if (m.role != "system") continue;
    if (format.join_system && !first_system) system += "\n\n" + text(m);
    else system = text(m);
    first_system = false;
  }

  std::string out(bos_token);
  out += system;
  // The template's namespace flags, with its names.
  bool is_first = false;  // "a tool call has been emitted" -- never reset
  bool is_tool = false;   // the previous message was tool output
  bool is_output_first = true;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") continue;
    if (m.role == "user") {
      is_tool = false;
      out += "<｜User｜>" + text(m);
    } else if (m.role == "assistant" && !m.content) {
      is_tool = false;
      for (const ToolCall& call : m.tool_calls) {
        const std::string body = call.type + "<｜tool▁sep｜>" + call.name + "\n```json\n" + call.arguments +
                                 "\n```<｜tool▁call▁end｜>";
        if (!is_first) {
          out += "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + body;
          is_first = true;
        } else {
          out += "\n<｜tool▁call▁begin｜>" + body + "<｜tool▁calls▁end｜>" + std::string(kEos);
        }
      }
    } else if (m.role == "assistant") {
      if (is_tool) {
        out += "<｜tool▁outputs▁end｜>" + *m.content + std::string(kEos);
        is_tool = false;
      } else {
        std::string_view content = *m.content;
        if (const size_t end = content.rfind("</think>"); format.strip_reasoning && end != std::string_view::npos)
          content.remove_prefix(end + std::string_view("</think>").size());
        out += "<｜Assistant｜>";
        out += content;
        out += kEos;
      }
    } else if (m.role == "tool") {
      is_tool = true;
      out += is_output_first ? "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>" : "\n<｜tool▁output▁begin｜>";
      out += text(m) + "<｜tool▁output▁end｜>";
      is_output_first = false;
    } else {
      fail("chat message has unknown role \"", m.role, "\" (expected system, user, assistant or tool)");
    }
  }
  if (is_tool) out += "<｜tool▁outputs▁end｜>";
  if (add_generation_prompt && !is_tool) out += format.think_in_prompt ? "<｜Assistant｜><think>\n" : "<｜Assistant｜>";
  return out;
}

}  // namespace r1
