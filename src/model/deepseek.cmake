# DeepSeek-V2/V3/R1 (MLA + DeepSeekMoE), part of r1_model. Included from src/model/CMakeLists.txt.
target_sources(r1_model PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_config.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_linear.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_weights.cc
  ${CMAKE_CURRENT_LIST_DIR}/mla.cc
  ${CMAKE_CURRENT_LIST_DIR}/moe.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_forward.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_model.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_context.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_batch.cc)

r1_test(deepseek_test r1_model
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_config_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/moe_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/mla_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_forward_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_hostile_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_ref_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/deepseek_context_test.cc)
r1_test(deepseek_batch_test r1_model ${CMAKE_CURRENT_LIST_DIR}/deepseek_batch_test.cc)
