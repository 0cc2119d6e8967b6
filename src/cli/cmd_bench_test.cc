// r1 bench end to end: the JSON that tools written for llama-bench read, and the STREAM mode.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/gguf.h"

namespace {

const std::string kModel = std::string(R1_TEST_DATA_DIR) + "/models/qwen2-mini-q4_0.gguf";

// Runs `r1 <args>`, returns stdout; *code gets the exit status (124 after 300 s: a bench that runs
// away, e.g. a depth past the context no longer refused, fails the test instead of outliving it).
std::string r1(const std::string& args, int* code) {
  const std::string cmd = "timeout 300 " + std::string(R1_BINARY_DIR) + "/r1 " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = p ? pclose(p) : -1;
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(CmdBench, JsonHasLlamaBenchFieldsAndConsistentStats) {
  int code = 0;
  const std::string out = r1("bench -m " + kModel + " -p 16 -n 4 -t 1,2 -r 3 --json", &code);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json j = nlohmann::json::parse(out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 4u);  // (pp16, tg4) × (1, 2 threads), in llama-bench's order

  auto g = r1::GgufFile::open(kModel);
  int64_t bytes = 0, params = 0;
  for (const auto& t : g->tensors()) bytes += static_cast<int64_t>(t.nbytes), params += t.n_elements();

  const int expect[4][3] = {{16, 0, 1}, {0, 4, 1}, {16, 0, 2}, {0, 4, 2}};  // n_prompt, n_gen, n_threads
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& row = j[i];
    EXPECT_EQ(row["n_prompt"], expect[i][0]);
    EXPECT_EQ(row["n_gen"], expect[i][1]);
    EXPECT_EQ(row["n_threads"], expect[i][2]);
    EXPECT_EQ(row["model_filename"], kModel);
    EXPECT_EQ(row["model_size"], bytes);
    EXPECT_EQ(row["model_n_params"], params);
    EXPECT_EQ(row["backends"], "CPU");
    EXPECT_EQ(row["type_k"], "f16");  // llama-bench's default, and ours for dense models
    EXPECT_EQ(row["type_v"], "f16");
    ASSERT_EQ(row["samples_ts"].size(), 3u);
    ASSERT_EQ(row["samples_ns"].size(), 3u);
    double mean = 0;
    for (size_t s = 0; s < 3; ++s) {
      const double ts = row["samples_ts"][s], ns = row["samples_ns"][s];
      EXPECT_GT(ts, 0);
      // Each sample's t/s is its token count over its own time (samples_ns is whole nanoseconds).
      EXPECT_NEAR(ts, (expect[i][0] + expect[i][1]) / (ns * 1e-9), ts * 1e-4);
      mean += ts / 3;
    }
    EXPECT_NEAR(row["avg_ts"].get<double>(), mean, mean * 1e-9);
    EXPECT_GE(row["stddev_ts"].get<double>(), 0);
    EXPECT_GE(row["peak_rss_bytes"].get<int64_t>(), bytes / 2);  // the weights were paged in
    const int64_t huge = row["anon_huge_page_bytes"].get<int64_t>();
    EXPECT_GE(huge, 0);
    EXPECT_LE(huge, row["peak_rss_bytes"].get<int64_t>());
  }
}

TEST(CmdBench, MarkdownTableNamesTheTests) {
  int code = 0;
  const std::string out = r1("bench -m " + kModel + " -p 8 -n 2 -r 1 -t 1", &code);
  ASSERT_EQ(code, 0);
  EXPECT_NE(out.find("| model | size | params | backend | threads | test | t/s |"), std::string::npos);
  EXPECT_NE(out.find("| pp8 |"), std::string::npos);
  EXPECT_NE(out.find("| tg2 |"), std::string::npos);
  EXPECT_NE(out.find("peak RSS"), std::string::npos);
  EXPECT_NE(out.find("MiB in 2 MiB pages)"), std::string::npos);
}

TEST(CmdBench, StreamReportsFiveKernels) {
  int code = 0;
  const std::string out = r1("bench --stream --stream-mib 8 -r 2 -t 1 --json", &code);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json j = nlohmann::json::parse(out);
  ASSERT_EQ(j.size(), 5u);
  EXPECT_EQ(j[0]["kernel"], "read");
  EXPECT_EQ(j[4]["kernel"], "triad");
  for (const auto& k : j) EXPECT_GE(k["best_gbs"].get<double>(), k["avg_gbs"].get<double>() * 0.999);
}

// The tg ceiling's bytes per token: every tensor but the embedding table (one row of it is read),
// and of a MoE's stacked experts only the share a token routes to (expert_used_count of ne[2]).
TEST(CmdBench, StreamCountsTheBytesOneTokenReads) {
  const std::string moe = std::string(R1_TEST_DATA_DIR) + "/models/deepseek2-mini-q8_0.gguf";
  auto g = r1::GgufFile::open(moe);
  const int64_t used = g->get_int("deepseek2.expert_used_count");
  double expected = 0, all = 0;
  for (const r1::TensorView& t : g->tensors()) {
    const auto bytes = double(t.nbytes);
    all += bytes;
    if (t.name == "token_embd.weight") {
      expected += bytes / double(t.ne[1]);
    } else if (t.name.find("_exps.weight") != std::string::npos) {
      ASSERT_GT(t.ne[2], used);
      expected += bytes * double(used) / double(t.ne[2]);
    } else {
      expected += bytes;
    }
  }
  ASSERT_TRUE(g->find_tensor("output.weight"));
  int code = 0;
  const std::string out = r1("bench --stream --stream-mib 8 -r 1 -t 1 --json -m " + moe, &code);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json j = nlohmann::json::parse(out);
  const auto got = double(j[0]["model_bytes_per_token"].get<int64_t>());
  EXPECT_NEAR(got, expected, 64.0);
  EXPECT_LT(got, all * 0.8);
  const double ceiling = j[0]["best_gbs"].get<double>() * 1e9 / got;
  EXPECT_NEAR(j[0]["tg_ceiling_ts"].get<double>(), ceiling, ceiling * 1e-9);
}

// Plain decode never reads DeepSeek's MTP module (layer index n_layer): a file with it counts the
// same bytes per token as the same weights without it, in GGUF and in a Hugging Face directory.
TEST(CmdBench, StreamLeavesOutTheMtpModule) {
  const std::string dir = ::testing::TempDir();
  int code = 0;
  auto bytes_per_token = [&](const std::string& model) {
    const std::string out = r1("bench --stream --stream-mib 8 -r 1 -t 1 --json -m " + model, &code);
    EXPECT_EQ(code, 0) << out;
    return nlohmann::json::parse(out, nullptr, false)[0].value("model_bytes_per_token", int64_t{-1});
  };
  for (const std::string format : {"gguf", "hf"}) {
    const std::string with = dir + "/bench-mtp-" + format, without = dir + "/bench-no-mtp-" + format;
    const std::string gen = "gen-model --shape tiny-deepseek3 --type " + std::string(format == "gguf" ? "q8_0" : "bf16") +
                            " --format " + format + " --seed 3 -o ";
    r1(gen + with, &code);
    ASSERT_EQ(code, 0) << with;
    r1(gen + without + " --no-mtp", &code);
    ASSERT_EQ(code, 0) << without;
    const std::string info = r1("info --tensors -m " + with, &code);
    ASSERT_NE(info.find("eh_proj"), std::string::npos) << "the file has no MTP module to leave out";
    const int64_t a = bytes_per_token(with), b = bytes_per_token(without);
    EXPECT_GT(b, 0) << format;
    EXPECT_EQ(a, b) << format;
  }
}

// --bandwidth: each tg run is set against the read bandwidth measured right before and after it, with
// the bytes the weights occupy as read: coded BF16 matrices (the avx512vnni and AVX2 backends) at 12
// bits a weight, fewer than the file's bytes that --stream -m counts.
TEST(CmdBench, BandwidthSetsEachRunAgainstTheReadsAroundIt) {
  const std::string bf16 = std::string(R1_TEST_DATA_DIR) + "/models/qwen2-mini-bf16.gguf";
  int code = 0;
  const nlohmann::json j =
      nlohmann::json::parse(r1("bench -m " + bf16 + " -p 4 -n 8 -r 3 -t 1 --bandwidth --stream-mib 8 --json", &code));
  ASSERT_EQ(code, 0);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_FALSE(j[0].contains("read_gbs_samples"));  // pp runs are not bound by the weights' reads
  const nlohmann::json& tg = j[1];
  ASSERT_EQ(tg["read_gbs_samples"].size(), 3u);
  ASSERT_EQ(tg["bandwidth_fraction_samples"].size(), 3u);
  const auto bytes = double(tg["model_bytes_per_token"].get<int64_t>());
  for (size_t i = 0; i < 3; ++i) {
    const double read = tg["read_gbs_samples"][i], ns = tg["samples_ns"][i];
    EXPECT_GT(read, 0.1);
    const double want = bytes * 8 / (ns * 1e-9) / 1e9 / read;
    EXPECT_NEAR(tg["bandwidth_fraction_samples"][i].get<double>(), want, want * 1e-4);
  }
  const nlohmann::json file = nlohmann::json::parse(r1("bench --stream --stream-mib 8 -r 1 -t 1 --json -m " + bf16, &code));
  ASSERT_EQ(code, 0);
  const auto file_bytes = double(file[0]["model_bytes_per_token"].get<int64_t>());
  const std::string kernels = tg["kernels"];
  if (kernels == "avx512vnni" || kernels == "avx2" || kernels == "avx2vnni") {
    EXPECT_LT(bytes, file_bytes * 0.9);  // the layers' matrices and the output at 3/4
    EXPECT_GT(bytes, file_bytes * 0.7);
  } else {
    EXPECT_EQ(bytes, file_bytes);
  }
  r1("bench -m " + bf16 + " -p 0 -n 2 -r 1 -t 1 --bandwidth --stream-mib 2", &code);
  EXPECT_NE(code, 0);  // too small an array to read past the caches
}

// --steps: a dense decode token is five parallel steps a layer (q / k / v, attention, o, gate / up,
// down) and the output head's; the calling thread's time between them and its waits at their ends
// are shares of each run. Not for prompts, nor on one thread (its steps run inline).
TEST(CmdBench, StepsCountsADecodeTokensParallelSteps) {
  int code = 0;
  const nlohmann::json j = nlohmann::json::parse(r1("bench -m " + kModel + " -p 4 -n 8 -r 2 -t 2 --steps --json", &code));
  ASSERT_EQ(code, 0);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_FALSE(j[0].contains("steps_per_token"));
  const nlohmann::json& tg = j[1];
  EXPECT_EQ(tg["steps_per_token"].get<double>(), 5 * 2 + 1);  // the mini model has 2 layers
  for (const char* key : {"between_steps_fraction_samples", "step_end_wait_fraction_samples"}) {
    ASSERT_EQ(tg[key].size(), 2u) << key;
    for (const auto& f : tg[key]) {
      EXPECT_GT(f.get<double>(), 0.0) << key;
      EXPECT_LT(f.get<double>(), 1.0) << key;
    }
  }
  const std::string text = r1("bench -m " + kModel + " -p 0 -n 4 -r 1 -t 2 --steps", &code);
  ASSERT_EQ(code, 0);
  EXPECT_NE(text.find("steps: 11.0 a token"), std::string::npos) << text;
  const nlohmann::json one = nlohmann::json::parse(r1("bench -m " + kModel + " -p 0 -n 4 -r 1 -t 1 --steps --json", &code));
  ASSERT_EQ(code, 0);
  EXPECT_FALSE(one[0].contains("steps_per_token"));
}

// --parallel: each tg test again with that many sequences decoding together (after -d tokens each);
// its t/s counts every sequence's tokens, and the table names the count. pp tests run once.
TEST(CmdBench, ParallelRunsTgWithSequencesDecodingTogether) {
  int code = 0;
  const nlohmann::json j =
      nlohmann::json::parse(r1("bench -m " + kModel + " -p 4 -n 6 -np 1,3 -d 0,10 -r 2 -t 2 --json", &code));
  ASSERT_EQ(code, 0);
  ASSERT_EQ(j.size(), 6u);
  const int expect[6][4] = {{4, 0, 0, 1}, {0, 6, 0, 1}, {0, 6, 0, 3},  // n_prompt, n_gen, n_depth, n_parallel
                            {4, 0, 10, 1}, {0, 6, 10, 1}, {0, 6, 10, 3}};
  for (size_t i = 0; i < j.size(); ++i) {
    EXPECT_EQ(j[i]["n_prompt"], expect[i][0]);
    EXPECT_EQ(j[i]["n_gen"], expect[i][1]);
    EXPECT_EQ(j[i]["n_depth"], expect[i][2]);
    EXPECT_EQ(j[i]["n_parallel"], expect[i][3]);
    const double tokens = expect[i][0] + expect[i][1] * expect[i][3];
    for (size_t r = 0; r < 2; ++r)
      EXPECT_NEAR(j[i]["samples_ts"][r].get<double>(), tokens * 1e9 / j[i]["samples_ns"][r].get<double>(),
                  1e-3 * j[i]["samples_ts"][r].get<double>());
  }
  const std::string text = r1("bench -m " + kModel + " -p 0 -n 4 -np 2 -r 1 -t 1", &code);
  ASSERT_EQ(code, 0);
  EXPECT_NE(text.find("| tg4 x2 seq |"), std::string::npos) << text;
  r1("bench -m " + kModel + " -p 0 -n 4 -np 0 -r 1", &code);
  EXPECT_EQ(code, 1);
  r1("bench -m " + kModel + " -p 0 -n 4 -np 513 -r 1", &code);  // "--parallel 513 is more than 512 sequences"
  EXPECT_EQ(code, 1);
}

// -d: every test again after that many cached tokens, named as llama-bench names them.
TEST(CmdBench, DepthRunsEachTestAfterCachedTokens) {
  int code = 0;
  const nlohmann::json j = nlohmann::json::parse(r1("bench -m " + kModel + " -p 8 -n 2 -d 0,20 -r 1 -t 1 --json", &code));
  ASSERT_EQ(code, 0);
  ASSERT_EQ(j.size(), 4u);
  const int expect[4][3] = {{8, 0, 0}, {0, 2, 0}, {8, 0, 20}, {0, 2, 20}};  // n_prompt, n_gen, n_depth
  for (size_t i = 0; i < j.size(); ++i) {
    EXPECT_EQ(j[i]["n_prompt"], expect[i][0]);
    EXPECT_EQ(j[i]["n_gen"], expect[i][1]);
    EXPECT_EQ(j[i]["n_depth"], expect[i][2]);
  }
  const nlohmann::json f32 = nlohmann::json::parse(r1("bench -m " + kModel + " -p 0 -n 2 -d 20 -r 1 -t 1 -ctk f32 --json", &code));
  ASSERT_EQ(code, 0);
  EXPECT_EQ(f32[0]["type_k"], "f32");
  EXPECT_EQ(f32[0]["type_v"], "f32");
  const nlohmann::json mixed =
      nlohmann::json::parse(r1("bench -m " + kModel + " -p 0 -n 2 -d 20 -r 1 -t 1 -ctk q8_0 -ctv q4_0 --json", &code));
  ASSERT_EQ(code, 0);
  EXPECT_EQ(mixed[0]["type_k"], "q8_0");
  EXPECT_EQ(mixed[0]["type_v"], "q4_0");
  const std::string out = r1("bench -m " + kModel + " -p 8 -n 0 -d 20 -r 1 -t 1", &code);
  ASSERT_EQ(code, 0);
  EXPECT_NE(out.find("| pp8 @ d20 |"), std::string::npos) << out;
  r1("bench -m " + kModel + " -p 8 -n 0 -d 900000 -r 1 -t 1", &code);  // beyond the model's context
  EXPECT_EQ(code, 1);
}

TEST(CmdBench, BadInputsFailWithStatusOne) {
  int code = 0;
  r1("bench -m /nonexistent.gguf", &code);
  EXPECT_EQ(code, 1);
  r1("bench -m " + kModel + " -p x", &code);
  EXPECT_EQ(code, 1);
  r1("bench -m " + kModel + " -r 0", &code);
  EXPECT_EQ(code, 1);
  r1("bench", &code);
  EXPECT_EQ(code, 1);
}

}  // namespace
