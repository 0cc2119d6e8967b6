// matmul throughput per weight type at R1-Distill-Qwen-1.5B shapes (hidden 1536, FFN 8960).
// gemv (one token, decode) is memory bound: compare bytes/s with the machine's bandwidth.
// gemm (64 tokens, prefill) is compute bound: compare FLOP/s.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/coded_bf16.h"
#include "ops/convert.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/repack.h"
#include "util/huge_pages.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

constexpr int64_t kK = 1536, kN = 8960;
const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::F8_E4M3, DType::Q8_0, DType::Q4_0,  DType::Q4_K,
                        DType::Q5_K, DType::Q6_K, DType::Q4_1, DType::Q5_0,    DType::Q5_1, DType::IQ4_NL};

ThreadPool& pool() {
  static ThreadPool p(0);
  return p;
}

// A cols × rows weight matrix of type t with random N(0, 0.05) values, its bytes in `bytes`.
TensorView random_weights(DType t, int64_t cols, int64_t rows, std::vector<uint8_t>& bytes) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 0.05f);
  const size_t rb = row_bytes(t, cols);
  bytes.resize(rb * size_t(rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = d(rng);
    quantize_row(t, row.data(), bytes.data() + size_t(r) * rb, cols);
  }
  TensorView w;
  w.type = t;
  w.n_dims = 2;
  w.ne = {cols, rows, 1, 1};
  w.data = bytes.data();
  w.nbytes = bytes.size();
  return w;
}

// shape:0 is gate / up (k = 1536, 8960 rows), shape:1 down (k = 8960, 1536 rows): the same work, but
// down's prompt activations (512 tokens × 8960) do not fit in L2.
void BM_matmul(benchmark::State& state) {
  const DType t = kTypes[state.range(0)];
  const int64_t n_tok = state.range(1);
  const bool down = state.range(2) != 0;
  const int64_t k = down ? kN : kK, rows = down ? kK : kN;
  std::vector<uint8_t> bytes;
  const TensorView w = random_weights(t, k, rows, bytes);
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> x(n_tok * k), y(n_tok * rows);
  for (auto& v : x) v = d(rng);
  for (auto _ : state) {
    matmul(w, x.data(), n_tok, y.data(), pool());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(dtype_name(t)) + " " + matmul_backend());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kK * kN * n_tok * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(bytes.size() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_matmul)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 64, 512}, {0, 1}})
    ->ArgNames({"type", "n_tok", "shape"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The fixed cost of one parallel step (publish a job, every thread runs it, wait): decode issues
// ~10 matmuls per layer, so this must stay far below a matmul's own time (~10-100 µs).
void BM_pool_run(benchmark::State& state) {
  std::atomic<int> sink{0};
  for (auto _ : state) pool().run([&](int ith, int) { sink.fetch_add(ith, std::memory_order_relaxed); });
  benchmark::DoNotOptimize(sink.load());
  state.SetLabel(std::to_string(pool().size()) + " threads");
}
BENCHMARK(BM_pool_run)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Decode-sized matmul (one token) and a prefill chunk per kernel backend, to see the tile kernels
// against the one-row dot products: Q4_0, Q8_0, Q4_K or Q5_0 at the FFN shape; repacked:1
// interleaves the rows as a model load does where the backend's kernels want it (ops/repack.h).
const DType kBackendTypes[] = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_0};
void BM_matmul_backend(benchmark::State& state) {
  const char* names[] = {"scalar", "avx2", "avx512", "avx512vnni", "avx2vnni"};
  const char* name = names[state.range(0)];
  const DType type = kBackendTypes[state.range(1)];
  if (!force_matmul_backend(name)) {
    state.SkipWithError("backend not available on this CPU");
    return;
  }
  const int64_t n_tok = state.range(2);
  const bool repacked = state.range(3) != 0;
  if (repacked && matmul_preferred_layout(type, kK, kN) != RowLayout::Interleaved8) {
    force_matmul_backend("auto");
    state.SkipWithError("this backend reads the rows as stored");
    return;
  }
  std::vector<uint8_t> bytes;
  TensorView w = random_weights(type, kK, kN, bytes);
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 0.05f);
  if (repacked) {
    repack_x8(type, bytes.data(), kN, kK);
    w.layout = RowLayout::Interleaved8;
  }
  std::vector<float> x(n_tok * kK), y(n_tok * kN);
  for (auto& v : x) v = d(rng);
  for (auto _ : state) {
    matmul(w, x.data(), n_tok, y.data(), pool());
    benchmark::DoNotOptimize(y.data());
  }
  force_matmul_backend("auto");
  state.SetLabel(std::string(name) + " " + std::string(dtype_name(type)) + (repacked ? " repacked" : ""));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kK * kN * n_tok * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(bytes.size() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_matmul_backend)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1, 2, 3}, {1, 64}, {0, 1}})
    ->ArgNames({"backend", "type", "n_tok", "repacked"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Rewrites w's rows (bytes) into the interleaved layout where this backend's kernels want it, as a
// model load does (ops/repack.h); false where they read the rows as stored.
bool as_loaded(TensorView& w, uint8_t* bytes) {
  if (matmul_preferred_layout(w.type, w.ne[0], w.ne[1]) != RowLayout::Interleaved8) return false;
  repack_x8(w.type, bytes, w.ne[1], w.ne[0]);
  w.layout = RowLayout::Interleaved8;
  return true;
}

// Times one token (or n_tok together) against `copies` matrices laid end to end from `base` (copies
// of w's bytes), one per call in turn, so that the weights come from memory; GB/s counts w.nbytes per call.
void time_gemv_in_turn(benchmark::State& state, TensorView w, const uint8_t* base, size_t copies, ThreadPool& tp,
                       int64_t n_tok = 1) {
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> x(static_cast<size_t>(n_tok * w.ne[0])), y(static_cast<size_t>(n_tok * w.ne[1]));
  for (auto& v : x) v = d(rng);
  size_t c = 0;
  for (auto _ : state) {
    w.data = base + c * w.nbytes;
    c = (c + 1) % copies;
    matmul(w, x.data(), n_tok, y.data(), tp);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(w.nbytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Decode as the model sees it: one token against weights that are not in cache. The matrices
// above fit in L3 (7.7 MB at Q4_0), which flatters the one-token kernels; here copies of the FFN
// matrix totalling >= 256 MB are used in turn, so every call streams its weights from memory.
// Args: weight type (index into kTypes), threads, shape: 0 the FFN's gate/up (k = 1536), 1 its
// down projection (k = 8960, whose float32 activation fills most of L1); repacked: 1 the rows
// interleaved as a load does where this backend wants that (skipped elsewhere). Compare GB/s with
// `r1 bench --stream`.
void BM_gemv_cold(benchmark::State& state) {
  const DType t = kTypes[state.range(0)];
  const int n_threads = static_cast<int>(state.range(1));
  const bool down = state.range(2) == 1;
  const int64_t cols = down ? kN : kK, rows = down ? kK : kN;  // k and output rows
  static ThreadPool pool1(1), pool2(2);
  std::vector<uint8_t> one;
  TensorView w = random_weights(t, cols, rows, one);
  if (state.range(3) == 1 && !as_loaded(w, one.data())) {
    state.SkipWithError("this backend reads the rows as stored");
    return;
  }
  const size_t mat = w.nbytes, copies = std::max<size_t>(2, (size_t{256} << 20) / mat + 1);
  HugeArray<uint8_t> bytes(mat * copies, "benchmark weights");  // 2 MiB pages, as a model load gives them
  for (size_t c = 0; c < copies; ++c) std::copy(one.begin(), one.end(), bytes.data() + c * mat);
  time_gemv_in_turn(state, w, bytes.data(), copies, n_threads == 1 ? pool1 : pool2);
  state.SetLabel(std::string(dtype_name(t)) + " " + matmul_backend());
}
BENCHMARK(BM_gemv_cold)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 2}, {0, 1}, {0, 1}})
    ->ArgNames({"type", "threads", "shape", "repacked"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// One token through BF16 rows as stored or coded at load (ops/coded_bf16.h: 12 bits a weight), from
// memory (copies in huge pages, >= 256 MB in turn). GB/s counts the BF16 bytes the product stands for,
// so the two layouts compare directly. Args: threads, shape (0: 8960 rows of 1536, 1: 1536 of 8960,
// 2: 128 of 1536, one copy, which stays in L2: the kernel's own speed), coded (0 / 1), tokens (1 to 4
// together: a batched decode step). Run with --benchmark_enable_random_interleaving=true and
// repetitions to alternate.
void BM_gemv_coded_cold(benchmark::State& state) {
  const int n_threads = static_cast<int>(state.range(0));
  const bool down = state.range(1) == 1, hot = state.range(1) == 2, coded = state.range(2) == 1;
  const int64_t n_tok = state.range(3);
  const int64_t cols = down ? kN : kK, rows = down ? kK : hot ? 128 : kN;
  static ThreadPool pool1(1), pool2(2);
  std::vector<uint8_t> one;
  TensorView w = random_weights(DType::BF16, cols, rows, one);
  if (coded && !code_bf16_matrix(one.data(), one.size(), rows, cols)) {
    state.SkipWithError("the rows did not code");
    return;
  }
  w.layout = coded ? RowLayout::CodedBf16 : RowLayout::Plain;
  const size_t mat = w.nbytes, copies = hot ? 1 : (size_t{256} << 20) / mat + 2;
  HugeArray<uint8_t> bytes(mat * copies, "benchmark weights");
  for (size_t c = 0; c < copies; ++c) std::copy_n(one.data(), mat, bytes.data() + c * mat);
  time_gemv_in_turn(state, w, bytes.data(), copies, n_threads == 1 ? pool1 : pool2, n_tok);
  state.SetLabel(std::string(coded ? "coded " : "plain ") + matmul_backend());
}
BENCHMARK(BM_gemv_coded_cold)
    ->ArgsProduct({{1, 2}, {0, 1, 2}, {0, 1}, {1, 2, 3, 4}})
    ->ArgNames({"threads", "shape", "coded", "tokens"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// One token through a small matrix that stays in L2 (128 rows of 1536), one thread: the kernel's own
// speed plus what every call costs once (the activation quantized and laid out for the kernel),
// which a model pays per matrix and per routed expert. Args: weight type, repacked (as BM_gemv_cold).
void BM_gemv_hot(benchmark::State& state) {
  const DType t = kTypes[state.range(0)];
  constexpr int64_t kRows = 128;
  ThreadPool& tp = serial_pool();
  std::vector<uint8_t> bytes;
  TensorView w = random_weights(t, kK, kRows, bytes);
  if (state.range(1) == 1 && !as_loaded(w, bytes.data())) {
    state.SkipWithError("this backend reads the rows as stored");
    return;
  }
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> x(kK), y(kRows);
  for (auto& v : x) v = d(rng);
  for (auto _ : state) {
    matmul(w, x.data(), 1, y.data(), tp);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(dtype_name(t)) + " " + matmul_backend());
  state.counters["GB/s"] = benchmark::Counter(bytes.size() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_gemv_hot)
    ->ArgsProduct({benchmark::CreateDenseRange(0, 12, 1), {0, 1}})
    ->ArgNames({"type", "repacked"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// One token through a layer's q, k and v projections (R1-Distill-Qwen-1.5B: 1536 inputs; 1536, 256
// and 256 rows), from memory (copies in huge pages, as the model holds them, >= 256 MB in turn), on 2
// threads: three matmul calls, or one matmul_shared_input step. Args: weight type, shared (0 / 1).
// Run with --benchmark_enable_random_interleaving=true and repetitions to alternate the two.
void BM_qkv_cold(benchmark::State& state) {
  const DType t = kTypes[state.range(0)];
  const bool shared = state.range(1) == 1;
  const int64_t rows[3] = {kK, 256, 256};
  static ThreadPool pool(2);
  const size_t rb = row_bytes(t, kK), layer = rb * (rows[0] + rows[1] + rows[2]);
  const size_t copies = (size_t{256} << 20) / layer + 1;
  HugeArray<uint8_t> bytes(layer * copies, "benchmark weights");
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> row(kK);
  for (size_t r = 0; r < layer / rb; ++r) {
    for (auto& v : row) v = d(rng);
    quantize_row(t, row.data(), bytes.data() + r * rb, kK);
  }
  for (size_t c = 1; c < copies; ++c) std::copy_n(bytes.data(), layer, bytes.data() + c * layer);
  std::vector<float> x(kK), y(size_t(rows[0] + rows[1] + rows[2]));
  for (auto& v : x) v = d(rng);
  TensorView w[3];
  float* out[3] = {y.data(), y.data() + rows[0], y.data() + rows[0] + rows[1]};
  for (int i = 0; i < 3; ++i) {
    w[i].type = t;
    w[i].n_dims = 2;
    w[i].ne = {kK, rows[i], 1, 1};
    w[i].nbytes = rb * size_t(rows[i]);
  }
  size_t c = 0;
  for (auto _ : state) {
    const uint8_t* base = bytes.data() + c * layer;
    c = (c + 1) % copies;
    w[0].data = base;
    w[1].data = base + rb * size_t(rows[0]);
    w[2].data = base + rb * size_t(rows[0] + rows[1]);
    if (shared) {
      matmul_shared_input({{&w[0], out[0]}, {&w[1], out[1]}, {&w[2], out[2]}}, x.data(), 1, pool);
    } else {
      for (int i = 0; i < 3; ++i) matmul(w[i], x.data(), 1, out[i], pool);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(dtype_name(t)) + (shared ? " one step " : " three steps ") + matmul_backend());
  state.counters["GB/s"] = benchmark::Counter(layer * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_qkv_cold)
    ->ArgsProduct({{1, 4, 5}, {0, 1}})
    ->ArgNames({"type", "shared"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Decode attention at depth as a dense model sees it: R1-Distill-Qwen-1.5B's 6 query heads of one
// KV head (128 wide) against 4096 cached positions, the caches of 28 layers used in turn (117 MB,
// so keys and values come from memory). Arg: the cache in huge pages (util/huge_pages.h, as
// KVCache holds it) or in a std::vector's 4 KiB pages. One thread; GB/s counts keys and values.
void BM_attention_cold(benchmark::State& state) {
  constexpr int64_t kHead = 128, kQueries = 6, kKeys = 4096, kLayers = 28, kCache = kKeys * kHead * 2;
  const bool huge = state.range(0) != 0;
  HugeFloatArray huge_cache(huge ? size_t(kLayers * kCache) : 1, "benchmark cache");
  std::vector<float> plain_cache(huge ? 1 : size_t(kLayers * kCache));
  float* cache = huge ? huge_cache.data() : plain_cache.data();
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t i = 0; i < kLayers * kCache; ++i) cache[i] = d(rng);
  std::vector<float> q(kQueries * kHead), out(kQueries * kHead), scores(kQueries * kKeys);
  for (auto& v : q) v = 0.1f * d(rng);
  int64_t layer = 0;
  for (auto _ : state) {
    const float* k = cache + layer * kCache;
    attend(q.data(), kQueries, kHead, k, kHead, kKeys, k + kKeys * kHead, kHead, kHead, 0.088f, out.data(), scores.data());
    benchmark::DoNotOptimize(out.data());
    layer = (layer + 1) % kLayers;
  }
  state.SetLabel(std::string(huge ? "huge pages " : "4 KiB pages ") + matmul_backend());
  state.counters["GB/s"] = benchmark::Counter(kCache * sizeof(float) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention_cold)->Arg(0)->Arg(1)->ArgName("huge")->Unit(benchmark::kMicrosecond)->UseRealTime();

// The same with the caches' other types, as the kernels read them (widened as they are loaded): F16
// (the CLI's default, half the bytes per position), Q8_0 (`-ctk q8_0`, 17/32 of F16's) or Q4_0
// (`-ctk q4_0`, 9/32), and three of the types widened 256 positions at a time (ops/attention.h): Q5_0
// (11/32), BF16 and IQ4_NL. Arg: index into kCacheTypes. GB/s counts the stored bytes.
void BM_attention_cold_typed(benchmark::State& state) {
  constexpr int64_t kHead = 128, kQueries = 6, kKeys = 4096, kLayers = 28, kRows = kKeys * 2;
  constexpr DType kCacheTypes[] = {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::BF16, DType::IQ4_NL};
  const DType type = kCacheTypes[state.range(0)];
  const size_t row = row_bytes(type, kHead), layer_bytes = size_t(kRows) * row;
  HugeArray<uint8_t> cache(size_t(kLayers) * layer_bytes, "benchmark cache");
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> values(kHead);
  for (int64_t r = 0; r < kLayers * kRows; ++r) {
    for (auto& v : values) v = d(rng);
    quantize_row(type, values.data(), cache.data() + size_t(r) * row, kHead);
  }
  std::vector<float> q(kQueries * kHead), out(kQueries * kHead), scores(kQueries * kKeys);
  for (auto& v : q) v = 0.1f * d(rng);
  int64_t layer = 0;
  for (auto _ : state) {
    const uint8_t* k = cache.data() + size_t(layer) * layer_bytes;
    attend(type, q.data(), kQueries, kHead, k, kHead, kKeys, k + size_t(kKeys) * row, kHead, kHead, 0.088f, out.data(),
           scores.data());
    benchmark::DoNotOptimize(out.data());
    layer = (layer + 1) % kLayers;
  }
  state.SetLabel(std::string(dtype_name(type)) + ", huge pages " + matmul_backend());
  state.counters["GB/s"] = benchmark::Counter(double(layer_bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention_cold_typed)->DenseRange(0, 5)->ArgName("type")->Unit(benchmark::kMicrosecond)->UseRealTime();

// Storing positions in a quantized attention cache: one 128-wide row (a head's key or value) per
// call, rows of random values, through quantize_row (what the cache appends run). IQ4_NL runs
// llama.cpp's search over 16 trial scales per block. Arg: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL.
void BM_quantize_cache_rows(benchmark::State& state) {
  constexpr int64_t kHead = 128, kRowsPerIter = 1024;
  constexpr DType kRowTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL};
  const DType type = kRowTypes[state.range(0)];
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> values(size_t(kHead * kRowsPerIter));
  for (auto& v : values) v = d(rng);
  const size_t row = row_bytes(type, kHead);
  std::vector<uint8_t> out(row * kRowsPerIter);
  for (auto _ : state) {
    for (int64_t r = 0; r < kRowsPerIter; ++r) quantize_row(type, values.data() + r * kHead, out.data() + size_t(r) * row, kHead);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(std::string(dtype_name(type)));
  state.counters["blocks/s"] =
      benchmark::Counter(double(kRowsPerIter * kHead / 32), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_quantize_cache_rows)->DenseRange(0, 5)->ArgName("type")->Unit(benchmark::kMicrosecond);

// Decode attention at depth as MLA computes it: one thread's 8 of 16 heads (DeepSeek-V3-0.66B,
// V2-Lite) against 4096 positions of the F16 latent cache (576 wide keys, the first 512 their values),
// the caches of 8 layers used in turn (38 MB). Arg: float32 products (R1_BF16_DOT=0's path), or bf16
// products on the rows packed block by block (the default where the CPU has AVX-512 BF16; skipped
// elsewhere). One thread.
void BM_attention_latent(benchmark::State& state) {
  constexpr int64_t kLatent = 576, kValues = 512, kHeads = 8, kKeys = 4096, kLayers = 8, kCache = kKeys * kLatent;
  const bool bf16 = state.range(0) != 0;
  const bool was = bf16_dot_products();
  set_bf16_dot_products(bf16);
  if (bf16 && !attend_bf16_available(kLatent, kValues)) {
    set_bf16_dot_products(was);
    state.SkipWithError("no AVX-512 BF16 here");
    return;
  }
  HugeArray<uint16_t> cache(size_t(kLayers * kCache), "benchmark cache");
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t i = 0; i < kLayers * kCache; ++i) cache.data()[i] = f32_to_fp16(d(rng));
  std::vector<float> q(kHeads * kLatent), out(kHeads * kValues), scores(kHeads * kKeys);
  for (auto& v : q) v = 0.05f * d(rng);
  int64_t layer = 0;
  for (auto _ : state) {
    const uint16_t* k = cache.data() + layer * kCache;
    attend(q.data(), kHeads, kLatent, k, kLatent, kKeys, k, kLatent, kValues, 0.07f, out.data(), scores.data());
    benchmark::DoNotOptimize(out.data());
    layer = (layer + 1) % kLayers;
  }
  set_bf16_dot_products(was);
  state.SetLabel(std::string(bf16 ? "bf16 products " : "float32 products ") + matmul_backend());
  state.counters["GMAC/s"] =
      benchmark::Counter(double(kHeads * kKeys * (kLatent + kValues)) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention_latent)->Arg(0)->Arg(1)->ArgName("bf16")->Unit(benchmark::kMicrosecond)->UseRealTime();

// MLA's per-head projections in decode, DeepSeek-V3-0.66B's shapes (16 heads, latent 256, head dims
// 64) from a Q8_0 GGUF with a combined attn_kv_b (model/deepseek_weights.cc): absorbing W_UK into the
// queries (per head 256 rows of 64 in the F16 transposed copy) and decompressing the latents with W_UV
// (per head 64 Q8_0 rows of 256). The matrices of 512 layers are used in turn (>= 140 MB), so the
// weights come from memory. Arg case: 0 W_UK, one matmul_rows per head, each thread taking every
// other head (before matmul_heads); 1 W_UK through matmul_heads; 2 W_UV read in place, every other
// 64 rows of attn_kv_b, as case 0; 3 W_UV copied at load (the heads' rows one after another) through
// matmul_heads. GB/s counts the bytes used. Two threads.
void BM_mla_heads(benchmark::State& state) {
  constexpr int64_t kHeads = 16, kRank = 256, kHead = 64, kLayers = 512;
  const int64_t which = state.range(0);
  const bool uv = which >= 2, heads = which % 2 == 1;
  const int64_t k = uv ? kRank : kHead, rows = uv ? kHead : kRank;
  const int64_t stride = which == 2 ? 2 * kHead : rows, row0 = which == 2 ? kHead : 0;  // in attn_kv_b: [k | v] per head
  static ThreadPool tp(2);
  const DType t = uv ? DType::Q8_0 : DType::F16;
  const size_t rb = row_bytes(t, k), mat = rb * size_t(kHeads * stride);
  std::vector<uint8_t> bytes(mat * kLayers);
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < kHeads * stride; ++r) {
    for (auto& v : row) v = d(rng);
    quantize_row(t, row.data(), bytes.data() + size_t(r) * rb, k);
  }
  for (int64_t l = 1; l < kLayers; ++l) std::copy_n(bytes.begin(), mat, bytes.begin() + l * mat);
  std::vector<float> x(size_t(kHeads * k)), y(size_t(kHeads * rows));
  for (auto& v : x) v = d(rng);
  TensorView w;
  w.type = t;
  w.n_dims = 3;
  w.ne = {k, stride, kHeads, 1};
  w.nbytes = mat;
  int64_t layer = 0;
  for (auto _ : state) {
    w.data = bytes.data() + size_t(layer) * mat;
    if (heads) {
      matmul_heads(w, kHeads, x.data(), k, y.data(), tp);
    } else {
      tp.run([&](int tid, int nt) {
        for (int64_t h = tid; h < kHeads; h += nt)
          matmul_rows(w, row0 + h * stride, rows, x.data() + h * k, 1, y.data() + h * rows, serial_pool());
      });
    }
    benchmark::DoNotOptimize(y.data());
    layer = (layer + 1) % kLayers;
  }
  const char* labels[] = {"W_UK f16, per-head matmul_rows", "W_UK f16, matmul_heads",
                          "W_UV q8_0 in attn_kv_b, per-head matmul_rows", "W_UV q8_0 copied, matmul_heads"};
  state.SetLabel(labels[which]);
  state.counters["GB/s"] = benchmark::Counter(double(rb) * double(kHeads * rows) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_mla_heads)->DenseRange(0, 3)->ArgName("case")->Unit(benchmark::kMicrosecond)->UseRealTime();

// Prompt attention at depth as a dense model computes it: one token's 6 query heads (Qwen-1.5B) over
// 4096 positions of one KV head, keys and values in L2/L3 (one head's F16 cache, 2 MiB), so the
// multiply-adds bound it. Arg: float32 products on the F16 rows (attend), or bf16 products on rows
// packed once (attend_bf16; skipped without AVX-512 BF16). One thread.
void BM_attention_prompt(benchmark::State& state) {
  constexpr int64_t kHead = 128, kQueries = 6, kKeys = 4096;
  const bool bf16 = state.range(0) != 0;
  if (bf16 && !attend_bf16_available(kHead, kHead)) {
    state.SkipWithError("no AVX-512 BF16 here");
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<uint16_t> K(kKeys * kHead), V(kKeys * kHead), Kb(kKeys * kHead), Vp(kKeys * kHead);
  for (auto* rows : {&K, &V})
    for (auto& x : *rows) x = f32_to_fp16(d(rng));
  if (bf16) {
    pack_bf16_rows(DType::F16, K.data(), kHead, kKeys, kHead, Kb.data());
    pack_bf16_pairs(DType::F16, V.data(), kHead, kKeys, kHead, Vp.data());
  }
  std::vector<float> q(kQueries * kHead), out(kQueries * kHead), scores(kQueries * kKeys);
  for (auto& v : q) v = 0.1f * d(rng);
  for (auto _ : state) {
    if (bf16) {
      attend_bf16(q.data(), kQueries, kHead, Kb.data(), kKeys, Vp.data(), kHead, 0.088f, out.data());
    } else {
      attend(q.data(), kQueries, kHead, K.data(), kHead, kKeys, V.data(), kHead, kHead, 0.088f, out.data(), scores.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(std::string(bf16 ? "bf16 products " : "float32 products ") + matmul_backend());
  state.counters["GMAC/s"] = benchmark::Counter(2.0 * kQueries * kKeys * kHead * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention_prompt)->Arg(0)->Arg(1)->ArgName("bf16")->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace r1

BENCHMARK_MAIN();
