// A convolution of one image as the product Y [M, P] = W [M, K] · U [K, P], K = C·kH·kW, with U
// (the unfolded input, im2col's matrix) written straight into panels of 16 output positions:
// panel j holds U[t][16j ..< 16j + 16] for t = 0 ..< K, one 64-byte line after another. The
// register tiles (gemm_tile.h) read W's rows in place as A (W is already [M, K]) and a panel's
// lines as B, in blocks of CONV_PANELS_DEPTH lines (32 KB, L1's size: a panel's block stays near
// while every row tile of W uses it) and CONV_PANELS_ROWS rows of W (whose block stays in L2 while
// every panel of a pass uses it): the blocking OpenBLAS's sgemm does, without its copy of W on
// every call. Blocks of 128 or 256 lines ran 2-20% slower on ResNet-18's shapes, 48 or 192 rows
// about the same (conv_panels_timing.c built with -DCONV_PANELS_DEPTH=… -DCONV_PANELS_ROWS=…).
// Every depth block but the last stores partial sums; the last adds the bias (and a residual) and clamps.
//
// Why: OpenBLAS's sgemm copies all of W into its packed layout on every call, and on two threads
// each thread's sgemm did so again for its own output columns. Here the threads split the
// panels and share W; the product runs at 89–97 GFLOP/s on ResNet-18's shapes (71 on 7×7
// planes) where sgemm ran at 74–86 (68), and the unfolding gives part of that back
// (bench/kernels/conv_panels_timing.c; docs/BENCHMARKS.md, tenth measurement). A constant W with
// a kernel larger than 1×1 now goes to winograd_conv.c (3×3 stride 1, 64+ channels) or
// conv_direct.c, which unfold nothing (eleventh and thirteenth measurements); the CPU backend
// sends this kernel what those leave (PanelConvKernel.swift).
#include "ckernels.h"
#include "gemm_tile.h"

#ifndef CONV_PANELS_DEPTH
#define CONV_PANELS_DEPTH 512
#endif
#ifndef CONV_PANELS_ROWS
#define CONV_PANELS_ROWS 96
#endif

GEMM_PRODUCT(conv_panels_avx2, GEMM_AVX2, gemm_tile_avx2)
GEMM_PRODUCT(conv_panels_portable, , gemm_tile_portable)

static int64_t output_positions(const swk_conv_geometry *g) { return g->out_h * g->out_w; }

int64_t swk_conv_panel_count(const swk_conv_geometry *g) { return (output_positions(g) + GEMM_TILE - 1) / GEMM_TILE; }

/// Panels unfolded and multiplied per pass. Unfolding all of an image's panels first measured the
/// same (ResNet-18's shapes, conv_panels_timing.c) but needs scratch for the whole image; fewer than
/// 8 ran slower (each pass finds its runs anew).
enum { PASS_PANELS = 16, PASS_POSITIONS = PASS_PANELS * GEMM_TILE };

/// Floats from one panel of a pass to the next: one line more than a panel holds. Panels exactly
/// depth · 64 bytes apart put the same line of every panel in one L1 set whenever depth is a
/// multiple of 64 (ResNet's 576, 1152, …), and unfolding writes one line of each panel in turn.
static int64_t panel_stride(int64_t depth) { return (depth + 1) * GEMM_TILE; }

int64_t swk_conv_panels_scratch_floats(const swk_conv_geometry *g, int64_t channels, int64_t panels) {
    return (panels < PASS_PANELS ? panels : PASS_PANELS) * panel_stride(channels * g->kernel_h * g->kernel_w);
}

/// The positions of one pass that lie in one output row: ow_begin ..< ow_end of row oh, at
/// `at` in the pass's row of one tap.
typedef struct {
    int64_t oh, ow_begin, ow_end, at;
} unfold_run;

/// Writes panels panel_begin ..< panel_end (at most PASS_PANELS) of x [channels, height, width]
/// into `panels`, the first at `panels`. Each tap's row of the pass's positions is unfolded run
/// by run on the stack (1 KB), then copied line by line into the panels: unfolding straight into
/// the panels cut every output row into 16-position pieces and ran 3× slower than im2col.
static void unfold_pass(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t panel_begin,
                        int64_t panel_end, float *panels) {
    const int64_t positions = output_positions(g), depth = channels * g->kernel_h * g->kernel_w;
    const int64_t sw = g->stride_w;
    const int64_t first = panel_begin * GEMM_TILE;
    const int64_t end = positions < panel_end * GEMM_TILE ? positions : panel_end * GEMM_TILE;
    float row[PASS_POSITIONS] __attribute__((aligned(64)));
    // Zeros past the last position: the tiles never read them, but no garbage should sit there.
    memset(row + (end - first), 0, sizeof(float) * (size_t)(panel_end * GEMM_TILE - end));
    // The runs are the same for every tap: found once (their divisions cost more than the copies).
    unfold_run runs[PASS_POSITIONS];
    int run_count = 0;
    for (int64_t p = first; p < end; run_count++) {
        const int64_t oh = p / g->out_w, ow = p % g->out_w;
        const int64_t length = g->out_w - ow < end - p ? g->out_w - ow : end - p;
        runs[run_count] = (unfold_run){oh, ow, ow + length, p - first};
        p += length;
    }
    int64_t t = 0;
    for (int64_t c = 0; c < channels; c++) {
        const float *plane = x + c * g->height * g->width;
        for (int i = 0; i < g->kernel_h; i++)
            for (int j = 0; j < g->kernel_w; j++, t++) {
                // Tap column iw = ow·sw + offset is inside the image for ow in [inside_begin, inside_end).
                const int64_t offset = (int64_t)j * g->dilation_w - g->pad_left;
                const int64_t inside_begin = offset >= 0 ? 0 : (-offset + sw - 1) / sw;
                const int64_t inside_end = g->width - offset <= 0 ? 0 : (g->width - offset + sw - 1) / sw;
                for (int r = 0; r < run_count; r++) {
                    const unfold_run run = runs[r];
                    const int64_t ow0 = run.ow_begin, ih = run.oh * g->stride_h - g->pad_top + (int64_t)i * g->dilation_h;
                    float *line = row + run.at;  // line[ow − ow0] for ow in the run
                    int64_t begin = inside_begin < ow0 ? ow0 : inside_begin;
                    int64_t stop = inside_end > run.ow_end ? run.ow_end : inside_end;
                    if (ih < 0 || ih >= g->height || stop < begin) begin = stop = run.ow_end;
                    for (int64_t ow = ow0; ow < begin; ow++) line[ow - ow0] = 0;
                    if (begin < stop) {
                        const float *source = plane + ih * g->width;  // the input row under this tap
                        // Plain loops: runs are often a few floats, where a memcpy call costs more.
                        if (sw == 1) {
                            for (int64_t ow = begin; ow < stop; ow++) line[ow - ow0] = source[ow + offset];
                        } else {
                            for (int64_t ow = begin; ow < stop; ow++) line[ow - ow0] = source[ow * sw + offset];
                        }
                    }
                    for (int64_t ow = stop; ow < run.ow_end; ow++) line[ow - ow0] = 0;
                }
                for (int64_t panel = 0; panel < panel_end - panel_begin; panel++)
                    memcpy(panels + panel * panel_stride(depth) + t * GEMM_TILE, row + panel * GEMM_TILE,
                           sizeof(float) * GEMM_TILE);
            }
    }
}

/// Writes the positions of panels panel_begin ..< panel_end of y from those panels (the first at
/// `panels`), in blocks of CONV_PANELS_DEPTH lines and CONV_PANELS_ROWS rows of W.
static void multiply_pass(const float *w, int64_t out_channels, int64_t depth, const float *panels,
                          const swk_conv_geometry *g, int64_t panel_begin, int64_t panel_end, const float *bias,
                          const float *residual, float lo, float hi, float *y) {
    const gemm_product_function product = swk_has_avx2() ? conv_panels_avx2 : conv_panels_portable;
    const int64_t positions = output_positions(g);
    for (int64_t t0 = 0; t0 < depth; t0 += CONV_PANELS_DEPTH) {
        const int64_t block = depth - t0 < CONV_PANELS_DEPTH ? depth - t0 : CONV_PANELS_DEPTH;
        const int last = t0 + block == depth;
        for (int64_t m0 = 0; m0 < out_channels; m0 += CONV_PANELS_ROWS) {
            const int64_t rows = out_channels - m0 < CONV_PANELS_ROWS ? out_channels - m0 : CONV_PANELS_ROWS;
            gemm_epilogue e = last ? (gemm_epilogue){1.0f, bias ? bias + m0 : NULL, lo, hi, NULL, t0 > 0}
                                   : (gemm_epilogue){1.0f, NULL, -INFINITY, INFINITY, NULL, t0 > 0};
            for (int64_t panel = panel_begin; panel < panel_end; panel++) {
                const int64_t first = panel * GEMM_TILE;
                const int64_t width = positions - first < GEMM_TILE ? positions - first : GEMM_TILE;
                if (last && residual) e.residual = residual + m0 * positions + first, e.residual_ld = positions;
                const float *lines = panels + (panel - panel_begin) * panel_stride(depth) + t0 * GEMM_TILE;
                product(w + m0 * depth + t0, depth, rows, block, lines, GEMM_TILE, width, &e, y + m0 * positions + first,
                        positions);
            }
        }
    }
}

void swk_conv_panels(const swk_conv_geometry *g, const float *x, int64_t channels, const float *w, int64_t out_channels,
                     int64_t panel_begin, int64_t panel_end, const float *bias, const float *residual, float lo,
                     float hi, float *scratch, float *y) {
    const int64_t depth = channels * g->kernel_h * g->kernel_w;
    for (int64_t pass = panel_begin; pass < panel_end; pass += PASS_PANELS) {
        const int64_t pass_end = panel_end - pass < PASS_PANELS ? panel_end : pass + PASS_PANELS;
        unfold_pass(g, x, channels, pass, pass_end, scratch);
        multiply_pass(w, out_channels, depth, scratch, g, pass, pass_end, bias, residual, lo, hi, y);
    }
}
