#include "server/prefix_store.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/kv_cache.h"

namespace r1::server {
namespace {

// File kinds. The first stores' (one type for keys and values: f32, f16, q8_0) keep their names; the
// others are "R1KT" (dense) or "R1MT" (latent) followed by the keys' and values' type letters (one per
// cache type).
using Magic = std::array<char, 8>;
constexpr Magic kDenseMagic = {'R', '1', 'K', 'V', '0', '0', '0', '1'};
constexpr Magic kDenseF16Magic = {'R', '1', 'K', 'H', '0', '0', '0', '1'};
constexpr Magic kLatentMagic = {'R', '1', 'M', 'L', '0', '0', '0', '1'};
constexpr Magic kLatentF16Magic = {'R', '1', 'M', 'H', '0', '0', '0', '1'};
constexpr Magic kDenseQ8Magic = {'R', '1', 'K', 'Q', '0', '0', '0', '1'};
constexpr Magic kLatentQ8Magic = {'R', '1', 'M', 'Q', '0', '0', '0', '1'};

// Run b of a cache in file order: dense (layer, kv head, keys / values), or a layer's latents.
char* run(KVCache& c, uint32_t n_head_kv, int64_t b) {
  return reinterpret_cast<char*>(c.rows(b / (2 * n_head_kv), (b / 2) % n_head_kv, int(b % 2)));
}
const char* run(const KVCache& c, uint32_t n_head_kv, int64_t b) { return run(const_cast<KVCache&>(c), n_head_kv, b); }
char* run(LatentKVCache& c, uint32_t, int64_t b) { return reinterpret_cast<char*>(c.rows(b)); }
const char* run(const LatentKVCache& c, uint32_t, int64_t b) { return reinterpret_cast<const char*>(c.rows(b)); }

// The file kind of a dense or latent cache of these types.
Magic magic_of(bool latent, CacheTypes t) {
  if (t.k == t.v && t.k == DType::F32) return latent ? kLatentMagic : kDenseMagic;
  if (t.k == t.v && t.k == DType::F16) return latent ? kLatentF16Magic : kDenseF16Magic;
  if (t.k == t.v && t.k == DType::Q8_0) return latent ? kLatentQ8Magic : kDenseQ8Magic;
  const auto letter = [](DType d) {
    switch (d) {
      case DType::F32: return 'F';
      case DType::F16: return 'H';
      case DType::BF16: return 'B';
      case DType::Q8_0: return '8';
      case DType::Q4_0: return '4';
      case DType::Q4_1: return 'a';
      case DType::IQ4_NL: return 'n';
      case DType::Q5_0: return '5';
      case DType::Q5_1: return 'b';
      default: fail("prefix store: no file kind for ", dtype_name(d), " caches");
    }
  };
  return {'R', '1', latent ? 'M' : 'K', 'T', letter(t.k), letter(t.v), '0', '1'};
}
bool is_latent(const Magic& magic) { return magic[2] == 'M'; }

// FNV-1a over the file's kind, shape and tokens: models of another shape sharing a directory
// do not overwrite each other's files.
std::string hash_name(const Magic& magic, const uint32_t (&shape)[3], std::span<const int32_t> tokens) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint32_t v) {
    for (int b = 0; b < 4; b++) {
      h ^= uint8_t(v >> (8 * b));
      h *= 1099511628211ull;
    }
  };
  for (int i = 0; i < 8; i++) mix(uint8_t(magic[i]));
  for (uint32_t v : shape) mix(v);
  for (int32_t t : tokens) mix(uint32_t(t));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016llx-%zu.r1kv", static_cast<unsigned long long>(h), tokens.size());
  return buf;
}

}  // namespace

PrefixStore::PrefixStore(const std::string& dir, int64_t n_layer, int64_t n_head_kv, int64_t head_dim,
                         CacheTypes cache_types)
    : PrefixStore(dir, magic_of(false, cache_types), {uint32_t(n_layer), uint32_t(n_head_kv), uint32_t(head_dim)},
                  n_layer * n_head_kv * 2, int64_t(cache_row_bytes(cache_types.k, head_dim, "prefix store")),
                  int64_t(cache_row_bytes(cache_types.v, head_dim, "prefix store"))) {}

PrefixStore::PrefixStore(const std::string& dir, int64_t n_layer, int64_t latent_dim, DType cache_type)
    : PrefixStore(dir, magic_of(true, cache_type), {uint32_t(n_layer), 1, uint32_t(latent_dim)}, n_layer,
                  int64_t(cache_row_bytes(cache_type, latent_dim, "prefix store")),
                  int64_t(cache_row_bytes(cache_type, latent_dim, "prefix store"))) {}

PrefixStore::PrefixStore(const std::string& dir, const Magic& magic, const uint32_t (&shape)[3], int64_t blocks,
                         int64_t key_width, int64_t value_width)
    : dir_(dir), magic_(magic), shape_{shape[0], shape[1], shape[2]}, blocks_(blocks), widths_{key_width, value_width} {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) fail("--cache-dir: cannot create directory '", dir, "'");
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    if (f.path().extension() != ".r1kv") continue;
    std::ifstream in(f.path(), std::ios::binary);
    char file_magic[8];
    uint32_t head[4];
    if (!in.read(file_magic, 8) || std::memcmp(file_magic, magic_.data(), 8) != 0 || !in.read(reinterpret_cast<char*>(head), sizeof head)) continue;
    if (head[0] != shape_[0] || head[1] != shape_[1] || head[2] != shape_[2] || head[3] == 0) continue;
    Entry e{f.path().string(), std::vector<int32_t>(head[3])};
    if (!in.read(reinterpret_cast<char*>(e.tokens.data()), std::streamsize(e.tokens.size() * sizeof(int32_t)))) continue;
    // The data must all be there: a file cut short by a crash is not used.
    const uint64_t want = 8 + sizeof head + uint64_t(head[3]) * 4 + uint64_t(head[3]) * uint64_t(position_bytes());
    if (fs::file_size(f.path(), ec) != want) continue;
    entries_.push_back(std::move(e));
  }
}

size_t PrefixStore::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void PrefixStore::check(const KVCache& cache) const {
  if (is_latent(magic_)) fail("prefix store: a dense KV cache given to a DeepSeek (latent) store");
  if (magic_ != magic_of(false, cache.types()) || int64_t(cache.row_bytes(0)) != widths_[0] ||
      int64_t(cache.row_bytes(1)) != widths_[1]) {
    fail("prefix store: the KV cache (keys ", dtype_name(cache.type(0)), ", values ", dtype_name(cache.type(1)),
         ") does not match the store's types and shape");
  }
}

void PrefixStore::check(const LatentKVCache& cache) const {
  if (!is_latent(magic_)) fail("prefix store: a DeepSeek latent cache given to a dense store");
  if (magic_ != magic_of(true, cache.type()) || int64_t(cache.row_bytes()) != widths_[0]) {
    fail("prefix store: the latent cache (", dtype_name(cache.type()), ") does not match the store's type and shape");
  }
}

int64_t PrefixStore::load(std::span<const int32_t> ids, int64_t max_tokens, KVCache& cache) {
  check(cache);
  return load_runs(ids, max_tokens, cache);
}

int64_t PrefixStore::load(std::span<const int32_t> ids, int64_t max_tokens, LatentKVCache& cache) {
  check(cache);
  return load_runs(ids, max_tokens, cache);
}

void PrefixStore::save(std::span<const int32_t> tokens, const KVCache& cache) {
  check(cache);
  save_runs(tokens, cache);
}

void PrefixStore::save(std::span<const int32_t> tokens, const LatentKVCache& cache) {
  check(cache);
  save_runs(tokens, cache);
}

template <class Cache>
int64_t PrefixStore::load_runs(std::span<const int32_t> ids, int64_t max_tokens, Cache& cache) {
  std::string path;
  int64_t n = 0, stored = 0;
  {
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) {
      const int64_t shared = std::mismatch(e.tokens.begin(), e.tokens.end(), ids.begin(), ids.end()).first - e.tokens.begin();
      if (shared > n) n = shared, path = e.path, stored = int64_t(e.tokens.size());
    }
  }
  n = std::min({n, max_tokens, cache.capacity()});
  if (n <= 0) return 0;
  std::ifstream in(path, std::ios::binary);
  cache.truncate(0);
  const uint64_t data = 8 + 16 + uint64_t(stored) * 4;
  for (int64_t b = 0; b < blocks_; b++) {
    const uint64_t at = data + uint64_t(run_offset(b, stored));
    char* dst = run(cache, shape_[1], b);
    if (!in.seekg(std::streamoff(at)) || !in.read(dst, std::streamsize(n * widths_[b % 2]))) return 0;  // file vanished: compute instead
  }
  cache.advance(n);
  return n;
}

template <class Cache>
void PrefixStore::save_runs(std::span<const int32_t> tokens, const Cache& cache) {
  if (tokens.empty() || int64_t(tokens.size()) > cache.size()) return;
  const std::string name = hash_name(magic_, shape_, tokens);
  const std::string path = (std::filesystem::path(dir_) / name).string();
  {
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_)
      if (std::equal(e.tokens.begin(), e.tokens.end(), tokens.begin(), tokens.end())) return;
  }
  // Written under a temporary name and renamed, so a reader never sees half a file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    const uint32_t head[4] = {shape_[0], shape_[1], shape_[2], uint32_t(tokens.size())};
    out.write(magic_.data(), 8);
    out.write(reinterpret_cast<const char*>(head), sizeof head);
    out.write(reinterpret_cast<const char*>(tokens.data()), std::streamsize(tokens.size() * 4));
    for (int64_t b = 0; b < blocks_; b++) {
      out.write(run(cache, shape_[1], b), std::streamsize(tokens.size() * size_t(widths_[b % 2])));
    }
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return;  // a full disk costs the cache entry, not the request
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return;
  std::lock_guard lock(mu_);
  entries_.push_back({path, std::vector<int32_t>(tokens.begin(), tokens.end())});
}

void StoredPrefixContext::forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  // A prompt at an empty cache: take what the store has (the last token is always computed,
  // its logits choose the next one).
  if (inner_->n_past() == 0 && n > 1 && !all_logits) {
    const int64_t have = std::visit([&](auto* cache) { return store_.load(std::span<const int32_t>(ids, size_t(n)), n - 1, *cache); }, cache_);
    restored_ = have;
    ids += have;
    n -= have;
  }
  inner_->forward(ids, n, all_logits, logits);
}

}  // namespace r1::server
