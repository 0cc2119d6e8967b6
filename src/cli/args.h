// Command-line flags in llama.cpp's style (-m FILE, --temp 0.6, --flag). Each command declares
// its flags in a table; the same table drives parsing, validation and the --help text, so the
// help always lists every flag with its default.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace r1::cli {

enum class FlagKind { String, Int, Float, Bool };

struct Flag {
  std::string long_name;   // "--temp"
  std::string short_name;  // "-t" or ""
  FlagKind kind;
  std::string def;         // default as text ("" = none); shown in --help
  std::string help;
  std::string metavar = "";  // "N", "PATH", ...
  bool repeatable = false;   // may be given several times; all() returns every value
};

class Args {
 public:
  Args(std::string command, std::string usage, std::vector<Flag> flags);

  // Parses argv (after the command word). Throws r1::Error for an unknown flag, a missing or
  // malformed value. Sets help_requested() for -h/--help.
  void parse(const std::vector<std::string>& argv);
  bool help_requested() const { return help_; }
  // parse(), then on -h/--help print the help to stdout and return true (the command then exits 0).
  bool parse_or_help(const std::vector<std::string>& argv);
  std::string help_text() const;

  bool has(const std::string& long_name) const;  // given on the command line
  std::string str(const std::string& long_name) const;
  int64_t i64(const std::string& long_name) const;
  double f64(const std::string& long_name) const;
  bool flag(const std::string& long_name) const;
  std::vector<std::string> all(const std::string& long_name) const;  // every value of a repeatable flag
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  const Flag& find(const std::string& name) const;
  std::string command_, usage_;
  std::vector<Flag> flags_;
  std::map<std::string, std::string> values_;               // last value of each flag
  std::map<std::string, std::vector<std::string>> repeated_;  // every value, in order
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace r1::cli
