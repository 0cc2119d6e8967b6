#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace r1 {
namespace {

// Most likely first; equal probabilities by id, so the order never depends on the sort algorithm.
bool more_likely(const TokenProb& a, const TokenProb& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); }

}  // namespace

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
  if (!(params.top_p > 0.0f)) fail("sampler: top_p must be > 0 (got ", params.top_p, ")");
  if (params.top_k < 0) fail("sampler: top_k must be >= 0 (got ", params.top_k, ")");
  if (params.min_p < 0.0f || params.min_p > 1.0f) fail("sampler: min_p must be in [0, 1] (got ", params.min_p, ")");
  if (!(params.repeat_penalty > 0.0f)) fail("sampler: repeat_penalty must be > 0 (got ", params.repeat_penalty, ")");
  if (params.penalty_last_n < -1) fail("sampler: penalty_last_n must be >= -1 (got ", params.penalty_last_n, ")");
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::apply_penalties(std::span<const int32_t> history) {
  const SamplerParams& p = params_;
  if (p.repeat_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f) return;
  size_t n = p.penalty_last_n < 0 ? history.size() : std::min(history.size(), size_t(p.penalty_last_n));
  window_.assign(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
  std::sort(window_.begin(), window_.end());
  const auto n_vocab = static_cast<int64_t>(adjusted_.size());
  for (size_t i = 0; i < window_.size();) {
    size_t j = i;
    while (j < window_.size() && window_[j] == window_[i]) j++;
    int32_t id = window_[i];
    if (id < 0 || id >= n_vocab) fail("sampler: token id ", id, " in the history is outside the vocabulary (", n_vocab, ")");
    float& l = adjusted_[size_t(id)];
    l = l > 0.0f ? l / p.repeat_penalty : l * p.repeat_penalty;
    l -= p.presence_penalty + static_cast<float>(j - i) * p.frequency_penalty;
    i = j;
  }
}

void Sampler::filter(const float* logits, int64_t n_vocab, std::span<const int32_t> history) {
  if (n_vocab <= 0) fail("sampler: empty logits");
  adjusted_.assign(logits, logits + n_vocab);
  apply_penalties(history);
  candidates_.clear();

  if (params_.temperature <= 0.0f) {
    auto best = std::max_element(adjusted_.begin(), adjusted_.end());  // first maximum = lowest id
    candidates_.push_back({static_cast<int32_t>(best - adjusted_.begin()), 1.0f});
    return;
  }

  // Tempered softmax weights (unnormalized: exp(l/T - max)).
  const float inv_t = 1.0f / params_.temperature;
  const float max_l = *std::max_element(adjusted_.begin(), adjusted_.end());
  candidates_.resize(size_t(n_vocab));
  for (int64_t i = 0; i < n_vocab; i++) {
    candidates_[size_t(i)] = {static_cast<int32_t>(i), std::exp((adjusted_[size_t(i)] - max_l) * inv_t)};
  }

  if (params_.top_k > 0 && params_.top_k < n_vocab) {
    auto kth = candidates_.begin() + params_.top_k;
    std::nth_element(candidates_.begin(), kth - 1, candidates_.end(), more_likely);
    candidates_.erase(kth, candidates_.end());
  }

  if (params_.top_p < 1.0f) {
    // Sort only as much of the head as the mass needs: a peaked distribution reaches top_p after
    // a handful of tokens, so growing the sorted prefix beats sorting the whole vocabulary.
    double total = 0;
    for (const TokenProb& c : candidates_) total += c.p;
    const double target = params_.top_p * total;
    size_t sorted = 0, keep = candidates_.size();
    double cum = 0;
    for (size_t k = std::min<size_t>(64, candidates_.size());; k = std::min(k * 8, candidates_.size())) {
      std::partial_sort(candidates_.begin() + sorted, candidates_.begin() + k, candidates_.end(), more_likely);
      for (; sorted < k; sorted++) {
        cum += candidates_[sorted].p;
        if (cum >= target) break;
      }
      if (sorted < k) {
        keep = sorted + 1;
        break;
      }
      if (k == candidates_.size()) break;
    }
    candidates_.resize(keep);
  }

  if (params_.min_p > 0.0f) {
    float top = 0;
    for (const TokenProb& c : candidates_) top = std::max(top, c.p);
    const float threshold = params_.min_p * top;
    std::erase_if(candidates_, [&](const TokenProb& c) { return c.p < threshold; });
  }

  // Draw order is by id so that a seed maps to the same token whatever the sort above did.
  std::sort(candidates_.begin(), candidates_.end(), [](const TokenProb& a, const TokenProb& b) { return a.id < b.id; });
  double sum = 0;
  for (const TokenProb& c : candidates_) sum += c.p;
  for (TokenProb& c : candidates_) c.p = static_cast<float>(c.p / sum);
}

int32_t Sampler::sample(const float* logits, int64_t n_vocab, std::span<const int32_t> history) {
  filter(logits, n_vocab, history);
  if (candidates_.size() == 1) return candidates_[0].id;
  const double u = uniform();
  double cum = 0;
  for (const TokenProb& c : candidates_) {
    cum += c.p;
    if (u < cum) return c.id;
  }
  return candidates_.back().id;  // u landed in the rounding slack above the last cumulative sum
}

std::vector<TokenProb> Sampler::distribution(const float* logits, int64_t n_vocab, std::span<const int32_t> history) {
  filter(logits, n_vocab, history);
  std::vector<TokenProb> out = candidates_;
  std::sort(out.begin(), out.end(), more_likely);
  return out;
}

}  // namespace r1
