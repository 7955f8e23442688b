// What one split costs: two equal halves of ~19 µs of work run on two threads, by libdispatch's
// dispatch_apply (what ColumnSplit used) and by thread_pool.c's swk_pool_run, after the calling
// thread has worked alone for a while (as between two split kernels of a run). Prints the mean
// time per call; ideal is one half's time (docs/BENCHMARKS.md, eighth measurement).
//
//     clang -O2 -fblocks -I/opt/swift/usr/lib/swift -ISources/CKernels/include -o /tmp/split_overhead \
//       bench/kernels/split_overhead.c -L/opt/swift/usr/lib/swift/linux -ldispatch -lBlocksRuntime -lpthread \
//       -Wl,-rpath,/opt/swift/usr/lib/swift/linux && /tmp/split_overhead
#include "../../Sources/CKernels/thread_pool.c"
#include <dispatch/dispatch.h>
#include <stdio.h>
#include "timing.h"

enum { REPS = 300, HALF = 20000 };
static volatile double sink;

static void work(long iterations) {
    double s = 0;
    for (long i = 0; i < iterations; i++) s += (double)i * 1e-9;
    sink = s;
}

static void half(void *context, int task) {
    (void)context, (void)task;
    work(HALF);
}

int main(void) {
    dispatch_queue_t queue = dispatch_get_global_queue(0, 0);
    swk_pool_run(2, half, NULL);  // starts the worker
    double alone = now();
    for (int r = 0; r < REPS; r++) work(HALF);
    alone = (now() - alone) / REPS;
    printf("one half alone: %.1f µs\n", alone * 1e6);
    for (long gap = 1000; gap <= 4096000; gap *= 8) {
        double dispatch = 0, pool = 0;
        for (int r = 0; r < REPS; r++) {
            work(gap);
            double t = now();
            dispatch_apply(2, queue, ^(size_t i) { half(NULL, (int)i); });
            dispatch += now() - t;
            work(gap);
            t = now();
            swk_pool_run(2, half, NULL);
            pool += now() - t;
        }
        printf("after %7ld iterations alone: dispatch_apply %.1f µs, swk_pool_run %.1f µs\n", gap, dispatch / REPS * 1e6,
               pool / REPS * 1e6);
    }
    return 0;
}
