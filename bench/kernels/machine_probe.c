// What the machine under the benchmarks can do, for reading docs/BENCHMARKS.md's numbers against
// (the project's host has changed between sessions: a Zen 1 with 128-bit FMA units until the
// twentieth measurement, a Zen 3 since): one core's multiply-add peak and two cores' together,
// and reading a buffer from L2, L3 and memory on one thread and on two at once. Threads through
// thread_pool.c, as the kernels use them; best of 21 (the machine's other tenants slow some runs,
// docs/BENCHMARKS.md), and for the multiply-adds the median too.
//
//     clang -O2 -o /tmp/machine_probe bench/kernels/machine_probe.c Sources/CKernels/thread_pool.c \
//       -ISources/CKernels/include -lpthread && /tmp/machine_probe
#include "ckernels.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 21, FMA_STEPS = 200000 };

static volatile float sink;

/// Twelve independent chains of multiply-adds: enough to cover the FMA latency on both pipes.
__attribute__((target("avx2,fma"))) static void fma_chains(void *context, int task) {
    (void)context, (void)task;
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i * 0.001f);
    const __m256 m = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.0001f);
    for (long k = 0; k < FMA_STEPS; k++)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, b);
    float total = 0;
    for (int i = 0; i < 12; i++) total += acc[i][0];
    sink = total;
}

static float *buffers[2];
static long floats;
static int passes = 4;

/// Sums a buffer (task's own) with four independent adds a step, `passes` times over.
__attribute__((target("avx2"))) static void read_buffer(void *context, int task) {
    (void)context;
    const float *b = buffers[task];
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int pass = 0; pass < passes; pass++)
        for (long i = 0; i < floats; i += 32) {
            s0 = _mm256_add_ps(s0, _mm256_load_ps(b + i)), s1 = _mm256_add_ps(s1, _mm256_load_ps(b + i + 8));
            s2 = _mm256_add_ps(s2, _mm256_load_ps(b + i + 16)), s3 = _mm256_add_ps(s3, _mm256_load_ps(b + i + 24));
        }
    sink = s0[0] + s1[0] + s2[0] + s3[0];
}

/// Seconds of RUNS calls of `function` on `tasks` threads, sorted: [0] the best, [RUNS / 2] the median.
static void timed_runs(int tasks, swk_pool_task function, double seconds[RUNS]) {
    for (int r = 0; r < RUNS; r++) {
        const double t = now();
        swk_pool_run(tasks, function, NULL);
        seconds[r] = now() - t;
    }
    qsort(seconds, RUNS, sizeof(double), ascending);
}

static double best_of(int tasks, swk_pool_task function) {
    double seconds[RUNS];
    timed_runs(tasks, function, seconds);
    return seconds[0];
}

int main(void) {
    // The median beside the best: in the machine's slow phases two cores' median has read twice
    // one core's (the second vCPU away for the whole probe) while their best stayed equal.
    double one[RUNS], two[RUNS];
    timed_runs(1, fma_chains, one), timed_runs(2, fma_chains, two);
    const double flops = 12.0 * 16 * FMA_STEPS;
    printf("multiply-adds: one core %.1f GFLOP/s (median %.1f); two cores %.1f GFLOP/s each (median %.1f)\n",
           flops / one[0] * 1e-9, flops / one[RUNS / 2] * 1e-9, flops / two[0] * 1e-9, flops / two[RUNS / 2] * 1e-9);
    const long sizes[] = {256 << 10, 2 << 20, 8 << 20, 64 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        floats = sizes[k] / 4;
        for (int t = 0; t < 2; t++) {
            buffers[t] = aligned_alloc(64, (size_t)sizes[k]);
            for (long i = 0; i < floats; i++) buffers[t][i] = 1.0f;
        }
        const double alone = best_of(1, read_buffer), both = best_of(2, read_buffer);
        printf("reading %5ld KiB per thread: one thread %.1f GB/s; two at once %.1f GB/s each\n", sizes[k] >> 10,
               passes * (double)sizes[k] / alone * 1e-9, passes * (double)sizes[k] / both * 1e-9);
        free(buffers[0]), free(buffers[1]);
    }
    return 0;
}
