// Measures the machine's memory read bandwidth (the decode roofline): sums a 1 GiB float array with
// N threads, best of several passes. 32 independent lanes per thread (four 8-wide vector
// accumulators after auto-vectorization) so that add latency does not cap the rate. GB = 1e9 bytes.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : omp_get_num_procs();
  omp_set_num_threads(threads);
  constexpr size_t kLanes = 32;
  const size_t n = size_t{1} << 28;
  std::vector<float> a(n);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = static_cast<float>(i & 7);
  double best = 0;
  float sink = 0;
  for (int pass = 0; pass < 7; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      float acc[kLanes] = {};
#pragma omp for schedule(static)
      for (size_t i = 0; i < n; i += kLanes) {
        for (size_t j = 0; j < kLanes; ++j) acc[j] += a[i + j];
      }
      for (float x : acc) total += x;
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n) * sizeof(float) / dt / 1e9);
    sink += total;
  }
  std::printf("memory read bandwidth: %.1f GB/s (%d threads, 1 GiB, best of 7)%s\n", best, threads,
              sink < 0 ? " " : "");
  return 0;
}
