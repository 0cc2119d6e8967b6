#include "io/hf_config.h"

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace r1 {
namespace {

const std::string kData = R1_TEST_DATA_DIR;

TEST(HfConfig, ReadsRealConfigs) {
  const std::string path = kData + "/models/qwen2-mini-hf/config.json";
  const nlohmann::json c = read_json_file(path);
  EXPECT_EQ(json_string(c, "model_type", std::nullopt, path), "qwen2");
  EXPECT_EQ(json_int(c, "hidden_size", std::nullopt, path), 256);
  EXPECT_EQ(json_int(c, "num_key_value_heads", std::nullopt, path), 2);
  EXPECT_DOUBLE_EQ(json_float(c, "rms_norm_eps", std::nullopt, path), 1e-6);
  EXPECT_DOUBLE_EQ(json_float(c, "rope_theta", std::nullopt, path), 10000.0);
  EXPECT_FALSE(json_bool(c, "tie_word_embeddings", std::nullopt, path));

  const std::string lite = kData + "/models/deepseek2-lite-mini-hf/config.json";
  const nlohmann::json d = read_json_file(lite);
  EXPECT_EQ(json_int(d, "q_lora_rank", 0, lite), 0);  // null in the file: "no q LoRA"
  EXPECT_EQ(json_int(d, "kv_lora_rank", std::nullopt, lite), 64);

  const std::string tc = kData + "/models/qwen2-mini-hf/tokenizer_config.json";
  const nlohmann::json t = read_json_file(tc);
  EXPECT_TRUE(json_bool(t, "add_bos_token", std::nullopt, tc));
  EXPECT_EQ(json_int(t, "model_max_length", std::nullopt, tc), 16384);
  EXPECT_NE(json_string(t, "chat_template", std::nullopt, tc).find("<｜Assistant｜>"), std::string::npos);
}

TEST(HfConfig, GettersCheckTypesAndDefaults) {
  const nlohmann::json j = nlohmann::json::parse(
      R"({"i": 3, "neg": -2, "f": 2.5, "whole": 4.0, "b": true, "s": "x", "n": null, "big": 18446744073709551615})");
  const std::string f = "config.json";
  EXPECT_EQ(json_int(j, "i", std::nullopt, f), 3);
  EXPECT_EQ(json_int(j, "neg", std::nullopt, f), -2);
  EXPECT_EQ(json_int(j, "whole", std::nullopt, f), 4);
  EXPECT_EQ(json_int(j, "absent", 9, f), 9);
  EXPECT_EQ(json_int(j, "n", 5, f), 5);
  EXPECT_DOUBLE_EQ(json_float(j, "i", std::nullopt, f), 3.0);
  EXPECT_DOUBLE_EQ(json_float(j, "f", std::nullopt, f), 2.5);
  EXPECT_DOUBLE_EQ(json_float(j, "absent", 0.5, f), 0.5);
  EXPECT_TRUE(json_bool(j, "b", std::nullopt, f));
  EXPECT_FALSE(json_bool(j, "absent", false, f));
  EXPECT_EQ(json_string(j, "s", std::nullopt, f), "x");
  EXPECT_EQ(json_string(j, "absent", "d", f), "d");

  EXPECT_ERROR_HAS(json_int(j, "f", std::nullopt, f), "config.json: f must be an integer");
  EXPECT_ERROR_HAS(json_int(j, "s", 1, f), "config.json: s must be an integer");
  EXPECT_ERROR_HAS(json_int(j, "big", std::nullopt, f), "config.json: big is out of range");
  EXPECT_ERROR_HAS(json_int(j, "absent", std::nullopt, f), "config.json: missing key absent");
  EXPECT_ERROR_HAS(json_int(j, "n", std::nullopt, f), "config.json: missing key n");
  EXPECT_ERROR_HAS(json_float(j, "s", std::nullopt, f), "config.json: s must be a number");
  EXPECT_ERROR_HAS(json_bool(j, "i", std::nullopt, f), "config.json: i must be true or false");
  EXPECT_ERROR_HAS(json_string(j, "i", std::nullopt, f), "config.json: i must be a string");
  EXPECT_ERROR_HAS(json_int(nlohmann::json::array(), "i", 1, f), "config.json: expected a JSON object");
}

TEST(HfConfig, FileErrorsNameTheFile) {
  test::TempDir dir;
  EXPECT_ERROR_HAS(read_json_file(dir.file("config.json")), "cannot open ", "config.json", "No such file");
  test::write_text(dir.file("bad.json"), "{\"hidden_size\": 12,");
  EXPECT_ERROR_HAS(read_json_file(dir.file("bad.json")), (dir.file("bad.json") + ": malformed JSON").c_str());
  test::write_text(dir.file("empty.json"), "");
  EXPECT_ERROR_HAS(read_json_file(dir.file("empty.json")), "empty.json: malformed JSON");
  EXPECT_ERROR_HAS(parse_json("[1,]", "inline.json"), "inline.json: malformed JSON");
}

}  // namespace
}  // namespace r1
