// r1 train pretrain|sft|grpo|distill: trains a DeepSeek-V3-architecture model (MLA, DeepSeekMoE,
// MTP) or, with --arch dense, a Qwen2-style dense student on generated task data in R1's chat
// format, with checkpoints that resume exactly, a per-step log, and export to GGUF / HF so every
// other r1 command loads the result. distill fine-tunes the student on a teacher's kept responses.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "convert/export_model.h"
#include "core/error.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/distill.h"
#include "train/export.h"
#include "train/grpo.h"
#include "train/rollout.h"
#include "train/trainer.h"
#include "util/timer.h"
#include "util/threadpool.h"

namespace r1::cli {
namespace fs = std::filesystem;
using namespace r1::train;

namespace {

std::string default_task_tokenizer() {
  for (fs::path base : {fs::path(R1_SOURCE_DIR), fs::current_path()}) {
    fs::path p = base / "assets" / "tokenizers" / "tiny512-deepseek-v3" / "tokenizer.json";
    if (fs::exists(p)) return p.string();
  }
  fail("train: no --tokenizer given and assets/tokenizers/tiny512-deepseek-v3 was not found under ", R1_SOURCE_DIR);
}

// The model shape from flags (TRAINING.md §5.2's tiny-V3 by default, without q compression's
// absence: this trainer always uses the q latent).
int64_t int_flag(const Args& a, const std::string& name, int64_t def) { return a.has(name) ? a.i64(name) : def; }

train::ModelConfig model_from_flags(const Args& a, int64_t n_vocab) {
  train::ModelConfig c;
  c.n_vocab = n_vocab;
  c.n_embd = int_flag(a, "--n-embd", 128);
  c.n_layer = int_flag(a, "--n-layer", 4);
  c.n_head = int_flag(a, "--n-head", 4);
  c.q_lora_rank = c.n_embd / 2;
  c.kv_lora_rank = c.n_embd / 2;
  c.qk_nope_dim = c.n_embd / c.n_head;
  c.qk_rope_dim = std::max<int64_t>(2, c.n_embd / c.n_head / 2) / 2 * 2;
  c.v_head_dim = c.n_embd / c.n_head;
  c.n_ff = 3 * c.n_embd;
  c.n_dense_lead = 1;
  c.n_expert = a.i64("--n-expert");
  c.n_expert_used = a.i64("--n-expert-used");
  c.n_expert_shared = 1;
  c.n_ff_expert = c.n_embd;
  c.n_ctx = std::max<int64_t>(a.i64("--seq"), 4096);  // what the exported model accepts
  c.mtp = a.f64("--mtp-weight") > 0;
  return c;
}

// The dense student's shape (TRAINING.md §5.2: d 96, 3 layers, 4 heads, SwiGLU 8/3·d).
DenseConfig dense_from_flags(const Args& a, int64_t n_vocab) {
  DenseConfig c;
  c.n_vocab = n_vocab;
  c.n_embd = int_flag(a, "--n-embd", 96);
  c.n_layer = int_flag(a, "--n-layer", 3);
  c.n_head = int_flag(a, "--n-head", 4);
  c.n_kv_head = int_flag(a, "--n-kv-head", c.n_head);
  c.n_ff = 8 * c.n_embd / 3;
  c.n_ctx = std::max<int64_t>(a.i64("--seq"), 4096);
  return c;
}

// One training step's console line (every 10th) and JSON log line.
void report_step(const Policy& m, const StepLog& s, int64_t total_steps, std::ofstream* log) {
  if (s.step % 10 == 0 || s.step + 1 == total_steps) {
    std::printf("step %5lld  loss %.4f (lm %.4f mtp %.4f bal %.5f)  lr %.2e  |g| %.3f  %.0f tok/s\n",
                static_cast<long long>(s.step), s.loss.total, s.loss.lm, s.loss.mtp, s.loss.balance, s.lr, s.grad_norm,
                s.tokens_per_second);
    std::fflush(stdout);
  }
  if (log) {
    nlohmann::json j = {{"step", s.step},           {"loss", s.loss.total},   {"lm", s.loss.lm},
                        {"mtp", s.loss.mtp},        {"balance", s.loss.balance}, {"lr", s.lr},
                        {"grad_norm", s.grad_norm}, {"seconds", s.seconds},   {"tokens_per_s", s.tokens_per_second}};
    nlohmann::json load = nlohmann::json::array();
    for (const auto& l : m.expert_load()) load.push_back(l);
    j["expert_load"] = load;
    *log << j.dump() << "\n";
    log->flush();
  }
}

// Pretraining / SFT: B task examples per step (all tokens scored, or only the completions), one
// JSON line per step in the log; after_step(steps done) after each update.
void run_supervised(Policy& m, AdamW& opt, const LoopOptions& lo, const TaskData& data, int64_t B,
                    int64_t S, bool score_prompt, const CorpusMix& mix, uint64_t seed, std::ofstream* log,
                    const std::function<void(int64_t)>& after_step) {
  const int32_t eos = data.tokenizer().eos_id();
  train_loop(
      m, opt, lo,
      [&](int64_t step) {
        // The data of a step depends only on (seed, step), so a resumed run sees what it would have.
        std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(step));
        std::vector<Example> ex;
        for (int64_t i = 0; i < B; i++) {
          const Problem p = data.draw(Split::Train, rng);
          ex.push_back(data.example(p, pretraining_completion(p, mix, rng)));
        }
        return make_batch(ex, S, score_prompt, eos);
      },
      [&](const StepLog& s) {
        report_step(m, s, opt.config().total_steps, log);
        after_step(s.step + 1);
      });
}

// Distillation (R1 §2.4): --distill-samples responses of the teacher GGUF to each of
// --distill-problems train-split problems, the correct and well-formed ones kept, then SFT of the
// student on them (completions scored), cycling over the kept set.
void run_distill(const Args& a, Policy& m, AdamW& opt, const LoopOptions& lo, const TaskData& data, int64_t B,
                 int64_t S, uint64_t seed, int threads, std::ofstream* log,
                 const std::function<void(int64_t)>& after_step) {
  const int64_t n_problems = a.i64("--distill-problems"), k = a.i64("--distill-samples");
  if (n_problems < 1 || k < 1) fail("train distill: --distill-problems and --distill-samples must be >= 1");
  const auto teacher = Model::load(a.str("--teacher"));
  if (teacher->config().n_vocab < data.tokenizer().n_vocab()) {
    fail("train distill: the teacher has ", teacher->config().n_vocab, " token rows, the task tokenizer ",
         data.tokenizer().n_vocab(), " (both must use the same tokenizer)");
  }
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0xD157);
  std::vector<Problem> problems;
  for (int64_t i = 0; i < n_problems; i++) problems.push_back(data.draw(Split::Train, rng));
  GenerationParams gp;
  gp.sampling.temperature = float(a.f64("--distill-temp"));
  gp.sampling.top_p = 0.95f;
  gp.sampling.seed = seed * 1000003ull;
  gp.max_tokens = a.i64("--max-tokens");
  if (gp.max_tokens < 1) fail("train distill: --max-tokens must be >= 1");
  // Contexts just long enough for the longest prompt and a full-length response.
  int64_t n_ctx = 0;
  for (const Problem& p : problems) n_ctx = std::max<int64_t>(n_ctx, int64_t(data.prompt_tokens(p).size()));
  n_ctx += gp.max_tokens + 1;
  const DistillSet set = sample_teacher(*teacher, data, problems, k, gp, n_ctx, threads);
  std::printf("distill: kept %zu of %lld teacher responses (format 1, accuracy 1), %lld tokens generated in %.1f s\n",
              set.kept.size(), static_cast<long long>(set.sampled), static_cast<long long>(set.generated_tokens),
              set.seconds);
  std::fflush(stdout);
  if (set.kept.empty()) fail("train distill: the teacher got no problem right; nothing to distill");
  const int32_t eos = data.tokenizer().eos_id();
  train_loop(
      m, opt, lo, [&](int64_t step) { return distill_batch(set, step, B, S, eos); },
      [&](const StepLog& s) {
        report_step(m, s, opt.config().total_steps, log);
        after_step(s.step + 1);
      });
}

// GRPO: each step samples G responses for --prompts problems from the inference engine, scores
// them, and updates the policy over --minibatches minibatches; the reference model (k3 KL) is a
// copy of the policy refreshed every --ref-every steps. One JSON line per step in --log.
void run_grpo(const Args& a, Policy& m, AdamW& opt, const TaskData& data, const std::string& tok_path,
              uint64_t seed, int threads, std::ofstream* log, const std::function<void(int64_t)>& after_step) {
  GrpoConfig c;
  c.variant = parse_grpo_variant(a.str("--variant"));
  c.kl_beta = a.f64("--kl");
  c.clip_low = a.f64("--clip-low");
  c.clip_high = a.has("--clip-high") ? a.f64("--clip-high") : c.variant == GrpoVariant::Dapo ? 0.28 : c.clip_low;
  c.minibatches = int(a.i64("--minibatches"));
  c.max_response = a.i64("--max-tokens");
  const int64_t P = a.i64("--prompts"), G = a.i64("--group"), ref_every = std::max<int64_t>(1, a.i64("--ref-every"));
  if (P < 1 || G < 2) fail("train grpo: --prompts must be >= 1 and --group >= 2");
  GenerationParams gp;
  gp.sampling.temperature = float(a.f64("--temp"));
  gp.sampling.top_p = 1.0f;
  gp.max_tokens = c.max_response;
  const std::string scratch = a.str("--output") + ".policy.gguf";
  std::unique_ptr<Policy> ref;
  const int64_t first = opt.steps_done() / c.minibatches;  // GRPO steps already done
  const int64_t last = opt.config().total_steps;
  for (int64_t step = first; step < last; step++) {
    if (c.kl_beta > 0 && (step == first || step % ref_every == 0)) ref = m.clone();
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(step));
    std::vector<Problem> problems;
    for (int64_t i = 0; i < P; i++) problems.push_back(data.draw(Split::Train, rng));
    gp.sampling.seed = seed * 1000003ull + uint64_t(step) * uint64_t(P * G);
    RolloutBatch rb = sample_rollouts(m, data, tok_path, problems, G, gp, scratch, threads);
    std::vector<double> rewards;
    for (const Rollout& r : rb.rollouts) rewards.push_back(r.reward);
    const std::vector<double> adv = group_advantages(rewards, G, c.variant == GrpoVariant::Grpo);
    // Zero-variance groups give no gradient; DAPO's dynamic sampling drops them from the batch.
    std::vector<Rollout> kept;
    int64_t zero_var = 0;
    for (int64_t p = 0; p < P; p++) {
      bool same = true;
      for (int64_t g = 1; g < G; g++) same = same && rewards[size_t(p * G + g)] == rewards[size_t(p * G)];
      zero_var += same;
      if (same && c.variant == GrpoVariant::Dapo) continue;
      for (int64_t g = 0; g < G; g++) {
        kept.push_back(std::move(rb.rollouts[size_t(p * G + g)]));
        kept.back().advantage = adv[size_t(p * G + g)];
      }
    }
    Timer update_timer;
    GrpoStats st;
    if (!kept.empty()) {
      completion_logprobs(m, kept, &Rollout::old_logp);
      if (c.kl_beta > 0) completion_logprobs(*ref, kept, &Rollout::ref_logp);
      st = grpo_update(m, opt, kept, G, c, a.f64("--bias-gamma"));
    }
    double acc = 0, fmt = 0;
    for (const Reward& r : rb.rewards) acc += r.accuracy, fmt += r.format;
    const double n = double(rb.rewards.size());
    std::printf("grpo %4lld  reward %.3f  acc %.3f  format %.3f  len %.1f  kl %.4f  clip %.3f  zero-var %lld/%lld  "
                "rollout %.1fs update %.1fs\n",
                static_cast<long long>(step), (acc + fmt) / n, acc / n, fmt / n, double(rb.generated_tokens) / n, st.kl,
                st.clip_fraction, static_cast<long long>(zero_var), static_cast<long long>(P), rb.seconds,
                update_timer.seconds());
    std::fflush(stdout);
    if (log) {
      nlohmann::json load = nlohmann::json::array();
      for (const auto& l : m.expert_load()) load.push_back(l);
      *log << nlohmann::json{{"step", step},
                             {"reward", (acc + fmt) / n},
                             {"accuracy", acc / n},
                             {"format", fmt / n},
                             {"response_length", double(rb.generated_tokens) / n},
                             {"kl", st.kl},
                             {"clip_fraction", st.clip_fraction},
                             {"entropy_proxy", st.entropy_proxy},
                             {"zero_variance_groups", zero_var},
                             {"loss", st.loss},
                             {"lr", lr_at(opt.config(), opt.steps_done())},
                             {"rollout_seconds", rb.seconds},
                             {"update_seconds", update_timer.seconds()},
                             {"expert_load", load}}
                  .dump()
           << "\n";
      log->flush();
    }
    after_step(step + 1);
  }
  std::filesystem::remove(scratch);
}

}  // namespace

int cmd_train(const Argv& argv) {
  Args a("train", "pretrain|sft|grpo|distill [flags]",
         {
             {"--task", "", FlagKind::String, "addition", "addition, countdown, other (requests outside both) or mixed", "NAME"},
             {"--min-digits", "", FlagKind::Int, "1", "addition: shortest operand", "N"},
             {"--max-digits", "", FlagKind::Int, "3", "addition: longest operand", "N"},
             {"--numbers", "", FlagKind::Int, "3", "countdown: how many numbers are given", "N"},
             {"--direct-fraction", "", FlagKind::Float, "0", "pretrain: share of answers given without the work", "X"},
             {"--slip-fraction", "", FlagKind::Float, "0", "pretrain: share of additions with one slip carried to the answer", "X"},
             {"--tokenizer", "", FlagKind::String, "", "tokenizer.json (default: the tiny DeepSeek-V3 one)", "PATH"},
             {"--output", "-o", FlagKind::String, "train.safetensors", "checkpoint to write", "PATH"},
             {"--init", "", FlagKind::String, "", "start from this checkpoint's weights (fresh optimizer)", "PATH"},
             {"--resume", "", FlagKind::String, "", "continue this checkpoint's run (weights, optimizer, step)", "PATH"},
             {"--steps", "", FlagKind::Int, "300", "optimizer steps in total (a resumed run stops here too)", "N"},
             {"--batch", "", FlagKind::Int, "16", "sequences per step", "N"},
             {"--seq", "", FlagKind::Int, "64", "tokens per sequence (and the model's context)", "N"},
             {"--lr", "", FlagKind::Float, "3e-3", "peak learning rate", "X"},
             {"--warmup", "", FlagKind::Int, "20", "warm-up steps", "N"},
             {"--min-lr-ratio", "", FlagKind::Float, "0.1", "the cosine ends at lr x this", "X"},
             {"--weight-decay", "", FlagKind::Float, "0.1", "AdamW weight decay", "X"},
             {"--clip", "", FlagKind::Float, "1.0", "gradient clipping (global norm; 0: off)", "X"},
             {"--mtp-weight", "", FlagKind::Float, "0.3", "MTP loss weight lambda (0: no MTP module)", "X"},
             {"--balance-alpha", "", FlagKind::Float, "1e-4", "sequence-wise balance loss alpha", "X"},
             {"--bias-gamma", "", FlagKind::Float, "1e-3", "router bias update speed gamma", "X"},
             {"--arch", "", FlagKind::String, "", "deepseek or dense (default deepseek; distill: dense; a checkpoint's own)", "NAME"},
             {"--n-embd", "", FlagKind::Int, "", "hidden size (deepseek 128, dense 96)", "N"},
             {"--n-layer", "", FlagKind::Int, "", "layers (deepseek 4: the first dense, the rest MoE; dense 3)", "N"},
             {"--n-head", "", FlagKind::Int, "", "attention heads (4)", "N"},
             {"--n-kv-head", "", FlagKind::Int, "", "dense: key/value heads (default: n-head; fewer: GQA)", "N"},
             {"--n-expert", "", FlagKind::Int, "8", "routed experts", "N"},
             {"--n-expert-used", "", FlagKind::Int, "2", "experts per token", "N"},
             {"--seed", "", FlagKind::Int, "1", "seed of the weights and the data", "N"},
             {"--threads", "-t", FlagKind::Int, "0", "threads (0: all cores)", "N"},
             {"--save-every", "", FlagKind::Int, "100", "write the checkpoint every N steps (and at the end)", "N"},
             {"--log", "", FlagKind::String, "", "per-step log, one JSON object a line", "PATH"},
             {"--export-gguf", "", FlagKind::String, "", "write the trained model as GGUF (deepseek2 or qwen2, f32)", "PATH"},
             {"--export-hf", "", FlagKind::String, "", "write the trained model as a Hugging Face directory", "DIR"},
             {"--prompts", "", FlagKind::Int, "8", "grpo: prompts per step", "N"},
             {"--group", "-G", FlagKind::Int, "8", "grpo: samples per prompt", "N"},
             {"--variant", "", FlagKind::String, "grpo", "grpo: grpo, dr-grpo or dapo", "NAME"},
             {"--kl", "", FlagKind::Float, "0.001", "grpo: k3 KL weight beta to the reference (0: none)", "X"},
             {"--ref-every", "", FlagKind::Int, "50", "grpo: refresh the reference model every N steps", "N"},
             {"--clip-low", "", FlagKind::Float, "0.2", "grpo: ratio clip below 1", "X"},
             {"--clip-high", "", FlagKind::Float, "", "grpo: ratio clip above 1 (default: clip-low; dapo 0.28)", "X"},
             {"--minibatches", "", FlagKind::Int, "2", "grpo: policy updates per rollout batch", "N"},
             {"--max-tokens", "", FlagKind::Int, "96", "grpo, distill: response length limit", "N"},
             {"--temp", "", FlagKind::Float, "1.0", "grpo: rollout temperature", "X"},
             {"--teacher", "", FlagKind::String, "", "distill: the teacher model (GGUF or HF dir, same tokenizer)", "PATH"},
             {"--distill-problems", "", FlagKind::Int, "256", "distill: train-split problems to sample", "N"},
             {"--distill-samples", "", FlagKind::Int, "4", "distill: teacher responses per problem", "N"},
             {"--distill-temp", "", FlagKind::Float, "0.6", "distill: teacher sampling temperature (top-p 0.95)", "X"},
         });
  if (a.parse_or_help(argv)) return 0;
  if (a.positional().size() != 1) fail("train: give one stage: pretrain, sft, grpo or distill (see r1 train --help)");
  const std::string stage = a.positional()[0];
  if (stage != "pretrain" && stage != "sft" && stage != "grpo" && stage != "distill") {
    fail("train: unknown stage '", stage, "' (pretrain, sft, grpo, distill)");
  }
  if (stage == "distill" && !a.has("--teacher")) fail("train: distill needs --teacher MODEL.gguf");
  if (stage == "grpo" && !a.has("--init") && !a.has("--resume")) fail("train: grpo starts from a model: give --init CHECKPOINT");
  if (a.has("--init") && a.has("--resume")) fail("train: --init and --resume exclude each other");

  const std::string tok_path = a.has("--tokenizer") ? a.str("--tokenizer") : default_task_tokenizer();
  const Tokenizer tok = Tokenizer::from_file(tok_path);
  TaskSpec spec;
  spec.kind = parse_task(a.str("--task"));
  spec.min_digits = int(a.i64("--min-digits"));
  spec.max_digits = int(a.i64("--max-digits"));
  spec.n_numbers = int(a.i64("--numbers"));
  TaskData data(tok, spec);

  ThreadPool pool(int(a.i64("--threads")));
  std::optional<Checkpoint> ck;
  if (a.has("--init")) ck = load_checkpoint(a.str("--init"));
  if (a.has("--resume")) ck = load_checkpoint(a.str("--resume"));
  const train::Arch arch = ck ? ck->arch : parse_arch(a.has("--arch") ? a.str("--arch") : stage == "distill" ? "dense" : "deepseek");
  if (ck && a.has("--arch") && parse_arch(a.str("--arch")) != arch) {
    fail("train: --arch ", a.str("--arch"), " but the checkpoint holds a ", arch_name(arch), " model");
  }
  std::unique_ptr<Policy> model;
  if (ck) {
    model = make_policy(*ck, &pool);
  } else if (arch == train::Arch::Dense) {
    model = std::make_unique<DenseTransformer<float>>(dense_from_flags(a, tok.n_vocab()), &pool);
  } else {
    model = std::make_unique<Transformer<float>>(model_from_flags(a, tok.n_vocab()), &pool);
  }
  Policy& m = *model;
  if (!ck) m.init(uint64_t(a.i64("--seed")), 0.02);
  if (m.n_vocab() < tok.n_vocab()) fail("train: the model has ", m.n_vocab(), " token rows, the tokenizer ", tok.n_vocab());
  const bool has_mtp = arch == train::Arch::DeepSeek && static_cast<const Transformer<float>&>(m).config().mtp;
  OptimConfig o;
  const bool rl = stage == "grpo";
  // RL defaults: a constant, much lower learning rate (R1's RL lr is ~1/70 of its pretraining peak).
  o.lr = rl && !a.has("--lr") ? 1e-4 : a.f64("--lr");
  o.warmup = rl && !a.has("--warmup") ? 0 : a.i64("--warmup");
  o.total_steps = a.i64("--steps");
  o.min_lr_ratio = rl && !a.has("--min-lr-ratio") ? 1.0 : a.f64("--min-lr-ratio");
  o.weight_decay = a.f64("--weight-decay");
  o.grad_clip = a.f64("--clip");
  AdamW opt(m.layout(), o);
  if (a.has("--resume")) {
    if (ck->state.adam_m.empty()) fail(a.str("--resume"), ": has no optimizer state to resume from");
    opt.m = ck->state.adam_m;
    opt.v = ck->state.adam_v;
    opt.restore(ck->state.step);
  }
  LoopOptions lo;
  lo.steps = std::max<int64_t>(0, o.total_steps - opt.steps_done());
  lo.bias_gamma = a.f64("--bias-gamma");
  lo.loss.mtp = has_mtp ? a.f64("--mtp-weight") : 0.0;
  lo.loss.balance = a.f64("--balance-alpha");
  const int64_t B = a.i64("--batch"), S = a.i64("--seq");
  if (B < 1 || S < 2 || S > m.n_ctx()) fail("train: --batch must be >= 1 and --seq in [2, ", m.n_ctx(), "]");
  const bool score_prompt = stage == "pretrain";
  CorpusMix mix;  // SFT trains on reference completions only
  if (stage == "pretrain") mix = {a.f64("--direct-fraction"), a.f64("--slip-fraction")};
  if (mix.direct < 0 || mix.slip < 0 || mix.direct + mix.slip > 1) fail("train: --direct-fraction and --slip-fraction must be >= 0 and sum to <= 1");
  const uint64_t seed = uint64_t(a.i64("--seed"));

  std::unique_ptr<std::ofstream> log;
  if (a.has("--log")) {
    log = std::make_unique<std::ofstream>(a.str("--log"), std::ios::app);
    if (!*log) fail("train: cannot write the log ", a.str("--log"));
  }
  const std::string out = a.str("--output");
  auto save = [&](int64_t step) {
    TrainState st;
    st.step = step;
    st.adam_m = opt.m;
    st.adam_v = opt.v;
    st.info = {{"stage", stage}, {"task", a.str("--task")}, {"seed", seed}};
    save_checkpoint(out, m, st);
  };
  const int64_t save_every = std::max<int64_t>(1, a.i64("--save-every"));
  std::printf("train %s: %s model, %zu parameters, %d threads\n", stage.c_str(), arch_name(arch), m.layout().total,
              pool.size());
  if (stage == "distill") {
    run_distill(a, m, opt, lo, data, B, S, seed, pool.size(), log.get(), [&](int64_t step) {
      if (step % save_every == 0 || step == o.total_steps) save(step);
    });
  } else if (rl) {
    run_grpo(a, m, opt, data, tok_path, seed, pool.size(), log.get(), [&](int64_t step) {
      if (step % save_every == 0 || step == o.total_steps) save(opt.steps_done());
    });
  } else {
    run_supervised(m, opt, lo, data, B, S, score_prompt, mix, seed, log.get(), [&](int64_t step) {
      if (step % save_every == 0 || step == o.total_steps) save(step);
    });
  }
  if (lo.steps == 0 || rl) save(opt.steps_done());
  std::printf("checkpoint: %s\n", out.c_str());
  if (a.has("--export-gguf") || a.has("--export-hf")) {
    const ExportModel em = to_export_model(m, tok_path, "r1.cpp " + stage + " (" + a.str("--task") + ")");
    if (a.has("--export-gguf")) {
      write_gguf(em, a.str("--export-gguf"), "f32");
      std::printf("gguf: %s\n", a.str("--export-gguf").c_str());
    }
    if (a.has("--export-hf")) {
      write_hf_dir(em, a.str("--export-hf"), DType::F32);
      std::printf("hf: %s\n", a.str("--export-hf").c_str());
    }
  }
  return 0;
}

}  // namespace r1::cli
