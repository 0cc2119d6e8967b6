#include "convert/export_model.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>

#include "convert/tokenizer_export.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "ops/convert.h"
#include "ops/quant.h"
#include "util/threadpool.h"

namespace r1 {
namespace fs = std::filesystem;

namespace {

struct FtypeInfo {
  const char* name;
  DType base;
  int64_t file_type;  // llama.cpp's LlamaFileType
};

constexpr FtypeInfo kFtypes[] = {
    {"f32", DType::F32, 0},   {"f16", DType::F16, 1},       {"bf16", DType::BF16, 32},
    {"q8_0", DType::Q8_0, 7}, {"q4_0", DType::Q4_0, 2},     {"q4_k_m", DType::Q4_K, 15},
    {"q5_k_m", DType::Q5_K, 17}, {"q6_k", DType::Q6_K, 18},  {"q4_1", DType::Q4_1, 3},
    {"q5_0", DType::Q5_0, 8},   {"q5_1", DType::Q5_1, 9},      {"iq4_nl", DType::IQ4_NL, 25},
};

const FtypeInfo& ftype_info(const std::string& ftype) {
  for (const auto& f : kFtypes)
    if (ftype == f.name) return f;
  fail("unknown weight type '", ftype, "' (choose f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q4_k_m, q5_k_m, q6_k)");
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Layer index from a GGUF name "blk.N.…", or -1.
int layer_of(const std::string& gguf_name) {
  if (gguf_name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(gguf_name.c_str() + 4);
}

// llama.cpp gives every few layers' attn_v / ffn_down more bits in the *_M mixes.
bool use_more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

// Values of one tensor converted to the bytes of `type` in out, rows quantized in parallel.
void encode_into(const std::vector<float>& values, int64_t row_len, DType type, ThreadPool& pool, uint8_t* out) {
  const int64_t rows = static_cast<int64_t>(values.size()) / row_len;
  const size_t rb = row_bytes(type, row_len);
  pool.parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) quantize_row(type, values.data() + r * row_len, out + r * rb, row_len);
  });
}

std::vector<uint8_t> encode(const std::vector<float>& values, int64_t row_len, DType type, ThreadPool& pool) {
  std::vector<uint8_t> out(row_bytes(type, row_len) * (values.size() / size_t(row_len)));
  encode_into(values, row_len, type, pool, out.data());
  return out;
}

// DeepSeek's FP8 form: e4m3 codes and one F32 multiplier per 128×128 block (weight_scale_inv,
// value = code × multiplier), each block scaled so that its largest magnitude maps to 448.
void encode_fp8_blocks(const std::vector<float>& w, int64_t rows, int64_t cols, uint8_t* codes, float* scales) {
  constexpr int64_t B = 128;
  const int64_t cb = (cols + B - 1) / B;
  for (int64_t br = 0; br * B < rows; br++)
    for (int64_t bc = 0; bc < cb; bc++) {
      float amax = 0;
      for (int64_t r = br * B; r < std::min(rows, br * B + B); r++)
        for (int64_t c = bc * B; c < std::min(cols, bc * B + B); c++) amax = std::max(amax, std::fabs(w[size_t(r * cols + c)]));
      const float scale = amax > 0 ? amax / 448.0f : 1.0f;
      scales[br * cb + bc] = scale;
      for (int64_t r = br * B; r < std::min(rows, br * B + B); r++)
        for (int64_t c = bc * B; c < std::min(cols, bc * B + B); c++)
          codes[r * cols + c] = f32_to_fp8_e4m3(w[size_t(r * cols + c)] / scale);
    }
}

// Which tensors DeepSeek's FP8 checkpoints store in FP8: the projections, not the embeddings,
// heads, router or norms.
bool stored_as_fp8(const ExportTensor& t) {
  const std::string& n = t.hf_name;
  return t.is_matrix && t.shape.size() == 2 && !n.ends_with("embed_tokens.weight") && !n.ends_with("lm_head.weight") &&
         !n.ends_with("shared_head.head.weight");
}

}  // namespace

bool valid_ftype(const std::string& ftype) {
  for (const auto& f : kFtypes)
    if (ftype == f.name) return true;
  return false;
}

int64_t gguf_file_type_id(const std::string& ftype) { return ftype_info(ftype).file_type; }

DType gguf_tensor_type(const std::string& ftype, const ExportTensor& t, int n_layer) {
  const FtypeInfo& f = ftype_info(ftype);
  if (!t.is_matrix) return DType::F32;
  DType type = f.base;
  const std::string& g = t.gguf_name;
  const bool k_mix = ftype == "q4_k_m" || ftype == "q5_k_m";
  // llama-quantize gives the output head Q6_K in every quantized mix below 6 bits.
  if (is_quantized(f.base) && f.base != DType::Q8_0 && f.base != DType::Q6_K && g == "output.weight") type = DType::Q6_K;
  if (k_mix && (g.find(".attn_v.") != std::string::npos || g.find(".ffn_down.") != std::string::npos) &&
      use_more_bits(layer_of(g), n_layer))
    type = DType::Q6_K;
  // Rows that don't fit a K-quant's 256-blocks (V2-Lite's 1408-wide experts) take the 32-block type
  // llama-quantize picks for them (Q4_K → Q5_0, Q5_K → Q5_1, others Q8_0); rows that fit no block, F16.
  const int64_t row = t.shape.back();
  if (row % dtype_traits(type).block_size != 0)
    type = row % 32 != 0 ? DType::F16 : type == DType::Q4_K ? DType::Q5_0 : type == DType::Q5_K ? DType::Q5_1 : DType::Q8_0;
  return type;
}

std::vector<std::string> write_gguf(const ExportModel& m, const std::string& path, const std::string& ftype,
                                    uint64_t max_split_bytes, const WriteProgress& progress) {
  const FtypeInfo& fi = ftype_info(ftype);
  int n_layer = 0;
  for (const auto& t : m.tensors) n_layer = std::max(n_layer, layer_of(t.gguf_name) + 1);

  GgufWriter w;
  w.set("general.architecture", GgufValue::string(m.arch));
  w.set("general.type", GgufValue::string("model"));
  if (!m.name.empty()) w.set("general.name", GgufValue::string(m.name));
  for (const auto& [k, v] : m.gguf_kv) w.set(k, v);
  w.set("general.file_type", GgufValue::u32(static_cast<uint32_t>(fi.file_type)));
  w.set("general.quantization_version", GgufValue::u32(2));
  if (!m.tokenizer_path.empty())
    for (auto& [k, v] : gguf_tokenizer_kv(m.tokenizer_path, m.n_vocab)) w.set(k, std::move(v));

  uint64_t total = 0, done = 0;
  for (const auto& t : m.tensors) total += static_cast<uint64_t>(product(t.shape)) * 4;

  // Each tensor is made, converted and written in turn (one in memory at a time), so models far
  // larger than RAM can be written.
  ThreadPool pool(0);
  for (const auto& t : m.tensors) {
    if (t.gguf_name.empty()) continue;  // HF-only tensor
    const DType type = gguf_tensor_type(ftype, t, n_layer);
    const int64_t n = product(t.shape), row = t.shape.back();
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    w.add_tensor(t.gguf_name, type, ne, row_bytes(type, row) * size_t(n / row), [&, type, n, row](uint8_t* dst) {
      std::vector<float> values(static_cast<size_t>(n));
      t.fill(values.data());
      if (t.to_gguf) t.to_gguf(values.data());
      encode_into(values, row, type, pool, dst);
      done += uint64_t(n) * 4;
      if (progress.on_bytes) progress.on_bytes(done, total);
    });
  }
  return w.write(path, max_split_bytes);
}

void write_hf_dir(const ExportModel& m, const std::string& dir, DType dtype, uint64_t max_shard_bytes,
                  const WriteProgress& progress) {
  if (dtype != DType::F32 && dtype != DType::BF16 && dtype != DType::F16 && dtype != DType::F8_E4M3)
    fail("HF directories are written as f32, bf16, f16 or fp8, not ", dtype_name(dtype));
  const bool fp8 = dtype == DType::F8_E4M3;  // projections in FP8, the rest in BF16
  fs::create_directories(dir);
  auto write_json = [&](const std::string& name, const nlohmann::json& j) {
    std::ofstream f(fs::path(dir) / name);
    f << j.dump(2) << "\n";
    if (!f) fail("cannot write ", (fs::path(dir) / name).string());
  };
  nlohmann::json cfg = m.hf_config;
  cfg["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
  if (fp8)
    cfg["quantization_config"] = {{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"activation_scheme", "dynamic"},
                                  {"weight_block_size", {128, 128}}};
  write_json("config.json", cfg);
  if (!m.generation_config.is_null() && !m.generation_config.empty())
    write_json("generation_config.json", m.generation_config);
  if (!m.tokenizer_path.empty()) {
    fs::path src = fs::path(m.tokenizer_path).parent_path();
    fs::copy_file(m.tokenizer_path, fs::path(dir) / "tokenizer.json", fs::copy_options::overwrite_existing);
    for (const char* extra : {"tokenizer_config.json", "special_tokens_map.json"})
      if (fs::exists(src / extra))
        fs::copy_file(src / extra, fs::path(dir) / extra, fs::copy_options::overwrite_existing);
  }

  uint64_t total = 0, done = 0;
  for (const auto& t : m.tensors) total += static_cast<uint64_t>(product(t.shape)) * 4;
  ThreadPool pool(0);
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  std::deque<std::vector<uint8_t>> storage;  // a deque: buffers never move while more are added
  for (const auto& t : m.tensors) {
    if (t.hf_name.empty()) continue;  // GGUF-only tensor (e.g. llama's rope_freqs)
    std::vector<float> values(product(t.shape));
    t.fill(values.data());
    const int64_t row = t.shape.empty() ? 1 : t.shape.back();
    if (fp8 && stored_as_fp8(t)) {
      const int64_t rows = t.shape[0], cols = t.shape[1];
      const std::vector<int64_t> scale_shape = {(rows + 127) / 128, (cols + 127) / 128};
      std::vector<uint8_t>& codes = storage.emplace_back(size_t(rows * cols));
      std::vector<uint8_t>& scales = storage.emplace_back(size_t(scale_shape[0] * scale_shape[1]) * sizeof(float));
      encode_fp8_blocks(values, rows, cols, codes.data(), reinterpret_cast<float*>(scales.data()));
      w.add(t.hf_name, DType::F8_E4M3, t.shape, codes.data(), codes.size());
      w.add(t.hf_name + "_scale_inv", DType::F32, scale_shape, scales.data(), scales.size());
    } else {
      const DType type = fp8 ? DType::BF16 : dtype;
      storage.push_back(encode(values, row, type, pool));
      w.add(t.hf_name, type, t.shape, storage.back().data(), storage.back().size());
    }
    done += values.size() * 4;
    if (progress.on_bytes) progress.on_bytes(done, total);
  }
  if (max_shard_bytes > 0)
    w.write_sharded(dir, max_shard_bytes);
  else
    w.write((fs::path(dir) / "model.safetensors").string());
}

}  // namespace r1
