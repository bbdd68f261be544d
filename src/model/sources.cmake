target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/block_registry.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/state.cpp
  ${CMAKE_CURRENT_LIST_DIR}/weight_loader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu_model.cpp)
