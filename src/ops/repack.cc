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

// unpack_x8_group's inner copies for the types whose prefill reads unpacked groups, with the chunk
// lengths fixed at compile time: a copy a chunk, no call (prefill unpacks every 16-row group it
// expands, and the generic loop took as long as the tile's work on ~50 tokens).
template <size_t kLen>
inline void copy_chunk(uint8_t* dst, const uint8_t* src) {
  std::memcpy(dst, src, kLen);
}

// Every block column of a group, row by row: copy_row(row's block, column, r).
template <size_t kBlock, typename CopyRow>
void unpack_group(const uint8_t* group, int64_t nb, size_t row_bytes, uint8_t* out, CopyRow copy_row) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* col = group + static_cast<size_t>(i) * kInterleave * kBlock;
    for (int r = 0; r < kInterleave; ++r) copy_row(out + r * row_bytes + static_cast<size_t>(i) * kBlock, col, r);
  }
}

void unpack_group_q4_k(const uint8_t* group, int64_t nb, size_t row_bytes, uint8_t* out) {
  unpack_group<144>(group, nb, row_bytes, out, [](uint8_t* dst, const uint8_t* col, int r) {
    for (int s = 0; s < 16; s += 4) copy_chunk<4>(dst + s, col + kInterleave * s + 4 * r);
    for (int s = 16; s < 144; s += 8) copy_chunk<8>(dst + s, col + kInterleave * s + 8 * r);
  });
}

void unpack_group_q5_0(const uint8_t* group, int64_t nb, size_t row_bytes, uint8_t* out) {
  unpack_group<22>(group, nb, row_bytes, out, [](uint8_t* dst, const uint8_t* col, int r) {
    copy_chunk<2>(dst, col + 2 * r);
    for (int s = 2; s < 6; ++s) dst[s] = col[kInterleave * s + r];
    copy_chunk<8>(dst + 6, col + kInterleave * 6 + 8 * r);
    copy_chunk<8>(dst + 14, col + kInterleave * 14 + 8 * r);
  });
}

void unpack_group_q8_0(const uint8_t* group, int64_t nb, size_t row_bytes, uint8_t* out) {
  unpack_group<34>(group, nb, row_bytes, out, [](uint8_t* dst, const uint8_t* col, int r) {
    copy_chunk<2>(dst, col + 2 * r);
    for (int s = 2; s < 34; s += 4) copy_chunk<4>(dst + s, col + kInterleave * s + 4 * r);
  });
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

void unpack_x8_group(DType type, const uint8_t* group, int64_t k, uint8_t* out) {
  const DTypeTraits& tr = dtype_traits(type);
  const int64_t nb = k / tr.block_size;
  const size_t row_bytes = static_cast<size_t>(nb * tr.block_bytes);
  if (type == DType::Q4_K) return unpack_group_q4_k(group, nb, row_bytes, out);
  if (type == DType::Q5_0) return unpack_group_q5_0(group, nb, row_bytes, out);
  if (type == DType::Q8_0) return unpack_group_q8_0(group, nb, row_bytes, out);
  for (int r = 0; r < kInterleave; ++r) unpack_x8_row(type, group, kInterleave, k, r, out + r * row_bytes);
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
