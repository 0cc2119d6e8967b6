// r1 chat: an interactive conversation in the terminal. Earlier turns stay in the KV cache (the
// session reuses the common prefix), Ctrl+C stops the current answer, /clear starts over, /exit
// (or end of input) leaves.
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generation_flags.h"
#include "cli/stream_printer.h"
#include "cli/terminal.h"
#include "core/error.h"

namespace r1::cli {

int cmd_chat(const Argv& argv) {
  std::vector<Flag> flags = model_flags();
  for (Flag f : generation_flags()) flags.push_back(f);
  flags.push_back({"--system", "", FlagKind::String, "", "a system prompt (R1 recommends none)", "TEXT"});
  flags.push_back({"--hide-reasoning", "", FlagKind::Bool, "", "print only the answers, not the thinking"});
  Args a("chat", "[-m PATH] [flags]", flags);
  if (a.parse_or_help(argv)) return 0;
  auto model = load_model(a);
  const int64_t n_ctx = context_from(a, *model);
  Session session(*model, n_ctx, threads_from(a));
  GenerationParams params = generation_params(a, *model);
  const Style style = Style::for_stdout();
  const bool interactive = stdin_is_tty();

  std::vector<ChatMessage> history;
  auto reset = [&] {
    history.clear();
    if (a.has("--system")) history.push_back({"system", a.str("--system"), std::nullopt, {}});
  };
  reset();
  if (interactive)
    std::printf("%sr1 chat — %s, context %lld. /clear starts over, /exit leaves, Ctrl+C stops an answer.%s\n",
                style.dim.c_str(), model->path().c_str(), static_cast<long long>(n_ctx), style.reset.c_str());

  std::string line;
  while (true) {
    if (interactive) {
      std::printf("%s> %s", style.bold.c_str(), style.reset.c_str());
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/clear") {
      reset();
      std::printf("%s(conversation cleared)%s\n", style.dim.c_str(), style.reset.c_str());
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!line.empty() && line[0] == '/') {
      std::printf("unknown command %s (try /clear or /exit)\n", line.c_str());
      continue;
    }
    history.push_back({"user", line, std::nullopt, {}});
    try {
      GenerationResult r =
          generate_printed(session, session.chat_prompt(history), params, !a.flag("--hide-reasoning"));
      if (r.finish_reason == "cancelled") std::printf("%s(stopped)%s\n", style.dim.c_str(), style.reset.c_str());
      if (r.finish_reason == "context")
        std::printf("%s(context full: /clear to start over)%s\n", style.dim.c_str(), style.reset.c_str());
      history.push_back({"assistant", r.answer, std::nullopt, {}});
    } catch (const Error& e) {
      // A turn that cannot run (e.g. the conversation no longer fits) is reported; the chat goes on.
      history.pop_back();
      std::printf("error: %s\n", e.what());
    }
  }
  if (interactive) std::printf("\n");
  return 0;
}

}  // namespace r1::cli
