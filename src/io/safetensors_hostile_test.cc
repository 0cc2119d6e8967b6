// Broken and hostile safetensors files and indexes: each gives an r1::Error naming the file and
// the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "io/io_test_util.h"
#include "io/safetensors.h"

namespace r1 {
namespace {

// A file from a header string and a data buffer of `data_bytes` bytes.
std::vector<uint8_t> file_with(const std::string& header, size_t data_bytes = 64) {
  test::Bytes b;
  b.u64(header.size()).raw(header).zeros(data_bytes);
  return b.b;
}

std::string parse_error(const std::vector<uint8_t>& b) {
  return test::error_of([&] { SafetensorsSet::from_memory(b.data(), b.size(), "evil.safetensors"); });
}

#define EXPECT_PARSE_ERROR(bytes, ...)                                                                     \
  do {                                                                                                   \
    const std::string msg_ = parse_error(bytes);                                                         \
    EXPECT_EQ(msg_.rfind("evil.safetensors: ", 0), 0u) << msg_;                                         \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})                              \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "message \"" << msg_ << "\" lacks \"" << part_ << "\""; \
  } while (0)

TEST(SafetensorsHostile, HeaderLength) {
  EXPECT_PARSE_ERROR(std::vector<uint8_t>(5), "not a safetensors file (only 5 bytes)");
  test::Bytes huge;
  huge.u64(100'000'001).raw("{}");
  EXPECT_PARSE_ERROR(huge.b, "header length 100000001 is over the 100000000-byte limit");
  test::Bytes past;
  past.u64(1000).raw("{}");
  EXPECT_PARSE_ERROR(past.b, "header length 1000 is larger than the file (10 bytes)");
  test::Bytes max;
  max.u64(~0ull).raw("{}");
  EXPECT_PARSE_ERROR(max.b, "header length 18446744073709551615 is over");
}

TEST(SafetensorsHostile, BadJson) {
  EXPECT_PARSE_ERROR(file_with(""), "header does not start with '{'");
  EXPECT_PARSE_ERROR(file_with("[1, 2]"), "header does not start with '{'");
  EXPECT_PARSE_ERROR(file_with("{\"a\": "), "malformed JSON header");
  EXPECT_PARSE_ERROR(file_with("{\"a\": 1} trailing"), "malformed JSON header");
  EXPECT_PARSE_ERROR(file_with("{\"a\": 1}"), "tensor a: entry is not a JSON object");
  EXPECT_PARSE_ERROR(file_with(std::string(100000, '[')), "header does not start with '{'");
  EXPECT_PARSE_ERROR(file_with("{\"a\":" + std::string(100000, '[')), "malformed JSON header");
  // Trailing spaces are the format's padding.
  auto ok = file_with("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}     ");
  EXPECT_EQ(SafetensorsSet::from_memory(ok.data(), ok.size(), "ok")->tensors().size(), 1u);
}

TEST(SafetensorsHostile, BadEntries) {
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
    return str("\"", name, "\":{\"dtype\":\"", dtype, "\",\"shape\":", shape, ",\"data_offsets\":", offsets, "}");
  };
  auto one = [&](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return file_with(str("{", entry("w", dtype, shape, offsets), "}"));
  };
  EXPECT_PARSE_ERROR(one("Q4_0", "[4]", "[0,4]"), "tensor w has unsupported dtype Q4_0");
  EXPECT_PARSE_ERROR(one("F32", "[4]", "[0,8]"), "tensor w of shape [4] and dtype F32 needs 4 x 4 bytes",
                     "data_offsets span 8");
  EXPECT_PARSE_ERROR(one("F32", "[4]", "[0,80]"), "data_offsets [0, 80] lie outside the 64-byte data buffer");
  EXPECT_PARSE_ERROR(one("F32", "[1]", "[8,4]"), "data_offsets [8, 4] with begin > end");
  EXPECT_PARSE_ERROR(one("F32", "[-4]", "[0,16]"), "tensor w: shape entries must be non-negative integers");
  EXPECT_PARSE_ERROR(one("F32", "[4.0]", "[0,16]"), "shape entries must be non-negative integers");
  EXPECT_PARSE_ERROR(one("F32", "[1,1,1,1,1]", "[0,4]"), "tensor w has 5 dimensions (at most 4)");
  EXPECT_PARSE_ERROR(one("F32", "[4294967296,4294967296]", "[0,4]"), "tensor w element count overflows");
  EXPECT_PARSE_ERROR(one("F32", "[4611686018427387904]", "[0,4]"), "needs 4611686018427387904 x 4 bytes");
  EXPECT_PARSE_ERROR(one("F32", "[1]", "[0]"), "tensor w: data_offsets must be [begin, end]");
  EXPECT_PARSE_ERROR(one("F32", "[1]", "[-4,0]"), "data_offsets must be non-negative integers");
  EXPECT_PARSE_ERROR(file_with("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}"), "tensor w: missing dtype");
  EXPECT_PARSE_ERROR(file_with("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}"), "tensor w: missing shape");
  EXPECT_PARSE_ERROR(file_with(str("{", entry("a", "F32", "[4]", "[0,16]"), ",", entry("b", "F32", "[4]", "[8,24]"), "}")),
                     "tensors a and b overlap");
  EXPECT_PARSE_ERROR(file_with(str("{", entry("a", "F32", "[1]", "[0,4]"), ",", entry("a", "F32", "[1]", "[4,8]"), "}")),
                     "duplicate tensor a in the header");
  EXPECT_PARSE_ERROR(file_with("{\"__metadata__\":{\"format\":1}}"), "__metadata__ value of format is not a string");
  EXPECT_PARSE_ERROR(file_with("{\"__metadata__\":[]}"), "__metadata__ is not a JSON object");
  // Zero-size tensors may share an offset; that is not an overlap.
  auto ok = file_with(str("{", entry("a", "F32", "[0]", "[4,4]"), ",", entry("b", "F32", "[1]", "[4,8]"), ",",
                          entry("c", "F32", "[0,3]", "[4,4]"), "}"));
  EXPECT_EQ(SafetensorsSet::from_memory(ok.data(), ok.size(), "ok")->tensors().size(), 3u);
}

TEST(SafetensorsHostile, EveryTruncationIsAnError) {
  test::TempDir dir;
  std::vector<float> a(6, 1.5f), b(3, -2.0f);
  SafetensorsWriter w;
  w.add("a", DType::F32, {2, 3}, a.data(), 24);
  w.add("b", DType::F32, {3}, b.data(), 12);
  w.set_metadata("format", "pt");
  w.write(dir.file("s.safetensors"));
  const auto full = test::read_bytes(dir.file("s.safetensors"));
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    const std::string name = "cut" + std::to_string(n);
    const std::string msg = test::error_of([&] { SafetensorsSet::from_memory(prefix.data(), n, name); });
    EXPECT_EQ(msg.rfind(name + ": ", 0), 0u) << n << ": " << msg;
  }
}

TEST(SafetensorsHostile, RandomTruncationsOfARealModel) {
  test::TempDir dir;
  const auto full = test::read_bytes(std::string(R1_TEST_DATA_DIR) + "/models/llama-mini-hf/model.safetensors");
  ASSERT_GT(full.size(), 100000u);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 40; ++i) {
    const size_t n = i % 2 ? rng() % full.size() : rng() % 4000;  // half of them inside the header
    const std::string path = dir.file("model.safetensors");
    test::write_bytes(path, full.data(), n);
    EXPECT_ERROR_HAS(SafetensorsSet::open(path), (path + ": ").c_str());
  }
}

TEST(SafetensorsHostile, BadIndexes) {
  test::TempDir dir;
  std::vector<float> x(4, 1.0f);
  SafetensorsWriter w;
  w.add("present", DType::F32, {4}, x.data(), 16);
  w.write(dir.file("shard-1.safetensors"));
  const std::string index = dir.file("model.safetensors.index.json");
  auto with_map = [&](const std::string& wm) { test::write_text(index, "{\"weight_map\": " + wm + "}"); };

  with_map("{\"present\": \"shard-1.safetensors\", \"absent\": \"shard-1.safetensors\"}");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), index.c_str(),
                   "tensor absent is listed in weight_map but missing from shard shard-1.safetensors");
  with_map("{\"present\": \"shard-2.safetensors\"}");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), "shard shard-2.safetensors (holding present) does not exist");
  with_map("{\"present\": \"../shard-1.safetensors\"}");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), "names shard \"../shard-1.safetensors\", which is not a file");
  with_map("{\"present\": \"/etc/passwd\"}");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), "which is not a file name inside");
  with_map("{\"present\": 3}");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), "weight_map entry for present is not a string");
  with_map("[]");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), "missing weight_map object");
  test::write_text(index, "{\"weight_map\": {");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), index.c_str(), "malformed JSON");
  std::filesystem::remove(index);
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.path()), "no model.safetensors.index.json or model.safetensors");
  EXPECT_ERROR_HAS(SafetensorsSet::open(dir.file("nope.safetensors")), "cannot open ", "nope.safetensors");
}

}  // namespace
}  // namespace r1
