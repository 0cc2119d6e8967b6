// The dense student: its attention layer (GQA, biases, rotate-half rope) and the whole model
// against central finite differences in double precision; float vs double; bad configs.
#include "train/dense_model.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "core/error.h"
#include "train/grad_check.h"
#include "util/threadpool.h"

namespace r1::train {
namespace {

DenseConfig tiny_dense() {
  DenseConfig c;
  c.n_vocab = 11;
  c.n_embd = 12;
  c.n_layer = 2;
  c.n_head = 3;
  c.n_kv_head = 1;  // groups of 3 query heads on one key/value head
  c.n_ff = 10;
  c.n_ctx = 16;
  return c;
}

Batch tiny_batch(int64_t V, int64_t B, int64_t S, uint64_t seed) { return random_next_token_batch(V, B, S, seed); }

// Max relative error of each tensor whose name contains `filter`, up to per_tensor coordinates;
// each is expected under limit.
double worst_param_error(const std::function<double()>& loss, std::vector<double>& params,
                         const std::vector<double>& grads, const ParamLayout& layout, size_t per_tensor,
                         const std::string& filter, double limit) {
  double worst = 0;
  for (const auto& [name, err] : param_errors(loss, params, grads, layout, per_tensor, filter)) {
    EXPECT_LT(err, limit) << name;
    worst = std::max(worst, err);
  }
  return worst;
}

TEST(TrainDense, RopeNeoxRotatesHalvesAndInverts) {
  std::vector<double> x{1, 2, 3, 4}, c{0.6, 1.0}, s{0.8, 0.0};
  rope_rotate_neox(x.data(), c.data(), s.data(), 2, false);
  // Pair (0, 2) turned by (cos 0.6, sin 0.8); pair (1, 3) by angle 0.
  EXPECT_NEAR(x[0], 1 * 0.6 - 3 * 0.8, 1e-15);
  EXPECT_NEAR(x[2], 1 * 0.8 + 3 * 0.6, 1e-15);
  EXPECT_EQ(x[1], 2);
  EXPECT_EQ(x[3], 4);
  rope_rotate_neox(x.data(), c.data(), s.data(), 2, true);
  EXPECT_NEAR(x[0], 1, 1e-15);
  EXPECT_NEAR(x[2], 3, 1e-15);
}

TEST(TrainDense, AttentionBackwardMatchesFiniteDifferences) {
  for (int64_t kv : {3, 1}) {  // plain multi-head and grouped-query
    DenseConfig c = tiny_dense();
    c.n_kv_head = kv;
    DenseTransformer<double> m(c, nullptr);
    m.init(3, 0.5);
    // Non-zero biases, so their gradients and their place before the rope are checked.
    for (const ParamTensor& t : m.layout().tensors) {
      if (t.name.ends_with(".bias")) {
        const auto r = random_vector(t.size, t.offset, 0.3);
        std::copy(r.begin(), r.end(), m.params.begin() + long(t.offset));
      }
    }
    const DenseBlockLayout& L = m.blocks()[0];
    const int64_t B = 2, S = 5, N = B * S, D = c.n_embd;
    const RopeCache<double> rope = make_rope_cache<double>(c.head_dim(), c.rope_theta, S, false);
    std::vector<double> x = random_vector(N * D, 21), r = random_vector(N * D, 22);
    std::vector<double> out(N * D), dx(N * D, 0);
    GqaActs<double> acts;
    auto loss = [&] {
      gqa_forward<double>(nullptr, c.attn_shape(), L.attn, m.params.data(), x.data(), B, S, rope, out.data(), acts);
      return dot(out, r);
    };
    loss();
    gqa_backward<double>(nullptr, c.attn_shape(), L.attn, m.params.data(), m.grads.data(), x.data(), B, S, rope,
                         r.data(), dx.data(), acts);
    const double ex = grad_check(loss, x, dx);
    EXPECT_LT(ex, 1e-7);
    const double ep = worst_param_error(loss, m.params, m.grads, m.layout(), 8, "layers.0.self_attn", 1e-7);
    std::printf("GQA (%lld kv heads) rel err: dx %.2e, params %.2e\n", static_cast<long long>(kv), ex, ep);
  }
}

TEST(TrainDense, WholeModelGradientsMatchFiniteDifferences) {
  const DenseConfig c = tiny_dense();
  DenseTransformer<double> m(c, nullptr);
  m.init(5, 0.4);
  for (const ParamTensor& t : m.layout().tensors) {
    if (t.shape.size() == 1) {  // norms off 1 and biases off 0
      const auto r = random_vector(t.size, t.offset, 0.2);
      for (size_t i = 0; i < t.size; i++) m.params[t.offset + i] += r[i];
    }
  }
  const Batch batch = tiny_batch(c.n_vocab, 2, 6, 7);
  const LossReport rep = m.forward_backward(batch, {}, true);
  EXPECT_GT(rep.lm, 0.0);
  EXPECT_EQ(rep.total, rep.lm);
  EXPECT_EQ(rep.mtp, 0.0);
  EXPECT_EQ(rep.n_scored, 11);
  const std::vector<double> grads = m.grads;
  auto loss = [&] { return m.forward_backward(batch, {}, false).total; };
  const double worst = worst_param_error(loss, m.params, grads, m.layout(), 4, "", 1e-6);
  std::printf("dense model (%zu tensors): worst rel err %.2e\n", m.layout().tensors.size(), worst);
  EXPECT_TRUE(m.expert_load().empty());
}

TEST(TrainDense, FloatModelAgreesWithDoubleAndThreadsChangeNothing) {
  DenseConfig c = tiny_dense();
  c.n_kv_head = 1;
  DenseTransformer<double> md(c, nullptr);
  md.init(9, 0.4);
  ThreadPool pool(2);
  DenseTransformer<float> mf(c, &pool);
  for (size_t i = 0; i < md.params.size(); i++) mf.params[i] = float(md.params[i]);
  const Batch batch = tiny_batch(c.n_vocab, 3, 6, 10);
  const double ld = md.forward_backward(batch, {}, true).total;
  const double lf = mf.forward_backward(batch, {}, true).total;
  EXPECT_NEAR(lf, ld, 1e-5 * std::abs(ld));
  double max_diff = 0, max_g = 0;
  for (size_t i = 0; i < md.grads.size(); i++) {
    max_diff = std::max(max_diff, std::abs(double(mf.grads[i]) - md.grads[i]));
    max_g = std::max(max_g, std::abs(md.grads[i]));
  }
  EXPECT_LT(max_diff / max_g, 1e-4);
  // A clone is the same model: same loss, and independent weights.
  auto copy = mf.clone();
  EXPECT_EQ(copy->arch(), Arch::Dense);
  EXPECT_NEAR(copy->forward_backward(batch, {}, false).total, lf, 1e-6);
  copy->params[0] += 1.0f;
  EXPECT_NE(copy->params[0], mf.params[0]);
}

TEST(TrainDense, BadConfigsAndBatchesAreErrors) {
  DenseConfig c = tiny_dense();
  c.n_kv_head = 2;  // 3 heads do not split into groups of 2
  std::vector<DenseBlockLayout> blocks;
  EXPECT_THROW(make_dense_layout(c, &blocks), Error);
  c = tiny_dense();
  c.n_embd = 15;  // head size 5: odd, no rope pairs
  c.n_head = 3;
  EXPECT_THROW(make_dense_layout(c, &blocks), Error);
  c = tiny_dense();
  c.n_vocab = 1 << 22;
  c.n_embd = 1 << 12;
  EXPECT_THROW(make_dense_layout(c, &blocks), Error);
  DenseTransformer<float> m(tiny_dense(), nullptr);
  Batch b = tiny_batch(11, 1, 4, 11);
  b.tokens[2] = 11;
  EXPECT_THROW(m.forward_backward(b, {}, false), Error);
  b = tiny_batch(11, 1, 17, 11);  // longer than n_ctx
  EXPECT_THROW(m.forward_backward(b, {}, false), Error);
}

}  // namespace
}  // namespace r1::train
