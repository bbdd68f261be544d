target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/family_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/json_section.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_path.cpp
  ${CMAKE_CURRENT_LIST_DIR}/npy.cpp
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cpp)
