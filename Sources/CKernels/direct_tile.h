// conv_direct.c's register tile: up to 6 output positions × 16 output channels, the channels in
// vector lanes, 12 sums of 8 kept in registers over the whole reduction, each step broadcasting
// one input pixel per position against one 64-byte line of the packed W. Shared with
// expand_depthwise.c, which stores the tile's rows straight into the depthwise lanes where
// conv_direct.c stores them into a tile it then scatters. Internal to CKernels.
#ifndef SWIFTLET_DIRECT_TILE_H
#define SWIFTLET_DIRECT_TILE_H
#include "ckernels.h"
#include "gemm_tile.h"  // GEMM_AVX2

/// Output positions per tile: 6 × 2 sums of 8, two weight vectors and a broadcast fill 15 of the
/// 16 vector registers. Channels: a panel of swk_conv_direct_pack's layout.
enum { DIRECT_TILE_POSITIONS = 6, DIRECT_TILE_CHANNELS = SWK_CONV_DIRECT_PANEL_CHANNELS };

/// The tile's sums for its first R positions (R a constant at each call site, so the unused sums
/// and steps fold away): rows[r][h] = clamp(bias[8h …] + Σ over channels k and taps i of
/// input[k·plane + taps[i] + at[r]] · panel[(k·kk + i)·16 + 8h …]), 8 channels a vector (bias
/// NULL adds 0). taps[0] is 0 (each window's start is in `at`), so with kk a constant 1 the steps
/// only walk the channels. conv_direct.c deals a plane's positions out evenly, so a tile holds 5 or 6 of
/// them on planes of 20 or more (fewer on some smaller ones: 13 go 5, 4, 4), instead of every
/// tile computing 6.
GEMM_AVX2 static inline __attribute__((always_inline)) void direct_tile_positions(
    const int R, const int ROWS_OF_3, const float *input, int64_t plane, int64_t channels, const int64_t *taps, int64_t kk,
    const int64_t at[DIRECT_TILE_POSITIONS], const float *panel, const float *bias, float lo, float hi,
    float *const rows[DIRECT_TILE_POSITIONS][2]) {
    // Twelve named sums and one flat loop over the reduction: with an array of sums and a loop
    // per channel and tap, clang kept half the sums in memory.
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00,
           s40 = s00, s41 = s00, s50 = s00, s51 = s00;
    const float *p0 = input + at[0], *p1 = input + at[1], *p2 = input + at[2], *p3 = input + at[3], *p4 = input + at[4],
                *p5 = input + at[5];
    // One step: one 64-byte line of the panel against the input pixel `offset` past each
    // position's window start. The empty asm, which takes its two sums and clobbers memory, keeps
    // the next broadcast (a load) below these multiply-adds: clang otherwise hoisted all six
    // broadcasts, and 12 sums + 2 weights + 6 broadcasts overflow the 16 registers (4 spills
    // a step, 1.5-1.9× the sgemm path's time).
#define POSITION_STEP(N, P, S0, S1, OFFSET)                                                                             \
    if (R > N) {                                                                                                        \
        const __m256 x = _mm256_broadcast_ss(P + (OFFSET));                                                             \
        S0 = _mm256_fmadd_ps(x, w0, S0), S1 = _mm256_fmadd_ps(x, w1, S1);                                               \
        __asm__ volatile("" : "+x"(S0), "+x"(S1)::"memory");                                                            \
    }
#define STEP(OFFSET, LINE)                                                                                              \
    {                                                                                                                   \
        const __m256 w0 = _mm256_load_ps(LINE), w1 = _mm256_load_ps((LINE) + 8);                                       \
        POSITION_STEP(0, p0, s00, s01, OFFSET) POSITION_STEP(1, p1, s10, s11, OFFSET)                                   \
        POSITION_STEP(2, p2, s20, s21, OFFSET) POSITION_STEP(3, p3, s30, s31, OFFSET)                                   \
        POSITION_STEP(4, p4, s40, s41, OFFSET) POSITION_STEP(5, p5, s50, s51, OFFSET)                                   \
    }
    if (ROWS_OF_3) {
        // Each kernel row's 3 taps side by side (kk = 3·rows, taps[3r + j] = taps[3r] + j): one
        // tap read per row and the columns as constant displacements, not a tap read and a
        // wrapping counter per step. ResNet-18's 3×3 stride-2 layers and a 3×3 one onto 7×7 took
        // 0.85-0.87 of their time (twenty-first measurement, bench/kernels/direct_builds.c).
        const int64_t rows_per_channel = kk / 3;
        for (int64_t channel = 0; channel < channels * plane; channel += plane)
            for (int64_t r = 0; r < rows_per_channel; r++, panel += 3 * DIRECT_TILE_CHANNELS) {
                const int64_t row = channel + taps[3 * r];
                STEP(row, panel) STEP(row + 1, panel + DIRECT_TILE_CHANNELS) STEP(row + 2, panel + 2 * DIRECT_TILE_CHANNELS)
            }
    } else {
        const int64_t depth = channels * kk;
        int64_t i = 0, channel = 0;
        for (int64_t t = 0; t < depth; t++, panel += DIRECT_TILE_CHANNELS) {
            // With kk = 1 (a 1×1 layer's tile) this folds to `channel`: read per step, taps[i] was
            // reloaded after every position's clobber, and the step's tap bookkeeping cost
            // MobileNetV2's 1×1 layers onto 7×7 planes 3-10% of their time and those onto 14×14
            // up to 9% (twentieth measurement, bench/kernels/direct_builds.c).
            const int64_t offset = kk == 1 ? channel : channel + taps[i];
            if (++i == kk) i = 0, channel += plane;
            STEP(offset, panel)
        }
    }
#undef STEP
#undef POSITION_STEP
    const __m256 sums[DIRECT_TILE_POSITIONS][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}, {s40, s41}, {s50, s51}};
    const __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps(), b1 = bias ? _mm256_loadu_ps(bias + 8) : b0;
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    for (int r = 0; r < R; r++) {
        // max(lo, v) and min(hi, ·) return their second operand when it is NaN: NaN passes.
        _mm256_storeu_ps(rows[r][0], _mm256_min_ps(high, _mm256_max_ps(low, _mm256_add_ps(sums[r][0], b0))));
        _mm256_storeu_ps(rows[r][1], _mm256_min_ps(high, _mm256_max_ps(low, _mm256_add_ps(sums[r][1], b1))));
    }
}

/// Whether the kernel's taps come in rows of 3 side by side (a 3-wide, undilated kernel).
static inline int taps_in_rows_of_3(const int64_t *taps, int64_t kk) {
    if (kk % 3 != 0) return 0;
    for (int64_t r = 0; r < kk; r += 3)
        if (taps[r + 1] != taps[r] + 1 || taps[r + 2] != taps[r] + 2) return 0;
    return 1;
}

/// direct_tile_positions for the tile's first `positions` (1-6) positions, with kk passed on as a
/// constant where it is 1, and the steps in rows of 3 where `rows_of_3` (taps_in_rows_of_3 of the
/// same taps, worked out once per layer by the caller) says the taps allow.
GEMM_AVX2 static inline void direct_tile_avx2(int positions, const float *input, int64_t plane, int64_t channels,
                                             const int64_t *taps, int64_t kk, int rows_of_3,
                                             const int64_t at[DIRECT_TILE_POSITIONS], const float *panel,
                                             const float *bias, float lo, float hi,
                                             float *const rows[DIRECT_TILE_POSITIONS][2]) {
#define POSITIONS(R, THREES, KK)                                                                                        \
    case R: direct_tile_positions(R, THREES, input, plane, channels, taps, KK, at, panel, bias, lo, hi, rows); break;
#define ALL_POSITIONS(THREES, KK)                                                                                       \
    switch (positions) {                                                                                                \
        POSITIONS(1, THREES, KK) POSITIONS(2, THREES, KK) POSITIONS(3, THREES, KK) POSITIONS(4, THREES, KK)             \
        POSITIONS(5, THREES, KK)                                                                                        \
    default: direct_tile_positions(6, THREES, input, plane, channels, taps, KK, at, panel, bias, lo, hi, rows); break;  \
    }
    if (kk == 1) ALL_POSITIONS(0, 1)
    else if (rows_of_3) ALL_POSITIONS(1, kk)
    else ALL_POSITIONS(0, kk)
#undef ALL_POSITIONS
#undef POSITIONS
}

#endif
