// An 8×8 transpose of floats in eight AVX registers, shared by the kernels that turn rows into
// columns on the way in or out (bsr.c's panels and tiles, attention.c's keys, depthwise_conv.c's
// interleaved planes), and one of 8 rows in memory (depthwise_conv.c's interleaving).
#ifndef SWIFTLET_TRANSPOSE8_H
#define SWIFTLET_TRANSPOSE8_H

#include <immintrin.h>
#include <stdint.h>

/// v[i][j] becomes v[j][i].
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void swk_transpose8(__m256 v[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20), v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20), v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    v[4] = _mm256_permute2f128_ps(s0, s4, 0x31), v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[6] = _mm256_permute2f128_ps(s2, s6, 0x31), v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
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

#endif
