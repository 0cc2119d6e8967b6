#include "core/dtype.h"

#include <limits>

#include "core/error.h"
#include "core/tensor.h"

namespace r1 {
namespace {

struct Entry {
  DType type;
  DTypeTraits traits;
  std::string_view st_name;  // safetensors dtype string, empty if none
};

constexpr Entry kTypes[] = {
    {DType::F32, {"f32", 1, 4}, "F32"},
    {DType::F16, {"f16", 1, 2}, "F16"},
    {DType::BF16, {"bf16", 1, 2}, "BF16"},
    {DType::Q4_0, {"q4_0", 32, 18}, ""},
    {DType::Q4_1, {"q4_1", 32, 20}, ""},
    {DType::Q5_0, {"q5_0", 32, 22}, ""},
    {DType::Q5_1, {"q5_1", 32, 24}, ""},
    {DType::IQ4_NL, {"iq4_nl", 32, 18}, ""},
    {DType::Q8_0, {"q8_0", 32, 34}, ""},
    {DType::Q4_K, {"q4_K", 256, 144}, ""},
    {DType::Q5_K, {"q5_K", 256, 176}, ""},
    {DType::Q6_K, {"q6_K", 256, 210}, ""},
    {DType::Q8_K, {"q8_K", 256, 292}, ""},
    {DType::I8, {"i8", 1, 1}, "I8"},
    {DType::I16, {"i16", 1, 2}, "I16"},
    {DType::I32, {"i32", 1, 4}, "I32"},
    {DType::F64, {"f64", 1, 8}, "F64"},
    {DType::F8_E4M3, {"f8_e4m3", 1, 1}, "F8_E4M3"},
};

const Entry* find(DType t) {
  for (const auto& e : kTypes)
    if (e.type == t) return &e;
  return nullptr;
}

}  // namespace

const DTypeTraits& dtype_traits(DType t) {
  const Entry* e = find(t);
  if (!e) fail("unsupported tensor type id ", static_cast<uint32_t>(t));
  return e->traits;
}

std::string_view dtype_name(DType t) {
  const Entry* e = find(t);
  return e ? e->traits.name : std::string_view("unknown");
}

std::optional<DType> from_ggml_type(uint32_t ggml_type) {
  if (ggml_type == static_cast<uint32_t>(DType::F8_E4M3)) return std::nullopt;
  if (ggml_type == static_cast<uint32_t>(DType::Q8_K)) return std::nullopt;  // never a weight
  const Entry* e = find(static_cast<DType>(ggml_type));
  if (!e) return std::nullopt;
  return e->type;
}

std::optional<DType> from_safetensors_dtype(std::string_view s) {
  for (const auto& e : kTypes)
    if (!e.st_name.empty() && e.st_name == s) return e.type;
  return std::nullopt;
}

std::string_view to_safetensors_dtype(DType t) {
  const Entry* e = find(t);
  if (!e || e->st_name.empty()) fail("type ", dtype_name(t), " cannot be stored in safetensors");
  return e->st_name;
}

size_t row_bytes(DType t, int64_t n) {
  const DTypeTraits& tr = dtype_traits(t);
  if (n < 0 || n % tr.block_size != 0)
    fail("row of ", n, " elements is not a multiple of the ", tr.name, " block size ", tr.block_size);
  const int64_t blocks = n / tr.block_size;
  if (blocks > std::numeric_limits<int64_t>::max() / tr.block_bytes) fail("row of ", n, " elements is too large");
  return static_cast<size_t>(blocks * tr.block_bytes);
}

bool is_quantized(DType t) { return dtype_traits(t).block_size > 1; }

std::string TensorView::shape_string() const {
  std::string s = "{";
  for (int i = 0; i < n_dims; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

}  // namespace r1
