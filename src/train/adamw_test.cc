#include "train/adamw.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace r1::train {
namespace {

TEST(TrainAdamW, ScheduleWarmsUpThenFollowsTheCosine) {
  OptimConfig o;
  o.lr = 1e-3;
  o.warmup = 10;
  o.total_steps = 110;
  o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(o, 9), 1e-3);
  EXPECT_DOUBLE_EQ(lr_at(o, 10), 1e-3);
  EXPECT_NEAR(lr_at(o, 60), 1e-4 + 0.9e-3 * 0.5, 1e-15);  // half way down the cosine
  EXPECT_NEAR(lr_at(o, 110), 1e-4, 1e-15);
  EXPECT_NEAR(lr_at(o, 500), 1e-4, 1e-15);  // stays at the floor
}

// A layout of one matrix (decayed) and one norm (not).
ParamLayout two_tensor_layout() {
  ParamLayout l;
  l.tensors = {{"w", {2, 2}, 0, 4, true}, {"n", {2}, 4, 2, false}};
  l.total = 6;
  return l;
}

TEST(TrainAdamW, FirstStepMovesEachWeightByLrAgainstTheGradientSign) {
  OptimConfig o;
  o.lr = 0.01;
  o.weight_decay = 0;
  o.grad_clip = 0;
  AdamW opt(two_tensor_layout(), o);
  std::vector<float> p{1, 2, 3, 4, 5, 6}, g{0.5f, -2, 1e-3f, -1e-3f, 3, -3};
  opt.step(p.data(), g.data());
  // With bias correction, step 1 is lr·g/(|g| + eps) ≈ lr·sign(g).
  const std::vector<float> expect{0.99f, 2.01f, 2.99f, 4.01f, 4.99f, 6.01f};
  for (size_t i = 0; i < p.size(); i++) EXPECT_NEAR(p[i], expect[i], 1e-5) << i;
}

TEST(TrainAdamW, DecayOnlyTouchesMarkedTensorsAndClippingBoundsTheNorm) {
  OptimConfig o;
  o.lr = 0.1;
  o.weight_decay = 0.5;
  o.grad_clip = 1.0;
  AdamW opt(two_tensor_layout(), o);
  std::vector<float> p(6, 1.0f), g(6, 0.0f);
  g[0] = 30;
  g[1] = 40;  // norm 50, clipped to 1
  const double norm = opt.step(p.data(), g.data());
  EXPECT_DOUBLE_EQ(norm, 50.0);
  EXPECT_NEAR(p[2], 1.0f - 0.1f * 0.5f, 1e-6);  // decay only, zero gradient
  EXPECT_FLOAT_EQ(p[4], 1.0f);                  // a norm: no decay
  EXPECT_NEAR(opt.m[0], 0.1f * 0.6f, 1e-6);     // (1 − β1)·clipped gradient
  std::vector<float> bad(6, NAN);
  EXPECT_THROW(opt.step(p.data(), bad.data()), Error);
}

}  // namespace
}  // namespace r1::train
