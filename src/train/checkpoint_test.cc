// Checkpoints round-trip and resume exactly; and the whole model's loss and every gradient agree
// with an independent PyTorch implementation (tests/train/reference.py, float64 autograd).
#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "io/safetensors.h"
#include "train/adamw.h"
#include "train/grad_check.h"

namespace r1::train {
namespace {

namespace fs = std::filesystem;

ModelConfig small_config() {
  ModelConfig c;
  c.n_vocab = 13;
  c.n_embd = 12;
  c.n_layer = 2;
  c.n_head = 2;
  c.q_lora_rank = 8;
  c.kv_lora_rank = 6;
  c.qk_nope_dim = 4;
  c.qk_rope_dim = 4;
  c.v_head_dim = 5;
  c.n_ff = 14;
  c.n_dense_lead = 1;
  c.n_expert = 4;
  c.n_expert_used = 2;
  c.n_expert_shared = 1;
  c.n_ff_expert = 6;
  c.route_scale = 2.0;
  c.n_ctx = 32;
  return c;
}

Batch random_batch(int64_t V, int64_t B, int64_t S, uint64_t seed) {
  return random_next_token_batch(V, B, S, seed, 2);
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::path(R1_BINARY_DIR) / "train_test_tmp" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Runs the PyTorch reference (tests/train/reference.py) on m's weights and this batch, in dir;
// *ref: its outputs, loss.{total,lm,mtp,balance} and grad.<tensor name>.
void run_torch_reference(const TrainModel<double>& m, const Batch& batch, const LossWeights& lw, const fs::path& dir,
                         std::unique_ptr<SafetensorsSet>* ref) {
  SafetensorsWriter w;
  add_model_tensors(w, m);
  w.add("batch.tokens", DType::I32, {batch.B, batch.S}, batch.tokens.data(), batch.tokens.size() * 4);
  w.add("batch.targets", DType::I32, {batch.B, batch.S}, batch.targets.data(), batch.targets.size() * 4);
  w.set_metadata("loss", nlohmann::json{{"mtp", lw.mtp}, {"balance", lw.balance}}.dump());
  w.write((dir / "in.safetensors").string());
  const std::string cmd = "/usr/bin/python3 '" + std::string(R1_SOURCE_DIR) + "/tests/train/reference.py' '" +
                          (dir / "in.safetensors").string() + "' '" + (dir / "out.safetensors").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << " (needs Debian's python3-torch: scripts/setup.sh)";
  *ref = SafetensorsSet::open((dir / "out.safetensors").string());
}

// Every gradient of m against the reference's to 1e-10 (relative to max(1, its magnitude));
// *worst: the largest such error. every_tensor_moves: each reference gradient must be non-zero.
void compare_grads(const SafetensorsSet& ref, const TrainModel<double>& m, bool every_tensor_moves, double* worst) {
  *worst = 0;
  for (const ParamTensor& t : m.layout().tensors) {
    const TensorView& g = ref.get("grad." + t.name);
    ASSERT_EQ(g.n_elements(), int64_t(t.size)) << t.name;
    const auto* gd = static_cast<const double*>(g.data);
    double err = 0, mag = 1e-12;
    for (size_t i = 0; i < t.size; i++) {
      err = std::max(err, std::abs(gd[i] - m.grads[t.offset + i]));
      mag = std::max(mag, std::abs(gd[i]));
    }
    EXPECT_LT(err, 1e-10 * std::max(1.0, mag)) << t.name;
    if (every_tensor_moves) {
      EXPECT_GT(mag, 1e-9) << t.name << " has no gradient at all";
    }
    *worst = std::max(*worst, err / std::max(1.0, mag));
  }
}

TEST(TrainCheckpoint, LossAndGradientsMatchPyTorch) {
  const ModelConfig c = small_config();
  Transformer<double> m(c, nullptr);
  m.init(17, 0.3);
  m.bias.per_block[1] = {0.02f, -0.01f, 0.0f, 0.03f};
  m.bias.per_block[2] = {-0.02f, 0.01f, 0.04f, 0.0f};
  const Batch batch = random_batch(c.n_vocab, 2, 7, 3);
  const LossWeights lw{0.3, 0.01};
  const LossReport rep = m.forward_backward(batch, lw, true);

  std::unique_ptr<SafetensorsSet> ref;
  ASSERT_NO_FATAL_FAILURE(run_torch_reference(m, batch, lw, temp_dir("torch"), &ref));
  auto scalar = [&](const std::string& name) { return static_cast<const double*>(ref->get(name).data)[0]; };
  EXPECT_NEAR(rep.total, scalar("loss.total"), 1e-11);
  EXPECT_NEAR(rep.lm, scalar("loss.lm"), 1e-11);
  EXPECT_NEAR(rep.mtp, scalar("loss.mtp"), 1e-11);
  EXPECT_NEAR(rep.balance, scalar("loss.balance"), 1e-12);
  EXPECT_GT(rep.mtp, 0.0);
  EXPECT_GT(rep.balance, 0.0);
  double worst = 0;
  ASSERT_NO_FATAL_FAILURE(compare_grads(*ref, m, false, &worst));
  std::printf("vs PyTorch: loss %.12f (torch %.12f), worst gradient error %.2e over %zu tensors\n", rep.total,
              scalar("loss.total"), worst, m.layout().tensors.size());
}

TEST(TrainCheckpoint, SaveLoadRoundTripsAndResumesExactly) {
  const ModelConfig c = small_config();
  OptimConfig o;
  o.lr = 3e-3;
  o.warmup = 2;
  o.total_steps = 6;
  const Batch batch = random_batch(c.n_vocab, 2, 8, 5);
  auto train = [&](Transformer<float>& m, AdamW& opt, int steps) {
    for (int i = 0; i < steps; i++) {
      m.zero_grads();
      m.forward_backward(batch, {}, true);
      opt.step(m.params.data(), m.grads.data());
      m.update_router_bias(0.001);
    }
  };
  // Straight: 4 steps.
  Transformer<float> a(c, nullptr);
  a.init(1, 0.05);
  AdamW opt_a(a.layout(), o);
  train(a, opt_a, 4);
  // Two steps, save, load into fresh objects, two more.
  Transformer<float> b(c, nullptr);
  b.init(1, 0.05);
  AdamW opt_b(b.layout(), o);
  train(b, opt_b, 2);
  const fs::path dir = temp_dir("resume");
  const std::string path = (dir / "ck.safetensors").string();
  TrainState st;
  st.step = opt_b.steps_done();
  st.adam_m = opt_b.m;
  st.adam_v = opt_b.v;
  st.info = {{"stage", "pretrain"}};
  save_checkpoint(path, b, st);
  const Checkpoint ck = load_checkpoint(path);
  EXPECT_EQ(config_to_json(ck.config), config_to_json(c));
  EXPECT_EQ(ck.params, b.params);
  EXPECT_EQ(ck.bias.per_block, b.bias.per_block);
  EXPECT_EQ(ck.state.step, 2);
  EXPECT_EQ(ck.state.info["stage"], "pretrain");
  Transformer<float> r(ck.config, nullptr);
  apply_checkpoint(ck, r);
  AdamW opt_r(r.layout(), o);
  opt_r.m = ck.state.adam_m;
  opt_r.v = ck.state.adam_v;
  opt_r.restore(ck.state.step);
  train(r, opt_r, 2);
  EXPECT_EQ(r.params, a.params);
  EXPECT_EQ(r.bias.per_block, a.bias.per_block);
}

TEST(TrainCheckpoint, BadCheckpointsAreErrors) {
  const fs::path dir = temp_dir("bad");
  const std::string path = (dir / "plain.safetensors").string();
  const float x[2] = {1, 2};
  SafetensorsWriter w;
  w.add("x", DType::F32, {2}, x, sizeof x);
  w.write(path);
  EXPECT_THROW(load_checkpoint(path), Error);  // no config
  SafetensorsWriter w2;
  w2.add("x", DType::F32, {2}, x, sizeof x);
  w2.set_metadata("config", config_to_json(small_config()).dump());
  w2.write(path);
  try {
    load_checkpoint(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight"), std::string::npos) << e.what();
  }
}

DenseConfig small_dense() {
  DenseConfig c;
  c.n_vocab = 13;
  c.n_embd = 12;
  c.n_layer = 2;
  c.n_head = 3;
  c.n_kv_head = 1;
  c.n_ff = 14;
  c.rope_theta = 500.0;  // fast-turning pairs, so a wrong pairing would show
  c.n_ctx = 32;
  return c;
}

TEST(TrainCheckpoint, DenseLossAndGradientsMatchPyTorch) {
  const DenseConfig c = small_dense();
  DenseTransformer<double> m(c, nullptr);
  m.init(17, 0.3);
  std::mt19937_64 rng(4);
  std::normal_distribution<double> nd(0.0, 0.2);
  for (const ParamTensor& t : m.layout().tensors) {
    if (t.shape.size() == 1) {
      for (size_t i = 0; i < t.size; i++) m.params[t.offset + i] += nd(rng);  // norms and biases off 1 / 0
    }
  }
  const Batch batch = random_batch(c.n_vocab, 2, 9, 3);
  const LossReport rep = m.forward_backward(batch, {}, true);

  std::unique_ptr<SafetensorsSet> ref;
  ASSERT_NO_FATAL_FAILURE(run_torch_reference(m, batch, {0.0, 0.0}, temp_dir("torch_dense"), &ref));
  const double torch_loss = static_cast<const double*>(ref->get("loss.total").data)[0];
  EXPECT_NEAR(rep.total, torch_loss, 1e-11);
  double worst = 0;
  ASSERT_NO_FATAL_FAILURE(compare_grads(*ref, m, true, &worst));
  std::printf("dense vs PyTorch: loss %.12f (torch %.12f), worst gradient error %.2e over %zu tensors\n", rep.total,
              torch_loss, worst, m.layout().tensors.size());
}

TEST(TrainCheckpoint, ArchitectureIsRecordedAndOldCheckpointsLoadAsDeepSeek) {
  const fs::path dir = temp_dir("arch");
  // A dense checkpoint comes back as a dense model with the same weights.
  DenseTransformer<float> d(small_dense(), nullptr);
  d.init(3, 0.1);
  TrainState st;
  st.step = 5;
  save_checkpoint((dir / "dense.safetensors").string(), d, st);
  const Checkpoint ck = load_checkpoint((dir / "dense.safetensors").string());
  EXPECT_EQ(ck.arch, Arch::Dense);
  EXPECT_EQ(dense_config_to_json(ck.dense), dense_config_to_json(small_dense()));
  auto p = make_policy(ck, nullptr);
  EXPECT_EQ(p->arch(), Arch::Dense);
  EXPECT_EQ(p->params, d.params);
  Transformer<float> wrong(small_config(), nullptr);
  EXPECT_THROW(apply_checkpoint(ck, wrong), Error);
  // A checkpoint written before the arch metadata existed: config and tensors only.
  Transformer<float> t(small_config(), nullptr);
  t.init(4, 0.1);
  t.bias.per_block[1] = {0.5f, 0.0f, -0.5f, 0.25f};
  SafetensorsWriter w;
  for (const ParamTensor& pt : t.layout().tensors) {
    w.add(pt.name, DType::F32, pt.shape, t.params.data() + pt.offset, pt.size * sizeof(float));
  }
  for (size_t b = 0; b < t.bias.per_block.size(); b++) {
    const auto& v = t.bias.per_block[b];
    if (!v.empty()) {
      w.add(str("model.layers.", b, ".mlp.gate.e_score_correction_bias"), DType::F32, {int64_t(v.size())}, v.data(),
            v.size() * sizeof(float));
    }
  }
  w.set_metadata("config", config_to_json(t.config()).dump());
  w.write((dir / "old.safetensors").string());
  const Checkpoint old = load_checkpoint((dir / "old.safetensors").string());
  EXPECT_EQ(old.arch, Arch::DeepSeek);
  auto q = make_policy(old, nullptr);
  ASSERT_EQ(q->arch(), Arch::DeepSeek);
  EXPECT_EQ(q->params, t.params);
  EXPECT_EQ(static_cast<Transformer<float>&>(*q).bias.per_block, t.bias.per_block);
  // An unknown arch is an error, not a guess.
  SafetensorsWriter w2;
  const float x[2] = {1, 2};
  w2.add("x", DType::F32, {2}, x, sizeof x);
  w2.set_metadata("config", dense_config_to_json(small_dense()).dump());
  w2.set_metadata("arch", "mamba");
  w2.write((dir / "bad.safetensors").string());
  EXPECT_THROW(load_checkpoint((dir / "bad.safetensors").string()), Error);
}

}  // namespace
}  // namespace r1::train
