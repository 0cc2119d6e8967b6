// Training checkpoints in safetensors: every parameter under its Hugging Face name (F32, or F64
// for a double-precision model), the router biases as mlp.gate.e_score_correction_bias, and
// optionally the AdamW moments (optimizer.m.<name>, optimizer.v.<name>); the model config and the
// step are JSON metadata. A checkpoint resumes training exactly. The "arch" metadata (deepseek or
// dense; absent in older files, which are all DeepSeek) says which model class the config is for.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/dense_model.h"
#include "train/model.h"

namespace r1 {
class SafetensorsWriter;
}

namespace r1::train {

nlohmann::json config_to_json(const ModelConfig& c);
ModelConfig config_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json dense_config_to_json(const DenseConfig& c);
DenseConfig dense_config_from_json(const nlohmann::json& j, const std::string& where);

struct TrainState {
  int64_t step = 0;                 // optimizer steps done
  std::vector<float> adam_m, adam_v;  // empty: no optimizer state saved
  nlohmann::json info = nlohmann::json::object();  // free-form run info (stage, data seed, ...)
};

// Adds the model's tensors (parameters and router biases) and its config metadata to w; the
// model must outlive w.write().
template <typename T>
void add_model_tensors(SafetensorsWriter& w, const TrainModel<T>& m);

void save_checkpoint(const std::string& path, const Policy& m, const TrainState& state);

struct Checkpoint {
  Arch arch = Arch::DeepSeek;
  ModelConfig config;         // the DeepSeek model's (arch deepseek)
  DenseConfig dense;          // the dense model's (arch dense)
  std::vector<float> params;  // laid out by the arch's layout of its config
  RouterBias bias;
  TrainState state;
};
Checkpoint load_checkpoint(const std::string& path);
// Copies a loaded checkpoint into a model of the same arch and config.
void apply_checkpoint(const Checkpoint& ck, Policy& m);
// A model of the checkpoint's arch and config holding its weights.
std::unique_ptr<Policy> make_policy(const Checkpoint& ck, ThreadPool* pool);

}  // namespace r1::train
