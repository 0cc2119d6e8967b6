// --cache-dir: a prompt's KV written by one store and read by another (a restart) gives the
// same logits as computing it; shared prefixes of a stored prompt are reused; damaged files and
// files of another model shape are ignored.
#include "server/prefix_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "model/batch.h"
#include "model/model.h"
#include "util/threadpool.h"

namespace r1::server {
namespace {

namespace fs = std::filesystem;

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); i++) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

class PrefixStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model = Model::load(std::string(R1_TEST_DATA_DIR) + "/models/qwen2-mini-f32.gguf");
    dir = (fs::temp_directory_path() / ("r1-prefix-store-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    for (int i = 0; i < 20; i++) prompt.push_back(10 + 7 * i);
  }
  void TearDown() override { fs::remove_all(dir); }

  // The next-token logits of ids computed from scratch.
  std::vector<float> reference(const std::vector<int32_t>& ids) {
    auto ctx = model->new_context(64, pool);
    std::vector<float> logits(static_cast<size_t>(model->n_vocab()));
    ctx->forward(ids.data(), int64_t(ids.size()), false, logits.data());
    return logits;
  }
  PrefixStore store() {
    const ModelConfig& c = model->config();
    return PrefixStore(dir, c.n_layer, c.n_head_kv, c.head_dim, model->kv_cache_types());
  }

  std::unique_ptr<Model> model;
  ThreadPool pool{1};
  std::string dir;
  std::vector<int32_t> prompt;
};

TEST_F(PrefixStoreTest, RestoredPrefixGivesTheSameLogits) {
  std::vector<float> logits(static_cast<size_t>(model->n_vocab()));
  {
    PrefixStore first = store();
    BatchEngine engine(*model, 1, 64, pool);
    StoredPrefixContext ctx(engine.context(0), engine.cache(0), first);
    ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
    EXPECT_EQ(ctx.take_restored(), 0);  // nothing stored yet
    ctx.save(prompt);
    ctx.save(prompt);  // stored once
    EXPECT_EQ(first.size(), 1u);
  }
  // "After a restart": a new store reads the directory.
  PrefixStore second = store();
  ASSERT_EQ(second.size(), 1u);
  BatchEngine engine(*model, 1, 64, pool);
  StoredPrefixContext ctx(engine.context(0), engine.cache(0), second);
  ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
  EXPECT_EQ(ctx.take_restored(), 19);  // all but the last token, whose logits are needed
  EXPECT_EQ(ctx.n_past(), 20);
  EXPECT_LT(max_diff(logits, reference(prompt)), 1e-4);

  // A prompt that shares only the first 8 tokens reuses those 8.
  std::vector<int32_t> other(prompt.begin(), prompt.begin() + 8);
  for (int i = 0; i < 6; i++) other.push_back(200 + i);
  ctx.truncate(0);
  ctx.forward(other.data(), int64_t(other.size()), false, logits.data());
  EXPECT_EQ(ctx.take_restored(), 8);
  EXPECT_LT(max_diff(logits, reference(other)), 1e-4);

  // A cache that is not empty is left alone (the session's RAM prefix reuse comes first).
  const int32_t more[2] = {5, 6};
  ctx.forward(more, 2, false, logits.data());
  EXPECT_EQ(ctx.take_restored(), 0);
}

TEST_F(PrefixStoreTest, DamagedOrForeignFilesAreIgnored) {
  {
    PrefixStore s = store();
    BatchEngine engine(*model, 1, 64, pool);
    StoredPrefixContext ctx(engine.context(0), engine.cache(0), s);
    std::vector<float> logits(static_cast<size_t>(model->n_vocab()));
    ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
    ctx.save(prompt);
  }
  EXPECT_EQ(store().size(), 1u);
  const ModelConfig& c = model->config();
  EXPECT_EQ(PrefixStore(dir, c.n_layer, c.n_head_kv, c.head_dim * 2, DType::F32).size(), 0u);  // another shape
  EXPECT_EQ(PrefixStore(dir, c.n_layer, c.n_head_kv, c.head_dim, DType::F16).size(), 0u);      // another type
  for (const auto& f : fs::directory_iterator(dir)) fs::resize_file(f.path(), fs::file_size(f.path()) - 4);
  EXPECT_EQ(store().size(), 0u);  // cut short
}

// An F16 cache stores its F16 rows (half the bytes of F32), a Q8_0 cache its blocks (34 bytes per 32
// values), a cache of Q8_0 keys and Q4_0 values (18 bytes per 32) each run in its own type, and so
// do IQ4_NL, BF16 and Q5_0 / Q5_1 caches (distinct files from Q4_0 and F16 ones of the same length); each
// restores to the logits of computing the prompt with a cache of its types, and does not mix with
// another type's cache or store. A latent store of rows that are not whole blocks (the mini
// DeepSeek's 80 values) is refused for Q8_0 by name.
TEST_F(PrefixStoreTest, F16AndQuantizedCachesRoundTripTheirRows) {
  const ModelConfig& c = model->config();
  const uint64_t f16 = uint64_t(c.head_dim) * 2u, q8 = uint64_t(c.head_dim / 32 * 34), q4 = uint64_t(c.head_dim / 32 * 18);
  const uint64_t q5_0 = uint64_t(c.head_dim / 32 * 22), q5_1 = uint64_t(c.head_dim / 32 * 24);
  const struct { CacheTypes types, other; uint64_t key_bytes, value_bytes; } kinds[] = {
      {DType::F16, DType::F32, f16, f16},
      {DType::Q8_0, DType::F16, q8, q8},
      {CacheTypes{DType::Q8_0, DType::Q4_0}, DType::Q8_0, q8, q4},
      {DType::Q4_0, CacheTypes{DType::Q8_0, DType::Q4_0}, q4, q4},
      // llama.cpp's other cache types; IQ4_NL and BF16 rows are as long as Q4_0 and F16 ones.
      {DType::IQ4_NL, DType::Q4_0, q4, q4},
      {DType::BF16, DType::F16, f16, f16},
      {CacheTypes{DType::Q5_0, DType::Q5_1}, CacheTypes{DType::Q4_1, DType::Q5_1}, q5_0, q5_1}};
  for (const auto& k : kinds) {
    SCOPED_TRACE(std::string(dtype_name(k.types.k)) + " / " + std::string(dtype_name(k.types.v)));
    fs::remove_all(dir);
    model->set_kv_cache_types(k.types);
    std::vector<float> logits(static_cast<size_t>(model->n_vocab()));
    {
      PrefixStore first = store();
      BatchEngine engine(*model, 1, 64, pool);
      ASSERT_TRUE(engine.cache(0).types() == k.types);
      StoredPrefixContext ctx(engine.context(0), engine.cache(0), first);
      ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
      ctx.save(prompt);
      KVCache other(c.n_layer, c.n_head_kv, c.head_dim, 64, k.other);
      EXPECT_THROW(first.save(prompt, other), Error) << "a cache of another type in the store";
      PrefixStore other_store(dir, c.n_layer, c.n_head_kv, c.head_dim, k.other);
      EXPECT_EQ(other_store.size(), 0u);
      EXPECT_THROW(other_store.load(prompt, 19, engine.cache(0)), Error) << "a cache from another type's store";
      for (const auto& f : fs::directory_iterator(dir))
        EXPECT_EQ(fs::file_size(f.path()),
                  8u + 16u + 20u * 4u + uint64_t(c.n_layer * c.n_head_kv) * 20u * (k.key_bytes + k.value_bytes));
    }
    PrefixStore second = store();
    ASSERT_EQ(second.size(), 1u);
    BatchEngine engine(*model, 1, 64, pool);
    StoredPrefixContext ctx(engine.context(0), engine.cache(0), second);
    ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
    EXPECT_EQ(ctx.take_restored(), 19);
    EXPECT_LT(max_diff(logits, reference(prompt)), 1e-4);  // reference(): a context of the same type
  }
  try {
    PrefixStore latent(dir, 3, 80, DType::Q8_0);
    FAIL() << "a q8_0 store of 80-value rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q8_0"), std::string::npos) << e.what();
  }
}

// DeepSeek models store the MLA latent cache: kv_lora_rank + qk_rope_dim values per token and
// layer, and a restored prompt gives the logits of a fresh one.
TEST_F(PrefixStoreTest, DeepseekLatentCacheRoundTrips) {
  const auto ds = Model::load(std::string(R1_TEST_DATA_DIR) + "/models/deepseek2-mini-f32.gguf");  // F32 and F16 caches
  const DeepseekConfig& c = ds->deepseek()->config();
  const int64_t V = ds->n_vocab();
  std::vector<float> fresh(static_cast<size_t>(V)), logits(static_cast<size_t>(V));
  auto relative_diff = [&](const std::vector<float>& ref) {
    double m = 0;
    for (float x : ref) m = std::max(m, double(std::fabs(x)));
    return max_diff(logits, ref) / m;
  };
  for (DType type : {DType::F32, DType::F16}) {
    SCOPED_TRACE(std::string(dtype_name(type)));
    fs::remove_all(dir);
    ds->set_kv_cache_types(type);
    {
      auto ctx = ds->new_context(64, pool);
      ctx->forward(prompt.data(), int64_t(prompt.size()), false, fresh.data());
    }
    {
      PrefixStore first(dir, c.n_layer, c.latent_dim(), type);
      BatchEngine engine(*ds, 1, 64, pool);
      StoredPrefixContext ctx(engine.context(0), engine.latent_cache(0), first);
      ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
      EXPECT_EQ(ctx.take_restored(), 0);
      ctx.save(prompt);
      EXPECT_EQ(first.size(), 1u);
      const ModelConfig& mc = model->config();
      KVCache dense(mc.n_layer, mc.n_head_kv, mc.head_dim, 64);
      EXPECT_THROW(first.save(prompt, dense), Error) << "a dense cache needs a dense store";
      LatentKVCache other(c.n_layer, c.latent_dim(), 64, type == DType::F16 ? DType::F32 : DType::F16);
      EXPECT_THROW(first.save(prompt, other), Error) << "a latent cache of another type";
    }
    // The file holds only the latents: 20 tokens × 3 layers × (64 + 16) values after the header.
    for (const auto& f : fs::directory_iterator(dir))
      EXPECT_EQ(fs::file_size(f.path()), 8u + 16u + 20u * 4u + 20u * 3u * 80u * row_bytes(type, 1));
    const DType other_type = type == DType::F16 ? DType::F32 : DType::F16;
    EXPECT_EQ(PrefixStore(dir, c.n_layer, c.latent_dim(), other_type).size(), 0u);  // another type's files

    PrefixStore second(dir, c.n_layer, c.latent_dim(), type);  // after a restart
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(store().size(), 0u);  // a dense model's store does not take a latent file
    BatchEngine engine(*ds, 1, 64, pool);
    StoredPrefixContext ctx(engine.context(0), engine.latent_cache(0), second);
    ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
    EXPECT_EQ(ctx.take_restored(), 19);
    EXPECT_EQ(ctx.n_past(), 20);
    EXPECT_LT(relative_diff(fresh), 1e-5);

    // A prompt sharing the first 8 tokens reuses those 8 and matches its own fresh logits.
    std::vector<int32_t> other(prompt.begin(), prompt.begin() + 8);
    for (int i = 0; i < 6; i++) other.push_back(200 + i);
    {
      auto fresh_ctx = ds->new_context(64, pool);
      fresh_ctx->forward(other.data(), int64_t(other.size()), false, fresh.data());
    }
    ctx.truncate(0);
    ctx.forward(other.data(), int64_t(other.size()), false, logits.data());
    EXPECT_EQ(ctx.take_restored(), 8);
    EXPECT_LT(relative_diff(fresh), 1e-5);
  }
}

}  // namespace
}  // namespace r1::server
