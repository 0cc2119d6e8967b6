// A trained-then-exported model gives the same logits in the inference engine (Model::load +
// Session::logits, GGUF MLA form and HF directory) as in the training forward.
#include "train/export.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "model/model.h"
#include "runtime/session.h"
#include "testing/train_models.h"
#include "train/adamw.h"

namespace r1::train {
namespace {

namespace fs = std::filesystem;

const std::string kTokenizer = std::string(R1_SOURCE_DIR) + "/assets/tokenizers/tiny512-deepseek-v3/tokenizer.json";

ModelConfig export_config() {
  ModelConfig c = test_models::small_engine_config(512, 3);
  c.route_scale = 2.5;
  return c;
}

// A model trained a few steps (so norms, biases and experts are not at their initial values; the
// router-bias step does nothing for a dense model).
void train_a_little(Policy& m) {
  m.init(42, 0.1);
  OptimConfig o;
  o.lr = 1e-2;
  o.total_steps = 4;
  AdamW opt(m.layout(), o);
  Batch b;
  b.B = 2;
  b.S = 12;
  for (int i = 0; i < b.B * b.S; i++) {
    b.tokens.push_back((i * 37 + 5) % 500);
    b.targets.push_back((i * 37 + 42) % 500);
  }
  for (int s = 0; s < 4; s++) {
    m.zero_grads();
    m.forward_backward(b, {}, true);
    opt.step(m.params.data(), m.grads.data());
    m.update_router_bias(0.01);
  }
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, mag = 0;
  for (size_t i = 0; i < a.size(); i++) {
    d = std::max(d, double(std::abs(a[i] - b[i])));
    mag = std::max(mag, double(std::abs(b[i])));
  }
  return d / mag;
}

// Writes em as GGUF and as an HF directory under train_test_tmp/<name> (returned) and expects the
// inference engine's logits on ids from each to equal m's training forward's.
fs::path expect_engine_matches_training(Policy& m, const ExportModel& em, const std::string& name,
                                        const std::vector<int32_t>& ids) {
  Batch b;
  b.B = 1;
  b.S = int64_t(ids.size());
  b.tokens = ids;
  b.targets.assign(ids.size(), -1);
  m.forward_backward(b, {0, 0}, false);
  const std::vector<float> train_logits = m.logits();

  const fs::path dir = fs::path(R1_BINARY_DIR) / "train_test_tmp" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_gguf(em, (dir / "model.gguf").string(), "f32");
  write_hf_dir(em, (dir / "hf").string(), DType::F32);
  for (const std::string& path : {(dir / "model.gguf").string(), (dir / "hf").string()}) {
    auto model = Model::load(path);
    Session s(*model, 64, 1);
    const std::vector<float> logits = s.logits(ids);
    EXPECT_EQ(logits.size(), train_logits.size()) << path;
    if (logits.size() != train_logits.size()) continue;
    const double err = max_rel_diff(logits, train_logits);
    std::printf("%s: max |dlogit| / max |logit| = %.2e\n", path.c_str(), err);
    EXPECT_LT(err, 1e-4) << path;
  }
  return dir;
}

TEST(TrainExport, InferenceEngineLogitsEqualTheTrainingForward) {
  Transformer<float> m(export_config(), nullptr);
  train_a_little(m);
  const std::vector<int32_t> ids{0, 508, 72, 101, 33, 509, 510, 200, 7, 311, 42, 9, 480, 1};
  const ExportModel em = to_export_model(m, kTokenizer, "r1.cpp trained test model");
  const fs::path dir = expect_engine_matches_training(m, em, "export", ids);

  // The HF directory carries the MTP layer: the engine loads it and drafts with it, and the
  // drafts never change the output (they are only kept when they equal the chosen token).
  auto hf = Model::load((dir / "hf").string());
  Session s(*hf, 64, 1);
  GenerationParams gp;
  gp.sampling.temperature = 0;
  gp.max_tokens = 12;
  gp.ignore_eos = true;
  const GenerationResult plain = s.generate(ids, gp);
  gp.mtp = true;
  const GenerationResult drafted = s.generate(ids, gp);
  EXPECT_EQ(drafted.tokens, plain.tokens);
  EXPECT_GT(drafted.draft_tokens, 0);
}

// The dense student exported as qwen2 (GGUF, rotate-half rope kept as is) and as a
// Qwen2ForCausalLM directory gives the training forward's logits in the inference engine.
TEST(TrainExport, DenseStudentExportsAsQwen2) {
  DenseConfig c;
  c.n_vocab = 512;
  c.n_embd = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;  // grouped-query, as the R1-Distill-Qwen models
  c.n_ff = 40;
  c.n_ctx = 64;
  DenseTransformer<float> m(c, nullptr);
  train_a_little(m);  // so norms and biases are not at their initial 1 / 0
  const std::vector<int32_t> ids{0, 508, 72, 101, 33, 509, 510, 200, 7, 311, 42, 9, 480, 1, 17, 250, 3, 99, 400, 12};
  const Policy& policy = m;  // through the interface the CLI uses
  const ExportModel em = to_export_model(policy, kTokenizer, "r1.cpp dense student");
  EXPECT_EQ(em.arch, "qwen2");
  expect_engine_matches_training(m, em, "export_dense", ids);
}

}  // namespace
}  // namespace r1::train
