// A convolution with a short reduction (see ckernels.h), an image model's stem above all: 3 input
// channels × 3×3 taps = 27 terms per output (ResNet-18's, 3 × 7×7 = 147). Output positions go in
// vector lanes: a block of 4 output channels × 16 positions of one output row keeps its 8 sums of
// 8 in registers, each step loading the 16 values one tap reads for those positions and
// multiplying them by the tap's 4 weights, broadcast. The values lie contiguous in the input's
// stride phases (conv_phases.h), written once per image, at any stride. The block is stored
// straight into its 4 output rows; a row's last block of 8 or fewer positions takes one vector.
//
// Why: conv_direct.c's tiles (positions broadcast, 16 output channels in lanes) pay per tile for
// the window starts and for transposing 96 sums into their planes, which 27 terms do not cover.
// Here a block pays for neither. MobileNetV2's stem (3→32, 3×3 stride 2 onto 112×112) took
// 0.78-0.80 of their time and ResNet-18's 0.94, the outputs the same bit for bit
// (bench/kernels/conv_shallow_timing.c); in the model MobileNetV2's stem went 0.90 → 0.67-0.71 ms
// on one thread (docs/BENCHMARKS.md, seventeenth measurement). With 16 input channels, and on rows
// under 32 outputs, it ran slower there: those stay on the direct tiles.
#include "ckernels.h"
#include "conv_phases.h"
#include <immintrin.h>
#include <string.h>

/// Output channels and positions of one block: 8 sums of 8, two input vectors and a broadcast
/// weight take 11 of the 16 vector registers. The callers split whole blocks of channels, so the
/// block's width is in ckernels.h.
enum { BLOCK_CHANNELS = SWK_SHALLOW_BLOCK_CHANNELS, BLOCK_POSITIONS = 16 };

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

int64_t swk_conv_shallow_packed_floats(int64_t out_channels, int64_t depth) {
    return (out_channels + BLOCK_CHANNELS - 1) / BLOCK_CHANNELS * BLOCK_CHANNELS * depth;
}

void swk_conv_shallow_pack(const float *w, int64_t out_channels, int64_t depth, float *packed) {
    conv_pack_channel_blocks(w, out_channels, depth, BLOCK_CHANNELS, packed);
}

static conv_layout layout_of(const swk_conv_geometry *g) { return conv_layout_of(g, BLOCK_POSITIONS); }

/// Floats from one input channel's phases to the next: rounded to 64 bytes.
static int64_t channel_floats(const swk_conv_geometry *g) {
    const conv_layout l = layout_of(g);
    return ((int64_t)g->stride_h * g->stride_w * l.plane + 15) / 16 * 16;
}

/// A row's last block reads up to BLOCK_POSITIONS − 1 columns past its row, and the last row past
/// the last phase plane: the slack after the last channel covers it.
static int64_t slack_floats(const swk_conv_geometry *g) {
    const conv_layout l = layout_of(g);
    return conv_slack_floats(&l);
}

int64_t swk_conv_shallow_phases_floats(const swk_conv_geometry *g, int64_t channels) {
    return channels * channel_floats(g) + slack_floats(g);
}

void swk_conv_shallow_phases(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                             float *phases) {
    const conv_layout l = layout_of(g);
    const int64_t written = (int64_t)g->stride_h * g->stride_w * l.plane, stride = channel_floats(g);
    // The floats after each channel's phases, and the slack after the last, are zeroed: a row's
    // last block reads them into lanes it never stores, where no NaN or subnormal should slow it.
    for (int64_t c = c_begin; c < c_end; c++) {
        conv_split_phases(g, &l, x + c * g->height * g->width, phases + c * stride);
        memset(phases + c * stride + written, 0, sizeof(float) * (size_t)(stride - written));
    }
    if (c_begin < c_end && c_end == channels) memset(phases + channels * stride, 0, sizeof(float) * (size_t)slack_floats(g));
}

void swk_conv_shallow_steps(const swk_conv_geometry *g, int64_t channels, int64_t *steps) {
    const conv_layout l = layout_of(g);
    const int64_t kk = (int64_t)g->kernel_h * g->kernel_w, stride = channel_floats(g);
    conv_tap_offsets(g, &l, steps);  // channel 0's taps, then each later channel's from them
    for (int64_t c = 1; c < channels; c++)
        for (int64_t i = 0; i < kk; i++) steps[c * kk + i] = c * stride + steps[i];
}

/// Where one block reads and writes: the first of its positions in the phases (tap offsets are
/// from there), in y and in the residual, and how many of its 16 positions are outputs.
typedef struct {
    const float *in;
    float *out;
    const float *residual;
    int64_t count;
} shallow_block;

/// out[r·plane + p] = clamp(Σ_t in[steps[t] + p] · panel[t·4 + r] + bias[r] + residual[r·plane + p])
/// for r < R, p < count: the sums in the vector path's order.
static void block_portable(const int R, const shallow_block *b, int64_t depth, const int64_t *steps, const float *panel,
                           const float *bias, float lo, float hi, int64_t plane) {
    float acc[BLOCK_CHANNELS][BLOCK_POSITIONS] = {{0}};
    for (int64_t t = 0; t < depth; t++, panel += BLOCK_CHANNELS)
        for (int r = 0; r < R; r++)
            for (int64_t p = 0; p < b->count; p++) acc[r][p] += panel[r] * b->in[steps[t] + p];
    for (int r = 0; r < R; r++)
        for (int64_t p = 0; p < b->count; p++) {
            float v = bias ? acc[r][p] + bias[r] : acc[r][p];
            if (b->residual) v += b->residual[r * plane + p];
            b->out[r * plane + p] = conv_clamp(v, lo, hi);
        }
}

/// block_portable on AVX2 with H vectors of 8 positions (1 for a row's last block of at most 8,
/// which then takes half the multiply-adds), R of the block's channels; R, H and `full` are
/// constants at each call: with `full` all 8·H positions are stored, else masked stores write the
/// first `count`.
AVX2 INLINE void block_avx2_channels(const int R, const int H, const int full, const shallow_block *b, int64_t depth,
                                     const int64_t *steps, const float *panel, const float *bias, float lo, float hi,
                                     int64_t plane) {
    __m256 acc[BLOCK_CHANNELS][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    // One flat loop over the reduction, each step's offset from a table: with a loop per channel
    // and one per tap, clang copied every sum to another register on each step (8 moves a step,
    // 1.4× the table's time on MobileNetV2's stem), and working out the offset as it went took
    // 1.1× (conv_shallow_timing.c).
    for (int64_t t = 0; t < depth; t++, panel += BLOCK_CHANNELS) {
        // Lanes past `count` read the row's dropped columns, the zeros after a channel's phases
        // or the slack: never stored.
        const float *s = b->in + steps[t];
        const __m256 x0 = _mm256_loadu_ps(s), x1 = H == 2 ? _mm256_loadu_ps(s + 8) : x0;
        for (int r = 0; r < R; r++) {
            const __m256 w = _mm256_broadcast_ss(panel + r);
            acc[r][0] = _mm256_fmadd_ps(w, x0, acc[r][0]);
            if (H == 2) acc[r][1] = _mm256_fmadd_ps(w, x1, acc[r][1]);
        }
    }
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i low_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)b->count), lanes);
    const __m256i high_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)b->count - 8), lanes);
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    for (int r = 0; r < R; r++) {
        for (int h = 0; h < H; h++) {
            __m256 v = acc[r][h];
            if (bias) v = _mm256_add_ps(v, _mm256_set1_ps(bias[r]));
            if (b->residual) {
                const float *z = b->residual + r * plane + h * 8;
                v = _mm256_add_ps(v, full ? _mm256_loadu_ps(z) : _mm256_maskload_ps(z, h ? high_mask : low_mask));
            }
            // max(low, v) then min(high, ·) return v when v is NaN: NaN passes, as conv_clamp does.
            v = _mm256_min_ps(high, _mm256_max_ps(low, v));
            float *o = b->out + r * plane + h * 8;
            if (full) _mm256_storeu_ps(o, v);
            else _mm256_maskstore_ps(o, h ? high_mask : low_mask, v);
        }
    }
}

AVX2 static void block_avx2(int rows, const shallow_block *b, int64_t depth, const int64_t *steps, const float *panel,
                            const float *bias, float lo, float hi, int64_t plane) {
    const int64_t count = b->count;
#define CHANNELS(R)                                                                                                     \
    if (count >= 16) block_avx2_channels(R, 2, 1, b, depth, steps, panel, bias, lo, hi, plane);                          \
    else if (count > 8) block_avx2_channels(R, 2, 0, b, depth, steps, panel, bias, lo, hi, plane);                       \
    else if (count == 8) block_avx2_channels(R, 1, 1, b, depth, steps, panel, bias, lo, hi, plane);                      \
    else block_avx2_channels(R, 1, 0, b, depth, steps, panel, bias, lo, hi, plane);
    switch (rows) {
    case 1: CHANNELS(1) break;
    case 2: CHANNELS(2) break;
    case 3: CHANNELS(3) break;
    default: CHANNELS(4) break;
    }
#undef CHANNELS
}

static void block_portable_rows(int rows, const shallow_block *b, int64_t depth, const int64_t *steps, const float *panel,
                                const float *bias, float lo, float hi, int64_t plane) {
    switch (rows) {
    case 1: block_portable(1, b, depth, steps, panel, bias, lo, hi, plane); break;
    case 2: block_portable(2, b, depth, steps, panel, bias, lo, hi, plane); break;
    case 3: block_portable(3, b, depth, steps, panel, bias, lo, hi, plane); break;
    default: block_portable(4, b, depth, steps, panel, bias, lo, hi, plane); break;
    }
}

void swk_conv_shallow(const swk_conv_geometry *g, const float *phases, int64_t channels, const int64_t *steps,
                      const float *packed, int64_t m_begin, int64_t m_end, const float *bias, const float *residual, float lo,
                      float hi, float *y) {
    const conv_layout l = layout_of(g);
    const int64_t depth = channels * g->kernel_h * g->kernel_w, plane = g->out_h * g->out_w;
    void (*const block)(int, const shallow_block *, int64_t, const int64_t *, const float *, const float *, float, float,
                        int64_t) = swk_has_avx2() ? block_avx2 : block_portable_rows;
    // Rows outermost: one output row's phase rows stay in L1 while every block of channels reads them.
    for (int64_t oh = 0; oh < g->out_h; oh++)
        for (int64_t m0 = m_begin; m0 < m_end; m0 += BLOCK_CHANNELS) {
            const int rows = (int)(m_end - m0 < BLOCK_CHANNELS ? m_end - m0 : BLOCK_CHANNELS);
            const float *panel = packed + m0 / BLOCK_CHANNELS * depth * BLOCK_CHANNELS;
            for (int64_t ow = 0; ow < g->out_w; ow += BLOCK_POSITIONS) {
                const int64_t at = m0 * plane + oh * g->out_w + ow;
                const shallow_block b = {phases + oh * l.phase_w + ow, y + at, residual ? residual + at : NULL,
                                         g->out_w - ow < BLOCK_POSITIONS ? g->out_w - ow : BLOCK_POSITIONS};
                block(rows, &b, depth, steps, panel, bias ? bias + m0 : NULL, lo, hi, plane);
            }
        }
}
