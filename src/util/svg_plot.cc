#include "util/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace r1 {
namespace {

// Plot area margins inside a panel (room for the tick labels and the title).
constexpr double kLeft = 58, kRight = 14, kTop = 26, kBottom = 30;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

std::string num(double v) {  // SVG coordinates, two decimals
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// A tick label: short, no "-0", exponent form only for very large or small values.
std::string tick_label(double v, double step) {
  if (std::fabs(v) < step * 1e-9) v = 0;
  char b[32];
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-3)) {
    std::snprintf(b, sizeof b, "%.2g", v);
  } else {
    const int decimals = std::clamp(int(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
  }
  return b;
}

// [lo, hi] widened when empty so that a constant series still gets an axis.
void widen(double& lo, double& hi) {
  if (hi > lo) return;
  const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.5;
  lo -= pad, hi += pad;
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) fail("nice_ticks: bad range [", lo, ", ", hi, "]");
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  std::vector<double> ticks;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push_back(k * step);
  return ticks;
}

std::string svg_panels(const std::vector<PlotSeries>& panels, const std::string& title, int columns, int panel_w,
                       int panel_h) {
  if (panels.empty()) fail("plot: nothing to draw");
  columns = std::clamp(columns, 1, int(panels.size()));
  const int rows = (int(panels.size()) + columns - 1) / columns;
  const int head = 34, width = columns * panel_w, height = head + rows * panel_h;
  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
       std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
       "\" font-family=\"sans-serif\">\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
       "\" fill=\"white\"/>\n";
  s += "<text x=\"" + num(width / 2.0) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">" +
       xml_escape(title) + "</text>\n";

  for (size_t i = 0; i < panels.size(); i++) {
    const PlotSeries& p = panels[i];
    if (p.x.empty() || p.x.size() != p.y.size())
      fail("plot: series '", p.title, "' has ", p.x.size(), " x and ", p.y.size(), " y values");
    for (size_t j = 0; j < p.x.size(); j++) {
      if (!std::isfinite(p.x[j]) || !std::isfinite(p.y[j])) fail("plot: series '", p.title, "' has a non-finite value at point ", j);
    }
    double x0 = *std::min_element(p.x.begin(), p.x.end()), x1 = *std::max_element(p.x.begin(), p.x.end());
    double y0 = *std::min_element(p.y.begin(), p.y.end()), y1 = *std::max_element(p.y.begin(), p.y.end());
    widen(x0, x1);
    widen(y0, y1);
    const double pad = (y1 - y0) * 0.05;  // the line keeps off the frame
    y0 -= pad, y1 += pad;
    const std::vector<double> xt = nice_ticks(x0, x1, 5), yt = nice_ticks(y0, y1, 4);
    const double pw = panel_w - kLeft - kRight, ph = panel_h - kTop - kBottom;
    auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
    auto py = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * ph; };

    const int col = int(i) % columns, row = int(i) / columns;
    s += "<g transform=\"translate(" + std::to_string(col * panel_w) + "," + std::to_string(head + row * panel_h) + ")\">\n";
    s += "<text x=\"" + num(kLeft + pw / 2) + "\" y=\"16\" text-anchor=\"middle\" font-size=\"13\">" + xml_escape(p.title) +
         "</text>\n";
    const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
    for (double t : yt) {
      s += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(py(t)) + "\" x2=\"" + num(kLeft + pw) + "\" y2=\"" + num(py(t)) +
           "\" stroke=\"#e4e4e4\"/>\n";
      s += "<text x=\"" + num(kLeft - 5) + "\" y=\"" + num(py(t) + 4) + "\" text-anchor=\"end\" font-size=\"10\">" +
           tick_label(t, ystep) + "</text>\n";
    }
    for (double t : xt) {
      s += "<line x1=\"" + num(px(t)) + "\" y1=\"" + num(kTop + ph) + "\" x2=\"" + num(px(t)) + "\" y2=\"" +
           num(kTop + ph + 4) + "\" stroke=\"#444\"/>\n";
      s += "<text x=\"" + num(px(t)) + "\" y=\"" + num(kTop + ph + 16) + "\" text-anchor=\"middle\" font-size=\"10\">" +
           tick_label(t, xstep) + "</text>\n";
    }
    s += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
    std::string pts;
    for (size_t j = 0; j < p.x.size(); j++) pts += (j ? " " : "") + num(px(p.x[j])) + "," + num(py(p.y[j]));
    const char* color = kColors[i % (sizeof kColors / sizeof *kColors)];
    s += "<polyline fill=\"none\" stroke=\"" + std::string(color) + "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
    if (p.x.size() == 1)  // a lone point draws no line
      s += "<circle cx=\"" + num(px(p.x[0])) + "\" cy=\"" + num(py(p.y[0])) + "\" r=\"2.5\" fill=\"" + color + "\"/>\n";
    s += "</g>\n";
  }
  s += "</svg>\n";
  return s;
}

}  // namespace r1
