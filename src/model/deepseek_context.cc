#include "model/deepseek_context.h"

#include <algorithm>

#include "core/error.h"
#include "util/threadpool.h"

namespace r1 {

DeepseekContext::DeepseekContext(const DeepseekConfig& config, const DeepseekWeights& weights, int64_t n_ctx,
                                 ThreadPool& pool, int64_t max_batch, DType cache_type)
    : config_(config),
      weights_(weights),
      pool_(pool),
      cache_(make_latent_cache(config, n_ctx, cache_type)),
      act_(config, max_batch, n_ctx, pool.size()) {}

bool DeepseekContext::enable_drafts() {
  if (!weights_.mtp) return false;
  if (drafting_) return true;
  drafting_ = true;
  mtp_cache_ = make_mtp_cache(config_, cache_.capacity(), cache_.type());
  hidden_.assign(size_t(act_.max_batch * config_.n_embd), 0.0f);
  scratch_logits_.assign(size_t(config_.n_vocab), 0.0f);
  hidden_rows_ = 0;
  // Tokens already cached have no MTP entries yet: recompute them with the next call.
  replay_from_ = n_past() > 0 ? 0 : -1;
  return true;
}

void DeepseekContext::truncate(int64_t n) {
  const int64_t before = n_past();
  cache_.truncate(n);
  tokens_.resize(size_t(n));
  if (!drafting_ || n == before) return;
  // MTP entry i was made with t_{i+1}: entries up to n-2 still see the same tokens.
  mtp_cache_->truncate(std::min(mtp_cache_->size(), std::max<int64_t>(n - 1, 0)));
  // The entry of position n-1 is made by the next call, from h_{n-1}: recompute it if it is gone.
  const bool have_last_hidden = n - 1 >= hidden_pos_ && n - 1 < hidden_pos_ + hidden_rows_;
  const bool in_step = n == 0 || (mtp_cache_->size() == n - 1 && have_last_hidden);
  replay_from_ = in_step ? -1 : mtp_cache_->size();
}

void DeepseekContext::forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  if (n <= 0) fail("forward: no tokens given");
  cache_.check_room(n);
  try {
    if (!drafting_) {
      deepseek_forward(config_, weights_, cache_, act_, pool_, ids, n, all_logits, logits);
      tokens_.insert(tokens_.end(), ids, ids + n);
      return;
    }
    if (replay_from_ >= 0) replay();
    for (int64_t start = 0; start < n; start += act_.max_batch) {
      const int64_t m = std::min(act_.max_batch, n - start);
      const bool last = start + m == n;
      float* out = all_logits ? logits + start * config_.n_vocab : last ? logits : scratch_logits_.data();
      forward_chunk(ids + start, m, all_logits, out);
    }
  } catch (...) {
    // Back to the last complete chunk; its hidden state may be overwritten, so replay it.
    const int64_t kept = int64_t(tokens_.size());
    if (cache_.size() > kept) cache_.truncate(kept);
    if (drafting_) {
      mtp_cache_->truncate(std::min(mtp_cache_->size(), std::max<int64_t>(kept - 1, 0)));
      replay_from_ = kept > 0 ? mtp_cache_->size() : -1;
    }
    throw;
  }
}

void DeepseekContext::forward_chunk(const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  const MtpWeights& mtp = *weights_.mtp;
  const int64_t D = config_.n_embd, p0 = n_past();
  // An entry drafted with another token than the one that came is wrong.
  if (p0 > 0 && mtp_cache_->size() == p0 && ids[0] != draft_next_) mtp_cache_->truncate(p0 - 1);
  // The entry of the previous chunk's last position needs this chunk's first token.
  if (p0 > 0 && mtp_cache_->size() == p0 - 1) {
    mtp_forward(config_, mtp, *mtp_cache_, act_, pool_, ids, hidden_.data() + (p0 - 1 - hidden_pos_) * D, 1, nullptr);
  }
  hidden_rows_ = 0;  // overwritten next
  deepseek_forward(config_, weights_, cache_, act_, pool_, ids, n, all_logits, logits, hidden_.data());
  hidden_pos_ = p0;
  hidden_rows_ = n;
  if (n > 1) mtp_forward(config_, mtp, *mtp_cache_, act_, pool_, ids + 1, hidden_.data(), n - 1, nullptr);
  tokens_.insert(tokens_.end(), ids, ids + n);
}

void DeepseekContext::replay() {
  const int64_t from = replay_from_;
  replay_from_ = -1;
  const std::vector<int32_t> ids(tokens_.begin() + from, tokens_.end());
  cache_.truncate(from);
  tokens_.resize(size_t(from));
  // MTP entries 0..from-1 are kept: entry from-1 was made with the token at `from`.
  if (from > 0) draft_next_ = ids[0];
  for (size_t start = 0; start < ids.size(); start += size_t(act_.max_batch)) {
    const int64_t m = std::min<int64_t>(act_.max_batch, int64_t(ids.size() - start));
    forward_chunk(ids.data() + start, m, false, scratch_logits_.data());
  }
}

void DeepseekContext::draft(int32_t next, float* logits) {
  if (!drafting_) fail("draft: drafts are not enabled for this context");
  if (replay_from_ >= 0) replay();
  const int64_t p = n_past();
  if (p == 0) fail("draft: the cache is empty (no hidden state to draft from)");
  if (mtp_cache_->size() == p) mtp_cache_->truncate(p - 1);  // drafting again at the same position
  mtp_forward(config_, *weights_.mtp, *mtp_cache_, act_, pool_, &next, hidden_.data() + (p - 1 - hidden_pos_) * config_.n_embd,
              1, logits);
  draft_next_ = next;
}

}  // namespace r1
