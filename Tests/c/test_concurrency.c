/*
 * test_concurrency.c -- the header's threading promises, under load:
 *   - swl_session_run may be called concurrently on one session: 8 threads x 200 runs of
 *     different batches must each give bit-identical logits to the same run done alone first;
 *   - swl_model may be shared: 8 threads creating, running and freeing their own sessions from one
 *     model at the same time get the same logits too.
 * Both on each model given (the MLP and the CNN), with test-set images as inputs.
 *
 *     test_concurrency.bin X.npy MODEL.swl...
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

enum {
    THREADS             = 8,
    RUNS_PER_THREAD     = 200,
    SESSIONS_PER_THREAD = 10,
};

/* Batch sizes of the cases the threads cycle through: small and large, odd and even, so runs of
 * different shapes (and activation arenas of different sizes) overlap in time. */
static const size_t case_batches[] = { 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 360 };
#define CASES (sizeof case_batches / sizeof case_batches[0])

/* ---- The test images ------------------------------------------------------------------------- */

typedef struct images {
    float* data;
    size_t count;       /* N */
    size_t per_image;   /* values per image */
} images;

/* Reads a float32 C-order .npy of rank >= 2 (the fixture data/digits_test_x.npy). Strict about
 * what it accepts; examples-c/digits.c has the general, commented reader. */
static bool load_images(const char* path, images* out) {
    bool ok = false;
    FILE* f = fopen(path, "rb");
    unsigned char pre[10];
    char header[512];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY\x01\x00", 8) != 0)
        goto done;
    size_t header_len = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (header_len >= sizeof header || fread(header, 1, header_len, f) != header_len)
        goto done;
    header[header_len] = '\0';
    unsigned long long n = 0, d1 = 0, d2 = 1, d3 = 1;
    const char* shape = strstr(header, "'shape': (");
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%llu, %llu, %llu, %llu", &n, &d1, &d2, &d3) < 2)
        goto done;
    out->count = (size_t)n;
    out->per_image = (size_t)(d1 * d2 * d3);
    size_t values = out->count * out->per_image;
    out->data = malloc(values * sizeof(float) + 1);   /* +1: room to see trailing bytes */
    ok = out->data && fread(out->data, sizeof(float), values + 1, f) == values;
done:
    if (!ok)
        fprintf(stderr, "%s: not a float32 [N, ...] .npy file of the expected size\n", path);
    if (f)
        fclose(f);
    return ok;
}

/* ---- One model's fixture ----------------------------------------------------------------------- */

typedef struct fixture {
    const char*  model_path;
    swl_model*   model;
    swl_session* session;             /* shared by the run threads */
    swl_tensor   input_info;          /* from io_info: name, rank, shape with -1 batch */
    const char*  output_name;
    size_t       classes;
    const images* images;
    size_t       case_offset[CASES];  /* first image of each case */
    float*       expected[CASES];     /* logits of each case, computed by one thread first */
} fixture;

/* Options for every session in this test: the default thread count, the configuration users get,
 * where each concurrent run also splits its own nodes over threads of its own. */
static swl_status create_session(swl_model* model, swl_session** out_session) {
    swl_options* options = NULL;
    swl_status status = swl_options_create(&options);
    if (status == SWL_STATUS_OK)
        status = swl_options_set_backend(options, "cpu");
    if (status == SWL_STATUS_OK)
        status = swl_session_create(model, options, out_session);
    swl_options_free(options);
    return status;
}

/* Runs case k on `session` into `logits` (capacity for the case's batch). */
static swl_status run_case(const fixture* fx, swl_session* session, size_t k, float* logits) {
    size_t batch = case_batches[k];
    swl_tensor in = fx->input_info;
    in.shape[0] = (int64_t)batch;
    in.data = fx->images->data + fx->case_offset[k] * fx->images->per_image;
    in.byte_size = batch * fx->images->per_image * sizeof(float);
    swl_tensor out = { .name = fx->output_name, .dtype = SWL_DTYPE_F32, .rank = 2,
                       .shape = { (int64_t)batch, (int64_t)fx->classes }, .data = logits,
                       .byte_size = batch * fx->classes * sizeof(float) };
    return swl_session_run(session, &in, 1, &out, 1, NULL);
}

static bool fixture_open(fixture* fx, const char* model_path, const images* imgs) {
    memset(fx, 0, sizeof *fx);
    fx->model_path = model_path;
    fx->images = imgs;
    swl_tensor output_info;
    if (!CHECK_STATUS(swl_model_load_file(model_path, &fx->model), SWL_STATUS_OK) ||
        !CHECK_STATUS(create_session(fx->model, &fx->session), SWL_STATUS_OK) ||
        !CHECK_STATUS(swl_session_io_info(fx->session, 0, 0, &fx->input_info), SWL_STATUS_OK) ||
        !CHECK_STATUS(swl_session_io_info(fx->session, 1, 0, &output_info), SWL_STATUS_OK))
        return false;
    fx->output_name = output_info.name;
    fx->classes = output_info.rank == 2 && output_info.shape[1] > 0 ? (size_t)output_info.shape[1]
                                                                      : 0;
    size_t per_image = 1;
    for (int32_t i = 1; i < fx->input_info.rank; i++)
        per_image *= fx->input_info.shape[i] > 0 ? (size_t)fx->input_info.shape[i] : 0;
    if (!CHECK(fx->input_info.dtype == SWL_DTYPE_F32 && fx->input_info.rank >= 2 &&
               fx->classes > 0 && per_image == imgs->per_image &&
               imgs->count >= case_batches[CASES - 1]))
        return false;

    /* The single-threaded truth every concurrent run is compared with. */
    for (size_t k = 0; k < CASES; k++) {
        fx->case_offset[k] = k * 37 % (imgs->count - case_batches[k] + 1);
        fx->expected[k] = malloc(case_batches[k] * fx->classes * sizeof(float));
        if (!CHECK(fx->expected[k] != NULL) ||
            !CHECK_STATUS(run_case(fx, fx->session, k, fx->expected[k]), SWL_STATUS_OK))
            return false;
    }
    return true;
}

static void fixture_close(fixture* fx) {
    for (size_t k = 0; k < CASES; k++)
        free(fx->expected[k]);
    swl_session_free(fx->session);
    swl_model_free(fx->model);
}

/* ---- The threads ------------------------------------------------------------------------------- */

typedef struct worker {
    const fixture* fx;
    int            index;
    int            failed_runs;      /* non-OK status */
    int            wrong_results;    /* OK, but logits differ from the expected bits */
    char           first_error[256]; /* swl_last_error() is per thread: copy it here */
} worker;

static void note_failure(worker* w, const char* what, swl_status status) {
    w->failed_runs++;
    if (!w->first_error[0])
        snprintf(w->first_error, sizeof w->first_error, "%s: %s: %s", what,
                 swl_status_name(status), swl_last_error());
}

static void check_logits(worker* w, size_t k, const float* logits) {
    size_t bytes = case_batches[k] * w->fx->classes * sizeof(float);
    if (memcmp(logits, w->fx->expected[k], bytes) != 0)
        w->wrong_results++;
}

/* 200 runs on the shared session, each thread walking the cases in its own order. */
static void* run_worker(void* arg) {
    worker* w = arg;
    float* logits = malloc(case_batches[CASES - 1] * w->fx->classes * sizeof(float));
    if (!logits) {
        note_failure(w, "malloc", SWL_STATUS_INTERNAL);
        return NULL;
    }
    for (int i = 0; i < RUNS_PER_THREAD; i++) {
        size_t k = ((size_t)w->index * 5 + (size_t)i * 7) % CASES;
        swl_status status = run_case(w->fx, w->fx->session, k, logits);
        if (status != SWL_STATUS_OK)
            note_failure(w, "swl_session_run", status);
        else
            check_logits(w, k, logits);
    }
    free(logits);
    return NULL;
}

/* Sessions of its own from the shared model: create, run one case, free, again. */
static void* session_worker(void* arg) {
    worker* w = arg;
    float* logits = malloc(case_batches[CASES - 1] * w->fx->classes * sizeof(float));
    if (!logits) {
        note_failure(w, "malloc", SWL_STATUS_INTERNAL);
        return NULL;
    }
    for (int i = 0; i < SESSIONS_PER_THREAD; i++) {
        swl_session* session = NULL;
        size_t k = ((size_t)w->index + (size_t)i) % CASES;
        swl_status status = create_session(w->fx->model, &session);
        if (status != SWL_STATUS_OK) {
            note_failure(w, "swl_session_create", status);
            continue;
        }
        status = run_case(w->fx, session, k, logits);
        if (status != SWL_STATUS_OK)
            note_failure(w, "swl_session_run", status);
        else
            check_logits(w, k, logits);
        swl_session_free(session);
    }
    free(logits);
    return NULL;
}

/* Starts THREADS copies of `body`, waits for all, and checks each one's tally. */
static void run_threads(const fixture* fx, void* (*body)(void*), const char* what) {
    worker workers[THREADS];
    pthread_t threads[THREADS];
    bool started[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker){ .fx = fx, .index = t };
        started[t] = pthread_create(&threads[t], NULL, body, &workers[t]) == 0;
        CHECK(started[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        if (!started[t])
            continue;
        pthread_join(threads[t], NULL);
        if (!CHECK(workers[t].failed_runs == 0 && workers[t].wrong_results == 0))
            fprintf(stderr, "    %s, %s, thread %d: %d failed calls, %d results not "
                    "bit-identical%s%s\n", fx->model_path, what, t, workers[t].failed_runs,
                    workers[t].wrong_results, workers[t].first_error[0] ? "; first error: " : "",
                    workers[t].first_error);
    }
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s X.npy MODEL.swl...\n", argv[0]);
        return 2;
    }
    images imgs = { 0 };
    if (!CHECK(load_images(argv[1], &imgs)))
        return harness_finish("c-api");
    for (int m = 2; m < argc; m++) {
        fixture fx;
        printf("== %s: %d threads x %d runs on one session\n", argv[m], THREADS, RUNS_PER_THREAD);
        fflush(stdout);
        if (fixture_open(&fx, argv[m], &imgs)) {
            run_threads(&fx, run_worker, "concurrent runs on one session");
            printf("== %s: %d threads x %d sessions of their own\n", argv[m], THREADS,
                   SESSIONS_PER_THREAD);
            fflush(stdout);
            run_threads(&fx, session_worker, "concurrent sessions from one model");
        }
        fixture_close(&fx);
    }
    free(imgs.data);
    return harness_finish("c-api");
}
