// expand_depthwise.c against the two kernels the CPU backend ran before it on a MobileNetV2
// block's 1×1 expansion and 3×3 depthwise layer: pointwise_conv.c (or conv_direct.c on planes
// under 196 positions, as PointwiseConvKernel.takesPointwise picks) then depthwise_conv.c. One
// thread, every block shape of MobileNetV2 whose depthwise layer takes the lanes path (the 56×56
// ones too, which swk_expand_depthwise_takes leaves to the two kernels: they show why), the inputs
// evicted from cache before each run (the layer before would leave them in L3 at best), both ways
// alternating, medians of 41; the outputs must agree bit for bit (the same sums in the same order).
// First it checks that agreement on 400 random geometries the fused kernel takes (kernels 1-4
// tall, strides, pads and dilations down the rows, either bias absent, the panels split in two
// calls at a random point).
//
//     clang -O2 -o /tmp/expand_depthwise_timing bench/kernels/expand_depthwise_timing.c -ISources/CKernels/include \
//       Sources/CKernels/{expand_depthwise,depthwise_conv,pointwise_conv,conv_direct,conv_phases,cpu_features}.c -lm \
//       && /tmp/expand_depthwise_timing
#include "ckernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timing.h"

enum { RUNS = 41, PANEL = SWK_CONV_DIRECT_PANEL_CHANNELS };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

/// Whether the fused kernel and the two kernels agree bit for bit on random geometries it takes.
static int agrees_on_random_geometries(void) {
    int checked = 0, bad = 0;
    for (int trial = 0; trial < 400; trial++) {
        const int c = 1 + rand() % 40, e = PANEL * (1 + rand() % 4), kh = 1 + rand() % 4, dh = 1 + rand() % 2;
        const int top = rand() % 3, left = rand() % 2, bottom = rand() % 3, right = rand() % 2;
        swk_conv_geometry g = {1 + rand() % 20, 1 + rand() % 20, 0, 0, kh, 3, 1 + rand() % 3, 1 + rand() % 2, top, left, dh, 1};
        const int reach = (kh - 1) * dh + 1;
        if (g.height + top + bottom < reach || g.width + left + right < 3) continue;
        g.out_h = (g.height + top + bottom - reach) / g.stride_h + 1;
        g.out_w = (g.width + left + right - 3) / g.stride_w + 1;
        if (!swk_expand_depthwise_takes(&g, e)) continue;
        checked++;
        const int64_t plane = g.height * g.width, outputs = (int64_t)e * g.out_h * g.out_w;
        float *x = random_floats(c * plane), *we = random_floats((int64_t)e * c), *wd = random_floats((int64_t)e * kh * 3);
        float *be = rand() % 2 ? random_floats(e) : NULL, *bd = rand() % 2 ? random_floats(e) : NULL;
        float *expanded = random_floats(e * plane), *y[2] = {random_floats(outputs), random_floats(outputs)};
        float *packed = random_floats(swk_conv_direct_packed_floats(e, c)), *scratch = random_floats(swk_depthwise_scratch_floats(&g));
        float *fused_scratch = random_floats(swk_expand_depthwise_scratch_floats(&g));
        swk_conv_direct_pack(we, e, c, packed);
        swk_pointwise_conv(we, e, c, 0, c, x, plane, 0, plane, be, NULL, 0, 6, expanded);
        swk_depthwise_conv(&g, e, 0, e, expanded, wd, bd, -1, 3, scratch, y[0]);
        const int64_t split = rand() % (e / PANEL + 1);
        swk_expand_depthwise(&g, x, c, packed, be, 0, 6, wd, bd, -1, 3, 0, split, fused_scratch, y[1]);
        swk_expand_depthwise(&g, x, c, packed, be, 0, 6, wd, bd, -1, 3, split, e / PANEL, fused_scratch, y[1]);
        bad += memcmp(y[0], y[1], sizeof(float) * (size_t)outputs) != 0;
        free(x), free(we), free(wd), free(be), free(bd), free(expanded), free(y[0]), free(y[1]), free(packed), free(scratch),
            free(fused_scratch);
    }
    printf("fused and separate kernels agree bit for bit on %d random geometries: %s\n\n", checked, bad ? "NO" : "yes");
    return !bad;
}

int main(void) {
    if (!swk_has_avx2()) return puts("needs AVX2 (expand_depthwise.c's kernel)"), 0;
    if (!agrees_on_random_geometries()) return 1;
    const int blocks[][4] = {  // (input channels, expanded channels, side, depthwise stride)
        {24, 144, 56, 1}, {24, 144, 56, 2}, {32, 192, 28, 1}, {32, 192, 28, 2},
        {64, 384, 14, 1}, {96, 576, 14, 1}, {96, 576, 14, 2}, {160, 960, 7, 1}};
    char *evict = calloc(24u << 20, 1);
    double total[2] = {0, 0};
    printf("| block | side | stride | separate ms | fused ms | fused / separate | same outputs |\n"
           "|---|---:|---:|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof blocks / sizeof blocks[0]; l++) {
        const int c = blocks[l][0], e = blocks[l][1], side = blocks[l][2], stride = blocks[l][3];
        const int out = (side - 1) / stride + 1, plane = side * side;
        const swk_conv_geometry pointwise = {side, side, side, side, 1, 1, 1, 1, 0, 0, 1, 1};
        const swk_conv_geometry g = {side, side, out, out, 3, 3, stride, stride, 1, 1, 1, 1};
        float *x = random_floats((int64_t)c * plane), *we = random_floats((int64_t)e * c), *be = random_floats(e);
        float *expanded = random_floats((int64_t)e * plane), *wd = random_floats(e * 9L), *bd = random_floats(e);
        float *y[2] = {random_floats((int64_t)e * out * out), random_floats((int64_t)e * out * out)};
        float *packed = random_floats(swk_conv_direct_packed_floats(e, c));
        swk_conv_direct_pack(we, e, c, packed);
        int64_t tap;
        swk_conv_direct_taps(&pointwise, &tap);
        float *scratch = random_floats(swk_depthwise_scratch_floats(&g));
        float *fused_scratch = random_floats(swk_expand_depthwise_scratch_floats(&g));
        const int takes_pointwise = c <= 192 && plane >= 196;
        double times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int fused = (pass + r) % 2;
                for (size_t i = 0; i < (24u << 20); i += 64) evict[i]++;
                const double t = now();
                if (fused) {
                    swk_expand_depthwise(&g, x, c, packed, be, 0, 6, wd, bd, 0, 6, 0, e / PANEL, fused_scratch, y[1]);
                } else {
                    if (takes_pointwise) swk_pointwise_conv(we, e, c, 0, c, x, plane, 0, plane, be, NULL, 0, 6, expanded);
                    else swk_conv_direct(&pointwise, x, c, 0, c, &tap, packed, e, 0, swk_conv_direct_tiles(&pointwise, e), be,
                                         NULL, 0, 6, expanded);
                    swk_depthwise_conv(&g, e, 0, e, expanded, wd, bd, 0, 6, scratch, y[0]);
                }
                times[fused][r] = now() - t;
            }
        for (int way = 0; way < 2; way++) qsort(times[way], RUNS, sizeof(double), ascending), total[way] += times[way][RUNS / 2];
        printf("| %d→%d | %d | %d | %.3f | %.3f | %.2f | %s |\n", c, e, side, stride, times[0][RUNS / 2] * 1e3,
               times[1][RUNS / 2] * 1e3, times[1][RUNS / 2] / times[0][RUNS / 2],
               memcmp(y[0], y[1], sizeof(float) * (size_t)e * out * out) ? "no" : "yes");
        free(x), free(we), free(be), free(expanded), free(wd), free(bd), free(y[0]), free(y[1]), free(packed), free(scratch),
            free(fused_scratch);
    }
    printf("\nall shapes once each: separate %.3f ms, fused %.3f ms\n", total[0] * 1e3, total[1] * 1e3);
    free(evict);
    return 0;
}
