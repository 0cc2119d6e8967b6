#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"

namespace r1 {
namespace {

// Logits whose softmax (T = 1) is exactly probs.
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::map<int32_t, float> as_map(const std::vector<TokenProb>& d) {
  std::map<int32_t, float> m;
  for (const TokenProb& t : d) m[t.id] = t.p;
  return m;
}

SamplerParams plain() {  // T = 1, no filters, no penalties
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_p = 1.0f;
  return p;
}

const std::vector<double> kProbs = {0.05, 0.4, 0.1, 0.25, 0.2};  // ids sorted by p: 1, 3, 4, 2, 0

TEST(Sampler, GreedyPicksArgmaxAndLowestIdOnTies) {
  SamplerParams p;
  p.temperature = 0;
  Sampler s(p);
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(s.sample(l.data(), 4, {}), 1);
  auto d = s.distribution(l.data(), 4, {});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].id, 1);
  EXPECT_FLOAT_EQ(d[0].p, 1.0f);
}

TEST(Sampler, PlainDistributionIsSoftmax) {
  Sampler s(plain());
  auto l = logits_of(kProbs);
  auto d = s.distribution(l.data(), 5, {});
  ASSERT_EQ(d.size(), 5u);
  std::vector<int32_t> order;
  for (auto& t : d) order.push_back(t.id);
  EXPECT_EQ(order, (std::vector<int32_t>{1, 3, 4, 2, 0}));
  auto m = as_map(d);
  for (int i = 0; i < 5; i++) EXPECT_NEAR(m[i], kProbs[size_t(i)], 1e-6) << i;
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  auto l = logits_of(kProbs);
  SamplerParams p = plain();
  p.temperature = 0.5f;  // p_i^2 / sum p^2
  auto m = as_map(Sampler(p).distribution(l.data(), 5, {}));
  double z = 0;
  for (double q : kProbs) z += q * q;
  for (int i = 0; i < 5; i++) EXPECT_NEAR(m[i], kProbs[size_t(i)] * kProbs[size_t(i)] / z, 1e-6);
  p.temperature = 100.0f;  // nearly uniform
  m = as_map(Sampler(p).distribution(l.data(), 5, {}));
  for (int i = 0; i < 5; i++) EXPECT_NEAR(m[i], 0.2, 0.01);
}

TEST(Sampler, TopKKeepsKMostLikely) {
  SamplerParams p = plain();
  p.top_k = 2;
  auto l = logits_of(kProbs);
  auto m = as_map(Sampler(p).distribution(l.data(), 5, {}));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_NEAR(m[1], 0.4 / 0.65, 1e-6);
  EXPECT_NEAR(m[3], 0.25 / 0.65, 1e-6);
}

TEST(Sampler, TopPKeepsSmallestSetReachingP) {
  SamplerParams p = plain();
  auto l = logits_of(kProbs);
  p.top_p = 0.6f;  // 0.4 < 0.6 <= 0.65: ids 1 and 3
  auto m = as_map(Sampler(p).distribution(l.data(), 5, {}));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.count(1) && m.count(3));
  p.top_p = 0.7f;  // needs 0.85: ids 1, 3, 4
  m = as_map(Sampler(p).distribution(l.data(), 5, {}));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_NEAR(m[4], 0.2 / 0.85, 1e-6);
  p.top_p = 0.3f;  // the top token alone
  EXPECT_EQ(Sampler(p).distribution(l.data(), 5, {}).size(), 1u);
}

TEST(Sampler, TopPOnLargeFlatVocabularyGrowsSortedPrefix) {
  // 5000 equal tokens: top-p 0.5 must keep exactly 2500 (past the first 64- and 512-wide prefixes).
  SamplerParams p = plain();
  p.top_p = 0.5f;
  std::vector<float> l(5000, 0.0f);
  auto d = Sampler(p).distribution(l.data(), 5000, {});
  EXPECT_NEAR(double(d.size()), 2500.0, 1.0);
  EXPECT_EQ(d.front().id, 0);  // ties keep the lowest ids
}

TEST(Sampler, MinPDropsTokensBelowFractionOfTop) {
  SamplerParams p = plain();
  p.min_p = 0.5f;  // threshold 0.2: keeps 0.4, 0.25, 0.2
  auto l = logits_of(kProbs);
  auto m = as_map(Sampler(p).distribution(l.data(), 5, {}));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_FALSE(m.count(0) || m.count(2));
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplerParams p = plain();
  p.temperature = 0;
  p.repeat_penalty = 2.0f;
  std::vector<float> l = {1.5f, 1.0f, -0.5f};
  std::vector<int32_t> hist = {0};
  EXPECT_EQ(Sampler(p).sample(l.data(), 3, hist), 1);  // 1.5 / 2 = 0.75 < 1.0
  p.temperature = 1.0f;
  hist = {2};
  auto m = as_map(Sampler(p).distribution(l.data(), 3, hist));
  double z = std::exp(1.5) + std::exp(1.0) + std::exp(-1.0);
  EXPECT_NEAR(m[2], std::exp(-1.0) / z, 1e-6);
}

TEST(Sampler, PresenceAndFrequencyPenaltiesCountOccurrences) {
  SamplerParams p = plain();
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  std::vector<float> l = {0.0f, 0.0f, 0.0f};
  std::vector<int32_t> hist = {1, 2, 2, 2};
  auto m = as_map(Sampler(p).distribution(l.data(), 3, hist));
  // logits become 0, -0.75, -1.25
  double z = 1 + std::exp(-0.75) + std::exp(-1.25);
  EXPECT_NEAR(m[0], 1 / z, 1e-6);
  EXPECT_NEAR(m[1], std::exp(-0.75) / z, 1e-6);
  EXPECT_NEAR(m[2], std::exp(-1.25) / z, 1e-6);
}

TEST(Sampler, PenaltyWindowOnlySeesLastN) {
  SamplerParams p = plain();
  p.temperature = 0;
  p.presence_penalty = 10.0f;
  p.penalty_last_n = 2;
  std::vector<float> l = {1.0f, 0.5f, 0.0f};
  std::vector<int32_t> hist = {0, 1, 1};  // 0 is outside the window
  EXPECT_EQ(Sampler(p).sample(l.data(), 3, hist), 0);
  p.penalty_last_n = -1;  // whole history: 0 and 1 penalized, 2 wins
  EXPECT_EQ(Sampler(p).sample(l.data(), 3, hist), 2);
  p.penalty_last_n = 0;
  EXPECT_EQ(Sampler(p).sample(l.data(), 3, hist), 0);
}

TEST(Sampler, RejectsBadParamsAndHistory) {
  SamplerParams p;
  p.top_p = 0;
  EXPECT_THROW(Sampler{p}, Error);
  p = SamplerParams{};
  p.repeat_penalty = 1.5f;
  Sampler s(p);
  std::vector<float> l = {0, 0};
  std::vector<int32_t> hist = {7};
  EXPECT_THROW(s.sample(l.data(), 2, hist), Error);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplerParams p = plain();
  p.seed = 1234;
  std::vector<float> l(100);
  for (int i = 0; i < 100; i++) l[size_t(i)] = std::sin(float(i));
  Sampler a(p), b(p);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 200; i++) {
    ta.push_back(a.sample(l.data(), 100, {}));
    tb.push_back(b.sample(l.data(), 100, {}));
  }
  EXPECT_EQ(ta, tb);
  p.seed = 1235;
  Sampler c(p);
  std::vector<int32_t> tc;
  for (int i = 0; i < 200; i++) tc.push_back(c.sample(l.data(), 100, {}));
  EXPECT_NE(ta, tc);
  a.reseed(1234);
  EXPECT_EQ(a.sample(l.data(), 100, {}), ta[0]);
}

TEST(Sampler, UniformIsInUnitIntervalWithRightMean) {
  Sampler s(plain());
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    double u = s.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);  // sd of the mean = 0.29/sqrt(n) ~ 0.0009
}

TEST(Sampler, FrequenciesMatchFilteredDistribution) {
  // R1 defaults (T 0.6, top-p 0.95) plus top-k 4 on a 6-token distribution.
  SamplerParams p;
  p.top_k = 4;
  p.seed = 42;
  std::vector<float> l = {1.0f, 0.2f, 0.8f, -0.3f, 0.5f, 0.9f};
  Sampler s(p);
  auto d = s.distribution(l.data(), 6, {});
  ASSERT_LE(d.size(), 4u);
  const int n = 200000;
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; i++) counts[s.sample(l.data(), 6, {})]++;
  auto m = as_map(d);
  for (auto& [id, c] : counts) EXPECT_TRUE(m.count(id)) << "sampled filtered-out token " << id;
  for (auto& [id, q] : m) {
    double f = double(counts[id]) / n;
    double sigma = std::sqrt(q * (1 - q) / n);
    EXPECT_NEAR(f, q, 5 * sigma + 1e-9) << "token " << id;
  }
}

}  // namespace
}  // namespace r1
