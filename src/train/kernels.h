// The trainer's building blocks, each a *_forward / *_backward pair over plain row-major arrays
// (llm.c style). Templated on the scalar so the same code runs in float for training and in
// double for the finite-difference checks. Backward functions ACCUMULATE (+=) into their
// gradient outputs, so a tensor used twice (a residual, a shared head) just receives both.
// Shapes: a Linear weight is [out][in] (Hugging Face order); x is [n][in]; y is [n][out].
#pragma once
#include <cstdint>
#include <vector>

namespace r1 {
class ThreadPool;
}

namespace r1::train {

// pool may be null (single-threaded); the double checks run that way.
template <typename T>
void linear_forward(ThreadPool* pool, T* y, const T* x, const T* w, int64_t n, int64_t in, int64_t out);
// dx += dy·W (skipped when dx is null), dw += dyᵀ·x.
template <typename T>
void linear_backward(ThreadPool* pool, T* dx, T* dw, const T* dy, const T* x, const T* w, int64_t n, int64_t in,
                     int64_t out);

// y = w ⊙ x / sqrt(mean(x²) + eps) per row of d; rstd[i] keeps 1/sqrt(...) for the backward.
template <typename T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int64_t n, int64_t d, double eps);
template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t n, int64_t d);

// h = silu(g) ⊙ u elementwise (SwiGLU's middle).
template <typename T>
void swiglu_forward(T* h, const T* g, const T* u, int64_t n);
template <typename T>
void swiglu_backward(T* dg, T* du, const T* dh, const T* g, const T* u, int64_t n);

// Adjacent-pair rotation of x[0..2·cs.size()) by the angles whose cos/sin are given (DeepSeek's
// rope, SPEC §1.5). The backward of a rotation is the rotation by the opposite angle.
template <typename T>
void rope_rotate(T* x, const T* cos, const T* sin, int64_t half, bool inverse);

// Causal softmax attention of one head over one sequence of length t: q [t][qs], k [t][ks],
// v [t][vs] (stride per position, first dk / dv used), p [t][t] the probabilities, o [t][os].
struct HeadShape {
  int64_t t, dk, dv, q_stride, k_stride, v_stride, o_stride;
  double scale;
};
template <typename T>
void attention_forward(T* o, T* p, const T* q, const T* k, const T* v, const HeadShape& s);
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* p, const T* q, const T* k, const T* v,
                        const HeadShape& s);

// Softmax cross-entropy of rows of v logits. Rows whose target is < 0 are skipped. Returns the
// summed loss; dlogits (if not null) receives (softmax − onehot) · scale for every counted row
// (and zeros elsewhere — it is written, not accumulated).
template <typename T>
double cross_entropy(T* dlogits, const T* logits, const int32_t* targets, int64_t n, int64_t v, double scale);

// out[i] = table row ids[i]; the backward adds each row's gradient back into its table row.
template <typename T>
void embed_rows(T* out, const T* table, const int32_t* ids, int64_t n, int64_t d);
template <typename T>
void embed_rows_backward(T* dtable, const T* dout, const int32_t* ids, int64_t n, int64_t d);

// Softmax cross-entropy of every scored row with its own weight (weights null: default_weight);
// returns Σ weight·CE, writes dlogits (if not null; zero rows where unscored) and, if logprobs is
// not null, log p(target) per row (0 where unscored).
template <typename T>
double weighted_ce(T* dlogits, const T* logits, const int32_t* targets, const float* weights, double default_weight,
                   int64_t n, int64_t v, double* logprobs);

}  // namespace r1::train
