// The bf16 prefill tile's products through Intel AMX (tdpbf16ps; Sapphire Rapids and later), compiled
// with -mamx-tile -mamx-bf16 and used only where cpu_features().amx_bf16 (util/cpu.h). One tdpbf16ps
// multiplies a 16 × 32 bf16 tile by a 32 × 16 one into 16 × 16 float32 sums (16384 flops); a loop of
// them ran at 1.2-2.6 TFLOP/s (by the moment) on one core of the Intel Xeon (family 6 model 207) of session 53, where
// float32 FMAs reach ~0.16 and vdpbf16ps half that (matmul.cc, bf16_prefill_on).
//
// The tiles: A = 16 tokens × 32 elements, straight from the bf16 activation rows; B = 32 elements × 16
// weight rows in pairs, which is the layout gemm_avx512bf16.cc already gives its rows for vdpbf16ps
// (pair p of row j at lanes[p·16 + j]: a tile row is 64 contiguous bytes); C = 16 tokens × 16 rows,
// the y layout, stored once per block. Four C tiles (32 tokens × 32 rows), two A and two B: each A
// and each B tile loaded serves two products.
#include <immintrin.h>

#include <cstring>

#include "ops/gemm_tile.h"

namespace r1 {
namespace {

// ldtilecfg's 64-byte operand, palette 1: every tile 16 rows of 64 bytes.
struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

constexpr int kTileRows = 16;  // tokens of an A tile, rows of a B tile
constexpr int kTileK = 32;     // bf16 elements of a tile row (64 bytes)

// TB A tiles (16 tokens each) × G B tiles (16 rows each) over the whole k, into C tiles stored at c
// (token rows ldc bytes apart; the second group's 16 floats on, the second token tile 16 rows down).
// Tile numbers are immediates: C 0-3 (token tile · 2 + group), A 4-5, B 6-7.
template <int G, int TB>
void block(int64_t k, const uint32_t* lanes, int64_t group, const uint16_t* a, int64_t lda_bytes, float* c,
           int64_t ldc_bytes) {
  _tile_zero(0);
  if constexpr (G == 2) _tile_zero(1);
  if constexpr (TB == 2) _tile_zero(2);
  if constexpr (G == 2 && TB == 2) _tile_zero(3);
  const auto* a8 = reinterpret_cast<const uint8_t*>(a);
  for (int64_t i = 0; i < k; i += kTileK) {
    _tile_loadd(6, lanes + i / 2 * kTileRows, 64);
    if constexpr (G == 2) _tile_loadd(7, lanes + group + i / 2 * kTileRows, 64);
    _tile_loadd(4, a8 + i * 2, lda_bytes);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (G == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (TB == 2) {
      _tile_loadd(5, a8 + kTileRows * lda_bytes + i * 2, lda_bytes);
      _tile_dpbf16ps(2, 5, 6);
      if constexpr (G == 2) _tile_dpbf16ps(3, 5, 7);
    }
  }
  auto* c8 = reinterpret_cast<uint8_t*>(c);
  _tile_stored(0, c8, ldc_bytes);
  if constexpr (G == 2) _tile_stored(1, c8 + kTileRows * sizeof(float), ldc_bytes);
  if constexpr (TB == 2) _tile_stored(2, c8 + kTileRows * ldc_bytes, ldc_bytes);
  if constexpr (G == 2 && TB == 2) _tile_stored(3, c8 + kTileRows * ldc_bytes + kTileRows * sizeof(float), ldc_bytes);
}

using BlockFn = void (*)(int64_t, const uint32_t*, int64_t, const uint16_t*, int64_t, float*, int64_t);
constexpr BlockFn kBlocks[2][2] = {{block<1, 1>, block<1, 2>}, {block<2, 1>, block<2, 2>}};

}  // namespace

void amx_tiles_begin() {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) cfg.rows[i] = kTileRows, cfg.colsb[i] = 64;
  // GCC 12's _tile_loadconfig tells the compiler it reads 8 bytes, which let it drop the stores above.
  __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

void amx_tiles_end() { _tile_release(); }

void amx_bf16_block(int64_t k, const uint32_t* lanes, int64_t group, int64_t n_rows, const uint16_t* a, int64_t lda,
                    int64_t n_tok, float* y, int64_t ldy) {
  const int G = n_rows > kTileRows ? 2 : 1, TB = n_tok > kTileRows ? 2 : 1;
  const BlockFn fn = kBlocks[G - 1][TB - 1];
  const int64_t lda_bytes = lda * static_cast<int64_t>(sizeof(uint16_t));
  if (n_rows == G * kTileRows && n_tok == TB * kTileRows) {
    fn(k, lanes, group, a, lda_bytes, y, ldy * static_cast<int64_t>(sizeof(float)));
    return;
  }
  // A part of a block: the C tiles go through a buffer, so that y's neighbouring rows (another
  // thread's) and tokens are not written.
  alignas(64) float c[2 * kTileRows][2 * kTileRows];
  fn(k, lanes, group, a, lda_bytes, &c[0][0], sizeof(c[0]));
  for (int64_t t = 0; t < n_tok; ++t) std::memcpy(y + t * ldy, c[t], static_cast<size_t>(n_rows) * sizeof(float));
}

}  // namespace r1
