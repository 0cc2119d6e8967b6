#include "model/tokenizer_loader.h"

#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"

namespace r1 {

GgufVocab read_gguf_vocab(const GgufFile& f) {
  GgufVocab v;
  v.model = f.get_string("tokenizer.ggml.model");
  v.pre = f.get_string("tokenizer.ggml.pre", "default");
  v.tokens = f.get("tokenizer.ggml.tokens").as_strings("tokenizer.ggml.tokens");
  if (const GgufValue* t = f.find("tokenizer.ggml.token_type")) {
    for (int64_t x : t->as_ints("tokenizer.ggml.token_type")) v.token_types.push_back(static_cast<int32_t>(x));
  }
  if (const GgufValue* m = f.find("tokenizer.ggml.merges")) v.merges = m->as_strings("tokenizer.ggml.merges");
  v.bos_id = f.get_int("tokenizer.ggml.bos_token_id", -1);
  v.eos_id = f.get_int("tokenizer.ggml.eos_token_id", -1);
  v.pad_id = f.get_int("tokenizer.ggml.padding_token_id", -1);
  v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", false);
  v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  v.chat_template = f.get_string("tokenizer.chat_template", "");
  return v;
}

Tokenizer load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) fail(path, ": no such file or directory");
  if (fs::is_regular_file(path) && fs::path(path).extension() == ".gguf")
    return Tokenizer::from_gguf(read_gguf_vocab(*GgufFile::open(path)));
  return Tokenizer::from_file(path);
}

}  // namespace r1
