// Damaged DeepSeek checkpoints (copies of the test models with one thing changed) must fail to
// load with an r1::Error that names the tensor or key at fault.
#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/deepseek_model.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;
const std::string kModels = std::string(R1_TEST_DATA_DIR) + "/models/";
const std::string kTmp = std::string(R1_BINARY_DIR) + "/deepseek_hostile_test/";

void expect_load_error(const std::string& path, const std::string& what) {
  try {
    DeepseekModel::load(path);
    ADD_FAILURE() << "no error loading " << path << " (expected: " << what << ")";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << "message: " << e.what();
  }
}

// A copy of deepseek2-mini-f32.gguf with `edit` applied to each key (return false to drop it)
// and to each tensor (likewise).
struct GgufEdit {
  std::function<bool(const std::string&, GgufValue&)> key = [](const std::string&, GgufValue&) { return true; };
  std::function<bool(TensorView&)> tensor = [](TensorView&) { return true; };
};

std::string write_gguf(const std::string& name, const GgufEdit& edit) {
  auto src = GgufFile::open(kModels + "deepseek2-mini-f32.gguf");
  GgufWriter w;
  for (const std::string& k : src->keys_in_order()) {
    GgufValue v = src->get(k);
    if (edit.key(k, v)) w.set(k, v);
  }
  for (TensorView t : src->tensors()) {
    if (!edit.tensor(t)) continue;
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims), t.data, t.nbytes);
  }
  fs::create_directories(kTmp);
  const std::string path = kTmp + name + ".gguf";
  w.write(path);
  return path;
}

TEST(DeepseekHostile, GgufWrongRank) {
  GgufEdit e;
  e.tensor = [](TensorView& t) {
    if (t.name == "blk.1.attn_k_b.weight") {
      t.n_dims = 2;
      t.ne = {32, 256, 1, 1};
    }
    return true;
  };
  expect_load_error(write_gguf("wrong_rank", e), "tensor blk.1.attn_k_b.weight has shape {32, 256}, expected {32, 64, 4}");
}

TEST(DeepseekHostile, GgufExpertCountDisagreesWithTensors) {
  GgufEdit e;
  e.key = [](const std::string& k, GgufValue& v) {
    if (k == "deepseek2.expert_count") v = GgufValue::u32(4);
    return true;
  };
  expect_load_error(write_gguf("expert_count", e), "tensor blk.1.ffn_gate_inp.weight has shape {256, 8}, expected {256, 4}");
}

TEST(DeepseekHostile, GgufStackedExpertsShort) {
  // One stacked tensor claims 4 experts (and holds their bytes) while the others have 8.
  GgufEdit e;
  e.tensor = [](TensorView& t) {
    if (t.name == "blk.2.ffn_up_exps.weight") {
      t.ne[2] = 4;
      t.nbytes /= 2;
    }
    return true;
  };
  expect_load_error(write_gguf("short_experts", e), "tensor blk.2.ffn_up_exps.weight has shape {256, 128, 4}, expected {256, 128, 8}");
}

TEST(DeepseekHostile, GgufMissingScoreBiasInOneLayer) {
  GgufEdit e;
  e.tensor = [](TensorView& t) { return t.name != "blk.2.exp_probs_b.bias"; };
  expect_load_error(write_gguf("missing_bias", e), "missing tensor blk.2.exp_probs_b.bias");
}

TEST(DeepseekHostile, GgufInconsistentMlaKeys) {
  GgufEdit e;
  e.key = [](const std::string& k, GgufValue& v) {
    if (k == "deepseek2.attention.key_length") v = GgufValue::u32(48);
    return true;
  };
  expect_load_error(write_gguf("mla_keys", e), "attention.key_length / value_length (48 / 64)");
  GgufEdit g;
  g.key = [](const std::string& k, GgufValue& v) {
    if (k == "deepseek2.expert_gating_func") v = GgufValue::u32(7);
    return true;
  };
  expect_load_error(write_gguf("gating", g), "expert_gating_func 7 is not supported");
  GgufEdit r;
  r.key = [](const std::string& k, GgufValue& v) {
    if (k == "deepseek2.rope.dimension_count") v = GgufValue::u32(15);
    if (k == "deepseek2.attention.key_length") v = GgufValue::u32(79);  // keep the MLA keys consistent
    return true;
  };
  expect_load_error(write_gguf("rope_dim", r), "must be even");
}

// A copy of the FP8 checkpoint as one safetensors file, with `edit` applied to each tensor.
std::string write_fp8_copy(const std::string& name, const std::function<bool(TensorView&)>& edit) {
  const std::string src_dir = kModels + "deepseek2-mini-hf-fp8";
  auto src = SafetensorsSet::open(src_dir);
  const std::string dir = kTmp + name;
  fs::create_directories(dir);
  for (const char* f : {"config.json", "generation_config.json"}) {
    fs::copy_file(src_dir + "/" + f, dir + "/" + f, fs::copy_options::overwrite_existing);
  }
  SafetensorsWriter w;
  for (TensorView t : src->tensors()) {
    if (!edit(t)) continue;
    std::vector<int64_t> shape(t.ne.rend() - t.n_dims, t.ne.rend());
    w.add(t.name, t.type, shape, t.data, t.nbytes);
  }
  w.write(dir + "/model.safetensors");
  return dir;
}

TEST(DeepseekHostile, Fp8MissingScale) {
  const std::string dir = write_fp8_copy("fp8_missing_scale", [](TensorView& t) {
    return t.name != "model.layers.2.mlp.experts.5.down_proj.weight_scale_inv";
  });
  expect_load_error(dir, "FP8 tensor model.layers.2.mlp.experts.5.down_proj.weight has no block scales");
}

TEST(DeepseekHostile, Fp8ScaleGridWrong) {
  // kv_b_proj [256][64] needs a 2×1 grid of blocks (an edge block of 128×64 each).
  const std::string dir = write_fp8_copy("fp8_scale_grid", [](TensorView& t) {
    if (t.name == "model.layers.0.self_attn.kv_b_proj.weight_scale_inv") {
      t.ne = {1, 1, 1, 1};
      t.nbytes = 4;
    }
    return true;
  });
  expect_load_error(dir, "tensor model.layers.0.self_attn.kv_b_proj.weight_scale_inv has shape {1, 1}, expected {1, 2}");
}

TEST(DeepseekHostile, HfMissingExpert) {
  const std::string dir = write_fp8_copy("hf_missing_expert", [](TensorView& t) {
    return t.name.rfind("model.layers.1.mlp.experts.7.", 0) != 0;
  });
  expect_load_error(dir, "missing tensor model.layers.1.mlp.experts.7.gate_proj.weight");
}

}  // namespace
}  // namespace r1
