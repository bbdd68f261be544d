// The Linear layers through cuBLASLt. Row-major y[M, N] = x[M, K] · W[N, K]ᵀ is, in cuBLAS's
// column-major terms, yᵀ[N, M] = op(W)[N, K] · xᵀ[K, M] with W read as a K×N matrix (ld K)
// transposed and x as K×M (ld K). Compute type 32F: bf16 products accumulate in float32, and
// float32 inputs run true SGEMM (TF32 would need CUBLAS_COMPUTE_32F_FAST_TF32). A shape for which
// the heuristic offers no algorithm (unusual alignments) runs a plain tiled kernel instead.
// bf16 calls with few rows (decode; bound in gemv.h, XLSTM_GEMV overrides it) run the own GEMV
// kernel (gemv.cu).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>

#include "backend/cuda/check.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/gemm_fallback.h"
#include "backend/cuda/gemv.h"

namespace xlstm::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;
constexpr size_t kMaxBatchedPlans = 64;

// Largest power of two ≤ 256 that divides the address (cuBLASLt's alignment preference).
uint32_t alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && a % al != 0) al /= 2;
  return al;
}

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
};

using PlanKey =
    std::tuple<int64_t, int64_t, int64_t, int, bool, uint32_t, uint32_t, uint32_t, bool>;
using BatchedKey = std::tuple<int64_t, int64_t, int64_t, int64_t, uint32_t, uint32_t, uint32_t>;

void destroy(Plan& p) {
  if (p.a != nullptr) cublasLtMatrixLayoutDestroy(p.a);
  if (p.b != nullptr) cublasLtMatrixLayoutDestroy(p.b);
  if (p.c != nullptr) cublasLtMatrixLayoutDestroy(p.c);
  if (p.op != nullptr) cublasLtMatmulDescDestroy(p.op);
}

// A column-major rows×cols layout (leading dimension rows) of `batch` matrices spaced by its size.
cublasLtMatrixLayout_t batched_layout(cudaDataType_t type, int64_t rows, int64_t cols,
                                      int64_t batch) {
  cublasLtMatrixLayout_t l = nullptr;
  XLSTM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, static_cast<uint64_t>(rows),
                                                static_cast<uint64_t>(cols), rows));
  const auto count = static_cast<int32_t>(batch);
  const int64_t stride = rows * cols;
  XLSTM_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                      sizeof count));
  XLSTM_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
      l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  return l;
}

// The heuristic's first algorithm for p with the given operand alignments (bytes).
void choose_algorithm(cublasLtHandle_t handle, Plan& p, uint32_t al_a, uint32_t al_b, uint32_t al_c,
                      uint64_t workspace) {
  cublasLtMatmulPreference_t pref = nullptr;
  XLSTM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                       sizeof workspace);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a,
                                       sizeof al_a);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b,
                                       sizeof al_b);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c,
                                       sizeof al_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c,
                                       sizeof al_c);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(handle, p.op, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
    p.algo = result.algo;
    p.has_algo = true;
  }
}

}  // namespace

struct Gemm::Impl {
  cublasLtHandle_t handle = nullptr;
  DeviceBuffer workspace;
  std::map<PlanKey, Plan> plans;
  std::map<BatchedKey, Plan> batched;

  ~Impl() {
    for (auto& [key, p] : plans) destroy(p);
    for (auto& [key, p] : batched) destroy(p);
    if (handle != nullptr) cublasLtDestroy(handle);
  }

  Plan& plan(int64_t M, int64_t K, int64_t N, WeightType type, bool bias, uint32_t al_x,
             uint32_t al_w, uint32_t al_y, bool out_bf16 = false) {
    const PlanKey key{M, N, K, static_cast<int>(type), bias, al_x, al_w, al_y, out_bf16};
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    Plan& p = plans[key];
    const cudaDataType_t in = type == WeightType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
    XLSTM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    XLSTM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    XLSTM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (bias) {
      const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
      const cudaDataType_t bias_type = CUDA_R_32F;
      XLSTM_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
      XLSTM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                        &bias_type, sizeof bias_type));
    }
    XLSTM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, in, static_cast<uint64_t>(K),
                                                  static_cast<uint64_t>(N), K));
    XLSTM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, in, static_cast<uint64_t>(K),
                                                  static_cast<uint64_t>(M), K));
    XLSTM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, out_bf16 ? CUDA_R_16BF : CUDA_R_32F,
                                                  static_cast<uint64_t>(N),
                                                  static_cast<uint64_t>(M), N));
    choose_algorithm(handle, p, al_w, al_x, al_y, kWorkspaceBytes);
    return p;
  }

  // Row-major out = A · B is, column-major, outᵀ[N, M] = Bᵀ[N, K] · Aᵀ[K, M]: B as the first
  // operand (N×K, ld N), A as the second (K×M, ld K), neither transposed.
  Plan& batched_plan(int64_t batch, int64_t M, int64_t K, int64_t N, uint32_t al_a, uint32_t al_b,
                     uint32_t al_out) {
    const BatchedKey key{batch, M, K, N, al_a, al_b, al_out};
    auto it = batched.find(key);
    if (it != batched.end()) return it->second;
    // The batch count follows the call's sequences and chunks: a long-running server meets many.
    // Bounded by starting over (a plan is used only within the call that asked for it).
    if (batched.size() >= kMaxBatchedPlans) {
      for (auto& [k, old] : batched) destroy(old);
      batched.clear();
    }
    Plan& p = batched[key];
    XLSTM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    p.a = batched_layout(CUDA_R_16BF, N, K, batch);
    p.b = batched_layout(CUDA_R_16BF, K, M, batch);
    p.c = batched_layout(CUDA_R_32F, N, M, batch);
    choose_algorithm(handle, p, al_b, al_a, al_out, kWorkspaceBytes);
    return p;
  }
};

Gemm::Gemm() : impl_(std::make_unique<Impl>()) {
  XLSTM_CUBLAS_CHECK(cublasLtCreate(&impl_->handle));
  impl_->workspace = DeviceBuffer(kWorkspaceBytes);
}

Gemm::~Gemm() = default;

void Gemm::linear(const void* x, int64_t M, int64_t K, const void* W, int64_t N, WeightType type,
                  const float* bias, float* y, bool accumulate, Stream s) {
  if (M == 0 || N == 0) return;
  if (type == WeightType::BF16 && M <= gemv_row_limit()) {
    gemv_bf16(x, M, K, W, N, bias, y, accumulate, s);
    return;
  }
  Plan& p = impl_->plan(M, K, N, type, bias != nullptr, alignment(x), alignment(W), alignment(y));
  if (!p.has_algo) {
    gemm_fallback(x, M, K, W, N, type, bias, y, accumulate, s);
    return;
  }
  if (bias != nullptr) {
    XLSTM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                      &bias, sizeof bias));
  }
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  XLSTM_CUBLAS_CHECK(cublasLtMatmul(impl_->handle, p.op, &alpha, W, p.a, x, p.b, &beta, y, p.c, y,
                                    p.c, &p.algo, impl_->workspace.get(), kWorkspaceBytes, s));
}

void Gemm::batched_bf16(const void* A, const void* B, float* out, int64_t batch, int64_t M,
                        int64_t K, int64_t N, Stream s) {
  if (batch == 0 || M == 0 || N == 0) return;
  Plan& p = impl_->batched_plan(batch, M, K, N, alignment(A), alignment(B), alignment(out));
  if (!p.has_algo) {
    throw Error(tagged("cuda", "cuBLASLt offers no algorithm for a batched bf16 GEMM of " +
                                   std::to_string(batch) + " x [" + std::to_string(M) + ", " +
                                   std::to_string(K) + "] x [" + std::to_string(K) + ", " +
                                   std::to_string(N) + "]"));
  }
  const float alpha = 1.0f, beta = 0.0f;
  XLSTM_CUBLAS_CHECK(cublasLtMatmul(impl_->handle, p.op, &alpha, B, p.a, A, p.b, &beta, out, p.c,
                                    out, p.c, &p.algo, impl_->workspace.get(), kWorkspaceBytes, s));
}

bool Gemm::linear_bf16_out(const void* x, int64_t M, int64_t K, const void* W, int64_t N, void* y,
                           Stream s) {
  if (M == 0 || N == 0) return true;
  Plan& p =
      impl_->plan(M, K, N, WeightType::BF16, false, alignment(x), alignment(W), alignment(y), true);
  if (!p.has_algo) return false;
  const float alpha = 1.0f, beta = 0.0f;
  XLSTM_CUBLAS_CHECK(cublasLtMatmul(impl_->handle, p.op, &alpha, W, p.a, x, p.b, &beta, y, p.c, y,
                                    p.c, &p.algo, impl_->workspace.get(), kWorkspaceBytes, s));
  return true;
}

}  // namespace xlstm::cuda
