// The attention cache of a dense model: keys (after RoPE) and values of every past position, in
// F32, F16, Q8_0, Q4_0 or another of llama.cpp's cache types, keys and values each in their own type (llama.cpp's -ctk / -ctv). F16 is
// llama.cpp's default: half the bytes, and decode at depth reads the whole cache for every token
// (Qwen-1.5B at 4096 positions: 117 MB in F32), at the cost of rounding keys and values to F16 as
// they are written. Q8_0 takes 34 bytes per 32 values (53% of F16) for a coarser rounding (8 bits per
// value and an fp16 scale per 32); Q4_0 18 bytes (28%) for 4 bits per value. BF16, Q4_1, IQ4_NL, Q5_0
// and Q5_1 (llama.cpp's other cache types) are stored as well; attention widens their rows to float32
// a chunk at a time (ops/attention.h). Each (layer, kv head)
// owns a contiguous [capacity] run of key rows and one of value rows, so attention for one head
// streams through memory in position order; the memory is in huge pages (util/huge_pages.h) and
// becomes resident as positions are written.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "util/huge_pages.h"

namespace r1 {

// Bytes of one stored row of `width` values in an attention cache of `type`; throws r1::Error naming
// the problem (`what`: the cache) unless the type is a cache type (ops/block_rows.h), with width a
// multiple of 32 for those stored in blocks.
size_t cache_row_bytes(DType type, int64_t width, const char* what);
// The type named by a cache type flag's value (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1:
// llama.cpp's names); throws
// r1::Error naming `flag` for anything else.
DType cache_type_from_name(const std::string& name, const char* flag);

// The types of an attention cache's keys and values. One type converts to both.
struct CacheTypes {
  DType k = DType::F32, v = DType::F32;
  CacheTypes() = default;
  CacheTypes(DType both) : k(both), v(both) {}  // NOLINT: one type for keys and values
  CacheTypes(DType keys, DType values) : k(keys), v(values) {}
  bool operator==(const CacheTypes&) const = default;
};

class KVCache {
 public:
  // types: cache types for keys and for values (cache_row_bytes).
  KVCache(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t capacity, CacheTypes types = DType::F32);

  CacheTypes types() const { return types_; }
  DType type(int kv) const { return kv == 0 ? types_.k : types_.v; }  // keys (kv 0) or values (kv 1)
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return size_; }  // positions filled: the next token goes to position size()

  // Stores position pos of (layer, head): head_dim floats of key and of value, in their types.
  void write(int64_t layer, int64_t head, int64_t pos, const float* k, const float* v);
  // attend() (ops/attention.h) of the n_q query heads at q that read (layer, head), over its first
  // n_keys positions.
  void attend(int64_t layer, int64_t head, const float* q, int64_t n_q, int64_t n_keys, float scale, float* out,
              float* scores) const;
  // attend_tokens() (ops/attention.h): attend() for n_tok consecutive tokens' queries (q_stride floats
  // apart, outputs out_stride apart), token t over the first n_keys0 + t positions.
  void attend_tokens(int64_t layer, int64_t head, const float* q, int64_t q_stride, int64_t n_tok, int64_t n_q,
                     int64_t n_keys0, float scale, float* out, int64_t out_stride, float* scores) const;
  // attend_part() (ops/attention.h): the same over positions k0 .. k1 − 1 only, with each query's
  // log-sum-exp, to be merged with the other parts (merge_attention_parts).
  void attend_part(int64_t layer, int64_t head, const float* q, int64_t n_q, int64_t k0, int64_t k1, float scale,
                   float* out, float* lse, float* scores) const;

  // The stored rows of (layer, head): keys (kv 0) or values (kv 1), row_bytes(kv) per position, for
  // saving and restoring a cache (server/prefix_store.h).
  uint8_t* rows(int64_t layer, int64_t head, int kv) { return data_.data() + offset(layer, head, kv); }
  const uint8_t* rows(int64_t layer, int64_t head, int kv) const { return data_.data() + offset(layer, head, kv); }
  size_t row_bytes(int kv) const { return kv == 0 ? key_bytes_ : value_bytes_; }

  // Throws r1::Error if n more positions do not fit.
  void check_room(int64_t n) const;
  // Marks n more positions as filled (after the forward pass wrote them into every layer).
  void advance(int64_t n);
  // Forgets every position from n on (for reusing a shared prompt prefix). n <= size().
  void truncate(int64_t n);
  void clear() { size_ = 0; }

 private:
  size_t offset(int64_t layer, int64_t head, int kv) const {
    return static_cast<size_t>((layer * n_head_kv_ + head) * capacity_) * (key_bytes_ + value_bytes_) +
           (kv == 0 ? 0 : static_cast<size_t>(capacity_) * key_bytes_);
  }
  int64_t n_layer_, n_head_kv_, head_dim_, capacity_;
  CacheTypes types_;
  size_t key_bytes_, value_bytes_;  // bytes per stored position of one head's keys, values
  int64_t size_ = 0;
  HugeArray<uint8_t> data_;
};

}  // namespace r1
