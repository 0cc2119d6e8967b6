#include "model/weights.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "ops/matmul.h"
#include "ops/coded_bf16.h"
#include "ops/quant.h"
#include "ops/repack.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// Tensor names in both conventions; "{}" stands for the layer index.
struct NamePair {
  const char* gguf;
  const char* hf;
};

std::string tensor_name(const NamePair& n, WeightFormat format, int64_t layer = -1) {
  std::string s = format == WeightFormat::Gguf ? n.gguf : n.hf;
  if (auto at = s.find("{}"); at != std::string::npos) s.replace(at, 2, std::to_string(layer));
  return s;
}

bool is_matrix_type(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q4_0: case DType::Q8_0:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::IQ4_NL:
      return true;
    default:
      return false;
  }
}

// Looks up, checks and (for 1-D tensors) converts to F32.
class Binder {
 public:
  Binder(WeightFormat format, const TensorLookup& lookup, const std::string& source,
         std::deque<std::vector<float>>& store)
      : format_(format), lookup_(lookup), source_(source), store_(store) {}

  const TensorView* find(const NamePair& n, int64_t layer = -1) const { return lookup_(tensor_name(n, format_, layer)); }

  TensorView matrix(const NamePair& n, int64_t layer, int64_t ne0, int64_t ne1) {
    const TensorView& t = get(n, layer, 2, ne0, ne1);
    if (!is_matrix_type(t.type)) {
      fail(source_, ": tensor ", t.name, " has type ", dtype_name(t.type), ", not supported for a weight matrix");
    }
    return t;
  }

  // A 1-D float tensor as F32 (a view of the file when it is F32 already).
  TensorView vector(const NamePair& n, int64_t layer, int64_t ne0) {
    TensorView t = get(n, layer, 1, ne0, 1);
    if (t.type == DType::F32) return t;
    if (t.type != DType::F16 && t.type != DType::BF16) {
      fail(source_, ": tensor ", t.name, " has type ", dtype_name(t.type), ", expected F32, F16 or BF16");
    }
    std::vector<float>& f = store_.emplace_back(static_cast<size_t>(ne0));
    dequantize_row(t.type, t.data, f.data(), ne0);
    t.type = DType::F32;
    t.data = f.data();
    t.nbytes = f.size() * sizeof(float);
    return t;
  }

 private:
  const TensorView& get(const NamePair& n, int64_t layer, int n_dims, int64_t ne0, int64_t ne1) {
    const std::string name = tensor_name(n, format_, layer);
    const TensorView* t = lookup_(name);
    if (!t) fail(source_, ": missing tensor ", name);
    TensorView want;
    want.n_dims = n_dims;
    want.ne = {ne0, ne1, 1, 1};
    if (t->ne != want.ne || t->n_dims != n_dims) {
      fail(source_, ": tensor ", name, " has shape ", t->shape_string(), ", expected ", want.shape_string());
    }
    return *t;
  }

  WeightFormat format_;
  const TensorLookup& lookup_;
  const std::string& source_;
  std::deque<std::vector<float>>& store_;
};

constexpr NamePair kTokenEmbd{"token_embd.weight", "model.embed_tokens.weight"};
constexpr NamePair kOutputNorm{"output_norm.weight", "model.norm.weight"};
constexpr NamePair kOutput{"output.weight", "lm_head.weight"};
constexpr NamePair kAttnNorm{"blk.{}.attn_norm.weight", "model.layers.{}.input_layernorm.weight"};
constexpr NamePair kWq{"blk.{}.attn_q.weight", "model.layers.{}.self_attn.q_proj.weight"};
constexpr NamePair kWk{"blk.{}.attn_k.weight", "model.layers.{}.self_attn.k_proj.weight"};
constexpr NamePair kWv{"blk.{}.attn_v.weight", "model.layers.{}.self_attn.v_proj.weight"};
constexpr NamePair kBq{"blk.{}.attn_q.bias", "model.layers.{}.self_attn.q_proj.bias"};
constexpr NamePair kBk{"blk.{}.attn_k.bias", "model.layers.{}.self_attn.k_proj.bias"};
constexpr NamePair kBv{"blk.{}.attn_v.bias", "model.layers.{}.self_attn.v_proj.bias"};
constexpr NamePair kWo{"blk.{}.attn_output.weight", "model.layers.{}.self_attn.o_proj.weight"};
constexpr NamePair kFfnNorm{"blk.{}.ffn_norm.weight", "model.layers.{}.post_attention_layernorm.weight"};
constexpr NamePair kGate{"blk.{}.ffn_gate.weight", "model.layers.{}.mlp.gate_proj.weight"};
constexpr NamePair kUp{"blk.{}.ffn_up.weight", "model.layers.{}.mlp.up_proj.weight"};
constexpr NamePair kDown{"blk.{}.ffn_down.weight", "model.layers.{}.mlp.down_proj.weight"};

}  // namespace

DenseWeights bind_dense_weights(const ModelConfig& c, WeightFormat format, const TensorLookup& lookup,
                                const std::string& source, std::deque<std::vector<float>>& f32_store) {
  Binder b(format, lookup, source, f32_store);
  DenseWeights w;
  w.token_embd = b.matrix(kTokenEmbd, -1, c.n_embd, c.n_vocab);
  w.output_norm = b.vector(kOutputNorm, -1, c.n_embd);
  w.output = c.tied_output ? w.token_embd : b.matrix(kOutput, -1, c.n_embd, c.n_vocab);
  for (int64_t l = 0; l < c.n_layer; l++) {
    LayerWeights& L = w.layers.emplace_back();
    L.attn_norm = b.vector(kAttnNorm, l, c.n_embd);
    L.wq = b.matrix(kWq, l, c.n_embd, c.q_dim());
    L.wk = b.matrix(kWk, l, c.n_embd, c.kv_dim());
    L.wv = b.matrix(kWv, l, c.n_embd, c.kv_dim());
    if (c.qkv_bias) {
      L.bq = b.vector(kBq, l, c.q_dim());
      L.bk = b.vector(kBk, l, c.kv_dim());
      L.bv = b.vector(kBv, l, c.kv_dim());
    }
    L.wo = b.matrix(kWo, l, c.q_dim(), c.n_embd);
    L.ffn_norm = b.vector(kFfnNorm, l, c.n_embd);
    L.w_gate = b.matrix(kGate, l, c.n_embd, c.n_ff);
    L.w_up = b.matrix(kUp, l, c.n_embd, c.n_ff);
    L.w_down = b.matrix(kDown, l, c.n_ff, c.n_embd);
  }
  return w;
}

int repack_matrices(const std::vector<TensorView*>& matrices, const std::vector<const TensorView*>& keep,
                    const WritableBytes& writable) {
  // Distinct byte ranges, sorted: the matrices' (with their views) and the kept ones.
  struct Range {
    const uint8_t* begin;
    size_t bytes;
    std::vector<TensorView*> views;  // empty: a kept range
  };
  std::map<std::pair<const uint8_t*, size_t>, Range> by_bytes;
  for (TensorView* t : matrices)
    if (t->data != nullptr) {
      Range& r = by_bytes[{static_cast<const uint8_t*>(t->data), t->nbytes}];
      r.begin = static_cast<const uint8_t*>(t->data);
      r.bytes = t->nbytes;
      r.views.push_back(t);
    }
  std::vector<Range> ranges;
  for (auto& [key, r] : by_bytes) ranges.push_back(std::move(r));
  for (const TensorView* t : keep)
    if (t->data != nullptr) ranges.push_back({static_cast<const uint8_t*>(t->data), t->nbytes, {}});
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });

  // What to rewrite, found first; then rewritten on several threads (coding BF16 costs ~1 ns a weight,
  // seconds for a model of billions), each range by one thread; then the views marked.
  struct Job {
    Range* range;
    RowLayout layout;
    uint8_t* bytes;
    bool done = false;
  };
  std::vector<Job> jobs;
  const uint8_t* reach = nullptr;  // the furthest end of the ranges before this one
  for (size_t i = 0; i < ranges.size(); ++i) {
    Range& r = ranges[i];
    const uint8_t* end = r.begin + r.bytes;
    const bool alone = (reach == nullptr || reach <= r.begin) && (i + 1 == ranges.size() || end <= ranges[i + 1].begin);
    reach = reach == nullptr ? end : std::max(reach, end);
    if (!alone || r.views.empty()) continue;
    TensorView& t = *r.views.front();
    const int64_t k = t.ne[0], rows = t.rows();
    bool plain = true;
    for (const TensorView* v : r.views) plain = plain && v->layout == RowLayout::Plain && v->type == t.type && v->ne[0] == k;
    const RowLayout layout = plain ? matmul_preferred_layout(t.type, k, rows) : RowLayout::Plain;
    if (layout == RowLayout::Plain) continue;
    if (uint8_t* bytes = writable(t)) jobs.push_back({&r, layout, bytes});
  }
  run_jobs_on_threads(jobs.size(), [&](size_t j) {
    Job& job = jobs[j];
    const TensorView& t = *job.range->views.front();
    if (job.layout == RowLayout::Interleaved8) {
      repack_x8(t.type, job.bytes, t.rows(), t.ne[0]);
      job.done = true;
    } else {
      job.done = t.type == DType::F16 ? code_f16_matrix_as_bf16(job.bytes, t.nbytes, t.rows(), t.ne[0])
                                      : code_bf16_matrix(job.bytes, t.nbytes, t.rows(), t.ne[0]);
    }
  });
  int n = 0;
  for (const Job& job : jobs) {
    if (!job.done) continue;
    for (TensorView* v : job.range->views) {
      v->layout = job.layout;
      if (job.layout == RowLayout::CodedBf16) v->type = DType::BF16;  // F16 rows are coded as their bf16 values
    }
    n += static_cast<int>(job.range->views.size());
  }
  return n;
}

int repack_dense_weights(DenseWeights& w, const WritableBytes& writable) {
  std::vector<TensorView*> matrices;
  for (LayerWeights& L : w.layers) for_each_dense_matrix(L, [&](TensorView& t) { matrices.push_back(&t); });
  matrices.push_back(&w.output);
  return repack_matrices(matrices, {&w.token_embd}, writable);
}

}  // namespace r1
