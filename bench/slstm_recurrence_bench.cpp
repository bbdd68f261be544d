// Time of the fused sLSTM recurrence alone (src/backend/cuda/slstm.cu), per time step of one
// layer: the row the issue compares with FlashRNN and the official CUDA backend.
//   slstm_recurrence_bench [--heads 4] [--head-dim 512] [--batch 1,8] [--steps 1024] [--bf16]
//                          [--cuda-cores]
// Prints one table row per batch size: plan (blocks per head, kernel), µs per step.
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <random>
#include <vector>

#include "backend/cuda/api.h"
#include "backend/cuda/family_ops.h"

using namespace xlstm;

int main(int argc, char** argv) {
  CLI::App app{"fused sLSTM recurrence: microseconds per step"};
  int64_t NH = 4, DH = 512, steps = 1024;
  std::vector<int64_t> batches{1, 8};
  bool bf16 = false;
  app.add_option("--heads", NH)->check(CLI::Range(1, 64));
  app.add_option("--head-dim", DH)->check(CLI::Range(4, 4096));
  app.add_option("--batch", batches)->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("--steps", steps)->check(CLI::Range(1, 1 << 20));
  app.add_flag("--bf16", bf16, "recurrent matrix in bf16 (the bf16 model's)");
  bool cuda_cores = false;
  app.add_flag("--cuda-cores", cuda_cores,
               "bf16: the CUDA-core kernel even where the plan takes tensor cores");
  CLI11_PARSE(app, argc, argv);
  try {
    cuda::require_device();
    const int64_t E = NH * DH;
    const WeightType wt = bf16 ? WeightType::BF16 : WeightType::F32;
    const cuda::SlstmPlan plan = cuda::slstm_plan(NH, DH, wt, !cuda_cores);
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0.0f, 0.05f);
    std::vector<float> R(static_cast<size_t>(4 * E * DH));
    for (auto& x : R) x = n(rng);
    auto upload = [&](const std::vector<float>& v) {
      std::vector<uint16_t> r16(v.size());
      for (size_t i = 0; i < v.size(); ++i) r16[i] = f32_to_bf16(v[i]);
      cuda::DeviceBuffer d(v.size() * (bf16 ? 2 : 4));
      cuda::copy_to_device(d.get(), bf16 ? static_cast<const void*>(r16.data()) : v.data(),
                           d.bytes());
      return d;
    };
    const cuda::DeviceBuffer dR = upload(cuda::slstm_arrange_recurrent(R, NH, DH, plan.G));
    const cuda::DeviceBuffer dRf = plan.tensor_cores
                                       ? upload(cuda::slstm_arrange_fragments(R, NH, DH, plan))
                                       : cuda::DeviceBuffer();
    std::printf("| heads x dim | R | batch | blocks/head | kernel | us/step |\n");
    std::printf("|---|---|---:|---:|---|---:|\n");
    for (int64_t B : batches) {
      const size_t T = static_cast<size_t>(B * steps);
      std::vector<float> wx(T * 2 * E);
      for (auto& x : wx) x = n(rng) * 10;
      cuda::DeviceBuffer wif(wx.size() * 4), wzo(wx.size() * 4), bias(4 * E * 4), y(T * E * 4),
          state(4 * B * E * 4), scratch(cuda::slstm_scratch_bytes(plan, NH, E));
      cuda::copy_to_device(wif.get(), wx.data(), wif.bytes());
      cuda::copy_to_device(wzo.get(), wx.data(), wzo.bytes());
      cudaMemset(bias.get(), 0, bias.bytes());
      cudaMemset(state.get(), 0, state.bytes());
      float* st = state.as<float>();
      const cuda::SlstmRecurrence rec{B,
                                      steps,
                                      E,
                                      NH,
                                      DH,
                                      wif.as<float>(),
                                      wzo.as<float>(),
                                      bias.as<float>(),
                                      dR.get(),
                                      dRf.get(),
                                      wt,
                                      y.as<float>(),
                                      st,
                                      st + B * E,
                                      st + 2 * B * E,
                                      st + 3 * B * E};
      cuda::slstm_recurrence(rec, plan, scratch.get(), nullptr);  // warm-up
      cuda::synchronize();
      cudaEvent_t a, b;
      cudaEventCreate(&a);
      cudaEventCreate(&b);
      const int reps = 5;
      cudaEventRecord(a);
      for (int r = 0; r < reps; ++r) cuda::slstm_recurrence(rec, plan, scratch.get(), nullptr);
      cudaEventRecord(b);
      cudaEventSynchronize(b);
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      std::printf("| %ld x %ld | %s | %ld | %d | %s | %.2f |\n", static_cast<long>(NH),
                  static_cast<long>(DH), bf16 ? "bf16" : "f32", static_cast<long>(B), plan.G,
                  plan.tensor_cores && B > cuda::kSlstmTensorCoreMinBatch ? "tensor cores"
                  : plan.smem_R && steps >= 8 ? "CUDA cores, slice in smem"
                                              : "CUDA cores, slice from L2",
                  1000.0 * ms / reps / steps);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
