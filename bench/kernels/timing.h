// The clock and the sort the kernel timing harnesses share (medians of repeated runs).
#ifndef SWIFTLET_BENCH_TIMING_H
#define SWIFTLET_BENCH_TIMING_H
#include <time.h>

/// Seconds on the monotonic clock.
static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// qsort's comparison for doubles, smallest first.
static inline int ascending(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
