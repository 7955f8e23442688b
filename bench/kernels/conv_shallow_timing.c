// conv_shallow.c (output positions in vector lanes, from the input's stride phases) against
// conv_direct.c (16 output channels in lanes, input pixels broadcast) on convolutions with short
// reductions, batch 1, one thread, bias and ReLU6: medians of RUNS runs each, alternating, each
// timed with the copy it makes of the input (phases; the zero-padded planes), and whether the two
// outputs are equal bit for bit. BLASKernels.takesShallow picks by these (docs/BENCHMARKS.md,
// seventeenth measurement).
//
//     clang -O2 -o /tmp/conv_shallow_timing bench/kernels/conv_shallow_timing.c -ISources/CKernels/include -lm \
//       && /tmp/conv_shallow_timing
#include "../../Sources/CKernels/conv_shallow.c"
#include "../../Sources/CKernels/conv_direct.c"
#include "../../Sources/CKernels/conv_phases.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 41 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));  // the direct tiles load W aligned
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

int main(void) {
    const int layers[][6] = {  // (in channels, out channels, side, kernel, stride, pad)
        {3, 32, 224, 3, 2, 1},  // MobileNetV2's stem
        {3, 32, 112, 3, 1, 1}, {4, 32, 64, 3, 2, 1}, {1, 8, 28, 5, 1, 2}, {1, 32, 28, 3, 1, 1}, {3, 32, 30, 3, 2, 1},
        {3, 96, 224, 4, 4, 0}, {3, 96, 256, 4, 4, 0}, {16, 32, 56, 3, 2, 1}, {16, 32, 128, 3, 2, 1}, {3, 32, 224, 5, 2, 2},
        {3, 64, 112, 7, 2, 3}, {3, 64, 224, 7, 2, 3}};  // the last: ResNet-18's stem
    printf("| C→M | side | kernel/stride | terms | direct ms | shallow ms | shallow / direct | equal |\n"
           "|---|---:|---|---:|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], m = layers[l][1], side = layers[l][2], k = layers[l][3], s = layers[l][4], pad = layers[l][5];
        const int out = (side + 2 * pad - k) / s + 1, depth = c * k * k;
        const swk_conv_geometry g = {side, side, out, out, k, k, s, s, pad, pad, 1, 1};
        const int64_t out_floats = (int64_t)m * out * out;
        float *w = random_floats((int64_t)m * depth), *x = random_floats((int64_t)c * side * side), *bias = random_floats(m);
        float *direct_w = random_floats(swk_conv_direct_packed_floats(m, depth));
        float *shallow_w = random_floats(swk_conv_shallow_packed_floats(m, depth));
        swk_conv_direct_pack(w, m, depth, direct_w);
        swk_conv_shallow_pack(w, m, depth, shallow_w);
        int64_t taps[49], *steps = malloc(sizeof(int64_t) * (size_t)depth);
        swk_conv_direct_taps(&g, taps);
        swk_conv_shallow_steps(&g, c, steps);
        const int64_t padded_floats = swk_conv_direct_padded_floats(&g, c), tiles = swk_conv_direct_tiles(&g, m);
        float *padded = random_floats(padded_floats + 1), *phases = random_floats(swk_conv_shallow_phases_floats(&g, c));
        float *y[2] = {random_floats(out_floats), random_floats(out_floats)};
        double times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int way = (pass + r) % 2;  // alternate which goes first
                const double t = now();
                if (way == 0) {
                    if (padded_floats) swk_conv_direct_pad(&g, x, c, 0, c, padded);
                    swk_conv_direct(&g, padded_floats ? padded : x, c, 0, c, taps, direct_w, m, 0, tiles, bias, NULL, 0, 6, y[0]);
                } else {
                    swk_conv_shallow_phases(&g, x, c, 0, c, phases);
                    swk_conv_shallow(&g, phases, c, steps, shallow_w, 0, m, bias, NULL, 0, 6, y[1]);
                }
                times[way][r] = now() - t;
            }
        for (int way = 0; way < 2; way++) qsort(times[way], RUNS, sizeof(double), ascending);
        const double direct = times[0][RUNS / 2], shallow = times[1][RUNS / 2];
        printf("| %d→%d | %d | %d×%d/%d | %d | %.4f | %.4f | %.2f | %s |\n", c, m, side, k, k, s, depth, direct * 1e3,
               shallow * 1e3, shallow / direct, memcmp(y[0], y[1], sizeof(float) * (size_t)out_floats) ? "NO" : "yes");
        free(w), free(x), free(bias), free(direct_w), free(shallow_w), free(steps), free(padded), free(phases), free(y[0]), free(y[1]);
    }
    return 0;
}
