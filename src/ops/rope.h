// Rotary position embedding. Pair i (0 <= i < n_dims/2) of a head is rotated by pos·θ_i:
//   θ_i = theta^(−2i/n_dims) / freq_factors[i]                          (llama3 rope_freqs, if any)
//   YaRN (yarn_factor > 1): θ_i = θ_i/factor · ramp(i) + θ_i · (1 − ramp(i)) with
//   ramp(i) = clamp((i − low)/(high − low), 0, 1), low/high from yarn_corr_dims() (SPEC §1.5).
// cos and sin are multiplied by `mscale` (llama.cpp's attn_factor; 1 for DeepSeek, whose YaRN
// mscale enters the attention scale instead). Dims at n_dims and beyond are left unrotated.
#pragma once
#include <cstdint>
#include <vector>

namespace r1 {

enum class RopePairing {
  kNorm,  // adjacent pairs (2i, 2i+1): GPT-J / ggml "NORM" (DeepSeek, llama GGUF)
  kNeox,  // rotate_half pairs (i, i + n_dims/2): HF / ggml "NEOX" (Qwen2)
};

struct RopeParams {
  int n_dims = 0;
  double theta = 10000.0;
  RopePairing pairing = RopePairing::kNeox;
  std::vector<float> freq_factors;  // empty, or n_dims/2 divisors
  double yarn_factor = 1.0;         // <= 1: no YaRN
  double yarn_orig_ctx = 4096;
  double yarn_beta_fast = 32, yarn_beta_slow = 1;
  float mscale = 1.0f;
};

// YaRN correction range {low, high} in pair indices (llama.cpp's ggml_rope_yarn_corr_dims).
void yarn_corr_dims(const RopeParams& p, double* low, double* high);
// Per-pair angular frequencies θ_i (n_dims/2 values), all of the above applied.
std::vector<double> rope_frequencies(const RopeParams& p);
// llama3 rope_freqs divisors (what convert_hf_to_gguf.py writes as rope_freqs.weight).
std::vector<float> llama3_freq_factors(int n_dims, double theta, double factor, double low_freq_factor,
                                       double high_freq_factor, double orig_ctx);

// cos/sin for every position in [0, n_pos): cos(pos·θ_i)·mscale at [pos·n_dims/2 + i], sin likewise.
class RopeTable {
 public:
  RopeTable(const RopeParams& p, int64_t n_pos);
  const RopeParams& params() const { return p_; }
  int64_t n_pos() const { return n_pos_; }
  // Rotates the first n_dims dims of n_heads heads at x, x + head_stride, ... for position pos.
  void apply(float* x, int n_heads, int64_t head_stride, int64_t pos) const;

 private:
  RopeParams p_;
  int64_t n_pos_;
  std::vector<float> cos_, sin_;
};

// One-off form of RopeTable::apply (computes this position's cos/sin).
void rope_apply(float* x, int n_heads, int64_t head_stride, int64_t pos, const RopeParams& p);

}  // namespace r1
