#include "ops/coded_bf16.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "ops/convert.h"

namespace r1 {
namespace {

// Where the header, the offsets and the exceptions start: after the rows, each at an address that is
// a multiple of 8 (a tensor in a safetensors file may start at any even address).
size_t align8(const uint8_t* base, size_t off) {
  return off + (8 - (reinterpret_cast<uintptr_t>(base) + off) % 8) % 8;
}
size_t header_offset(const uint8_t* base, int64_t n_rows, int64_t k) {
  return align8(base, static_cast<size_t>(n_rows) * coded_row_bytes(k));
}
size_t first_offset(const uint8_t* base, int64_t n_rows, int64_t k) {
  return header_offset(base, n_rows, k) + sizeof(CodedBf16Header);
}
size_t exceptions_offset(const uint8_t* base, int64_t n_rows, int64_t k) {
  return align8(base, first_offset(base, n_rows, k) + static_cast<size_t>(n_rows + 1) * sizeof(uint32_t));
}

// The 16 high bytes to code: 0x00 as code 0, then the 15 commonest others.
std::array<uint8_t, 16> pick_high_bytes(const std::array<uint64_t, 256>& count) {
  std::array<int, 256> order;
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin() + 1, order.end(), [&](int a, int b) { return count[a] > count[b]; });
  std::array<uint8_t, 16> high{};
  for (int c = 0; c < 16; ++c) high[c] = static_cast<uint8_t>(order[c]);
  return high;
}

}  // namespace

bool can_code_bf16(int64_t k, int64_t n_rows) { return k > 0 && k % kCodedBlock == 0 && n_rows >= 1; }

bool code_bf16_matrix(uint8_t* data, size_t nbytes, int64_t n_rows, int64_t k) {
  if (!can_code_bf16(k, n_rows) || nbytes != static_cast<size_t>(n_rows) * static_cast<size_t>(k) * 2) return false;
  const auto* w = reinterpret_cast<const uint16_t*>(data);
  const size_t n = static_cast<size_t>(n_rows) * static_cast<size_t>(k);
  // Four histograms, so that runs of equal bytes do not wait on one counter's last increment.
  std::array<std::array<uint64_t, 256>, 4> counts{};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int u = 0; u < 4; ++u) counts[static_cast<size_t>(u)][w[i + static_cast<size_t>(u)] >> 8]++;
  for (; i < n; ++i) counts[0][w[i] >> 8]++;
  std::array<uint64_t, 256> count{};
  for (int b = 0; b < 256; ++b) count[b] = counts[0][b] + counts[1][b] + counts[2][b] + counts[3][b];
  const std::array<uint8_t, 16> high = pick_high_bytes(count);
  std::array<uint8_t, 256> code;
  code.fill(0x80);  // no code: an exception
  for (int c = 0; c < 16; ++c) code[high[c]] = static_cast<uint8_t>(c);
  uint64_t n_exc = 0;
  for (int b = 0; b < 256; ++b)
    if (code[b] & 0x80) n_exc += count[b];
  // Past 1/256 the exception list costs more than a few percent of what the codes save.
  if (n_exc > n / 256 || exceptions_offset(data, n_rows, k) + n_exc * sizeof(CodedBf16Exception) > nbytes) return false;

  // Block by block, in order, each from a copy of its 128 bytes: block b's 96 coded bytes end at or
  // before the bytes of block b + 1, so nothing is overwritten before it is read. The exceptions are
  // kept aside until the rows are done.
  std::vector<uint32_t> first(static_cast<size_t>(n_rows) + 1, 0);
  std::vector<CodedBf16Exception> exceptions;
  exceptions.reserve(n_exc);
  uint8_t* out = data;
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t b = 0; b < k; b += kCodedBlock, out += 96) {
      uint16_t v[kCodedBlock];
      std::memcpy(v, data + (static_cast<size_t>(r) * static_cast<size_t>(k) + static_cast<size_t>(b)) * 2, sizeof v);
      uint8_t missing = 0;
      for (int j = 0; j < 32; ++j) {
        const uint8_t lo = code[v[j] >> 8], hi = code[v[32 + j] >> 8];
        missing |= lo | hi;
        out[j] = static_cast<uint8_t>((lo & 0x0F) | hi << 4);  // 0x80 (no code) leaves code 0
      }
      for (int j = 0; j < kCodedBlock; ++j) out[32 + j] = static_cast<uint8_t>(v[j]);
      if (missing & 0x80) {  // rare: exceptions are code 0 with low byte 0 (+0.0)
        for (int j = 0; j < kCodedBlock; ++j) {
          if (!(code[v[j] >> 8] & 0x80)) continue;
          exceptions.push_back({static_cast<uint32_t>(b + j), v[j], 0});
          out[32 + j] = 0;
        }
      }
    }
    first[static_cast<size_t>(r) + 1] = static_cast<uint32_t>(exceptions.size());
  }
  CodedBf16Header h{};
  std::memcpy(h.high, high.data(), 16);
  h.n_exceptions = static_cast<uint32_t>(exceptions.size());
  std::memcpy(data + header_offset(data, n_rows, k), &h, sizeof h);
  std::memcpy(data + first_offset(data, n_rows, k), first.data(), first.size() * sizeof(uint32_t));
  if (!exceptions.empty())
    std::memcpy(data + exceptions_offset(data, n_rows, k), exceptions.data(), exceptions.size() * sizeof(CodedBf16Exception));
  return true;
}

bool code_f16_matrix_as_bf16(uint8_t* data, size_t nbytes, int64_t n_rows, int64_t k) {
  if (!can_code_bf16(k, n_rows) || nbytes != static_cast<size_t>(n_rows) * static_cast<size_t>(k) * 2) return false;
  auto* w = reinterpret_cast<uint16_t*>(data);
  const size_t n = static_cast<size_t>(n_rows) * static_cast<size_t>(k);
  constexpr size_t kChunk = 4096;
  float f[kChunk];
  // An fp16 value is a bf16 value exactly when its float32 bits end in 16 zeros. NaNs are left alone
  // (their conversions need not keep every payload bit).
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t m = std::min(kChunk, n - i);
    fp16_to_f32_row(w + i, f, static_cast<int64_t>(m));
    uint32_t low = 0;
    bool nan = false;
    for (size_t j = 0; j < m; ++j) {
      low |= std::bit_cast<uint32_t>(f[j]) & 0xFFFFu;
      nan |= (w[i + j] & 0x7FFF) > 0x7C00;
    }
    if (low != 0 || nan) return false;
  }
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t m = std::min(kChunk, n - i);
    fp16_to_f32_row(w + i, f, static_cast<int64_t>(m));
    for (size_t j = 0; j < m; ++j) w[i + j] = static_cast<uint16_t>(std::bit_cast<uint32_t>(f[j]) >> 16);
  }
  if (code_bf16_matrix(data, nbytes, n_rows, k)) return true;
  for (size_t i = 0; i < n; i += kChunk) {  // declined: back to fp16, exactly (every value is one)
    const size_t m = std::min(kChunk, n - i);
    for (size_t j = 0; j < m; ++j) f[j] = bf16_to_f32(w[i + j]);
    f32_to_fp16_row(f, w + i, static_cast<int64_t>(m));
  }
  return false;
}

CodedBf16 coded_bf16(const TensorView& t) {
  const int64_t k = t.ne[0], n_rows = t.rows();
  if (t.layout != RowLayout::CodedBf16 || t.type != DType::BF16 || !can_code_bf16(k, n_rows))
    fail("coded bf16: tensor ", t.name, " ", t.shape_string(), " is not a coded BF16 matrix");
  const auto* base = static_cast<const uint8_t*>(t.data);
  CodedBf16 m{base, coded_row_bytes(k), k, n_rows,
              reinterpret_cast<const CodedBf16Header*>(base + header_offset(base, n_rows, k)),
              reinterpret_cast<const uint32_t*>(base + first_offset(base, n_rows, k)),
              reinterpret_cast<const CodedBf16Exception*>(base + exceptions_offset(base, n_rows, k))};
  const uint64_t n_exc = m.header->n_exceptions;
  if (exceptions_offset(base, n_rows, k) + n_exc * sizeof(CodedBf16Exception) > t.nbytes || m.first[0] != 0 ||
      m.first[n_rows] != n_exc)
    fail("coded bf16: tensor ", t.name, " has a damaged exception table");
  return m;
}

void decode_coded_bf16_rows(const CodedBf16& m, int64_t r0, int64_t r1, uint16_t* out) {
  const int64_t k = m.k;
  for (int64_t r = r0; r < r1; ++r, out += k) {
    const uint8_t* block = m.rows + static_cast<size_t>(r) * m.row_bytes;
    for (int64_t b = 0; b < k; b += kCodedBlock, block += 96)
      for (int j = 0; j < 32; ++j) {
        out[b + j] = static_cast<uint16_t>(m.header->high[block[j] & 15] << 8 | block[32 + j]);
        out[b + 32 + j] = static_cast<uint16_t>(m.header->high[block[j] >> 4] << 8 | block[64 + j]);
      }
    for (uint32_t e = m.first[r]; e < m.first[r + 1]; ++e) out[m.exceptions[e].col] = m.exceptions[e].bits;
  }
}

void add_coded_bf16_exceptions(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, float* y, bool x_as_bf16) {
  for (int64_t r = r0; r < r1; ++r)
    for (uint32_t e = m.first[r]; e < m.first[r + 1]; ++e) {
      const float xc = x[m.exceptions[e].col];
      y[r - r0] += bf16_to_f32(m.exceptions[e].bits) * (x_as_bf16 ? bf16_to_f32(f32_to_bf16(xc)) : xc);
    }
}

}  // namespace r1
