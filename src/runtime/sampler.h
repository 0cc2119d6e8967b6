// Picks the next token from a row of logits: penalties over the recent tokens, then temperature,
// then the top-k / top-p / min-p filters, then one draw from what is left (or argmax when the
// temperature is 0). The order follows Hugging Face's generate(), which is how DeepSeek states its
// recommended settings (temperature 0.6, top-p 0.95): the filters see the tempered distribution.
// The random source is std::mt19937_64 with our own uniform mapping, so a seed gives the same
// tokens with any standard library.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace r1 {

struct SamplerParams {
  float temperature = 0.6f;  // <= 0: greedy (argmax, ties to the lowest id)
  int top_k = 0;             // keep the k most likely tokens; 0: off
  float top_p = 0.95f;       // keep the smallest set whose probability reaches top_p; >= 1: off
  float min_p = 0.0f;        // drop tokens below min_p x the top token's probability; 0: off
  // Penalties look at the last `penalty_last_n` tokens of the history (0: none, -1: all of it).
  float repeat_penalty = 1.0f;     // CTRL-style: a seen token's logit is divided (>0) or multiplied (<0); 1: off
  float presence_penalty = 0.0f;   // subtracted once from every seen token's logit
  float frequency_penalty = 0.0f;  // subtracted once per occurrence
  int penalty_last_n = 64;
  uint64_t seed = 0;
};

// A token and its probability in the filtered distribution.
struct TokenProb {
  int32_t id;
  float p;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);

  const SamplerParams& params() const { return params_; }
  void reseed(uint64_t seed) { rng_.seed(seed); }

  // Chooses a token from logits[0..n_vocab); history holds the tokens so far (prompt and
  // generated), oldest first. Reuses internal buffers: no allocation once they are sized.
  int32_t sample(const float* logits, int64_t n_vocab, std::span<const int32_t> history);

  // The distribution sample() draws from, most likely first (for tests and for tools that
  // show alternatives). Greedy gives the single argmax with p = 1.
  std::vector<TokenProb> distribution(const float* logits, int64_t n_vocab, std::span<const int32_t> history);

  // A uniform double in [0, 1) from 53 random bits of the generator.
  double uniform();

 private:
  // Fills candidates_ with the filtered, normalized distribution (sorted, most likely first).
  void filter(const float* logits, int64_t n_vocab, std::span<const int32_t> history);
  void apply_penalties(std::span<const int32_t> history);

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<float> adjusted_;        // logits after penalties, n_vocab
  std::vector<TokenProb> candidates_;  // filtered distribution
  std::vector<int32_t> window_;        // sorted copy of the penalty window
};

}  // namespace r1
