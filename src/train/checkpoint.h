// Training checkpoints in safetensors: every parameter under its Hugging Face name (F32, or F64
// for a double-precision model), the router biases as mlp.gate.e_score_correction_bias, and
// optionally the AdamW moments (optimizer.m.<name>, optimizer.v.<name>); the model config and the
// step are JSON metadata. A checkpoint resumes training exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/model.h"

namespace r1 {
class SafetensorsWriter;
}

namespace r1::train {

nlohmann::json config_to_json(const ModelConfig& c);
ModelConfig config_from_json(const nlohmann::json& j, const std::string& where);

struct TrainState {
  int64_t step = 0;                 // optimizer steps done
  std::vector<float> adam_m, adam_v;  // empty: no optimizer state saved
  nlohmann::json info = nlohmann::json::object();  // free-form run info (stage, data seed, ...)
};

// Adds the model's tensors (parameters and router biases) and its config metadata to w; the
// model must outlive w.write().
template <typename T>
void add_model_tensors(SafetensorsWriter& w, const Transformer<T>& m);

void save_checkpoint(const std::string& path, const Transformer<float>& m, const TrainState& state);

struct Checkpoint {
  ModelConfig config;
  std::vector<float> params;  // laid out by make_layout(config)
  RouterBias bias;
  TrainState state;
};
Checkpoint load_checkpoint(const std::string& path);
// Copies a loaded checkpoint into a model of the same config.
void apply_checkpoint(const Checkpoint& ck, Transformer<float>& m);

}  // namespace r1::train
