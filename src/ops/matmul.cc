#include "ops/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/blocks.h"
#include "ops/coded_bf16.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/gemm_tile.h"
#include "ops/quant.h"
#include "ops/repack.h"
#include "ops/vec_dot.h"
#include "util/cpu.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// A kernel family: one-row dot products for every type, plus tile kernels for some types.
struct Backend {
  const char* name;
  const VecDotTable* dot;
  const GemmTable* gemm;  // null: dot products only
  const GemvTable* gemv;  // one-token kernels; null: dot products only
};

// The backends this CPU can run, fastest first; "scalar" is always last.
const std::vector<Backend>& backends() {
  static const std::vector<Backend> list = [] {
    std::vector<Backend> b;
#if defined(R1_HAVE_X86_KERNELS)
    const CpuFeatures& f = cpu_features();
    const bool avx2 = f.avx2 && f.fma && f.f16c;
    const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl;
    if (avx512 && f.avx512vnni) b.push_back({"avx512vnni", &vec_dot_avx512(), &gemm_avx512vnni(), &gemv_avx512vnni()});
    if (avx512) b.push_back({"avx512", &vec_dot_avx512(), nullptr, nullptr});
    // AVX-VNNI changes only the prefill's int8 products (decode is bound by reading the weights).
    if (avx2 && f.avxvnni) b.push_back({"avx2vnni", &vec_dot_avx2(), &gemm_avx2vnni(), &gemv_avx2()});
    if (avx2) b.push_back({"avx2", &vec_dot_avx2(), &gemm_avx2(), &gemv_avx2()});
#endif
#if defined(R1_HAVE_NEON_KERNELS)
    if (cpu_features().neon_dotprod)
      b.push_back({"neon_dotprod", &vec_dot_neon_dotprod(), &gemm_neon_dotprod(), nullptr});
    b.push_back({"neon", &vec_dot_neon(), &gemm_neon(), nullptr});
#endif
    b.push_back({"scalar", &vec_dot_scalar(), nullptr, nullptr});
    return b;
  }();
  return list;
}

std::atomic<const Backend*> g_backend{nullptr};

// The default: the fastest backend, or the one named by R1_MATMUL_BACKEND (for A/B timing of
// whole runs, e.g. `R1_MATMUL_BACKEND=avx2 r1 bench ...`); an unknown name is an error.
const Backend& default_backend() {
  static const Backend* b = [] {
    const char* env = std::getenv("R1_MATMUL_BACKEND");
    if (env == nullptr || *env == 0 || std::string(env) == "auto") return &backends().front();
    for (const Backend& c : backends())
      if (c.name == std::string(env)) return &c;
    fail("R1_MATMUL_BACKEND=", env, ": not a matmul backend this CPU can run");
  }();
  return *b;
}

const Backend& backend() {
  const Backend* b = g_backend.load(std::memory_order_acquire);
  return b ? *b : default_backend();
}

}  // namespace

void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n) { backend().dot->fp16_to_f32_row(x, y, n); }
void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n) { backend().dot->f32_to_fp16_row(x, y, n); }

namespace {

// The switches of matmul.h: undecided until first read, then the environment's unless set.
enum Switch : int { kUndecided = -1, kOff = 0, kOn = 1, kAuto = 2 };
std::atomic<int> g_bf16_dot{kUndecided};  // R1_BF16_DOT, set_bf16_dot_products
std::atomic<int> g_amx{kUndecided};       // R1_AMX, set_amx_products

// A switch's value: cached, else the environment variable's (unset reads as ""), one of `choices`;
// another value is an error naming it.
struct Choice {
  const char* text;
  int value;
};
int switch_setting(std::atomic<int>& cache, const char* var, std::initializer_list<Choice> choices,
                   const char* expected) {
  const int v = cache.load(std::memory_order_acquire);
  if (v != kUndecided) return v;
  const char* env = std::getenv(var);
  const std::string e = env ? env : "";
  for (const Choice& c : choices)
    if (e == c.text) {
      cache.store(c.value, std::memory_order_release);
      return c.value;
    }
  fail(var, "=", e, ": expected ", expected);
}

int bf16_dot_setting() {
  return switch_setting(g_bf16_dot, "R1_BF16_DOT", {{"", kAuto}, {"auto", kAuto}, {"0", kOff}, {"1", kOn}},
                        "0, 1 or auto");
}

[[maybe_unused]] bool bf16_dot_on() { return bf16_dot_setting() != kOff; }  // used where bf16 kernels exist (x86-64)

// Whether prefill takes the bf16 products too: on, or auto on a CPU where vdpbf16ps outruns float32
// FMAs. AMD Zen 5 (the EPYC VM): bf16 prefill ~2x the float32 one (PERFORMANCE.md, session 10). The Intel Xeon of
// session 41 (family 6 model 207) runs vdpbf16ps at half the float32 FMA rate (rows-in-lanes tiles,
// one thread: 86 against 157-169 GFLOP/s), so its F16 pp512 went 52-56 -> 74-93 t/s in float32.
// With AMX (amx_products), the bf16 products go through its tiles at many times the float32 rate.
[[maybe_unused]] bool bf16_prefill_on() {
  const int v = bf16_dot_setting();
  return v == kOn || (v == kAuto && (cpu_features().amd || amx_products()));
}

// BF16 / F16 / F8_E4M3 prefill through vdpbf16ps, with the avx512vnni kernels on CPUs with AVX-512 BF16, when
// on (it rounds the activations, and F16 weights, to bf16; F8 weights are exact in bf16).
GemmTileFn bf16_dot_kernel(const Backend& b, DType type, int64_t k) {
#if defined(R1_HAVE_X86_KERNELS)
  static const bool has = cpu_features().avx512bf16;
  if (has && b.gemm == &gemm_avx512vnni() && k % 32 == 0 && bf16_prefill_on()) {
    if (type == DType::BF16) return gemm_bf16_avx512bf16();
    if (type == DType::F16) return gemm_f16_avx512bf16();
    if (type == DType::F8_E4M3) return gemm_f8_avx512bf16();
  }
#endif
  (void)b, (void)type, (void)k;
  return nullptr;
}

// The same for block-scaled weights (scales laid into the bf16 weights; blocks of whole 32-element steps).
GemmScaledTileFn bf16_scaled_kernel(const Backend& b, DType type, int64_t k, int64_t block) {
#if defined(R1_HAVE_X86_KERNELS)
  if (block % 32 == 0 && bf16_dot_kernel(b, type, k)) return gemm_scaled_avx512bf16(type);
#endif
  (void)b, (void)type, (void)k, (void)block;
  return nullptr;
}

// Integer formats on AMX CPUs: prefill of at least this many tokens through their weights made bf16
// (gemm_int_avx512bf16), where bf16 prefill is on. For fewer, laying out the rows costs more than the
// products save: Qwen-1.5B Q4_0, AMX against the vpdpbusd tile (2 alternated rounds, session 54):
// pp32 0.96 / 0.86x, pp40 0.92 / 0.89x, pp48 1.18 / 0.94x, pp64 1.26 / 1.23x, pp128 1.9 / 1.9x.
constexpr int64_t kAmxIntMinTokens = 64;

// Whether prefill of n_tok tokens takes that path for rows of k elements.
[[maybe_unused]] bool amx_int_prefill(const Backend& b, int64_t k, int64_t n_tok) {
#if defined(R1_HAVE_X86_KERNELS)
  static const bool has = cpu_features().avx512bf16;
  return has && b.gemm == &gemm_avx512vnni() && n_tok >= kAmxIntMinTokens && k % 32 == 0 && amx_products() &&
         bf16_prefill_on();
#else
  (void)b, (void)k, (void)n_tok;
  return false;
#endif
}

// Its kernels for rows [row0, row0 + n_rows) of w: rows before `split` (counted from row0) through
// `first`, the others through `rest`; an interleaved matrix's whole groups of 8, then the rows after
// the last one, which keep the file's layout. Both null where the path does not apply (or the rows
// start inside a group).
struct AmxIntKernels {
  GemmTileFn first = nullptr, rest = nullptr;
  int64_t split = 0;
};
AmxIntKernels amx_int_kernels(const Backend& b, const TensorView& w, int64_t row0, int64_t n_rows, int64_t n_tok) {
  AmxIntKernels out;
#if defined(R1_HAVE_X86_KERNELS)
  if (!amx_int_prefill(b, w.ne[0], n_tok)) return out;
  if (w.layout == RowLayout::Plain) {
    out.first = gemm_int_avx512bf16(w.type, false);
    out.split = n_rows;
  } else if (w.layout == RowLayout::Interleaved8 && row0 % kInterleave == 0) {
    out.first = gemm_int_avx512bf16(w.type, true);
    out.rest = gemm_int_avx512bf16(w.type, false);
    out.split = std::clamp(w.rows() / kInterleave * kInterleave - row0, int64_t{0}, n_rows);
    if (!out.first || !out.rest) out = {};
  }
#endif
  (void)b, (void)w, (void)row0, (void)n_rows, (void)n_tok;
  return out;
}

// The prefill (tile) kernel for this weight type, or null (then the dot products are used). It takes
// the activations the dot products take (activation_type_for).
GemmTileFn tile_kernel(const Backend& b, DType type, int64_t k) {
  if (!b.gemm) return nullptr;
  switch (type) {
    case DType::F32: return k % 16 == 0 ? b.gemm->f32 : nullptr;
    case DType::F16: return k % 16 == 0 ? b.gemm->f16 : nullptr;
    case DType::BF16: return k % 16 == 0 ? b.gemm->bf16 : nullptr;
    case DType::F8_E4M3: return k % 16 == 0 ? b.gemm->f8_e4m3 : nullptr;
    case DType::Q8_0: return k % (2 * kQK) == 0 ? b.gemm->q8_0 : nullptr;
    case DType::Q4_0: return k % (2 * kQK) == 0 ? b.gemm->q4_0 : nullptr;
    case DType::Q4_1: return k % (2 * kQK) == 0 ? b.gemm->q4_1 : nullptr;
    case DType::Q5_0: return k % (2 * kQK) == 0 ? b.gemm->q5_0 : nullptr;
    case DType::Q5_1: return k % (2 * kQK) == 0 ? b.gemm->q5_1 : nullptr;
    case DType::IQ4_NL: return k % (2 * kQK) == 0 ? b.gemm->iq4_nl : nullptr;
    case DType::Q4_K: return b.gemm->q4_k;  // K-quant rows are whole super-blocks of 256
    case DType::Q5_K: return b.gemm->q5_k;
    case DType::Q6_K: return b.gemm->q6_k;
    default: return nullptr;
  }
}
// F8_E4M3 decode through bf16 products (gemv_avx512bf16.cc), where they are on and the CPU has them.
GemvFn f8_bf16_gemv(const Backend& b, int64_t k) {
#if defined(R1_HAVE_X86_KERNELS)
  static const bool has = cpu_features().avx512bf16 && cpu_features().avx512vbmi;
  if (has && b.gemv == &gemv_avx512vnni() && k % 64 == 0 && bf16_dot_on()) return gemv_f8_avx512bf16();
#endif
  (void)b, (void)k;
  return nullptr;
}

// The backend's one-pass kernel for a few tokens through rows of this type as stored, or null.
GemvTokensFn few_tokens_kernel(const Backend& b, DType type, int64_t k) {
  if (!b.gemv) return nullptr;
  switch (type) {
    case DType::Q6_K: return b.gemv->q6_k_tokens;
    case DType::Q4_K: return b.gemv->q4_k_tokens;
    case DType::Q5_K: return b.gemv->q5_k_tokens;
    case DType::F16: return k % 16 == 0 ? b.gemv->f16_tokens : nullptr;
    case DType::BF16: return k % 16 == 0 ? b.gemv->bf16_tokens : nullptr;
    case DType::F32: return k % 16 == 0 ? b.gemv->f32_tokens : nullptr;
    default: return nullptr;
  }
}

// Whether n_tok (> 1) tokens go through that kernel for rows of this type as stored.
bool plain_few_tokens(const Backend& b, DType type, int64_t k, int64_t n_tok) {
  return n_tok <= kMaxFewTokens && few_tokens_kernel(b, type, k) != nullptr && n_tok <= b.gemv->most_tokens;
}

// The one-token kernel for this weight type, or null.
GemvFn gemv_kernel(const Backend& b, DType type, int64_t k) {
  if (!b.gemv) return nullptr;
  if (type == DType::F8_E4M3) {
    if (const GemvFn f = f8_bf16_gemv(b, k)) return f;
  }
  if (type == DType::Q8_0 && k % (2 * kQK) == 0) return b.gemv->q8_0;  // groups of 2 blocks
  if (type == DType::Q4_0 && k % (4 * kQK) == 0) return b.gemv->q4_0;  // groups of 4 blocks
  if (type == DType::Q4_K) return b.gemv->q4_k;  // K-quant rows are whole super-blocks of 256
  if (type == DType::Q5_K) return b.gemv->q5_k;
  if (type == DType::Q6_K) return b.gemv->q6_k;
  if (type == DType::F16 && k % 16 == 0) return b.gemv->f16;
  if (type == DType::BF16 && k % 16 == 0) return b.gemv->bf16;
  if (type == DType::F32 && k % 16 == 0) return b.gemv->f32;
  if (type == DType::F8_E4M3 && k % 16 == 0) return b.gemv->f8_e4m3;
  if (type == DType::Q4_1) return b.gemv->q4_1;
  if (type == DType::Q5_0) return b.gemv->q5_0;
  if (type == DType::Q5_1) return b.gemv->q5_1;
  if (type == DType::IQ4_NL) return b.gemv->iq4_nl;
  return nullptr;
}

// Tile kernels take up to this many tokens per call. Each call expands a thread's weight rows once
// (gemm_avx512vnni.cc) and reads them from memory once, so bigger chunks read the weights fewer
// times; the activations of a chunk (512 × K bytes) are streamed from L2/L3 once per 16 rows.
constexpr int64_t kTokChunk = 512;

// Tile sizes: a tile is kRowTile weight rows × kTokTile tokens. The rows of a tile stay in L1/L2
// while every token of the tile is multiplied with them, so for prefill each weight byte is read
// from memory once per kTokTile tokens instead of once per token.
constexpr int64_t kRowTile = 16;
constexpr int64_t kTokTile = 8;

void check(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t n_tok, const float* y) {
  if (w.data == nullptr) fail("matmul: tensor ", w.name, " has no data");
  if (n_tok < 0 || n_rows < 0 || row0 < 0) fail("matmul: negative size for tensor ", w.name);
  const int64_t k = w.ne[0];
  const size_t rb = row_bytes(w.type, k);  // throws if K is not a multiple of the block size
  if (row0 + n_rows > w.rows()) {
    fail("matmul: rows [", row0, ", ", row0 + n_rows, ") out of range for tensor ", w.name, " with ", w.rows(),
         " rows");
  }
  if (static_cast<size_t>(w.rows()) * rb > w.nbytes)
    fail("matmul: tensor ", w.name, " ", w.shape_string(), " holds ", w.nbytes, " bytes, needs ", w.rows() * rb);
  if (n_tok > 0 && (x == nullptr || y == nullptr)) fail("matmul: null activations for tensor ", w.name);
  if (w.layout == RowLayout::Interleaved8 && !can_interleave(w.type))
    fail("matmul: tensor ", w.name, " is interleaved but has type ", dtype_name(w.type), " (only Q4_0 / Q8_0 / Q4_K / Q5_0 are)");
  if (w.layout == RowLayout::CodedBf16 && w.type != DType::BF16)
    fail("matmul: tensor ", w.name, " is coded bf16 but has type ", dtype_name(w.type));
}

// x [n_tok][k] in the activation type a kernel takes (float32 as given; bf16 rounded once here for
// every thread's tiles; Q8_0 / Q8_K blocks), and its row stride. The calling thread's buffer, reused
// (decode makes thousands of calls per token); the workers get its address.
const uint8_t* activations_for(const Backend& be, DType act_type, const float* x, int64_t n_tok, int64_t k,
                               size_t* stride, ThreadPool& pool) {
  *stride = static_cast<size_t>(k) * sizeof(float);
  if (act_type == DType::F32) return reinterpret_cast<const uint8_t*>(x);
  thread_local std::vector<uint8_t> act_buf;
  const size_t act_stride = *stride = row_bytes(act_type, k);
  if (act_buf.size() < act_stride * static_cast<size_t>(n_tok)) act_buf.resize(act_stride * static_cast<size_t>(n_tok));
  uint8_t* const act_data = act_buf.data();
  pool.parallel_for(n_tok, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      uint8_t* dst = act_data + static_cast<size_t>(t) * act_stride;
      if (act_type == DType::BF16) {
#if defined(R1_HAVE_X86_KERNELS)
        round_bf16_avx512bf16(x + t * k, k, reinterpret_cast<uint16_t*>(dst));
#endif
      } else if (act_type == DType::Q8_0) {
        be.dot->quantize_q8_0(x + t * k, dst, k);
      } else if (act_type == DType::Q8_K) {
        be.dot->quantize_q8_k(x + t * k, dst, k);
      } else {
        quantize_row(act_type, x + t * k, dst, k);
      }
    }
  });
  return act_data;
}

// The backend's kernel for rows of this type repacked in groups of 8 (ops/repack.h), or null.
GemmTileFn interleaved_kernel(const Backend& be, DType type) {
  if (be.gemm == nullptr) return nullptr;
  return type == DType::Q4_0   ? be.gemm->q4_0_x8
         : type == DType::Q8_0 ? be.gemm->q8_0_x8
         : type == DType::Q4_K ? be.gemm->q4_k_x8
         : type == DType::Q5_0 ? be.gemm->q5_0_x8
                               : nullptr;
}

// Repacked rows: whole groups through that kernel, in ranges of groups per thread; rows outside whole
// groups (and every row on a backend without the kernel, e.g. after force_matmul_backend) unpacked
// one at a time for the dot products. Token t's products at y + t·ldy.
void interleaved_rows(const TensorView& w, int64_t row0, int64_t n_rows, const Backend& be, const uint8_t* a0,
                      size_t act_stride, int64_t n_tok, float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t k = w.ne[0], end = row0 + n_rows;
  const size_t rb = row_bytes(w.type, k);
  const auto* data = static_cast<const uint8_t*>(w.data);
  const GemmTileFn kern = interleaved_kernel(be, w.type);
  const int64_t whole = w.rows() / kInterleave * kInterleave;
  int64_t g0 = (row0 + kInterleave - 1) / kInterleave * kInterleave;
  int64_t g1 = std::min(whole, end / kInterleave * kInterleave);
  if (kern == nullptr || g1 <= g0) g0 = g1 = row0;
  if (g1 > g0) {
    pool.parallel_for((g1 - g0) / kInterleave, n_tok > 1 ? 2 : 1, [&](int64_t gb, int64_t ge) {
      const int64_t r = g0 + gb * kInterleave;
      kern(k, data + static_cast<size_t>(r) * rb, rb, (ge - gb) * kInterleave, a0, act_stride, n_tok, y + (r - row0), ldy);
    });
  }
  const VecDotFn dot = vec_dot_for(*be.dot, w.type);
  auto one_by_one = [&](int64_t r_begin, int64_t r_end) {
    if (r_end <= r_begin) return;
    pool.parallel_for(r_end - r_begin, 1, [&](int64_t b, int64_t e) {
      thread_local std::vector<uint8_t> row;
      row.resize(rb);
      for (int64_t r = r_begin + b; r < r_begin + e; ++r) {
        unpack_x8_row(w.type, data, w.rows(), k, r, row.data());
        for (int64_t t = 0; t < n_tok; ++t) y[t * ldy + (r - row0)] = dot(k, row.data(), a0 + t * act_stride);
      }
    });
  };
  one_by_one(row0, g0);
  one_by_one(g1, end);
}

// Prefill's rows split over the threads for the float tile kernels: fn(r_begin, r_end) on runs of items of two
// row tiles (a panel of the rows-in-lanes kernels), taken in runs and shared out at the end
// (ThreadPool::run_items). Halves fixed per thread finished apart when the machine slowed one thread:
// the other's waits were ~4% of an F16 prefill in perf, and F16 pp512 went 1.05x faster (4 of 4
// alternated runs) with items.
template <class Fn>
void prefill_row_runs(ThreadPool& pool, int64_t n_rows, Fn&& fn) {
  constexpr int64_t kItemRows = 2 * kRowTile;
  pool.run_items((n_rows + kItemRows - 1) / kItemRows, [&](int, int64_t b, int64_t e) {
    fn(b * kItemRows, std::min(n_rows, e * kItemRows));
  });
}

// The coded BF16 rows' kernels (ops/coded_bf16.h) of each backend. The AVX-512 VNNI backend has them
// all: one token or a few in one pass, and the prefill tiles, which decode the rows as they lay them out.
// The AVX2 backends have the kernel for one token or a few and a decoder to float32 rows for their
// float32 prefill tile (coded_rows). Others decode the rows in scalar code for the plain kernels, so
// no matrix is coded for them (matmul_preferred_layout).
bool has_coded_gemv(const Backend& be) {
#if defined(R1_HAVE_X86_KERNELS)
  return be.gemv == &gemv_avx512vnni() || be.gemv == &gemv_avx2();
#else
  (void)be;
  return false;
#endif
}

#if defined(R1_HAVE_X86_KERNELS)
// Whether the backend has the AVX-512 coded kernels (a few tokens decoded once for all, the prefill tiles).
bool coded_tiles(const Backend& be) { return be.gemv == &gemv_avx512vnni(); }

// Whether one token goes through the coded kernel with bf16 products (where they are on, like the F8
// decode) rather than the float32 one.
bool coded_bf16_products(const Backend& be) {
  static const bool has = cpu_features().avx512bf16;
  return has && coded_tiles(be) && bf16_dot_on();
}
#endif

// Rows decoded per step for prefill: a few tiles' worth, in L2 while every token passes over them.
constexpr int64_t kCodedDecodeRows = 4 * kRowTile;

// Rows [0, n_rows) over the pool, each thread decoding its share kCodedDecodeRows at a time into a
// buffer of Elem (decode(first row, count, out)) and handing it to use(rows, first row, count).
template <typename Elem, class Decode, class Use>
void in_decoded_chunks(ThreadPool& pool, int64_t n_rows, int64_t k, Decode decode, Use use) {
  pool.parallel_for(n_rows, kRowTile, [&](int64_t b, int64_t e) {
    thread_local std::vector<Elem> rows;
    for (int64_t r = b; r < e; r += kCodedDecodeRows) {
      const int64_t n = std::min(kCodedDecodeRows, e - r);
      rows.resize(static_cast<size_t>(n * k));
      decode(r, n, rows.data());
      use(rows.data(), r, n);
    }
  });
}

// Coded BF16 rows (ops/coded_bf16.h) past the coded kernels (coded_token_rows has those: one token,
// or as many as token_rows_take allows). More tokens on the AVX-512 backend: the bf16 or the float32 tile, which decode the rows as they
// lay them out (and prefetch them as for plain rows). On the AVX2 backends: rows decoded to float32 a
// few tiles at a time, then the float32 tile, which then converts nothing per token (Qwen-1.5B F16
// file, pp256, medians of 3 alternating rounds: 47.4 t/s, against 39.2 through rows decoded to bf16
// and 46.9 for the F16 rows as stored). Elsewhere (backends that get a coded matrix only when it was
// coded for another): rows decoded back to bf16 in scalar code, then the plain BF16 kernels.
// Prefill gives the plain matrix's products exactly.
void coded_rows(const TensorView& w, int64_t row0, int64_t n_rows, const Backend& be, const float* x, int64_t n_tok,
                float* y, ThreadPool& pool) {
  const CodedBf16 m = coded_bf16(w);
  const int64_t k = w.ne[0];
  const GemmTileFn bf16_tile = n_tok > 1 ? bf16_dot_kernel(be, DType::BF16, k) : nullptr;
  const GemmTileFn tile = bf16_tile ? bf16_tile : n_tok > 1 ? tile_kernel(be, DType::BF16, k) : nullptr;
  size_t act_stride = 0;
  const uint8_t* a0 = activations_for(be, bf16_tile ? DType::BF16 : DType::F32, x, n_tok, k, &act_stride, pool);
  // Decoded rows [r, r + n) (stride bytes apart) against every token through a tile kernel.
  auto tile_pass = [&](GemmTileFn fn, const void* rows, size_t stride, int64_t r, int64_t n) {
    for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk)
      fn(k, rows, stride, n, a0 + static_cast<size_t>(t0) * act_stride, act_stride, std::min(kTokChunk, n_tok - t0),
         y + t0 * n_rows + r, n_rows);
  };
#if defined(R1_HAVE_X86_KERNELS)
  if (n_tok > 1 && coded_tiles(be)) {  // the AVX-512 tiles decode the rows themselves as they lay them out
    const auto gemm = bf16_tile ? gemm_coded_bf16_avx512bf16 : gemm_coded_float_avx512;
    prefill_row_runs(pool, n_rows, [&](int64_t b, int64_t e) {
      for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk)
        gemm(m, row0 + b, e - b, a0 + static_cast<size_t>(t0) * act_stride, act_stride, std::min(kTokChunk, n_tok - t0),
             y + t0 * n_rows + b, n_rows);
    });
    return;
  }
  if (n_tok > 1 && be.gemv == &gemv_avx2()) {  // rows decoded to float32 for the float32 tile
    const GemmTileFn f32_tile = tile_kernel(be, DType::F32, k);
    in_decoded_chunks<float>(
        pool, n_rows, k, [&](int64_t r, int64_t n, float* out) { decode_coded_f32_rows_avx2(m, row0 + r, row0 + r + n, out); },
        [&](const float* rows, int64_t r, int64_t n) { tile_pass(f32_tile, rows, static_cast<size_t>(k) * sizeof(float), r, n); });
    return;
  }
#endif
  const VecDotFn dot = vec_dot_for(*be.dot, DType::BF16);
  const size_t stride = static_cast<size_t>(k) * sizeof(uint16_t);
  in_decoded_chunks<uint16_t>(
      pool, n_rows, k, [&](int64_t r, int64_t n, uint16_t* out) { decode_coded_bf16_rows(m, row0 + r, row0 + r + n, out); },
      [&](const uint16_t* rows, int64_t r, int64_t n) {
        if (tile) return tile_pass(tile, rows, stride, r, n);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t t = 0; t < n_tok; ++t)
            y[t * n_rows + r + i] = dot(k, rows + i * k, a0 + static_cast<size_t>(t) * act_stride);
      });
}

// in's tokens through coded BF16 rows [r0, r1) (token t's products at y + t·ldy): the coded kernels,
// which read 3/4 of the bytes, where this backend has them; otherwise one token through rows decoded
// for the plain kernel (coded_rows).
void coded_token_rows(const Backend& be, const TensorView& w, int64_t r0, int64_t r1, const TokenInput& in, float* y,
                      int64_t ldy) {
#if defined(R1_HAVE_X86_KERNELS)
  const CodedBf16 m = coded_bf16(w);
  if (coded_bf16_products(be))
    return gemv_coded_bf16_avx512bf16(m, r0, r1, in.x(), reinterpret_cast<const uint16_t*>(in.as(DType::BF16)),
                                      in.n_tok(), y, ldy);
  if (coded_tiles(be)) return gemv_coded_bf16_avx512(m, r0, r1, in.x(), in.n_tok(), y, ldy);
  if (be.gemv == &gemv_avx2()) return gemv_coded_bf16_avx2(m, r0, r1, in.x(), in.n_tok(), y, ldy);
#endif
  coded_rows(w, r0, r1 - r0, be, in.x(), 1, y, serial_pool());
}

// Whether token_rows takes in.n_tok() tokens through w: one always; a few (<= kMaxFewTokens) where the
// backend has a one-pass kernel for w's layout and type, which reads the rows once for all of them
// (for the prefill tiles, laying the rows out cost more than the products of so few tokens: Qwen-1.5B
// Q4_K_M's pp2 1.9x and pp4 1.7x faster this way, PERFORMANCE.md, session 51).
bool token_rows_take(const Backend& be, const TensorView& w, int64_t n_tok) {
  if (n_tok == 1) return true;
  if (n_tok < 1 || n_tok > kMaxFewTokens) return false;
  if (w.layout == RowLayout::Interleaved8) return interleaved_kernel(be, w.type) != nullptr;
  // The AVX2 backends' kernels (the coded one too) decode a row again for each token, so they take
  // no more than the tokens their table says (vec_dot_avx2.cc, kAvx2FewTokens).
  if (w.layout == RowLayout::CodedBf16) return has_coded_gemv(be) && n_tok <= be.gemv->most_tokens;
  return w.layout == RowLayout::Plain && plain_few_tokens(be, w.type, w.ne[0], n_tok);
}

// in's tokens through rows [r0, r1) of w on the calling thread (token_rows_take said yes): token t's
// products at y + t·ldy. One token: the one-token kernels where the backend has them for w's layout,
// the dot products otherwise (the tile kernels' 4-row × 1-token case was ~2× slower than the one-row
// dot products, BM_gemv_cold).
void token_rows(const Backend& be, const TensorView& w, int64_t r0, int64_t r1, const TokenInput& in, float* y,
                int64_t ldy) {
  const int64_t k = w.ne[0], n_tok = in.n_tok();
  const DType act_type = activation_type_for(w.type);
  if (w.layout == RowLayout::Interleaved8)
    return interleaved_rows(w, r0, r1 - r0, be, in.as(act_type), in.stride(act_type), n_tok, y, ldy, serial_pool());
  if (w.layout == RowLayout::CodedBf16) return coded_token_rows(be, w, r0, r1, in, y, ldy);
  const size_t stride = row_bytes(w.type, k);
  const uint8_t* rows = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r0) * stride;
  if (n_tok > 1)
    return few_tokens_kernel(be, w.type, k)(k, rows, stride, r1 - r0, in.as(act_type), in.stride(act_type), n_tok, y, ldy);
  if (const GemvFn gemv = gemv_kernel(be, w.type, k)) return gemv(k, rows, stride, r1 - r0, in.as(act_type), y);
  const VecDotFn dot = vec_dot_for(*be.dot, w.type);
  for (int64_t r = 0; r < r1 - r0; ++r) y[r] = dot(k, rows + static_cast<size_t>(r) * stride, in.as(act_type));
}

}  // namespace

void TokenInput::set(const float* x, int64_t k, int64_t n_tok) {
  if (n_tok < 1 || n_tok > kMaxFewTokens) fail("matmul: ", n_tok, " tokens for one-token inputs (1 to ", kMaxFewTokens, ")");
  x_ = x;
  k_ = k;
  n_tok_ = n_tok;
  has_q8_0_ = has_q8_k_ = has_bf16_ = false;
}

void TokenInput::prepare(const TensorView& w) {
  if (w.ne[0] != k_) fail("matmul: tensor ", w.name, " takes ", w.ne[0], " inputs, the token has ", k_);
  const DType t = activation_type_for(w.type);
  const Backend& be = backend();
  if (t == DType::Q8_0 && !has_q8_0_) {
    const size_t rb = row_bytes(DType::Q8_0, k_);  // throws unless k_ is whole blocks
    q8_0_.resize(rb * static_cast<size_t>(n_tok_));
    for (int64_t i = 0; i < n_tok_; ++i) be.dot->quantize_q8_0(x_ + i * k_, q8_0_.data() + i * rb, k_);
    has_q8_0_ = true;
  } else if (t == DType::Q8_K && !has_q8_k_) {
    const size_t rb = row_bytes(DType::Q8_K, k_);
    q8_k_.resize(rb * static_cast<size_t>(n_tok_));
    for (int64_t i = 0; i < n_tok_; ++i) be.dot->quantize_q8_k(x_ + i * k_, q8_k_.data() + i * rb, k_);
    has_q8_k_ = true;
  }
#if defined(R1_HAVE_X86_KERNELS)
  // Rounded once here, not in each of the kernel's calls (a thread makes several per matrix): that
  // took ~6% of Qwen-1.5B BF16 decode's samples.
  if (w.layout == RowLayout::CodedBf16 && !has_bf16_ && coded_bf16_products(be)) {
    bf16_.resize(static_cast<size_t>(k_ * n_tok_));
    for (int64_t i = 0; i < n_tok_; ++i) round_bf16_unpack_order(x_ + i * k_, k_, bf16_.data() + i * k_);
    has_bf16_ = true;
  }
#endif
}

const uint8_t* TokenInput::as(DType type) const {
  if (type == DType::F32) return reinterpret_cast<const uint8_t*>(x_);
  if (type == DType::Q8_0 && has_q8_0_) return q8_0_.data();
  if (type == DType::Q8_K && has_q8_k_) return q8_k_.data();
  if (type == DType::BF16 && has_bf16_) return reinterpret_cast<const uint8_t*>(bf16_.data());
  fail("matmul: the token's activations were not converted to ", dtype_name(type));
}

size_t TokenInput::stride(DType type) const {
  return type == DType::F32 ? static_cast<size_t>(k_) * sizeof(float) : row_bytes(type, k_);
}

bool matmul_takes_tokens(const TensorView& w, int64_t n_tok) { return n_tok >= 1 && token_rows_take(backend(), w, n_tok); }

void matmul_token_rows(const TensorView& w, int64_t r0, int64_t r1, const TokenInput& in, float* y, int64_t ldy) {
  check(w, r0, r1 - r0, in.x(), 1, y);
  if (w.ne[0] != in.k()) fail("matmul: tensor ", w.name, " takes ", w.ne[0], " inputs, the token has ", in.k());
  if (!token_rows_take(backend(), w, in.n_tok()))
    fail("matmul: ", in.n_tok(), " tokens at once through tensor ", w.name, " (", dtype_name(w.type), ") on this CPU");
  if (in.n_tok() > 1 && ldy < r1 - r0) fail("matmul: ", in.n_tok(), " tokens' rows ", ldy, " apart for ", r1 - r0, " outputs each");
  if (r1 > r0) token_rows(backend(), w, r0, r1, in, y, ldy);
}

namespace {

// The block-scaled products (matmul_rows_block_scaled) of rows [row0, row0 + n_rows), checked; one way each.
struct ScaledRows {
  const TensorView& w;
  const float* scales;
  int64_t scale_cols, block, row0, n_rows;
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * stride(); }
  size_t stride() const { return row_bytes(w.type, w.ne[0]); }
};

// Prefill with bf16 products: the scales go into the weights as the tile lays them out, so the
// activations are rounded once for every row block (scaling the activations instead meant a pass over
// them per row block: DeepSeek-0.66B FP8 prefill ran at ~0.8x its BF16 GGUF).
void scaled_prefill_bf16(const ScaledRows& m, GemmScaledTileFn tile, const float* x, int64_t n_tok, float* y,
                         ThreadPool& pool) {
  const int64_t k = m.w.ne[0];
  size_t act_stride = 0;
  const uint8_t* a0 = activations_for(backend(), DType::BF16, x, n_tok, k, &act_stride, pool);
  pool.parallel_for(m.n_rows, 2 * kRowTile, [&](int64_t b, int64_t e) {
    const BlockScales sc{m.scales, m.scale_cols, m.block, m.row0 + b};
    for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk)
      tile(k, m.row(m.row0 + b), m.stride(), e - b, sc, a0 + static_cast<size_t>(t0) * act_stride, act_stride,
           std::min(kTokChunk, n_tok - t0), y + t0 * m.n_rows + b, m.n_rows);
  });
}

// The one-pass kernel for a few block-scaled tokens (float32 activations, scaled per row block as
// below), or null: F8_E4M3 rows through bf16 products where the one-token kernel takes them, the float
// rows' kernels otherwise.
GemvTokensFn scaled_tokens_kernel(const Backend& b, DType type, int64_t k, int64_t n_tok) {
#if defined(R1_HAVE_X86_KERNELS)
  if (type == DType::F8_E4M3 && f8_bf16_gemv(b, k)) return gemv_f8_tokens_avx512bf16();
#endif
  return plain_few_tokens(b, type, k, n_tok) ? few_tokens_kernel(b, type, k) : nullptr;
}

// Elsewhere W[r][c] = w[r][c] · s[r / block][c / block], so for the rows of one row block rb,
// y[t][r] = Σ_c w[r][c] · (x[t][c] · s[rb][c / block]): x scaled per row block. One token, or a
// few through `tokens` (scaled_tokens_kernel; each token's products then those it gets alone): one
// parallel pass in which each thread scales the tokens once per row block it meets.
void scaled_decode(const ScaledRows& m, const float* x, int64_t n_tok, GemvTokensFn tokens, float* y,
                   ThreadPool& pool) {
  if (n_tok > 1 && !tokens) fail("matmul: ", n_tok, " block-scaled tokens at once without a kernel for them");
  const Backend& be = backend();
  const int64_t k = m.w.ne[0];
  const GemvFn gemv = gemv_kernel(be, m.w.type, k);
  const VecDotFn dot = vec_dot_for(*be.dot, m.w.type);
  pool.parallel_for(m.n_rows, 16, [&](int64_t b, int64_t e) {
    thread_local std::vector<float> xs;
    xs.resize(static_cast<size_t>(n_tok * k));
    int64_t scaled_for = -1;  // the row block xs holds the tokens scaled for
    for (int64_t r = m.row0 + b; r < m.row0 + e;) {
      const int64_t rb = r / m.block, r_end = std::min(m.row0 + e, (rb + 1) * m.block);
      if (rb != scaled_for) {
        for (int64_t t = 0; t < n_tok; ++t)
          scale_blocks(xs.data() + t * k, x + t * k, m.scales + rb * m.scale_cols, m.block, k);
        scaled_for = rb;
      }
      float* out = y + (r - m.row0);
      if (n_tok > 1) {
        tokens(k, m.row(r), m.stride(), r_end - r, xs.data(), static_cast<size_t>(k) * sizeof(float), n_tok, out,
               m.n_rows);
      } else if (gemv) {
        gemv(k, m.row(r), m.stride(), r_end - r, xs.data(), out);
      } else {
        for (int64_t i = r; i < r_end; ++i) out[i - r] = dot(k, m.row(i), xs.data());
      }
      r = r_end;
    }
  });
}

// Several tokens in float32 products: one parallel pass over (row block, chunk of tokens) items, each
// scaling its tokens and running serially (a parallel pass per row block, with the scaling on one
// thread between them, left DeepSeek-0.66B FP8 prefill at ~1/5 of its Q8_0 speed). The tokens are split
// only as far as needed for ~4 items per thread: each item lays out its block's weights for the tile again.
void scaled_prefill_f32(const ScaledRows& m, const float* x, int64_t n_tok, float* y, ThreadPool& pool) {
  const int64_t k = m.w.ne[0], block = m.block;
  const int64_t rb0 = m.row0 / block, rb1 = (m.row0 + m.n_rows + block - 1) / block;
  const int64_t want_chunks = (4 * pool.size() + (rb1 - rb0) - 1) / (rb1 - rb0);
  const int64_t chunk = std::max<int64_t>(16, (n_tok + want_chunks - 1) / want_chunks);
  const int64_t n_chunks = (n_tok + chunk - 1) / chunk;
  pool.parallel_for((rb1 - rb0) * n_chunks, 1, [&](int64_t u0, int64_t u1) {
    thread_local std::vector<float> xs, ys;
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t rb = rb0 + u / n_chunks, t0 = (u % n_chunks) * chunk, n = std::min(chunk, n_tok - t0);
      const int64_t r0 = std::max(m.row0, rb * block), rows = std::min(m.row0 + m.n_rows, (rb + 1) * block) - r0;
      xs.resize(static_cast<size_t>(n * k));
      for (int64_t t = 0; t < n; ++t)
        scale_blocks(xs.data() + t * k, x + (t0 + t) * k, m.scales + rb * m.scale_cols, block, k);
      ys.resize(static_cast<size_t>(n * rows));
      matmul_rows(m.w, r0, rows, xs.data(), n, ys.data(), serial_pool());
      for (int64_t t = 0; t < n; ++t)
        std::copy_n(ys.data() + t * rows, rows, y + (t0 + t) * m.n_rows + (r0 - m.row0));
    }
  });
}

}  // namespace

void matmul_rows_block_scaled(const TensorView& w, const float* scales, int64_t scale_cols, int64_t block,
                              int64_t row0, int64_t n_rows, const float* x, int64_t n_tok, float* y, ThreadPool& pool) {
  check(w, row0, n_rows, x, n_tok, y);
  const int64_t k = w.ne[0];
  if (scales == nullptr || block <= 0 || scale_cols != (k + block - 1) / block) {
    fail("matmul: block scales of tensor ", w.name, ": ", scale_cols, " per row block of ", block, " for ", k, " columns");
  }
  if (activation_type_for(w.type) != DType::F32 || w.layout != RowLayout::Plain) {
    fail("matmul: block scales on tensor ", w.name, " of type ", dtype_name(w.type), " (float-activation types only)");
  }
  if (n_rows == 0 || n_tok == 0) return;
  const ScaledRows m{w, scales, scale_cols, block, row0, n_rows};
  if (n_tok == 1) return scaled_decode(m, x, 1, nullptr, y, pool);
  if (n_tok <= kMaxFewTokens) {
    if (const GemvTokensFn tokens = scaled_tokens_kernel(backend(), w.type, k, n_tok))
      return scaled_decode(m, x, n_tok, tokens, y, pool);
  }
  if (const GemmScaledTileFn tile = bf16_scaled_kernel(backend(), w.type, k, block)) {
    return scaled_prefill_bf16(m, tile, x, n_tok, y, pool);
  }
  scaled_prefill_f32(m, x, n_tok, y, pool);
}

void matmul_rows(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t n_tok, float* y,
                 ThreadPool& pool) {
  check(w, row0, n_rows, x, n_tok, y);
  if (n_tok == 0 || n_rows == 0) return;
  const int64_t k = w.ne[0];
  const Backend& be = backend();
  // Decode (and a few tokens, token_rows_take): the rows in items of kRowItemRows, each thread
  // streaming runs of its share of them and then helping a thread that is behind (ThreadPool::run_items).
  if (token_rows_take(be, w, n_tok)) {
    thread_local TokenInput own_in;  // the calling thread's, reused; the workers read it through `in`
    TokenInput& in = own_in;
    in.set(x, k, n_tok);
    in.prepare(w);
    pool.run_items((n_rows + kRowItemRows - 1) / kRowItemRows, [&](int, int64_t b, int64_t e) {
      const int64_t r0 = b * kRowItemRows, r1 = std::min(n_rows, e * kRowItemRows);
      token_rows(be, w, row0 + r0, row0 + r1, in, y + r0, n_rows);
    });
    return;
  }
  if (w.layout == RowLayout::CodedBf16) return coded_rows(w, row0, n_rows, be, x, n_tok, y, pool);
  const VecDotFn dot = vec_dot_for(*be.dot, w.type);
  const size_t w_stride = row_bytes(w.type, k);
  const uint8_t* w0 = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(row0) * w_stride;

  // Activations in the format this weight type's kernels consume: bf16 for the bf16 products.
  GemmTileFn bf16_tile = n_tok > 1 ? bf16_dot_kernel(be, w.type, k) : nullptr;
  AmxIntKernels amx_int;
  if (!bf16_tile) amx_int = amx_int_kernels(be, w, row0, n_rows, n_tok);
  if (amx_int.first) bf16_tile = amx_int.first;
  size_t act_stride = 0;
  const uint8_t* a0 =
      activations_for(be, bf16_tile ? DType::BF16 : activation_type_for(w.type), x, n_tok, k, &act_stride, pool);

  if (w.layout == RowLayout::Interleaved8 && !bf16_tile) {
    interleaved_rows(w, row0, n_rows, be, a0, act_stride, n_tok, y, n_rows, pool);
    return;
  }

  if (const GemmTileFn tile = bf16_tile ? bf16_tile : n_tok > 1 ? tile_kernel(be, w.type, k) : nullptr) {
    const int64_t split = amx_int.first ? amx_int.split : n_rows;  // rows from it on: amx_int.rest
    auto rows = [&](int64_t r_begin, int64_t r_end) {
      for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk)
        for (int64_t r = r_begin; r < r_end;) {
          const int64_t e = r < split ? std::min(r_end, split) : r_end;
          (r < split ? tile : amx_int.rest)(k, w0 + static_cast<size_t>(r) * w_stride, w_stride, e - r,
                                            a0 + static_cast<size_t>(t0) * act_stride, act_stride,
                                            std::min(kTokChunk, n_tok - t0), y + t0 * n_rows + r, n_rows);
          r = e;
        }
    };
    // The integer tiles lay out every token's activations at each call (gemm_avx512vnni.cc), as long as
    // multiplying a panel or two: one call per thread for them.
    if (bf16_tile || activation_type_for(w.type) == DType::F32) prefill_row_runs(pool, n_rows, rows);
    else pool.parallel_for(n_rows, kRowTile, rows);
    return;
  }

  // Rows are split over threads; a thread walks its rows tile by tile.
  pool.parallel_for(n_rows, kRowTile, [&](int64_t r_begin, int64_t r_end) {
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kRowTile) {
      const int64_t r1 = std::min(r_end, r0 + kRowTile);
      for (int64_t t0 = 0; t0 < n_tok; t0 += kTokTile) {
        const int64_t t1 = std::min(n_tok, t0 + kTokTile);
        for (int64_t r = r0; r < r1; ++r) {
          const uint8_t* wr = w0 + static_cast<size_t>(r) * w_stride;
          for (int64_t t = t0; t < t1; ++t) y[t * n_rows + r] = dot(k, wr, a0 + static_cast<size_t>(t) * act_stride);
        }
      }
    }
  });
}

void matmul_heads(const TensorView& w, int64_t n_heads, const float* x, int64_t x_head, float* y, ThreadPool& pool) {
  if (n_heads <= 0 || w.rows() % n_heads != 0) {
    fail("matmul: tensor ", w.name, " with ", w.rows(), " rows is not ", n_heads, " heads of equal rows");
  }
  const int64_t rows = w.rows() / n_heads;
  // Contiguous heads per thread: each thread's rows are one forward stream, which the kernels'
  // prefetch follows from head to head (every other head per thread took ~1.3x as long on W_UK,
  // BM_mla_heads cases 0 and 1); a thread ahead then takes the last heads of one behind.
  pool.run_items(n_heads, [&](int, int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; h++) matmul_rows(w, h * rows, rows, x + h * x_head, 1, y + h * rows, serial_pool());
  });
}

void matmul(const TensorView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool) {
  matmul_rows(w, 0, w.rows(), x, n_tok, y, pool);
}

void matmul_shared_input(std::initializer_list<MatmulTarget> targets, const float* x, int64_t n_tok, ThreadPool& pool) {
  if (targets.size() == 0) return;
  for (const MatmulTarget& t : targets) {
    if (t.w == nullptr) fail("matmul: null weight among shared-input targets");
    check(*t.w, 0, t.w->rows(), x, n_tok, t.y);
  }
  const int64_t k = targets.begin()->w->ne[0];
  const Backend& be = backend();
  bool together = true;
  for (const MatmulTarget& t : targets) together = together && token_rows_take(be, *t.w, n_tok);
  if (!together) {
    for (const MatmulTarget& t : targets) matmul(*t.w, x, n_tok, t.y, pool);
    return;
  }
  thread_local TokenInput own_in;  // as in matmul_rows
  thread_local RowItems own_items;
  TokenInput& in = own_in;
  RowItems& items = own_items;
  in.set(x, k, n_tok);
  items.clear();
  for (const MatmulTarget& t : targets) {
    in.prepare(*t.w);  // checks the width
    items.add(t.w->rows());
  }
  pool.run_items(items.size(), [&](int, int64_t b, int64_t e) {
    items.for_runs(b, e, [&](int32_t m, int64_t r0, int64_t r1) {
      const MatmulTarget& t = targets.begin()[m];
      token_rows(be, *t.w, r0, r1, in, t.y + r0, t.w->rows());
    });
  });
}

bool amx_products() {
  return switch_setting(g_amx, "R1_AMX", {{"", kOn}, {"1", kOn}, {"0", kOff}}, "0 or 1") == kOn &&
         cpu_features().amx_bf16;
}

void set_amx_products(bool on) { g_amx.store(on ? kOn : kOff, std::memory_order_release); }
void reset_amx_products() { g_amx.store(kUndecided, std::memory_order_release); }

void set_bf16_dot_products(bool on) { g_bf16_dot.store(on ? kOn : kOff, std::memory_order_release); }
void reset_bf16_dot_products() { g_bf16_dot.store(kUndecided, std::memory_order_release); }

bool bf16_dot_products() {
#if defined(R1_HAVE_X86_KERNELS)
  static const bool has = cpu_features().avx512bf16;
  return has && backend().gemm == &gemm_avx512vnni() && bf16_dot_on();
#else
  return false;
#endif
}

DType matmul_activation_type(DType weight_type, int64_t k, int64_t n_tok) {
  const bool few_tokens = plain_few_tokens(backend(), weight_type, k, n_tok);  // as decode
  if (n_tok > 1 && !few_tokens && bf16_dot_kernel(backend(), weight_type, k)) return DType::BF16;
#if defined(R1_HAVE_X86_KERNELS)
  if (amx_int_prefill(backend(), k, n_tok) && gemm_int_avx512bf16(weight_type, false)) return DType::BF16;
#endif
  if (n_tok == 1 && weight_type == DType::F8_E4M3 && f8_bf16_gemv(backend(), k)) return DType::BF16;
  return activation_type_for(weight_type);
}

RowLayout matmul_preferred_layout(DType type, int64_t k, int64_t n_rows) {
  static const bool allowed = [] {
    const char* env = std::getenv("R1_REPACK");
    return env == nullptr || std::string(env) != "0";
  }();
  if (!allowed) return RowLayout::Plain;
  if (k % kQK == 0 && n_rows >= kInterleave && interleaved_kernel(backend(), type) != nullptr)
    return RowLayout::Interleaved8;
  // F16 too: files converted from bf16 checkpoints hold bf16 values (code_f16_matrix_as_bf16 checks).
  if ((type == DType::BF16 || type == DType::F16) && can_code_bf16(k, n_rows) && has_coded_gemv(backend()))
    return RowLayout::CodedBf16;
  return RowLayout::Plain;
}

void matmul_row_values(const TensorView& w, int64_t r, float* out) {
  if (r < 0 || r >= w.rows()) fail("matmul: row ", r, " out of range for tensor ", w.name);
  const int64_t k = w.ne[0];
  if (w.layout == RowLayout::Interleaved8) {
    std::vector<uint8_t> row(row_bytes(w.type, k));
    unpack_x8_row(w.type, static_cast<const uint8_t*>(w.data), w.rows(), k, r, row.data());
    dequantize_row(w.type, row.data(), out, k);
  } else if (w.layout == RowLayout::CodedBf16) {
    std::vector<uint16_t> row(static_cast<size_t>(k));
    decode_coded_bf16_rows(coded_bf16(w), r, r + 1, row.data());
    dequantize_row(DType::BF16, row.data(), out, k);
  } else {
    dequantize_row(w.type, w.row(r), out, k);
  }
}

const char* matmul_backend() { return backend().name; }

bool force_matmul_backend(const char* name) {
  const std::string n = name ? name : "";
  if (n == "auto") {
    g_backend.store(nullptr, std::memory_order_release);
    return true;
  }
  for (const Backend& b : backends())
    if (n == b.name) {
      g_backend.store(&b, std::memory_order_release);
      return true;
    }
  return false;
}

}  // namespace r1
