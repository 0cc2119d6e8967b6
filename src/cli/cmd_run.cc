// r1 run: one completion, streamed. The prompt goes through the model's chat template (R1 format)
// unless --raw is given.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generation_flags.h"
#include "cli/stream_printer.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

int cmd_run(const Argv& argv) {
  std::vector<Flag> flags = model_flags();
  for (Flag f : generation_flags()) flags.push_back(f);
  flags.push_back({"--prompt", "-p", FlagKind::String, "", "the user's message (or the raw text with --raw)", "TEXT"});
  flags.push_back({"--system", "", FlagKind::String, "", "a system prompt (R1 recommends none)", "TEXT"});
  flags.push_back({"--raw", "", FlagKind::Bool, "", "feed the prompt as is, without the chat template"});
  flags.push_back({"--hide-reasoning", "", FlagKind::Bool, "", "print only the answer, not the thinking"});
  flags.push_back({"--verbose", "-v", FlagKind::Bool, "", "print token counts and speeds on stderr at the end"});
  Args a("run", "[-m PATH] -p TEXT [flags]", flags);
  if (a.parse_or_help(argv)) return 0;
  std::string prompt = a.str("--prompt");
  if (prompt.empty() && !a.positional().empty()) prompt = a.positional()[0];
  if (prompt.empty()) fail("run: no prompt given (-p TEXT)");

  auto model = load_model(a);
  Session session(*model, context_from(a, *model), threads_from(a));
  GenerationParams params = generation_params(a, *model);

  std::vector<int32_t> ids;
  if (a.flag("--raw")) {
    ids = model->tokenizer().encode(prompt, true);
  } else {
    std::vector<ChatMessage> messages;
    if (a.has("--system")) messages.push_back({"system", a.str("--system"), std::nullopt, {}});
    messages.push_back({"user", prompt, std::nullopt, {}});
    ids = session.chat_prompt(messages);
  }

  GenerationResult r = generate_printed(session, ids, params, !a.flag("--hide-reasoning"));
  if (a.flag("--verbose"))
    std::fprintf(stderr,
                 "[%lld prompt tokens, %.1f t/s | %lld generated (%lld reasoning), %.1f t/s | finish: %s]\n",
                 static_cast<long long>(r.prompt_tokens), r.prefill_tokens_per_second,
                 static_cast<long long>(r.completion_tokens), static_cast<long long>(r.reasoning_tokens),
                 r.decode_tokens_per_second, r.finish_reason.c_str());
  if (a.flag("--verbose") && params.mtp)
    std::fprintf(stderr, "[MTP: %lld of %lld drafts accepted]\n", static_cast<long long>(r.accepted_draft_tokens),
                 static_cast<long long>(r.draft_tokens));
  return 0;
}

}  // namespace r1::cli
