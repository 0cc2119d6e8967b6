#include "ops/repack.h"

#include <cstring>
#include <vector>

namespace r1 {
namespace {

// Byte offsets inside a group's block column (see repack.h).
constexpr int64_t scale_offset(int r) { return 2 * r; }
constexpr int64_t qs_offset(int r, int j) { return 2 * kInterleave + 32 * (j / 4) + 4 * r + j % 4; }

}  // namespace

void repack_q4_0_x8(uint8_t* data, int64_t n_rows, int64_t k) {
  const int64_t nb = k / kQK;
  const size_t row_bytes = static_cast<size_t>(nb) * sizeof(BlockQ4_0);
  std::vector<uint8_t> group(kInterleave * row_bytes);
  for (int64_t g = 0; g + kInterleave <= n_rows; g += kInterleave) {
    uint8_t* dst = data + static_cast<size_t>(g) * row_bytes;
    std::memcpy(group.data(), dst, group.size());
    for (int r = 0; r < kInterleave; ++r) {
      const auto* row = reinterpret_cast<const BlockQ4_0*>(group.data() + r * row_bytes);
      for (int64_t i = 0; i < nb; ++i) {
        uint8_t* col = dst + i * kQ4_0x8ColumnBytes;
        std::memcpy(col + scale_offset(r), &row[i].d, 2);
        for (int j = 0; j < kQK / 2; j += 4) std::memcpy(col + qs_offset(r, j), row[i].qs + j, 4);
      }
    }
  }
}

void unpack_q4_0_x8_row(const uint8_t* data, int64_t n_rows, int64_t k, int64_t r, BlockQ4_0* out) {
  const int64_t nb = k / kQK;
  const size_t row_bytes = static_cast<size_t>(nb) * sizeof(BlockQ4_0);
  const int64_t g = r / kInterleave * kInterleave;
  if (g + kInterleave > n_rows) {  // past the last whole group: as stored
    std::memcpy(out, data + static_cast<size_t>(r) * row_bytes, row_bytes);
    return;
  }
  const int ri = static_cast<int>(r - g);
  const uint8_t* grp = data + static_cast<size_t>(g) * row_bytes;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* col = grp + i * kQ4_0x8ColumnBytes;
    std::memcpy(&out[i].d, col + scale_offset(ri), 2);
    for (int j = 0; j < kQK / 2; j += 4) std::memcpy(out[i].qs + j, col + qs_offset(ri, j), 4);
  }
}

}  // namespace r1
