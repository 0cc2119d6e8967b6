// Weight and activation element types. Numeric values are ggml's type ids (GGUF stores them),
// so a GGUF tensor's type converts with from_ggml_type(). Quantized types store blocks along
// the contiguous axis (ne0); a row of n elements takes row_bytes(type, n) bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace r1 {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activation-only format (llama.cpp's), used for K-quant dot products
  IQ4_NL = 20,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  F64 = 28,
  BF16 = 30,
  // Not a ggml type: DeepSeek's FP8 (e4m3fn) weights, stored unscaled; the block scales live in a
  // separate F32 tensor. Id chosen outside ggml's range so it never collides with a GGUF file.
  F8_E4M3 = 1000,
};

struct DTypeTraits {
  std::string_view name;  // as GGUF tools print it: "f32", "q4_K", ...
  int64_t block_size;     // elements per block (1 for plain types)
  int64_t block_bytes;    // bytes per block
};

// Traits of a supported type. Throws r1::Error for a type this build does not know.
const DTypeTraits& dtype_traits(DType t);
std::string_view dtype_name(DType t);

// The DType for a ggml type id read from a file, or nullopt if unsupported.
std::optional<DType> from_ggml_type(uint32_t ggml_type);
// The DType for a safetensors dtype string ("F32", "BF16", "F8_E4M3", ...), or nullopt.
std::optional<DType> from_safetensors_dtype(std::string_view s);
std::string_view to_safetensors_dtype(DType t);  // throws if the type has no safetensors name

// Bytes of a row of n elements; throws r1::Error if n is not a multiple of the block size.
size_t row_bytes(DType t, int64_t n);
bool is_quantized(DType t);

}  // namespace r1
