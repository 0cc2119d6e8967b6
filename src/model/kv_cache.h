// The attention cache of a dense model: keys (after RoPE) and values of every past position, in
// F32, F16 or Q8_0. F16 is llama.cpp's default: half the bytes, and decode at depth reads the whole
// cache for every token (Qwen-1.5B at 4096 positions: 117 MB in F32), at the cost of rounding keys
// and values to F16 as they are written. Q8_0 (llama.cpp's `-ctk q8_0 -ctv q8_0`) takes 34 bytes per
// 32 values, 53% of F16, for a coarser rounding (8 bits per value and an fp16 scale per 32). Each (layer, kv head) owns a contiguous [capacity][head_dim]
// block of keys and one of values, so attention for one head streams through memory in position
// order; the memory is in huge pages (util/huge_pages.h) and becomes resident as positions are written.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "util/huge_pages.h"

namespace r1 {

// Bytes of one stored row of `width` values in an attention cache of `type`; throws r1::Error naming
// the problem (`what`: the cache) unless the type is F32, F16, or Q8_0 with width a multiple of 32.
size_t cache_row_bytes(DType type, int64_t width, const char* what);

class KVCache {
 public:
  // type: DType::F32, F16 or Q8_0 (cache_row_bytes).
  KVCache(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t capacity, DType type = DType::F32);

  DType type() const { return type_; }
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return size_; }  // positions filled: the next token goes to position size()

  // Stores position pos of (layer, head): head_dim floats of key and of value, in the cache's type.
  void write(int64_t layer, int64_t head, int64_t pos, const float* k, const float* v);
  // attend() (ops/attention.h) of the n_q query heads at q that read (layer, head), over its first
  // n_keys positions.
  void attend(int64_t layer, int64_t head, const float* q, int64_t n_q, int64_t n_keys, float scale, float* out,
              float* scores) const;

  // The stored rows of (layer, head): keys (kv 0) or values (kv 1), row_bytes() per position, for
  // saving and restoring a cache (server/prefix_store.h).
  uint8_t* rows(int64_t layer, int64_t head, int kv) { return data_.data() + offset(layer, head, kv); }
  const uint8_t* rows(int64_t layer, int64_t head, int kv) const { return data_.data() + offset(layer, head, kv); }
  size_t row_bytes() const { return row_bytes_; }

  // Throws r1::Error if n more positions do not fit.
  void check_room(int64_t n) const;
  // Marks n more positions as filled (after the forward pass wrote them into every layer).
  void advance(int64_t n);
  // Forgets every position from n on (for reusing a shared prompt prefix). n <= size().
  void truncate(int64_t n);
  void clear() { size_ = 0; }

 private:
  size_t offset(int64_t layer, int64_t head, int kv) const {
    return static_cast<size_t>(((layer * n_head_kv_ + head) * 2 + kv) * capacity_) * row_bytes();
  }
  int64_t n_layer_, n_head_kv_, head_dim_, capacity_;
  DType type_;
  size_t row_bytes_;  // bytes per stored position of one head's keys or values
  int64_t size_ = 0;
  HugeArray<uint8_t> data_;
};

}  // namespace r1
