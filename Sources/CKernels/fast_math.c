// exp, erf and the loops built on them (GELU in Linear's epilogue, attention's softmax rows), as
// branch-free scalar code that the compiler vectorizes twice: once for AVX2 + FMA, once for the
// portable baseline, chosen at run time. Softmax's AVX2 path alone is written in intrinsics (it
// fuses the exp and sum passes, see softmax_avx2), with fast_exp8 giving fast_exp's results bit
// for bit. They were Swift (FastMath) until the disassembly showed
// that Swift compiles for baseline x86-64: SSE, 4 lanes, no FMA. GELU took ~1 ms of each FFN
// Linear's 2.75 ms in MiniLM-L6 at b1 s128 (`swiftlet bench --profile`; OpenBLAS's sgemm alone is
// 1.73 ms at that shape). Before FastMath, libm's opaque expf and erff had cost ~15 ms of 55.
//
// exp: Cephes' expf polynomial (range reduction by ln 2 split in two, rounding to nearest by the
// 1.5·2²³ trick; degree-5 polynomial): ≤ 4 ulp of libm on [−87, 88]; inputs are clamped to
// [−87.34, 88], so below they give e^−87.34 ≈ 1.2e−38 instead of 0 (a softmax weight that small
// is zero for every purpose) and above e^88 ≈ 1.7e38. NaN stays NaN.
// erf: 1 − erfc with Numerical Recipes' erfc (Chebyshev fit, relative error < 1.2e−7); with fp32
// rounding, within 3e−7 of libm's erff. Both tested against libm (FastMathTests).
#include "ckernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

INLINE float from_bits(uint32_t bits) {
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

INLINE uint32_t bits_of(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

/// fast_exp's polynomial for e^r on [−ln2/2, ln2/2], highest power first (shared by both forms below).
static const float exp_polynomial[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                        4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
static const float exp_magic = 12582912.0f;  // 1.5·2²³: adding and subtracting it rounds to an integer
static const float exp_low = -87.33654f, exp_high = 88.0f;

INLINE float fast_exp(float input) {
    // Comparisons, not fminf/fmaxf: NaN fails both and passes through.
    float x = input < exp_low ? exp_low : input;
    x = x > exp_high ? exp_high : x;
    const float n = (x * 1.44269504088896341f + exp_magic) - exp_magic;
    float r = x - n * 0.693359375f;
    r -= n * -2.12194440e-4f;
    float y = exp_polynomial[0];
    for (int i = 1; i < 6; i++) y = y * r + exp_polynomial[i];
    y = y * (r * r) + r + 1.0f;
    // 2ⁿ from its bits (n ∈ [−126, 127], a normal float): n + 127 + 1.5·2²³ holds n + 127 in its
    // low mantissa bits. No float → int conversion, which would not vectorize as cleanly.
    const uint32_t biased = bits_of(n + (exp_magic + 127.0f)) - bits_of(exp_magic);
    return y * from_bits(biased << 23);
}

/// fast_exp on eight lanes, the same operations in the same order (so a row's vector part and its
/// tail weigh equal scores equally), written out for the softmax loop below. max/min take the constant
/// first: with a NaN operand they return the second one, so NaN passes through as in fast_exp.
AVX2 INLINE __m256 fast_exp8(__m256 input) {
    const __m256 x = _mm256_min_ps(_mm256_set1_ps(exp_high), _mm256_max_ps(_mm256_set1_ps(exp_low), input));
    const __m256 magic = _mm256_set1_ps(exp_magic);
    const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic), magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(exp_polynomial[0]);
    for (int i = 1; i < 6; i++) y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(exp_polynomial[i]));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));  // (y·r² + r) + 1, as fast_exp rounds it
    const __m256i biased = _mm256_sub_epi32(_mm256_castps_si256(_mm256_add_ps(n, _mm256_set1_ps(exp_magic + 127.0f))),
                                            _mm256_castps_si256(magic));
    return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23)));
}

/// erfc's polynomial in t is taken by Estrin's scheme, pairs of terms joined by t², t⁴ and t⁸: its
/// chain of dependent operations is 5 deep instead of Horner's 10, and GELU, latency-bound even
/// four vectors at a time, took 0.78 of the time (0.613 → 0.477 ms on 196,608 floats,
/// bench/kernels/fast_math_timing.c), erf's largest difference from libm the same 1.2e-7.
INLINE float fast_erf(float x) {
    const float z = fabsf(x);
    const float t = 1.0f / (1.0f + 0.5f * z);
    const float t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
    const float p98 = 0.17087277f * t - 0.82215223f, p76 = 1.48851587f * t - 1.13520398f;
    const float p54 = 0.27886807f * t - 0.18628806f, p32 = 0.09678418f * t + 0.37409196f;
    const float p10 = 1.00002368f * t - 1.26551223f;
    const float p = p98 * t8 + ((p76 * t2 + p54) * t4 + (p32 * t2 + p10));
    const float magnitude = 1.0f - t * fast_exp(p - z * z);
    return x < 0 ? -magnitude : magnitude;
}

/// Put before each elementwise loop below: four vectors in flight per iteration. One element is
/// a long chain of dependent operations (erf: a division, then, when this was measured, ten
/// multiply-adds, now five deep by Estrin's scheme, then exp's), and clang vectorized the loops
/// one vector at a time, leaving them latency-bound; four at a time took 0.66–0.87 of the time
/// (bench/kernels/fast_math_timing.c; docs/BENCHMARKS.md, fourteenth measurement). The Swift toolchain builds CKernels with clang, the compiler that reads the
/// pragma; the harness defines it empty to time the loops without it.
#ifndef ELEMENTWISE_LOOP
#define ELEMENTWISE_LOOP _Pragma("clang loop interleave_count(4)")
#endif

INLINE void exp_loop(float *values, int64_t count) {
    ELEMENTWISE_LOOP
    for (int64_t i = 0; i < count; i++) values[i] = fast_exp(values[i]);
}

/// erf for the Erf op: near 0, where 1 − t·e^p loses erf's relative accuracy (erf(x) ≈ 1.13x, and
/// the polynomial's absolute error is ~1e-7), the Maclaurin series to x¹¹ (relative error < 3e-8
/// for |x| < 0.5; it also keeps erf(−0) = −0). GELU adds erf to 1, so it needs only the fast form.
INLINE float accurate_erf(float x) {
    const float x2 = x * x;
    float series = -1.0f / 1320;
    series = series * x2 + 1.0f / 216;
    series = series * x2 - 1.0f / 42;
    series = series * x2 + 1.0f / 10;
    series = series * x2 - 1.0f / 3;
    series = series * x2 + 1.0f;
    series *= 1.1283791670955126f * x;  // 2/√π
    return fabsf(x) < 0.5f ? series : fast_erf(x);
}

INLINE void erf_loop(float *values, int64_t count) {
    ELEMENTWISE_LOOP
    for (int64_t i = 0; i < count; i++) values[i] = accurate_erf(values[i]);
}

INLINE void gelu_loop(float *values, int64_t count) {
    ELEMENTWISE_LOOP
    for (int64_t i = 0; i < count; i++) {
        const float x = values[i];
        values[i] = 0.5f * x * (1.0f + fast_erf(x * 0.7071067811865476f));
    }
}

/// 1 + tanh(u) = 2 − 2/(e^{2u} + 1).
INLINE void gelu_tanh_loop(float *values, int64_t count) {
    ELEMENTWISE_LOOP
    for (int64_t i = 0; i < count; i++) {
        const float x = values[i];
        const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        values[i] = 0.5f * x * (2.0f - 2.0f / (fast_exp(2.0f * u) + 1.0f));
    }
}

INLINE void softmax_loop(float *row, int64_t count) {
    // The maximum and a NaN flag as two plain reductions (both vectorize); NaN anywhere makes the
    // whole row NaN, as numpy's would be.
    float maximum = -INFINITY;
    int saw_nan = 0;
    for (int64_t j = 0; j < count; j++) {
        maximum = row[j] > maximum ? row[j] : maximum;
        saw_nan |= row[j] != row[j];
    }
    if (saw_nan) maximum = NAN;
    if (maximum == -INFINITY) {  // every key masked: no weights at all
        for (int64_t j = 0; j < count; j++) row[j] = 0;
        return;
    }
    // exp clamps its input near −87, so a −∞ score (masked, or dropped by approximate attention)
    // would keep ~1e-38 of weight: it gets exactly 0.
    for (int64_t j = 0; j < count; j++) row[j] = row[j] == -INFINITY ? 0 : fast_exp(row[j] - maximum);
    // Eight running sums (one vector): a single sum is order-dependent and stays scalar.
    float partial[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= count; j += 8) {
        for (int lane = 0; lane < 8; lane++) partial[lane] += row[j + lane];
    }
    float sum = 0;
    for (; j < count; j++) sum += row[j];
    for (int lane = 0; lane < 8; lane++) sum += partial[lane];
    const float inverse = 1.0f / sum;
    for (j = 0; j < count; j++) row[j] *= inverse;
}

/// The softmax numerators of the 8 scores at `at`: e^(v − shift), and 0 where v is −∞ (a masked
/// key) whatever the shift.
AVX2 INLINE __m256 softmax_numerators8(const float *at, __m256 shift) {
    const __m256 v = _mm256_loadu_ps(at);
    return _mm256_andnot_ps(_mm256_cmp_ps(v, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ), fast_exp8(_mm256_sub_ps(v, shift)));
}

/// softmax_loop with the exponentials summed as they are written, eight lanes at a time: the
/// compiler's vectors of softmax_loop took 0.215 ms over MiniLM-L6's 196 608 scores per layer,
/// this 0.136 (a C harness, best of 50).
AVX2 static void softmax_avx2(float *row, int64_t count) {
    __m256 maxima = _mm256_set1_ps(-INFINITY), nans = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= count; j += 8) {
        const __m256 v = _mm256_loadu_ps(row + j);
        maxima = _mm256_max_ps(maxima, v);
        nans = _mm256_or_ps(nans, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, maxima);
    float maximum = -INFINITY;
    int saw_nan = _mm256_movemask_ps(nans) != 0;
    for (int lane = 0; lane < 8; lane++) maximum = lanes[lane] > maximum ? lanes[lane] : maximum;
    for (int64_t i = j; i < count; i++) {
        maximum = row[i] > maximum ? row[i] : maximum;
        saw_nan |= row[i] != row[i];
    }
    if (saw_nan) maximum = NAN;
    if (maximum == -INFINITY) {
        memset(row, 0, (size_t)count * sizeof(float));
        return;
    }
    const __m256 shift = _mm256_set1_ps(maximum);
    __m256 sums = _mm256_setzero_ps();
    // Four vectors of exps in flight, summed in row order as one at a time would: each exp is a
    // chain of ~12 dependent operations, and one vector per step left the loop latency-bound
    // (bench/kernels/fast_math_timing.c: a layer's rows at s128, 0.39 → 0.25–0.29 ms).
    for (j = 0; j + 32 <= count; j += 32) {
        const __m256 e0 = softmax_numerators8(row + j, shift), e1 = softmax_numerators8(row + j + 8, shift),
                     e2 = softmax_numerators8(row + j + 16, shift), e3 = softmax_numerators8(row + j + 24, shift);
        _mm256_storeu_ps(row + j, e0), _mm256_storeu_ps(row + j + 8, e1);
        _mm256_storeu_ps(row + j + 16, e2), _mm256_storeu_ps(row + j + 24, e3);
        sums = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(sums, e0), e1), e2), e3);
    }
    for (; j + 8 <= count; j += 8) {
        const __m256 e = softmax_numerators8(row + j, shift);
        _mm256_storeu_ps(row + j, e);
        sums = _mm256_add_ps(sums, e);
    }
    _mm256_storeu_ps(lanes, sums);
    float sum = 0;
    for (int64_t i = j; i < count; i++) {
        row[i] = row[i] == -INFINITY ? 0 : fast_exp(row[i] - maximum);
        sum += row[i];
    }
    for (int lane = 0; lane < 8; lane++) sum += lanes[lane];
    const float inverse = 1.0f / sum;
    const __m256 scale = _mm256_set1_ps(inverse);
    for (j = 0; j + 8 <= count; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), scale));
    for (; j < count; j++) row[j] *= inverse;
}

void swk_softmax(float *row, int64_t count) { (swk_has_avx2() ? softmax_avx2 : softmax_loop)(row, count); }

/// swk_NAME: NAME_loop compiled for AVX2 + FMA and for the baseline, chosen at run time.
#define BOTH_PATHS(name)                                                                           \
    AVX2 static void name##_avx2(float *values, int64_t count) { name##_loop(values, count); }    \
    void swk_##name(float *values, int64_t count) {                                                \
        if (swk_has_avx2()) {                                                                      \
            name##_avx2(values, count);                                                            \
        } else {                                                                                   \
            name##_loop(values, count);                                                            \
        }                                                                                          \
    }

BOTH_PATHS(exp)
BOTH_PATHS(erf)
BOTH_PATHS(gelu)
BOTH_PATHS(gelu_tanh)
