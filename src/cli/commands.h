// The `r1` subcommands. Each takes the arguments after its name and returns the exit code.
#pragma once
#include <string>
#include <vector>

namespace r1::cli {

using Argv = std::vector<std::string>;

int cmd_run(const Argv& args);
int cmd_chat(const Argv& args);
int cmd_serve(const Argv& args);
int cmd_tokenize(const Argv& args);
int cmd_logits(const Argv& args);
int cmd_info(const Argv& args);
int cmd_gen_model(const Argv& args);
int cmd_train(const Argv& args);
int cmd_eval(const Argv& args);
int cmd_plot(const Argv& args);
int cmd_convert(const Argv& args);
int cmd_bench(const Argv& args);

}  // namespace r1::cli
