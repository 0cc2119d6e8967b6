#include "io/mapped_file.h"

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace r1 {
namespace {

TEST(MappedFile, MapsTheWholeFile) {
  test::TempDir dir;
  std::vector<uint8_t> bytes(10000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  test::write_bytes(dir.file("a.bin"), bytes);
  MappedFile f(dir.file("a.bin"));
  EXPECT_EQ(f.path(), dir.file("a.bin"));
  ASSERT_EQ(f.size(), bytes.size());
  EXPECT_EQ(std::memcmp(f.data(), bytes.data(), bytes.size()), 0);
  f.prefetch();
}

TEST(MappedFile, EmptyFileHasSizeZero) {
  test::TempDir dir;
  test::write_bytes(dir.file("empty"), nullptr, 0);
  MappedFile f(dir.file("empty"));
  EXPECT_EQ(f.size(), 0u);
  EXPECT_NE(f.data(), nullptr);
}

TEST(MappedFile, MissingFileAndDirectoryAreErrors) {
  test::TempDir dir;
  EXPECT_ERROR_HAS(MappedFile(dir.file("nope.gguf")), "cannot open ", "nope.gguf", "No such file");
  EXPECT_ERROR_HAS(MappedFile(dir.path()), "cannot open ", "Is a directory");
}

}  // namespace
}  // namespace r1
