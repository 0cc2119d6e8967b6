// GgufValue: typed accessors (with messages naming the key) and factories.
#include <limits>

#include "core/error.h"
#include "io/gguf.h"

namespace r1 {
namespace {

bool is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}
bool is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}

[[noreturn]] void wrong_type(const std::string& what, const char* wanted, GgufType got) {
  fail(what, " must be ", wanted, " (it is ", gguf_type_name(got), ")");
}

GgufValue make(GgufType t, decltype(GgufValue::v) v) {
  GgufValue g;
  g.type = t;
  g.v = std::move(v);
  return g;
}

}  // namespace

std::string gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "string";
    case GgufType::ARRAY: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return str("type ", static_cast<uint32_t>(t));
}

int64_t GgufValue::as_int(const std::string& what) const {
  if (type == GgufType::BOOL) return std::get<bool>(v) ? 1 : 0;
  if (is_signed(type)) return std::get<int64_t>(v);
  if (is_unsigned(type)) {
    const uint64_t u = std::get<uint64_t>(v);
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(what, " = ", u, " is out of range");
    return static_cast<int64_t>(u);
  }
  wrong_type(what, "an integer", type);
}

double GgufValue::as_float(const std::string& what) const {
  if (type == GgufType::F32 || type == GgufType::F64) return std::get<double>(v);
  if (is_signed(type)) return static_cast<double>(std::get<int64_t>(v));
  if (is_unsigned(type)) return static_cast<double>(std::get<uint64_t>(v));
  wrong_type(what, "a number", type);
}

bool GgufValue::as_bool(const std::string& what) const {
  if (type != GgufType::BOOL) wrong_type(what, "a bool", type);
  return std::get<bool>(v);
}

const std::string& GgufValue::as_string(const std::string& what) const {
  if (type != GgufType::STRING) wrong_type(what, "a string", type);
  return std::get<std::string>(v);
}

const GgufValue::Array& GgufValue::as_array(const std::string& what) const {
  if (type != GgufType::ARRAY) wrong_type(what, "an array", type);
  return std::get<Array>(v);
}

std::vector<std::string> GgufValue::as_strings(const std::string& what) const {
  const Array& a = as_array(what);
  if (a.elem_type != GgufType::STRING) fail(what, " must be an array of strings (it holds ", gguf_type_name(a.elem_type), ")");
  std::vector<std::string> out;
  out.reserve(a.items.size());
  for (const GgufValue& x : a.items) out.push_back(x.as_string(what + " item"));
  return out;
}

std::vector<int64_t> GgufValue::as_ints(const std::string& what) const {
  const Array& a = as_array(what);
  std::vector<int64_t> out;
  out.reserve(a.items.size());
  for (const GgufValue& x : a.items) out.push_back(x.as_int(what + " item"));
  return out;
}

std::vector<double> GgufValue::as_floats(const std::string& what) const {
  const Array& a = as_array(what);
  std::vector<double> out;
  out.reserve(a.items.size());
  for (const GgufValue& x : a.items) out.push_back(x.as_float(what + " item"));
  return out;
}

GgufValue GgufValue::u8(uint8_t x) { return make(GgufType::U8, uint64_t{x}); }
GgufValue GgufValue::i8(int8_t x) { return make(GgufType::I8, int64_t{x}); }
GgufValue GgufValue::u16(uint16_t x) { return make(GgufType::U16, uint64_t{x}); }
GgufValue GgufValue::i16(int16_t x) { return make(GgufType::I16, int64_t{x}); }
GgufValue GgufValue::u32(uint32_t x) { return make(GgufType::U32, uint64_t{x}); }
GgufValue GgufValue::i32(int32_t x) { return make(GgufType::I32, int64_t{x}); }
GgufValue GgufValue::u64(uint64_t x) { return make(GgufType::U64, x); }
GgufValue GgufValue::i64(int64_t x) { return make(GgufType::I64, x); }
GgufValue GgufValue::f32(float x) { return make(GgufType::F32, double{x}); }
GgufValue GgufValue::f64(double x) { return make(GgufType::F64, x); }
GgufValue GgufValue::boolean(bool x) { return make(GgufType::BOOL, x); }
GgufValue GgufValue::string(std::string s) { return make(GgufType::STRING, std::move(s)); }

GgufValue GgufValue::array(GgufType elem_type, std::vector<GgufValue> items) {
  return make(GgufType::ARRAY, Array{elem_type, std::move(items)});
}

GgufValue GgufValue::strings(const std::vector<std::string>& s) {
  std::vector<GgufValue> items;
  items.reserve(s.size());
  for (const std::string& x : s) items.push_back(string(x));
  return array(GgufType::STRING, std::move(items));
}

GgufValue GgufValue::i32s(const std::vector<int32_t>& x) {
  std::vector<GgufValue> items;
  items.reserve(x.size());
  for (int32_t e : x) items.push_back(i32(e));
  return array(GgufType::I32, std::move(items));
}

GgufValue GgufValue::f32s(const std::vector<float>& x) {
  std::vector<GgufValue> items;
  items.reserve(x.size());
  for (float e : x) items.push_back(f32(e));
  return array(GgufType::F32, std::move(items));
}

}  // namespace r1
