target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/mlstm_large_block.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/state.cpp
  ${CMAKE_CURRENT_LIST_DIR}/weight_loader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/weight_plan.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu_model.cpp)
