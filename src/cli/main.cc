// r1: one command-line tool over libr1. Every error a user can cause ends as one line on stderr.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const r1::cli::Argv&);
  const char* help;
};

const Command kCommands[] = {
    {"run", r1::cli::cmd_run, "one completion of a prompt, streamed (R1 chat template)"},
    {"chat", r1::cli::cmd_chat, "interactive chat in the terminal"},
    {"serve", r1::cli::cmd_serve, "OpenAI/DeepSeek-compatible API server and web chat app"},
    {"tokenize", r1::cli::cmd_tokenize, "print the token ids of a text"},
    {"logits", r1::cli::cmd_logits, "write the float32 logits of every position of a token sequence"},
    {"info", r1::cli::cmd_info, "show a model's architecture, shapes, tensor types and size"},
    {"gen-model", r1::cli::cmd_gen_model, "write a random-weight model of any supported shape"},
    {"train", r1::cli::cmd_train, "train a DeepSeek-V3 model or a dense student on a task (pretrain, sft, grpo, distill)"},
    {"eval", r1::cli::cmd_eval, "pass@1 / pass@k / maj@k of a model on held-out task problems"},
    {"plot", r1::cli::cmd_plot, "draw a training log (r1 train --log) as an SVG of small charts"},
    {"convert", r1::cli::cmd_convert, "convert a Hugging Face model directory to GGUF (any weight type)"},
    {"bench", r1::cli::cmd_bench, "prompt and generation speed (llama-bench style); --stream: memory bandwidth"},
};

void usage() {
  std::printf("r1 — DeepSeek-R1 inference engine\n\nusage: r1 COMMAND [flags]   (r1 COMMAND --help for its flags)\n\n"
              "commands:\n");
  for (const auto& c : kCommands) std::printf("  %-11s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 1 : 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(args);
    } catch (const r1::Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory\n");
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s' (run r1 --help)\n", argv[1]);
  return 1;
}
