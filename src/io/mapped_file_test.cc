#include "io/mapped_file.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

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

// Read: the same bytes in 2 MiB-aligned memory (huge pages can back it), read-only like a mapping;
// Auto follows R1_MMAP (1: map, 0: read).
TEST(MappedFile, ReadsIntoAlignedMemory) {
  test::TempDir dir;
  std::vector<uint8_t> bytes((size_t{3} << 20) + 12345);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 13 + (i >> 12));
  test::write_bytes(dir.file("w.bin"), bytes);
  MappedFile f(dir.file("w.bin"), FileLoad::Read);
  EXPECT_TRUE(f.in_memory());
  ASSERT_EQ(f.size(), bytes.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data()) % (uintptr_t{2} << 20), 0u);
  EXPECT_EQ(std::memcmp(f.data(), bytes.data(), bytes.size()), 0);
  EXPECT_DEATH(const_cast<uint8_t*>(f.data())[5] = 1, "");  // read-only
  EXPECT_FALSE(MappedFile(dir.file("w.bin")).in_memory());  // Map is the default

  const char* saved = std::getenv("R1_MMAP");
  const std::string keep = saved ? saved : "";
  setenv("R1_MMAP", "1", 1);
  EXPECT_FALSE(MappedFile(dir.file("w.bin"), FileLoad::Auto).in_memory());
  setenv("R1_MMAP", "0", 1);
  MappedFile g(dir.file("w.bin"), FileLoad::Auto);
  EXPECT_TRUE(g.in_memory());
  EXPECT_EQ(std::memcmp(g.data(), bytes.data(), bytes.size()), 0);
  if (saved) setenv("R1_MMAP", keep.c_str(), 1);
  else unsetenv("R1_MMAP");
}

// A file of several read slices (64 MiB each, read by the threads in turn) and a part: every byte in
// its place.
TEST(MappedFile, ReadsLargeFilesInSlices) {
  test::TempDir dir;
  std::vector<uint8_t> bytes((size_t{129} << 20) + 4321);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + (i >> 20));
  test::write_bytes(dir.file("big.bin"), bytes);
  MappedFile f(dir.file("big.bin"), FileLoad::Read);
  ASSERT_TRUE(f.in_memory());
  ASSERT_EQ(f.size(), bytes.size());
  EXPECT_EQ(std::memcmp(f.data(), bytes.data(), bytes.size()), 0);
}

// Auto is decided for a whole model: one that does not fit in memory is mapped, a small one read;
// Map and Read pass through; R1_MMAP overrides Auto.
TEST(MappedFile, AutoDecidesForTheWholeModel) {
  const char* saved = std::getenv("R1_MMAP");
  const std::string keep = saved ? saved : "";
  unsetenv("R1_MMAP");
  EXPECT_EQ(resolve_file_load(FileLoad::Auto, uint64_t{1} << 60), FileLoad::Map);
  EXPECT_EQ(resolve_file_load(FileLoad::Auto, 4096), FileLoad::Read);
  EXPECT_EQ(resolve_file_load(FileLoad::Map, 4096), FileLoad::Map);
  EXPECT_EQ(resolve_file_load(FileLoad::Read, uint64_t{1} << 60), FileLoad::Read);
  setenv("R1_MMAP", "0", 1);
  EXPECT_EQ(resolve_file_load(FileLoad::Auto, uint64_t{1} << 60), FileLoad::Read);
  setenv("R1_MMAP", "1", 1);
  EXPECT_EQ(resolve_file_load(FileLoad::Auto, 4096), FileLoad::Map);
  if (saved) setenv("R1_MMAP", keep.c_str(), 1);
  else unsetenv("R1_MMAP");
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
