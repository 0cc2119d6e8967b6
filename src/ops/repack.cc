#include "ops/repack.h"

#include <cstring>
#include <vector>

#include "core/error.h"
#include "ops/blocks.h"

namespace r1 {
namespace {

// A block is a 2-byte scale and qs_bytes of codes (18 bytes for Q4_0, 34 for Q8_0).
int64_t qs_bytes(DType type) {
  if (type == DType::Q4_0) return kQK / 2;
  if (type == DType::Q8_0) return kQK;
  fail("repack: type ", dtype_name(type), " has no interleaved layout");
}

// Byte offsets of row r's scale and of its code byte j inside a group's block column.
constexpr int64_t scale_offset(int r) { return 2 * r; }
constexpr int64_t qs_offset(int r, int64_t j) { return 2 * kInterleave + 32 * (j / 4) + 4 * r + j % 4; }

}  // namespace

bool can_interleave(DType type) { return type == DType::Q4_0 || type == DType::Q8_0; }

void repack_x8(DType type, uint8_t* data, int64_t n_rows, int64_t k) {
  const int64_t qb = qs_bytes(type), block = 2 + qb, nb = k / kQK;
  const size_t row_bytes = static_cast<size_t>(nb * block);
  std::vector<uint8_t> group(kInterleave * row_bytes);
  for (int64_t g = 0; g + kInterleave <= n_rows; g += kInterleave) {
    uint8_t* dst = data + static_cast<size_t>(g) * row_bytes;
    std::memcpy(group.data(), dst, group.size());
    for (int r = 0; r < kInterleave; ++r)
      for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* src = group.data() + r * row_bytes + i * block;
        uint8_t* col = dst + i * kInterleave * block;
        std::memcpy(col + scale_offset(r), src, 2);
        for (int64_t j = 0; j < qb; j += 4) std::memcpy(col + qs_offset(r, j), src + 2 + j, 4);
      }
  }
}

void unpack_x8_row(DType type, const uint8_t* data, int64_t n_rows, int64_t k, int64_t r, void* out) {
  const int64_t qb = qs_bytes(type), block = 2 + qb, nb = k / kQK;
  const size_t row_bytes = static_cast<size_t>(nb * block);
  auto* dst = static_cast<uint8_t*>(out);
  const int64_t g = r / kInterleave * kInterleave;
  if (g + kInterleave > n_rows) {  // past the last whole group: as stored
    std::memcpy(dst, data + static_cast<size_t>(r) * row_bytes, row_bytes);
    return;
  }
  const int ri = static_cast<int>(r - g);
  const uint8_t* grp = data + static_cast<size_t>(g) * row_bytes;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* col = grp + i * kInterleave * block;
    std::memcpy(dst + i * block, col + scale_offset(ri), 2);
    for (int64_t j = 0; j < qb; j += 4) std::memcpy(dst + i * block + 2 + j, col + qs_offset(ri, j), 4);
  }
}

}  // namespace r1
