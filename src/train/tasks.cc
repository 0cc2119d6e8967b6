#include "train/tasks.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace r1::train {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

int64_t random_with_digits(int digits, std::mt19937_64& rng) {
  int64_t lo = 1;
  for (int i = 1; i < digits; i++) lo *= 10;
  const int64_t hi = lo * 10 - 1;
  return std::uniform_int_distribution<int64_t>(digits == 1 ? 0 : lo, hi)(rng);
}

// Column addition from the least significant digit, one line per column: "1+7+1=9".
std::string addition_reasoning(int64_t a, int64_t b) {
  std::string out;
  const std::string sa = std::to_string(a), sb = std::to_string(b);
  int carry = 0;
  for (size_t i = 0; i < std::max(sa.size(), sb.size()); i++) {
    std::string line;
    int sum = carry;
    for (const std::string* s : {&sa, &sb}) {
      if (i >= s->size()) continue;
      const int d = (*s)[s->size() - 1 - i] - '0';
      line += (line.empty() ? "" : "+") + std::to_string(d);
      sum += d;
    }
    if (carry) line += "+1";
    out += line + "=" + std::to_string(sum) + "\n";
    carry = sum / 10;
  }
  if (carry) out += "carry 1\n";
  out += "so " + std::to_string(a + b);
  return out;
}

Problem make_addition(const TaskSpec& spec, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> len(spec.min_digits, spec.max_digits);
  const int64_t a = random_with_digits(len(rng), rng), b = random_with_digits(len(rng), rng);
  Problem p;
  p.kind = TaskKind::Addition;
  p.numbers = {a, b};
  p.target = a + b;
  p.question = "What is " + std::to_string(a) + " + " + std::to_string(b) + "?";
  p.reasoning = addition_reasoning(a, b);
  p.answer = std::to_string(a) + " + " + std::to_string(b) + " = " + std::to_string(a + b);
  return p;
}

bool has_operator(const std::string& e) { return e.find_first_of("+-*") != std::string::npos; }

// Combines the numbers left to right with random operations, so every problem is solvable.
std::optional<Problem> try_countdown(const TaskSpec& spec, std::mt19937_64& rng) {
  static const int64_t kBig[] = {25, 50, 75, 100};
  std::vector<int64_t> nums;
  for (int i = 0; i < spec.n_numbers; i++) {
    nums.push_back(rng() % 4 == 0 ? kBig[rng() % 4] : int64_t(1 + rng() % 10));
  }
  int64_t acc = nums[0];
  std::string expr = std::to_string(nums[0]), reasoning;
  for (size_t i = 1; i < nums.size(); i++) {
    const int64_t n = nums[i];
    const int op = int(rng() % 3);
    int64_t next;
    char sym;
    if (op == 0) {
      next = acc + n, sym = '+';
    } else if (op == 1 && acc > n) {
      next = acc - n, sym = '-';
    } else {
      next = acc * n, sym = '*';
    }
    reasoning += std::to_string(acc) + sym + std::to_string(n) + "=" + std::to_string(next) + "\n";
    expr = (has_operator(expr) ? "(" + expr + ")" : expr) + sym + std::to_string(n);
    acc = next;
  }
  if (acc < 1 || acc > 1000) return std::nullopt;
  Problem p;
  p.kind = TaskKind::Countdown;
  p.target = acc;
  p.answer = expr + " = " + std::to_string(acc);
  p.reasoning = reasoning + "so " + std::to_string(acc);
  std::sort(nums.begin(), nums.end());
  p.numbers = nums;
  std::string list;
  for (size_t i = 0; i < nums.size(); i++) {
    list += (i == 0 ? "" : i + 1 == nums.size() ? " and " : ", ") + std::to_string(nums[i]);
  }
  p.question = "Using " + list + ", make " + std::to_string(acc) + ".";
  return p;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) b++;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) e--;
  return s.substr(b, e - b);
}

// Recursive-descent parser over one expression string.
class ExprParser {
 public:
  ExprParser(const std::string& s, std::vector<int64_t>* used) : s_(s), used_(used) {}
  std::optional<int64_t> parse() {
    auto v = sum();
    skip();
    if (!v || pos_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  static constexpr int64_t kLimit = int64_t(1) << 40;  // any larger value is not a task answer

  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) pos_++;
  }
  // Multi-byte × and ÷ count as * and /.
  char peek_op() {
    skip();
    if (s_.compare(pos_, 2, "\xC3\x97") == 0) return '*';
    if (s_.compare(pos_, 2, "\xC3\xB7") == 0) return '/';
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  void take_op() { pos_ += (static_cast<unsigned char>(s_[pos_]) == 0xC3) ? 2 : 1; }

  std::optional<int64_t> sum() {
    auto v = product();
    for (char op = peek_op(); v && (op == '+' || op == '-'); op = peek_op()) {
      take_op();
      auto r = product();
      if (!r) return std::nullopt;
      int64_t out = 0;
      if (op == '+' ? __builtin_add_overflow(*v, *r, &out) : __builtin_sub_overflow(*v, *r, &out)) return std::nullopt;
      v = out;
      if (std::abs(*v) > kLimit) return std::nullopt;
    }
    return v;
  }
  std::optional<int64_t> product() {
    auto v = atom();
    for (char op = peek_op(); v && (op == '*' || op == '/'); op = peek_op()) {
      take_op();
      auto r = atom();
      if (!r) return std::nullopt;
      if (op == '*') {
        int64_t out = 0;
        if (__builtin_mul_overflow(*v, *r, &out)) return std::nullopt;  // hostile input, not a task answer
        v = out;
      } else {
        if (*r == 0 || *v % *r != 0) return std::nullopt;  // Countdown allows exact division only
        v = *v / *r;
      }
      if (std::abs(*v) > kLimit) return std::nullopt;
    }
    return v;
  }
  std::optional<int64_t> atom() {
    skip();
    if (pos_ < s_.size() && s_[pos_] == '(') {
      pos_++;
      auto v = sum();
      skip();
      if (!v || pos_ >= s_.size() || s_[pos_] != ')') return std::nullopt;
      pos_++;
      return v;
    }
    int64_t v = 0;
    size_t start = pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      v = v * 10 + (s_[pos_++] - '0');
      if (v > kLimit) return std::nullopt;
    }
    if (pos_ == start) return std::nullopt;
    if (used_) used_->push_back(v);
    return v;
  }

  const std::string& s_;
  std::vector<int64_t>* used_;
  size_t pos_ = 0;
};

}  // namespace

std::string reference_completion(const Problem& p) { return p.reasoning + "\n</think>\n\n" + p.answer; }

Split split_of(const Problem& p) {
  std::vector<int64_t> n = p.numbers;
  std::sort(n.begin(), n.end());  // a + b and b + a share a split
  std::string key = p.kind == TaskKind::Addition ? "add" : "countdown";
  for (int64_t x : n) key += ":" + std::to_string(x);
  key += "=" + std::to_string(p.target);
  return fnv1a(key) % 10 == 0 ? Split::Heldout : Split::Train;
}

Problem make_problem(const TaskSpec& spec, Split split, std::mt19937_64& rng) {
  if (spec.kind == TaskKind::Addition && (spec.min_digits < 1 || spec.max_digits > 15 || spec.min_digits > spec.max_digits)) {
    fail("task: addition digits must satisfy 1 <= min <= max <= 15 (got ", spec.min_digits, "..", spec.max_digits, ")");
  }
  if (spec.kind == TaskKind::Countdown && (spec.n_numbers < 2 || spec.n_numbers > 5)) {
    fail("task: countdown takes 2 to 5 numbers (got ", spec.n_numbers, ")");
  }
  for (int attempt = 0; attempt < 100000; attempt++) {
    std::optional<Problem> p =
        spec.kind == TaskKind::Addition ? std::optional<Problem>(make_addition(spec, rng)) : try_countdown(spec, rng);
    if (p && split_of(*p) == split) return *p;
  }
  fail("task: could not draw a problem of the requested split (the problem space is too small)");
}

TaskKind parse_task(const std::string& name) {
  if (name == "addition" || name == "add") return TaskKind::Addition;
  if (name == "countdown") return TaskKind::Countdown;
  fail("unknown task '", name, "' (addition, countdown)");
}

std::optional<int64_t> last_integer(const std::string& text) {
  size_t end = text.size();
  while (end > 0 && !std::isdigit(static_cast<unsigned char>(text[end - 1]))) end--;
  if (end == 0) return std::nullopt;
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(text[begin - 1]))) begin--;
  if (end - begin > 17) return std::nullopt;
  int64_t v = std::stoll(text.substr(begin, end - begin));
  if (begin > 0 && text[begin - 1] == '-') v = -v;
  return v;
}

std::optional<int64_t> eval_expression(const std::string& expr, std::vector<int64_t>* used) {
  return ExprParser(expr, used).parse();
}

Reward score_completion(const Problem& p, const std::string& completion, bool truncated) {
  Reward r;
  if (truncated) return r;
  const size_t close = completion.find("</think>");
  if (close == std::string::npos || completion.find("</think>", close + 1) != std::string::npos ||
      completion.find("<think>") != std::string::npos) {
    return r;
  }
  const std::string reasoning = trim(completion.substr(0, close));
  const std::string answer = trim(completion.substr(close + 8));
  if (reasoning.empty() || answer.empty()) return r;
  r.format = 1;
  const std::optional<int64_t> final_number = last_integer(answer);
  if (!final_number || *final_number != p.target) return r;
  if (p.kind == TaskKind::Addition) {
    r.accuracy = 1;
    return r;
  }
  // Countdown: the expression before the last '=' must use only the given numbers (each at most
  // once) and evaluate to the target.
  const size_t eq = answer.rfind('=');
  if (eq == std::string::npos) return r;
  std::vector<int64_t> used;
  const std::optional<int64_t> value = eval_expression(answer.substr(0, eq), &used);
  if (!value || *value != p.target) return r;
  std::vector<int64_t> pool = p.numbers;
  for (int64_t u : used) {
    auto it = std::find(pool.begin(), pool.end(), u);
    if (it == pool.end()) return r;
    pool.erase(it);
  }
  r.accuracy = 1;
  return r;
}

}  // namespace r1::train
