target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/elementwise.cpp
  ${CMAKE_CURRENT_LIST_DIR}/linear.cpp
  ${CMAKE_CURRENT_LIST_DIR}/norms.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_cell.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_chunkwise.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_parallel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mlstm/mlstm_step.cpp)
