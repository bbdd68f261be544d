# The CUDA backend when the build has one (XLSTM_WITH_CUDA, see the top CMakeLists.txt), else the
# stub whose entry points throw "[cuda] this build has no CUDA backend".
if(XLSTM_WITH_CUDA)
  target_sources(xlstm PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/runtime.cpp
    ${CMAKE_CURRENT_LIST_DIR}/gemm_cublaslt.cpp
    ${CMAKE_CURRENT_LIST_DIR}/gemm_fallback.cu
    ${CMAKE_CURRENT_LIST_DIR}/gemv.cu
    ${CMAKE_CURRENT_LIST_DIR}/decode_persistent.cu
    ${CMAKE_CURRENT_LIST_DIR}/decode_persistent_v1.cu
    ${CMAKE_CURRENT_LIST_DIR}/cuda_state.cpp
    ${CMAKE_CURRENT_LIST_DIR}/state_copy.cu
    ${CMAKE_CURRENT_LIST_DIR}/cuda_model.cpp
    ${CMAKE_CURRENT_LIST_DIR}/weights.cu
    ${CMAKE_CURRENT_LIST_DIR}/rms_norm.cu
    ${CMAKE_CURRENT_LIST_DIR}/gates.cu
    ${CMAKE_CURRENT_LIST_DIR}/multihead_norm.cu
    ${CMAKE_CURRENT_LIST_DIR}/swiglu.cu
    ${CMAKE_CURRENT_LIST_DIR}/mlstm_step.cu
    ${CMAKE_CURRENT_LIST_DIR}/mlstm_chunkwise.cu
    ${CMAKE_CURRENT_LIST_DIR}/mlstm_chunkwise_tc.cu
    ${CMAKE_CURRENT_LIST_DIR}/mlstm_chunkwise_tc_gemm.cu
    ${CMAKE_CURRENT_LIST_DIR}/mlstm_chunkwise_tc_wide.cu
    ${CMAKE_CURRENT_LIST_DIR}/sampling.cu
    ${CMAKE_CURRENT_LIST_DIR}/family_model.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family_ops.cu
    ${CMAKE_CURRENT_LIST_DIR}/slstm.cu
    ${CMAKE_CURRENT_LIST_DIR}/../../blocks/mlstm_v1/mlstm_v1_cuda.cpp
    ${CMAKE_CURRENT_LIST_DIR}/../../blocks/slstm/slstm_cuda.cpp)
  target_link_libraries(xlstm PUBLIC CUDA::cudart CUDA::cublasLt)
  # Fast-math stays off: the kernels are compared with the CPU reference at float32 tolerances.
else()
  target_sources(xlstm PRIVATE ${CMAKE_CURRENT_LIST_DIR}/no_cuda.cpp)
endif()
