// The CUDA backend of a build without CUDA (XLSTM_CUDA=OFF or no nvcc at configure time): the
// same entry points, each saying so. device_count() is 0, so GPU tests skip.
#include "backend/cuda/api.h"
#include "backend/cuda/decode_persistent_v1.h"
#include "backend/cuda/family_ops.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/gemm_fallback.h"
#include "backend/cuda/gemv.h"
#include "backend/cuda/ops.h"
#include "model/backend.h"
#include "xlstm/error.h"

namespace xlstm::cuda {

namespace {
[[noreturn]] void no_cuda() {
  throw Error(tagged("cuda",
                     "this build has no CUDA backend (configure with -DXLSTM_CUDA=ON and a CUDA "
                     "toolkit)"));
}
}  // namespace

bool built() {
  return false;
}
int device_count() {
  return 0;
}
std::string device_description() {
  return "no CUDA backend in this build";
}
void require_device() {
  no_cuda();
}
size_t device_total_bytes() {
  return 0;
}

void* device_alloc(size_t) {
  no_cuda();
}
void device_free(void*) noexcept {}
void copy_to_device(void*, const void*, size_t) {
  no_cuda();
}
void copy_to_host(void*, const void*, size_t) {
  no_cuda();
}
void copy_on_device(void*, const void*, size_t) {
  no_cuda();
}
void fill_nan(void*, size_t) {
  no_cuda();
}
void synchronize() {
  no_cuda();
}
bool pdl_enabled() {
  return false;
}
bool stream_is_capturing(Stream) {
  return false;
}
size_t device_bytes_in_use() {
  return 0;
}
size_t device_bytes_peak() {
  return 0;
}
void reset_device_bytes_peak() {}
uint64_t persistent_decode_launches() {
  return 0;
}
uint64_t v1_decode_launches() {
  return 0;
}
bool v1_decode_supported(int64_t, int64_t, int64_t) {
  return false;
}

void rms_norm(const float*, int64_t, int64_t, int64_t, const float*, const float*, float, void*,
              WeightType, Stream) {
  no_cuda();
}
void soft_cap_columns(float*, int64_t, int64_t, int64_t, int64_t, float, Stream) {
  no_cuda();
}
void multihead_norm_gate(const float*, int64_t, int64_t, int64_t, const float*, const float*, float,
                         const float*, int64_t, void*, WeightType, Stream) {
  no_cuda();
}
void swiglu_bf16_in(const void*, int64_t, int64_t, void*, WeightType, Stream) {
  no_cuda();
}
void swiglu(const float*, int64_t, int64_t, void*, WeightType, Stream) {
  no_cuda();
}
void embedding_gather(const int32_t*, int64_t, const void*, WeightType, int64_t, float*, Stream) {
  no_cuda();
}
void convert(const void*, DType, void*, WeightType, size_t, Stream) {
  no_cuda();
}
void copy_rows(const float*, int64_t, int64_t, int64_t, void*, WeightType, Stream) {
  no_cuda();
}
void fill_normal(void*, WeightType, size_t, float, float, uint64_t, uint64_t, Stream) {
  no_cuda();
}
void fill_value(float*, size_t, float, Stream) {
  no_cuda();
}
void scale_columns(void*, WeightType, int64_t, int64_t, const float*, Stream) {
  no_cuda();
}
size_t mlstm_step_sync_bytes(const CellBatch&) {
  no_cuda();
}
size_t mlstm_step_partial_bytes(const CellBatch&) {
  no_cuda();
}
void mlstm_step(const CellBatch&, CellStateDev, float, unsigned*, Stream, const HeadNormGate*,
                float*) {
  no_cuda();
}
bool mlstm_chunkwise_uses_tensor_cores(const CellBatch&, int64_t, bool) {
  no_cuda();
}
bool mlstm_chunkwise_gemm_outputs(const CellBatch&, int64_t, bool) {
  no_cuda();
}
size_t mlstm_chunkwise_scratch_bytes(const CellBatch&, int64_t, bool, bool) {
  no_cuda();
}
void mlstm_chunkwise(const CellBatch&, CellStateDev, float, int64_t, void*, Stream, bool, Gemm*) {
  no_cuda();
}
size_t sample_scratch_bytes(int64_t, int64_t) {
  no_cuda();
}
void sample_rows(const float*, int64_t, int64_t, const SamplingParams&, const double*,
                 const int32_t*, const int32_t*, void*, int32_t*, Stream) {
  no_cuda();
}

void gemm_fallback(const void*, int64_t, int64_t, const void*, int64_t, WeightType, const float*,
                   float*, bool, Stream) {
  no_cuda();
}

void gemv_bf16(const void*, int64_t, int64_t, const void*, int64_t, const float*, float*, bool,
               Stream, void*) {
  no_cuda();
}
int64_t gemv_row_limit() {
  no_cuda();
}
bool gemv_bf16_rms(const void*, int64_t, int64_t, float, const void*, int64_t, const float*, float*,
                   bool, float, Stream) {
  no_cuda();
}
bool gemv_bf16_rms_swiglu(const void*, int64_t, int64_t, float, const void*, int64_t, const float*,
                          void*, Stream) {
  no_cuda();
}
void group_layer_norm(const float*, int64_t, int64_t, int64_t, int64_t, const float*, float, void*,
                      WeightType, bool, Stream) {
  no_cuda();
}
void causal_conv1d(const float*, int64_t, int64_t, int64_t, int64_t, const float*, const float*,
                   int64_t, float*, float*, bool, Stream) {
  no_cuda();
}
void mlstm_v1_qkv(const MlstmV1Qkv&, float, Stream) {
  no_cuda();
}
bool mlstm_v1_conv_qkv_steps(const MlstmV1Qkv&, float*, int64_t, int64_t, const float*,
                             const float*, int64_t, float*, float, Stream) {
  no_cuda();
}
SlstmPlan slstm_plan(int64_t, int64_t, WeightType, bool) {
  no_cuda();
}
bool slstm_step_inputs(const float*, int64_t, int64_t, const float*, float, const float*,
                       const float*, int64_t, float*, void*, void*, Stream) {
  no_cuda();
}
bool slstm_step(const SlstmRecurrence&, const void*, Stream) {
  no_cuda();
}
bool slstm_step_projected(const SlstmRecurrence&, const void*, const SlstmStepProjections&,
                          unsigned*, Stream) {
  no_cuda();
}
bool headwise_pair_gemv(const void*, int64_t, int64_t, int64_t, const void*, float*, Stream) {
  no_cuda();
}
std::vector<float> slstm_arrange_recurrent(const std::vector<float>&, int64_t, int64_t, int) {
  no_cuda();
}
std::vector<float> slstm_arrange_fragments(const std::vector<float>&, int64_t, int64_t,
                                           const SlstmPlan&) {
  no_cuda();
}
size_t slstm_scratch_bytes(const SlstmPlan&, int64_t, int64_t) {
  no_cuda();
}
void slstm_recurrence(const SlstmRecurrence&, const SlstmPlan&, void*, Stream) {
  no_cuda();
}
struct Gemm::Impl {};
Gemm::Gemm() {
  no_cuda();
}
Gemm::~Gemm() = default;
void Gemm::linear(const void*, int64_t, int64_t, const void*, int64_t, WeightType, const float*,
                  float*, bool, Stream) {
  no_cuda();
}
void Gemm::batched_bf16(const void*, const void*, float*, int64_t, int64_t, int64_t, int64_t,
                        Stream) {
  no_cuda();
}
bool Gemm::linear_bf16_out(const void*, int64_t, int64_t, const void*, int64_t, void*, Stream) {
  no_cuda();
}

std::unique_ptr<ModelBackend> load_backend(const ModelConfig&, WeightLoader&, WeightType,
                                           const LoadOptions&) {
  no_cuda();
}
std::unique_ptr<ModelBackend> random_backend(const ModelConfig&, uint64_t, WeightType) {
  no_cuda();
}

}  // namespace xlstm::cuda
