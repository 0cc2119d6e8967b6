#include "util/svg_plot.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace r1 {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) n++;
  return n;
}

TEST(SvgPlot, NiceTicksAreRoundAndCoverTheRange) {
  EXPECT_EQ(nice_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  const auto f = nice_ticks(0.13, 0.92, 4);  // raw step 0.1975 -> 0.2
  const std::vector<double> want{0.2, 0.4, 0.6, 0.8};
  ASSERT_EQ(f.size(), want.size());
  for (size_t i = 0; i < f.size(); i++) EXPECT_NEAR(f[i], want[i], 1e-12);
  const auto t = nice_ticks(-3, 1234, 5);  // raw step 247.4 -> 500
  EXPECT_DOUBLE_EQ(t[1] - t[0], 500);
  EXPECT_LE(t.front(), 0.0);
  EXPECT_GE(t.back(), 1000.0);
  EXPECT_THROW(nice_ticks(1, 1), Error);
}

TEST(SvgPlot, OnePolylinePerPanelWithOnePointPerValue) {
  std::vector<PlotSeries> p(3);
  p[0] = {"loss <a&b>", {0, 1, 2, 3}, {4, 3, 2.5, 2}};
  p[1] = {"constant", {0, 1, 2}, {7, 7, 7}};  // a flat series still gets a y range
  p[2] = {"one", {5}, {0.5}};
  const std::string svg = svg_panels(p, "run \"1\"", 2);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 3u);
  EXPECT_NE(svg.find("loss &lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_NE(svg.find("run &quot;1&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("<a&b>"), std::string::npos);
  EXPECT_NE(svg.find("<circle"), std::string::npos);  // the lone point
  EXPECT_THROW(svg_panels({}, "x"), Error);
  EXPECT_THROW(svg_panels({{"bad", {1, 2}, {1}}}, "x"), Error);
  EXPECT_THROW(svg_panels({{"nan", {1, 2}, {1, NAN}}}, "x"), Error);
}

}  // namespace
}  // namespace r1
