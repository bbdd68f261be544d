target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/elementwise.cpp
  ${CMAKE_CURRENT_LIST_DIR}/linear.cpp
  ${CMAKE_CURRENT_LIST_DIR}/norms.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_cell.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_chunkwise.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_parallel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_step.cpp)
target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/causal_conv.cpp
  ${CMAKE_CURRENT_LIST_DIR}/headwise.cpp
  ${CMAKE_CURRENT_LIST_DIR}/slstm/slstm_cell.cpp)
