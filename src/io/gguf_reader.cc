// GGUF reader. Layout (SPEC §5.1): magic, version, tensor count, metadata count, metadata
// key/values, tensor infos, padding to the alignment, tensor data. Every count and offset is
// checked against the bytes actually present before it is used, so a hostile or truncated file
// gets an r1::Error that names the file, never an out-of-bounds read or a huge allocation.
#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <regex>

#include "core/error.h"
#include "io/gguf.h"
#include "io/mapped_file.h"

namespace r1 {

static_assert(std::endian::native == std::endian::little, "GGUF files are read in place: little-endian hosts only");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr size_t kDefaultAlignment = 32;
constexpr uint64_t kMaxNameBytes = 65535;

// The smallest encoding of a value of each type; an array of n items needs at least n times this.
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::STRING: return 8;   // u64 length
    case GgufType::ARRAY: return 12;   // u32 element type + u64 count
  }
  return 0;  // not a type: callers reject it first
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Reads little-endian fields from [data, data + size). `context` (the key or tensor being read)
// goes into truncation messages.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& file) : data_(data), size_(size), file_(file) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& file() const { return file_; }
  void set_context(std::string context) { context_ = std::move(context); }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T x;
    std::memcpy(&x, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return x;
  }

  std::string read_string(const char* what, uint64_t max_len = std::numeric_limits<uint64_t>::max()) {
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail(file_, ": ", what, where(), " has length ", len, " but only ", remaining(), " bytes are left in the file");
    if (len > max_len) fail(file_, ": ", what, where(), " is ", len, " bytes long (at most ", max_len, ")");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

  void need(uint64_t n, const char* what) const {
    if (n > remaining()) fail(file_, ": truncated at byte ", pos_, " reading ", what, where());
  }

  std::string where() const { return context_.empty() ? "" : " of " + context_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
  std::string context_;
};

GgufValue read_value(Cursor& c, GgufType type, int depth);

GgufValue read_array(Cursor& c, int depth) {
  if (depth > kGgufMaxArrayDepth)
    fail(c.file(), ": arrays nested deeper than ", kGgufMaxArrayDepth, " levels", c.where());
  const uint32_t elem = c.read<uint32_t>("array element type");
  if (!known_type(elem)) fail(c.file(), ": unknown array element type ", elem, c.where());
  const GgufType elem_type = static_cast<GgufType>(elem);
  const uint64_t count = c.read<uint64_t>("array length");
  if (count > c.remaining() / min_value_bytes(elem_type))
    fail(c.file(), ": array of ", count, " ", gguf_type_name(elem_type), " items", c.where(), " cannot fit in the ",
         c.remaining(), " bytes left in the file");
  std::vector<GgufValue> items;
  items.reserve(count);
  for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(c, elem_type, depth));
  return GgufValue::array(elem_type, std::move(items));
}

GgufValue read_value(Cursor& c, GgufType type, int depth) {
  switch (type) {
    case GgufType::U8: return GgufValue::u8(c.read<uint8_t>("u8 value"));
    case GgufType::I8: return GgufValue::i8(c.read<int8_t>("i8 value"));
    case GgufType::U16: return GgufValue::u16(c.read<uint16_t>("u16 value"));
    case GgufType::I16: return GgufValue::i16(c.read<int16_t>("i16 value"));
    case GgufType::U32: return GgufValue::u32(c.read<uint32_t>("u32 value"));
    case GgufType::I32: return GgufValue::i32(c.read<int32_t>("i32 value"));
    case GgufType::U64: return GgufValue::u64(c.read<uint64_t>("u64 value"));
    case GgufType::I64: return GgufValue::i64(c.read<int64_t>("i64 value"));
    case GgufType::F32: return GgufValue::f32(c.read<float>("f32 value"));
    case GgufType::F64: return GgufValue::f64(c.read<double>("f64 value"));
    case GgufType::BOOL: {
      const uint8_t b = c.read<uint8_t>("bool value");
      if (b > 1) fail(c.file(), ": bool value ", int{b}, c.where(), " is not 0 or 1");
      return GgufValue::boolean(b == 1);
    }
    case GgufType::STRING: return GgufValue::string(c.read_string("string"));
    case GgufType::ARRAY: return read_array(c, depth + 1);
  }
  fail(c.file(), ": unknown value type ", static_cast<uint32_t>(type), c.where());
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

// Reads one tensor info; data is resolved later, once the data section's start is known.
struct TensorInfo {
  TensorView view;
  uint64_t offset = 0;
};

TensorInfo read_tensor_info(Cursor& c) {
  TensorInfo info;
  TensorView& t = info.view;
  t.name = c.read_string("tensor name", kMaxNameBytes);
  if (t.name.empty()) fail(c.file(), ": a tensor has an empty name");
  c.set_context("tensor " + t.name);
  const std::string& file = c.file();
  const uint32_t n_dims = c.read<uint32_t>("dimension count");
  if (n_dims > 4) fail(file, ": tensor ", t.name, " has ", n_dims, " dimensions (at most 4)");
  t.n_dims = static_cast<int>(n_dims);
  uint64_t elements = 1;
  for (uint32_t i = 0; i < n_dims; ++i) {
    const uint64_t n = c.read<uint64_t>("dimension");
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(file, ": tensor ", t.name, " dimension ", i, " = ", n, " is out of range");
    if (mul_overflows(elements, n, &elements) || elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(file, ": tensor ", t.name, " element count overflows");
    t.ne[i] = static_cast<int64_t>(n);
  }
  const uint32_t ggml_type = c.read<uint32_t>("ggml type");
  const std::optional<DType> type = from_ggml_type(ggml_type);
  if (!type) fail(file, ": tensor ", t.name, " has unsupported ggml type ", ggml_type);
  t.type = *type;
  const DTypeTraits& tr = dtype_traits(t.type);
  if (t.ne[0] % tr.block_size != 0)
    fail(file, ": tensor ", t.name, " has ne0 = ", t.ne[0], ", not a multiple of the ", tr.name, " block size ",
         tr.block_size);
  uint64_t nbytes = 0;
  if (mul_overflows(elements / tr.block_size, tr.block_bytes, &nbytes))
    fail(file, ": tensor ", t.name, " byte size overflows");
  t.nbytes = nbytes;
  info.offset = c.read<uint64_t>("data offset");
  return info;
}

}  // namespace

// Parses one file image into f (its metadata and tensors; split parts are merged by open()).
struct GgufParser {
  static void parse(GgufFile& f, const uint8_t* data, size_t size) {
    const std::string& file = f.path_;
    if (size < 8) fail(file, ": not a GGUF file (only ", size, " bytes)");
    Cursor c(data, size, file);
    if (c.read<uint32_t>("magic") != kMagic) fail(file, ": not a GGUF file (bad magic)");
    f.version_ = c.read<uint32_t>("version");
    if (f.version_ == 1) fail(file, ": GGUF version 1 is not supported (only versions 2 and 3)");
    if (f.version_ != 2 && f.version_ != 3) {
      const bool swapped = (f.version_ & 0xffff) == 0 && (f.version_ >> 24) <= 3;
      fail(file, ": unsupported GGUF version ", f.version_, swapped ? " (a big-endian file?)" : "");
    }
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    // Each key/value takes at least 13 bytes (key length, type, a one-byte value), each tensor
    // info at least 24 (name length, dimension count, type, offset).
    if (n_kv > c.remaining() / 13) fail(file, ": metadata count ", n_kv, " cannot fit in the file");
    if (n_tensors > c.remaining() / 24) fail(file, ": tensor count ", n_tensors, " cannot fit in the file");

    for (uint64_t i = 0; i < n_kv; ++i) {
      c.set_context(str("metadata entry ", i));
      std::string key = c.read_string("key", kMaxNameBytes);
      c.set_context("key " + key);
      if (f.kv_.count(key)) fail(file, ": duplicate key ", key);
      const uint32_t type = c.read<uint32_t>("value type");
      if (!known_type(type)) fail(file, ": key ", key, " has unknown value type ", type);
      f.kv_[key] = read_value(c, static_cast<GgufType>(type), 0);
      f.key_order_.push_back(std::move(key));
    }

    f.alignment_ = kDefaultAlignment;
    if (const GgufValue* a = f.find("general.alignment")) {
      const int64_t v = a->as_int(file + ": general.alignment");
      if (v <= 0 || !std::has_single_bit(static_cast<uint64_t>(v)))
        fail(file, ": general.alignment = ", v, " is not a power of two");
      f.alignment_ = static_cast<size_t>(v);
    }

    if (n_tensors > c.remaining() / 24) fail(file, ": tensor count ", n_tensors, " cannot fit in the file");
    std::vector<TensorInfo> infos;
    infos.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      c.set_context(str("tensor info ", i));
      infos.push_back(read_tensor_info(c));
    }

    // Tensor data starts at the next multiple of the alignment after the infos.
    const uint64_t data_start = (c.pos() + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    const uint64_t data_size = data_start < size ? size - data_start : 0;
    for (TensorInfo& info : infos) {
      TensorView& t = info.view;
      if (info.offset % f.alignment_ != 0)
        fail(file, ": tensor ", t.name, " data offset ", info.offset, " is not a multiple of the alignment ",
             f.alignment_);
      if (info.offset > data_size || t.nbytes > data_size - info.offset)
        fail(file, ": tensor ", t.name, " data (", t.nbytes, " bytes at offset ", info.offset,
             ") lies outside the file's ", data_size, "-byte data section");
      t.data = data + std::min<uint64_t>(data_start, size) + info.offset;
      f.add_tensor(std::move(t));
    }
  }
};

void GgufFile::add_tensor(TensorView t) {
  if (!tensor_index_.emplace(t.name, tensors_.size()).second) fail(path_, ": duplicate tensor ", t.name);
  tensors_.push_back(std::move(t));
}

std::unique_ptr<GgufFile> GgufFile::from_memory(const void* data, size_t size, const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  GgufParser::parse(*f, static_cast<const uint8_t*>(data), size);
  return f;
}

std::unique_ptr<GgufFile> GgufFile::open_one(const std::string& path, FileLoad load) {
  auto map = std::make_unique<MappedFile>(path, load);
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  GgufParser::parse(*f, map->data(), map->size());
  f->maps_.push_back(std::move(map));
  return f;
}

// A split model is "<prefix>-00001-of-00003.gguf", "<prefix>-00002-of-00003.gguf", ... (gguf-split's
// names). Part i has split.no = i - 1 and split.count = N; only the first part carries the model's
// metadata, so metadata() is the first part's and the tensors of all parts form one table.
std::unique_ptr<GgufFile> GgufFile::open(const std::string& path, FileLoad load) {
  static const std::regex kSplitName(R"((.*)-([0-9]+)-of-([0-9]+)\.gguf)");
  std::smatch m;  // gguf-split's names; numbers of more than 9 digits are no such name
  const bool split_name = std::regex_match(path, m, kSplitName) && m[2].length() <= 9 && m[3].length() <= 9;
  const std::string prefix = split_name ? m[1].str() : "", count_digits = split_name ? m[3].str() : "";
  const size_t width = split_name ? m[2].length() : 0;
  auto part_path = [&](int64_t i) {  // part i (0-based) of a split name
    std::string digits = std::to_string(i + 1);
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    return prefix + "-" + digits + "-of-" + count_digits + ".gguf";
  };
  if (load == FileLoad::Auto) {  // decided for all parts together: the name says how many there are
    std::error_code ec;
    uint64_t total = 0;
    if (split_name) {
      for (int64_t i = 0, parts = std::stoll(count_digits); i < parts; ++i) {
        const uint64_t n = std::filesystem::file_size(part_path(i), ec);
        if (ec) break;  // a missing part fails below, with its name
        total += n;
      }
    } else {
      total = std::filesystem::file_size(path, ec);
    }
    load = resolve_file_load(load, total);
  }
  std::unique_ptr<GgufFile> first = open_one(path, load);
  const GgufValue* count_value = first->find("split.count");
  if (!count_value) return first;
  const int64_t count = count_value->as_int(path + ": split.count");
  const int64_t no = first->get_int("split.no");
  if (count < 1 || no < 0 || no >= count)
    fail(path, ": split.no = ", no, " and split.count = ", count, " are inconsistent");
  if (count == 1) return first;

  if (!split_name)
    fail(path, ": part of a ", count, "-part split model, but the name does not end in -NNNNN-of-NNNNN.gguf, so the "
         "other parts cannot be found");
  if (std::stoll(m[2]) != no + 1 || std::stoll(count_digits) != count)
    fail(path, ": the file name says part ", m[2], " of ", count_digits, " but the file has split.no = ", no,
         " (0-based) and split.count = ", count);
  if (no != 0) return open(part_path(0), load);

  for (int64_t i = 1; i < count; ++i) {
    const std::string p = part_path(i);
    if (!std::filesystem::exists(p)) fail(path, ": missing split part ", p, " (part ", i + 1, " of ", count, ")");
    std::unique_ptr<GgufFile> part = open_one(p, load);
    if (part->get_int("split.count") != count || part->get_int("split.no") != i)
      fail(p, ": expected split.no = ", i, " and split.count = ", count, ", found ", part->get_int("split.no"),
           " and ", part->get_int("split.count"));
    for (TensorView& t : part->tensors_) first->add_tensor(std::move(t));
    for (auto& map : part->maps_) first->maps_.push_back(std::move(map));
  }
  if (const GgufValue* n = first->find("split.tensors.count")) {
    const int64_t expected = n->as_int(path + ": split.tensors.count");
    if (expected != static_cast<int64_t>(first->tensors_.size()))
      fail(path, ": split.tensors.count = ", expected, " but the ", count, " parts hold ", first->tensors_.size(),
           " tensors");
  }
  return first;
}

GgufFile::~GgufFile() = default;

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path_, ": missing key ", key);
  return *v;
}

int64_t GgufFile::get_int(const std::string& key, std::optional<int64_t> def) const {
  const GgufValue* v = find(key);
  if (!v && def) return *def;
  return get(key).as_int(path_ + ": " + key);
}

double GgufFile::get_float(const std::string& key, std::optional<double> def) const {
  const GgufValue* v = find(key);
  if (!v && def) return *def;
  return get(key).as_float(path_ + ": " + key);
}

bool GgufFile::get_bool(const std::string& key, std::optional<bool> def) const {
  const GgufValue* v = find(key);
  if (!v && def) return *def;
  return get(key).as_bool(path_ + ": " + key);
}

std::string GgufFile::get_string(const std::string& key, std::optional<std::string> def) const {
  const GgufValue* v = find(key);
  if (!v && def) return *def;
  return get(key).as_string(path_ + ": " + key);
}

const TensorView* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& GgufFile::tensor(const std::string& name) const {
  const TensorView* t = find_tensor(name);
  if (!t) fail(path_, ": missing tensor ", name);
  return *t;
}

uint8_t* GgufFile::writable(const TensorView& t) { return writable_bytes(maps_, t.data, t.nbytes); }

void GgufFile::seal() { seal_files(maps_); }

}  // namespace r1
