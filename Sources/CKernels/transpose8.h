// An 8×8 transpose of floats in eight AVX registers, shared by the kernels that turn rows into
// columns on the way in or out (bsr.c's panels and tiles, attention.c's keys), one of 8 rows in
// memory (depthwise_conv.c's interleaving) and one into memory (depthwise_conv.c's outputs).
#ifndef SWIFTLET_TRANSPOSE8_H
#define SWIFTLET_TRANSPOSE8_H

#include <immintrin.h>
#include <stdint.h>

/// The first two steps of an 8×8 transpose of v, within 128-bit halves: the transpose's row i (< 4)
/// is s[i]'s low half then s[i + 4]'s, row i + 4 their high halves.
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void swk_transpose8_halves(const __m256 v[8],
                                                                                                         __m256 s[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    s[0] = _mm256_shuffle_ps(t0, t2, 0x44), s[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    s[2] = _mm256_shuffle_ps(t1, t3, 0x44), s[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    s[4] = _mm256_shuffle_ps(t4, t6, 0x44), s[5] = _mm256_shuffle_ps(t4, t6, 0xEE);
    s[6] = _mm256_shuffle_ps(t5, t7, 0x44), s[7] = _mm256_shuffle_ps(t5, t7, 0xEE);
}

/// v[i][j] becomes v[j][i].
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void swk_transpose8(__m256 v[8]) {
    __m256 s[8];
    swk_transpose8_halves(v, s);
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
        v[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
    }
}

/// v[j][i] = base[i·stride + j] for i, j < 8: the transpose of 8 rows in memory, each row's halves
/// loaded into a vector's halves so that no element crosses the middle of a vector. swk_transpose8
/// joins halves with vperm2f128 (clang turns any joining of halves in registers into it), which
/// Zen 1 runs as 8 µops at one per 3 cycles; a 128-bit load into a half is 2 µops.
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
swk_transpose8_load(const float *base, int64_t stride, __m256 v[8]) {
#define HALVES(row, column)                                                                                             \
    _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(base + (row) * stride + (column))),                         \
                         _mm_loadu_ps(base + ((row) + 4) * stride + (column)), 1)
    for (int half = 0; half < 2; half++) {  // columns 0-3, then 4-7
        // r[i]: those 4 columns of rows i (low half) and i + 4 (high half)
        const __m256 r0 = HALVES(0, 4 * half), r1 = HALVES(1, 4 * half), r2 = HALVES(2, 4 * half), r3 = HALVES(3, 4 * half);
        const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
        const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
        v[4 * half] = _mm256_shuffle_ps(t0, t2, 0x44), v[4 * half + 1] = _mm256_shuffle_ps(t0, t2, 0xEE);
        v[4 * half + 2] = _mm256_shuffle_ps(t1, t3, 0x44), v[4 * half + 3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    }
#undef HALVES
}

/// dst[i] = part[i] for i < n (n ≤ 4, a constant at each call).
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void swk_store_first4(float *dst, __m128 part,
                                                                                                    const int n) {
    if (n == 4) {
        _mm_storeu_ps(dst, part);
        return;
    }
    if (n >= 2) _mm_storel_pi((__m64 *)dst, part), part = _mm_movehl_ps(part, part), dst += 2;
    if (n & 1) _mm_store_ss(dst, part);
}

/// base[i·stride + j] = v[j][i] for i < rows (≤ 8) and j < n (1 ≤ n ≤ 8, a constant at each
/// call): swk_transpose8 of v, each row's first n floats stored. A row's halves are stored from
/// the 128-bit halves they are formed in rather than joined by vperm2f128 first (Zen 1 runs it as
/// 8 µops, one per 3 cycles, and swk_transpose8 takes 8): on MobileNetV2's depthwise layers
/// depthwise_conv.c's lanes path took 0.73–0.93 of its time, the same outputs bit for bit (both
/// builds in one process, alternated, medians of 61: bench/kernels/depthwise_builds.c;
/// docs/BENCHMARKS.md, nineteenth measurement).
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
swk_transpose8_store(const __m256 v[8], float *base, int64_t stride, int64_t rows, const int n) {
    __m256 s[8];
    swk_transpose8_halves(v, s);
#pragma clang loop unroll(full)
    for (int row = 0; row < 8; row++) {
        if (row >= rows) break;
        const __m256 left = s[row % 4], right = s[row % 4 + 4];
        const __m128 first = row < 4 ? _mm256_castps256_ps128(left) : _mm256_extractf128_ps(left, 1);
        const __m128 last = row < 4 ? _mm256_castps256_ps128(right) : _mm256_extractf128_ps(right, 1);
        float *dst = base + row * stride;
        if (n > 4) {
            _mm_storeu_ps(dst, first);
            swk_store_first4(dst + 4, last, n - 4);
        } else {
            swk_store_first4(dst, first, n);
        }
    }
}

#endif

