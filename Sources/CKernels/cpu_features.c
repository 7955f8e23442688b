#include "ckernels.h"

int swk_has_avx2(void) {
    // GCC/Clang read CPUID once at load (libgcc's constructor); this is a cached bit test.
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
