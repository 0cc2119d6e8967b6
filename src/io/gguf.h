// GGUF v2/v3 reader (over mmap, zero-copy) and writer. Spec: llama.cpp docs/gguf.md.
// The reader validates every count, offset and size before use: a hostile file gets an r1::Error
// naming the file, the key or tensor, and the problem; it never reads out of bounds.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace r1 {


enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// One metadata value. Arrays hold their element type and elements (arrays may nest).
struct GgufValue {
  struct Array {
    GgufType elem_type = GgufType::U8;
    std::vector<GgufValue> items;
    bool operator==(const Array&) const = default;
  };
  GgufType type = GgufType::U8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;

  // Typed access; throws r1::Error naming `what` if the value has another type / out of range.
  int64_t as_int(const std::string& what = "value") const;     // any integer type (or bool)
  double as_float(const std::string& what = "value") const;    // any numeric type
  bool as_bool(const std::string& what = "value") const;
  const std::string& as_string(const std::string& what = "value") const;
  const Array& as_array(const std::string& what = "value") const;
  std::vector<std::string> as_strings(const std::string& what = "value") const;
  std::vector<int64_t> as_ints(const std::string& what = "value") const;
  std::vector<double> as_floats(const std::string& what = "value") const;

  static GgufValue u8(uint8_t x);
  static GgufValue i8(int8_t x);
  static GgufValue u16(uint16_t x);
  static GgufValue i16(int16_t x);
  static GgufValue u32(uint32_t x);
  static GgufValue i32(int32_t x);
  static GgufValue u64(uint64_t x);
  static GgufValue i64(int64_t x);
  static GgufValue f32(float x);
  static GgufValue f64(double x);
  static GgufValue boolean(bool x);
  static GgufValue string(std::string s);
  static GgufValue strings(const std::vector<std::string>& s);
  static GgufValue i32s(const std::vector<int32_t>& x);
  static GgufValue f32s(const std::vector<float>& x);
  // Any array, nested ones included; the writer checks that every item has elem_type.
  static GgufValue array(GgufType elem_type, std::vector<GgufValue> items);

  bool operator==(const GgufValue&) const = default;
};

// "u32", "string", "array", ...; "type <id>" for an id outside the spec.
std::string gguf_type_name(GgufType t);

// Arrays nested deeper than this are rejected (an array of arrays is depth 2), so a hostile file
// cannot exhaust the stack. Real models use depth 1.
constexpr int kGgufMaxArrayDepth = 16;

// A GGUF model: one file, or all parts of a split model ("-00001-of-00003.gguf") opened
// together (pass the first part; the others are found next to it). Tensors of all parts appear
// in one table. The object owns the mappings; TensorViews stay valid while it lives.
class GgufFile {
 public:
  // load: how the tensor data is brought in (io/mapped_file.h); model loads use FileLoad::Auto.
  static std::unique_ptr<GgufFile> open(const std::string& path, FileLoad load = FileLoad::Map);
  // Parses one GGUF image already in memory (no split handling); `name` stands for the file in
  // messages. The bytes must outlive the returned object. Used by the fuzzers and tests.
  static std::unique_ptr<GgufFile> from_memory(const void* data, size_t size, const std::string& name);
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }

  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  const GgufValue* find(const std::string& key) const;
  const GgufValue& get(const std::string& key) const;  // throws "<file>: missing key <key>"
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  std::vector<std::string> keys_in_order() const { return key_order_; }

  // Convenience with defaults.
  int64_t get_int(const std::string& key, std::optional<int64_t> def = std::nullopt) const;
  double get_float(const std::string& key, std::optional<double> def = std::nullopt) const;
  bool get_bool(const std::string& key, std::optional<bool> def = std::nullopt) const;
  std::string get_string(const std::string& key, std::optional<std::string> def = std::nullopt) const;

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find_tensor(const std::string& name) const;
  const TensorView& tensor(const std::string& name) const;  // throws "<file>: missing tensor <name>"

  // For load-time repacking (ops/repack.h): t's bytes, writable until seal(), or null when t lives in
  // a mapped part (MappedFile::set_writable). The tensor table keeps describing the file's layout.
  uint8_t* writable(const TensorView& t);
  void seal();

 private:
  GgufFile() = default;
  static std::unique_ptr<GgufFile> open_one(const std::string& path, FileLoad load);
  void add_tensor(TensorView t);  // throws on a duplicate name

  std::string path_;
  uint32_t version_ = 3;
  size_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<std::string> key_order_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> tensor_index_;
  std::vector<std::unique_ptr<MappedFile>> maps_;
  friend struct GgufParser;
};

// Writes a GGUF v3 file: metadata in insertion order, then tensor infos, then aligned data.
// Tensor data is copied from the given pointers at write() time. If max_bytes_per_split > 0,
// writes "<stem>-00001-of-0000N.gguf" parts with split.* keys instead.
class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);
  // data must stay valid until write(); nbytes must equal the row_bytes * rows of the shape.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const void* data,
                  size_t nbytes);
  // The same with the bytes made by produce(dst) (exactly nbytes) while write() runs, one tensor at
  // a time: files larger than memory stream through.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, size_t nbytes,
                  std::function<void(uint8_t* dst)> produce);
  // Also written as general.alignment when not the default 32. Must be a power of two.
  void set_alignment(size_t a);
  // Returns the paths written.
  std::vector<std::string> write(const std::string& path, uint64_t max_bytes_per_split = 0) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    const void* data;
    size_t nbytes;
    std::function<void(uint8_t* dst)> produce;  // instead of data
  };
  using KeyValues = std::vector<std::pair<std::string, GgufValue>>;
  static void write_part(const std::string& path, const KeyValues& kv, const std::vector<const PendingTensor*>& tensors,
                         size_t alignment);

  KeyValues kv_;
  std::vector<PendingTensor> tensors_;
  size_t alignment_ = 32;
};

}  // namespace r1
