#include "cli/generation_flags.h"

#include <algorithm>
#include <random>
#include <thread>

#include "cli/default_model.h"
#include "core/error.h"

namespace r1::cli {

std::vector<Flag> model_flags() {
  return {
      {"--model", "-m", FlagKind::String, "", "a .gguf file or a HF model directory (default: models/default.gguf)", "PATH"},
      {"--ctx-size", "-c", FlagKind::Int, "4096", "context size in tokens (0: the model's own)", "N"},
      {"--threads", "-t", FlagKind::Int, "0", "threads (0: all cores)", "N"},
      {"--fp8", "", FlagKind::String, "stored", "HF FP8 weights: stored (as in the file), bf16 or f32 (converted at load)", "MODE"},
      cache_type_flag(),
      cache_type_v_flag(),
  };
}

Flag cache_type_flag() {
  return {"--cache-type", "-ctk", FlagKind::String, "f16",
          "attention cache type of the keys (DeepSeek: its latent cache): f16 (half of f32's memory), q8_0 (53% of "
          "f16's), q4_0 (28%), f32, or bf16, q4_1, iq4_nl, q5_0, q5_1", "TYPE"};
}

Flag cache_type_v_flag() {
  return {"--cache-type-v", "-ctv", FlagKind::String, "",
          "attention cache type of the values (default: --cache-type's); DeepSeek's latent cache has one type", "TYPE"};
}

CacheTypes cache_types_from(const Args& a) {
  const DType k = cache_type_from_name(a.str("--cache-type"), "--cache-type");
  return {k, a.has("--cache-type-v") ? cache_type_from_name(a.str("--cache-type-v"), "--cache-type-v") : k};
}

void set_cache_type(const Args& a, Model& m) { m.set_kv_cache_types(cache_types_from(a)); }

std::vector<Flag> generation_flags() {
  return {
      {"--n-predict", "-n", FlagKind::Int, "-1", "maximum tokens to generate (-1: until end or context full)", "N"},
      {"--temp", "", FlagKind::Float, "0.6", "temperature (0: greedy); default from the model's generation_config", "T"},
      {"--top-p", "", FlagKind::Float, "0.95", "nucleus sampling: keep tokens up to this probability mass (1: off)", "P"},
      {"--top-k", "", FlagKind::Int, "0", "keep only the k most likely tokens (0: off)", "K"},
      {"--min-p", "", FlagKind::Float, "0", "drop tokens below min-p x the top probability (0: off)", "P"},
      {"--repeat-penalty", "", FlagKind::Float, "1", "penalise repeated tokens (1: off)", "X"},
      {"--repeat-last-n", "", FlagKind::Int, "64", "how many recent tokens the penalties look at (-1: all)", "N"},
      {"--presence-penalty", "", FlagKind::Float, "0", "subtract once from every seen token's logit", "X"},
      {"--frequency-penalty", "", FlagKind::Float, "0", "subtract per occurrence from a seen token's logit", "X"},
      {"--seed", "-s", FlagKind::Int, "-1", "random seed (-1: random); the same seed gives the same output", "N"},
      {"--stop", "", FlagKind::String, "", "stop when the output contains this text", "TEXT", true},
      {"--reasoning-budget", "", FlagKind::Int, "-1", "at most this many thinking tokens, then answer (-1: no limit)", "N"},
      {"--ignore-eos", "", FlagKind::Bool, "", "keep generating after the end-of-sentence token"},
      {"--mtp", "", FlagKind::Bool, "", "speculative decoding with the model's MTP module (DeepSeek-V3/R1); same output"},
  };
}

std::unique_ptr<Model> load_model(const Args& a) {
  const std::string path = a.str("--model").empty() ? default_model_path() : a.str("--model");
  const std::string fp8 = a.str("--fp8");
  Fp8Mode mode = Fp8Mode::AsStored;
  if (fp8 == "bf16") mode = Fp8Mode::ToBF16;
  else if (fp8 == "f32") mode = Fp8Mode::ToF32;
  else if (fp8 != "stored") fail("--fp8 must be stored, bf16 or f32, not '", fp8, "'");
  auto model = Model::load(path, mode);
  set_cache_type(a, *model);
  return model;
}

int threads_from(const Args& a) {
  int64_t t = a.i64("--threads");
  if (t < 0 || t > 1024) fail("--threads must be between 0 and 1024");
  if (t == 0) t = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(t);
}

int64_t context_from(const Args& a, const Model& m) {
  int64_t c = a.i64("--ctx-size");
  if (c < 0) fail("--ctx-size must be >= 0");
  const int64_t train = m.config().n_ctx_train;
  if (c == 0) c = train > 0 ? train : 4096;
  if (train > 0) c = std::min(c, train);
  return c;
}

GenerationParams generation_params(const Args& a, const Model& m) {
  GenerationParams p;
  SamplerParams& s = p.sampling;
  const GenerationDefaults& d = m.generation_defaults();
  s.temperature = a.has("--temp") ? static_cast<float>(a.f64("--temp")) : d.temperature.value_or(0.6f);
  s.top_p = a.has("--top-p") ? static_cast<float>(a.f64("--top-p")) : d.top_p.value_or(0.95f);
  s.top_k = a.has("--top-k") ? static_cast<int>(a.i64("--top-k")) : d.top_k.value_or(0);
  s.min_p = static_cast<float>(a.f64("--min-p"));
  s.repeat_penalty = static_cast<float>(a.f64("--repeat-penalty"));
  s.penalty_last_n = static_cast<int>(a.i64("--repeat-last-n"));
  s.presence_penalty = static_cast<float>(a.f64("--presence-penalty"));
  s.frequency_penalty = static_cast<float>(a.f64("--frequency-penalty"));
  const int64_t seed = a.i64("--seed");
  s.seed = seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
  p.max_tokens = a.i64("--n-predict");
  p.stop = a.all("--stop");
  p.reasoning_budget = a.i64("--reasoning-budget");
  p.ignore_eos = a.flag("--ignore-eos");
  p.mtp = a.flag("--mtp");
  if (s.temperature < 0) fail("--temp must be >= 0");
  if (s.top_p <= 0 || s.top_p > 1) fail("--top-p must be in (0, 1]");
  if (s.min_p < 0 || s.min_p > 1) fail("--min-p must be in [0, 1]");
  if (s.top_k < 0) fail("--top-k must be >= 0");
  return p;
}

}  // namespace r1::cli
