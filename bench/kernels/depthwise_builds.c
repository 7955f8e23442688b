// Two builds of depthwise_conv.c in one process, on MobileNetV2's depthwise layers (3×3, pad 1,
// one image, one thread): each layer's two calls alternate, and the medians of 61 come out with
// their ratio and whether the outputs agree bit for bit. For a change that should not move any
// output, measured where the machine's drift (docs/BENCHMARKS.md) would swamp two separate runs.
// Build A is the base revision's file, B the working tree's, each with its two entry points
// renamed:
//
//     rm -rf /tmp/base && mkdir /tmp/base && git archive HEAD Sources/CKernels | tar -x -C /tmp/base
//     clang -O2 -c -o /tmp/depthwise_a.o /tmp/base/Sources/CKernels/depthwise_conv.c -I/tmp/base/Sources/CKernels/include \
//       -Dswk_depthwise_conv=depthwise_a -Dswk_depthwise_scratch_floats=depthwise_scratch_a
//     clang -O2 -c -o /tmp/depthwise_b.o Sources/CKernels/depthwise_conv.c -ISources/CKernels/include \
//       -Dswk_depthwise_conv=depthwise_b -Dswk_depthwise_scratch_floats=depthwise_scratch_b
//     clang -O2 -o /tmp/depthwise_builds bench/kernels/depthwise_builds.c /tmp/depthwise_a.o /tmp/depthwise_b.o \
//       Sources/CKernels/conv_phases.c Sources/CKernels/cpu_features.c -ISources/CKernels/include -lm && /tmp/depthwise_builds
#include "ckernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timing.h"

typedef void depthwise(const swk_conv_geometry *, int64_t, int64_t, int64_t, const float *, const float *, const float *,
                       float, float, float *, float *);
depthwise depthwise_a, depthwise_b;
int64_t depthwise_scratch_a(const swk_conv_geometry *), depthwise_scratch_b(const swk_conv_geometry *);

enum { RUNS = 61 };

static float *random_floats(int64_t count) {
    float *values = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

int main(void) {
    const int layers[][3] = {  // (channels, side, stride)
        {32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {144, 56, 2}, {192, 28, 1},
        {192, 28, 2}, {384, 14, 1}, {576, 14, 1}, {576, 14, 2}, {960, 7, 1}};
    printf("| channels | side | stride | A ms | B ms | B / A | same outputs |\n|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int channels = layers[l][0], side = layers[l][1], stride = layers[l][2], out = (side - 1) / stride + 1;
        const swk_conv_geometry g = {side, side, out, out, 3, 3, stride, stride, 1, 1, 1, 1};
        const int64_t outputs = (int64_t)channels * out * out;
        float *x = random_floats((int64_t)channels * side * side), *w = random_floats(channels * 9L);
        float *bias = random_floats(channels), *y[2] = {random_floats(outputs), random_floats(outputs)};
        float *scratch[2] = {random_floats(depthwise_scratch_a(&g)), random_floats(depthwise_scratch_b(&g))};
        double times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int build = (pass + r) % 2;  // rotate which goes first
                const double t = now();
                (build ? depthwise_b : depthwise_a)(&g, channels, 0, channels, x, w, bias, 0, 6, scratch[build], y[build]);
                times[build][r] = now() - t;
            }
        for (int build = 0; build < 2; build++) qsort(times[build], RUNS, sizeof(double), ascending);
        const double a = times[0][RUNS / 2], b = times[1][RUNS / 2];
        printf("| %d | %d | %d | %.3f | %.3f | %.3f | %s |\n", channels, side, stride, a * 1e3, b * 1e3, b / a,
               memcmp(y[0], y[1], sizeof(float) * (size_t)outputs) ? "no" : "yes");
        free(x), free(w), free(bias), free(y[0]), free(y[1]), free(scratch[0]), free(scratch[1]);
    }
    return 0;
}
