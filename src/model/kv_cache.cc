#include "model/kv_cache.h"

#include "core/error.h"
#include "ops/attention.h"
#include "ops/quant.h"

namespace r1 {

size_t cache_row_bytes(DType type, int64_t width, const char* what) {
  if (!is_cache_row_type(type)) {
    fail(what, ": type ", dtype_name(type), " is not supported (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0 or q5_1)");
  }
  if (is_block_row_type(type) && width % 32 != 0) {
    fail(what, ": ", dtype_name(type), " needs rows of whole 32-value blocks, and these are ", width,
         " values wide (use f16)");
  }
  return row_bytes(type, width);
}

DType cache_type_from_name(const std::string& name, const char* flag) {
  for (DType t : kCacheRowTypes) {
    if (name == dtype_name(t)) return t;
  }
  fail(flag, " must be f16, f32, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0 or q5_1, not '", name, "'");
}

namespace {

// The cache's bytes (row: a position's key and value bytes), after checking the sizes.
size_t checked_bytes(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t capacity, size_t row) {
  if (n_layer <= 0 || n_head_kv <= 0 || head_dim <= 0 || capacity <= 0) {
    fail("KV cache: sizes must be positive (layers ", n_layer, ", kv heads ", n_head_kv, ", head dim ", head_dim,
         ", context ", capacity, ")");
  }
  const double bytes = double(n_layer) * double(n_head_kv) * double(capacity) * double(row);
  if (bytes > double(int64_t{1} << 40)) fail("KV cache: context ", capacity, " would need ", bytes / (1 << 30), " GiB");
  return static_cast<size_t>(n_layer * n_head_kv * capacity) * row;
}

}  // namespace

KVCache::KVCache(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t capacity, CacheTypes types)
    : n_layer_(n_layer),
      n_head_kv_(n_head_kv),
      head_dim_(head_dim),
      capacity_(capacity),
      types_(types),
      key_bytes_(cache_row_bytes(types.k, head_dim, "KV cache keys")),
      value_bytes_(cache_row_bytes(types.v, head_dim, "KV cache values")),
      data_(checked_bytes(n_layer, n_head_kv, head_dim, capacity, key_bytes_ + value_bytes_), "KV cache") {}

void KVCache::write(int64_t layer, int64_t head, int64_t pos, const float* k, const float* v) {
  quantize_row(types_.k, k, rows(layer, head, 0) + size_t(pos) * key_bytes_, head_dim_);
  quantize_row(types_.v, v, rows(layer, head, 1) + size_t(pos) * value_bytes_, head_dim_);
}

void KVCache::attend(int64_t layer, int64_t head, const float* q, int64_t n_q, int64_t n_keys, float scale, float* out,
                     float* scores) const {
  const int64_t hd = head_dim_;
  r1::attend(types_.k, types_.v, q, n_q, hd, rows(layer, head, 0), hd, n_keys, rows(layer, head, 1), hd, hd, scale, out,
             scores);
}

void KVCache::attend_tokens(int64_t layer, int64_t head, const float* q, int64_t q_stride, int64_t n_tok, int64_t n_q,
                            int64_t n_keys0, float scale, float* out, int64_t out_stride, float* scores) const {
  const int64_t hd = head_dim_;
  r1::attend_tokens(types_.k, types_.v, q, q_stride, n_tok, n_q, hd, rows(layer, head, 0), hd, n_keys0,
                    rows(layer, head, 1), hd, hd, scale, out, out_stride, scores);
}

void KVCache::attend_part(int64_t layer, int64_t head, const float* q, int64_t n_q, int64_t k0, int64_t k1, float scale,
                          float* out, float* lse, float* scores) const {
  const int64_t hd = head_dim_;
  r1::attend_part(types_.k, types_.v, q, n_q, hd, rows(layer, head, 0), hd, k0, k1, rows(layer, head, 1), hd, hd, scale,
                  out, lse, scores);
}

void KVCache::check_room(int64_t n) const {
  if (n < 0 || size_ + n > capacity_) {
    fail("context overflow: ", size_, " cached tokens + ", n, " new tokens exceed the context size of ", capacity_,
         " tokens");
  }
}

void KVCache::advance(int64_t n) {
  check_room(n);
  size_ += n;
}

void KVCache::truncate(int64_t n) {
  if (n < 0 || n > size_) fail("KV cache: cannot truncate to ", n, " tokens (", size_, " cached)");
  size_ = n;
}

}  // namespace r1
