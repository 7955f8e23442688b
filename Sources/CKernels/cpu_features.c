#include "ckernels.h"
#include <stdatomic.h>
#include <stdlib.h>

int swk_has_avx2(void) {
    // Decided once per process: CPUID (read by libgcc's constructor), unless the environment sets
    // SWIFTLET_PORTABLE_KERNELS=1, which makes every kernel take its portable path (`make test`
    // runs the kernel tests a second time that way, so those paths are tested on AVX2 machines).
    static atomic_int decided = -1;
    int value = atomic_load_explicit(&decided, memory_order_relaxed);
    if (value < 0) {
        const char *portable = getenv("SWIFTLET_PORTABLE_KERNELS");
        __builtin_cpu_init();
        value = !(portable && portable[0] == '1' && portable[1] == 0) && __builtin_cpu_supports("avx2") &&
                __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
        atomic_store_explicit(&decided, value, memory_order_relaxed);
    }
    return value;
}
