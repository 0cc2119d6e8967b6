#include "ops/coded_bf16.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "ops/convert.h"

namespace r1 {
namespace {

// Where the header, the offsets and the exceptions start (8-byte aligned after the rows).
size_t header_offset(int64_t n_rows, int64_t k) { return (static_cast<size_t>(n_rows) * coded_row_bytes(k) + 7) / 8 * 8; }
size_t first_offset(int64_t n_rows, int64_t k) { return header_offset(n_rows, k) + sizeof(CodedBf16Header); }
size_t exceptions_offset(int64_t n_rows, int64_t k) {
  return (first_offset(n_rows, k) + static_cast<size_t>(n_rows + 1) * sizeof(uint32_t) + 7) / 8 * 8;
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
  std::array<uint64_t, 256> count{};
  for (size_t i = 0; i < n; ++i) count[w[i] >> 8]++;
  const std::array<uint8_t, 16> high = pick_high_bytes(count);
  std::array<int, 256> code;
  code.fill(-1);
  for (int c = 0; c < 16; ++c) code[high[c]] = c;
  uint64_t n_exc = 0;
  for (int b = 0; b < 256; ++b)
    if (code[b] < 0) n_exc += count[b];
  // Past 1/256 the exception list costs more than a few percent of what the codes save.
  if (n_exc > n / 256 || exceptions_offset(n_rows, k) + n_exc * sizeof(CodedBf16Exception) > nbytes) return false;

  // Row r's codes end at (r + 1) · 1.5k ≤ 2k · (r + 1), before row r + 1's bytes: rows are rewritten
  // in order, each from a copy of itself. The exceptions are kept aside until the rows are done.
  std::vector<uint16_t> row(static_cast<size_t>(k));
  std::vector<uint32_t> first(static_cast<size_t>(n_rows) + 1, 0);
  std::vector<CodedBf16Exception> exceptions;
  exceptions.reserve(n_exc);
  for (int64_t r = 0; r < n_rows; ++r) {
    std::memcpy(row.data(), data + static_cast<size_t>(r) * static_cast<size_t>(k) * 2, static_cast<size_t>(k) * 2);
    uint8_t* out = data + static_cast<size_t>(r) * coded_row_bytes(k);
    for (int64_t b = 0; b < k; b += kCodedBlock, out += 96) {
      uint8_t nibble[kCodedBlock];
      for (int64_t j = 0; j < kCodedBlock; ++j) {
        const uint16_t v = row[static_cast<size_t>(b + j)];
        const int c = code[v >> 8];
        if (c < 0) exceptions.push_back({static_cast<uint32_t>(b + j), v, 0});
        nibble[j] = static_cast<uint8_t>(c < 0 ? 0 : c);
        out[32 + j] = c < 0 ? 0 : static_cast<uint8_t>(v & 0xFF);
      }
      for (int j = 0; j < 32; ++j) out[j] = static_cast<uint8_t>(nibble[j] | nibble[32 + j] << 4);
    }
    first[static_cast<size_t>(r) + 1] = static_cast<uint32_t>(exceptions.size());
  }
  CodedBf16Header h{};
  std::memcpy(h.high, high.data(), 16);
  h.n_exceptions = static_cast<uint32_t>(exceptions.size());
  std::memcpy(data + header_offset(n_rows, k), &h, sizeof h);
  std::memcpy(data + first_offset(n_rows, k), first.data(), first.size() * sizeof(uint32_t));
  if (!exceptions.empty())
    std::memcpy(data + exceptions_offset(n_rows, k), exceptions.data(), exceptions.size() * sizeof(CodedBf16Exception));
  return true;
}

CodedBf16 coded_bf16(const TensorView& t) {
  const int64_t k = t.ne[0], n_rows = t.rows();
  if (t.layout != RowLayout::CodedBf16 || t.type != DType::BF16 || !can_code_bf16(k, n_rows))
    fail("coded bf16: tensor ", t.name, " ", t.shape_string(), " is not a coded BF16 matrix");
  const auto* base = static_cast<const uint8_t*>(t.data);
  CodedBf16 m{base, coded_row_bytes(k), k, n_rows,
              reinterpret_cast<const CodedBf16Header*>(base + header_offset(n_rows, k)),
              reinterpret_cast<const uint32_t*>(base + first_offset(n_rows, k)),
              reinterpret_cast<const CodedBf16Exception*>(base + exceptions_offset(n_rows, k))};
  const uint64_t n_exc = m.header->n_exceptions;
  if (exceptions_offset(n_rows, k) + n_exc * sizeof(CodedBf16Exception) > t.nbytes || m.first[0] != 0 ||
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

void add_coded_bf16_exceptions(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, float* y) {
  for (int64_t r = r0; r < r1; ++r)
    for (uint32_t e = m.first[r]; e < m.first[r + 1]; ++e)
      y[r - r0] += bf16_to_f32(m.exceptions[e].bits) * x[m.exceptions[e].col];
}

}  // namespace r1
