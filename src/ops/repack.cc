#include "ops/repack.h"

#include <cstring>
#include <vector>

#include "core/error.h"

namespace r1 {
namespace {

// The length of the chunk that starts at byte s of a block (see repack.h): the scales (Q4_K: d and
// dmin, then the three dwords of the 6-bit scales) and the codes in the runs the kernels load per row.
int64_t chunk_bytes(DType type, int64_t s) {
  switch (type) {
    case DType::Q4_0:
    case DType::Q8_0:
      return s < 2 ? 2 : 4;
    case DType::Q4_K:
      return s < 16 ? 4 : 8;
    case DType::Q5_0:
      return s < 2 ? 2 : s < 6 ? 1 : 8;
    default:
      fail("repack: type ", dtype_name(type), " has no interleaved layout");
  }
}

// Row r's block between its own bytes and the group's block column, chunk by chunk, either way.
void to_column(DType type, int64_t block, int r, const uint8_t* row_block, uint8_t* column) {
  for (int64_t s = 0, len; s < block; s += len) {
    len = chunk_bytes(type, s);
    std::memcpy(column + kInterleave * s + r * len, row_block + s, static_cast<size_t>(len));
  }
}
void from_column(DType type, int64_t block, int r, const uint8_t* column, uint8_t* row_block) {
  for (int64_t s = 0, len; s < block; s += len) {
    len = chunk_bytes(type, s);
    std::memcpy(row_block + s, column + kInterleave * s + r * len, static_cast<size_t>(len));
  }
}

}  // namespace

bool can_interleave(DType type) {
  return type == DType::Q4_0 || type == DType::Q8_0 || type == DType::Q4_K || type == DType::Q5_0;
}

void repack_x8(DType type, uint8_t* data, int64_t n_rows, int64_t k) {
  const DTypeTraits& tr = dtype_traits(type);
  chunk_bytes(type, 0);  // throws for a type without the layout
  const int64_t block = tr.block_bytes, nb = k / tr.block_size;
  const size_t row_bytes = static_cast<size_t>(nb * block);
  std::vector<uint8_t> group(kInterleave * row_bytes);
  for (int64_t g = 0; g + kInterleave <= n_rows; g += kInterleave) {
    uint8_t* dst = data + static_cast<size_t>(g) * row_bytes;
    std::memcpy(group.data(), dst, group.size());
    for (int r = 0; r < kInterleave; ++r)
      for (int64_t i = 0; i < nb; ++i)
        to_column(type, block, r, group.data() + r * row_bytes + i * block, dst + i * kInterleave * block);
  }
}

void unpack_x8_row(DType type, const uint8_t* data, int64_t n_rows, int64_t k, int64_t r, void* out) {
  const DTypeTraits& tr = dtype_traits(type);
  chunk_bytes(type, 0);
  const int64_t block = tr.block_bytes, nb = k / tr.block_size;
  const size_t row_bytes = static_cast<size_t>(nb * block);
  auto* dst = static_cast<uint8_t*>(out);
  const int64_t g = r / kInterleave * kInterleave;
  if (g + kInterleave > n_rows) {  // past the last whole group: as stored
    std::memcpy(dst, data + static_cast<size_t>(r) * row_bytes, row_bytes);
    return;
  }
  const uint8_t* grp = data + static_cast<size_t>(g) * row_bytes;
  for (int64_t i = 0; i < nb; ++i)
    from_column(type, block, static_cast<int>(r - g), grp + i * kInterleave * block, dst + i * block);
}

}  // namespace r1
