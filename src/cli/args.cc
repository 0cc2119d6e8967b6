#include "cli/args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace r1::cli {

Args::Args(std::string command, std::string usage, std::vector<Flag> flags)
    : command_(std::move(command)), usage_(std::move(usage)), flags_(std::move(flags)) {}

const Flag& Args::find(const std::string& name) const {
  for (const Flag& f : flags_)
    if (f.long_name == name || (!f.short_name.empty() && f.short_name == name)) return f;
  fail("r1 ", command_, ": unknown flag ", name, " (see r1 ", command_, " --help)");
}

void Args::parse(const std::vector<std::string>& argv) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      positional_.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    const Flag& f = find(name);
    if (f.kind == FlagKind::Bool) {
      values_[f.long_name] = inline_value ? value : "true";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argv.size()) fail("r1 ", command_, ": flag ", name, " needs a value");
      value = argv[++i];
    }
    // Validate numbers now so the error names the flag.
    if (f.kind == FlagKind::Int || f.kind == FlagKind::Float) {
      errno = 0;
      char* end = nullptr;
      if (f.kind == FlagKind::Int)
        (void)std::strtoll(value.c_str(), &end, 10);
      else
        (void)std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || errno == ERANGE)
        fail("r1 ", command_, ": flag ", name, " expects ", f.kind == FlagKind::Int ? "an integer" : "a number",
             ", got '", value, "'");
    }
    values_[f.long_name] = value;
    repeated_[f.long_name].push_back(value);
  }
}

bool Args::parse_or_help(const std::vector<std::string>& argv) {
  parse(argv);
  if (help_) std::fputs(help_text().c_str(), stdout);
  return help_;
}

std::vector<std::string> Args::all(const std::string& n) const {
  auto it = repeated_.find(find(n).long_name);
  return it != repeated_.end() ? it->second : std::vector<std::string>{};
}

bool Args::has(const std::string& n) const { return values_.count(find(n).long_name) != 0; }

std::string Args::str(const std::string& n) const {
  const Flag& f = find(n);
  auto it = values_.find(f.long_name);
  return it != values_.end() ? it->second : f.def;
}

int64_t Args::i64(const std::string& n) const {
  std::string s = str(n);
  if (s.empty()) fail("r1 ", command_, ": flag ", n, " has no value");
  return std::strtoll(s.c_str(), nullptr, 10);
}

double Args::f64(const std::string& n) const {
  std::string s = str(n);
  if (s.empty()) fail("r1 ", command_, ": flag ", n, " has no value");
  return std::strtod(s.c_str(), nullptr);
}

bool Args::flag(const std::string& n) const {
  std::string s = str(n);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s.empty() || s == "false" || s == "0" || s == "no" || s == "off") return false;
  fail("r1 ", command_, ": flag ", n, " expects true/false, got '", s, "'");
}

std::string Args::help_text() const {
  std::ostringstream os;
  os << "usage: r1 " << command_ << " " << usage_ << "\n\nflags:\n";
  for (const Flag& f : flags_) {
    std::string left = "  " + (f.short_name.empty() ? std::string("    ") : f.short_name + ", ") + f.long_name;
    if (f.kind != FlagKind::Bool) left += " " + (f.metavar.empty() ? std::string("X") : f.metavar);
    os << left;
    if (left.size() < 30) os << std::string(30 - left.size(), ' ');
    else os << "\n" << std::string(30, ' ');
    os << f.help;
    if (!f.def.empty() && f.kind != FlagKind::Bool) os << " (default: " << f.def << ")";
    if (f.kind == FlagKind::Bool) os << " (default: " << (f.def == "true" ? "on" : "off") << ")";
    if (f.repeatable) os << " (repeatable)";
    os << "\n";
  }
  os << "  -h, --help                  show this help\n";
  return os.str();
}

}  // namespace r1::cli
