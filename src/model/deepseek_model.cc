#include "model/deepseek_model.h"

#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"

namespace r1 {

DeepseekModel::~DeepseekModel() = default;

std::unique_ptr<DeepseekModel> DeepseekModel::from_gguf(std::unique_ptr<GgufFile> f) {
  std::unique_ptr<DeepseekModel> m(new DeepseekModel());
  m->gguf_ = std::move(f);
  m->config_ = deepseek_config_from_gguf(*m->gguf_);
  m->weights_ = bind_deepseek_gguf(m->config_, *m->gguf_, m->store_);
  GgufFile& file = *m->gguf_;
  repack_deepseek_weights(m->weights_, [&](const TensorView& t) { return file.writable(t); });
  file.seal();
  return m;
}

std::unique_ptr<DeepseekModel> DeepseekModel::load(const std::string& path, Fp8Mode fp8) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(path)) return from_gguf(GgufFile::open(path, FileLoad::Auto));
  if (!fs::is_directory(path)) fail(path, ": no such model file or directory");
  std::unique_ptr<DeepseekModel> m(new DeepseekModel());
  m->config_ = deepseek_config_from_hf(path);
  m->safetensors_ = SafetensorsSet::open(path, FileLoad::Auto);
  m->weights_ = bind_deepseek_hf(m->config_, *m->safetensors_, fp8, m->store_);
  SafetensorsSet& files = *m->safetensors_;
  repack_deepseek_weights(m->weights_, [&](const TensorView& t) { return files.writable(t); });
  files.seal();
  return m;
}

}  // namespace r1
