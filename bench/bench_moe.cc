// One token through a DeepSeekMoE layer from memory, at the shapes of the MoE rows: the
// matrices the one-token kernels see in the model, small and many, with the parallel steps between
// them. GB/s counts the expert bytes a token reads (router excluded);
// compare with the kernels' own BM_gemv_cold in r1_bench_ops and with `r1 bench --stream`.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/moe.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/repack.h"
#include "util/huge_pages.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

struct MoeShape {
  const char* name;
  int64_t d, width, n_expert, n_used, n_shared;
  DType gate_up, down;  // as r1 gen-model's files have them
};
const MoeShape kShapes[] = {
    {"V2-Lite Q4_K_M", 2048, 1408, 64, 6, 2, DType::Q4_K, DType::Q5_0},  // down: 1408 is not a multiple of 256
    {"0.66B Q8_0", 1024, 512, 32, 4, 1, DType::Q8_0, DType::Q8_0},
};

struct MoeLayer {
  DeepseekConfig c;
  HugeArray<uint8_t> bytes;
  std::vector<float> router;
  MoeWeights w;
  size_t token_bytes = 0;  // expert bytes one token reads

  MoeLayer(const MoeShape& s, int n_copies, bool repacked);
};

// A {cols, rows} view of random N(0, 0.05) weights quantized to t, written at `at`.
TensorView random_matrix(DType t, int64_t cols, int64_t rows, uint8_t* at, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 0.05f);
  const size_t rb = row_bytes(t, cols);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = d(rng);
    quantize_row(t, row.data(), at + size_t(r) * rb, cols);
  }
  TensorView v;
  v.type = t;
  v.n_dims = 2;
  v.ne = {cols, rows, 1, 1};
  v.data = at;
  v.nbytes = rb * size_t(rows);
  return v;
}

size_t ffn_bytes(DType gate_up, DType down, int64_t d, int64_t width) {
  return 2 * row_bytes(gate_up, d) * size_t(width) + row_bytes(down, width) * size_t(d);
}

// Rows interleaved where this backend's kernels want them, as a model load does (ops/repack.h).
void as_loaded(TensorView& w) {
  if (matmul_preferred_layout(w.type, w.ne[0], w.ne[1]) != RowLayout::Interleaved8) return;
  repack_x8(w.type, static_cast<uint8_t*>(const_cast<void*>(w.data)), w.ne[1], w.ne[0]);
  w.layout = RowLayout::Interleaved8;
}

// Expert 0 is quantized, the others are copies of its bytes (the kernels' speed does not depend on
// the values), so that building the experts takes a moment. n_copies: the layer's experts this many
// times over (as more layers would be), the routed ones picked from all of them.
MoeLayer::MoeLayer(const MoeShape& sh, int n_copies, bool repacked)
    : bytes(ffn_bytes(sh.gate_up, sh.down, sh.d, sh.width) * size_t(sh.n_expert * n_copies) +
                ffn_bytes(sh.gate_up, sh.down, sh.d, sh.width * sh.n_shared),
            "benchmark experts") {
  const DType gate_up = sh.gate_up, down = sh.down;
  c.n_embd = sh.d;
  c.n_expert = sh.n_expert * n_copies;
  c.n_expert_used = sh.n_used;
  c.n_expert_shared = sh.n_shared;
  c.n_ff_expert = sh.width;
  c.gating = ExpertGating::Softmax;
  const int64_t D = c.n_embd, F = c.n_ff_expert;
  std::mt19937 rng(1);
  uint8_t* at = bytes.data();
  auto make = [&](int64_t width, FfnWeights& f) {
    f.gate.w = random_matrix(gate_up, D, width, at, rng);
    at += f.gate.w.nbytes;
    f.up.w = random_matrix(gate_up, D, width, at, rng);
    at += f.up.w.nbytes;
    f.down.w = random_matrix(down, width, D, at, rng);
    at += f.down.w.nbytes;
  };
  w.experts.resize(size_t(c.n_expert));
  make(F, w.experts[0]);
  if (repacked) {
    for (Linear* l : {&w.experts[0].gate, &w.experts[0].up, &w.experts[0].down}) as_loaded(l->w);
  }
  const size_t one = ffn_bytes(gate_up, down, D, F);
  for (int64_t e = 1; e < c.n_expert; ++e) {
    std::copy_n(bytes.data(), one, at);
    FfnWeights& f = w.experts[size_t(e)];
    f = w.experts[0];
    for (Linear* l : {&f.gate, &f.up, &f.down}) l->w.data = static_cast<const uint8_t*>(l->w.data) + e * one;
    at += one;
  }
  make(c.n_ff_shared(), w.shared);
  if (repacked) {
    for (Linear* l : {&w.shared.gate, &w.shared.up, &w.shared.down}) as_loaded(l->w);
  }
  std::normal_distribution<float> d(0.0f, 1.0f);
  router.resize(size_t(D * c.n_expert));
  for (auto& v : router) v = d(rng);
  w.router.type = DType::F32;
  w.router.n_dims = 2;
  w.router.ne = {D, c.n_expert, 1, 1};
  w.router.data = router.data();
  w.router.nbytes = router.size() * sizeof(float);
  token_bytes = one * size_t(c.n_expert_used) + ffn_bytes(gate_up, down, D, c.n_ff_shared());
}

// Args: shape (kShapes), threads, repacked (0: rows as stored, 1: as a load leaves them). Each
// shape's experts fill >= 256 MB (V2-Lite's 64: 333 MB; 0.66B's 32 five times over: 267 MB), the
// routed ones picked at random per token.
void BM_moe_one_token(benchmark::State& state) {
  const MoeShape& shape = kShapes[state.range(0)];
  const int n_threads = static_cast<int>(state.range(1));
  const bool repacked = state.range(2) == 1;
  static std::unique_ptr<MoeLayer> layers[2][2];
  std::unique_ptr<MoeLayer>& slot = layers[state.range(0)][repacked];
  if (!slot) slot = std::make_unique<MoeLayer>(shape, state.range(0) == 0 ? 1 : 5, repacked);
  const MoeLayer& layer = *slot;
  static ThreadPool pool1(1), pool2(2);
  ThreadPool& pool = n_threads == 1 ? pool1 : pool2;
  FfnScratch s(layer.c, 1);
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<std::vector<float>> xs(64, std::vector<float>(size_t(layer.c.n_embd)));
  for (auto& x : xs)
    for (auto& v : x) v = d(rng);
  std::vector<float> out(size_t(layer.c.n_embd));
  size_t i = 0;
  for (auto _ : state) {
    moe_forward(layer.c, layer.w, xs[i++ % xs.size()].data(), 1, out.data(), s, pool);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(double(layer.token_bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(shape.name) + " " + matmul_backend());
}
BENCHMARK(BM_moe_one_token)
    ->ArgsProduct({{0, 1}, {1, 2}, {0, 1}})
    ->ArgNames({"shape", "threads", "repacked"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace r1

BENCHMARK_MAIN();
