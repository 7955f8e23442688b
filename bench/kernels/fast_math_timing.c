// fast_math.c's elementwise loops (exp, erf, GELU, GELU's tanh form) over 196,608 floats, MiniLM's
// FFN output at batch 1, sequence 128 (128 × 1536), and softmax over the same floats as 1536 rows
// of 128 (one layer's attention scores at s128), one thread: medians of RUNS runs of each on the
// same inputs (uniform in [−4, 4)). Built as below it times the loops as they ship; built again
// with -DELEMENTWISE_LOOP= it times the elementwise loops without their interleave pragma, one
// vector at a time as clang vectorized them before (softmax, in intrinsics, is the same either
// way; its earlier one-vector loop is timed by building this file in a worktree of 54b4dca)
// (docs/BENCHMARKS.md, fourteenth measurement).
//
//     clang -O2 -o /tmp/fast_math_timing bench/kernels/fast_math_timing.c -ISources/CKernels/include -lm && /tmp/fast_math_timing
//     clang -O2 -DELEMENTWISE_LOOP= -o /tmp/fast_math_timing_one bench/kernels/fast_math_timing.c -ISources/CKernels/include -lm \
//       && /tmp/fast_math_timing_one
#include "../../Sources/CKernels/fast_math.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 41, COUNT = 128 * 1536 };

int main(void) {
    float *values = malloc(sizeof(float) * COUNT), *inputs = malloc(sizeof(float) * COUNT);
    for (int i = 0; i < COUNT; i++) inputs[i] = (float)(rand() % 2000 - 1000) * 0.004f;
    void (*const loops[])(float *, int64_t) = {swk_exp, swk_erf, swk_gelu, swk_gelu_tanh};
    const char *const names[] = {"exp", "erf", "gelu", "gelu_tanh"};
    printf("%s path, %d floats, ms:", swk_has_avx2() ? "AVX2" : "portable", COUNT);
    for (size_t l = 0; l < sizeof loops / sizeof loops[0]; l++) {
        double times[RUNS];
        for (int r = 0; r < RUNS; r++) {
            memcpy(values, inputs, sizeof(float) * COUNT);
            const double t = now();
            loops[l](values, COUNT);
            times[r] = now() - t;
        }
        qsort(times, RUNS, sizeof(double), ascending);
        printf("  %s %.3f", names[l], times[RUNS / 2] * 1e3);
    }
    // Softmax over the same floats as 1536 rows of 128: one MiniLM layer's attention scores at s128.
    double times[RUNS];
    for (int r = 0; r < RUNS; r++) {
        memcpy(values, inputs, sizeof(float) * COUNT);
        const double t = now();
        for (int row = 0; row < COUNT / 128; row++) swk_softmax(values + row * 128, 128);
        times[r] = now() - t;
    }
    qsort(times, RUNS, sizeof(double), ascending);
    printf("  softmax (rows of 128) %.3f\n", times[RUNS / 2] * 1e3);
    free(values), free(inputs);
    return 0;
}
