#include "convert/random_model.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "convert/tokenizer_export.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "ops/quant.h"

namespace r1 {
namespace {
namespace fs = std::filesystem;

const std::string kData = R1_TEST_DATA_DIR;

std::string tmp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("r1_convert_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<float> to_floats(const TensorView& t) {
  std::vector<float> out(t.n_elements());
  const int64_t row = t.ne[0];
  for (int64_t r = 0; r < t.rows(); ++r) dequantize_row(t.type, t.row(r), out.data() + r * row, row);
  return out;
}

TEST(TokenizerExport, SameKeysAsTheReferenceGguf) {
  // Our tokenizer.json → GGUF conversion gives the token list, types and merges llama.cpp wrote.
  for (const auto& [flavour, model] : std::vector<std::pair<std::string, std::string>>{
           {"qwen2", "qwen2-mini-f32"}, {"llama-bpe", "llama-mini-f32"}, {"deepseek-v3", "deepseek2-mini-f32"}}) {
    auto kv = gguf_tokenizer_kv(kData + "/tokenizer/tiny512-" + flavour + "/tokenizer.json", 512);
    auto g = GgufFile::open(kData + "/models/" + model + ".gguf");
    for (const auto& [key, value] : kv) {
      const GgufValue* ref = g->find(key);
      ASSERT_NE(ref, nullptr) << model << " lacks " << key;
      if (value.type == GgufType::ARRAY && key == "tokenizer.ggml.token_type")
        EXPECT_EQ(value.as_ints(), ref->as_ints()) << model << " " << key;
      else if (value.type == GgufType::ARRAY)
        EXPECT_EQ(value.as_strings(), ref->as_strings()) << model << " " << key;
      else if (value.type == GgufType::STRING)
        EXPECT_EQ(value.as_string(), ref->as_string()) << model << " " << key;
      else
        EXPECT_EQ(value.as_int(), ref->as_int()) << model << " " << key;
    }
  }
}

TEST(RandomDenseModel, GgufAndHfHoldTheSameWeights) {
  for (const std::string arch : {"qwen2", "llama"}) {
    DenseSpec s = dense_preset("tiny-" + arch);
    s.n_layer = 1;
    s.n_embd = 64;
    s.n_head = 2;
    s.n_head_kv = 1;
    s.head_dim = 16;  // q_dim 32 != n_embd 64: needs attention.key_length
    s.n_ff = 96;
    const std::string tok = kData + "/tokenizer/tiny512-" + std::string(arch == "qwen2" ? "qwen2" : "llama-bpe") +
                            "/tokenizer.json";
    ExportModel m = random_dense_model(s, 42, tok);
    std::string dir = tmp_dir(arch);
    write_gguf(m, dir + "/m.gguf", "f32");
    write_hf_dir(m, dir + "/hf", DType::BF16);
    auto g = GgufFile::open(dir + "/m.gguf");
    auto h = SafetensorsSet::open(dir + "/hf");
    EXPECT_EQ(g->get_string("general.architecture"), arch);
    EXPECT_EQ(g->get_int(arch + ".block_count"), 1);
    EXPECT_EQ(g->get_int(arch + ".attention.key_length"), 16);

    // Norms are exactly 1; embeddings identical in both files (bf16-rounded values).
    auto emb_g = to_floats(g->tensor("token_embd.weight"));
    auto emb_h = to_floats(h->get("model.embed_tokens.weight"));
    ASSERT_EQ(emb_g.size(), 512u * 64);
    EXPECT_EQ(emb_g, emb_h);
    for (float v : to_floats(g->tensor("blk.0.attn_norm.weight"))) EXPECT_EQ(v, 1.0f);

    // q rows: identical for qwen2, permuted per head for llama's GGUF.
    auto q_g = to_floats(g->tensor("blk.0.attn_q.weight"));
    auto q_h = to_floats(h->get("model.layers.0.self_attn.q_proj.weight"));
    for (int head = 0; head < 2; ++head)
      for (int i = 0; i < 8; ++i)
        for (int c = 0; c < 64; ++c) {
          const size_t hf_row = head * 16 + i, gg_row = arch == "qwen2" ? hf_row : head * 16 + 2 * i;
          EXPECT_EQ(q_g[gg_row * 64 + c], q_h[hf_row * 64 + c]);
        }
    EXPECT_EQ(h->find("rope_freqs.weight"), nullptr);
    EXPECT_EQ(g->find_tensor("rope_freqs.weight") != nullptr, arch == "llama");
  }
}

TEST(RandomDenseModel, DeterministicFromSeedAndQuantMixes) {
  DenseSpec s = dense_preset("tiny-qwen2");
  const std::string tok = kData + "/tokenizer/tiny512-qwen2/tokenizer.json";
  std::string dir = tmp_dir("mix");
  write_gguf(random_dense_model(s, 7, tok), dir + "/a.gguf", "q4_k_m");
  write_gguf(random_dense_model(s, 7, tok), dir + "/b.gguf", "q4_k_m");
  write_gguf(random_dense_model(s, 8, tok), dir + "/c.gguf", "q4_k_m");
  auto a = GgufFile::open(dir + "/a.gguf"), b = GgufFile::open(dir + "/b.gguf"), c = GgufFile::open(dir + "/c.gguf");
  const TensorView& ta = a->tensor("blk.0.ffn_up.weight");
  const TensorView& tb = b->tensor("blk.0.ffn_up.weight");
  const TensorView& tc = c->tensor("blk.0.ffn_up.weight");
  ASSERT_EQ(ta.nbytes, tb.nbytes);
  EXPECT_EQ(0, std::memcmp(ta.data, tb.data, ta.nbytes));
  EXPECT_NE(0, std::memcmp(ta.data, tc.data, ta.nbytes));
  // The same per-tensor types llama-quantize chose for the reference q4_k_m file.
  auto ref = GgufFile::open(kData + "/models/qwen2-mini-q4_k_m.gguf");
  for (const TensorView& t : ref->tensors()) EXPECT_EQ(a->tensor(t.name).type, t.type) << t.name;
  EXPECT_EQ(a->get_int("general.file_type"), 15);
}

// Rows that don't fit a K-quant's 256-element blocks take llama-quantize's fallback types: Q4_K → Q5_0,
// Q5_K → Q5_1, Q6_K → Q8_0; rows that fit no 32-block stay F16. (V2-Lite's experts are 1408 wide.)
TEST(RandomDenseModel, KQuantFallbackTypesAsLlamaQuantize) {
  auto tensor = [](const std::string& name, int64_t cols) {
    ExportTensor t;
    t.gguf_name = name;
    t.shape = {64, cols};
    t.is_matrix = true;
    return t;
  };
  EXPECT_EQ(gguf_tensor_type("q4_k_m", tensor("blk.1.ffn_up.weight", 1408), 8), DType::Q5_0);
  EXPECT_EQ(gguf_tensor_type("q5_k_m", tensor("blk.1.ffn_up.weight", 1408), 8), DType::Q5_1);
  EXPECT_EQ(gguf_tensor_type("q6_k", tensor("blk.1.ffn_up.weight", 1408), 8), DType::Q8_0);
  EXPECT_EQ(gguf_tensor_type("q4_k_m", tensor("blk.0.ffn_down.weight", 1408), 8), DType::Q8_0);  // Q6_K layer
  EXPECT_EQ(gguf_tensor_type("q4_k_m", tensor("blk.1.ffn_up.weight", 1400), 8), DType::F16);
  EXPECT_EQ(gguf_tensor_type("q4_k_m", tensor("blk.1.ffn_up.weight", 1536), 8), DType::Q4_K);
  EXPECT_EQ(gguf_tensor_type("iq4_nl", tensor("output.weight", 1536), 8), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type("q4_1", tensor("output.weight", 1536), 8), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type("q8_0", tensor("output.weight", 1536), 8), DType::Q8_0);
  EXPECT_EQ(gguf_tensor_type("f16", tensor("output.weight", 1536), 8), DType::F16);
  EXPECT_EQ(gguf_tensor_type("q5_0", tensor("blk.1.ffn_up.weight", 1536), 8), DType::Q5_0);
}

}  // namespace
}  // namespace r1
