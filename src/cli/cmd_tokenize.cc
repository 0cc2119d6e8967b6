// r1 tokenize: the token ids of a text, one line, space-separated (optionally with pieces).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/tokenizer_loader.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {
std::string read_text(const std::string& file) {
  if (file == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream f(file, std::ios::binary);
  if (!f) fail("tokenize: cannot read ", file);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// A piece shown on one line: control bytes and invalid UTF-8 escaped.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) out += str("\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
    else out += static_cast<char>(c);
  }
  return out;
}
}  // namespace

int cmd_tokenize(const Argv& argv) {
  Args a("tokenize", "-m PATH [flags] TEXT",
         {{"--model", "-m", FlagKind::String, "", "a .gguf file, a HF model directory, or a directory/file with tokenizer.json", "PATH"},
          {"--file", "-f", FlagKind::String, "", "read the text from a file ('-' = stdin) instead of TEXT", "F"},
          {"--pieces", "", FlagKind::Bool, "", "print id:'piece' pairs instead of bare ids"},
          {"--no-bos", "", FlagKind::Bool, "", "do not add BOS even if the tokenizer's config asks for it"}});
  if (a.parse_or_help(argv)) return 0;
  if (a.str("--model").empty()) fail("tokenize: -m PATH is required");
  std::string text;
  if (a.has("--file")) {
    if (!a.positional().empty()) fail("tokenize: give either TEXT or --file, not both");
    text = read_text(a.str("--file"));
  } else {
    if (a.positional().empty()) fail("tokenize: no TEXT given (or use --file F / --file - for stdin)");
    for (size_t i = 0; i < a.positional().size(); ++i) text += (i ? " " : "") + a.positional()[i];
  }
  Tokenizer tok = load_tokenizer(a.str("--model"));
  std::vector<int32_t> ids = tok.encode(text, !a.flag("--no-bos"));
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
    if (a.flag("--pieces")) line += ":'" + printable(tok.piece(ids[i])) + "'";
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace r1::cli
