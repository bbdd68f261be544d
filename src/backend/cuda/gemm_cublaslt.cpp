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
#include <tuple>

#include "backend/cuda/check.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/gemm_fallback.h"
#include "backend/cuda/gemv.h"

namespace xlstm::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

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

}  // namespace

struct Gemm::Impl {
  cublasLtHandle_t handle = nullptr;
  DeviceBuffer workspace;
  std::map<PlanKey, Plan> plans;

  ~Impl() {
    for (auto& [key, p] : plans) {
      if (p.a != nullptr) cublasLtMatrixLayoutDestroy(p.a);
      if (p.b != nullptr) cublasLtMatrixLayoutDestroy(p.b);
      if (p.c != nullptr) cublasLtMatrixLayoutDestroy(p.c);
      if (p.op != nullptr) cublasLtMatmulDescDestroy(p.op);
    }
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
    cublasLtMatmulPreference_t pref = nullptr;
    XLSTM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                         sizeof ws);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_w,
                                         sizeof al_w);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_x,
                                         sizeof al_x);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_y,
                                         sizeof al_y);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_y,
                                         sizeof al_y);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(handle, p.op, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
      p.algo = result.algo;
      p.has_algo = true;
    }
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
