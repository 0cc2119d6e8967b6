// GGUF v3 writer: metadata in insertion order, tensor infos, then each tensor's bytes padded to
// the alignment. Split output follows llama.cpp's gguf-split: part i is named
// "<stem>-0000i-of-0000N.gguf", the first part carries all metadata, and every part carries
// split.no (u16, 0-based), split.count (u16) and split.tensors.count (i32, all parts together).
#include <bit>
#include <cstdio>

#include "core/error.h"
#include "io/file_writer.h"
#include "io/gguf.h"

namespace r1 {
namespace {

constexpr uint32_t kMagic = 0x46554747;
constexpr size_t kDefaultAlignment = 32;

// Little-endian byte buffer for the header (magic, metadata, tensor infos).
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  void put(T x) {
    const auto* p = reinterpret_cast<const uint8_t*>(&x);
    b.insert(b.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
};

void put_value(Bytes& out, const GgufValue& v, const std::string& key) {
  auto check = [&](bool ok) {
    if (!ok) fail("GGUF key ", key, ": value does not hold a ", gguf_type_name(v.type));
  };
  auto uint = [&] { check(std::holds_alternative<uint64_t>(v.v)); return std::get<uint64_t>(v.v); };
  auto sint = [&] { check(std::holds_alternative<int64_t>(v.v)); return std::get<int64_t>(v.v); };
  auto real = [&] { check(std::holds_alternative<double>(v.v)); return std::get<double>(v.v); };
  switch (v.type) {
    case GgufType::U8: out.put(static_cast<uint8_t>(uint())); return;
    case GgufType::I8: out.put(static_cast<int8_t>(sint())); return;
    case GgufType::U16: out.put(static_cast<uint16_t>(uint())); return;
    case GgufType::I16: out.put(static_cast<int16_t>(sint())); return;
    case GgufType::U32: out.put(static_cast<uint32_t>(uint())); return;
    case GgufType::I32: out.put(static_cast<int32_t>(sint())); return;
    case GgufType::U64: out.put(uint()); return;
    case GgufType::I64: out.put(sint()); return;
    case GgufType::F32: out.put(static_cast<float>(real())); return;
    case GgufType::F64: out.put(real()); return;
    case GgufType::BOOL:
      check(std::holds_alternative<bool>(v.v));
      out.put<uint8_t>(std::get<bool>(v.v) ? 1 : 0);
      return;
    case GgufType::STRING:
      check(std::holds_alternative<std::string>(v.v));
      out.put_string(std::get<std::string>(v.v));
      return;
    case GgufType::ARRAY: {
      check(std::holds_alternative<GgufValue::Array>(v.v));
      const GgufValue::Array& a = std::get<GgufValue::Array>(v.v);
      out.put(static_cast<uint32_t>(a.elem_type));
      out.put<uint64_t>(a.items.size());
      for (const GgufValue& item : a.items) {
        if (item.type != a.elem_type)
          fail("GGUF key ", key, ": array of ", gguf_type_name(a.elem_type), " holds a ", gguf_type_name(item.type));
        put_value(out, item, key);
      }
      return;
    }
  }
  fail("GGUF key ", key, ": unknown value type ", static_cast<uint32_t>(v.type));
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty() || key.size() > 65535) fail("GGUF key must be 1 to 65535 bytes long: \"", key, "\"");
  if (key == "general.alignment") set_alignment(static_cast<size_t>(value.as_int(key)));
  for (auto& kv : kv_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::set_alignment(size_t a) {
  if (a == 0 || !std::has_single_bit(a)) fail("GGUF alignment ", a, " is not a power of two");
  alignment_ = a;
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const void* data,
                            size_t nbytes) {
  if (name.empty() || name.size() > 65535) fail("GGUF tensor name must be 1 to 65535 bytes long: \"", name, "\"");
  for (const PendingTensor& t : tensors_)
    if (t.name == name) fail("GGUF writer: duplicate tensor ", name);
  if (from_ggml_type(static_cast<uint32_t>(type)) != type)
    fail("GGUF writer: tensor ", name, " has type ", dtype_name(type), ", which GGUF cannot store");
  if (ne.size() > 4) fail("GGUF writer: tensor ", name, " has ", ne.size(), " dimensions (at most 4)");
  int64_t rows = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 0) fail("GGUF writer: tensor ", name, " has a negative dimension");
    if (i > 0 && __builtin_mul_overflow(rows, ne[i], &rows)) fail("GGUF writer: tensor ", name, " is too large");
  }
  uint64_t expected = 0;
  if (__builtin_mul_overflow(row_bytes(type, ne.empty() ? 1 : ne[0]), static_cast<uint64_t>(rows), &expected))
    fail("GGUF writer: tensor ", name, " is too large");
  if (nbytes != expected)
    fail("GGUF writer: tensor ", name, " has ", nbytes, " bytes of data, its shape needs ", expected);
  tensors_.push_back({name, type, ne, data, nbytes, {}});
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, size_t nbytes,
                            std::function<void(uint8_t* dst)> produce) {
  if (!produce) fail("GGUF writer: tensor ", name, " has no data producer");
  add_tensor(name, type, ne, nullptr, nbytes);
  tensors_.back().produce = std::move(produce);
}

void GgufWriter::write_part(const std::string& path, const KeyValues& kv,
                            const std::vector<const PendingTensor*>& tensors, size_t alignment) {
  Bytes h;
  h.put(kMagic);
  h.put<uint32_t>(3);
  h.put<uint64_t>(tensors.size());
  h.put<uint64_t>(kv.size());
  for (const auto& [key, value] : kv) {
    h.put_string(key);
    h.put(static_cast<uint32_t>(value.type));
    put_value(h, value, key);
  }
  uint64_t offset = 0;
  for (const PendingTensor* t : tensors) {
    h.put_string(t->name);
    h.put<uint32_t>(t->ne.size());
    for (int64_t n : t->ne) h.put<uint64_t>(n);
    h.put(static_cast<uint32_t>(t->type));
    h.put<uint64_t>(offset);
    offset = align_up(offset + t->nbytes, alignment);
  }
  h.b.resize(align_up(h.b.size(), alignment), 0);

  FileWriter f(path);
  f.write(h.b.data(), h.b.size());
  std::vector<uint8_t> produced;
  for (const PendingTensor* t : tensors) {
    if (t->produce) {
      produced.resize(t->nbytes);
      t->produce(produced.data());
      f.write(produced.data(), t->nbytes);
    } else {
      f.write(t->data, t->nbytes);
    }
    f.write_zeros(align_up(t->nbytes, alignment) - t->nbytes);
  }
  f.close();
}

std::vector<std::string> GgufWriter::write(const std::string& path, uint64_t max_bytes_per_split) const {
  KeyValues kv = kv_;
  auto put = [](KeyValues& list, const std::string& key, GgufValue v) {
    for (auto& e : list)
      if (e.first == key) {
        e.second = std::move(v);
        return;
      }
    list.emplace_back(key, std::move(v));
  };
  const bool custom_alignment = alignment_ != kDefaultAlignment;
  if (custom_alignment) put(kv, "general.alignment", GgufValue::u32(static_cast<uint32_t>(alignment_)));

  std::vector<const PendingTensor*> all;
  for (const PendingTensor& t : tensors_) all.push_back(&t);
  if (max_bytes_per_split == 0) {
    write_part(path, kv, all, alignment_);
    return {path};
  }

  // Fill each part until the next tensor would pass the limit; a tensor larger than the limit
  // gets a part of its own.
  std::vector<std::vector<const PendingTensor*>> parts(1);
  uint64_t part_bytes = 0;
  for (const PendingTensor* t : all) {
    const uint64_t bytes = align_up(t->nbytes, alignment_);
    if (!parts.back().empty() && part_bytes + bytes > max_bytes_per_split) {
      parts.emplace_back();
      part_bytes = 0;
    }
    parts.back().push_back(t);
    part_bytes += bytes;
  }
  if (parts.size() > 65535) fail("GGUF writer: ", parts.size(), " split parts exceed the u16 split.count");

  const std::string stem = path.size() > 5 && path.ends_with(".gguf") ? path.substr(0, path.size() - 5) : path;
  std::vector<std::string> written;
  for (size_t i = 0; i < parts.size(); ++i) {
    KeyValues part_kv;
    if (i == 0) part_kv = kv;
    else if (custom_alignment) put(part_kv, "general.alignment", GgufValue::u32(static_cast<uint32_t>(alignment_)));
    put(part_kv, "split.no", GgufValue::u16(static_cast<uint16_t>(i)));
    put(part_kv, "split.count", GgufValue::u16(static_cast<uint16_t>(parts.size())));
    put(part_kv, "split.tensors.count", GgufValue::i32(static_cast<int32_t>(tensors_.size())));
    char name[64];
    std::snprintf(name, sizeof(name), "-%05zu-of-%05zu.gguf", i + 1, parts.size());
    written.push_back(stem + name);
    write_part(written.back(), part_kv, parts[i], alignment_);
  }
  return written;
}

}  // namespace r1
