// r1 plot on small logs: one polyline per key with one point per line, the GRPO defaults
// (MaxVio from expert_load included), and clear errors for bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "cli/commands.h"
#include "core/error.h"

namespace r1::cli {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  const fs::path d = fs::temp_directory_path() / ("r1_plot_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The points attributes of the SVG's polylines, in order.
std::vector<std::string> polylines(const std::string& svg) {
  std::vector<std::string> out;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) {
    const size_t b = svg.find("points=\"", at) + 8, e = svg.find('"', b);
    out.push_back(svg.substr(b, e - b));
  }
  return out;
}

size_t points(const std::string& pts) {
  std::stringstream ss(pts);
  size_t n = 0;
  for (std::string p; ss >> p;) n += p.find(',') != std::string::npos;
  return n;
}

// XML-ish: every element opened is closed in order (self-closing ones aside), one root <svg>.
bool well_formed(const std::string& s) {
  std::vector<std::string> open;
  size_t roots = 0;
  for (size_t at = s.find('<'); at != std::string::npos; at = s.find('<', at + 1)) {
    const size_t end = s.find('>', at);
    if (end == std::string::npos) return false;
    const std::string tag = s.substr(at + 1, end - at - 1);
    if (tag.empty() || tag[0] == '?') continue;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return false;
      open.pop_back();
    } else if (tag.back() != '/') {
      const std::string name = tag.substr(0, tag.find(' '));
      if (open.empty()) roots++;
      open.push_back(name);
    } else if (open.empty()) {
      return false;  // content outside the root
    }
  }
  return open.empty() && roots == 1;
}

const char* kGrpoLine =
    R"({"step":%d,"reward":%.2f,"accuracy":0.5,"format":0.75,"response_length":40,"kl":0.001,"clip_fraction":0,)"
    R"("entropy_proxy":1.5,"zero_variance_groups":2,"loss":0.1,"lr":0.001,"expert_load":[[],[10,20,30,40],[25,25,25,25],[]]})";

TEST(CmdPlot, GrpoLogGetsTheDefaultPanels) {
  const fs::path d = temp_dir();
  std::string log;
  for (int s = 0; s < 5; s++) {
    char b[512];
    std::snprintf(b, sizeof b, kGrpoLine, s, 0.2 * s);
    log += std::string(b) + "\n";
  }
  write(d / "grpo.jsonl", log + "\n");  // a trailing empty line is fine
  EXPECT_EQ(cmd_plot({(d / "grpo.jsonl").string(), "-o", (d / "grpo.svg").string()}), 0);
  const std::string svg = read(d / "grpo.svg");
  EXPECT_TRUE(well_formed(svg));
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 8u);  // 7 logged quantities + MaxVio
  for (const auto& l : lines) EXPECT_EQ(points(l), 5u);
  for (const char* title : {">reward<", ">accuracy<", ">zero_variance_groups<", ">expert load MaxVio<"})
    EXPECT_NE(svg.find(title), std::string::npos) << title;
  // MaxVio (dense blocks, [], left out): block 1 max 40 / mean 25 - 1 = 0.6, block 2 0; mean 0.3 on every line: the line
  // runs flat at the height of the last panel's "0.3" tick label (drawn 4 px below its tick).
  const size_t label = svg.rfind(">0.3</text>");
  ASSERT_NE(label, std::string::npos);
  const size_t y_at = svg.rfind(" y=\"", label) + 4;
  const double tick_y = std::stod(svg.substr(y_at)) - 4;
  std::stringstream ss(lines.back());
  for (std::string p; ss >> p;) EXPECT_NEAR(std::stod(p.substr(p.find(',') + 1)), tick_y, 0.02) << lines.back();
}

TEST(CmdPlot, ChosenKeysAndPretrainDefaults) {
  const fs::path d = temp_dir();
  write(d / "pre.jsonl",
        "{\"step\":0,\"loss\":8,\"lm\":6,\"mtp\":2,\"expert_load\":[]}\n"
        "{\"step\":1,\"loss\":7,\"lm\":5.5,\"mtp\":1.5,\"expert_load\":[]}\n"
        "{\"step\":2,\"loss\":6,\"lm\":4.6,\"mtp\":1.4,\"expert_load\":[]}\n");
  ASSERT_EQ(cmd_plot({(d / "pre.jsonl").string()}), 0);  // default output: pre.svg beside it
  auto lines = polylines(read(d / "pre.svg"));
  ASSERT_EQ(lines.size(), 3u);  // loss, lm, mtp (no MoE: no MaxVio)
  for (const auto& l : lines) EXPECT_EQ(points(l), 3u);
  ASSERT_EQ(cmd_plot({(d / "pre.jsonl").string(), "-o", (d / "lm.svg").string(), "--keys", "lm"}), 0);
  lines = polylines(read(d / "lm.svg"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(points(lines[0]), 3u);
}

std::string error_of(const Argv& argv) {
  try {
    cmd_plot(argv);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CmdPlot, BadInputFailsClearly) {
  const fs::path d = temp_dir();
  const std::string out = (d / "bad.svg").string();
  EXPECT_NE(error_of({(d / "missing.jsonl").string(), "-o", out}).find("cannot read"), std::string::npos);
  write(d / "notjson.jsonl", "{\"step\":0,\"loss\":1}\nloss = 2\n");
  EXPECT_NE(error_of({(d / "notjson.jsonl").string(), "-o", out}).find("notjson.jsonl:2 is not a JSON object"),
            std::string::npos);
  write(d / "nokey.jsonl", "{\"step\":0,\"loss\":1,\"lm\":1,\"mtp\":0}\n{\"step\":1,\"loss\":1,\"lm\":1}\n");
  EXPECT_NE(error_of({(d / "nokey.jsonl").string(), "-o", out}).find("nokey.jsonl:2 has no key \"mtp\""),
            std::string::npos);
  EXPECT_NE(error_of({(d / "nokey.jsonl").string(), "-o", out, "--keys", "reward"}).find("has no key \"reward\""),
            std::string::npos);
  EXPECT_NE(error_of({(d / "nokey.jsonl").string(), "-o", out, "--keys", "max_vio"}).find("expert_load"),
            std::string::npos);
  write(d / "empty.jsonl", "\n");
  EXPECT_NE(error_of({(d / "empty.jsonl").string(), "-o", out}).find("no log lines"), std::string::npos);
  EXPECT_NE(error_of({}).find("exactly one"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));  // nothing written on failure
}

}  // namespace
}  // namespace r1::cli
