// Swiftlet's hand-written CPU kernels (AVX2 + FMA with a portable fallback, chosen at run time).
// Internal to libswiftlet: HWBackends/CPU calls these; they are not part of the public C API.
// Every pointer must be valid for the sizes given; nothing here allocates or fails.
#ifndef SWIFTLET_CKERNELS_H
#define SWIFTLET_CKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the AVX2/FMA/F16C paths run on this CPU, decided once per process; 0 (portable C loops,
/// the same results within rounding: the AVX2 copies fuse multiply-adds) without them, or when the
/// environment sets SWIFTLET_PORTABLE_KERNELS=1.
int swk_has_avx2(void);

/// In place, over `count` floats (fast_math.c gives the accuracy of each): e^x; erf(x);
/// GELU x·(1 + erf(x/√2))/2; GELU's tanh form x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2; and the
/// softmax of one row (a row whose every entry is −∞, fully masked, becomes zeros; −∞ entries get
/// weight exactly 0; NaN anywhere makes the row NaN). NaN inputs give NaN.
void swk_exp(float *values, int64_t count);
void swk_erf(float *values, int64_t count);
void swk_gelu(float *values, int64_t count);
void swk_gelu_tanh(float *values, int64_t count);
void swk_softmax(float *row, int64_t count);

/// The worker threads the CPU kernels split their work over (thread_pool.c), shared by the whole
/// process. swk_pool_run calls function(context, task) once for each task in 0 ..< tasks, on the
/// calling thread and on up to tasks − 1 workers (started on first need, never stopped), and
/// returns 1 when all have returned. Tasks go to whoever is free first, the caller included, so a
/// task no worker reaches (asleep, preempted, or never started) runs on the caller. It returns 0
/// without calling anything when the pool is busy with another call (another thread's, or the
/// caller's own from inside a task), or for more than 64 tasks: the caller then runs the tasks
/// some other way. Workers spin for up to 0.5 ms after a call before they sleep
/// (SWIFTLET_THREAD_SPIN_US in the environment, read once, sets it; 0 sleeps at once; with more
/// workers than cores they do not spin). A forked child starts new workers. The workers run
/// library code until the process ends: the library must not be unloaded (dlclose) once used.
typedef void (*swk_pool_task)(void *context, int task);
int swk_pool_run(int tasks, swk_pool_task function, void *context);

/// A linear layer on weights packed once (packed_linear.c). swk_linear_pack lays W [k, n]
/// (row-major; with `transposed`, W stored as its transpose [n, k], as Gemm's B with transB is)
/// out as ceil(n / 16) panels of k × 16 floats, zero past column n, into `panels`
/// (swk_linear_panels_count(k, n) floats). swk_linear_packed then writes
/// columns column_begin ..< column_end of Y [m, n] = X [m, k] · W + bias (bias: n floats or NULL),
/// rows of Y n floats apart; column_begin must be a multiple of 16. k = 0 gives the bias (or 0).
int64_t swk_linear_panels_count(int64_t k, int64_t n);
void swk_linear_pack(const float *w, int64_t k, int64_t n, int transposed, float *panels);
void swk_linear_packed(const float *x, int64_t m, int64_t k, const float *panels, int64_t n, int64_t column_begin,
                       int64_t column_end, const float *bias, float *y);

/// A pointwise convolution of one image (pointwise_conv.c: 1×1 kernel, stride 1, no padding,
/// group 1), positions p_begin ≤ p < p_end of its plane (plane = height · width):
/// y[m·plane + p] = clamp(Σ_c w[m·in_channels + c] · x[c·plane + p] + bias[m] + residual[m·plane +
/// p]) for every output channel m, the sum over c_begin ≤ c < c_end (0 ≤ c_begin ≤ c_end ≤
/// in_channels), the terms added in that order, clamp(v) = v < lo ? lo : (v > hi ? hi : v), so
/// NaN passes through (lo = −∞, hi = +∞ for none). bias and residual (a fused Add, laid out like y
/// and not overlapping it) may be NULL. Less than all the channels, it writes a partial sum for
/// swk_conv_add_partials to finish (pass bias and residual NULL, lo = −∞, hi = +∞). Reads x and
/// the residual and writes y only at positions in the range, so disjoint ranges may run on
/// different threads; with no channels every output is the clamped bias (plus residual).
void swk_pointwise_conv(const float *w, int64_t out_channels, int64_t in_channels, int64_t c_begin, int64_t c_end,
                        const float *x, int64_t plane, int64_t p_begin, int64_t p_end, const float *bias,
                        const float *residual, float lo, float hi, float *y);

/// Finishes output channels c_begin ≤ c < c_end of a convolution whose reduction was split over
/// ranges of input channels, each summed on its own (conv_partials.c; swk_conv_direct,
/// swk_pointwise_conv): y[c, p] = clamp(y[c, p] + partials[0][c, p] + … + partials[count − 1][c,
/// p] + bias[c] + residual[c, p]) for p < plane, each term added in that order; partial i starts
/// at partials + i · out_channels · plane (laid out like y). bias and residual may be NULL; clamp as
/// swk_pointwise_conv's. Disjoint channel ranges may run on different threads at once.
void swk_conv_add_partials(int64_t plane, int64_t out_channels, int64_t c_begin, int64_t c_end, const float *partials,
                           int64_t count, const float *bias, const float *residual, float lo, float hi, float *y);

/// One attention head (attention.c). swk_attention_pack_head copies a head's keys K [keys, size] and
/// values V [keys, size] (rows `stride` floats apart, e.g. heads·size in [B, S, H, D] tensors) into
/// `packed`, swk_attention_packed_floats(keys, size) floats. swk_attention_scores writes
/// scores[r·ld + j] = scale · Σ_d q[r·q_stride + d]·K[j, d] for r < rows, j < ld, where
/// ld = swk_attention_scores_stride(keys), keys rounded up to 16 (the columns past `keys` multiply
/// zero padding; nothing reads them).
/// swk_attention_context writes y[r·y_stride + d] = Σ_{j < keys} scores[r·ld + j]·V[j, d] for
/// r < rows, d < size. The packed head is read-only there, so blocks of rows may run on several
/// threads at once, each with its own scores.
int64_t swk_attention_packed_floats(int64_t keys, int64_t size);
int64_t swk_attention_scores_stride(int64_t keys);
void swk_attention_pack_head(const float *k, const float *v, int64_t stride, int64_t keys, int64_t size, float *packed);
void swk_attention_scores(const float *q, int64_t q_stride, int64_t rows, const float *packed, int64_t keys, int64_t size,
                          float scale, float *scores);
void swk_attention_context(const float *scores, int64_t rows, const float *packed, int64_t keys, int64_t size, float *y,
                           int64_t y_stride);

/// LayerNormalization of rows row_begin ≤ r < row_end, each `length` floats:
/// y = (s − mean(s)) / sqrt(var(s) + epsilon) · scale + bias (bias may be NULL), where s = x, or
/// x + skip when skip is not NULL (the sum is written into y first; y may be x or skip).
/// Statistics in double. Disjoint row ranges may run on different threads at once.
void swk_layer_norm(const float *x, const float *skip, int64_t row_begin, int64_t row_end, int64_t length, float epsilon,
                    const float *scale, const float *bias, float *y);

/// A block-sparse (BSR) weight W [n, k] in R×C blocks, BlockSparseMatrix's layout: block row b
/// (output rows b·R …) stores blocks row_pointers[b] ..< row_pointers[b + 1]; block s sits at block
/// column column_indices[s] and holds [R][C] values: floats in `values`, or, when `scales` is not
/// NULL, int8 `codes` with W[row, ·] = code · scales[row]. Indices must already be checked.
typedef struct {
    int64_t n, k;
    int r, c;
    const int32_t *row_pointers, *column_indices;
    const float *values;
    const int8_t *codes;
    const float *scales;
} swk_bsr_matrix;

/// Rows of x that swk_bsr_linear takes at a time for blocks R high (16, 32 or 48).
int64_t swk_bsr_chunk_rows(int r);

/// Floats of scratch swk_bsr_linear needs for a range of `block_rows` block rows of a weight with
/// K columns in R×C blocks.
int64_t swk_bsr_linear_scratch_floats(int64_t k, int r, int c, int64_t block_rows);

/// y[i, j] = Σ_k x[i, k]·W[j, k] + (bias ? bias[j] : 0) for i < m and the output columns of block
/// rows b0 ..< b1 (j < n); x is [m, k], y is [m, n], both row-major. Other columns of y are not
/// touched, so disjoint block-row ranges may run on different threads at once, each with its own
/// scratch.
void swk_bsr_linear(const swk_bsr_matrix *w, const float *x, int64_t m, int64_t b0, int64_t b1, const float *bias, float *y,
                    float *scratch);

/// Int8 codes of activation rows for swk_int8_gemm, Int8Quantization's arithmetic exactly:
/// scales[m] = static_scale if > 0, else max|x[m,:]|/127 (NaN ignored); codes[m·kp + i] =
/// round-half-even(x[m·k + i] · (1/scales[m])) clamped to ±127 (NaN → 0; all 0 when the scale
/// is 0), widened to int16; zero for k ≤ i < kp.
void swk_int8_quantize_rows(const float *x, int64_t rows, int64_t k, int64_t kp, float static_scale, int16_t *codes,
                            float *scales);

/// From this many rows on, swk_int8_gemm packs W into panels (a GEMM); below, it takes dot
/// products along W's rows (matrix-vector: packing would cost as much as the product).
#define SWK_INT8_PACKED_ROWS 6

/// Int8 matrix product with int32 sums, output columns j_begin ≤ j < j_end:
/// y[m·n + j] = (float)Σ_k xq[m·kp + k]·w[j·k_total + k] · (x_scale[m] · w_scale[j]) + (bias ? bias[j] : 0).
/// xq holds int8 codes widened to int16, rows padded with zeros to kp (a multiple of 16 ≥ k_total);
/// w is [n, k_total] int8. `panel` is scratch of 16·kp bytes, used from SWK_INT8_PACKED_ROWS rows
/// on. Disjoint column ranges may run on different threads at once, each with its own panel.
void swk_int8_gemm(int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total, const int16_t *xq, int64_t kp,
                   const float *x_scale, const int8_t *w, const float *w_scale, const float *bias, int8_t *panel, float *y);

/// The element formats of OCP MX v1.0 (the kernels decode each in registers).
typedef enum {
    SWK_MXFP8_E4M3, SWK_MXFP8_E5M2, SWK_MXFP6_E2M3, SWK_MXFP6_E3M2, SWK_MXFP4_E2M1, SWK_MXINT8
} swk_mx_element;

/// MX weight-only product for few rows (matrix-vector), output columns j_begin ≤ j < j_end:
/// y[m·n + j] = Σ_k x[m·k_total + k] · W[j, k] (+ bias[j]), W[j, k] = table[code] · 2^(scale − 127),
/// codes packed as `element` is wide, LSB-first, rows of row_bytes; scales [n, ⌈k_total/32⌉] E8M0
/// (0xFF: NaN). `table` (every code's element value) serves the portable path and a short last
/// block. Each weight block is decoded once and used for all `rows` rows of x, so no float copy
/// of W is ever written. Disjoint column ranges may run on different threads at once.
void swk_mx_matvec(swk_mx_element element, int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total,
                   const uint8_t *codes, int64_t row_bytes, const uint8_t *scales, const float *table, const float *x,
                   const float *bias, float *y);

/// One convolution's sizes for the kernels that multiply shifted copies of each input plane
/// (depthwise, pattern-sparse): NCHW planes of height × width, a kernel_h × kernel_w window.
typedef struct {
    int64_t height, width, out_h, out_w;
    int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
} swk_conv_geometry;

/// A convolution of one image and group on unfolded panels (conv_panels.c): y [out_channels,
/// out_h · out_w] = clamp(Σ_t w[m · depth + t] · unfolded[t] + bias[m] + residual[m, p]) with depth
/// = channels · kH · kW, the unfolded input (im2col's rows) read from x [channels, height, width],
/// zero where a tap falls in the padding; w [out_channels, depth] row-major; bias NULL or
/// out_channels floats, residual NULL or laid out like y and not overlapping it (y holds partial
/// sums before the last block of the reduction reads Z); clamp as swk_pointwise_conv's. The output positions are cut into
/// swk_conv_panel_count(g) panels of 16; one call writes those of panels panel_begin ..<
/// panel_end (0 ≤ panel_begin < panel_end ≤ the count; channels ≥ 1, strides and dilations ≥ 1,
/// pads ≥ 0, as ConvOp checks: a convolution with no input channels takes im2col's path), using `scratch`: swk_conv_panels_scratch_floats(g, channels, n) floats for
/// calls of at most n panels, 64-byte aligned for speed. Disjoint panel ranges may run on
/// different threads at once, each with its own scratch.
int64_t swk_conv_panel_count(const swk_conv_geometry *g);
int64_t swk_conv_panels_scratch_floats(const swk_conv_geometry *g, int64_t channels, int64_t panels);
void swk_conv_panels(const swk_conv_geometry *g, const float *x, int64_t channels, const float *w, int64_t out_channels,
                     int64_t panel_begin, int64_t panel_end, const float *bias, const float *residual, float lo,
                     float hi, float *scratch, float *y);

/// A convolution of one image and group onto a small output plane (conv_small_plane.c), the same
/// y as swk_conv_panels' (w [out_channels, channels · kH · kW] row-major, bias NULL or out_channels
/// floats, residual NULL or laid out like y, clamp as swk_pointwise_conv's) for all of the image's
/// positions at once: x is copied into zero-padded planes and unfolded whole through `table`,
/// swk_conv_small_plane_table_size(g) offsets that swk_conv_small_plane_table(g, table) writes once
/// for the geometry. `scratch`: swk_conv_small_plane_scratch_floats(g, channels) floats, 64-byte
/// aligned for speed; calls may run on different threads at once, each with its own scratch.
/// Channels ≥ 1, strides and dilations ≥ 1, pads ≥ 0 (ConvOp checks them), and the padded plane's
/// offsets within int32 (the CPU backend sends only small planes).
int64_t swk_conv_small_plane_table_size(const swk_conv_geometry *g);
void swk_conv_small_plane_table(const swk_conv_geometry *g, int32_t *table);
int64_t swk_conv_small_plane_scratch_floats(const swk_conv_geometry *g, int64_t channels);
void swk_conv_small_plane(const swk_conv_geometry *g, const int32_t *table, const float *x, int64_t channels,
                          const float *w, int64_t out_channels, const float *bias, const float *residual, float lo,
                          float hi, float *scratch, float *y);

/// A convolution of one image and group that broadcasts input pixels against W packed once
/// (conv_direct.c): y [out_channels, out_h · out_w] = clamp(Σ over channels k and taps (i, j) of
/// w[m, k, i, j] · x[k, oh·sh − pad_top + i·dh, ow·sw − pad_left + j·dw] + bias[m] + residual[m,
/// oh, ow]), reading zero outside the image, clamp as swk_pointwise_conv's (NaN passes); bias NULL
/// or out_channels floats, residual NULL or laid out like y (a fused Add).
/// Strides and dilations ≥ 1, pads ≥ 0 (ConvOp checks them), channels ≥ 1.
/// - `input`: x [channels, height, width] itself when swk_conv_direct_padded_floats(g, channels)
///   is 0, else the copy swk_conv_direct_pad writes into that many floats (64-byte aligned for
///   speed): zero-padded planes where a tap reads padding, or for a 1×1 layer onto a small plane
///   each tile's pixels side by side, all `channels` of a tile together (so a 1×1 layer of more
///   than one group must not come here: the CPU backend sends only one-group 1×1 layers).
///   `channels` is the same in both calls; disjoint channel ranges may be copied on different
///   threads.
/// - `taps`: the kernel_h · kernel_w offsets swk_conv_direct_taps(g, taps) writes.
/// - `packed`: W [out_channels, depth = channels·kH·kW] as swk_conv_direct_pack lays it out in
///   swk_conv_direct_packed_floats(out_channels, depth) floats, 32-byte aligned.
/// - c_begin ≤ c < c_end (0 ≤ c_begin < c_end ≤ channels): the input channels this call sums. Less
///   than all of them, it writes a partial sum, which swk_conv_add_partials finishes (pass
///   bias and residual NULL, lo = −∞, hi = +∞).
/// The work is cut into swk_conv_direct_tiles(g, out_channels) tiles (16 output channels × the
/// plane's positions dealt out evenly, at most 6 a tile); one call writes tiles tile_begin ..<
/// tile_end (0 ≤ tile_begin ≤ tile_end ≤ the count). Disjoint tile ranges may run on different
/// threads at once; the inputs are only read (the residual only where the call writes y).
#define SWK_CONV_DIRECT_PANEL_CHANNELS 16  // output channels per panel of swk_conv_direct_pack's layout
int64_t swk_conv_direct_packed_floats(int64_t out_channels, int64_t depth);
void swk_conv_direct_pack(const float *w, int64_t out_channels, int64_t depth, float *packed);
int64_t swk_conv_direct_padded_floats(const swk_conv_geometry *g, int64_t channels);
void swk_conv_direct_pad(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                         float *padded);
int64_t swk_conv_direct_tiles(const swk_conv_geometry *g, int64_t out_channels);
void swk_conv_direct_taps(const swk_conv_geometry *g, int64_t *taps);
void swk_conv_direct(const swk_conv_geometry *g, const float *input, int64_t channels, int64_t c_begin, int64_t c_end,
                     const int64_t *taps, const float *packed, int64_t out_channels, int64_t tile_begin, int64_t tile_end,
                     const float *bias, const float *residual, float lo, float hi, float *y);

/// A 1×1 expansion and the depthwise convolution after it, as one kernel on one image
/// (expand_depthwise.c): e [out_channels, height · width] = clamp_e(W_e · x + bias_e) with W_e
/// [out_channels, channels] packed by swk_conv_direct_pack, then y [out_channels, out_h · out_w]
/// = swk_depthwise_conv of e (geometry g, w [out_channels, kH, kW], w_bias, clamp), bit for bit
/// what swk_pointwise_conv then swk_depthwise_conv write (the sign of a zero or a NaN aside), without e ever
/// existing: each panel of
/// SWK_CONV_DIRECT_PANEL_CHANNELS expanded channels is written straight into the depthwise lanes'
/// padded input. Clamps as swk_pointwise_conv's (NaN passes); either bias may be NULL.
/// swk_expand_depthwise_takes says whether it takes g (AVX2, planes of at most 28×28, the depthwise
/// lanes path's row runs, out_channels a multiple of the panel); then `scratch` holds swk_expand_depthwise_scratch_floats(g)
/// floats, and one call writes the panels panel_begin ..< panel_end.
/// Disjoint panel ranges may run on different threads at once, each with its own scratch.
int swk_expand_depthwise_takes(const swk_conv_geometry *g, int64_t out_channels);
int64_t swk_expand_depthwise_scratch_floats(const swk_conv_geometry *g);
void swk_expand_depthwise(const swk_conv_geometry *g, const float *x, int64_t channels, const float *packed,
                          const float *bias, float lo, float hi, const float *w, const float *w_bias, float w_lo, float w_hi,
                          int64_t panel_begin, int64_t panel_end, float *scratch, float *y);

/// A convolution of one image and group with a short reduction (conv_shallow.c: an image model's
/// stem, few input channels), y [out_channels, out_h · out_w] = clamp(Σ_t w[m · depth + t] · (tap t's input) + bias[m] +
/// residual[m, p]) with depth = channels · kH · kW, zero where a tap falls in the padding; bias,
/// residual and clamp as swk_conv_direct's. Strides and dilations ≥ 1, pads ≥ 0, channels ≥ 1.
/// In three steps:
/// - swk_conv_shallow_pack: W [out_channels, depth] into swk_conv_shallow_packed_floats(out_channels,
///   depth) floats, once.
/// - swk_conv_shallow_phases: x [channels, height, width] into its stride phases,
///   swk_conv_shallow_phases_floats(g, channels) floats, channels c_begin ..< c_end per call
///   (disjoint ranges may run on different threads at once; the call with c_end = channels also
///   zeroes the floats after the last).
/// - swk_conv_shallow: output channels m_begin ..< m_end (m_begin a multiple of
///   SWK_SHALLOW_BLOCK_CHANNELS, m_end ≤ out_channels) from the phases, with the depth offsets swk_conv_shallow_steps(g, channels,
///   steps) writes. Disjoint channel ranges may run on different threads at once; the phases and the
///   packed W are only read (the residual only where the call writes y).
#define SWK_SHALLOW_BLOCK_CHANNELS 4
int64_t swk_conv_shallow_packed_floats(int64_t out_channels, int64_t depth);
void swk_conv_shallow_pack(const float *w, int64_t out_channels, int64_t depth, float *packed);
int64_t swk_conv_shallow_phases_floats(const swk_conv_geometry *g, int64_t channels);
void swk_conv_shallow_phases(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                             float *phases);
void swk_conv_shallow_steps(const swk_conv_geometry *g, int64_t channels, int64_t *steps);
void swk_conv_shallow(const swk_conv_geometry *g, const float *phases, int64_t channels, const int64_t *steps,
                      const float *packed, int64_t m_begin, int64_t m_end, const float *bias, const float *residual, float lo,
                      float hi, float *y);

/// A 3×3, stride-1, undilated convolution of one image and group by Winograd's F(2×2, 3×3)
/// (winograd_conv.c): y as swk_conv_direct's (bias, residual laid out like y, clamp with NaN
/// passing), with kernel_h = kernel_w = 3, strides and dilations 1, pads ≥ 0, channels ≥ 1. The
/// output is cut into 2×2 tiles, the tiles into swk_winograd_panels(g) panels of 16. In three steps:
/// - swk_winograd_pack: W [out_channels, channels, 3, 3] into
///   swk_winograd_packed_floats(out_channels, channels) floats, once.
/// - swk_winograd_input: x [channels, height, width] into swk_winograd_transformed_floats(g,
///   channels) floats, channels c_begin ..< c_end per call (disjoint ranges may run on different
///   threads at once).
/// - swk_winograd_conv: output channels m_begin ..< m_end of one panel's tiles (m_begin a multiple
///   of SWK_WINOGRAD_CHANNEL_BLOCK, m_end = min(m_begin + SWK_WINOGRAD_CHANNEL_BLOCK, out_channels):
///   the packed W is laid out block by block), with
///   swk_winograd_scratch_floats(m_end − m_begin) floats of scratch (disjoint (panel, channel
///   range) pairs may run on different threads at once, each with its own scratch). The
///   transformed input and the packed W are only read (the residual only where the call writes y).
#define SWK_WINOGRAD_CHANNEL_BLOCK 64  // output channels per call of swk_winograd_conv (the last block: the rest)
int64_t swk_winograd_panels(const swk_conv_geometry *g);
int64_t swk_winograd_packed_floats(int64_t out_channels, int64_t channels);
void swk_winograd_pack(const float *w, int64_t out_channels, int64_t channels, float *packed);
int64_t swk_winograd_transformed_floats(const swk_conv_geometry *g, int64_t channels);
void swk_winograd_input(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                        float *transformed);
int64_t swk_winograd_scratch_floats(int64_t out_channels);
void swk_winograd_conv(const swk_conv_geometry *g, const float *transformed, int64_t channels, const float *packed,
                       int64_t out_channels, int64_t panel, int64_t m_begin, int64_t m_end, const float *bias,
                       const float *residual, float lo, float hi, float *scratch, float *y);

/// Floats of scratch one call of swk_depthwise_conv needs (out_h, out_w, kernel, strides and
/// dilations ≥ 1; pads ≥ 0), a multiple of 16; 0 where the path needs none (then `scratch` may be
/// NULL). The scratch must be 8-byte aligned.
int64_t swk_depthwise_scratch_floats(const swk_conv_geometry *g);

/// Depthwise convolution of planes p_begin ≤ p < p_end (plane p = image p / channels, channel
/// c = p mod channels): y[p, oh, ow] = clamp(bias[c] + Σ_{i,j} w[c, i, j] ·
/// x[p, oh·sh − pad_top + i·dh, ow·sw − pad_left + j·dw]), reading zero outside the image;
/// clamp(v) = v < lo ? lo : (v > hi ? hi : v), so NaN passes through. bias may be NULL. `scratch`
/// holds swk_depthwise_scratch_floats(g) floats. Disjoint plane ranges may run on different
/// threads at once, each with its own scratch.
void swk_depthwise_conv(const swk_conv_geometry *g, int64_t channels, int64_t p_begin, int64_t p_end, const float *x,
                        const float *w, const float *bias, float lo, float hi, float *scratch, float *y);

/// A pattern-sparse convolution weight [M, C/group, kH, kW] (PatternConvOp's layout): output
/// channel m keeps kernels kernel_pointers[m] ..< kernel_pointers[m + 1]; kernel s reads input
/// channel channels[s] of m's group and keeps the `entries` taps patterns[pattern_ids[s]] (of
/// pattern_count ≤ 256; positions i·kW + j, each < kH·kW) with weights values[s]. Indices must
/// already be checked.
typedef struct {
    const float *values;
    const int32_t *patterns;
    const uint8_t *pattern_ids;
    const int32_t *channels;
    const int32_t *kernel_pointers;
    int pattern_count, entries;
    int64_t out_per_group, in_per_group;
} swk_pattern_weights;

/// Floats one input channel's stride phases take (a multiple of 16).
int64_t swk_pattern_phase_floats(const swk_conv_geometry *g);

/// Floats the phases of `channels` input channels take, with the slack the kernel reads past them.
int64_t swk_pattern_phases_floats(const swk_conv_geometry *g, int64_t channels);

/// Writes the stride phases of input channels c_begin ..< c_end of one image x [channels, height,
/// width] (and, with the last channel, zeroes the slack). Disjoint channel ranges may run on
/// different threads at once.
void swk_pattern_split(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                       float *phases);

/// Floats of scratch one call of swk_pattern_conv needs for `out_channels` output channels and
/// pattern_count · entries pattern entries.
int64_t swk_pattern_conv_scratch_floats(const swk_conv_geometry *g, int64_t pattern_entries, int64_t out_channels);

/// Output channels m_begin ..< m_end of one image: y[m, oh, ow] = clamp(bias[m] + Σ over m's kept
/// kernels and their taps (i, j) of the weight · x[channel, oh·sh − pad_top + i·dh, ow·sw −
/// pad_left + j·dw]), reading zero outside the image, from the phases swk_pattern_split wrote;
/// clamp as swk_depthwise_conv's (NaN passes). bias may be NULL. `scratch` holds
/// swk_pattern_conv_scratch_floats(g, pattern_count · entries, m_end − m_begin) floats, 8-byte
/// aligned. Disjoint output channel ranges may run on different threads at once, each with its
/// own scratch.
void swk_pattern_conv(const swk_conv_geometry *g, const swk_pattern_weights *w, int64_t m_begin, int64_t m_end,
                      const float *phases, const float *bias, float lo, float hi, float *scratch, float *y);

/// One 2-D pooling's sizes (NCHW planes).
typedef struct {
    int64_t height, width, out_h, out_w;
    int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
} swk_pool_geometry;

/// Floats of scratch one call of swk_max_pool needs (out_w, kernel and strides ≥ 1), a multiple of 16.
int64_t swk_max_pool_scratch_floats(const swk_pool_geometry *g);

/// Max pooling of planes p_begin ≤ p < p_end: y[p, oh, ow] = the maximum of x[p, ih, iw] over the
/// window's in-image positions (ih from oh·sh − pad_top, iw from ow·sw − pad_left, kernel_h × kernel_w
/// of them), NaN if any is NaN, −∞ if the window holds none. Disjoint plane ranges may run on
/// different threads at once, each with its own scratch.
void swk_max_pool(const swk_pool_geometry *g, int64_t p_begin, int64_t p_end, const float *x, float *scratch, float *y);

#ifdef __cplusplus
}
#endif
#endif
