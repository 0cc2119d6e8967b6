// safetensors writer -> reader round trips: single files, shards with an index, directory
// lookup, ggml-order shapes.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "io/hf_config.h"
#include "io/io_test_util.h"

namespace r1 {
namespace {

using test::TempDir;

struct Tensor {
  std::string name;
  DType type;
  std::vector<int64_t> shape;  // row-major
  std::vector<uint8_t> data;
};

std::vector<Tensor> some_tensors() {
  std::vector<Tensor> t = {
      {"model.embed_tokens.weight", DType::BF16, {6, 4}, {}},
      {"model.layers.0.self_attn.q_proj.weight", DType::F8_E4M3, {8, 16}, {}},
      {"model.layers.0.self_attn.q_proj.weight_scale_inv", DType::F32, {1, 1}, {}},
      {"model.norm.weight", DType::F32, {4}, {}},
      {"a.f16", DType::F16, {2, 3, 1, 2}, {}},
      {"a.i32", DType::I32, {3}, {}},
      {"a.scalar", DType::F64, {}, {}},
      {"a.empty", DType::F32, {0, 5}, {}},
  };
  for (size_t i = 0; i < t.size(); ++i) {
    size_t n = dtype_traits(t[i].type).block_bytes;
    for (int64_t d : t[i].shape) n *= static_cast<size_t>(d);
    t[i].data.resize(n);
    for (size_t k = 0; k < n; ++k) t[i].data[k] = static_cast<uint8_t>(k * 29 + i * 101 + 1);
  }
  return t;
}

SafetensorsWriter writer_with(const std::vector<Tensor>& tensors) {
  SafetensorsWriter w;
  for (const Tensor& t : tensors) w.add(t.name, t.type, t.shape, t.data.data(), t.data.size());
  w.set_metadata("format", "pt");
  return w;
}

void expect_tensors(const SafetensorsSet& s, const std::vector<Tensor>& tensors) {
  ASSERT_EQ(s.tensors().size(), tensors.size());
  for (const Tensor& t : tensors) {
    const TensorView& v = s.get(t.name);
    EXPECT_EQ(v.type, t.type) << t.name;
    ASSERT_EQ(v.n_dims, static_cast<int>(t.shape.size())) << t.name;
    for (int d = 0; d < 4; ++d)  // ne is the reversed shape, padded with 1
      EXPECT_EQ(v.ne[d], d < v.n_dims ? t.shape[t.shape.size() - 1 - d] : 1) << t.name << " dim " << d;
    ASSERT_EQ(v.nbytes, t.data.size()) << t.name;
    if (v.nbytes) {
      EXPECT_EQ(std::memcmp(v.data, t.data.data(), v.nbytes), 0) << t.name;
    }
  }
}

TEST(Safetensors, RoundTripSingleFile) {
  TempDir dir;
  const auto tensors = some_tensors();
  writer_with(tensors).write(dir.file("model.safetensors"));
  // The data buffer starts 8-byte aligned (header padded with spaces).
  const auto bytes = test::read_bytes(dir.file("model.safetensors"));
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes[8], '{');

  for (const std::string& p : {dir.file("model.safetensors"), dir.path()}) {  // file, or the directory holding it
    auto s = SafetensorsSet::open(p);
    EXPECT_EQ(s->path(), p);
    expect_tensors(*s, tensors);
    EXPECT_EQ(s->metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
    // Tensors come in data order, i.e. the order they were written.
    for (size_t i = 0; i < tensors.size(); ++i) EXPECT_EQ(s->tensors()[i].name, tensors[i].name);
  }
  auto s = SafetensorsSet::open(dir.path());
  EXPECT_EQ(s->get("model.embed_tokens.weight").ne[0], 4);  // [6][4] -> ne {4, 6}
  EXPECT_EQ(s->get("model.embed_tokens.weight").ne[1], 6);
  EXPECT_EQ(s->find("nope"), nullptr);
  EXPECT_ERROR_HAS(s->get("nope"), (dir.path() + ": missing tensor nope").c_str());
}

TEST(Safetensors, RoundTripSharded) {
  TempDir dir;
  const auto tensors = some_tensors();
  const auto paths = writer_with(tensors).write_sharded(dir.file("ckpt"), 128);
  ASSERT_GE(paths.size(), 4u);  // several shards + the index
  const size_t n_shards = paths.size() - 1;
  EXPECT_EQ(paths[0], dir.file("ckpt/model-00001-of-0000" + std::to_string(n_shards) + ".safetensors"));
  EXPECT_EQ(paths.back(), dir.file("ckpt/model.safetensors.index.json"));

  const nlohmann::json index = read_json_file(paths.back());
  uint64_t total = 0;
  for (const Tensor& t : tensors) total += t.data.size();
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  EXPECT_EQ(index["weight_map"].size(), tensors.size());
  for (size_t i = 0; i < n_shards; ++i) {  // each shard is a valid file of its own, none over the limit
    auto shard = SafetensorsSet::open(paths[i]);
    uint64_t bytes = 0;
    for (const TensorView& t : shard->tensors()) bytes += t.nbytes;
    EXPECT_TRUE(bytes <= 128 || shard->tensors().size() == 1);
  }

  for (const std::string& p : {dir.file("ckpt"), paths.back()}) {  // directory or index path
    auto s = SafetensorsSet::open(p);
    expect_tensors(*s, tensors);
    EXPECT_EQ(s->metadata().at("format"), "pt");
  }
}

TEST(Safetensors, IndexPicksShardsByNameNotByWidth) {
  // DeepSeek-V3 names its shards model-00001-of-000163.safetensors: a 6-digit total.
  TempDir dir;
  const auto tensors = some_tensors();
  SafetensorsWriter a, b;
  nlohmann::json wm;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    (i % 2 ? a : b).add(t.name, t.type, t.shape, t.data.data(), t.data.size());
    wm[t.name] = i % 2 ? "model-00001-of-000002.safetensors" : "model-00002-of-000002.safetensors";
  }
  a.write(dir.file("model-00001-of-000002.safetensors"));
  b.write(dir.file("model-00002-of-000002.safetensors"));
  // Both files exist: the index wins over model.safetensors.
  SafetensorsWriter decoy;
  decoy.write(dir.file("model.safetensors"));
  test::write_text(dir.file("model.safetensors.index.json"),
                   nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", wm}}.dump());
  auto s = SafetensorsSet::open(dir.path());
  expect_tensors(*s, tensors);
}

TEST(Safetensors, IndexTakesOnlyListedTensors) {
  TempDir dir;
  const auto tensors = some_tensors();
  writer_with(tensors).write(dir.file("model-00001-of-00001.safetensors"));
  nlohmann::json wm = {{tensors[0].name, "model-00001-of-00001.safetensors"}};
  test::write_text(dir.file("model.safetensors.index.json"), nlohmann::json{{"weight_map", wm}}.dump());
  auto s = SafetensorsSet::open(dir.path());
  ASSERT_EQ(s->tensors().size(), 1u);
  EXPECT_EQ(s->tensors()[0].name, tensors[0].name);
}

TEST(Safetensors, WriterRejectsInconsistentInput) {
  SafetensorsWriter w;
  std::vector<uint8_t> d(64);
  EXPECT_ERROR_HAS(w.add("a", DType::F32, {4, 4}, d.data(), 60), "tensor a has 60 bytes", "needs 64");
  EXPECT_ERROR_HAS(w.add("q", DType::Q8_0, {32}, d.data(), 34), "q8_0 cannot be stored in safetensors");
  EXPECT_ERROR_HAS(w.add("__metadata__", DType::F32, {1}, d.data(), 4), "invalid tensor name");
  EXPECT_ERROR_HAS(w.add("n", DType::F32, {-1}, d.data(), 0), "tensor n has an invalid shape");
  w.add("a", DType::F32, {16}, d.data(), 64);
  EXPECT_ERROR_HAS(w.add("a", DType::F32, {16}, d.data(), 64), "duplicate tensor a");
  EXPECT_ERROR_HAS(w.write("/nonexistent-dir/x.safetensors"), "cannot write /nonexistent-dir/x.safetensors");
}

}  // namespace
}  // namespace r1
