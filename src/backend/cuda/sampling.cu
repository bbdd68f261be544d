// Token sampling on the GPU by the rule of sample_token() (include/xlstm/sampler.h), one block
// per row, without sorting the vocabulary: every filter keeps a prefix of the order "logit
// descending, index ascending", so each is found by a radix select over the logits' order-
// preserving 32-bit keys (four 8-bit passes of a weighted histogram: weight 1 for top-k, the
// softmax mass for top-p and for the final draw), then a scan over the tied elements in index
// order. Probabilities and masses are float64, as on the CPU.
#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

constexpr int kThreads = 1024;

// Keys compare as the floats do (for non-NaN values).
__device__ __forceinline__ uint32_t order_key(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

// The prefix of the order ending at (key, idx) inclusive.
struct Cut {
  uint32_t key;
  int32_t idx;
};
__device__ __forceinline__ bool in_cut(uint32_t key, int32_t i, Cut c) {
  return key > c.key || (key == c.key && i <= c.idx);
}

__device__ uint64_t block_max_u64(uint64_t v) {
  __shared__ uint64_t partial[32];
  for (int o = 16; o > 0; o >>= 1) {
    const uint64_t w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  uint64_t r = partial[0];
  for (int w = 1; w < kThreads / 32; ++w) r = partial[w] > r ? partial[w] : r;
  __syncthreads();
  return r;
}

__device__ double block_sum_f64(double v) {
  __shared__ double partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  double r = 0.0;
  for (int w = 0; w < kThreads / 32; ++w) r += partial[w];
  __syncthreads();
  return r;
}

// Sum of v over threads with a lower index.
__device__ double block_exclusive_scan_f64(double v) {
  __shared__ double warp_tot[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  double inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    const double w = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += w;
  }
  if (lane == 31) warp_tot[warp] = inc;
  __syncthreads();
  double before = 0.0;
  for (int w = 0; w < warp; ++w) before += warp_tot[w];
  __syncthreads();
  return before + inc - v;
}

struct Row {
  const float* work;   // penalized logits [V]
  const double* prob;  // exp((work − max) / T) [V]
  int32_t V;
};

// Which elements take part, and with which weight.
struct Filter {
  Cut cut;
  double min_prob;  // > 0: only prob >= min_prob
  bool count;       // weight 1 (top-k) instead of prob
  __device__ double weight(const Row& r, int32_t i, uint32_t key) const {
    if (!in_cut(key, i, cut)) return 0.0;
    if (min_prob > 0.0 && r.prob[i] < min_prob) return 0.0;
    return count ? 1.0 : r.prob[i];
  }
};

// The shortest prefix of the order, among the filter's elements, whose cumulative weight reaches
// target (>= target, or > target when strict). *reached is false when the whole set falls short
// (rounding at the end of the distribution); the returned cut is then the filter's own.
__device__ Cut prefix_cut(const Row& r, const Filter& f, double target, bool strict,
                          bool* reached) {
  __shared__ double hist[256];
  __shared__ int chosen;
  __shared__ double above_s;
  const int tid = threadIdx.x;
  auto reaches = [&](double x) { return strict ? x > target : x >= target; };
  uint32_t prefix = 0, mask = 0;
  double above = 0.0;
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    if (tid < 256) hist[tid] = 0.0;
    __syncthreads();
    for (int32_t i = tid; i < r.V; i += kThreads) {
      const uint32_t key = order_key(r.work[i]);
      if ((key & mask) != prefix) continue;
      const double w = f.weight(r, i, key);
      if (w != 0.0) atomicAdd(&hist[(key >> shift) & 255u], w);
    }
    __syncthreads();
    if (tid == 0) {
      double cum = above;
      int c = -1;
      for (int bin = 255; bin >= 0; --bin) {
        if (hist[bin] != 0.0 && reaches(cum + hist[bin])) {
          c = bin;
          break;
        }
        cum += hist[bin];
      }
      chosen = c;
      above_s = cum;
    }
    __syncthreads();
    if (chosen < 0) {
      *reached = false;
      return f.cut;
    }
    above = above_s;
    prefix |= static_cast<uint32_t>(chosen) << shift;
    mask |= 0xFFu << shift;
  }
  // Ties at key == prefix, in index order: contiguous index ranges per thread, scanned.
  const int32_t per = (r.V + kThreads - 1) / kThreads;
  const int32_t i0 = min(r.V, tid * per), i1 = min(r.V, i0 + per);
  double local = 0.0;
  for (int32_t i = i0; i < i1; ++i) {
    const uint32_t key = order_key(r.work[i]);
    if (key == prefix) local += f.weight(r, i, key);
  }
  double running = above + block_exclusive_scan_f64(local);
  int32_t hit = -1, last_tie = -1;
  for (int32_t i = i0; i < i1; ++i) {
    const uint32_t key = order_key(r.work[i]);
    if (key != prefix) continue;
    const double w = f.weight(r, i, key);
    if (w == 0.0) continue;
    last_tie = i;
    running += w;
    if (hit < 0 && reaches(running)) hit = i;
  }
  // The lowest index that reaches the target, else (rounding) the last tie.
  const uint64_t best = block_max_u64(hit >= 0 ? (1ull << 32) | static_cast<uint32_t>(~hit) : 0ull);
  *reached = true;
  if (best != 0) return {prefix, static_cast<int32_t>(~static_cast<uint32_t>(best))};
  const uint64_t lt = block_max_u64(last_tie >= 0 ? static_cast<uint64_t>(last_tie) + 1 : 0);
  return {prefix, static_cast<int32_t>(lt) - 1};
}

__global__ void sample_kernel(const float* logits, int32_t V, SamplingParams p, const double* u,
                              const int32_t* pen_ids, const int32_t* pen_offsets, float* work_all,
                              double* prob_all, int32_t* tokens) {
  const int64_t b = blockIdx.x;
  const int tid = threadIdx.x;
  float* work = work_all + b * V;
  double* prob = prob_all + b * V;
  for (int32_t i = tid; i < V; i += kThreads) work[i] = logits[b * V + i];
  __syncthreads();
  if (p.repeat_penalty != 1.0f && pen_offsets != nullptr) {
    for (int32_t j = pen_offsets[b] + tid; j < pen_offsets[b + 1]; j += kThreads) {
      const int32_t id = pen_ids[j];  // distinct within the row
      if (id < 0 || id >= V) continue;
      const float l = work[id];
      work[id] = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
    }
    __syncthreads();
  }
  // The maximum: key high, index low wins.
  uint64_t best = 0;
  for (int32_t i = tid; i < V; i += kThreads) {
    const uint64_t v = (static_cast<uint64_t>(order_key(work[i])) << 32) |
                       static_cast<uint32_t>(~static_cast<uint32_t>(i));
    best = v > best ? v : best;
  }
  best = block_max_u64(best);
  const auto argmax = static_cast<int32_t>(~static_cast<uint32_t>(best));
  if (p.temperature == 0.0f) {
    if (tid == 0) tokens[b] = argmax;
    return;
  }
  const double max_l = work[argmax], temp = p.temperature;
  for (int32_t i = tid; i < V; i += kThreads) prob[i] = exp((work[i] - max_l) / temp);
  __syncthreads();
  const Row row{work, prob, V};
  Filter f{{0u, V - 1}, 0.0, false};  // everything
  bool reached = false;
  if (p.top_k > 0 && p.top_k < V) {
    const Filter count{f.cut, 0.0, true};
    f.cut = prefix_cut(row, count, static_cast<double>(p.top_k), false, &reached);
  }
  if (p.top_p < 1.0f) {
    double z = 0.0;
    for (int32_t i = tid; i < V; i += kThreads) z += f.weight(row, i, order_key(work[i]));
    z = block_sum_f64(z);
    f.cut = prefix_cut(row, f, static_cast<double>(p.top_p) * z, false, &reached);
  }
  f.min_prob = p.min_p;  // p_max is exp(0) = 1
  double total = 0.0;
  for (int32_t i = tid; i < V; i += kThreads) total += f.weight(row, i, order_key(work[i]));
  total = block_sum_f64(total);
  const Cut pick = prefix_cut(row, f, u[b] * total, true, &reached);
  if (reached) {
    if (tid == 0) tokens[b] = pick.idx;
    return;
  }
  // u·total rounded up to the total: the last kept element (lowest key, then highest index).
  uint64_t last = 0;
  for (int32_t i = tid; i < V; i += kThreads) {
    const uint32_t key = order_key(work[i]);
    if (f.weight(row, i, key) == 0.0) continue;
    const uint64_t v = (static_cast<uint64_t>(~key) << 32) | static_cast<uint32_t>(i);
    last = v > last ? v : last;
  }
  last = block_max_u64(last);
  if (tid == 0) tokens[b] = static_cast<int32_t>(static_cast<uint32_t>(last));
}

}  // namespace

size_t sample_scratch_bytes(int64_t B, int64_t V) {
  return static_cast<size_t>(B * V) * (sizeof(float) + sizeof(double));
}

void sample_rows(const float* logits, int64_t B, int64_t V, const SamplingParams& p,
                 const double* d_u, const int32_t* d_penalty_ids, const int32_t* d_penalty_offsets,
                 void* d_scratch, int32_t* d_tokens, Stream s) {
  if (B == 0) return;
  auto* prob = static_cast<double*>(d_scratch);
  auto* work = reinterpret_cast<float*>(prob + B * V);
  sample_kernel<<<static_cast<unsigned>(B), kThreads, 0, s>>>(logits, static_cast<int32_t>(V), p,
                                                              d_u, d_penalty_ids, d_penalty_offsets,
                                                              work, prob, d_tokens);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
