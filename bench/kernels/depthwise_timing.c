// depthwise_conv.c's paths on MobileNetV2's depthwise layers (3×3, pad 1, one image), one
// thread: channels in lanes against per-channel stride phases, medians of 15 runs × 3 rounds —
// the numbers behind use_lanes (docs/BENCHMARKS.md, issue 3 seventh measurement) — and, where
// a layer takes them (with AVX2), the strided rows against lanes. First it checks that lanes and
// phases agree on 300 random geometries (kernels to 4×4, strides to 3, dilation 2, pads, 1–19
// channels, 1–2 images, a random non-empty plane range each), and that the strided rows equal
// lanes bit for bit on 300 geometries they take; SWIFTLET_PORTABLE_KERNELS=1 in the environment
// checks and times the portable paths instead (no strided rows).
//
//     clang -O2 -o /tmp/depthwise_timing bench/kernels/depthwise_timing.c -ISources/CKernels/include -lm && /tmp/depthwise_timing
#include "../../Sources/CKernels/depthwise_conv.c"
#include "../../Sources/CKernels/conv_phases.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

typedef void (*path)(const swk_conv_geometry *, int64_t, int64_t, int64_t, const float *, const float *, const float *, float,
                     float, float *, float *);

static float *random_floats(int64_t count, float scale) {
    float *values = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * scale;
    return values;
}

static int paths_agree(void) {
    int bad = 0;
    for (int trial = 0; trial < 300;) {
        swk_conv_geometry g = {.height = 1 + rand() % 20, .width = 1 + rand() % 20, .kernel_h = 1 + rand() % 4,
                               .kernel_w = 1 + rand() % 4, .stride_h = 1 + rand() % 3, .stride_w = 1 + rand() % 3,
                               .pad_top = rand() % 3, .pad_left = rand() % 3, .dilation_h = 1 + rand() % 2,
                               .dilation_w = 1 + rand() % 2};
        const int64_t bottom = rand() % 3, right = rand() % 3;
        const int64_t reach_h = (int64_t)(g.kernel_h - 1) * g.dilation_h + 1, reach_w = (int64_t)(g.kernel_w - 1) * g.dilation_w + 1;
        if (g.height + g.pad_top + bottom < reach_h || g.width + g.pad_left + right < reach_w) continue;  // drawn again
        trial++;
        g.out_h = (g.height + g.pad_top + bottom - reach_h) / g.stride_h + 1;
        g.out_w = (g.width + g.pad_left + right - reach_w) / g.stride_w + 1;
        const int64_t channels = 1 + rand() % 19, planes = channels * (1 + rand() % 2), taps = (int64_t)g.kernel_h * g.kernel_w;
        const int64_t out_plane = g.out_h * g.out_w, begin = rand() % planes, end = begin + 1 + rand() % (planes - begin);
        float *x = random_floats(planes * g.height * g.width, 0.05f), *w = random_floats(channels * taps, 0.01f);
        float *bias = trial % 2 ? random_floats(channels, 0.01f) : NULL;
        const int64_t lanes_need = lanes_floats(&g), phases_need = phases_floats(&g);  // both paths run here
        float *scratch = malloc(sizeof(float) * (size_t)(lanes_need > phases_need ? lanes_need : phases_need));
        float *by_phases = calloc((size_t)(planes * out_plane), sizeof(float)), *by_lanes = calloc((size_t)(planes * out_plane), sizeof(float));
        phases_range(&g, channels, begin, end, x, w, bias, -1.0f, 2.0f, scratch, by_phases);
        lanes_range(&g, channels, begin, end, x, w, bias, -1.0f, 2.0f, scratch, by_lanes);
        for (int64_t i = 0; i < planes * out_plane; i++) {
            if (fabsf(by_phases[i] - by_lanes[i]) > 1e-5f * (1 + fabsf(by_phases[i]))) {
                printf("trial %d: output %lld is %g by phases, %g by lanes\n", trial, (long long)i, by_phases[i], by_lanes[i]);
                bad++;
                break;
            }
        }
        free(x), free(w), free(bias), free(scratch), free(by_phases), free(by_lanes);
    }
    return bad;
}

/// Whether the strided rows equal lanes bit for bit (their sums take the taps in the same order) on
/// 300 random geometries the rule takes: rows to 150 columns, kernels 1–4 tall, row strides to 3,
/// row dilation 2, left pad 0 or 1. Trivially true without AVX2, where the rows never run.
static int strided_rows_agree(void) {
    int bad = 0;
    for (int trial = 0; trial < 300 && swk_has_avx2();) {
        swk_conv_geometry g = {.height = 1 + rand() % 12, .width = 111 + rand() % 40, .kernel_h = 1 + rand() % 4,
                               .kernel_w = 3, .stride_h = 1 + rand() % 3, .stride_w = 2, .pad_top = rand() % 3,
                               .pad_left = rand() % 2, .dilation_h = 1 + rand() % 2, .dilation_w = 1};
        const int64_t bottom = rand() % 3, right = rand() % 2, reach_h = (int64_t)(g.kernel_h - 1) * g.dilation_h + 1;
        if (g.height + g.pad_top + bottom < reach_h) continue;
        g.out_h = (g.height + g.pad_top + bottom - reach_h) / g.stride_h + 1;
        g.out_w = (g.width + g.pad_left + right - 3) / 2 + 1;
        if (!takes_strided_rows(&g)) continue;  // drawn again
        trial++;
        const int64_t channels = 1 + rand() % 5, planes = channels * (1 + rand() % 2), taps = (int64_t)g.kernel_h * 3;
        const int64_t out_plane = g.out_h * g.out_w, begin = rand() % planes, end = begin + 1 + rand() % (planes - begin);
        float *x = random_floats(planes * g.height * g.width, 0.05f), *w = random_floats(channels * taps, 0.01f);
        float *bias = trial % 2 ? random_floats(channels, 0.01f) : NULL, *scratch = malloc(sizeof(float) * (size_t)lanes_floats(&g));
        float *by_lanes = calloc((size_t)(planes * out_plane), sizeof(float)), *by_rows = calloc((size_t)(planes * out_plane), sizeof(float));
        lanes_range(&g, channels, begin, end, x, w, bias, -1.0f, 2.0f, scratch, by_lanes);
        strided_range(&g, channels, begin, end, x, w, bias, -1.0f, 2.0f, NULL, by_rows);
        if (memcmp(by_lanes, by_rows, sizeof(float) * (size_t)(planes * out_plane)) != 0) {
            printf("strided trial %d: %lldx%lld differs from lanes\n", trial, (long long)g.height, (long long)g.width);
            bad++;
        }
        free(x), free(w), free(bias), free(scratch), free(by_lanes), free(by_rows);
    }
    return bad;
}

static double median_seconds(path run, const swk_conv_geometry *g, int64_t channels, int64_t planes, const float *x,
                             const float *w, const float *bias, float *scratch, float *y) {
    double times[15];
    for (int r = 0; r < 15; r++) {
        const double start = now();
        run(g, channels, 0, planes, x, w, bias, 0.0f, 6.0f, scratch, y);
        times[r] = now() - start;
    }
    qsort(times, 15, sizeof(double), ascending);
    return times[7];
}

int main(void) {
    srand(1);
    const int bad = paths_agree() + strided_rows_agree();
    printf("paths agree on random geometries: %s\n", bad ? "NO" : "yes");
    // channels, plane size, stride, images: MobileNetV2's depthwise layers at batch 1, then a
    // 3-channel layer at batch 64, whose groups of 8 planes run across images, then stride-2
    // layers on planes past the lanes scratch bound.
    const int layers[][4] = {{32, 112, 1, 1}, {96, 112, 2, 1}, {144, 56, 1, 1}, {144, 56, 2, 1}, {192, 28, 1, 1},
                             {192, 28, 2, 1}, {384, 14, 1, 1}, {576, 14, 1, 1}, {576, 14, 2, 1}, {960, 7, 1, 1},
                             {3, 28, 1, 64},  {32, 224, 2, 1}, {16, 160, 2, 1}, {64, 80, 2, 1}};
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int64_t channels = layers[l][0], size = layers[l][1], stride = layers[l][2], images = layers[l][3];
        const int64_t planes = channels * images, out = (size - 1) / stride + 1;
        const swk_conv_geometry g = {.height = size, .width = size, .out_h = out, .out_w = out, .kernel_h = 3, .kernel_w = 3,
                                     .stride_h = (int)stride, .stride_w = (int)stride, .pad_top = 1, .pad_left = 1,
                                     .dilation_h = 1, .dilation_w = 1};
        float *x = random_floats(planes * size * size, 0.05f), *w = random_floats(channels * 9, 0.01f);
        float *bias = random_floats(channels, 0.01f), *y = malloc(sizeof(float) * (size_t)(planes * out * out));
        const int64_t lanes_need = lanes_floats(&g), phases_need = phases_floats(&g);
        float *scratch = malloc(sizeof(float) * (size_t)(lanes_need > phases_need ? lanes_need : phases_need));
        double phases = 0, lanes = 0;
        for (int round = 0; round < 3; round++) {
            phases += median_seconds(phases_range, &g, channels, planes, x, w, bias, scratch, y) / 3;
            lanes += median_seconds(lanes_range, &g, channels, planes, x, w, bias, scratch, y) / 3;
        }
        printf("%4lld channels x %2lld images %3lldx%-3lld stride %lld: phases %.3f ms, lanes %.3f ms (%.2fx)%s\n",
               (long long)channels, (long long)images, (long long)size, (long long)size, (long long)stride, phases * 1e3,
               lanes * 1e3, phases / lanes, use_lanes(&g) ? "  <- lanes" : "");
        if (swk_has_avx2() && takes_strided_rows(&g)) {
            double rows = 0;
            for (int round = 0; round < 3; round++)
                rows += median_seconds(strided_range, &g, channels, planes, x, w, bias, scratch, y) / 3;
            printf("%*s strided rows %.3f ms, %.2f of lanes' time  <- taken\n", 40, "", rows * 1e3, rows / lanes);
        }
        free(x), free(w), free(bias), free(y), free(scratch);
    }
    return bad != 0;
}
