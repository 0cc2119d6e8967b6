#include "train/tasks.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "core/error.h"

namespace r1::train {
namespace {

TEST(TrainTasks, AdditionProblemsAreCorrect) {
  std::mt19937_64 rng(1);
  const TaskSpec spec{TaskKind::Addition, 3, 6, 3};
  for (int i = 0; i < 200; i++) {
    const Problem p = make_problem(spec, Split::Train, rng);
    ASSERT_EQ(p.numbers.size(), 2u);
    EXPECT_EQ(p.target, p.numbers[0] + p.numbers[1]);
    EXPECT_EQ(p.question, "What is " + std::to_string(p.numbers[0]) + " + " + std::to_string(p.numbers[1]) + "?");
    const Reward r = score_completion(p, reference_completion(p), false);
    EXPECT_EQ(r.format, 1.0);
    EXPECT_EQ(r.accuracy, 1.0) << reference_completion(p);
  }
  Problem p;
  p.kind = TaskKind::Addition;
  p.numbers = {48213, 90377};
  p.target = 138590;
  EXPECT_EQ(split_of(p), split_of(Problem{TaskKind::Addition, "", {90377, 48213}, 138590, "", ""}));
}

TEST(TrainTasks, AdditionReasoningSumsColumnsFromTheLeft) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 50; i++) {
    const Problem p = make_problem({TaskKind::Addition, 5, 5, 3}, Split::Train, rng);
    const std::string a = std::to_string(p.numbers[0]), b = std::to_string(p.numbers[1]);
    std::istringstream lines(p.reasoning);
    std::string line;
    int64_t total = 0;
    size_t column = 0;
    while (std::getline(lines, line) && line.rfind("so ", 0) != 0) {
      ASSERT_LT(column, a.size()) << p.reasoning;
      const int sum = (a[column] - '0') + (b[column] - '0');
      EXPECT_EQ(line, std::string(1, a[column]) + "+" + b[column] + "=" + std::to_string(sum)) << p.reasoning;
      total = total * 10 + sum;  // the carries resolve themselves
      column++;
    }
    EXPECT_EQ(column, 5u) << p.reasoning;
    EXPECT_EQ(total, p.target) << p.reasoning;
    EXPECT_EQ(line, "so " + std::to_string(p.target)) << p.reasoning;
  }
}

TEST(TrainTasks, AdditionPadsTheShorterNumber) {
  std::mt19937_64 rng(4);
  Problem p;
  do {
    p = make_problem({TaskKind::Addition, 2, 4, 3}, Split::Train, rng);
  } while (std::to_string(p.numbers[0]).size() == std::to_string(p.numbers[1]).size());
  const size_t longer = std::max(std::to_string(p.numbers[0]).size(), std::to_string(p.numbers[1]).size());
  EXPECT_EQ(std::count(p.reasoning.begin(), p.reasoning.end(), '\n'), long(longer)) << p.reasoning;
  EXPECT_EQ(p.reasoning.rfind("0+", 0) == 0 || p.reasoning.find("+0=") < p.reasoning.find('\n'), true) << p.reasoning;
}

TEST(TrainTasks, HeldOutSplitIsDisjointAndAboutATenth) {
  std::mt19937_64 rng(3);
  const TaskSpec spec{TaskKind::Addition, 1, 2, 3};
  std::set<std::pair<int64_t, int64_t>> train, held;
  for (int i = 0; i < 3000; i++) {
    Problem a = make_problem(spec, Split::Train, rng);
    train.insert({std::min(a.numbers[0], a.numbers[1]), std::max(a.numbers[0], a.numbers[1])});
    Problem b = make_problem(spec, Split::Heldout, rng);
    EXPECT_EQ(split_of(b), Split::Heldout);
    held.insert({std::min(b.numbers[0], b.numbers[1]), std::max(b.numbers[0], b.numbers[1])});
  }
  for (const auto& h : held) EXPECT_EQ(train.count(h), 0u);
  // Count the split over every 2-digit pair: about 10% held out.
  int n_held = 0, n = 0;
  for (int a = 10; a < 100; a++) {
    for (int b = 10; b < 100; b++, n++) {
      n_held += split_of(Problem{TaskKind::Addition, "", {a, b}, a + b, "", ""}) == Split::Heldout;
    }
  }
  EXPECT_GT(n_held, n / 20);
  EXPECT_LT(n_held, n / 6);
}

TEST(TrainTasks, CountdownProblemsAreSolvableByTheirAnswer) {
  std::mt19937_64 rng(4);
  for (int i = 0; i < 200; i++) {
    const Problem p = make_problem({TaskKind::Countdown, 1, 3, 4}, Split::Train, rng);
    ASSERT_EQ(p.numbers.size(), 4u);
    EXPECT_GE(p.target, 1);
    EXPECT_LE(p.target, 1000);
    EXPECT_EQ(p.question.rfind("Using ", 0), 0u);
    const Reward r = score_completion(p, reference_completion(p), false);
    EXPECT_EQ(r.total(), 2.0) << p.question << "\n" << reference_completion(p);
  }
}

TEST(TrainTasks, RewardsAreStrict) {
  Problem p;
  p.kind = TaskKind::Addition;
  p.numbers = {48213, 90377};
  p.target = 138590;
  auto score = [&](const std::string& s, bool truncated = false) { return score_completion(p, s, truncated); };
  EXPECT_EQ(score("3+7=10\n</think>\n\nThe answer is 138590.").total(), 2.0);
  EXPECT_EQ(score("3+7=10\n</think>\n\nThe answer is 138590.", true).total(), 0.0);  // truncated
  EXPECT_EQ(score("3+7=10\n</think>\n\n138591").format, 1.0);
  EXPECT_EQ(score("3+7=10\n</think>\n\n138591").accuracy, 0.0);
  EXPECT_EQ(score("The answer is 138590").total(), 0.0);             // no </think>
  EXPECT_EQ(score("\n</think>\n\n138590").total(), 0.0);             // empty reasoning
  EXPECT_EQ(score("x</think>").total(), 0.0);                        // empty answer
  EXPECT_EQ(score("x</think>138590</think>138590").total(), 0.0);    // two closers
  EXPECT_EQ(score("x<think>y</think>138590").total(), 0.0);          // a second opener
  EXPECT_EQ(score("x</think>It is 138590, or 5.").accuracy, 0.0);   // the final number counts

  Problem c;
  c.kind = TaskKind::Countdown;
  c.numbers = {3, 7, 25, 50};
  c.target = 375;
  auto cd = [&](const std::string& s) { return score_completion(c, s, false); };
  EXPECT_EQ(cd("t</think>(50*7)+25 = 375").accuracy, 1.0);
  EXPECT_EQ(cd("t</think>(50 × 7) + 25 = 375").accuracy, 1.0);
  EXPECT_EQ(cd("t</think>375").accuracy, 0.0);                  // no expression
  EXPECT_EQ(cd("t</think>(50*7)+25+0 = 375").accuracy, 0.0);    // 0 is not given
  EXPECT_EQ(cd("t</think>(50*7)+(50/2) = 375").accuracy, 0.0);  // 50 used twice, 2 not given
  EXPECT_EQ(cd("t</think>50*7+20 = 375").accuracy, 0.0);        // wrong value
}

TEST(TrainTasks, PretrainingMixtureHasDirectAnswersAndCarriedSlips) {
  const TaskSpec spec{TaskKind::Addition, 3, 5, 3};
  std::mt19937_64 rng(7);
  int direct = 0, slipped = 0, clean = 0;
  for (int i = 0; i < 400; i++) {
    const Problem p = make_problem(spec, Split::Train, rng);
    const std::string c = pretraining_completion(p, {0.3, 0.3}, rng);
    const Reward r = score_completion(p, c, false);
    EXPECT_EQ(r.format, 1.0) << c;
    if (c == reference_completion(p)) {
      clean++;
      continue;
    }
    if (c.rfind("so ", 0) == 0) {  // direct: only the closing line, and the right answer
      direct++;
      EXPECT_EQ(r.accuracy, 1.0) << c;
      continue;
    }
    // A slip: the first line that differs from the reference has the same column digits and a sum
    // one off; the lines after it follow from it (their carry), and the answer follows the work.
    slipped++;
    EXPECT_EQ(r.accuracy, 0.0) << c;
    const size_t close = c.find("</think>");
    const std::string work = c.substr(0, close);
    EXPECT_EQ(last_integer(work), last_integer(c.substr(close))) << c;
    std::istringstream got(work), want(p.reasoning);
    for (std::string g, w; std::getline(want, w) && std::getline(got, g);) {
      if (g == w) continue;
      const size_t eq_g = g.find('='), eq_w = w.find('=');
      ASSERT_NE(eq_g, std::string::npos) << c;
      ASSERT_NE(eq_w, std::string::npos) << c;
      EXPECT_EQ(g.substr(0, eq_g), w.substr(0, eq_w)) << c;
      EXPECT_EQ(std::abs(std::stoi(g.substr(eq_g + 1)) - std::stoi(w.substr(eq_w + 1))), 1) << c;
      break;
    }
  }
  EXPECT_GT(direct, 80);
  EXPECT_GT(slipped, 80);
  EXPECT_GT(clean, 80);
  std::mt19937_64 rng2(7);
  const Problem p = make_problem(spec, Split::Train, rng2);
  EXPECT_EQ(pretraining_completion(p, {}, rng2), reference_completion(p));
}

TEST(TrainTasks, MixedDrawsEveryKind) {
  std::mt19937_64 rng(3);
  int count[3] = {0, 0, 0};
  for (int i = 0; i < 300; i++) {
    const Problem p = make_problem({TaskKind::Mixed, 1, 3, 3}, Split::Train, rng);
    count[int(p.kind)]++;
    EXPECT_EQ(score_completion(p, reference_completion(p), false).total(), 2.0) << p.question;
  }
  EXPECT_GT(count[int(TaskKind::Addition)], 140);
  EXPECT_GT(count[int(TaskKind::Countdown)], 60);
  EXPECT_GT(count[int(TaskKind::Other)], 15);
  EXPECT_EQ(parse_task("mixed"), TaskKind::Mixed);
  EXPECT_EQ(parse_task("other"), TaskKind::Other);
}

TEST(TrainTasks, OtherRequestsAreDeclinedHonestly) {
  std::mt19937_64 rng(5);
  bool saw_other_arithmetic = false;
  for (int i = 0; i < 100; i++) {
    const Problem p = make_problem({TaskKind::Other, 1, 3, 3}, Split::Train, rng);
    EXPECT_EQ(p.question.find(" + "), std::string::npos) << p.question;  // never an addition
    saw_other_arithmetic = saw_other_arithmetic || p.question.find(" * ") != std::string::npos;
    EXPECT_NE(p.answer.find("cannot"), std::string::npos);
  }
  EXPECT_TRUE(saw_other_arithmetic);
  std::mt19937_64 mix_rng(6);
  const Problem decline = make_problem({TaskKind::Other, 1, 3, 3}, Split::Train, mix_rng);
  for (int i = 0; i < 20; i++) EXPECT_EQ(pretraining_completion(decline, {0.5, 0.5}, mix_rng), reference_completion(decline));
  Problem p;
  p.kind = TaskKind::Other;
  EXPECT_EQ(score_completion(p, "Not my task.\n</think>\n\nI cannot answer that.", false).accuracy, 1.0);
  EXPECT_EQ(score_completion(p, "Hmm.\n</think>\n\n42", false).accuracy, 0.0);
}

TEST(TrainTasks, ExpressionsAndNumbersParse) {
  std::vector<int64_t> used;
  EXPECT_EQ(eval_expression("2 + 3*(4-1)", &used), 11);
  EXPECT_EQ(used, (std::vector<int64_t>{2, 3, 4, 1}));
  EXPECT_EQ(eval_expression("12/4", nullptr), 3);
  EXPECT_EQ(eval_expression("7/2", nullptr), std::nullopt);
  EXPECT_EQ(eval_expression("(1+2", nullptr), std::nullopt);
  EXPECT_EQ(eval_expression("99999999999*99999999999", nullptr), std::nullopt);
  EXPECT_EQ(last_integer("is -42."), -42);
  EXPECT_EQ(last_integer("none"), std::nullopt);
  std::mt19937_64 rng_for_errors(1);
  EXPECT_THROW(make_problem({TaskKind::Addition, 0, 3, 3}, Split::Train, rng_for_errors), Error);
  EXPECT_THROW(parse_task("sudoku"), Error);
}

}  // namespace
}  // namespace r1::train
