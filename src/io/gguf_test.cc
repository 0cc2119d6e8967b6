// GGUF writer -> reader round trips (every metadata type, nested arrays, alignment, splits) and
// the typed accessors.
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>

#include "io/io_test_util.h"

namespace r1 {
namespace {

using test::TempDir;

// Deterministic non-trivial bytes for tensor data.
std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
  return v;
}

// One value of every type, including nested arrays and extreme values.
std::vector<std::pair<std::string, GgufValue>> every_type() {
  using V = GgufValue;
  return {
      {"t.u8", V::u8(250)},
      {"t.i8", V::i8(-128)},
      {"t.u16", V::u16(65535)},
      {"t.i16", V::i16(-32768)},
      {"t.u32", V::u32(4000000000u)},
      {"t.i32", V::i32(-2000000000)},
      {"t.u64", V::u64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", V::i64(std::numeric_limits<int64_t>::min())},
      {"t.f32", V::f32(1e-6f)},
      {"t.f64", V::f64(-3.141592653589793)},
      {"t.bool_true", V::boolean(true)},
      {"t.bool_false", V::boolean(false)},
      {"t.string", V::string("h\xc3\xa9llo\n\0x")},
      {"t.empty_string", V::string("")},
      {"t.strings", V::strings({"a", "", "<｜User｜>"})},
      {"t.i32s", V::i32s({1, -2, 3})},
      {"t.f32s", V::f32s({0.5f, -1.25f})},
      {"t.empty_array", V::array(GgufType::U8, {})},
      {"t.bools", V::array(GgufType::BOOL, {V::boolean(true), V::boolean(false)})},
      {"t.nested", V::array(GgufType::ARRAY, {V::i32s({1, 2}), V::strings({"x"}), V::array(GgufType::U8, {})})},
      {"t.deep", V::array(GgufType::ARRAY, {V::array(GgufType::ARRAY, {V::f32s({7.0f})})})},
  };
}

struct Tensor {
  std::string name;
  DType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> data;
};

std::vector<Tensor> some_tensors() {
  std::vector<Tensor> t = {
      {"token_embd.weight", DType::F32, {8, 3}, {}},
      {"blk.0.attn_q.weight", DType::Q8_0, {64, 2}, {}},
      {"blk.0.ffn_up.weight", DType::Q4_K, {256, 1}, {}},
      {"blk.0.attn_norm.weight", DType::BF16, {5}, {}},
      {"blk.0.odd", DType::F16, {3, 1, 2, 2}, {}},
      {"empty", DType::F32, {0, 4}, {}},
      {std::string(200, 'n'), DType::I32, {1}, {}},
  };
  for (size_t i = 0; i < t.size(); ++i) {
    int64_t rows = 1;
    for (size_t d = 1; d < t[i].ne.size(); ++d) rows *= t[i].ne[d];
    t[i].data = pattern(row_bytes(t[i].type, t[i].ne[0]) * rows, static_cast<uint8_t>(i));
  }
  return t;
}

GgufWriter writer_with(const std::vector<Tensor>& tensors) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("test"));
  for (auto& [k, v] : every_type()) w.set(k, v);
  for (const Tensor& t : tensors) w.add_tensor(t.name, t.type, t.ne, t.data.data(), t.data.size());
  return w;
}

void expect_tensors(const GgufFile& f, const std::vector<Tensor>& tensors) {
  ASSERT_EQ(f.tensors().size(), tensors.size());
  for (const Tensor& t : tensors) {
    const TensorView& v = f.tensor(t.name);
    EXPECT_EQ(v.type, t.type) << t.name;
    EXPECT_EQ(v.n_dims, static_cast<int>(t.ne.size())) << t.name;
    for (size_t d = 0; d < 4; ++d) EXPECT_EQ(v.ne[d], d < t.ne.size() ? t.ne[d] : 1) << t.name;
    ASSERT_EQ(v.nbytes, t.data.size()) << t.name;
    if (v.nbytes) {
      EXPECT_EQ(std::memcmp(v.data, t.data.data(), v.nbytes), 0) << t.name;
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % f.alignment(), 0u) << t.name;
  }
}

TEST(Gguf, RoundTripsEveryMetadataTypeAndTensor) {
  TempDir dir;
  const auto tensors = some_tensors();
  const auto paths = writer_with(tensors).write(dir.file("m.gguf"));
  ASSERT_EQ(paths, std::vector<std::string>{dir.file("m.gguf")});

  auto f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  std::vector<std::string> order = {"general.architecture"};
  for (auto& [k, v] : every_type()) {
    order.push_back(k);
    ASSERT_TRUE(f->has(k)) << k;
    EXPECT_EQ(f->get(k), v) << k;  // type, value and (for arrays) element type and items
  }
  EXPECT_EQ(f->keys_in_order(), order);
  EXPECT_EQ(f->metadata().size(), order.size());
  expect_tensors(*f, tensors);
  // Tensor order is file order.
  for (size_t i = 0; i < tensors.size(); ++i) EXPECT_EQ(f->tensors()[i].name, tensors[i].name);
}

TEST(Gguf, RewritingAReadFileGivesTheSameBytes) {
  TempDir dir;
  const auto tensors = some_tensors();
  writer_with(tensors).write(dir.file("a.gguf"));
  auto f = GgufFile::open(dir.file("a.gguf"));
  GgufWriter w;
  for (const std::string& k : f->keys_in_order()) w.set(k, f->get(k));
  for (const TensorView& t : f->tensors())
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims), t.data, t.nbytes);
  w.write(dir.file("b.gguf"));
  EXPECT_EQ(test::read_bytes(dir.file("a.gguf")), test::read_bytes(dir.file("b.gguf")));
}

TEST(Gguf, CustomAlignmentIsWrittenAndHonoured) {
  TempDir dir;
  const auto tensors = some_tensors();
  GgufWriter w = writer_with(tensors);
  w.set_alignment(256);
  w.write(dir.file("m.gguf"));
  auto f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f->alignment(), 256u);
  EXPECT_EQ(f->get("general.alignment"), GgufValue::u32(256));
  expect_tensors(*f, tensors);
  EXPECT_ERROR_HAS(w.set_alignment(48), "alignment 48 is not a power of two");
}

TEST(Gguf, ReadsVersion2) {
  TempDir dir;
  const auto tensors = some_tensors();
  writer_with(tensors).write(dir.file("m.gguf"));
  auto bytes = test::read_bytes(dir.file("m.gguf"));
  bytes[4] = 2;  // v2 and v3 share the layout
  test::write_bytes(dir.file("v2.gguf"), bytes);
  auto f = GgufFile::open(dir.file("v2.gguf"));
  EXPECT_EQ(f->version(), 2u);
  expect_tensors(*f, tensors);
}

TEST(Gguf, SplitWriteAndRead) {
  TempDir dir;
  const auto tensors = some_tensors();
  // Limit = the largest tensor (Q4_K, 144 bytes padded to 160): several parts, one tensor of each.
  const auto paths = writer_with(tensors).write(dir.file("m.gguf"), 160);
  ASSERT_GE(paths.size(), 3u);
  const std::string n = std::to_string(paths.size());
  EXPECT_EQ(paths[0], dir.file("m-00001-of-0000" + n + ".gguf"));
  EXPECT_EQ(paths.back(), dir.file("m-0000" + n + "-of-0000" + n + ".gguf"));

  for (size_t i = 0; i < paths.size(); ++i) {
    // Every part alone: split keys as gguf-split writes them (u16, u16, i32).
    const auto bytes = test::read_bytes(paths[i]);
    auto p = GgufFile::from_memory(bytes.data(), bytes.size(), paths[i]);
    EXPECT_EQ(p->get("split.no"), GgufValue::u16(static_cast<uint16_t>(i)));
    EXPECT_EQ(p->get("split.count"), GgufValue::u16(static_cast<uint16_t>(paths.size())));
    EXPECT_EQ(p->get("split.tensors.count"), GgufValue::i32(static_cast<int32_t>(tensors.size())));
    EXPECT_EQ(p->has("general.architecture"), i == 0);  // metadata lives in the first part
    EXPECT_GE(p->tensors().size(), 1u);
  }

  for (const std::string& open_path : {paths[0], paths[1]}) {  // any part opens the whole model
    for (FileLoad load : {FileLoad::Map, FileLoad::Read, FileLoad::Auto}) {  // mapped or read in
      auto f = GgufFile::open(open_path, load);
      EXPECT_EQ(f->path(), paths[0]);
      EXPECT_EQ(f->get_string("general.architecture"), "test");
      for (auto& [k, v] : every_type()) EXPECT_EQ(f->get(k), v) << k;
      expect_tensors(*f, tensors);
    }
  }

  std::filesystem::remove(paths[1]);
  EXPECT_ERROR_HAS(GgufFile::open(paths[0]), paths[0].c_str(), "missing split part", paths[1].c_str(), "part 2 of");
}

TEST(Gguf, SplitPartsAreCheckedAgainstEachOther) {
  TempDir dir;
  const auto tensors = some_tensors();
  const auto paths = writer_with(tensors).write(dir.file("m.gguf"), 160);
  ASSERT_GE(paths.size(), 3u);
  // Swap parts 2 and 3: split.no no longer matches the name.
  std::filesystem::rename(paths[1], dir.file("tmp"));
  std::filesystem::rename(paths[2], paths[1]);
  std::filesystem::rename(dir.file("tmp"), paths[2]);
  EXPECT_ERROR_HAS(GgufFile::open(paths[0]), "expected split.no = 1");
  // A split file whose name does not say where the other parts are.
  std::filesystem::copy_file(paths[0], dir.file("renamed.gguf"));
  EXPECT_ERROR_HAS(GgufFile::open(dir.file("renamed.gguf")), "renamed.gguf", "other parts cannot be found");
}

TEST(Gguf, SinglePartSplitOpens) {
  TempDir dir;
  const auto tensors = some_tensors();
  const auto paths = writer_with(tensors).write(dir.file("one.gguf"), 1 << 20);
  ASSERT_EQ(paths, std::vector<std::string>{dir.file("one-00001-of-00001.gguf")});
  expect_tensors(*GgufFile::open(paths[0]), tensors);
}

TEST(Gguf, TypedAccessors) {
  TempDir dir;
  writer_with({}).write(dir.file("m.gguf"));
  auto f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f->get_int("t.u8"), 250);
  EXPECT_EQ(f->get_int("t.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->get_int("t.bool_true"), 1);
  EXPECT_EQ(f->get_int("absent", 7), 7);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_float("t.f32")), 1e-6f);
  EXPECT_DOUBLE_EQ(f->get_float("t.i32"), -2000000000.0);
  EXPECT_TRUE(f->get_bool("t.bool_true"));
  EXPECT_FALSE(f->get_bool("absent", false));
  EXPECT_EQ(f->get_string("t.string"), std::string("h\xc3\xa9llo\n\0x"));
  EXPECT_EQ(f->get_string("absent", "d"), "d");
  EXPECT_EQ(f->get("t.strings").as_strings(), (std::vector<std::string>{"a", "", "<｜User｜>"}));
  EXPECT_EQ(f->get("t.i32s").as_ints(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->get("t.f32s").as_floats(), (std::vector<double>{0.5, -1.25}));
  EXPECT_EQ(f->get("t.nested").as_array().items.size(), 3u);

  const std::string file = dir.file("m.gguf");
  EXPECT_ERROR_HAS(f->get_int("t.u64"), file.c_str(), "t.u64", "out of range");
  EXPECT_ERROR_HAS(f->get_int("t.string"), file.c_str(), "t.string must be an integer (it is string)");
  EXPECT_ERROR_HAS(f->get_string("t.u8"), "t.u8 must be a string (it is u8)");
  EXPECT_ERROR_HAS(f->get_bool("t.u8"), "t.u8 must be a bool");
  EXPECT_ERROR_HAS(f->get_float("t.strings"), "must be a number (it is array)");
  EXPECT_ERROR_HAS(f->get("t.i32s").as_strings("t.i32s"), "t.i32s must be an array of strings (it holds i32)");
  EXPECT_ERROR_HAS(f->get("t.strings").as_ints("t.strings"), "t.strings item must be an integer");
  EXPECT_ERROR_HAS(f->get("absent"), file.c_str(), ": missing key absent");
  EXPECT_ERROR_HAS(f->tensor("nope"), file.c_str(), ": missing tensor nope");
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
  EXPECT_EQ(f->find("absent"), nullptr);
}

TEST(Gguf, WriterRejectsInconsistentInput) {
  GgufWriter w;
  std::vector<uint8_t> data(64);
  EXPECT_ERROR_HAS(w.add_tensor("a", DType::F32, {4, 4}, data.data(), 60), "tensor a has 60 bytes", "needs 64");
  EXPECT_ERROR_HAS(w.add_tensor("q", DType::Q8_0, {16}, data.data(), 17), "not a multiple of the q8_0 block size");
  EXPECT_ERROR_HAS(w.add_tensor("f8", DType::F8_E4M3, {4}, data.data(), 4), "GGUF cannot store");
  EXPECT_ERROR_HAS(w.add_tensor("d", DType::F32, {1, 1, 1, 1, 1}, data.data(), 4), "5 dimensions");
  w.add_tensor("a", DType::F32, {16}, data.data(), 64);
  EXPECT_ERROR_HAS(w.add_tensor("a", DType::F32, {16}, data.data(), 64), "duplicate tensor a");
  EXPECT_ERROR_HAS(w.set("", GgufValue::u8(1)), "GGUF key must be");
  EXPECT_ERROR_HAS(w.set("general.alignment", GgufValue::u32(12)), "alignment 12 is not a power of two");

  TempDir dir;
  GgufWriter bad;
  bad.set("mixed", GgufValue::array(GgufType::I32, {GgufValue::i32(1), GgufValue::string("x")}));
  EXPECT_ERROR_HAS(bad.write(dir.file("bad.gguf")), "key mixed", "array of i32 holds a string");
  GgufWriter w2;
  EXPECT_ERROR_HAS(w2.write(dir.file("no/such/dir.gguf")), "cannot write ", "no/such/dir.gguf");
}

}  // namespace
}  // namespace r1
