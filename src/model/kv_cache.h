// The attention cache of a dense model: keys (after RoPE) and values of every past position, in
// F32 (an F16 cache is a later memory optimisation). Each (layer, kv head) owns a contiguous
// [capacity][head_dim] block, so attention for one head streams through memory in position order;
// the memory is in huge pages (util/huge_pages.h) and becomes resident as positions are written.
#pragma once
#include <cstddef>
#include <cstdint>

#include "util/huge_pages.h"

namespace r1 {

class KVCache {
 public:
  KVCache(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t capacity);

  int64_t capacity() const { return capacity_; }
  int64_t size() const { return size_; }  // positions filled: the next token goes to position size()

  // Row `pos` of (layer, head) is at k(layer, head) + pos * head_dim.
  float* k(int64_t layer, int64_t head) { return data_.data() + offset(layer, head, 0); }
  float* v(int64_t layer, int64_t head) { return data_.data() + offset(layer, head, 1); }
  const float* k(int64_t layer, int64_t head) const { return data_.data() + offset(layer, head, 0); }
  const float* v(int64_t layer, int64_t head) const { return data_.data() + offset(layer, head, 1); }

  // Throws r1::Error if n more positions do not fit.
  void check_room(int64_t n) const;
  // Marks n more positions as filled (after the forward pass wrote them into every layer).
  void advance(int64_t n);
  // Forgets every position from n on (for reusing a shared prompt prefix). n <= size().
  void truncate(int64_t n);
  void clear() { size_ = 0; }

 private:
  size_t offset(int64_t layer, int64_t head, int kv) const {
    return static_cast<size_t>(((layer * n_head_kv_ + head) * 2 + kv) * capacity_ * head_dim_);
  }
  int64_t n_layer_, n_head_kv_, head_dim_, capacity_;
  int64_t size_ = 0;
  HugeFloatArray data_;
};

}  // namespace r1
