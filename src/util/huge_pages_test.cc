#include "util/huge_pages.h"

#include <cstdint>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "core/error.h"

namespace r1 {
namespace {

TEST(HugePages, RegionIsAlignedZeroedWritableAndMovable) {
  const size_t bytes = (size_t{5} << 20) + 123;  // not a whole number of huge pages
  HugePageRegion a(bytes);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.size(), bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % (size_t{2} << 20), 0u);
  EXPECT_GE(static_cast<uint8_t*>(a.base()) + a.span(), a.data() + bytes);  // the whole size lies inside
  for (size_t i = 0; i < bytes; i += 4093) EXPECT_EQ(a.data()[i], 0) << i;
  a.data()[bytes - 1] = 7;
  HugePageRegion b = std::move(a);
  EXPECT_FALSE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.data()[bytes - 1], 7);
  b = HugePageRegion(64);
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(b.data()[63], 0);
}

TEST(HugePages, FloatArrayNamesWhatDidNotFit) {
  HugeFloatArray small(1000, "test cache");
  EXPECT_EQ(small.size(), 1000u);
  EXPECT_EQ(small.data()[999], 0.0f);
  for (size_t n : {size_t{1} << 62, size_t{1} << 45}) {  // 16 EiB (overflows size_t as bytes), 128 TiB
    try {
      HugeFloatArray huge(n, "test cache");
      FAIL() << "allocated " << n << " floats";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("test cache"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(HugePageRegion(SIZE_MAX).ok());
}

}  // namespace
}  // namespace r1
