// ResNet-18's 3×3 stride-1 layers, batch 1, one thread: the direct tiles (conv_direct.c, the
// path they took before) against Winograd F(2×2, 3×3) (winograd_conv.c), both with bias, the
// residual and ReLU as the model runs them. Prints medians of RUNS runs per layer, alternating
// the two, and the largest difference between their outputs relative to the output's largest
// magnitude.
//
//     clang -O2 -o /tmp/winograd_timing bench/kernels/winograd_timing.c -ISources/CKernels/include -lm \
//       && /tmp/winograd_timing
#include "../../Sources/CKernels/conv_direct.c"
#include "../../Sources/CKernels/winograd_conv.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 31 };

static float *random_floats(int64_t count, float scale) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 2001 - 1000) * 0.001f * scale;
    return values;
}

int main(void) {
    const int layers[][2] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}};  // (channels, side)
    printf("| C→M | side | direct ms | Winograd ms | Winograd / direct | max difference / max |y| |\n"
           "|---|---:|---:|---:|---:|---:|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], m = c, side = layers[l][1];
        const swk_conv_geometry g = {side, side, side, side, 3, 3, 1, 1, 1, 1, 1, 1};
        const int64_t plane = (int64_t)side * side, depth = (int64_t)c * 9, count = m * plane;
        float *x = random_floats(c * plane, 1), *w = random_floats(m * depth, 0.05f), *bias = random_floats(m, 1);
        float *z = random_floats(count, 1), *y0 = random_floats(count, 1), *y1 = random_floats(count, 1);
        float *padded = random_floats(swk_conv_direct_padded_floats(&g, c), 1);
        float *packed = random_floats(swk_conv_direct_packed_floats(m, depth), 1);
        float *u = random_floats(swk_winograd_packed_floats(m, c), 1);
        float *v = random_floats(swk_winograd_transformed_floats(&g, c), 1);
        float *scratch = random_floats(swk_winograd_scratch_floats(m), 1);
        int64_t taps[9];
        swk_conv_direct_taps(&g, taps);
        swk_conv_direct_pack(w, m, depth, packed);
        swk_winograd_pack(w, m, c, u);
        const int64_t tiles = swk_conv_direct_tiles(&g, m), panels = swk_winograd_panels(&g);
        double direct[RUNS], winograd[RUNS];
        for (int r = 0; r < RUNS; r++) {
            for (int pass = 0; pass < 2; pass++) {
                const int wino = (pass + r) % 2;  // alternate which goes first
                const double t = now();
                if (wino) {
                    swk_winograd_input(&g, x, c, 0, c, v);
                    for (int64_t p = 0; p < panels; p++)
                        for (int64_t m0 = 0; m0 < m; m0 += SWK_WINOGRAD_CHANNEL_BLOCK)
                            swk_winograd_conv(&g, v, c, u, m, p, m0,
                                              m0 + SWK_WINOGRAD_CHANNEL_BLOCK < m ? m0 + SWK_WINOGRAD_CHANNEL_BLOCK : m,
                                              bias, z, 0, INFINITY, scratch, y1);
                } else {
                    swk_conv_direct_pad(&g, x, c, 0, c, padded);
                    swk_conv_direct(&g, padded, c, 0, c, taps, packed, m, 0, tiles, bias, z, 0, INFINITY, y0);
                }
                (wino ? winograd : direct)[r] = now() - t;
            }
        }
        qsort(direct, RUNS, sizeof(double), ascending), qsort(winograd, RUNS, sizeof(double), ascending);
        double diff = 0, largest = 0;
        for (int64_t i = 0; i < count; i++) diff = fmax(diff, fabs(y0[i] - y1[i])), largest = fmax(largest, fabs(y0[i]));
        const double a = direct[RUNS / 2], b = winograd[RUNS / 2];
        printf("| %d→%d | %d | %.3f | %.3f | %.3f | %.1e |\n", c, m, side, a * 1e3, b * 1e3, b / a, diff / largest);
        free(x), free(w), free(bias), free(z), free(y0), free(y1), free(padded), free(packed), free(u), free(v),
            free(scratch);
    }
    return 0;
}
