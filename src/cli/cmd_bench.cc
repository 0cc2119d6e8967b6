// r1 bench: prompt-processing (pp) and generation (tg) speed like llama-bench, so the two engines
// can be compared on the same file. Every repetition starts from a fresh context; pp is one
// forward of -p random tokens, tg is -n one-token forwards, each after -d tokens already in the
// cache (untimed; llama-bench's depth, where attention over the cache starts to cost). With
// --parallel N, tg runs N sequences that decode together, one pass per step for all N tokens (the
// batched steps of r1 serve and r1 eval; llama-batched-bench's S_TG), and t/s counts all N. The
// markdown table and the --json field names follow llama-bench, so the tools that read its output
// read ours.
// `r1 bench --stream` measures memory bandwidth (STREAM kernels), the ceiling of tg speed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generation_flags.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/deepseek_model.h"
#include "model/model.h"
#include "ops/coded_bf16.h"
#include "runtime/batch_slots.h"
#include "ops/matmul.h"
#include "util/bandwidth.h"
#include "util/cpu.h"
#include "util/memory_usage.h"
#include "util/sample_stats.h"
#include "util/threadpool.h"
#include "util/timer.h"

namespace r1::cli {
namespace {

namespace fs = std::filesystem;

// What llama-bench reports about a model file, plus the bytes one decoded token reads.
struct ModelStats {
  int64_t size_bytes = 0;  // all tensor bytes
  int64_t n_params = 0;
  int64_t bytes_per_token = 0;  // tensor bytes minus the embedding table (one row of it is read),
                                // routed experts counted for the share a token uses (used / all),
                                // the MTP module not at all
  std::string main_type;        // the weight type holding the most bytes
};

ModelStats model_stats(const std::string& path) {
  std::unique_ptr<GgufFile> g;
  std::unique_ptr<SafetensorsSet> h;
  const std::vector<TensorView>* tensors;
  if (fs::is_directory(path)) {
    h = SafetensorsSet::open(path);
    tensors = &h->tensors();
  } else {
    g = GgufFile::open(path);
    tensors = &g->tensors();
  }
  // A MoE token reads expert_used_count of the routed experts: GGUF stacks them (ffn_*_exps, ne[2]
  // experts), HF directories name each (mlp.experts.N.) and give the counts in config.json.
  // DeepSeek's MTP module sits at layer index n_layer (blk.N. / model.layers.N.); plain decode, what
  // bench times, never reads it.
  int64_t used = 0, hf_experts = 0, n_layer = -1;  // used 0: not a MoE; n_layer -1: not known
  if (g) {
    const GgufValue* arch = g->find("general.architecture");
    used = arch ? g->get_int(arch->as_string() + ".expert_used_count", 0) : 0;
    n_layer = arch ? g->get_int(arch->as_string() + ".block_count", -1) : -1;
  } else if (fs::exists(fs::path(path) / "config.json")) {
    std::ifstream f(fs::path(path) / "config.json");
    const nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
    auto count = [&](const char* key, int64_t absent) {
      const auto it = j.is_object() ? j.find(key) : j.end();
      return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : absent;
    };
    used = count("num_experts_per_tok", 0);
    hf_experts = count("n_routed_experts", 0);
    n_layer = count("num_hidden_layers", -1);
  }
  auto in_mtp_module = [&](const std::string& name) {
    const std::string prefix = g ? "blk." : "model.layers.";
    if (n_layer < 0 || name.rfind(prefix, 0) != 0) return false;
    char* end = nullptr;
    const long long index = std::strtoll(name.c_str() + prefix.size(), &end, 10);
    return end != name.c_str() + prefix.size() && *end == '.' && index >= n_layer;
  };
  // The share of a tensor's bytes one token reads.
  auto read_share = [&](const TensorView& t) {
    if (in_mtp_module(t.name)) return 0.0;
    if (used <= 0) return 1.0;
    if (g) return t.name.find("_exps.") != std::string::npos && t.ne[2] > used ? double(used) / double(t.ne[2]) : 1.0;
    return hf_experts > used && t.name.find(".mlp.experts.") != std::string::npos ? double(used) / double(hf_experts)
                                                                                  : 1.0;
  };
  ModelStats s;
  std::vector<std::pair<DType, int64_t>> by_type;
  bool has_output = false;
  int64_t embd_bytes = 0, embd_row = 0, unread_bytes = 0;
  for (const TensorView& t : *tensors) {
    const auto bytes = static_cast<int64_t>(t.nbytes);
    unread_bytes += bytes - static_cast<int64_t>(double(bytes) * read_share(t));
    s.size_bytes += bytes;
    s.n_params += t.n_elements();
    if (t.name == "token_embd.weight" || t.name == "model.embed_tokens.weight") {
      embd_bytes = bytes;
      embd_row = bytes / std::max<int64_t>(1, t.rows());
    }
    if (t.name == "output.weight" || t.name == "lm_head.weight") has_output = true;
    if (t.n_dims < 2) continue;
    auto it = std::find_if(by_type.begin(), by_type.end(), [&](auto& p) { return p.first == t.type; });
    if (it == by_type.end()) by_type.push_back({t.type, bytes});
    else it->second += bytes;
  }
  // With tied embeddings the table is the output matrix and is read in full every token.
  s.bytes_per_token = (has_output ? s.size_bytes - embd_bytes + embd_row : s.size_bytes) - unread_bytes;
  auto top = std::max_element(by_type.begin(), by_type.end(), [](auto& a, auto& b) { return a.second < b.second; });
  s.main_type = top == by_type.end() ? "?" : std::string(dtype_name(top->first));
  return s;
}

// "1.78B" / "494.03M", as llama-bench prints parameter counts and model_type sizes.
std::string params_label(int64_t n) {
  char buf[32];
  if (n >= 1'000'000'000) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  return buf;
}

std::vector<int64_t> int_list(const Args& a, const std::string& flag, int64_t lo) {
  std::vector<int64_t> out;
  const std::string text = a.str(flag);
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    const std::string item = text.substr(i, j - i);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < lo || v > 1'000'000)
      fail("bench: ", flag, ": '", item, "' is not a number >= ", lo);
    out.push_back(v);
    i = j + 1;
  }
  return out;
}

struct TestResult {
  int64_t n_prompt = 0, n_gen = 0, n_depth = 0;
  int n_threads = 0;
  int64_t n_parallel = 1;        // tg: sequences decoding together
  int64_t tokens() const { return n_prompt + n_gen * n_parallel; }
  std::vector<double> seconds;   // one per repetition
  std::vector<double> read_gbs;  // --bandwidth: the read bandwidth around each repetition
  std::vector<ThreadPool::StepTimes> steps;  // --steps: the time around the parallel steps, per repetition
  std::string time;              // ISO 8601, when the test started
};

// Bytes per token that matrices coded at load (ops/coded_bf16.h: 12 bits a weight) do not read, of a
// routed expert the share a token uses: model_stats counts the file's bytes.
int64_t coded_bytes_saved(const Model& model) {
  auto saved = [](const TensorView& t) {
    return t.layout == RowLayout::CodedBf16 ? double(t.nbytes) - double(t.rows()) * double(coded_row_bytes(t.ne[0])) : 0.0;
  };
  double s = 0;
  if (const DeepseekModel* d = model.deepseek()) {
    const DeepseekWeights& w = d->weights();
    const double share = d->config().n_expert > 0 ? double(d->config().n_expert_used) / double(d->config().n_expert) : 1.0;
    s += saved(w.output);
    for (const DeepseekLayer& L : w.layers)
      for_each_deepseek_matrix(L, [&](const TensorView& t, bool routed) { s += (routed ? share : 1.0) * saved(t); });
  } else {
    const DenseWeights& w = model.weights();
    s += saved(w.output);
    for (const LayerWeights& L : w.layers) for_each_dense_matrix(L, [&](const TensorView& t) { s += saved(t); });
  }
  return static_cast<int64_t>(s);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Seconds fn takes; with `steps`, the pool's step times over it (ThreadPool::record_step_times) go there.
template <class Fn>
double timed(ThreadPool& pool, ThreadPool::StepTimes* steps, Fn fn) {
  if (steps) pool.record_step_times(true);
  Timer t;
  fn();
  const double seconds = t.seconds();
  if (steps) {
    pool.record_step_times(false);
    *steps = pool.step_times();
  }
  return seconds;
}

constexpr int64_t kMaxParallel = 512;  // sequences in one --parallel test: a step's tokens fit one pass

// tg of n_parallel sequences, each first holding n_depth tokens (fed untimed, n_batch at a time): n_gen
// batched steps of a token for each.
double run_parallel(const Model& model, ThreadPool& pool, int64_t n_depth, int64_t n_gen, int64_t n_parallel,
                    int64_t n_batch, const std::vector<int32_t>& ids, ThreadPool::StepTimes* steps) {
  const int n = static_cast<int>(n_parallel);
  BatchSlots slots(model, n, n_depth + n_gen, pool);
  std::vector<float> logits(static_cast<size_t>(n_parallel * model.n_vocab()));
  for (int i = 0; i < n; ++i)
    for (int64_t p = 0; p < n_depth; p += n_batch) slots.prompt(i, ids.data() + p, std::min(n_batch, n_depth - p), logits.data());
  std::vector<int> seqs(static_cast<size_t>(n));
  std::vector<int32_t> step_ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) seqs[static_cast<size_t>(i)] = i;
  return timed(pool, steps, [&] {
    for (int64_t g = 0; g < n_gen; ++g) {
      for (int i = 0; i < n; ++i) step_ids[static_cast<size_t>(i)] = ids[static_cast<size_t>((g + i) % int64_t(ids.size()))];
      slots.step(seqs, step_ids.data(), logits.data());
    }
  });
}

// One timed run from a fresh context holding n_depth tokens (fed untimed): pp feeds n_prompt tokens
// at once, tg n_gen tokens one by one (the context splits forwards into n_batch chunks), or n_parallel
// sequences' tokens a step at a time (run_parallel). With `steps`, the pool's step times over the timed
// part (ThreadPool::record_step_times) go there.
double run_once(const Model& model, ThreadPool& pool, int64_t n_depth, int64_t n_prompt, int64_t n_gen, int64_t n_parallel,
                int64_t n_batch, std::mt19937& rng, ThreadPool::StepTimes* steps = nullptr) {
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(model.n_vocab() - 1));
  std::vector<int32_t> ids(static_cast<size_t>(std::max({n_prompt, n_gen, n_depth})));
  for (auto& id : ids) id = tok(rng);
  if (n_parallel > 1) return run_parallel(model, pool, n_depth, n_gen, n_parallel, std::min<int64_t>(n_batch, 512), ids, steps);
  std::vector<float> logits(static_cast<size_t>(model.n_vocab()));
  auto ctx = model.new_context(n_depth + n_prompt + n_gen, pool,
                               std::max<int64_t>(1, std::min(n_batch, std::max(n_prompt, n_depth))));
  if (n_depth > 0) ctx->forward(ids.data(), n_depth, false, logits.data());
  return timed(pool, steps, [&] {
    if (n_prompt > 0) ctx->forward(ids.data(), n_prompt, false, logits.data());
    for (int64_t i = 0; i < n_gen; ++i) ctx->forward(&ids[static_cast<size_t>(i)], 1, false, logits.data());
  });
}

// --steps, per repetition: the share of the run's time the calling thread spent between parallel
// steps (between_s) or waiting at their ends (end_wait_s).
std::vector<double> step_fractions(const TestResult& r, double ThreadPool::StepTimes::*part) {
  std::vector<double> f;
  for (size_t i = 0; i < r.steps.size(); ++i) f.push_back(r.steps[i].*part / r.seconds[i]);
  return f;
}

// Per repetition: the weights' bytes read per second over the read bandwidth measured around it.
std::vector<double> bandwidth_fractions(const TestResult& r, int64_t bytes_per_token) {
  std::vector<double> f;
  for (size_t i = 0; i < r.read_gbs.size(); ++i)
    f.push_back(double(bytes_per_token) * double(r.n_gen) / r.seconds[i] / 1e9 / r.read_gbs[i]);
  return f;
}

int run_stream(const Args& a) {
  const int n_threads = static_cast<int>(int_list(a, "--threads", 1).front());
  const int64_t mib = a.i64("--stream-mib");
  if (mib < 1 || mib > 65536) fail("bench: --stream-mib must be between 1 and 65536");
  ThreadPool pool(n_threads);
  const auto results = measure_bandwidth(pool, mib * (1 << 20) / 4, static_cast<int>(std::max<int64_t>(2, a.i64("--repetitions"))));
  std::optional<ModelStats> model;
  if (a.has("--model")) model = model_stats(a.str("--model"));
  if (a.flag("--json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : results) {
      out.push_back({{"kernel", r.kernel}, {"n_threads", n_threads}, {"array_bytes", mib << 20},
                     {"best_gbs", r.best_gbs}, {"avg_gbs", r.avg_gbs}});
      if (model) {
        out.back()["model_bytes_per_token"] = model->bytes_per_token;
        out.back()["tg_ceiling_ts"] = r.best_gbs * 1e9 / double(model->bytes_per_token);
      }
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("STREAM-style bandwidth, %d threads, 3 arrays of %lld MiB (10^9 bytes/s)\n", n_threads,
              static_cast<long long>(mib));
  std::printf("| kernel | best GB/s | avg GB/s |\n| --- | ---: | ---: |\n");
  for (const auto& r : results) std::printf("| %s | %.2f | %.2f |\n", r.kernel.c_str(), r.best_gbs, r.avg_gbs);
  if (model) {
    std::printf("\n%s: %.1f MiB read per token -> tg ceiling %.1f t/s (read bandwidth / bytes per token)\n",
                a.str("--model").c_str(), model->bytes_per_token / 1048576.0,
                results[0].best_gbs * 1e9 / double(model->bytes_per_token));
  }
  return 0;
}

}  // namespace

int cmd_bench(const Argv& argv) {
  Args a("bench",
         "-m PATH [-p 512] [-n 128] [-d 0] [-t N] [-np 1] [-r 5] [--bandwidth] [--steps] [--json]   |   --stream [-t N] [-m PATH]",
         {{"--model", "-m", FlagKind::String, "", "a .gguf file or a Hugging Face model directory", "PATH"},
          {"--n-prompt", "-p", FlagKind::String, "512", "prompt tokens for the pp test, comma list (0: none)", "N"},
          {"--n-gen", "-n", FlagKind::String, "128", "generated tokens for the tg test, comma list (0: none)", "N"},
          {"--n-depth", "-d", FlagKind::String, "0", "tokens already in the cache before each test, comma list", "N"},
          {"--threads", "-t", FlagKind::String, "0", "threads, comma list (0: all cores)", "N"},
          {"--parallel", "-np", FlagKind::String, "1",
           "tg tests: sequences decoding together, one pass per step (t/s counts them all), comma list", "N"},
          {"--batch-size", "-b", FlagKind::Int, "512", "prompt tokens per forward (pp chunks)", "N"},
          {"--repetitions", "-r", FlagKind::Int, "5", "timed runs per test (after one warm-up run)", "N"},
          {"--json", "", FlagKind::Bool, "", "print a JSON array with llama-bench's field names"},
          {"--stream", "", FlagKind::Bool, "", "measure memory bandwidth instead (with -m: the tg ceiling)"},
          {"--stream-mib", "", FlagKind::Int, "256", "--stream: MiB per array (3 arrays); --bandwidth: MiB read", "N"},
          {"--bandwidth", "", FlagKind::Bool, "",
           "tg tests: read bandwidth right before and after each run, and the share of it the weights' reads reach"},
          {"--steps", "", FlagKind::Bool, "",
           "tg tests on 2 or more threads: parallel steps per token, and the share of the time the calling thread spends between them and waiting at their ends"},
          cache_type_flag(), cache_type_v_flag()});
  if (a.parse_or_help(argv)) return 0;
  if (a.flag("--stream")) return run_stream(a);
  const std::string path = a.str("--model");
  if (path.empty()) fail("bench: -m PATH is required");
  if (!fs::exists(path)) fail("bench: ", path, ": no such file or directory");
  const std::vector<int64_t> prompts = int_list(a, "--n-prompt", 0), gens = int_list(a, "--n-gen", 0),
                             depths = int_list(a, "--n-depth", 0), parallel = int_list(a, "--parallel", 1);
  std::vector<int64_t> threads = int_list(a, "--threads", 0);
  for (auto& t : threads)
    if (t == 0) t = std::max(1u, std::thread::hardware_concurrency());
  for (int64_t np : parallel)
    if (np > kMaxParallel) fail("bench: --parallel ", np, " is more than ", kMaxParallel, " sequences");
  const int64_t reps = a.i64("--repetitions"), n_batch = a.i64("--batch-size");
  if (reps < 1 || reps > 1000) fail("bench: --repetitions must be between 1 and 1000");
  if (n_batch < 1) fail("bench: --batch-size must be >= 1");

  const ModelStats stats = model_stats(path);
  auto model = Model::load(path);
  set_cache_type(a, *model);
  const std::string type_k(dtype_name(model->kv_cache_types().k)), type_v(dtype_name(model->kv_cache_types().v));
  const std::string arch = model->deepseek() ? "deepseek2" : arch_name(model->config().arch);
  const std::string model_type = arch + " " + params_label(stats.n_params) + " " + stats.main_type;

  // The tests, in llama-bench's order: for each thread count and depth, every pp then every tg (each
  // tg for every --parallel count).
  std::vector<TestResult> tests;
  for (int64_t t : threads)
    for (int64_t d : depths) {
      for (int64_t p : prompts)
        if (p > 0) tests.push_back({p, 0, d, static_cast<int>(t), 1, {}, {}, {}, {}});
      for (int64_t n : gens)
        for (int64_t np : parallel)
          if (n > 0) tests.push_back({0, n, d, static_cast<int>(t), np, {}, {}, {}, {}});
    }
  const int64_t n_ctx_train = model->config().n_ctx_train;
  for (const TestResult& r : tests)
    if (n_ctx_train > 0 && r.n_depth + r.n_prompt + r.n_gen > n_ctx_train)
      fail("bench: -d ", r.n_depth, " + -p ", r.n_prompt, " + -n ", r.n_gen, " tokens exceed the model's context length ",
           n_ctx_train);
  std::mt19937 rng(1234);
  const bool json = a.flag("--json");
  if (!json) {
    std::printf("| model | size | params | backend | threads | test | t/s |\n");
    std::printf("| --- | ---: | ---: | --- | ---: | --- | ---: |\n");
  }
  // --bandwidth: bytes the weights of one token occupy as read (coded matrices at 12 bits a weight).
  const bool bandwidth = a.flag("--bandwidth"), count_steps = a.flag("--steps");
  const int64_t read_bytes_per_token = stats.bytes_per_token - coded_bytes_saved(*model);
  const int64_t stream_mib = a.i64("--stream-mib");
  if (bandwidth && (stream_mib < 4 || stream_mib > 65536)) fail("bench: --stream-mib must be between 4 and 65536");
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<ReadBandwidth> reader;
  for (TestResult& r : tests) {
    if (!pool || pool->size() != r.n_threads) {
      reader.reset();
      pool = std::make_unique<ThreadPool>(r.n_threads);
    }
    // On one thread run_items and parallel_for run their work inline, so most steps would go uncounted.
    const bool read_around = bandwidth && r.n_gen > 0, record_steps = count_steps && r.n_gen > 0 && r.n_threads > 1;
    if (read_around && !reader) reader = std::make_unique<ReadBandwidth>(*pool, stream_mib * (1 << 20) / 4);
    r.time = utc_now();
    run_once(*model, *pool, 0, r.n_prompt, r.n_gen > 0 ? 1 : 0, r.n_parallel, n_batch, rng);  // warm-up: page in, spin up
    for (int64_t i = 0; i < reps; ++i) {
      const double before = read_around ? reader->best_gbs(3) : 0.0;
      ThreadPool::StepTimes steps;
      r.seconds.push_back(
          run_once(*model, *pool, r.n_depth, r.n_prompt, r.n_gen, r.n_parallel, n_batch, rng, record_steps ? &steps : nullptr));
      if (record_steps) r.steps.push_back(steps);
      if (read_around) r.read_gbs.push_back((before + reader->best_gbs(3)) / 2);
    }
    if (!json) {
      std::vector<double> ts;
      for (double s : r.seconds) ts.push_back(static_cast<double>(r.tokens()) / s);
      const SampleStats st = sample_stats(ts);
      const std::string test = (r.n_prompt > 0 ? "pp" + std::to_string(r.n_prompt) : "tg" + std::to_string(r.n_gen)) +
                               (r.n_parallel > 1 ? " x" + std::to_string(r.n_parallel) + " seq" : "") +
                               (r.n_depth > 0 ? " @ d" + std::to_string(r.n_depth) : "");
      std::printf("| %s | %.2f MiB | %s | CPU (%s) | %d | %s | %.2f ± %.2f |\n", model_type.c_str(),
                  stats.size_bytes / 1048576.0, params_label(stats.n_params).c_str(), matmul_backend(), r.n_threads,
                  test.c_str(), st.mean, st.stddev);
      if (read_around) {
        const std::vector<double> f = bandwidth_fractions(r, read_bytes_per_token);
        const auto [lo, hi] = std::minmax_element(f.begin(), f.end());
        std::printf("|   bandwidth: %.1f MiB read per token; read %.1f GB/s around the runs (median); weights read at "
                    "%.3f of it (median; %.3f to %.3f) |\n",
                    read_bytes_per_token / 1048576.0, median(r.read_gbs), median(f), *lo, *hi);
      }
      if (record_steps) {
        std::printf("|   steps: %.1f a %s; between steps %.2f%% of the time, waiting at their ends %.2f%% (medians) |\n",
                    double(r.steps.front().steps) / double(r.n_gen), r.n_parallel > 1 ? "step of all sequences" : "token",
                    100 * median(step_fractions(r, &ThreadPool::StepTimes::between_s)),
                    100 * median(step_fractions(r, &ThreadPool::StepTimes::end_wait_s)));
      }
      std::fflush(stdout);
    }
  }
  const int64_t peak = peak_rss_bytes();
  const int64_t huge = anon_huge_page_bytes();  // the weights as read (and the caches), while still held
  if (!json) {
    std::printf("\npeak RSS %.1f MiB (model file %.1f MiB, %.1f MiB in 2 MiB pages); KV cache keys %s, values %s; %s\n",
                peak / 1048576.0, stats.size_bytes / 1048576.0, huge / 1048576.0, type_k.c_str(), type_v.c_str(),
                cpu_description().c_str());
    return 0;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const TestResult& r : tests) {
    std::vector<double> ns, ts;
    for (double s : r.seconds) {
      ns.push_back(s * 1e9);
      ts.push_back(static_cast<double>(r.tokens()) / s);
    }
    const SampleStats sn = sample_stats(ns), st = sample_stats(ts);
    std::vector<int64_t> ns_int;
    for (double x : ns) ns_int.push_back(static_cast<int64_t>(x));
    out.push_back({{"build_commit", "r1.cpp"},
                   {"build_number", 0},
                   {"cpu_info", cpu_description()},
                   {"gpu_info", ""},
                   {"backends", "CPU"},
                   {"kernels", matmul_backend()},
                   {"model_filename", path},
                   {"model_type", model_type},
                   {"model_size", stats.size_bytes},
                   {"model_n_params", stats.n_params},
                   {"n_batch", n_batch},
                   {"n_ubatch", n_batch},
                   {"n_threads", r.n_threads},
                   {"type_k", type_k},
                   {"type_v", type_v},
                   {"n_gpu_layers", 0},
                   {"use_mmap", true},
                   {"n_prompt", r.n_prompt},
                   {"n_gen", r.n_gen},
                   {"n_depth", r.n_depth},
                   {"n_parallel", r.n_parallel},
                   {"test_time", r.time},
                   {"avg_ns", static_cast<int64_t>(sn.mean)},
                   {"stddev_ns", static_cast<int64_t>(sn.stddev)},
                   {"avg_ts", st.mean},
                   {"stddev_ts", st.stddev},
                   {"samples_ns", ns_int},
                   {"samples_ts", ts},
                   {"peak_rss_bytes", peak},
                   {"anon_huge_page_bytes", huge}});
    if (!r.read_gbs.empty()) {
      out.back()["model_bytes_per_token"] = read_bytes_per_token;
      out.back()["read_gbs_samples"] = r.read_gbs;
      out.back()["bandwidth_fraction_samples"] = bandwidth_fractions(r, read_bytes_per_token);
    }
    if (!r.steps.empty()) {
      out.back()["steps_per_token"] = double(r.steps.front().steps) / double(r.n_gen);
      out.back()["between_steps_fraction_samples"] = step_fractions(r, &ThreadPool::StepTimes::between_s);
      out.back()["step_end_wait_fraction_samples"] = step_fractions(r, &ThreadPool::StepTimes::end_wait_s);
    }
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace r1::cli
