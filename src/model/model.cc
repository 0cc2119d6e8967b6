#include "model/model.h"

#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/deepseek_context.h"
#include "model/dense_context.h"
#include "model/kv_cache.h"
#include "model/tokenizer_loader.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

Model::~Model() = default;

const std::string& Model::chat_template() const { return tokenizer_->chat_template(); }

std::unique_ptr<InferenceContext> Model::new_context(int64_t n_ctx, ThreadPool& pool, int64_t max_batch) const {
  if (deepseek_) {
    return std::make_unique<DeepseekContext>(deepseek_->config(), deepseek_->weights(), n_ctx, pool, max_batch,
                                             kv_cache_types_.k);
  }
  return std::make_unique<DenseContext>(config_, weights_, n_ctx, pool, max_batch, kv_cache_types_);
}

void Model::set_kv_cache_types(CacheTypes types) {
  if (deepseek_ && types.k != types.v) {
    fail("DeepSeek's latent cache holds keys and values in one row: the values' cache type (", dtype_name(types.v),
         ") must be the keys' (", dtype_name(types.k), ")");
  }
  // Block types' rows must be whole blocks: the model's head or latent width.
  const int64_t width = deepseek_ ? deepseek_->config().latent_dim() : config_.head_dim;
  cache_row_bytes(types.k, width, "KV cache keys");
  cache_row_bytes(types.v, width, "KV cache values");
  kv_cache_types_ = types;
}

std::unique_ptr<Model> Model::load(const std::string& path, Fp8Mode fp8) {
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    m->load_hf(path, fp8);
  } else if (fs::is_regular_file(path)) {
    m->load_gguf(path);
  } else {
    fail(path, ": no such model file or directory");
  }
  return m;
}

void Model::load_gguf(const std::string& path) {
  format_ = WeightFormat::Gguf;
  gguf_ = GgufFile::open(path, FileLoad::Auto);
  if (is_deepseek_gguf(*gguf_)) {
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(read_gguf_vocab(*gguf_)));
    set_deepseek(DeepseekModel::from_gguf(std::move(gguf_)));
    return;
  }
  config_ = config_from_gguf(*gguf_);
  const GgufFile& f = *gguf_;
  weights_ = bind_dense_weights(config_, format_, [&](const std::string& n) { return f.find_tensor(n); }, path,
                                f32_store_);
  repack_dense_weights(weights_, [&](const TensorView& t) { return gguf_->writable(t); });
  gguf_->seal();
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(read_gguf_vocab(f)));
}

void Model::load_hf(const std::string& dir, Fp8Mode fp8) {
  format_ = WeightFormat::HuggingFace;
  if (is_deepseek_hf(dir)) {
    set_deepseek(DeepseekModel::load(dir, fp8));
  } else {
    config_ = config_from_hf(dir);
    safetensors_ = SafetensorsSet::open(dir, FileLoad::Auto);
    const SafetensorsSet& st = *safetensors_;
    weights_ = bind_dense_weights(config_, format_, [&](const std::string& n) { return st.find(n); }, dir, f32_store_);
    repack_dense_weights(weights_, [&](const TensorView& t) { return safetensors_->writable(t); });
    safetensors_->seal();
  }
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_file(dir));
  const std::string gen_path = dir + "/generation_config.json";
  if (std::filesystem::exists(gen_path)) {
    const nlohmann::json g = read_json_file(gen_path);
    if (g.contains("temperature")) generation_defaults_.temperature = float(json_float(g, "temperature", std::nullopt, gen_path));
    if (g.contains("top_p")) generation_defaults_.top_p = float(json_float(g, "top_p", std::nullopt, gen_path));
    if (g.contains("top_k")) generation_defaults_.top_k = int(json_int(g, "top_k", std::nullopt, gen_path));
  }
}

void Model::set_deepseek(std::unique_ptr<DeepseekModel> m) {
  deepseek_ = std::move(m);
  const DeepseekConfig& d = deepseek_->config();
  config_.source = d.source;
  config_.arch = Arch::Deepseek2;
  config_.n_layer = d.n_layer;
  config_.n_embd = d.n_embd;
  config_.n_head = d.n_head;
  config_.n_ff = d.n_ff;
  config_.n_vocab = d.n_vocab;
  config_.n_ctx_train = d.n_ctx_train;
  config_.rms_eps = d.rms_eps;
  config_.bos_id = d.bos_id;
  config_.eos_ids = d.eos_ids;
}

}  // namespace r1
