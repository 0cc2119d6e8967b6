#include "train/tasks.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"

namespace r1::train {
namespace {

TEST(TrainTasks, AdditionProblemsAreCorrectAndWorkedFromTheRight) {
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

TEST(TrainTasks, AdditionReasoningCarries) {
  std::mt19937_64 rng(2);
  Problem p;
  do {
    p = make_problem({TaskKind::Addition, 2, 2, 3}, Split::Train, rng);
  } while (p.target < 100);  // a final carry
  EXPECT_NE(p.reasoning.find("carry 1"), std::string::npos) << p.reasoning;
  EXPECT_NE(p.reasoning.find("so " + std::to_string(p.target)), std::string::npos);
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
