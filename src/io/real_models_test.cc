// Every model in tests/data/models, opened with the readers and checked against manifest.json:
// each GGUF's metadata values and tensor table, each HF directory's tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "io/gguf.h"
#include "io/hf_config.h"
#include "io/safetensors.h"

namespace r1 {
namespace {

const std::string kModels = std::string(R1_TEST_DATA_DIR) + "/models/";

const nlohmann::json& manifest() {
  static const nlohmann::json m = read_json_file(std::string(R1_TEST_DATA_DIR) + "/manifest.json")["models"];
  return m;
}

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

// The manifest summarises long values: "array[512]", "string[2090 chars]".
void expect_value(const GgufValue& v, const nlohmann::json& want, const std::string& what) {
  if (want.is_boolean()) {
    EXPECT_EQ(v.as_bool(what), want.get<bool>()) << what;
  } else if (want.is_number_integer()) {
    EXPECT_EQ(v.as_int(what), want.get<int64_t>()) << what;
  } else if (want.is_number_float()) {
    EXPECT_DOUBLE_EQ(v.as_float(what), want.get<double>()) << what;  // f32 widened exactly, both sides
  } else {
    const std::string s = want.get<std::string>();
    size_t n = 0;
    if (std::sscanf(s.c_str(), "array[%zu]", &n) == 1 && s.back() == ']') {
      EXPECT_EQ(v.as_array(what).items.size(), n) << what;
    } else if (s.starts_with("string[") && s.ends_with(" chars]")) {
      const std::string& text = v.as_string(what);  // the manifest counts code points
      const auto chars = std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
      EXPECT_EQ(static_cast<size_t>(chars), std::stoul(s.substr(7))) << what;
    } else {
      EXPECT_EQ(v.as_string(what), s) << what;
    }
  }
}

TEST(RealModels, EveryGgufMatchesTheManifest) {
  int files = 0;
  for (const auto& [name, entry] : manifest().items()) {
    if (!name.ends_with(".gguf")) continue;
    SCOPED_TRACE(name);
    ++files;
    auto f = GgufFile::open(kModels + name);
    EXPECT_EQ(std::filesystem::file_size(kModels + name), entry["bytes"].get<uint64_t>());
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->metadata().size(), entry["metadata"].size());
    for (const auto& [key, want] : entry["metadata"].items()) {
      ASSERT_TRUE(f->has(key)) << key;
      expect_value(f->get(key), want, key);
    }
    ASSERT_EQ(f->tensors().size(), entry["tensors"].size());
    for (const nlohmann::json& t : entry["tensors"]) {
      const std::string tname = t["name"];
      const TensorView& v = f->tensor(tname);
      EXPECT_EQ(upper(dtype_name(v.type)), t["type"].get<std::string>()) << tname;
      const auto ne = t["ne"].get<std::vector<int64_t>>();
      ASSERT_EQ(v.n_dims, static_cast<int>(ne.size())) << tname;
      for (size_t d = 0; d < ne.size(); ++d) EXPECT_EQ(v.ne[d], ne[d]) << tname;
      EXPECT_EQ(v.nbytes, row_bytes(v.type, v.ne[0]) * static_cast<size_t>(v.rows())) << tname;
    }
    // The token list is real: BOS first, and the tokenizer arrays agree in length.
    EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_strings()[0], "<｜begin▁of▁sentence｜>");
    EXPECT_EQ(f->get("tokenizer.ggml.token_type").as_ints().size(), 512u);
  }
  EXPECT_EQ(files, 12);
}

TEST(RealModels, EveryHfDirectoryMatchesTheManifest) {
  int dirs = 0;
  for (const auto& [name, entry] : manifest().items()) {
    if (!name.ends_with("/")) continue;
    SCOPED_TRACE(name);
    ++dirs;
    auto s = SafetensorsSet::open(kModels + name);
    size_t expected = 0;
    for (const auto& [file, info] : entry.items()) {
      if (!info.contains("tensors")) continue;
      expected += info["tensors"].size();
      for (const nlohmann::json& t : info["tensors"]) {
        const std::string tname = t["name"];
        const TensorView& v = s->get(tname);
        EXPECT_EQ(to_safetensors_dtype(v.type), t["dtype"].get<std::string>()) << tname;
        auto shape = t["shape"].get<std::vector<int64_t>>();
        ASSERT_EQ(v.n_dims, static_cast<int>(shape.size())) << tname;
        std::reverse(shape.begin(), shape.end());
        for (size_t d = 0; d < shape.size(); ++d) EXPECT_EQ(v.ne[d], shape[d]) << tname;
      }
    }
    EXPECT_EQ(s->tensors().size(), expected);
  }
  EXPECT_EQ(dirs, 5);
}

// The same weights through both readers: qwen2-mini's GGUF tensors are the HF tensors unchanged
// (README §3.1), and BF16 in both files, so the bytes must be identical.
TEST(RealModels, GgufAndSafetensorsHoldTheSameBytes) {
  auto g = GgufFile::open(kModels + "qwen2-mini-bf16.gguf");
  auto s = SafetensorsSet::open(kModels + "qwen2-mini-hf");
  for (const auto& [gname, hname] : std::vector<std::pair<std::string, std::string>>{
           {"token_embd.weight", "model.embed_tokens.weight"},
           {"blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"},
           {"output.weight", "lm_head.weight"}}) {
    const TensorView& a = g->tensor(gname);
    const TensorView& b = s->get(hname);
    ASSERT_EQ(a.type, DType::BF16);
    ASSERT_EQ(b.type, DType::BF16);
    ASSERT_EQ(a.ne, b.ne) << gname;
    ASSERT_EQ(a.nbytes, b.nbytes);
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0) << gname;
  }
}

// The sharded FP8 checkpoint: weights and their *_scale_inv companions resolve across shards.
TEST(RealModels, ShardedFp8Checkpoint) {
  auto s = SafetensorsSet::open(kModels + "deepseek2-mini-hf-fp8");
  const nlohmann::json index = read_json_file(kModels + "deepseek2-mini-hf-fp8/model.safetensors.index.json");
  EXPECT_EQ(s->tensors().size(), index["weight_map"].size());
  uint64_t total = 0;
  int fp8 = 0;
  for (const TensorView& t : s->tensors()) {
    total += t.nbytes;
    if (t.type != DType::F8_E4M3) continue;
    ++fp8;
    const TensorView& scale = s->get(t.name + "_scale_inv");  // one f32 per 128x128 block
    EXPECT_EQ(scale.type, DType::F32);
    EXPECT_EQ(scale.ne[0], (t.ne[0] + 127) / 128) << t.name;
    EXPECT_EQ(scale.ne[1], (t.ne[1] + 127) / 128) << t.name;
  }
  EXPECT_GT(fp8, 10);
  EXPECT_EQ(total, index["metadata"]["total_size"].get<uint64_t>());
}

}  // namespace
}  // namespace r1
