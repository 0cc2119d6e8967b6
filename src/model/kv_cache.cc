#include "model/kv_cache.h"

#include "core/error.h"

namespace r1 {

namespace {

// The cache's floats, after checking the sizes.
size_t checked_floats(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t capacity) {
  if (n_layer <= 0 || n_head_kv <= 0 || head_dim <= 0 || capacity <= 0) {
    fail("KV cache: sizes must be positive (layers ", n_layer, ", kv heads ", n_head_kv, ", head dim ", head_dim,
         ", context ", capacity, ")");
  }
  const double bytes = 2.0 * double(n_layer) * double(n_head_kv) * double(head_dim) * double(capacity) * sizeof(float);
  if (bytes > double(int64_t{1} << 40)) fail("KV cache: context ", capacity, " would need ", bytes / (1 << 30), " GiB");
  return static_cast<size_t>(2 * n_layer * n_head_kv * head_dim * capacity);
}

}  // namespace

KVCache::KVCache(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t capacity)
    : n_layer_(n_layer),
      n_head_kv_(n_head_kv),
      head_dim_(head_dim),
      capacity_(capacity),
      data_(checked_floats(n_layer, n_head_kv, head_dim, capacity), "KV cache") {}

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
