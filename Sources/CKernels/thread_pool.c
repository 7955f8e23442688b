// The threads every CPU kernel splits its work over (see ckernels.h). They were Dispatch's
// (`concurrentPerform`), which on this 2-vCPU VM took 32–34 µs to run two 19 µs halves: the
// second thread woke ~13 µs late on every call (a C harness with libdispatch's dispatch_apply),
// and a MobileNetV2 or short-sequence MiniLM run makes 50–60 such calls. Here each worker spins
// for a short while after its task before it sleeps, so the next kernel's call finds it awake:
// the same two halves take 19–20 µs (after a pause longer than the spin, waking a sleeping
// worker costs as much as Dispatch did). The spin is bounded (SPIN_NANOSECONDS), so an idle
// session costs no CPU beyond it. Measured in the models, one build, pool against
// concurrentPerform, 2 threads (`swiftlet bench`, three alternating rounds): MobileNetV2 7.0–7.7
// against 7.7–8.3 ms, ResNet-18 32.6–35.1 against 38.6–42.0, MiniLM b1 s16 4.4–5.2 against 5.7–6.5.
#include "ckernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#else
#define PAUSE() ((void)0)
#endif

enum { MAX_WORKERS = 63 };
// Long enough to bridge the single-threaded nodes between two split kernels of one run, short
// enough that a worker goes to sleep soon after the run ends.
static const int64_t SPIN_NANOSECONDS = 500000;

/// One worker's mailbox: the caller sets `task` and bumps `go`; the worker runs that task of the
/// current call and sets `done` to the `go` it served. Each worker runs only what its own mailbox
/// says, so a worker still finishing a call can never take a task of the next one.
typedef struct {
    _Atomic unsigned go, done;
    int task;
} mailbox;

static struct {
    pthread_mutex_t busy;  // held by the call in progress; a second caller falls back
    pthread_mutex_t lock;  // orders a bump of `go` with a worker's check-then-sleep
    pthread_cond_t wake;
    int workers;           // started so far (never stopped)
    swk_pool_task function;
    void *context;
    mailbox boxes[MAX_WORKERS];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static int64_t nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *worker(void *argument) {
    mailbox *box = argument;
    unsigned served = 0;  // a new worker's mailbox has never been bumped (the call starting it may already have)
    for (;;) {
        unsigned go;
        const int64_t deadline = nanoseconds() + SPIN_NANOSECONDS;
        int spins = 0;
        while ((go = atomic_load_explicit(&box->go, memory_order_acquire)) == served) {
            PAUSE();
            if (++spins % 64 == 0 && nanoseconds() > deadline) {
                pthread_mutex_lock(&pool.lock);
                while ((go = atomic_load_explicit(&box->go, memory_order_acquire)) == served) pthread_cond_wait(&pool.wake, &pool.lock);
                pthread_mutex_unlock(&pool.lock);
                break;
            }
        }
        served = go;
        // The acquire above saw the caller's release: function, context and task are this call's.
        pool.function(pool.context, box->task);
        atomic_store_explicit(&box->done, served, memory_order_release);
    }
    return NULL;
}

int swk_pool_run(int tasks, swk_pool_task function, void *context) {
    if (tasks <= 1) {
        if (tasks == 1) function(context, 0);
        return 1;
    }
    if (tasks - 1 > MAX_WORKERS || pthread_mutex_trylock(&pool.busy) != 0) return 0;
    while (pool.workers < tasks - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        const int started = pthread_create(&thread, &attributes, worker, &pool.boxes[pool.workers]) == 0;
        pthread_attr_destroy(&attributes);
        if (!started) {
            pthread_mutex_unlock(&pool.busy);
            return 0;
        }
        pool.workers++;
    }
    pool.function = function;
    pool.context = context;
    unsigned go[MAX_WORKERS];
    pthread_mutex_lock(&pool.lock);
    for (int w = 0; w < tasks - 1; w++) {
        pool.boxes[w].task = w + 1;
        go[w] = atomic_fetch_add_explicit(&pool.boxes[w].go, 1, memory_order_release) + 1;
    }
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    function(context, 0);
    for (int w = 0; w < tasks - 1; w++) {
        // A worker the system has preempted needs this core more than our spinning does.
        for (int spins = 0; atomic_load_explicit(&pool.boxes[w].done, memory_order_acquire) != go[w]; spins++) {
            if (spins < 4096) PAUSE();
            else sched_yield();
        }
    }
    pthread_mutex_unlock(&pool.busy);
    return 1;
}
