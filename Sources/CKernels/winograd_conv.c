// A 3×3, stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2015): each 2×2 block of outputs ("tile") is
// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, d the tile's 4×4 input window. Summed over input channels, the
// elementwise product becomes 16 ordinary products, one per point ξ of the 4×4 transformed
// window: M[ξ] [M × tiles] = U[ξ] [M × C] · V[ξ] [C × tiles], with U = G g Gᵀ packed once. That is
// 16 multiply-adds per tile and channel pair where the direct convolution takes 36 (2.25× fewer);
// the transforms add a few additions per input and output value. They also mix each input and
// weight with others of opposite sign: an infinite input or weight can come out NaN (∞ − ∞)
// where the direct sum gives ±∞. A NaN still reaches exactly the outputs whose windows hold it:
// the zeros of A and B match the windows, so no transform reads an input an output does not.
//
// Layout: the tiles are cut into panels of 16 (a register tile's two vectors of columns), V as
// [panel][ξ][C][16] so each product reads 16-float lines, and a panel's products over a block of
// output channels go to scratch [ξ][block][16] before the output transform scatters them. U is
// packed for the product's register tiles: per point, per block of SWK_WINOGRAD_CHANNEL_BLOCK
// output channels, per tile of up to 6 of them, [C][rows], so a tile reads U as one stream.
#include "ckernels.h"
#include "conv_phases.h"  // conv_clamp
#include "gemm_tile.h"
#include <string.h>

enum { POINTS = 16, PANEL = GEMM_TILE, PRODUCT_ROWS = GEMM_TILE_ROWS };

static int64_t tiles_high(const swk_conv_geometry *g) { return (g->out_h + 1) / 2; }
static int64_t tiles_wide(const swk_conv_geometry *g) { return (g->out_w + 1) / 2; }

int64_t swk_winograd_panels(const swk_conv_geometry *g) {
    return (tiles_high(g) * tiles_wide(g) + PANEL - 1) / PANEL;
}

int64_t swk_winograd_transformed_floats(const swk_conv_geometry *g, int64_t channels) {
    return swk_winograd_panels(g) * POINTS * channels * PANEL;
}

int64_t swk_winograd_packed_floats(int64_t out_channels, int64_t channels) { return POINTS * out_channels * channels; }

int64_t swk_winograd_scratch_floats(int64_t out_channels) { return POINTS * out_channels * PANEL; }

/// Input channels transformed per pass of swk_winograd_pack before its 16 rows are stored: the
/// points lie M·C floats apart, a multiple of 4 KiB for most layers, and storing each (m, c)
/// pair's 16 values straight into them ran 7× slower than packing the direct tiles' layout.
enum { PACK_CHANNELS = 64 };

/// Rows of the register tile that output channel m falls in (6, or fewer at the end of a block)
/// and m's row in it; the tile's [C][rows] starts at its first channel · C.
static int tile_rows(int64_t out_channels, int64_t m, int *row) {
    const int64_t in_block = m % SWK_WINOGRAD_CHANNEL_BLOCK, block_end = m - in_block + SWK_WINOGRAD_CHANNEL_BLOCK;
    const int64_t first = m - in_block % PRODUCT_ROWS, end = block_end < out_channels ? block_end : out_channels;
    *row = (int)(m - first);
    return end - first < PRODUCT_ROWS ? (int)(end - first) : PRODUCT_ROWS;
}

void swk_winograd_pack(const float *w, int64_t out_channels, int64_t channels, float *packed) {
    const int64_t stride = out_channels * channels;  // floats from one point ξ to the next
    float points[POINTS][PACK_CHANNELS];
    for (int64_t m = 0; m < out_channels; m++)
        for (int64_t c0 = 0; c0 < channels; c0 += PACK_CHANNELS) {
            const int64_t count = channels - c0 < PACK_CHANNELS ? channels - c0 : PACK_CHANNELS;
            for (int64_t c = 0; c < count; c++) {
                const float *g = w + (m * channels + c0 + c) * 9;
                // G g: 4 rows × 3 columns, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
                float gg[4][3];
                for (int j = 0; j < 3; j++) {
                    gg[0][j] = g[j];
                    gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                    gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                    gg[3][j] = g[6 + j];
                }
                for (int a = 0; a < 4; a++) {  // (G g) Gᵀ
                    points[a * 4][c] = gg[a][0];
                    points[a * 4 + 1][c] = 0.5f * (gg[a][0] + gg[a][1] + gg[a][2]);
                    points[a * 4 + 2][c] = 0.5f * (gg[a][0] - gg[a][1] + gg[a][2]);
                    points[a * 4 + 3][c] = gg[a][2];
                }
            }
            int row;
            const int rows = tile_rows(out_channels, m, &row);
            for (int p = 0; p < POINTS; p++) {
                float *tile = packed + p * stride + (m - row) * channels;
                for (int64_t c = 0; c < count; c++) tile[(c0 + c) * rows + row] = points[p][c];
            }
        }
}

/// Tiles per pass of the input transform: its padded rows live on the stack.
enum { ROW_TILES = 64 };

/// The 4 input rows a tile row reads, columns x0 ..< x0 + columns, zero outside the image.
static inline __attribute__((always_inline)) void padded_rows(const swk_conv_geometry *g, const float *plane, int64_t top,
                                                              int64_t x0, int64_t columns,
                                                              float rows[4][2 * ROW_TILES + 2]) {
    const int64_t first = x0 < 0 ? -x0 : 0, end = g->width - x0 < columns ? g->width - x0 : columns;
    for (int q = 0; q < 4; q++) {
        const int64_t h = top + q;
        if (h < 0 || h >= g->height || end <= first) {
            memset(rows[q], 0, sizeof(float) * (size_t)columns);
            continue;
        }
        memset(rows[q], 0, sizeof(float) * (size_t)first);
        memcpy(rows[q] + first, plane + h * g->width + x0 + first, sizeof(float) * (size_t)(end - first));
        memset(rows[q] + end, 0, sizeof(float) * (size_t)(columns - end));
    }
}

/// V for channels c_begin ..< c_end of all tiles. Each run of up to ROW_TILES tiles of one tile
/// row first combines its 4 zero-padded input rows (Bᵀ d, over whole rows, contiguous), then
/// each tile's 4 columns of those (· B), 16 values per tile, into the channel's current panel on
/// the stack, [ξ][16 tiles]; the panel's 16 lines go to V whole once its last tile is in. Stored
/// tile by tile straight into V, the values went to 16 lines C·64 bytes apart (a multiple of 4
/// KiB, so the same L1 sets, from 64 channels up), and on planes of 28×28 and less each line in
/// pieces from two tile rows: the transform took 0.44-0.52 ms of ResNet-18's 3×3 layers on
/// 56×56 to 14×14 on one thread, about 5.5 ms of the model's 40 in all; this way 0.34-0.55 of
/// that on 28×28 and 14×14, 0.66-0.67 on 7×7 and 0.72-0.91 on 56×56, bit for bit the same V
/// (bench/kernels/winograd_builds.c, docs/BENCHMARKS.md, twenty-first measurement).
static inline __attribute__((always_inline)) void input_transform(const swk_conv_geometry *g, const float *x,
                                                                  int64_t channels, int64_t c_begin, int64_t c_end,
                                                                  float *v) {
    const int64_t wide = tiles_wide(g), high = tiles_high(g), tiles = wide * high;
    const int64_t point_stride = channels * PANEL, panel_stride = POINTS * point_stride;
    float rows[4][2 * ROW_TILES + 2], r[4][2 * ROW_TILES + 2];
    float panel[POINTS][PANEL] __attribute__((aligned(64)));
    for (int64_t c = c_begin; c < c_end; c++) {
        const float *plane = x + c * g->height * g->width;
        for (int64_t ti = 0; ti < high; ti++) {
            for (int64_t chunk = 0; chunk < wide; chunk += ROW_TILES) {
                const int64_t run = wide - chunk < ROW_TILES ? wide - chunk : ROW_TILES, columns = 2 * run + 2;
                padded_rows(g, plane, 2 * ti - g->pad_top, 2 * chunk - g->pad_left, columns, rows);
                for (int64_t k = 0; k < columns; k++) {
                    r[0][k] = rows[0][k] - rows[2][k];
                    r[1][k] = rows[1][k] + rows[2][k];
                    r[2][k] = rows[2][k] - rows[1][k];
                    r[3][k] = rows[1][k] - rows[3][k];
                }
                // The run's tiles in pieces that stay within one panel.
                for (int64_t j0 = 0; j0 < run;) {
                    const int64_t t = ti * wide + chunk + j0, column = t % PANEL;
                    const int64_t piece = run - j0 < PANEL - column ? run - j0 : PANEL - column;
                    for (int a = 0; a < 4; a++) {
                        const float *ra = r[a] + 2 * j0;
                        float *o0 = panel[a * 4] + column, *o1 = panel[a * 4 + 1] + column, *o2 = panel[a * 4 + 2] + column,
                              *o3 = panel[a * 4 + 3] + column;
                        for (int64_t j = 0; j < piece; j++) {
                            const float d0 = ra[2 * j], d1 = ra[2 * j + 1], d2 = ra[2 * j + 2], d3 = ra[2 * j + 3];
                            o0[j] = d0 - d2, o1[j] = d1 + d2, o2[j] = d2 - d1, o3[j] = d1 - d3;
                        }
                    }
                    j0 += piece;
                    const int64_t last = t + piece - 1;
                    if (last % PANEL == PANEL - 1 || last == tiles - 1) {
                        // The last panel's columns past the tile count are never stored into y, but
                        // zeroed all the same, so no subnormal left in the scratch can slow the products.
                        for (int p = 0; p < POINTS; p++)
                            for (int64_t q = last % PANEL + 1; q < PANEL; q++) panel[p][q] = 0.0f;
                        float *out = v + last / PANEL * panel_stride + c * PANEL;
                        for (int p = 0; p < POINTS; p++) memcpy(out + p * point_stride, panel[p], sizeof panel[p]);
                    }
                }
            }
        }
    }
}

/// y for output channels [m_begin, m_end) of panel `panel`'s tiles from its products m [ξ][m_end −
/// m_begin][16]: Aᵀ m A per tile, then bias, residual and clamp, as each output row is stored.
static inline __attribute__((always_inline)) void output_transform(const swk_conv_geometry *g, const float *m,
                                                                   int64_t panel, int64_t m_begin, int64_t m_end,
                                                                   const float *bias, const float *residual, float lo,
                                                                   float hi, float *y) {
    const int64_t wide = tiles_wide(g), tiles = wide * tiles_high(g), plane = g->out_h * g->out_w;
    const int64_t block = m_end - m_begin, point_stride = block * PANEL;
    for (int64_t k = 0; k < block; k++) {
        const float *mk = m + k * PANEL;
        // Aᵀ m A for all 16 tiles at once (each point ξ a contiguous line of 16): rows first, s =
        // Aᵀ m, then columns, y = s A, with Aᵀ = [1 1 1 0; 0 1 −1 −1].
        float s[2][4][PANEL], out[4][PANEL];
        for (int c = 0; c < 4; c++)
            for (int j = 0; j < PANEL; j++) {
                const float m0 = mk[c * point_stride + j], m1 = mk[(4 + c) * point_stride + j];
                const float m2 = mk[(8 + c) * point_stride + j], m3 = mk[(12 + c) * point_stride + j];
                s[0][c][j] = m0 + m1 + m2, s[1][c][j] = m1 - m2 - m3;
            }
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < PANEL; j++) {
                out[2 * i][j] = s[i][0][j] + s[i][1][j] + s[i][2][j];
                out[2 * i + 1][j] = s[i][1][j] - s[i][2][j] - s[i][3][j];
            }
        const float b = bias ? bias[m_begin + k] : 0.0f;
        float *yk = y + (m_begin + k) * plane;
        const float *zk = residual ? residual + (m_begin + k) * plane : NULL;
        // The panel's tiles in runs along one tile row, each two output rows.
        for (int64_t j0 = 0; j0 < PANEL;) {
            const int64_t t0 = panel * PANEL + j0;
            if (t0 >= tiles) break;
            const int64_t ti = t0 / wide, tj = t0 % wide;
            int64_t run = wide - tj < PANEL - j0 ? wide - tj : PANEL - j0;
            const int64_t x0 = 2 * tj, columns = g->out_w - x0 < 2 * run ? g->out_w - x0 : 2 * run;
            for (int half = 0; half < 2 && 2 * ti + half < g->out_h; half++) {
                const float *even = out[2 * half] + j0, *odd = out[2 * half + 1] + j0;
                float sums[2 * PANEL];
                for (int64_t j = 0; j < run; j++) sums[2 * j] = even[j], sums[2 * j + 1] = odd[j];
                const int64_t at = (2 * ti + half) * g->out_w + x0;
                // Bias, then Z, then the clamp: the order of the other convolutions' epilogues.
                if (zk)
                    for (int64_t q = 0; q < columns; q++) yk[at + q] = conv_clamp(sums[q] + b + zk[at + q], lo, hi);
                else
                    for (int64_t q = 0; q < columns; q++) yk[at + q] = conv_clamp(sums[q] + b, lo, hi);
            }
            j0 += run;
        }
    }
}

/// m[r·16 + c] = Σ_t u[t·R + r] · v[t·16 + c] for r < R (a tile of U packed [C][R]) and c < 8·H,
/// the products summed in channel order from 0.
GEMM_AVX2 static inline __attribute__((always_inline)) void product_tile_avx2(const int R, const int H, const float *u,
                                                                             int64_t channels, const float *v, float *m) {
    __m256 acc[PRODUCT_ROWS][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t t = 0; t < channels; t++, u += R, v += PANEL) {
        const __m256 v0 = _mm256_loadu_ps(v), v1 = H == 2 ? _mm256_loadu_ps(v + 8) : v0;
        for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(u + r);
            acc[r][0] = _mm256_fmadd_ps(x, v0, acc[r][0]);
            if (H == 2) acc[r][1] = _mm256_fmadd_ps(x, v1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(m + r * PANEL, acc[r][0]);
        if (H == 2) _mm256_storeu_ps(m + r * PANEL + 8, acc[r][1]);
    }
}

/// One point's products for a block of `rows` output channels: m [rows][16] = U's block (packed
/// tile by tile) · v [C][16], the first `width` (8 or 16) columns. Read as [rows][C] with a
/// broadcast from each of 6 rows a step (gemm_tile.h's tiles), U came from 6 streams C floats
/// apart, and the products ran at 49-77 GFLOP/s on ResNet-18's layers with U cold (49-62 on
/// 28×28 and smaller planes); packed, they took 0.67-0.88 of that time in a prototype
/// (docs/BENCHMARKS.md, twenty-first measurement).
GEMM_AVX2 static void product_avx2(const float *u, int64_t channels, int64_t rows, const float *v, int64_t width,
                                   float *m) {
    for (int64_t r0 = 0; r0 < rows; r0 += PRODUCT_ROWS, m += PRODUCT_ROWS * PANEL) {
        const int64_t R = rows - r0 < PRODUCT_ROWS ? rows - r0 : PRODUCT_ROWS;
#define TILE(N)                                                                                                         \
    case N:                                                                                                             \
        if (width > 8) product_tile_avx2(N, 2, u, channels, v, m);                                                     \
        else product_tile_avx2(N, 1, u, channels, v, m);                                                               \
        break;
        switch (R) { TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) default: TILE(6) }
#undef TILE
        u += R * channels;
    }
}

static void product_portable(const float *u, int64_t channels, int64_t rows, const float *v, int64_t width, float *m) {
    for (int64_t r0 = 0; r0 < rows; r0 += PRODUCT_ROWS, m += PRODUCT_ROWS * PANEL) {
        const int64_t R = rows - r0 < PRODUCT_ROWS ? rows - r0 : PRODUCT_ROWS;
        float acc[PRODUCT_ROWS][PANEL] = {{0}};
        for (int64_t t = 0; t < channels; t++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < width; c++) acc[r][c] += u[t * R + r] * v[t * PANEL + c];
        for (int64_t r = 0; r < R; r++) memcpy(m + r * PANEL, acc[r], sizeof(float) * (size_t)width);
        u += R * channels;
    }
}

GEMM_AVX2 static void input_avx2(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin,
                                 int64_t c_end, float *v) {
    input_transform(g, x, channels, c_begin, c_end, v);
}
static void input_portable(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                           float *v) {
    input_transform(g, x, channels, c_begin, c_end, v);
}

void swk_winograd_input(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                        float *transformed) {
    (swk_has_avx2() ? input_avx2 : input_portable)(g, x, channels, c_begin, c_end, transformed);
}

GEMM_AVX2 static void output_avx2(const swk_conv_geometry *g, const float *m, int64_t panel, int64_t m_begin,
                                  int64_t m_end, const float *bias, const float *residual, float lo, float hi, float *y) {
    output_transform(g, m, panel, m_begin, m_end, bias, residual, lo, hi, y);
}
static void output_portable(const swk_conv_geometry *g, const float *m, int64_t panel, int64_t m_begin, int64_t m_end,
                            const float *bias, const float *residual, float lo, float hi, float *y) {
    output_transform(g, m, panel, m_begin, m_end, bias, residual, lo, hi, y);
}

void swk_winograd_conv(const swk_conv_geometry *g, const float *transformed, int64_t channels, const float *packed,
                       int64_t out_channels, int64_t panel, int64_t m_begin, int64_t m_end, const float *bias,
                       const float *residual, float lo, float hi, float *scratch, float *y) {
    if (m_end <= m_begin) return;
    const int avx2 = swk_has_avx2();
    const int64_t block = m_end - m_begin;
    const float *v = transformed + panel * POINTS * channels * PANEL;
    // A last panel of at most 8 tiles takes half the multiply-adds: 8 columns (the input transform
    // zeroed the tiles past the last, and 8 whole columns need no masked loads, which were slower
    // than the full panel). The columns past 8, which the output transform reads but never
    // stores, are zeroed, so no stale value from the arena goes through its arithmetic.
    const int64_t width = tiles_high(g) * tiles_wide(g) - panel * PANEL <= 8 ? 8 : PANEL;
    for (int p = 0; p < POINTS; p++) {
        float *m = scratch + p * block * PANEL;
        (avx2 ? product_avx2 : product_portable)(packed + (p * out_channels + m_begin) * channels, channels, block,
                                                 v + p * channels * PANEL, width, m);
        if (width < PANEL)
            for (int64_t k = 0; k < block; k++) memset(m + k * PANEL + width, 0, sizeof(float) * (size_t)(PANEL - width));
    }
    (avx2 ? output_avx2 : output_portable)(g, scratch, panel, m_begin, m_end, bias, residual, lo, hi, y);
}
