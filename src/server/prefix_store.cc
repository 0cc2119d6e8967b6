#include "server/prefix_store.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace r1::server {
namespace {

constexpr char kMagic[8] = {'R', '1', 'K', 'V', '0', '0', '0', '1'};

std::string hash_name(std::span<const int32_t> tokens) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the token bytes
  for (int32_t t : tokens) {
    for (int b = 0; b < 4; b++) {
      h ^= uint8_t(uint32_t(t) >> (8 * b));
      h *= 1099511628211ull;
    }
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016llx-%zu.r1kv", static_cast<unsigned long long>(h), tokens.size());
  return buf;
}

}  // namespace

PrefixStore::PrefixStore(const std::string& dir, int64_t n_layer, int64_t n_head_kv, int64_t head_dim)
    : dir_(dir), n_layer_(n_layer), n_head_kv_(n_head_kv), head_dim_(head_dim) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) fail("--cache-dir: cannot create directory '", dir, "'");
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    if (f.path().extension() != ".r1kv") continue;
    std::ifstream in(f.path(), std::ios::binary);
    char magic[8];
    uint32_t head[4];
    if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0 || !in.read(reinterpret_cast<char*>(head), sizeof head)) continue;
    if (head[0] != n_layer || head[1] != n_head_kv || head[2] != head_dim || head[3] == 0) continue;
    Entry e{f.path().string(), std::vector<int32_t>(head[3])};
    if (!in.read(reinterpret_cast<char*>(e.tokens.data()), std::streamsize(e.tokens.size() * sizeof(int32_t)))) continue;
    // The data must all be there: a file cut short by a crash is not used.
    const uint64_t want = 8 + sizeof head + uint64_t(head[3]) * 4 + uint64_t(n_layer * n_head_kv * 2) * head[3] * uint64_t(head_dim) * 4;
    if (fs::file_size(f.path(), ec) != want) continue;
    entries_.push_back(std::move(e));
  }
}

size_t PrefixStore::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

int64_t PrefixStore::load(std::span<const int32_t> ids, int64_t max_tokens, KVCache& cache) {
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
  const std::streamsize block = std::streamsize(stored * head_dim_ * 4), want = std::streamsize(n * head_dim_ * 4);
  for (int64_t l = 0; l < n_layer_; l++) {
    for (int64_t h = 0; h < n_head_kv_; h++) {
      for (int kv = 0; kv < 2; kv++) {
        const uint64_t at = data + uint64_t(((l * n_head_kv_ + h) * 2 + kv)) * uint64_t(block);
        float* dst = kv == 0 ? cache.k(l, h) : cache.v(l, h);
        if (!in.seekg(std::streamoff(at)) || !in.read(reinterpret_cast<char*>(dst), want)) return 0;  // file vanished: compute instead
      }
    }
  }
  cache.advance(n);
  return n;
}

void PrefixStore::save(std::span<const int32_t> tokens, const KVCache& cache) {
  if (tokens.empty() || int64_t(tokens.size()) > cache.size()) return;
  const std::string name = hash_name(tokens);
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
    const uint32_t head[4] = {uint32_t(n_layer_), uint32_t(n_head_kv_), uint32_t(head_dim_), uint32_t(tokens.size())};
    out.write(kMagic, 8);
    out.write(reinterpret_cast<const char*>(head), sizeof head);
    out.write(reinterpret_cast<const char*>(tokens.data()), std::streamsize(tokens.size() * 4));
    const std::streamsize bytes = std::streamsize(tokens.size() * size_t(head_dim_) * 4);
    for (int64_t l = 0; l < n_layer_; l++) {
      for (int64_t h = 0; h < n_head_kv_; h++) {
        out.write(reinterpret_cast<const char*>(cache.k(l, h)), bytes);
        out.write(reinterpret_cast<const char*>(cache.v(l, h)), bytes);
      }
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
    const int64_t have = store_.load(std::span<const int32_t>(ids, size_t(n)), n - 1, cache_);
    restored_ = have;
    ids += have;
    n -= have;
  }
  inner_->forward(ids, n, all_logits, logits);
}

}  // namespace r1::server
