// Small line charts as a self-contained SVG (no fonts, scripts or images to fetch): a grid of
// panels, each one series y over x with its own axes, "nice" tick labels (1, 2, 5 × 10^k) and a
// title. r1 plot draws training logs with it.
#pragma once
#include <string>
#include <vector>

namespace r1 {

struct PlotSeries {
  std::string title;
  std::vector<double> x, y;  // same length, finite values
};

// Panels of panel_w × panel_h pixels, `columns` per row, under a title line. One <polyline>
// per panel with one point per (x, y); throws r1::Error for a series with no points, x and y of
// different lengths, or a non-finite value.
std::string svg_panels(const std::vector<PlotSeries>& panels, const std::string& title, int columns = 3,
                       int panel_w = 340, int panel_h = 210);

// Tick positions covering [lo, hi] with about `target` steps of 1, 2 or 5 × 10^k (lo < hi).
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Text safe inside an XML element or attribute.
std::string xml_escape(const std::string& s);

}  // namespace r1
