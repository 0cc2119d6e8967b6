// Broken and hostile GGUF files: each must give an r1::Error naming the file and the problem,
// never a crash, a hang, an out-of-bounds read or a huge allocation.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "io/gguf.h"
#include "io/io_test_util.h"

namespace r1 {
namespace {

using test::Bytes;
constexpr uint64_t kHuge = std::numeric_limits<uint64_t>::max();

// Header for a hand-made file: magic, version, counts.
Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.u32(0x46554747).u32(version).u64(n_tensors).u64(n_kv);  // "GGUF"
  return b;
}

std::string parse_error(const Bytes& b) {
  return test::error_of([&] { GgufFile::from_memory(b.b.data(), b.b.size(), "evil.gguf"); });
}

#define EXPECT_PARSE_ERROR(bytes, ...)                                                                    \
  do {                                                                                                  \
    const std::string msg_ = parse_error(bytes);                                                        \
    EXPECT_EQ(msg_.rfind("evil.gguf: ", 0), 0u) << msg_;                                               \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})                             \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "message \"" << msg_ << "\" lacks \"" << part_ << "\""; \
  } while (0)

// A file with one tensor: name, dims, type, offset as given; `data_bytes` bytes of data.
Bytes one_tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                 size_t data_bytes = 64) {
  Bytes b = header(1, 0);
  b.str(name).u32(static_cast<uint32_t>(ne.size()));
  for (uint64_t n : ne) b.u64(n);
  b.u32(type).u64(offset);
  b.zeros((32 - b.b.size() % 32) % 32 + data_bytes);
  return b;
}

TEST(GgufHostile, BadMagicAndVersions) {
  Bytes magic;
  magic.raw("GGUX").u32(3).u64(0).u64(0);
  EXPECT_PARSE_ERROR(magic, "not a GGUF file (bad magic)");
  EXPECT_PARSE_ERROR(Bytes().raw("GGU"), "not a GGUF file (only 3 bytes)");
  EXPECT_PARSE_ERROR(header(0, 0, 1), "GGUF version 1 is not supported");
  EXPECT_PARSE_ERROR(header(0, 0, 4), "unsupported GGUF version 4");
  EXPECT_PARSE_ERROR(header(0, 0, 0x03000000), "unsupported GGUF version 50331648 (a big-endian file?)");
  // The smallest valid file: no metadata, no tensors.
  const Bytes empty = header(0, 0);
  auto f = GgufFile::from_memory(empty.b.data(), empty.b.size(), "empty.gguf");
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_TRUE(f->metadata().empty());
}

TEST(GgufHostile, HugeCountsAreRejectedBeforeAllocating) {
  EXPECT_PARSE_ERROR(header(kHuge, 0), "tensor count 18446744073709551615 cannot fit");
  EXPECT_PARSE_ERROR(header(0, kHuge), "metadata count 18446744073709551615 cannot fit");
  EXPECT_PARSE_ERROR(header(0, 1).str("k").u32(8).u64(kHuge), "string of key k has length 18446744073709551615",
                     "bytes are left");
  EXPECT_PARSE_ERROR(header(0, 1).u64(kHuge).zeros(16), "key", "has length 18446744073709551615");
  EXPECT_PARSE_ERROR(header(0, 1).str("k").u32(9).u32(0).u64(kHuge), "array of 18446744073709551615 u8 items",
                     "key k", "cannot fit");
  // 1000 strings need 8000 bytes at least; only a few are there.
  EXPECT_PARSE_ERROR(header(0, 1).str("k").u32(9).u32(8).u64(1000).zeros(100), "array of 1000 string items");
  EXPECT_PARSE_ERROR(header(0, 1).str(std::string(70000, 'k')).u32(0).zeros(1), "key of metadata entry 0 is 70000 bytes long");
  Bytes long_name = header(1, 0);
  long_name.str(std::string(70000, 't')).u32(1).u64(1).u32(0).u64(0).zeros(64);
  EXPECT_PARSE_ERROR(long_name, "tensor name", "is 70000 bytes long (at most 65535)");
}

TEST(GgufHostile, NestedArraysAreBounded) {
  // depth levels of arrays around one u8.
  auto nested = [](int depth) {
    Bytes b = header(0, 1);
    b.str("bomb").u32(9);
    for (int i = 1; i < depth; ++i) b.u32(9).u64(1);
    b.u32(0).u64(1).put<uint8_t>(42);
    return b;
  };
  const Bytes ok = nested(kGgufMaxArrayDepth);
  auto f = GgufFile::from_memory(ok.b.data(), ok.b.size(), "ok.gguf");
  const GgufValue* v = &f->get("bomb");
  for (int i = 1; i < kGgufMaxArrayDepth; ++i) v = &v->as_array().items.at(0);
  EXPECT_EQ(v->as_ints(), std::vector<int64_t>{42});
  EXPECT_PARSE_ERROR(nested(kGgufMaxArrayDepth + 1), "arrays nested deeper than 16 levels", "key bomb");
  EXPECT_PARSE_ERROR(nested(100000), "arrays nested deeper than 16 levels");
}

TEST(GgufHostile, BadValues) {
  EXPECT_PARSE_ERROR(header(0, 1).str("b").u32(7).put<uint8_t>(2), "bool value 2 of key b is not 0 or 1");
  EXPECT_PARSE_ERROR(header(0, 1).str("b").u32(9).u32(7).u64(2).put<uint8_t>(1).put<uint8_t>(7),
                     "bool value 7 of key b is not 0 or 1");
  EXPECT_PARSE_ERROR(header(0, 1).str("t").u32(13).u32(0), "key t has unknown value type 13");
  EXPECT_PARSE_ERROR(header(0, 1).str("t").u32(9).u32(99).u64(0), "unknown array element type 99 of key t");
  EXPECT_PARSE_ERROR(header(0, 2).str("d").u32(0).put<uint8_t>(1).str("d").u32(0).put<uint8_t>(2), "duplicate key d");
  EXPECT_PARSE_ERROR(header(0, 1).str("general.alignment").u32(4).u32(24), "general.alignment = 24 is not a power of two");
  EXPECT_PARSE_ERROR(header(0, 1).str("general.alignment").u32(4).u32(0), "general.alignment = 0 is not a power of two");
  EXPECT_PARSE_ERROR(header(0, 1).str("general.alignment").u32(8).str("32"), "general.alignment must be an integer");
}

TEST(GgufHostile, BadTensorInfos) {
  EXPECT_PARSE_ERROR(one_tensor("w", {1, 1, 1, 1, 1}, 0, 0), "tensor w has 5 dimensions (at most 4)");
  EXPECT_PARSE_ERROR(one_tensor("w", {16}, 10, 0), "tensor w has unsupported ggml type 10");      // Q2_K
  EXPECT_PARSE_ERROR(one_tensor("w", {16}, 1000, 0), "tensor w has unsupported ggml type 1000");  // not ggml
  EXPECT_PARSE_ERROR(one_tensor("w", {16}, 15, 0), "unsupported ggml type 15");                   // Q8_K
  EXPECT_PARSE_ERROR(one_tensor("w", {48}, 8, 0), "tensor w has ne0 = 48, not a multiple of the q8_0 block size 32");
  EXPECT_PARSE_ERROR(one_tensor("w", {4}, 0, 8), "tensor w data offset 8 is not a multiple of the alignment 32");
  EXPECT_PARSE_ERROR(one_tensor("w", {4}, 0, 64), "tensor w data (16 bytes at offset 64) lies outside");
  EXPECT_PARSE_ERROR(one_tensor("w", {32}, 0, 0, 64), "tensor w data (128 bytes at offset 0) lies outside");
  EXPECT_PARSE_ERROR(one_tensor("w", {4}, 0, 0xffffffffffffffe0ull), "lies outside");
  EXPECT_PARSE_ERROR(one_tensor("w", {1ull << 63}, 0, 0), "dimension 0 = 9223372036854775808 is out of range");
  EXPECT_PARSE_ERROR(one_tensor("w", {1ull << 32, 1ull << 32}, 0, 0), "tensor w element count overflows");
  EXPECT_PARSE_ERROR(one_tensor("w", {1ull << 62}, 0, 0), "tensor w byte size overflows");
  EXPECT_PARSE_ERROR(one_tensor("", {4}, 0, 0), "a tensor has an empty name");

  Bytes dup = header(2, 0);
  for (int i = 0; i < 2; ++i) dup.str("w").u32(1).u64(4).u32(0).u64(0);
  dup.zeros(64);
  EXPECT_PARSE_ERROR(dup, "duplicate tensor w");

  // A good one, for contrast: zero-copy view at data start.
  const Bytes good = one_tensor("w", {4, 2}, 0, 32);
  auto f = GgufFile::from_memory(good.b.data(), good.b.size(), "good.gguf");
  const TensorView& t = f->tensor("w");
  EXPECT_EQ(t.nbytes, 32u);
  EXPECT_EQ(static_cast<const uint8_t*>(t.data) - good.b.data(), 96 + 32);  // 65 header bytes, padded
}

// A small file that uses every kind of field, to truncate.
std::vector<uint8_t> small_valid_file(const std::string& path) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("a.u32", GgufValue::u32(7));
  w.set("a.f64", GgufValue::f64(0.25));
  w.set("a.bool", GgufValue::boolean(true));
  w.set("a.strings", GgufValue::strings({"x", "yz"}));
  w.set("a.nested", GgufValue::array(GgufType::ARRAY, {GgufValue::i32s({1, 2}), GgufValue::f32s({})}));
  std::vector<uint8_t> data(34 * 2 + 12, 0x5a);
  w.add_tensor("q", DType::Q8_0, {32, 2}, data.data(), 68);
  w.add_tensor("b", DType::F32, {3}, data.data(), 12);
  w.write(path);
  return test::read_bytes(path);
}

TEST(GgufHostile, EveryTruncationIsAnError) {
  test::TempDir dir;
  const std::vector<uint8_t> full = small_valid_file(dir.file("small.gguf"));
  auto whole = GgufFile::from_memory(full.data(), full.size(), "small.gguf");
  const TensorView& last = whole->tensors().back();
  const size_t needed = static_cast<const uint8_t*>(last.data) - full.data() + last.nbytes;
  ASSERT_GT(full.size(), needed);  // the last tensor's padding

  for (size_t n = 0; n < full.size(); ++n) {
    // Copy the prefix so a read past it is caught by AddressSanitizer, not hidden by `full`.
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    const std::string name = "cut" + std::to_string(n) + ".gguf";
    if (n >= needed) {  // only padding is missing: still a complete model
      EXPECT_EQ(GgufFile::from_memory(prefix.data(), n, name)->tensors().size(), 2u);
      continue;
    }
    const std::string msg = test::error_of([&] { GgufFile::from_memory(prefix.data(), n, name); });
    EXPECT_EQ(msg.rfind(name + ": ", 0), 0u) << n << ": " << msg;
  }
}

TEST(GgufHostile, RandomTruncationsOfARealModel) {
  test::TempDir dir;
  const std::string src = std::string(R1_TEST_DATA_DIR) + "/models/qwen2-mini-q4_k_m.gguf";
  const std::vector<uint8_t> full = test::read_bytes(src);
  ASSERT_GT(full.size(), 100000u);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 40; ++i) {
    // Half the cuts inside the ~30 KB of metadata, half anywhere.
    const size_t n = i % 2 ? rng() % full.size() : rng() % 40000;
    const std::string path = dir.file("cut.gguf");
    test::write_bytes(path, full.data(), n);
    EXPECT_ERROR_HAS(GgufFile::open(path), (path + ": ").c_str());
  }
}

TEST(GgufHostile, OpenNamesTheFile) {
  test::TempDir dir;
  EXPECT_ERROR_HAS(GgufFile::open(dir.file("missing.gguf")), "cannot open ", "missing.gguf");
  test::write_text(dir.file("text.gguf"), "hello, this is not a model");
  EXPECT_ERROR_HAS(GgufFile::open(dir.file("text.gguf")), "text.gguf: not a GGUF file (bad magic)");
}

}  // namespace
}  // namespace r1
