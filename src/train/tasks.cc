#include "train/tasks.h"

#include <algorithm>
#include <cctype>
#include <iterator>

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

// Column sums from the most significant column, the shorter number padded with zeros, one line per
// column ("4+9=13", then "8+0=8", ...), then "so N". Each line reads the next digit of each
// operand (a copy a small transformer learns quickly), and N = Σ sum_i·10^(L−1−i) needs only a
// look ahead at the next lines for the carries. With slip_column >= 0 that column's sum is
// written one off (by slip_delta) and N follows the slip; *result gets N.
std::string addition_reasoning(int64_t a, int64_t b, int slip_column, int slip_delta, int64_t* result) {
  std::string sa = std::to_string(a), sb = std::to_string(b);
  const size_t columns = std::max(sa.size(), sb.size());
  sa.insert(0, columns - sa.size(), '0');
  sb.insert(0, columns - sb.size(), '0');
  std::string out;
  int64_t n = 0;
  for (size_t i = 0; i < columns; i++) {
    int sum = (sa[i] - '0') + (sb[i] - '0');
    if (int(i) == slip_column) sum = (sum + slip_delta < 0 || sum + slip_delta > 18) ? sum - slip_delta : sum + slip_delta;
    out += std::string(1, sa[i]) + "+" + sb[i] + "=" + std::to_string(sum) + "\n";
    n = n * 10 + sum;
  }
  *result = n;
  out += "so " + std::to_string(n);
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
  int64_t sum = 0;
  p.reasoning = addition_reasoning(a, b, -1, 0, &sum);
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

// Requests a person might type that are outside the two skills: greetings, general questions, and
// arithmetic that is not addition (so the model learns where its skill ends, not "numbers → add").
Problem make_other(std::mt19937_64& rng) {
  static const char* kTopics[] = {"the moon", "France", "cats", "music", "the ocean", "Python", "history", "rain",
                                  "chess", "coffee", "trees", "winter", "robots", "bread", "the sun", "friendship"};
  static const char* kFrames[] = {"Tell me about %s.", "What is %s?", "Write a poem about %s.", "Can you explain %s?",
                                  "Who invented %s?", "Why is %s important?", "Give me a fact about %s.",
                                  "How do I learn %s?", "Translate %s into French.", "Do you like %s?"};
  static const char* kChat[] = {"Hi", "Hello!", "hello", "Hey there", "Who are you?", "What can you do?",
                                "Thanks!", "Good morning", "How are you?", "Tell me a joke.", "What time is it?", "?"};
  static const char* kOps[] = {" * ", " - ", " / ", " times ", " minus "};
  Problem p;
  p.kind = TaskKind::Other;
  const uint64_t pick = rng() % 10;
  if (pick < 3) {
    p.question = kChat[rng() % std::size(kChat)];
  } else if (pick < 5) {
    p.question = "What is " + std::to_string(rng() % 1000) + kOps[rng() % std::size(kOps)] + std::to_string(rng() % 1000) + "?";
  } else {
    const std::string frame = kFrames[rng() % std::size(kFrames)];
    const size_t at = frame.find("%s");
    p.question = frame.substr(0, at) + kTopics[rng() % std::size(kTopics)] + frame.substr(at + 2);
  }
  p.reasoning = "This is not an addition or a Countdown puzzle.";
  p.answer = "I can only add whole numbers and solve Countdown puzzles, so I cannot answer that.";
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

std::string pretraining_completion(const Problem& p, const CorpusMix& mix, std::mt19937_64& rng) {
  const double u = std::uniform_real_distribution<double>(0, 1)(rng);
  if (p.kind == TaskKind::Other) return reference_completion(p);  // nothing to compute, nothing to guess
  if (u < mix.direct) return "so " + std::to_string(p.target) + "\n</think>\n\n" + p.answer;
  if (u < mix.direct + mix.slip && p.kind == TaskKind::Addition) {
    const int64_t a = p.numbers[0], b = p.numbers[1];
    const int columns = int(std::max(std::to_string(a).size(), std::to_string(b).size()));
    const int column = int(rng() % uint64_t(columns));
    const int delta = rng() % 2 ? 1 : -1;
    int64_t wrong = 0;
    const std::string reasoning = addition_reasoning(a, b, column, delta, &wrong);
    return reasoning + "\n</think>\n\n" + std::to_string(a) + " + " + std::to_string(b) + " = " + std::to_string(wrong);
  }
  return reference_completion(p);
}

Split split_of(const Problem& p) {
  std::vector<int64_t> n = p.numbers;
  std::sort(n.begin(), n.end());  // a + b and b + a share a split
  if (p.kind == TaskKind::Other) return fnv1a("other:" + p.question) % 10 == 0 ? Split::Heldout : Split::Train;
  std::string key = p.kind == TaskKind::Addition ? "add" : "countdown";
  for (int64_t x : n) key += ":" + std::to_string(x);
  key += "=" + std::to_string(p.target);
  return fnv1a(key) % 10 == 0 ? Split::Heldout : Split::Train;
}

Problem make_problem(const TaskSpec& spec, Split split, std::mt19937_64& rng) {
  if (spec.kind == TaskKind::Mixed) {
    TaskSpec one = spec;
    const uint64_t pick = rng() % 10;
    one.kind = pick < 6 ? TaskKind::Addition : pick < 9 ? TaskKind::Countdown : TaskKind::Other;
    return make_problem(one, split, rng);
  }
  if (spec.kind == TaskKind::Addition && (spec.min_digits < 1 || spec.max_digits > 15 || spec.min_digits > spec.max_digits)) {
    fail("task: addition digits must satisfy 1 <= min <= max <= 15 (got ", spec.min_digits, "..", spec.max_digits, ")");
  }
  if (spec.kind == TaskKind::Countdown && (spec.n_numbers < 2 || spec.n_numbers > 5)) {
    fail("task: countdown takes 2 to 5 numbers (got ", spec.n_numbers, ")");
  }
  for (int attempt = 0; attempt < 100000; attempt++) {
    std::optional<Problem> p = spec.kind == TaskKind::Addition ? std::optional<Problem>(make_addition(spec, rng))
                               : spec.kind == TaskKind::Other  ? std::optional<Problem>(make_other(rng))
                                                               : try_countdown(spec, rng);
    if (p && split_of(*p) == split) return *p;
  }
  fail("task: could not draw a problem of the requested split (the problem space is too small)");
}

TaskKind parse_task(const std::string& name) {
  if (name == "addition" || name == "add") return TaskKind::Addition;
  if (name == "countdown") return TaskKind::Countdown;
  if (name == "other") return TaskKind::Other;
  if (name == "mixed") return TaskKind::Mixed;
  fail("unknown task '", name, "' (addition, countdown, other, mixed)");
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
  if (p.kind == TaskKind::Other) {
    r.accuracy = answer.find("cannot") != std::string::npos ? 1 : 0;
    return r;
  }
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
