# One folder per block type (see src/blocks/registered.def).
target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_large/block_type.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_large/mlstm_large_block.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_large/weight_plan.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_v1/mlstm_v1_block.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_v1/mlstm_v1_weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/slstm/slstm_block.cpp
  ${CMAKE_CURRENT_LIST_DIR}/slstm/slstm_weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/v1_common/v1_common.cpp)
