// Two builds of conv_direct.c in one process, on MobileNetV2's 1×1 layers that take the direct
// tiles (planes of 7×7 and 14×14, one image, one thread), a 3×3 one onto 7×7 and ResNet-18's
// strided 1×1 and 3×3 ones: each layer's two calls alternate, and the medians of 61 come out
// with their ratio and whether the outputs agree bit for bit. For a change that should not move any output, measured where the
// machine's drift (docs/BENCHMARKS.md) would swamp two separate runs. Build A is the base
// revision's file, B the working tree's; each is compiled with its external names given a
// suffix, and each makes its own copy of the input (where it reads one) inside the timing, as a
// model's run does; the harness packs W and works out the taps with B's:
//
//     rm -rf /tmp/base && mkdir /tmp/base && git archive HEAD Sources/CKernels | tar -x -C /tmp/base
//     for build in a:/tmp/base/ b:; do n=${build%%:*} root=${build#*:}; clang -O2 -c -o /tmp/direct_$n.o \
//       ${root}Sources/CKernels/conv_direct.c -I${root}Sources/CKernels/include $(for s in swk_conv_direct \
//       swk_conv_direct_pack swk_conv_direct_packed_floats swk_conv_direct_padded_floats swk_conv_direct_pad \
//       swk_conv_direct_tiles swk_conv_direct_taps conv_pack_channel_blocks; do echo -D$s=${s}_$n; done); done
//     clang -O2 -o /tmp/direct_builds bench/kernels/direct_builds.c /tmp/direct_a.o /tmp/direct_b.o \
//       Sources/CKernels/conv_phases.c Sources/CKernels/cpu_features.c -ISources/CKernels/include -lm && /tmp/direct_builds
#include "ckernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timing.h"

typedef void direct(const swk_conv_geometry *, const float *, int64_t, int64_t, int64_t, const int64_t *, const float *,
                    int64_t, int64_t, int64_t, const float *, const float *, float, float, float *);
typedef int64_t copy_size(const swk_conv_geometry *, int64_t);
typedef void copy_input(const swk_conv_geometry *, const float *, int64_t, int64_t, int64_t, float *);
direct swk_conv_direct_a, swk_conv_direct_b;
copy_size swk_conv_direct_padded_floats_a, swk_conv_direct_padded_floats_b;
copy_input swk_conv_direct_pad_a, swk_conv_direct_pad_b;
void swk_conv_direct_pack_b(const float *, int64_t, int64_t, float *);
int64_t swk_conv_direct_packed_floats_b(int64_t, int64_t);
int64_t swk_conv_direct_tiles_b(const swk_conv_geometry *, int64_t);
void swk_conv_direct_taps_b(const swk_conv_geometry *, int64_t *);

enum { RUNS = 61 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));  // the tiles load W aligned
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

int main(void) {
    const int layers[][5] = {  // (in channels, out channels, input side, kernel, stride)
        {192, 64, 14, 1, 1}, {384, 64, 14, 1, 1}, {64, 384, 14, 1, 1}, {384, 96, 14, 1, 1}, {576, 96, 14, 1, 1},
        {96, 576, 14, 1, 1}, {576, 160, 7, 1, 1}, {960, 160, 7, 1, 1}, {160, 960, 7, 1, 1}, {960, 320, 7, 1, 1},
        {320, 1280, 7, 1, 1}, {512, 512, 7, 3, 1}, {128, 256, 28, 1, 2}, {256, 512, 14, 1, 2}, {64, 128, 56, 3, 2},
        {128, 256, 28, 3, 2}, {256, 512, 14, 3, 2}};
    printf("| C→M | input side | kernel, stride | A ms | B ms | B / A | same outputs |\n|---|---:|---:|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], m = layers[l][1], in_side = layers[l][2], k = layers[l][3], st = layers[l][4];
        const int pad = k / 2, side = (in_side + 2 * pad - k) / st + 1;  // side: the output's
        const swk_conv_geometry g = {in_side, in_side, side, side, k, k, st, st, pad, pad, 1, 1};
        float *w = random_floats((int64_t)m * c * k * k), *x = random_floats((int64_t)c * in_side * in_side);
        float *bias = random_floats(m), *packed = random_floats(swk_conv_direct_packed_floats_b(m, (int64_t)c * k * k));
        float *y[2] = {random_floats((int64_t)m * side * side), random_floats((int64_t)m * side * side)};
        copy_size *const copy_floats[2] = {swk_conv_direct_padded_floats_a, swk_conv_direct_padded_floats_b};
        copy_input *const copies[2] = {swk_conv_direct_pad_a, swk_conv_direct_pad_b};
        float *padded[2];
        for (int build = 0; build < 2; build++) padded[build] = copy_floats[build](&g, c) ? random_floats(copy_floats[build](&g, c)) : NULL;
        int64_t taps[9];
        swk_conv_direct_taps_b(&g, taps);
        swk_conv_direct_pack_b(w, m, (int64_t)c * k * k, packed);
        const int64_t tiles = swk_conv_direct_tiles_b(&g, m);
        direct *const builds[2] = {swk_conv_direct_a, swk_conv_direct_b};
        double times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int build = (pass + r) % 2;  // alternate which goes first
                const double t = now();
                if (padded[build]) copies[build](&g, x, c, 0, c, padded[build]);
                builds[build](&g, padded[build] ? padded[build] : x, c, 0, c, taps, packed, m, 0, tiles, bias, NULL, 0, 6,
                              y[build]);
                times[build][r] = now() - t;
            }
        for (int build = 0; build < 2; build++) qsort(times[build], RUNS, sizeof(double), ascending);
        const double a = times[0][RUNS / 2], b = times[1][RUNS / 2];
        const int same = memcmp(y[0], y[1], sizeof(float) * (size_t)m * side * side) == 0;
        printf("| %d→%d | %d | %d×%d, %d | %.3f | %.3f | %.3f | %s |\n", c, m, in_side, k, k, st, a * 1e3, b * 1e3, b / a,
               same ? "yes" : "no");
        free(w), free(x), free(bias), free(packed), free(padded[0]), free(padded[1]), free(y[0]), free(y[1]);
    }
    return 0;
}
