#include "io/hf_config.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "io/mapped_file.h"

namespace r1 {
namespace {

// The value under key, or nullptr when the key is absent or null (HF writes "rope_scaling": null
// for "no rope scaling").
const nlohmann::json* lookup(const nlohmann::json& j, const char* key, const std::string& file) {
  if (!j.is_object()) fail(file, ": expected a JSON object when reading ", key);
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void missing(const char* key, const std::string& file) { fail(file, ": missing key ", key); }

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& file) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(file, ": malformed JSON: ", e.what());
  }
}

nlohmann::json read_json_file(const std::string& path) {
  MappedFile f(path);
  if (f.size() > kMaxJsonFileBytes)
    fail(path, ": JSON file of ", f.size(), " bytes is larger than the ", kMaxJsonFileBytes, "-byte limit");
  return parse_json(std::string_view(reinterpret_cast<const char*>(f.data()), f.size()), path);
}

int64_t json_int(const nlohmann::json& j, const char* key, std::optional<int64_t> def, const std::string& file) {
  const nlohmann::json* v = lookup(j, key, file);
  if (!v) {
    if (def) return *def;
    missing(key, file);
  }
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(file, ": ", key, " is out of range");
    return static_cast<int64_t>(v->get<uint64_t>());
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    // 2^63 is the first double past int64's range.
    if (d == std::floor(d) && std::abs(d) < 9.2233720368547758e18) return static_cast<int64_t>(d);
  }
  fail(file, ": ", key, " must be an integer");
}

double json_float(const nlohmann::json& j, const char* key, std::optional<double> def, const std::string& file) {
  const nlohmann::json* v = lookup(j, key, file);
  if (!v) {
    if (def) return *def;
    missing(key, file);
  }
  if (!v->is_number()) fail(file, ": ", key, " must be a number");
  return v->get<double>();
}

bool json_bool(const nlohmann::json& j, const char* key, std::optional<bool> def, const std::string& file) {
  const nlohmann::json* v = lookup(j, key, file);
  if (!v) {
    if (def) return *def;
    missing(key, file);
  }
  if (!v->is_boolean()) fail(file, ": ", key, " must be true or false");
  return v->get<bool>();
}

std::string json_string(const nlohmann::json& j, const char* key, std::optional<std::string> def,
                        const std::string& file) {
  const nlohmann::json* v = lookup(j, key, file);
  if (!v) {
    if (def) return *def;
    missing(key, file);
  }
  if (!v->is_string()) fail(file, ": ", key, " must be a string");
  return v->get<std::string>();
}

}  // namespace r1
