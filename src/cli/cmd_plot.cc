// r1 plot: a training log (r1 train --log, one JSON object a line) drawn as an SVG, one small
// panel per quantity over `step`. Defaults: for a GRPO log reward, accuracy, format, response
// length, KL, the entropy proxy, zero-variance groups and the experts' load balance; for a
// pretraining / SFT log the losses. The load balance is MaxVio (DeepSeek-V3's measure): per MoE
// block max load / mean load - 1, averaged over the blocks. A null value (NaN) is left out.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "util/svg_plot.h"

namespace r1::cli {
namespace {

constexpr const char* kMaxVio = "max_vio";  // the derived key: from each line's expert_load

const std::vector<std::string> kGrpoKeys = {"reward", "accuracy", "format", "response_length", "kl", "entropy_proxy",
                                            "zero_variance_groups"};
const std::vector<std::string> kPretrainKeys = {"loss", "lm", "mtp"};

std::vector<std::string> split_keys(const std::string& s) {
  std::vector<std::string> keys;
  std::stringstream ss(s);
  for (std::string k; std::getline(ss, k, ',');) {
    if (!k.empty()) keys.push_back(k);
  }
  return keys;
}

// MaxVio of one line's expert_load ([blocks][experts] token counts; [] for a dense block);
// NaN when no block has any load.
double max_vio(const nlohmann::json& load, const std::string& where) {
  if (!load.is_array()) fail(where, ": expert_load is not an array");
  double sum = 0;
  int64_t blocks = 0;
  for (const auto& block : load) {
    if (!block.is_array()) fail(where, ": expert_load holds a block that is not a list of loads");
    if (block.empty()) continue;  // a dense block (or the MTP layer's, when it has none)
    double total = 0, most = 0;
    for (const auto& v : block) {
      if (!v.is_number()) fail(where, ": expert_load holds a non-number");
      total += v.get<double>();
      most = std::max(most, v.get<double>());
    }
    const double mean = total / double(block.size());
    if (mean > 0) sum += most / mean - 1, blocks++;
  }
  return blocks > 0 ? sum / double(blocks) : NAN;
}

}  // namespace

int cmd_plot(const Argv& argv) {
  Args a("plot", "LOG.jsonl [-o OUT.svg] [--keys K1,K2,...]",
         {
             {"--output", "-o", FlagKind::String, "", "SVG to write (default: LOG with .svg)", "PATH"},
             {"--keys", "", FlagKind::String, "",
              "quantities to draw, comma-separated; max_vio = expert load balance (default: by the log's kind)", "LIST"},
             {"--title", "", FlagKind::String, "", "title (default: the log's file name)", "TEXT"},
             {"--columns", "", FlagKind::Int, "3", "panels per row", "N"},
         });
  if (a.parse_or_help(argv)) return 0;
  if (a.positional().size() != 1) fail("plot: give exactly one LOG.jsonl (got ", a.positional().size(), ")");
  const std::string path = a.positional()[0];
  std::ifstream f(path);
  if (!f) fail("plot: cannot read ", path);
  std::vector<nlohmann::json> lines;
  std::vector<int64_t> line_no;
  int64_t no = 0;
  for (std::string line; std::getline(f, line);) {
    no++;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) fail("plot: ", path, ":", no, " is not a JSON object");
    lines.push_back(std::move(j));
    line_no.push_back(no);
  }
  if (lines.empty()) fail("plot: ", path, " holds no log lines");

  std::vector<std::string> keys;
  if (a.has("--keys")) {
    keys = split_keys(a.str("--keys"));
    if (keys.empty()) fail("plot: --keys is empty");
  } else {
    const nlohmann::json& first = lines[0];
    keys = first.contains("reward") ? kGrpoKeys : kPretrainKeys;
    const auto load = first.find("expert_load");
    if (load != first.end() && load->is_array() && !load->empty()) keys.push_back(kMaxVio);
  }

  std::vector<PlotSeries> panels;
  for (const std::string& key : keys) {
    PlotSeries s;
    s.title = key == kMaxVio ? "expert load MaxVio" : key;
    for (size_t i = 0; i < lines.size(); i++) {
      const nlohmann::json& j = lines[i];
      const std::string where = path + ":" + std::to_string(line_no[i]);
      const auto step = j.find("step");
      if (step == j.end() || !step->is_number()) fail("plot: ", where, " has no numeric \"step\"");
      double y;
      if (key == kMaxVio) {
        const auto load = j.find("expert_load");
        if (load == j.end()) fail("plot: ", where, " has no \"expert_load\" (needed for max_vio)");
        y = max_vio(*load, "plot: " + where);
        if (std::isnan(y)) fail("plot: ", where, ": expert_load has no block with load");
      } else {
        const auto v = j.find(key);
        if (v == j.end()) fail("plot: ", where, " has no key \"", key, "\"");
        if (v->is_null()) continue;  // a NaN or infinity, which JSON writes as null: a gap
        if (!v->is_number()) fail("plot: ", where, ": \"", key, "\" is not a number");
        y = v->get<double>();
      }
      s.x.push_back(step->get<double>());
      s.y.push_back(y);
    }
    if (s.x.empty()) fail("plot: \"", key, "\" is null on every line of ", path);
    panels.push_back(std::move(s));
  }

  std::string title = a.has("--title") ? a.str("--title") : path.substr(path.find_last_of('/') + 1);
  const std::string svg = svg_panels(panels, title, int(a.i64("--columns")));
  std::string out = a.str("--output");
  if (out.empty()) {
    const size_t dot = path.find_last_of('.'), slash = path.find_last_of('/');
    out = (dot != std::string::npos && (slash == std::string::npos || dot > slash) ? path.substr(0, dot) : path) + ".svg";
  }
  std::ofstream o(out);
  o << svg;
  if (!o) fail("plot: cannot write ", out);
  std::printf("%s: %zu panels, %zu steps\n", out.c_str(), panels.size(), lines.size());
  return 0;
}

}  // namespace r1::cli
