// The arithmetic peak of one CPU core: independent chains of fused multiply-adds that keep
// every FMA pipe busy and touch no memory. Driven by benchmarks/cpu_peak.py, which compiles
// it and picks the kernels the CPU has (it reads /proc/cpuinfo's flags).
//
//   cpu_peak KERNEL ITERS [CORE]  ->  one JSON line: FLOPs done, wall and CPU seconds
//
// CORE pins the process to that CPU first (the driver runs one per core at once).
// KERNEL: fma256 (AVX2 FMA, 8 float32 lanes), fma512 (AVX-512, 16 lanes) or dpbf16
// (AVX512_BF16 vdpbf16ps: 32 bfloat16 products summed into 16 float32 lanes, 64 FLOP).
// CHAINS accumulators per kernel: enough to cover the FMA latency (4-5 cycles) times the
// pipes (2) on current x86 cores, few enough to stay in registers (16 ymm, 32 zmm).
#define _GNU_SOURCE
#include <immintrin.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAINS_256 12
#define CHAINS_512 24

static double seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx2,fma"))) static double fma256(long iters, float *check) {
  __m256 acc[CHAINS_256];
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS_256; i++) acc[i] = _mm256_set1_ps((float)i);
  for (long n = 0; n < iters; n++) {
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS_256; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  float lanes[8];
  for (int i = 0; i < CHAINS_256; i++) {
    _mm256_storeu_ps(lanes, acc[i]);
    for (int j = 0; j < 8; j++) *check += lanes[j];
  }
  return 2.0 * 8 * CHAINS_256 * (double)iters;
}

__attribute__((target("avx512f"))) static double fma512(long iters, float *check) {
  __m512 acc[CHAINS_512];
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS_512; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++) {
#pragma GCC unroll 24
    for (int i = 0; i < CHAINS_512; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  for (int i = 0; i < CHAINS_512; i++) *check += _mm512_reduce_add_ps(acc[i]);
  return 2.0 * 16 * CHAINS_512 * (double)iters;
}

__attribute__((target("avx512f,avx512bf16"))) static double dpbf16(long iters, float *check) {
  __m512 acc[CHAINS_512];
  // Tiny products so the float32 sums stay finite however long it runs.
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-6f), _mm512_set1_ps(1e-6f));
  for (int i = 0; i < CHAINS_512; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++) {
#pragma GCC unroll 24
    for (int i = 0; i < CHAINS_512; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, x);
  }
  for (int i = 0; i < CHAINS_512; i++) *check += _mm512_reduce_add_ps(acc[i]);
  return 2.0 * 32 * CHAINS_512 * (double)iters;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: %s fma256|fma512|dpbf16 ITERS [CORE]\n", argv[0]);
    return 2;
  }
  const long iters = atol(argv[2]);
  if (argc == 4) {
    cpu_set_t cores;
    CPU_ZERO(&cores);
    CPU_SET(atoi(argv[3]), &cores);
    if (sched_setaffinity(0, sizeof(cores), &cores)) {
      perror("sched_setaffinity");
      return 2;
    }
  }
  float check = 0;
  double flop;
  const double wall0 = seconds(CLOCK_MONOTONIC), cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  if (!strcmp(argv[1], "fma256")) {
    flop = fma256(iters, &check);
  } else if (!strcmp(argv[1], "fma512")) {
    flop = fma512(iters, &check);
  } else if (!strcmp(argv[1], "dpbf16")) {
    flop = dpbf16(iters, &check);
  } else {
    fprintf(stderr, "unknown kernel %s\n", argv[1]);
    return 2;
  }
  const double wall = seconds(CLOCK_MONOTONIC) - wall0;
  const double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
  // The check sum is printed so the compiler cannot drop the loops.
  printf("{\"kernel\": \"%s\", \"flop\": %.0f, \"wall_s\": %.6f, \"cpu_s\": %.6f, "
         "\"check\": %g}\n", argv[1], flop, wall, cpu, check);
  return 0;
}
