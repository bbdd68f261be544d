target_sources(xlstm PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/cpu_dispatch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dtype.cpp
  ${CMAKE_CURRENT_LIST_DIR}/env_settings.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mapped_file.cpp
  ${CMAKE_CURRENT_LIST_DIR}/matrix.cpp
  ${CMAKE_CURRENT_LIST_DIR}/threads.cpp)
if(XLSTM_NATIVE)
  # Only cpu_kernel_target() needs to know (it reports what the kernels were built for).
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu_dispatch.cpp PROPERTIES
                              COMPILE_DEFINITIONS XLSTM_NATIVE_BUILD=1)
endif()
