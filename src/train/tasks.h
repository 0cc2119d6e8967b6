// Verifiable tasks for the R1 recipe, generated in C++: multi-digit addition and Countdown (make a
// target from given numbers with + − × ÷). Each problem has a question typed as a person would
// type it, a worked solution (the reasoning R1 puts inside <think>…</think>) and an exact answer.
// A hash of the problem decides its split, so the held-out problems are never generated for
// training. Rewards are strict rules (TRAINING.md §1.2, §5.4): format = the completion is
// reasoning, one "</think>", then a non-empty answer; accuracy = the answer's final number is the
// exact result (Countdown: and the answer's expression uses only the given numbers and evaluates
// to the target; Other: the answer declines).
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace r1::train {

// Other: requests outside the two skills (chat, other arithmetic, general questions), answered
// with a short honest refusal. Mixed: 60% addition, 30% Countdown, 10% other (one model, both
// skills, and it knows their edge).
enum class TaskKind { Addition, Countdown, Other, Mixed };
enum class Split { Train, Heldout };

struct TaskSpec {
  TaskKind kind = TaskKind::Addition;
  int min_digits = 1;  // Addition: operand lengths; Countdown: unused
  int max_digits = 3;
  int n_numbers = 3;   // Countdown: how many numbers are given (2..5)
};

struct Problem {
  TaskKind kind = TaskKind::Addition;
  std::string question;          // "What is 48213 + 90377?"
  std::vector<int64_t> numbers;  // the operands / the given numbers
  int64_t target = 0;            // the exact answer (Countdown: the number to make)
  std::string reasoning;         // a correct worked solution, without the think tags
  std::string answer;            // the text after </think> ("48213 + 90377 = 138590")
};

// The completion the model is trained to write after the generation prompt (which already ends
// in "<think>\n"): reasoning, "\n</think>\n\n", answer.
std::string reference_completion(const Problem& p);

// Pretraining text is not all careful work: some answers are given directly (guessed, as much web
// text does) and some worked solutions hold one slip that is carried into a wrong answer. RL can
// only amplify behaviours the base model has seen (TRAINING.md §5.1), and this mixture gives it
// something to choose between. Fractions of the completions; the rest are reference completions.
struct CorpusMix {
  double direct = 0;  // reasoning is only the closing "so N" line (no columns / steps)
  double slip = 0;    // addition: one column sum off by one, carried through to the answer
};
std::string pretraining_completion(const Problem& p, const CorpusMix& mix, std::mt19937_64& rng);

// A random problem of the split (drawn until its hash bucket matches). Throws for a bad spec.
Problem make_problem(const TaskSpec& spec, Split split, std::mt19937_64& rng);
// The split a problem belongs to (10% of problems by hash are held out).
Split split_of(const Problem& p);

// Parses a task name: "addition" / "add", "countdown", "other" or "mixed".
TaskKind parse_task(const std::string& name);

struct Reward {
  double format = 0;    // 1: reasoning, exactly one </think>, then a non-empty answer
  double accuracy = 0;  // 1: the exact answer
  double total() const { return format + accuracy; }
};
// completion: the generated text after the generation prompt (EOS not included); truncated:
// generation hit its length limit (scores 0).
Reward score_completion(const Problem& p, const std::string& completion, bool truncated);

// The last integer in text (an optional leading '-' included), if any.
std::optional<int64_t> last_integer(const std::string& text);
// Evaluates an integer expression of + − × (* or ×) ÷ (/ or ÷, exact only) and parentheses; fills
// used with the literals in order. nullopt on a syntax error, inexact division or overflow.
std::optional<int64_t> eval_expression(const std::string& expr, std::vector<int64_t>* used);

}  // namespace r1::train
