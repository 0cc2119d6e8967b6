// A generation session over a DeepSeek model: the session only sees an InferenceContext, here the
// latent-cache one, and must reproduce llama.cpp's greedy continuation (tests/data §4).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "runtime/session.h"

namespace r1 {
namespace {

const std::string kData = std::string(R1_TEST_DATA_DIR) + "/";

void expect_reference_greedy(const std::string& model_path, const std::string& ref) {
  auto model = Model::load(kData + "models/" + model_path);
  std::vector<int32_t> prompt;
  std::ifstream tf(kData + "refs/tokens.txt");
  for (int32_t x; tf >> x;) prompt.push_back(x);
  std::ifstream jf(kData + "refs/" + ref + ".json");
  const auto greedy = nlohmann::json::parse(jf)["greedy"].get<std::vector<int32_t>>();

  Session s(*model, 128, 2);
  GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = int64_t(greedy.size());
  p.ignore_eos = true;  // the reference continuation runs through EOS (id 1) at its last step
  const GenerationResult r = s.generate(prompt, p);
  EXPECT_EQ(r.tokens, greedy) << model_path;
  // A second turn that extends the first reuses the cache (all but the last prompt token, which is
  // run again for its logits) after truncating the latent cache to the shared prefix.
  std::vector<int32_t> longer = prompt;
  longer.insert(longer.end(), greedy.begin(), greedy.begin() + 4);
  p.max_tokens = 4;
  const GenerationResult r2 = s.generate(longer, p);
  EXPECT_EQ(r2.cached_prompt_tokens, int64_t(longer.size()) - 1);
  EXPECT_EQ(r2.tokens, std::vector<int32_t>(greedy.begin() + 4, greedy.begin() + 8)) << model_path;
}

TEST(DeepseekSession, GreedyMatchesLlamaCppMla) { expect_reference_greedy("deepseek2-mini-f32.gguf", "deepseek2-mini-f32"); }
TEST(DeepseekSession, GreedyMatchesLlamaCppFp8Dir) { expect_reference_greedy("deepseek2-mini-hf-fp8", "deepseek2-mini-f32"); }
TEST(DeepseekSession, GreedyMatchesLlamaCppLegacyLite) {
  expect_reference_greedy("deepseek2-lite-mini-f32.gguf", "deepseek2-lite-mini-f32");
}

}  // namespace
}  // namespace r1
