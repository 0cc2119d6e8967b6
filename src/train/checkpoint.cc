#include "train/checkpoint.h"

#include <cstring>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/safetensors.h"

namespace r1::train {
namespace {

std::string bias_name(size_t block) {
  return str("model.layers.", block, ".mlp.gate.e_score_correction_bias");
}

// A tensor's values as float, from F32 or F64 storage; its shape must be as expected.
std::vector<float> read_floats(const SafetensorsSet& st, const std::string& name, const std::vector<int64_t>& shape) {
  const TensorView& t = st.get(name);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  bool same = t.n_dims == int(shape.size());
  for (size_t i = 0; same && i < shape.size(); i++) same = t.ne[shape.size() - 1 - i] == shape[i];
  if (!same) fail(st.path(), ": tensor ", name, " has shape ", t.shape_string(), ", expected ", n, " values in ",
                  shape.size(), " dims");
  std::vector<float> out(static_cast<size_t>(n));
  if (t.type == DType::F32) {
    std::memcpy(out.data(), t.data, out.size() * sizeof(float));
  } else if (t.type == DType::F64) {
    const auto* d = static_cast<const double*>(t.data);
    for (size_t i = 0; i < out.size(); i++) out[i] = float(d[i]);
  } else {
    fail(st.path(), ": tensor ", name, " has type ", dtype_name(t.type), ", expected F32 or F64");
  }
  return out;
}

}  // namespace

nlohmann::json config_to_json(const ModelConfig& c) {
  return {{"n_vocab", c.n_vocab},       {"n_embd", c.n_embd},
          {"n_layer", c.n_layer},       {"n_head", c.n_head},
          {"q_lora_rank", c.q_lora_rank}, {"kv_lora_rank", c.kv_lora_rank},
          {"qk_nope_dim", c.qk_nope_dim}, {"qk_rope_dim", c.qk_rope_dim},
          {"v_head_dim", c.v_head_dim}, {"n_ff", c.n_ff},
          {"n_dense_lead", c.n_dense_lead}, {"n_expert", c.n_expert},
          {"n_expert_used", c.n_expert_used}, {"n_expert_shared", c.n_expert_shared},
          {"n_ff_expert", c.n_ff_expert}, {"route_scale", c.route_scale},
          {"rope_theta", c.rope_theta}, {"rms_eps", c.rms_eps},
          {"n_ctx", c.n_ctx},           {"mtp", c.mtp}};
}

ModelConfig config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail(where, ": the model config is not a JSON object");
  ModelConfig c;
  c.n_vocab = json_int(j, "n_vocab", std::nullopt, where);
  c.n_embd = json_int(j, "n_embd", std::nullopt, where);
  c.n_layer = json_int(j, "n_layer", std::nullopt, where);
  c.n_head = json_int(j, "n_head", std::nullopt, where);
  c.q_lora_rank = json_int(j, "q_lora_rank", std::nullopt, where);
  c.kv_lora_rank = json_int(j, "kv_lora_rank", std::nullopt, where);
  c.qk_nope_dim = json_int(j, "qk_nope_dim", std::nullopt, where);
  c.qk_rope_dim = json_int(j, "qk_rope_dim", std::nullopt, where);
  c.v_head_dim = json_int(j, "v_head_dim", std::nullopt, where);
  c.n_ff = json_int(j, "n_ff", std::nullopt, where);
  c.n_dense_lead = json_int(j, "n_dense_lead", std::nullopt, where);
  c.n_expert = json_int(j, "n_expert", std::nullopt, where);
  c.n_expert_used = json_int(j, "n_expert_used", std::nullopt, where);
  c.n_expert_shared = json_int(j, "n_expert_shared", std::nullopt, where);
  c.n_ff_expert = json_int(j, "n_ff_expert", std::nullopt, where);
  c.route_scale = json_float(j, "route_scale", std::nullopt, where);
  c.rope_theta = json_float(j, "rope_theta", std::nullopt, where);
  c.rms_eps = json_float(j, "rms_eps", std::nullopt, where);
  c.n_ctx = json_int(j, "n_ctx", std::nullopt, where);
  c.mtp = json_bool(j, "mtp", false, where);
  c.validate();
  return c;
}

nlohmann::json dense_config_to_json(const DenseConfig& c) {
  return {{"n_vocab", c.n_vocab}, {"n_embd", c.n_embd},         {"n_layer", c.n_layer},
          {"n_head", c.n_head},   {"n_kv_head", c.n_kv_head},   {"n_ff", c.n_ff},
          {"rope_theta", c.rope_theta}, {"rms_eps", c.rms_eps}, {"n_ctx", c.n_ctx}};
}

DenseConfig dense_config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail(where, ": the model config is not a JSON object");
  DenseConfig c;
  c.n_vocab = json_int(j, "n_vocab", std::nullopt, where);
  c.n_embd = json_int(j, "n_embd", std::nullopt, where);
  c.n_layer = json_int(j, "n_layer", std::nullopt, where);
  c.n_head = json_int(j, "n_head", std::nullopt, where);
  c.n_kv_head = json_int(j, "n_kv_head", std::nullopt, where);
  c.n_ff = json_int(j, "n_ff", std::nullopt, where);
  c.rope_theta = json_float(j, "rope_theta", std::nullopt, where);
  c.rms_eps = json_float(j, "rms_eps", std::nullopt, where);
  c.n_ctx = json_int(j, "n_ctx", std::nullopt, where);
  c.validate();
  return c;
}

template <typename T>
void add_model_tensors(SafetensorsWriter& w, const TrainModel<T>& m) {
  const DType type = sizeof(T) == 8 ? DType::F64 : DType::F32;
  for (const ParamTensor& t : m.layout().tensors) {
    w.add(t.name, type, t.shape, m.params.data() + t.offset, t.size * sizeof(T));
  }
  w.set_metadata("arch", arch_name(m.arch()));
  if (m.arch() == Arch::Dense) {
    w.set_metadata("config", dense_config_to_json(static_cast<const DenseTransformer<T>&>(m).config()).dump());
    return;
  }
  const auto& ds = static_cast<const Transformer<T>&>(m);
  for (size_t b = 0; b < ds.bias.per_block.size(); b++) {
    const auto& v = ds.bias.per_block[b];
    if (!v.empty()) w.add(bias_name(b), DType::F32, {int64_t(v.size())}, v.data(), v.size() * sizeof(float));
  }
  w.set_metadata("config", config_to_json(ds.config()).dump());
}

void save_checkpoint(const std::string& path, const Policy& m, const TrainState& state) {
  SafetensorsWriter w;
  add_model_tensors(w, m);
  const bool with_optim = !state.adam_m.empty();
  if (with_optim) {
    if (state.adam_m.size() != m.params.size() || state.adam_v.size() != m.params.size()) {
      fail(path, ": optimizer state size does not match the model");
    }
    for (const ParamTensor& t : m.layout().tensors) {
      w.add("optimizer.m." + t.name, DType::F32, t.shape, state.adam_m.data() + t.offset, t.size * sizeof(float));
      w.add("optimizer.v." + t.name, DType::F32, t.shape, state.adam_v.data() + t.offset, t.size * sizeof(float));
    }
  }
  w.set_metadata("step", std::to_string(state.step));
  w.set_metadata("info", state.info.dump());
  // Write beside, then rename: an interrupted save never destroys the previous checkpoint.
  const std::string tmp = path + ".tmp";
  w.write(tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, ": cannot rename ", tmp, " into place");
}

Checkpoint load_checkpoint(const std::string& path) {
  auto st = SafetensorsSet::open(path);
  const auto& meta = st->metadata();
  auto it = meta.find("config");
  if (it == meta.end()) fail(path, ": not a training checkpoint (no \"config\" metadata)");
  nlohmann::json cj;
  try {
    cj = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": config metadata is not valid JSON: ", e.what());
  }
  Checkpoint ck;
  if (auto a = meta.find("arch"); a != meta.end()) ck.arch = parse_arch(a->second);
  ParamLayout layout;
  if (ck.arch == Arch::Dense) {
    ck.dense = dense_config_from_json(cj, path + " config");
    std::vector<DenseBlockLayout> blocks;
    layout = make_dense_layout(ck.dense, &blocks);
  } else {
    ck.config = config_from_json(cj, path + " config");
    layout = make_layout(ck.config);
  }
  // Every tensor must be in the file before the buffers are sized from the config.
  for (const ParamTensor& t : layout.tensors) {
    if (st->get(t.name).n_elements() != int64_t(t.size)) {
      fail(path, ": tensor ", t.name, " has ", st->get(t.name).n_elements(), " values, the config needs ", t.size);
    }
  }
  ck.params.resize(layout.total);
  const bool with_optim = st->find("optimizer.m." + layout.tensors.front().name) != nullptr;
  if (with_optim) {
    ck.state.adam_m.resize(layout.total);
    ck.state.adam_v.resize(layout.total);
  }
  for (const ParamTensor& t : layout.tensors) {
    const std::vector<float> v = read_floats(*st, t.name, t.shape);
    std::copy(v.begin(), v.end(), ck.params.begin() + long(t.offset));
    if (!with_optim) continue;
    const std::vector<float> mm = read_floats(*st, "optimizer.m." + t.name, t.shape);
    const std::vector<float> vv = read_floats(*st, "optimizer.v." + t.name, t.shape);
    std::copy(mm.begin(), mm.end(), ck.state.adam_m.begin() + long(t.offset));
    std::copy(vv.begin(), vv.end(), ck.state.adam_v.begin() + long(t.offset));
  }
  const size_t n_blocks = ck.arch == Arch::Dense ? 0 : size_t(ck.config.n_layer + (ck.config.mtp ? 1 : 0));
  ck.bias.per_block.assign(n_blocks, {});
  for (size_t b = 0; b < n_blocks; b++) {
    const bool moe = b >= size_t(ck.config.n_layer) || ck.config.is_moe_layer(int64_t(b));
    if (moe) ck.bias.per_block[b] = read_floats(*st, bias_name(b), {ck.config.n_expert});
  }
  if (auto s = meta.find("step"); s != meta.end()) {
    try {
      ck.state.step = std::stoll(s->second);
    } catch (const std::exception&) {
      fail(path, ": step metadata '", s->second, "' is not an integer");
    }
  }
  if (auto i = meta.find("info"); i != meta.end()) {
    ck.state.info = nlohmann::json::parse(i->second, nullptr, false);
    if (ck.state.info.is_discarded()) fail(path, ": info metadata is not valid JSON");
  }
  return ck;
}

void apply_checkpoint(const Checkpoint& ck, Policy& m) {
  if (ck.arch != m.arch()) fail("checkpoint: a ", arch_name(ck.arch), " checkpoint cannot load into a ", arch_name(m.arch()), " model");
  if (ck.params.size() != m.params.size()) fail("checkpoint: parameter count does not match the model");
  m.params = ck.params;
  if (m.arch() == Arch::DeepSeek) static_cast<Transformer<float>&>(m).bias = ck.bias;
}

std::unique_ptr<Policy> make_policy(const Checkpoint& ck, ThreadPool* pool) {
  std::unique_ptr<Policy> m;
  if (ck.arch == Arch::Dense) {
    m = std::make_unique<DenseTransformer<float>>(ck.dense, pool);
  } else {
    m = std::make_unique<Transformer<float>>(ck.config, pool);
  }
  apply_checkpoint(ck, *m);
  return m;
}

template void add_model_tensors<float>(SafetensorsWriter&, const TrainModel<float>&);
template void add_model_tensors<double>(SafetensorsWriter&, const TrainModel<double>&);

}  // namespace r1::train
