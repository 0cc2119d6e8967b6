// Our DeepSeek forward pass and MTP module against an independent NumPy float64 implementation
// written from the SPEC (tests/deepseek_ref.py: own safetensors/BF16/FP8 decoding, naive MLA with
// kv_b_proj, the MTP layer of §1.10), on the Hugging Face copies. Uses Debian's /usr/bin/python3
// with python3-numpy (scripts/setup.sh).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "model/deepseek_context.h"
#include "model/deepseek_forward.h"
#include "model/deepseek_model.h"
#include "util/threadpool.h"
#include "testing/reference_data.h"

namespace r1 {
namespace {
using r1::test_data::read_f32;
using r1::test_data::rel_err;

const std::string kData = std::string(R1_TEST_DATA_DIR) + "/";


// llama_ref: the llama.cpp reference of the same weights, which the NumPy result must match too.
// check_mtp: also compare the MTP module's logits at every position of the prompt (row i: hidden
// h_i and next token ids[i+1]), through mtp_forward on the whole prompt and through
// DeepseekContext::draft one token at a time.
void compare_with_numpy(const std::string& model_dir, const std::string& llama_ref, Fp8Mode fp8, bool check_mtp) {
  const std::string dir = kData + "models/" + model_dir, tokens = kData + "refs/tokens.txt";
  const std::string out = std::string(R1_BINARY_DIR) + "/deepseek_ref_" + model_dir + ".f32";
  const std::string mtp_out = std::string(R1_BINARY_DIR) + "/deepseek_ref_" + model_dir + ".mtp.f32";
  std::remove(out.c_str());
  std::remove(mtp_out.c_str());
  std::string cmd = "/usr/bin/python3 '" + std::string(R1_SOURCE_DIR) + "/tests/deepseek_ref.py' '" + dir + "' '" +
                    tokens + "' '" + out + "'";
  if (check_mtp) cmd += " '" + mtp_out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::vector<float> want = read_f32(out);
  const std::vector<float> llama = read_f32(kData + "refs/" + llama_ref + ".logits.f32");
  ASSERT_EQ(want.size(), llama.size());
  const double numpy_vs_llama = rel_err(want.data(), llama);
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
  std::vector<float> got(want.size()), hidden(size_t(n * c.n_embd));
  deepseek_forward(c, model->weights(), cache, act, pool, ids.data(), n, true, got.data(), hidden.data());
  const double ours_vs_numpy = rel_err(got.data(), want);
  std::printf("  %-24s ours vs NumPy float64 %.3g, NumPy vs llama.cpp %.3g (max|d|/max|ref|)\n", model_dir.c_str(),
              ours_vs_numpy, numpy_vs_llama);
  EXPECT_LT(ours_vs_numpy, 1e-5) << model_dir;
  if (!check_mtp) return;

  ASSERT_TRUE(model->weights().mtp.has_value()) << model_dir << ": the MTP layer was not loaded";
  const std::vector<float> want_mtp = read_f32(mtp_out);
  ASSERT_EQ(want_mtp.size(), size_t((n - 1) * c.n_vocab));
  // The whole prompt at once: MTP row i consumes h_i and ids[i+1].
  LatentKVCache mtp_cache = make_mtp_cache(c, n);
  std::vector<float> got_mtp(want_mtp.size());
  mtp_forward(c, *model->weights().mtp, mtp_cache, act, pool, ids.data() + 1, hidden.data(), n - 1, got_mtp.data());
  const double batch_vs_numpy = rel_err(got_mtp.data(), want_mtp);

  // One token at a time, as speculative decoding uses it: after ids[0..i], draft(ids[i+1]) is row i.
  DeepseekContext ctx(c, model->weights(), n, pool, 4);
  ASSERT_TRUE(ctx.enable_drafts());
  std::vector<float> main_row(size_t(c.n_vocab)), drafts(want_mtp.size());
  for (int64_t i = 0; i + 1 < n; i++) {
    ctx.forward(&ids[size_t(i)], 1, false, main_row.data());
    ctx.draft(ids[size_t(i + 1)], drafts.data() + i * c.n_vocab);
  }
  const double draft_vs_numpy = rel_err(drafts.data(), want_mtp);
  // Each row on its own too, so that a small row next to a large one cannot hide.
  double worst_row = 0;
  for (int64_t i = 0; i + 1 < n; i++) {
    const std::vector<float> ref(want_mtp.begin() + i * c.n_vocab, want_mtp.begin() + (i + 1) * c.n_vocab);
    worst_row = std::max({worst_row, rel_err(got_mtp.data() + i * c.n_vocab, ref),
                          rel_err(drafts.data() + i * c.n_vocab, ref)});
  }
  std::printf("  %-24s MTP vs NumPy: mtp_forward %.3g, draft() %.3g, worst row %.3g (%lld positions)\n",
              model_dir.c_str(), batch_vs_numpy, draft_vs_numpy, worst_row, static_cast<long long>(n - 1));
  EXPECT_LT(batch_vs_numpy, 1e-5) << model_dir;
  EXPECT_LT(draft_vs_numpy, 1e-5) << model_dir;
  EXPECT_LT(worst_row, 1e-5) << model_dir;
}

TEST(DeepseekNumpyRef, Fp8CheckpointAsStoredWithMtp) {
  compare_with_numpy("deepseek2-mini-hf-fp8", "deepseek2-mini-f32", Fp8Mode::AsStored, true);
}
TEST(DeepseekNumpyRef, Bf16CheckpointWithMtp) {
  compare_with_numpy("deepseek2-mini-hf", "deepseek2-mini-f32", Fp8Mode::AsStored, true);
}
TEST(DeepseekNumpyRef, LiteCheckpoint) {
  compare_with_numpy("deepseek2-lite-mini-hf", "deepseek2-lite-mini-f32", Fp8Mode::AsStored, false);
}

}  // namespace
}  // namespace r1
