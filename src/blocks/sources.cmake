# One folder per block type (see src/blocks/registered.def).
target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_large/block_type.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_large/mlstm_large_block.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_large/weight_plan.cpp)
