// exp, erf and the loops built on them (GELU in Linear's epilogue, attention's softmax rows), as
// branch-free scalar code that the compiler vectorizes twice: once for AVX2 + FMA, once for the
// portable baseline, chosen at run time. They were Swift (FastMath) until the disassembly showed
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

INLINE float fast_exp(float input) {
    // Comparisons, not fminf/fmaxf: NaN fails both and passes through.
    float x = input < -87.33654f ? -87.33654f : input;
    x = x > 88.0f ? 88.0f : x;
    const float magic = 12582912.0f;  // 1.5·2²³: adding and subtracting it rounds to an integer
    const float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r -= n * -2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    // 2ⁿ from its bits (n ∈ [−126, 127], a normal float): n + 127 + 1.5·2²³ holds n + 127 in its
    // low mantissa bits. No float → int conversion, which would not vectorize as cleanly.
    const uint32_t biased = bits_of(n + (magic + 127.0f)) - bits_of(magic);
    return y * from_bits(biased << 23);
}

INLINE float fast_erf(float x) {
    const float z = fabsf(x);
    const float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float magnitude = 1.0f - t * fast_exp(p - z * z);
    return x < 0 ? -magnitude : magnitude;
}

INLINE void exp_loop(float *values, int64_t count) {
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
    for (int64_t i = 0; i < count; i++) values[i] = accurate_erf(values[i]);
}

INLINE void gelu_loop(float *values, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        const float x = values[i];
        values[i] = 0.5f * x * (1.0f + fast_erf(x * 0.7071067811865476f));
    }
}

/// 1 + tanh(u) = 2 − 2/(e^{2u} + 1).
INLINE void gelu_tanh_loop(float *values, int64_t count) {
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
BOTH_PATHS(softmax)
