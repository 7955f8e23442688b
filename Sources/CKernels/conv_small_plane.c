// A convolution of one image whose output plane is small, with few output channels: the digits
// CNN's layers (1→8 channels onto 8×8, 8→16 onto 4×4) and the like, which the direct tiles and
// panels leave (their tiles of 16+ output channels would run mostly empty). It unfolds the whole
// image at once into U [C·kH·kW, P] (im2col's matrix, P = out_h · out_w, small enough to stay in
// L1 or L2) and multiplies W [M, C·kH·kW] by it with gemm_tile.h's register tiles straight into
// y, with the bias, residual and clamp in their epilogue.
//
// Why: im2col in Swift cut each tap's row into runs of 4-8 floats, and the per-run work cost more
// than the copies; sgemm then multiplied a batch's columns side by side, and the products had to
// be scattered into NCHW order. At the digits CNN's batch 360 that took 47% of the run in im2col
// (perf) and ran 5-8× slower than onnxruntime (bench/digits_vs_onnxruntime.py). Here the image
// is first copied into zero-padded planes (padding read as zero, no bounds test), and U is read
// out of them through a table of offsets made once per layer (swk_conv_small_plane_table), the
// same for every image and channel: each output row's run copied whole at column stride 1, each
// element loaded on its own at other strides.
#include "ckernels.h"
#include "gemm_tile.h"

GEMM_PRODUCT(small_plane_product_avx2, GEMM_AVX2, gemm_tile_avx2)
GEMM_PRODUCT(small_plane_product_portable, , gemm_tile_portable)

/// The padded plane's rows and columns: the image at (pad_top, pad_left), zero around it, as far
/// as any tap reads (at least the image itself, which is copied whole).
static int64_t padded_rows(const swk_conv_geometry *g) {
    const int64_t read = (g->out_h - 1) * g->stride_h + (int64_t)(g->kernel_h - 1) * g->dilation_h + 1;
    return read > g->pad_top + g->height ? read : g->pad_top + g->height;
}

static int64_t padded_columns(const swk_conv_geometry *g) {
    const int64_t read = (g->out_w - 1) * g->stride_w + (int64_t)(g->kernel_w - 1) * g->dilation_w + 1;
    return read > g->pad_left + g->width ? read : g->pad_left + g->width;
}

static int64_t positions(const swk_conv_geometry *g) { return g->out_h * g->out_w; }

int64_t swk_conv_small_plane_table_size(const swk_conv_geometry *g) {
    return (int64_t)g->kernel_h * g->kernel_w * positions(g);
}

void swk_conv_small_plane_table(const swk_conv_geometry *g, int32_t *table) {
    const int64_t columns = padded_columns(g);
    for (int i = 0; i < g->kernel_h; i++)
        for (int j = 0; j < g->kernel_w; j++)
            for (int64_t oh = 0; oh < g->out_h; oh++)
                for (int64_t ow = 0; ow < g->out_w; ow++)
                    *table++ = (int32_t)((oh * g->stride_h + (int64_t)i * g->dilation_h) * columns + ow * g->stride_w +
                                         (int64_t)j * g->dilation_w);
}

/// Floats past U and past the padded planes that a run's last block of 8 may write or read.
enum { SLACK = 8 };

int64_t swk_conv_small_plane_scratch_floats(const swk_conv_geometry *g, int64_t channels) {
    const int64_t unfolded = channels * swk_conv_small_plane_table_size(g);
    return unfolded + SLACK + channels * padded_rows(g) * padded_columns(g) + SLACK;
}

/// U's rows for every channel and tap, from the padded planes. At column stride 1 a row of U is
/// out_h runs of out_w floats that lie side by side in the padded plane (the table's offset of
/// each run's first position says where): copied 8 floats at a time (4 for runs of at most 4), a
/// run's last block writing past the run into the next, which overwrites it (U is written in
/// order; SLACK past its end). Against a load per element, on one thread
/// (bench/kernels/small_plane_builds.c): 0.80-0.81 of the time on 4×4 planes, 0.86-0.88 on 8×8,
/// 0.97 on 6×6, 0.74-0.83 on 14×14; 8-float blocks on 4-wide runs took 1.20-1.22. Other strides
/// read each element through the table. One body for both paths (each block one vector move).
static inline __attribute__((always_inline)) void unfold(const swk_conv_geometry *g, const int32_t *table,
                                                         const float *x, int64_t channels, float *padded,
                                                         float *unfolded) {
    const int64_t rows = padded_rows(g), columns = padded_columns(g), plane = rows * columns;
    const int64_t taps = (int64_t)g->kernel_h * g->kernel_w, p_count = positions(g), out_w = g->out_w;
    memset(padded, 0, sizeof(float) * (size_t)(channels * plane));
    for (int64_t c = 0; c < channels; c++)
        for (int64_t h = 0; h < g->height; h++)
            memcpy(padded + c * plane + (g->pad_top + h) * columns + g->pad_left, x + (c * g->height + h) * g->width,
                   sizeof(float) * (size_t)g->width);
    for (int64_t c = 0; c < channels; c++) {
        const float *source = padded + c * plane;
        for (int64_t t = 0; t < taps; t++) {
            const int32_t *offsets = table + t * p_count;
            float *row = unfolded + (c * taps + t) * p_count;
            if (g->stride_w == 1 && out_w <= 4) {
                for (int64_t p = 0; p < p_count; p += out_w) memcpy(row + p, source + offsets[p], 4 * sizeof(float));
            } else if (g->stride_w == 1) {
                for (int64_t p = 0; p < p_count; p += out_w)
                    for (int64_t k = 0; k < out_w; k += 8) memcpy(row + p + k, source + offsets[p] + k, 8 * sizeof(float));
            } else {
                for (int64_t p = 0; p < p_count; p++) row[p] = source[offsets[p]];
            }
        }
    }
}

GEMM_AVX2 static void unfold_avx2(const swk_conv_geometry *g, const int32_t *table, const float *x, int64_t channels,
                                  float *padded, float *unfolded) {
    unfold(g, table, x, channels, padded, unfolded);
}

static void unfold_portable(const swk_conv_geometry *g, const int32_t *table, const float *x, int64_t channels,
                            float *padded, float *unfolded) {
    unfold(g, table, x, channels, padded, unfolded);
}

void swk_conv_small_plane(const swk_conv_geometry *g, const int32_t *table, const float *x, int64_t channels,
                          const float *w, int64_t out_channels, const float *bias, const float *residual, float lo,
                          float hi, float *scratch, float *y) {
    const int avx2 = swk_has_avx2();
    const int64_t p_count = positions(g), depth = channels * g->kernel_h * g->kernel_w;
    float *unfolded = scratch, *padded = scratch + channels * swk_conv_small_plane_table_size(g) + SLACK;
    (avx2 ? unfold_avx2 : unfold_portable)(g, table, x, channels, padded, unfolded);
    const gemm_epilogue e = {1.0f, bias, lo, hi, NULL, 0, residual, p_count};
    (avx2 ? small_plane_product_avx2 : small_plane_product_portable)(w, depth, out_channels, depth, unfolded, p_count,
                                                                     p_count, &e, y, p_count);
}
