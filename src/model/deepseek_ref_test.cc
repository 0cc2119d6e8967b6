// Our DeepSeek forward pass against an independent NumPy float64 implementation written from the
// SPEC (tests/deepseek_ref.py: own safetensors/BF16/FP8 decoding, naive MLA with kv_b_proj), on
// the Hugging Face copies. Uses Debian's /usr/bin/python3 with python3-numpy (scripts/setup.sh).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "model/deepseek_forward.h"
#include "model/deepseek_model.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

const std::string kData = std::string(R1_TEST_DATA_DIR) + "/";

std::vector<float> read_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// llama_ref: the llama.cpp reference of the same weights, which the NumPy result must match too.
void compare_with_numpy(const std::string& model_dir, const std::string& llama_ref, Fp8Mode fp8) {
  const std::string dir = kData + "models/" + model_dir, tokens = kData + "refs/tokens.txt";
  const std::string out = std::string(R1_BINARY_DIR) + "/deepseek_ref_" + model_dir + ".f32";
  std::remove(out.c_str());
  const std::string cmd = "/usr/bin/python3 '" + std::string(R1_SOURCE_DIR) + "/tests/deepseek_ref.py' '" + dir + "' '" +
                          tokens + "' '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::vector<float> want = read_f32(out);
  auto rel_diff = [](const std::vector<float>& got, const std::vector<float>& ref) {
    double d = 0, m = 0;
    for (size_t i = 0; i < ref.size(); i++) {
      d = std::max(d, std::abs(double(got[i]) - ref[i]));
      m = std::max(m, std::abs(double(ref[i])));
    }
    return d / m;
  };
  const std::vector<float> llama = read_f32(kData + "refs/" + llama_ref + ".logits.f32");
  ASSERT_EQ(want.size(), llama.size());
  const double numpy_vs_llama = rel_diff(want, llama);
  EXPECT_LT(numpy_vs_llama, 1e-5) << "the NumPy reference itself disagrees with llama.cpp";

  auto model = DeepseekModel::load(dir, fp8);
  const DeepseekConfig& c = model->config();
  std::vector<int32_t> ids;
  std::ifstream tf(tokens);
  for (int32_t x; tf >> x;) ids.push_back(x);
  const auto n = int64_t(ids.size());
  ASSERT_EQ(want.size(), size_t(n * c.n_vocab));
  ThreadPool pool(2);
  DeepseekActivations act(c, n, n, pool.size());
  LatentKVCache cache = make_latent_cache(c, n);
  std::vector<float> got(want.size());
  deepseek_forward(c, model->weights(), cache, act, pool, ids.data(), n, true, got.data());
  const double ours_vs_numpy = rel_diff(got, want);
  std::printf("  %-24s ours vs NumPy float64 %.3g, NumPy vs llama.cpp %.3g (max|d|/max|ref|)\n", model_dir.c_str(),
              ours_vs_numpy, numpy_vs_llama);
  EXPECT_LT(ours_vs_numpy, 1e-5) << model_dir;
}

TEST(DeepseekNumpyRef, Fp8CheckpointAsStored) { compare_with_numpy("deepseek2-mini-hf-fp8", "deepseek2-mini-f32", Fp8Mode::AsStored); }
TEST(DeepseekNumpyRef, Bf16Checkpoint) { compare_with_numpy("deepseek2-mini-hf", "deepseek2-mini-f32", Fp8Mode::AsStored); }
TEST(DeepseekNumpyRef, LiteCheckpoint) { compare_with_numpy("deepseek2-lite-mini-hf", "deepseek2-lite-mini-f32", Fp8Mode::AsStored); }

}  // namespace
}  // namespace r1
