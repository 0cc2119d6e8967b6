// Where `r1 chat` / `r1 run` / `r1 serve` find a model when no -m is given.
#pragma once
#include <string>

namespace r1::cli {

// $R1_MODEL if set; else models/default.gguf next to the source tree the binary was built from
// (found relative to the executable: build/<preset>/r1 → ../../models), or under the current
// directory. Throws r1::Error explaining how to get one when none exists.
std::string default_model_path();

}  // namespace r1::cli
