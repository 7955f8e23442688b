// The threads every CPU kernel splits its work over (see ckernels.h). They were Dispatch's
// (`concurrentPerform`), whose second thread started ~13–25 µs late on every call on this 2-vCPU
// VM (bench/kernels/split_overhead.c: two 19 µs halves took 32–48 µs); a MobileNetV2 or
// short-sequence MiniLM run makes 50–60 such calls. Here each worker spins for a short while
// after a call before it sleeps (DEFAULT_SPIN_NANOSECONDS), so the next kernel's call finds it
// awake: the same two halves take 19.5–22 µs. After a pause longer than the spin, waking a
// sleeping worker costs as much as Dispatch did or more. Tasks are taken by whoever is free, the
// caller too: a first version handed each worker its task, and when another process's threads
// held the second core (onnxruntime's in the side-by-side benchmarks) the caller sat waiting for
// a worker that could not run — MobileNetV2 at 2 threads took 43 ms instead of 10.
// Measured in the models with this version, one build, pool against concurrentPerform, 2
// threads (`swiftlet bench`, alternating rounds): ResNet-18 35.2–43.0 against 41.9–42.7 ms,
// MiniLM b1 s16 4.8–5.4 against 5.8–6.8, b1 s128 21.5–25.0 against 26.0–27.9; MobileNetV2
// 7.4–12.2 against 8.1–11.2 over six rounds, inside the machine's drift (docs/BENCHMARKS.md).
#include "ckernels.h"
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdint.h>
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
// enough that a worker goes to sleep soon after the run ends. SWIFTLET_THREAD_SPIN_US in the
// environment sets it (0: sleep at once); with more workers than cores nobody spins.
static const int64_t DEFAULT_SPIN_NANOSECONDS = 500000;

/// A worker's mailbox: the caller writes the number of the call it should help with, and wakes
/// the worker only if it sleeps (one condition per worker: waking all for every call cost a
/// 2-task call 0.4–1.9 ms with 15–63 workers started).
typedef struct {
    _Atomic uint64_t call;
    _Atomic int sleeping;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} mailbox;

static struct {
    pthread_mutex_t busy;  // held by the call in progress; a second caller falls back
    int workers;           // started so far (never stopped; reset in a forked child, which has none)
    uint64_t calls;        // calls made so far: numbers them
    _Atomic int64_t spin_nanoseconds;  // set by callers, read by spinning workers
    // (call number << 16) | (tasks << 8) | the next task to take, in one word so a worker late
    // for one call can neither take a task of the next nor misread its count. Whoever is free
    // takes tasks from it — the caller too, so a task no worker got to (a worker asleep or
    // preempted) is run by the caller rather than waited for.
    _Atomic uint64_t ticket;
    _Atomic int unfinished;
    swk_pool_task function;
    void *context;
    mailbox boxes[MAX_WORKERS];
} pool = {.busy = PTHREAD_MUTEX_INITIALIZER, .spin_nanoseconds = -1};

static int64_t nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/// Takes and runs tasks of call `call` until none is left (or that call is over).
static void take_tasks(uint64_t call) {
    uint64_t ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    for (;;) {
        if (ticket >> 16 != call) return;
        const int task = (int)(ticket & 0xFF), tasks = (int)(ticket >> 8 & 0xFF);
        if (task >= tasks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.ticket, &ticket, ticket + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;  // `ticket` now holds the current value
        // The exchange read the caller's release of this call's ticket: function and context are this call's.
        pool.function(pool.context, task);
        atomic_fetch_sub_explicit(&pool.unfinished, 1, memory_order_release);
        ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    }
}

static void *worker(void *argument) {
    mailbox *box = argument;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);  // signals go to the application's own threads
    uint64_t served = 0;  // a new worker's mailbox has never been written (the call starting it may already have)
    for (;;) {
        uint64_t call;
        const int64_t deadline = nanoseconds() + atomic_load_explicit(&pool.spin_nanoseconds, memory_order_relaxed);
        for (int spins = 1; (call = atomic_load_explicit(&box->call, memory_order_acquire)) == served; spins++) {
            PAUSE();
            if (spins % 64 == 0 && nanoseconds() > deadline) {
                // Sleep. Setting `sleeping` before the last look at `call` (both sequentially
                // consistent, as the caller's write of `call` and read of `sleeping` are) means
                // that either this look sees the call or the caller sees us asleep and signals.
                pthread_mutex_lock(&box->lock);
                atomic_store(&box->sleeping, 1);
                while ((call = atomic_load(&box->call)) == served) pthread_cond_wait(&box->wake, &box->lock);
                atomic_store(&box->sleeping, 0);
                pthread_mutex_unlock(&box->lock);
                break;
            }
        }
        served = call;
        take_tasks(call);
    }
    return NULL;
}

/// In a forked child the workers are gone (only the forking thread survives): start afresh.
static void forget_workers(void) {
    pthread_mutex_init(&pool.busy, NULL);
    pool.workers = 0;
}

static void start_workers(int wanted) {
    if (atomic_load(&pool.spin_nanoseconds) < 0) {
        const char *setting = getenv("SWIFTLET_THREAD_SPIN_US");
        const int64_t spin = setting ? (int64_t)atol(setting) * 1000 : DEFAULT_SPIN_NANOSECONDS;
        atomic_store(&pool.spin_nanoseconds, spin < 0 ? 0 : spin);
        pthread_atfork(NULL, NULL, forget_workers);
    }
    if (pool.workers >= wanted) return;
    while (pool.workers < wanted) {
        mailbox *box = &pool.boxes[pool.workers];
        atomic_store(&box->call, 0);
        atomic_store(&box->sleeping, 0);
        pthread_mutex_init(&box->lock, NULL);
        pthread_cond_init(&box->wake, NULL);
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        const int started = pthread_create(&thread, &attributes, worker, box) == 0;
        pthread_attr_destroy(&attributes);
        if (!started) break;  // the caller takes the tasks no worker can
        pool.workers++;
    }
    // More workers than cores: a spinning worker would hold a core another thread needs.
    if (pool.workers + 1 > sysconf(_SC_NPROCESSORS_ONLN)) atomic_store(&pool.spin_nanoseconds, 0);
}

int swk_pool_run(int tasks, swk_pool_task function, void *context) {
    if (tasks <= 1) {
        if (tasks == 1) function(context, 0);
        return 1;
    }
    if (tasks - 1 > MAX_WORKERS || pthread_mutex_trylock(&pool.busy) != 0) return 0;
    start_workers(tasks - 1);
    const uint64_t call = ++pool.calls & 0xFFFFFFFFFFFF;  // 48 bits: wraps after 2.8e14 calls
    pool.function = function;
    pool.context = context;
    atomic_store_explicit(&pool.unfinished, tasks, memory_order_relaxed);
    atomic_store_explicit(&pool.ticket, call << 16 | (uint64_t)tasks << 8, memory_order_release);
    const int helpers = tasks - 1 < pool.workers ? tasks - 1 : pool.workers;
    for (int w = 0; w < helpers; w++) {
        mailbox *box = &pool.boxes[w];
        atomic_store(&box->call, call);
        if (atomic_load(&box->sleeping)) {
            pthread_mutex_lock(&box->lock);
            pthread_cond_signal(&box->wake);
            pthread_mutex_unlock(&box->lock);
        }
    }
    take_tasks(call);
    // Only tasks a worker has started are left: wait for them, yielding the core to a preempted worker.
    for (int spins = 0; atomic_load_explicit(&pool.unfinished, memory_order_acquire) > 0;) {
        if (spins < 4096) {
            spins++;
            PAUSE();
        } else {
            sched_yield();
        }
    }
    pthread_mutex_unlock(&pool.busy);
    return 1;
}
