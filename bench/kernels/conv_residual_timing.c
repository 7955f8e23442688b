// The residual connections of ResNet-18 (the second 3×3 convolution of each block, conv_direct.c)
// and MobileNetV2 (a block's 1×1 projection, pointwise_conv.c), batch 1, one thread: the
// convolution followed by a separate Add + ReLU pass over its output and Z (the graph before
// FuseConvResidual) against the convolution adding Z and clamping in its epilogue (after it).
// Prints medians of RUNS runs per layer, alternating the two, and the largest difference between
// their outputs (they should be identical: the same additions in the same order).
//
//     clang -O2 -o /tmp/conv_residual_timing bench/kernels/conv_residual_timing.c -ISources/CKernels/include -lm \
//       && /tmp/conv_residual_timing
#include "../../Sources/CKernels/conv_direct.c"
#include "../../Sources/CKernels/pointwise_conv.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 41 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

/// The Add + Relu nodes before the fusion: y = max(y + z, 0), in place as a separate pass.
static void add_relu(float *y, const float *z, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        const float v = y[i] + z[i];
        y[i] = v < 0 ? 0 : v;
    }
}

int main(void) {
    // (channels, side, kernel): the residual layers; kernel 1 is a MobileNetV2 projection (C → C/6 there: 144→24 etc.).
    const int layers[][4] = {{64, 64, 56, 3}, {128, 128, 28, 3}, {256, 256, 14, 3}, {512, 512, 7, 3},
                             {144, 24, 56, 1}, {192, 32, 28, 1}};
    printf("| C→M | side | kernel | conv + Add/ReLU pass ms | fused ms | fused / separate | max difference |\n"
           "|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], m = layers[l][1], side = layers[l][2], k = layers[l][3], pad = k / 2;
        const swk_conv_geometry g = {side, side, side, side, k, k, 1, 1, pad, pad, 1, 1};
        const int64_t plane = (int64_t)side * side, depth = (int64_t)c * k * k, count = m * plane;
        float *x = random_floats(c * plane), *w = random_floats(m * depth), *bias = random_floats(m);
        float *z = random_floats(count), *y0 = random_floats(count), *y1 = random_floats(count);
        float *padded = random_floats(swk_conv_direct_padded_floats(&g, c));
        float *packed = random_floats(swk_conv_direct_packed_floats(m, depth));
        int64_t taps[9];
        swk_conv_direct_taps(&g, taps);
        swk_conv_direct_pack(w, m, depth, packed);
        const int64_t tiles = swk_conv_direct_tiles(&g, m);
        double separate[RUNS], fused[RUNS];
        for (int r = 0; r < RUNS; r++) {
            for (int pass = 0; pass < 2; pass++) {
                const int fuse = (pass + r) % 2;  // alternate which goes first
                float *y = fuse ? y1 : y0;
                const double t = now();
                if (k == 1) {
                    swk_pointwise_conv(w, m, c, 0, c, x, plane, 0, plane, bias, fuse ? z : NULL, fuse ? 0 : -INFINITY, INFINITY, y);
                } else {
                    swk_conv_direct_pad(&g, x, c, 0, c, padded);
                    swk_conv_direct(&g, padded, c, 0, c, taps, packed, m, 0, tiles, bias, fuse ? z : NULL, fuse ? 0 : -INFINITY,
                                    INFINITY, y);
                }
                if (!fuse) add_relu(y, z, count);
                (fuse ? fused : separate)[r] = now() - t;
            }
        }
        qsort(separate, RUNS, sizeof(double), ascending), qsort(fused, RUNS, sizeof(double), ascending);
        double diff = 0;
        for (int64_t i = 0; i < count; i++) diff = fmax(diff, fabs(y0[i] - y1[i]));
        const double a = separate[RUNS / 2], b = fused[RUNS / 2];
        printf("| %d→%d | %d | %d×%d | %.3f | %.3f | %.3f | %.1e |\n", c, m, side, k, k, a * 1e3, b * 1e3, b / a, diff);
        free(x), free(w), free(bias), free(z), free(y0), free(y1), free(padded), free(packed);
    }
    return 0;
}
