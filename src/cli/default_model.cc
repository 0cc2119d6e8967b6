#include "cli/default_model.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/error.h"

namespace r1::cli {
namespace fs = std::filesystem;

std::string default_model_path() {
  if (const char* env = std::getenv("R1_MODEL"); env && *env) {
    if (!fs::exists(env)) fail("R1_MODEL=", env, ": no such file or directory");
    return env;
  }
  std::vector<fs::path> candidates;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
      candidates.push_back(dir / "models" / "default.gguf");
  candidates.push_back(fs::current_path() / "models" / "default.gguf");
  for (const fs::path& p : candidates)
    if (fs::exists(p)) return p.string();
  fail("no model given and no default model found (looked for models/default.gguf above the r1 binary and in the "
       "current directory); pass -m PATH, set R1_MODEL, or run scripts/build.sh, which creates it");
}

}  // namespace r1::cli
