// Hugging Face JSON files (config.json, generation_config.json, tokenizer_config.json,
// model.safetensors.index.json): reading them, and typed getters whose errors name the file and
// the key ("config.json: hidden_size must be an integer").
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace r1 {

// Larger JSON files are rejected rather than read (DeepSeek-V3's tokenizer.json is ~8 MB).
constexpr uint64_t kMaxJsonFileBytes = 256ull << 20;

// Throws r1::Error naming the file if it cannot be read, is too large, or is not valid JSON.
nlohmann::json read_json_file(const std::string& path);
// Parses JSON text; `file` names it in error messages.
nlohmann::json parse_json(std::string_view text, const std::string& file);

// Typed getters on a JSON object. A missing key or a null value gives `def`, or an error naming
// file and key when there is no default. A value of another type is an error.
// json_int accepts floats with an integral value (2.0); json_float accepts any number.
int64_t json_int(const nlohmann::json& j, const char* key, std::optional<int64_t> def, const std::string& file);
double json_float(const nlohmann::json& j, const char* key, std::optional<double> def, const std::string& file);
bool json_bool(const nlohmann::json& j, const char* key, std::optional<bool> def, const std::string& file);
std::string json_string(const nlohmann::json& j, const char* key, std::optional<std::string> def,
                        const std::string& file);

}  // namespace r1
