// Two builds of winograd_conv.c's input transform in one process, on ResNet-18's 3×3 stride-1
// layers and two odd planes (one image, one thread): the calls alternate, and the medians of 101
// come out with their ratio and whether the transformed inputs agree bit for bit. Build A is the
// base revision's file, B the working tree's; each is compiled with its external names given a
// suffix:
//
//     rm -rf /tmp/base && mkdir /tmp/base && git archive HEAD Sources/CKernels | tar -x -C /tmp/base
//     for build in a:/tmp/base/ b:; do n=${build%%:*} root=${build#*:}; clang -O2 -c -o /tmp/winograd_$n.o \
//       ${root}Sources/CKernels/winograd_conv.c -I${root}Sources/CKernels/include $(for s in swk_winograd_input \
//       swk_winograd_conv swk_winograd_pack swk_winograd_panels swk_winograd_transformed_floats \
//       swk_winograd_packed_floats swk_winograd_scratch_floats; do echo -D$s=${s}_$n; done); done
//     clang -O2 -o /tmp/winograd_input_builds bench/kernels/winograd_input_builds.c /tmp/winograd_a.o /tmp/winograd_b.o \
//       Sources/CKernels/cpu_features.c -ISources/CKernels/include -lm && /tmp/winograd_input_builds
#include "ckernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timing.h"

typedef void input(const swk_conv_geometry *, const float *, int64_t, int64_t, int64_t, float *);
input swk_winograd_input_a, swk_winograd_input_b;
int64_t swk_winograd_transformed_floats_b(const swk_conv_geometry *, int64_t);

enum { RUNS = 101 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

int main(void) {
    const int layers[][2] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}, {64, 55}, {96, 13}};  // (channels, side)
    printf("| channels | side | A ms | B ms | B / A | same V |\n|---:|---:|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], side = layers[l][1];
        const swk_conv_geometry g = {side, side, side, side, 3, 3, 1, 1, 1, 1, 1, 1};
        const int64_t floats = swk_winograd_transformed_floats_b(&g, c);
        float *x = random_floats((int64_t)c * side * side), *v[2] = {random_floats(floats), random_floats(floats)};
        input *const builds[2] = {swk_winograd_input_a, swk_winograd_input_b};
        double times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int build = (pass + r) % 2;  // alternate which goes first
                const double t = now();
                builds[build](&g, x, c, 0, c, v[build]);
                times[build][r] = now() - t;
            }
        for (int build = 0; build < 2; build++) qsort(times[build], RUNS, sizeof(double), ascending);
        const double a = times[0][RUNS / 2], b = times[1][RUNS / 2];
        const int same = memcmp(v[0], v[1], sizeof(float) * (size_t)floats) == 0;
        printf("| %d | %d | %.3f | %.3f | %.2f | %s |\n", c, side, a * 1e3, b * 1e3, b / a, same ? "yes" : "no");
        free(x), free(v[0]), free(v[1]);
    }
    return 0;
}
