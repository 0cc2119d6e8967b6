// Byte-level BPE: a word (the raw bytes of one pre-token) starts as one symbol per byte and
// adjacent pairs are merged lowest merge-rank first (leftmost on ties) until no listed pair is
// left, exactly as Hugging Face tokenizers' BPE model does. Results are cached per word.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace r1 {

class Bpe {
 public:
  // `vocab` maps each token's raw bytes (already byte-level decoded) to its id. `merges` are pairs
  // of raw-byte strings in rank order; both halves and their concatenation must be in `vocab`
  // (else r1::Error naming `where` and the merge). `unk_id` < 0: bytes without a token are
  // dropped (as HF does without unk_token).
  Bpe(std::unordered_map<std::string, int32_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      bool ignore_merges, int32_t unk_id, const std::string& where);
  Bpe(Bpe&& other) noexcept;

  // Appends the ids of one word.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  // Id of a token given its raw bytes, or -1.
  int32_t find(std::string_view bytes) const;

 private:
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  struct PairHash {
    size_t operator()(uint64_t key) const { return std::hash<uint64_t>()(key * 0x9E3779B97F4A7C15ull); }
  };
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  struct StringHash {  // lets the maps be searched with a string_view without a copy
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> vocab_;
  std::unordered_map<uint64_t, Merge, PairHash> merges_;  // key: left id << 32 | right id
  int32_t byte_ids_[256];
  bool ignore_merges_;
  int32_t unk_id_;

  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kMaxCacheEntries = 1 << 18;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace r1
