// Re-quantizing the F32 weights of the test models with our quantizers must give byte for byte
// the tensors llama-quantize wrote (no imatrix): Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K and Q6_K.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "ops/quant.h"

namespace r1 {
namespace {

void expect_requantized_equal(const std::string& f32_file, const std::string& quant_file, int min_tensors) {
  const std::string dir = std::string(R1_TEST_DATA_DIR) + "/models/";
  const auto f32 = GgufFile::open(dir + f32_file);
  const auto q = GgufFile::open(dir + quant_file);
  int checked = 0;
  for (const TensorView& tq : q->tensors()) {
    if (!is_quantized(tq.type)) continue;
    const TensorView& tf = f32->tensor(tq.name);
    ASSERT_EQ(tf.type, DType::F32) << tq.name;
    ASSERT_EQ(tf.ne, tq.ne) << tq.name;
    const int64_t k = tq.ne[0];
    const size_t rb = row_bytes(tq.type, k);
    std::vector<uint8_t> out(rb);
    for (int64_t r = 0; r < tq.rows(); ++r) {
      quantize_row(tq.type, reinterpret_cast<const float*>(tf.row(r)), out.data(), k);
      ASSERT_EQ(std::memcmp(out.data(), tq.row(r), rb), 0)
          << quant_file << ": " << tq.name << " (" << dtype_name(tq.type) << ") row " << r << " differs";
    }
    ++checked;
  }
  EXPECT_GE(checked, min_tensors) << quant_file;
}

TEST(QuantGguf, Q8_0MatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q8_0.gguf", 16); }
TEST(QuantGguf, Q4_0MatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q4_0.gguf", 16); }
TEST(QuantGguf, Q4_1MatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q4_1.gguf", 16); }
TEST(QuantGguf, Q5_0MatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q5_0.gguf", 16); }
TEST(QuantGguf, Q5_1MatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q5_1.gguf", 16); }
TEST(QuantGguf, IQ4_NLMatchesLlamaQuantize) {
  expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-iq4_nl.gguf", 16);
}
TEST(QuantGguf, Q4_KMatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q4_k_m.gguf", 16); }
TEST(QuantGguf, Q5_KMatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q5_k_m.gguf", 16); }
TEST(QuantGguf, Q6_KMatchesLlamaQuantize) { expect_requantized_equal("qwen2-mini-f32.gguf", "qwen2-mini-q6_k.gguf", 16); }
TEST(QuantGguf, DeepseekQ8_0MatchesLlamaQuantize) {
  expect_requantized_equal("deepseek2-mini-f32.gguf", "deepseek2-mini-q8_0.gguf", 35);
}

}  // namespace
}  // namespace r1
