/*
 * test_capi.c -- the C API's contract (include/swiftlet.h), checked from C the way a host uses it.
 *
 *     test_capi.bin MLP.swl CNN.swl
 *
 * MLP.swl is models/digits_mlp.swl (input "input" F32 [batch,64], output "logits" F32 [batch,10]);
 * CNN.swl is models/digits_cnn.swl (input F32 [batch,1,8,8]). Every section prints a "==" line
 * first, so a crash (which is itself a bug: the library must never crash on caller data) shows
 * where it happened.
 */
#define _POSIX_C_SOURCE 200809L  /* mkstemp, fdopen */

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

enum { BATCH = 3, FEATURES = 64, CLASSES = 10, OUT_CAPACITY = 64 };

#define SENTINEL 0xA5  /* fills output memory the library must not touch */

static const char* mlp_path;

/* Any non-NULL pointer: out_* parameters start out pointing here so the tests see them reset. */
static int not_null_target;
#define NOT_NULL ((void*)&not_null_target)

static void section(const char* name) {
    printf("== %s\n", name);
    fflush(stdout);
}

/* Deterministic pixels in [0, 1] like the models' training data (digit intensities 0..16 / 16). */
static void fill_pixels(float* pixels, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;   /* a plain LCG: reproducible everywhere */
        pixels[i] = (float)(seed >> 28) / 16.0f;
    }
}

static swl_tensor input_tensor(float* pixels, int64_t batch) {
    return (swl_tensor){ .name = "input", .dtype = SWL_DTYPE_F32, .rank = 2,
                         .shape = { batch, FEATURES }, .data = pixels,
                         .byte_size = (size_t)batch * FEATURES * sizeof(float) };
}

static swl_tensor output_tensor(float* logits, int64_t batch) {
    return (swl_tensor){ .name = "logits", .dtype = SWL_DTYPE_F32, .rank = 2,
                         .shape = { batch, CLASSES }, .data = logits,
                         .byte_size = (size_t)batch * CLASSES * sizeof(float) };
}

static bool all_bytes_are(const void* p, size_t n, unsigned char value) {
    const unsigned char* bytes = p;
    for (size_t i = 0; i < n; i++)
        if (bytes[i] != value)
            return false;
    return true;
}

/* Different backends and batch sizes may round differently; they must agree to float precision. */
static bool nearly_equal(const float* a, const float* b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float diff = a[i] - b[i], scale = (a[i] < 0 ? -a[i] : a[i]) + 1.0f;
        if (!(diff <= 1e-4f * scale && -diff <= 1e-4f * scale))   /* also false for NaN */
            return false;
    }
    return true;
}

static bool all_finite(const float* values, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(values[i] - values[i] == 0.0f))   /* NaN and +-inf give NaN */
            return false;
    return true;
}

static unsigned char* read_whole_file(const char* path, size_t* out_size) {
    FILE* f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char* bytes = NULL;
    long size;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (bytes = malloc((size_t)size)) != NULL) {
        if (fread(bytes, 1, (size_t)size, f) == (size_t)size) {
            *out_size = (size_t)size;
        } else {
            free(bytes);
            bytes = NULL;
        }
    }
    fclose(f);
    return bytes;
}

/* Creates a session on `backend` with one thread; NULL (after a recorded failure) if that fails. */
static swl_session* make_session(swl_model* model, const char* backend, const char* optimize) {
    swl_options* options = NULL;
    swl_session* session = NULL;
    if (CHECK_STATUS(swl_options_create(&options), SWL_STATUS_OK) &&
        CHECK_STATUS(swl_options_set_backend(options, backend), SWL_STATUS_OK) &&
        CHECK_STATUS(swl_options_set_threads(options, 1), SWL_STATUS_OK) &&
        CHECK_STATUS(swl_options_set(options, "graph.optimize", optimize), SWL_STATUS_OK))
        CHECK_STATUS(swl_session_create(model, options, &session), SWL_STATUS_OK);
    swl_options_free(options);
    return session;
}

#define TEMP_TEMPLATE "/tmp/swiftlet-test-XXXXXX"

/* Writes bytes to a new temporary file and puts its name in path (TEMP_TEMPLATE's size). */
static bool write_temp_file(const unsigned char* bytes, size_t size, char* path) {
    strcpy(path, TEMP_TEMPLATE);
    int fd = mkstemp(path);
    if (!CHECK(fd >= 0))
        return false;
    FILE* f = fdopen(fd, "wb");
    bool written = CHECK(f && fwrite(bytes, 1, size, f) == size);
    if (f)
        written = CHECK(fclose(f) == 0) && written;
    else
        close(fd);
    if (!written)
        unlink(path);
    return written;
}

/* ---- Library-level functions ----------------------------------------------------------------- */

static void* fresh_thread_last_error(void* arg) {
    (void)arg;
    /* No call on this thread has failed yet, so the message must be empty. */
    CHECK(strcmp(swl_last_error(), "") == 0);
    swl_model* model = NOT_NULL;
    CHECK_STATUS(swl_model_load_file("/nonexistent/other-thread.swl", &model), SWL_STATUS_NOT_FOUND);
    return NULL;
}

static void test_library(void) {
    section("library");
    const char* version = swl_version();
    unsigned major, minor, patch;
    char extra;
    CHECK(version != NULL && version[0] != '\0');
    CHECK(version && sscanf(version, "%u.%u.%u%c", &major, &minor, &patch, &extra) == 3);
    CHECK(swl_abi_version() == SWL_ABI_VERSION);

    static const struct { swl_status status; const char* name; } names[] = {
        { SWL_STATUS_OK, "SWL_STATUS_OK" },
        { SWL_STATUS_INVALID_ARGUMENT, "SWL_STATUS_INVALID_ARGUMENT" },
        { SWL_STATUS_NOT_FOUND, "SWL_STATUS_NOT_FOUND" },
        { SWL_STATUS_INVALID_MODEL, "SWL_STATUS_INVALID_MODEL" },
        { SWL_STATUS_BUFFER_TOO_SMALL, "SWL_STATUS_BUFFER_TOO_SMALL" },
        { SWL_STATUS_UNSUPPORTED, "SWL_STATUS_UNSUPPORTED" },
        { SWL_STATUS_BACKEND_FAILURE, "SWL_STATUS_BACKEND_FAILURE" },
        { SWL_STATUS_INTERNAL, "SWL_STATUS_INTERNAL" },
        { (swl_status)7, "SWL_STATUS_UNKNOWN" },     /* the gap before INTERNAL */
        { (swl_status)42, "SWL_STATUS_UNKNOWN" },
        { (swl_status)-1, "SWL_STATUS_UNKNOWN" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char* name = swl_status_name(names[i].status);
        if (!CHECK(name != NULL && strcmp(name, names[i].name) == 0))
            fprintf(stderr, "    status %d: got \"%s\", want \"%s\"\n", (int)names[i].status,
                    name ? name : "(null)", names[i].name);
    }

    int32_t count = swl_backend_count();
    bool has_cpu = false, has_reference = false;
    CHECK(count >= 2);
    for (int32_t i = 0; i < count; i++) {
        const char* name = swl_backend_name(i);
        CHECK(name != NULL && name[0] != '\0');
        has_cpu |= name && strcmp(name, "cpu") == 0;
        has_reference |= name && strcmp(name, "reference") == 0;
    }
    CHECK(has_cpu);
    CHECK(has_reference);
    CHECK(swl_backend_name(-1) == NULL);
    CHECK(swl_backend_name(count) == NULL);
    CHECK(swl_backend_name(INT32_MAX) == NULL);

    /* swl_last_error() is per thread: a fresh thread starts with "", and its failures leave this
     * thread's message alone. */
    swl_model* model = NOT_NULL;
    CHECK_ERROR(swl_model_load_file("/nonexistent/main-thread.swl", &model), SWL_STATUS_NOT_FOUND,
                "main-thread.swl");
    const char* kept = swl_last_error();
    pthread_t thread;
    if (CHECK(pthread_create(&thread, NULL, fresh_thread_last_error, NULL) == 0))
        pthread_join(thread, NULL);
    CHECK(strstr(swl_last_error(), "main-thread.swl") != NULL);

    /* The message stays valid until the next *failing* call: successful calls leave it alone. */
    swl_options* options = NULL;
    CHECK_STATUS(swl_options_create(&options), SWL_STATUS_OK);
    CHECK_STATUS(swl_options_set_threads(options, 1), SWL_STATUS_OK);
    swl_options_free(options);
    CHECK(strstr(kept, "main-thread.swl") != NULL);
}

/* ---- NULL for every pointer argument --------------------------------------------------------- */

static void test_null_arguments(swl_model* model, swl_session* session) {
    section("NULL arguments");
    unsigned char garbage[16] = { 0 };
    swl_model* out_model = NOT_NULL;
    CHECK_ERROR(swl_model_load_file(NULL, &out_model), SWL_STATUS_INVALID_ARGUMENT, "path");
    CHECK(out_model == NULL);
    CHECK_ERROR(swl_model_load_file(mlp_path, NULL), SWL_STATUS_INVALID_ARGUMENT, "out_model");
    out_model = NOT_NULL;
    CHECK_ERROR(swl_model_load_memory(NULL, 16, &out_model), SWL_STATUS_INVALID_ARGUMENT, "data");
    CHECK(out_model == NULL);
    out_model = NOT_NULL;
    CHECK_STATUS(swl_model_load_memory(NULL, 0, &out_model), SWL_STATUS_INVALID_MODEL);
    CHECK(out_model == NULL);
    CHECK_ERROR(swl_model_load_memory(garbage, sizeof garbage, NULL), SWL_STATUS_INVALID_ARGUMENT,
                "out_model");

    swl_options* options = NULL;
    CHECK_ERROR(swl_options_create(NULL), SWL_STATUS_INVALID_ARGUMENT, "out_options");
    if (!CHECK_STATUS(swl_options_create(&options), SWL_STATUS_OK))
        return;
    CHECK_ERROR(swl_options_set_backend(NULL, "cpu"), SWL_STATUS_INVALID_ARGUMENT, "options");
    CHECK_ERROR(swl_options_set_backend(options, NULL), SWL_STATUS_INVALID_ARGUMENT, "backend_name");
    CHECK_ERROR(swl_options_set_threads(NULL, 1), SWL_STATUS_INVALID_ARGUMENT, "options");
    CHECK_ERROR(swl_options_set(NULL, "threads", "1"), SWL_STATUS_INVALID_ARGUMENT, "options");
    CHECK_ERROR(swl_options_set(options, NULL, "1"), SWL_STATUS_INVALID_ARGUMENT, "key");
    CHECK_ERROR(swl_options_set(options, "threads", NULL), SWL_STATUS_INVALID_ARGUMENT, "value");

    swl_session* out_session = NOT_NULL;
    CHECK_ERROR(swl_session_create(NULL, options, &out_session), SWL_STATUS_INVALID_ARGUMENT,
                "model");
    CHECK(out_session == NULL);
    CHECK_ERROR(swl_session_create(model, options, NULL), SWL_STATUS_INVALID_ARGUMENT,
                "out_session");
    /* NULL options means the defaults. */
    out_session = NULL;
    CHECK_STATUS(swl_session_create(model, NULL, &out_session), SWL_STATUS_OK);
    CHECK(out_session != NULL);
    swl_session_free(out_session);
    swl_options_free(options);

    int32_t n_inputs = -1, n_outputs = -1;
    swl_tensor info;
    CHECK_ERROR(swl_session_io_count(NULL, &n_inputs, &n_outputs), SWL_STATUS_INVALID_ARGUMENT,
                "session");
    CHECK_STATUS(swl_session_io_count(session, NULL, NULL), SWL_STATUS_OK);
    CHECK_ERROR(swl_session_io_info(NULL, 0, 0, &info), SWL_STATUS_INVALID_ARGUMENT, "session");
    CHECK_ERROR(swl_session_io_info(session, 0, 0, NULL), SWL_STATUS_INVALID_ARGUMENT, "out_info");

    float pixels[FEATURES] = { 0 }, logits[CLASSES];
    swl_tensor in = input_tensor(pixels, 1), out = output_tensor(logits, 1);
    CHECK_ERROR(swl_session_run(NULL, &in, 1, &out, 1, NULL), SWL_STATUS_INVALID_ARGUMENT,
                "session");
    CHECK_ERROR(swl_session_run(session, NULL, 1, &out, 1, NULL), SWL_STATUS_INVALID_ARGUMENT,
                "inputs");
    CHECK_ERROR(swl_session_run(session, &in, 1, NULL, 1, NULL), SWL_STATUS_INVALID_ARGUMENT,
                "outputs");
    /* No outputs at all is allowed ("at most one per graph output"): computed and dropped. */
    CHECK_STATUS(swl_session_run(session, &in, 1, NULL, 0, NULL), SWL_STATUS_OK);

    /* The frees are NULL-safe like free(3). */
    swl_model_free(NULL);
    swl_options_free(NULL);
    swl_session_free(NULL);
    swl_set_log_callback(NULL, NULL, SWL_LOG_LEVEL_WARN);
}

/* ---- Options ------------------------------------------------------------------------------------ */

static void test_options(void) {
    section("options");
    swl_options* options = NULL;
    if (!CHECK_STATUS(swl_options_create(&options), SWL_STATUS_OK))
        return;
    CHECK_ERROR(swl_options_set_backend(options, "tpu-9000"), SWL_STATUS_NOT_FOUND, "tpu-9000");
    CHECK_ERROR(swl_options_set(options, "backend", "tpu-9000"), SWL_STATUS_NOT_FOUND, "tpu-9000");
    CHECK_ERROR(swl_options_set(options, "graph.optimise", "1"), SWL_STATUS_NOT_FOUND,
                "graph.optimise");
    CHECK_ERROR(swl_options_set(options, "", "1"), SWL_STATUS_NOT_FOUND, NULL);
    CHECK_ERROR(swl_options_set(options, "graph.optimize", "maybe"), SWL_STATUS_INVALID_ARGUMENT,
                "graph.optimize");
    CHECK_ERROR(swl_options_set(options, "graph.optimize", ""), SWL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK_ERROR(swl_options_set_threads(options, -1), SWL_STATUS_INVALID_ARGUMENT, "threads");
    CHECK_ERROR(swl_options_set_threads(options, INT32_MIN), SWL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK_ERROR(swl_options_set(options, "threads", "-1"), SWL_STATUS_INVALID_ARGUMENT, "threads");
    CHECK_ERROR(swl_options_set(options, "threads", "two"), SWL_STATUS_INVALID_ARGUMENT, "threads");
    CHECK_ERROR(swl_options_set(options, "threads", "2x"), SWL_STATUS_INVALID_ARGUMENT, "threads");
    CHECK_ERROR(swl_options_set(options, "threads", "99999999999999999999"),
                SWL_STATUS_INVALID_ARGUMENT, NULL);

    CHECK_STATUS(swl_options_set_backend(options, "reference"), SWL_STATUS_OK);
    CHECK_STATUS(swl_options_set(options, "backend", "cpu"), SWL_STATUS_OK);
    CHECK_STATUS(swl_options_set_threads(options, 0), SWL_STATUS_OK);
    CHECK_STATUS(swl_options_set(options, "threads", "2"), SWL_STATUS_OK);
    CHECK_STATUS(swl_options_set(options, "graph.optimize", "0"), SWL_STATUS_OK);
    CHECK_STATUS(swl_options_set(options, "graph.optimize", "1"), SWL_STATUS_OK);
    swl_options_free(options);
}

/* ---- Loading ------------------------------------------------------------------------------------ */

/* Expects load_memory of these bytes to fail validation with *out reset to NULL. */
#define CHECK_BAD_MODEL(bytes, size, mention)                                                    \
    do {                                                                                         \
        swl_model* bad_model_ = NOT_NULL;                                                        \
        CHECK_ERROR(swl_model_load_memory((bytes), (size), &bad_model_),                         \
                    SWL_STATUS_INVALID_MODEL, (mention));                                        \
        CHECK(bad_model_ == NULL);                                                               \
        swl_model_free(bad_model_ == NOT_NULL ? NULL : bad_model_);                              \
    } while (0)

static void test_loading(void) {
    section("loading");
    swl_model* model = NOT_NULL;
    CHECK_ERROR(swl_model_load_file("/nonexistent/dir/model.swl", &model), SWL_STATUS_NOT_FOUND,
                "/nonexistent/dir/model.swl");
    CHECK(model == NULL);

    static const char garbage[] = "this is not a safetensors file, just some words";
    CHECK_BAD_MODEL(garbage, sizeof garbage, NULL);
    CHECK_BAD_MODEL(garbage, 0, NULL);
    CHECK_BAD_MODEL(garbage, 7, NULL);   /* shorter than the 8-byte header length */
    /* A plausible length followed by a header that is not JSON. */
    static const unsigned char not_json[] = { 4, 0, 0, 0, 0, 0, 0, 0, '{', ']', ' ', ' ' };
    CHECK_BAD_MODEL(not_json, sizeof not_json, NULL);
    /* A header length far beyond the data. */
    static const unsigned char too_long[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}' };
    CHECK_BAD_MODEL(too_long, sizeof too_long, NULL);

    size_t size = 0;
    unsigned char* bytes = read_whole_file(mlp_path, &size);
    if (!CHECK(bytes != NULL && size > 64))
        return;
    CHECK_BAD_MODEL(bytes, size - 1, NULL);   /* the last tensor is cut short */
    CHECK_BAD_MODEL(bytes, size / 2, NULL);

    /* The same truncation through a file, which is memory-mapped rather than copied. */
    char temp_path[sizeof TEMP_TEMPLATE];
    if (write_temp_file(bytes, size - 1, temp_path)) {
        model = NOT_NULL;
        CHECK_STATUS(swl_model_load_file(temp_path, &model), SWL_STATUS_INVALID_MODEL);
        CHECK(model == NULL);
        unlink(temp_path);
    }

    /* A loaded file may be deleted: the mapping keeps its bytes. */
    if (write_temp_file(bytes, size, temp_path)) {
        model = NULL;
        CHECK_STATUS(swl_model_load_file(temp_path, &model), SWL_STATUS_OK);
        unlink(temp_path);
        swl_session* session = model ? make_session(model, "cpu", "1") : NULL;
        float pixels[FEATURES], logits[CLASSES];
        fill_pixels(pixels, FEATURES, 1);
        swl_tensor in = input_tensor(pixels, 1), out = output_tensor(logits, 1);
        if (session)
            CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, NULL), SWL_STATUS_OK);
        swl_session_free(session);
        swl_model_free(model);
    }

    /* Break the required metadata value format = "swiftlet": the message must name the field. */
    unsigned char* edited = malloc(size);
    if (CHECK(edited != NULL)) {
        memcpy(edited, bytes, size);
        unsigned char* value = NULL;
        for (size_t i = 8; i + 10 <= size && !value; i++)
            if (memcmp(edited + i, "\"swiftlet\"", 10) == 0)
                value = edited + i;
        if (CHECK(value != NULL)) {
            value[8] = 'x';   /* "swiftlex" */
            CHECK_BAD_MODEL(edited, size, "format");
        }
        free(edited);
    }

    /* The whole file from memory loads; the copy is the library's, so the caller's buffer can be
     * scribbled over and freed at once. */
    model = NULL;
    CHECK_STATUS(swl_model_load_memory(bytes, size, &model), SWL_STATUS_OK);
    memset(bytes, 0xEE, size);
    free(bytes);
    if (model) {
        swl_session* session = make_session(model, "cpu", "1");
        float pixels[FEATURES], logits[CLASSES];
        fill_pixels(pixels, FEATURES, 1);
        swl_tensor in = input_tensor(pixels, 1), out = output_tensor(logits, 1);
        CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, NULL), SWL_STATUS_OK);
        swl_session_free(session);
    }
    swl_model_free(model);
}

/* ---- Handles of the wrong kind ------------------------------------------------------------------ */

static void test_wrong_handle_kinds(swl_model* model, swl_session* session) {
    section("handles of the wrong kind");
    swl_options* options = NULL;
    if (!CHECK_STATUS(swl_options_create(&options), SWL_STATUS_OK))
        return;
    swl_session* out_session = NOT_NULL;
    CHECK_STATUS(swl_session_create((swl_model*)session, NULL, &out_session),
                 SWL_STATUS_INVALID_ARGUMENT);
    CHECK(out_session == NULL);
    out_session = NOT_NULL;
    CHECK_STATUS(swl_session_create((swl_model*)options, NULL, &out_session),
                 SWL_STATUS_INVALID_ARGUMENT);
    CHECK(out_session == NULL);
    out_session = NOT_NULL;
    CHECK_STATUS(swl_session_create(model, (const swl_options*)session, &out_session),
                 SWL_STATUS_INVALID_ARGUMENT);
    CHECK(out_session == NULL);
    CHECK_STATUS(swl_options_set_backend((swl_options*)session, "cpu"), SWL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(swl_options_set((swl_options*)model, "threads", "1"), SWL_STATUS_INVALID_ARGUMENT);
    int32_t n_inputs, n_outputs;
    CHECK_STATUS(swl_session_io_count((const swl_session*)model, &n_inputs, &n_outputs),
                 SWL_STATUS_INVALID_ARGUMENT);
    swl_tensor info;
    CHECK_STATUS(swl_session_io_info((const swl_session*)options, 0, 0, &info),
                 SWL_STATUS_INVALID_ARGUMENT);
    float pixels[FEATURES] = { 0 }, logits[CLASSES];
    swl_tensor in = input_tensor(pixels, 1), out = output_tensor(logits, 1);
    CHECK_STATUS(swl_session_run((swl_session*)model, &in, 1, &out, 1, NULL),
                 SWL_STATUS_INVALID_ARGUMENT);
    swl_options_free(options);
}

/* ---- Inputs and outputs --------------------------------------------------------------------------- */

static void check_io(swl_session* session, int32_t is_output, const char* name, int32_t rank,
                     const int64_t* shape) {
    swl_tensor info;
    memset(&info, 0xCD, sizeof info);   /* whatever the library does not set stays visible */
    if (!CHECK_STATUS(swl_session_io_info(session, is_output, 0, &info), SWL_STATUS_OK))
        return;
    CHECK(info.name != NULL && strcmp(info.name, name) == 0);
    CHECK(info.dtype == SWL_DTYPE_F32);
    CHECK(info.rank == rank);
    CHECK(memcmp(info.shape, shape, (size_t)rank * sizeof shape[0]) == 0);
    CHECK(info.data == NULL);
    CHECK(info.byte_size == 0);   /* the batch is dynamic */
}

static void test_io_info(swl_session* mlp, swl_session* cnn) {
    section("io_count / io_info");
    int32_t n_inputs = -1, n_outputs = -1;
    CHECK_STATUS(swl_session_io_count(mlp, &n_inputs, &n_outputs), SWL_STATUS_OK);
    CHECK(n_inputs == 1 && n_outputs == 1);
    n_outputs = -1;
    CHECK_STATUS(swl_session_io_count(mlp, NULL, &n_outputs), SWL_STATUS_OK);
    CHECK(n_outputs == 1);

    check_io(mlp, 0, "input", 2, (const int64_t[]){ -1, FEATURES });
    check_io(mlp, 1, "logits", 2, (const int64_t[]){ -1, CLASSES });
    check_io(mlp, 7, "logits", 2, (const int64_t[]){ -1, CLASSES });   /* any non-zero = output */
    check_io(cnn, 0, "input", 4, (const int64_t[]){ -1, 1, 8, 8 });
    check_io(cnn, 1, "logits", 2, (const int64_t[]){ -1, CLASSES });

    swl_tensor info;
    CHECK_STATUS(swl_session_io_info(mlp, 0, 1, &info), SWL_STATUS_NOT_FOUND);
    CHECK_STATUS(swl_session_io_info(mlp, 0, -1, &info), SWL_STATUS_NOT_FOUND);
    CHECK_STATUS(swl_session_io_info(mlp, 1, 1, &info), SWL_STATUS_NOT_FOUND);
    CHECK_STATUS(swl_session_io_info(mlp, 1, INT32_MAX, &info), SWL_STATUS_NOT_FOUND);
}

/* ---- Runs that must fail ------------------------------------------------------------------------ */

/* The output memory of every failing run: filled with SENTINEL before, checked unchanged after. */
static float out_memory[OUT_CAPACITY];

static void expect_run_failure(swl_session* session, const swl_tensor* inputs, size_t n_inputs,
                               swl_tensor* outputs, size_t n_outputs, swl_status want,
                               const char* mention, const char* what, int line) {
    memset(out_memory, SENTINEL, sizeof out_memory);
    harness_check_status(swl_session_run(session, inputs, n_inputs, outputs, n_outputs, NULL), want,
                         mention, what, __FILE__, line);
    harness_check(all_bytes_are(out_memory, sizeof out_memory, SENTINEL),
                  "no output data written on failure", __FILE__, line);
}

#define EXPECT_RUN_FAILURE(inputs, n_in, outputs, n_out, want, mention)                        \
    expect_run_failure(session, (inputs), (n_in), (outputs), (n_out), (want), (mention),         \
                       "swl_session_run(" #inputs ", " #n_in ", " #outputs ", " #n_out ")", __LINE__)

static void test_run_errors(swl_session* session) {
    section("run errors");
    float pixels[BATCH * FEATURES];
    fill_pixels(pixels, BATCH * FEATURES, 2);
    const swl_tensor good_in = input_tensor(pixels, BATCH);
    const swl_tensor good_out = output_tensor(out_memory, BATCH);
    swl_tensor in, out, ins[2], outs[2];

    /* Each case starts from a correct call and breaks one thing. */
    in = good_in; out = good_out;
    CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, NULL), SWL_STATUS_OK);

    in = good_in; in.name = "pixels";
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_NOT_FOUND, "pixels");
    in = good_in; out = good_out; out.name = "probabilities";
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_NOT_FOUND, "probabilities");

    out = good_out;
    in = good_in; in.rank = 3; in.shape[2] = 1;   /* same bytes, one more dimension */
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.rank = 1; in.shape[0] = BATCH * FEATURES;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.shape[1] = FEATURES - 1; in.byte_size = BATCH * (FEATURES - 1) * sizeof(float);
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.dtype = SWL_DTYPE_I32;       /* same element size, wrong type */
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.dtype = (swl_dtype)77;       /* not a dtype at all */
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.byte_size -= 4;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.byte_size += 4;              /* "exactly", not "at least" */
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.data = NULL;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.rank = SWL_MAX_RANK + 1;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.rank = -1;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.shape[0] = -1; in.byte_size = FEATURES * sizeof(float);
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");
    in = good_in; in.shape[0] = INT64_MAX / 2;    /* the byte count overflows 64 bits */
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");

    in = good_in;
    EXPECT_RUN_FAILURE(&in, 0, &out, 1, SWL_STATUS_INVALID_ARGUMENT, NULL);   /* input missing */
    ins[0] = good_in; ins[1] = good_in;
    EXPECT_RUN_FAILURE(ins, 2, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "input");   /* duplicate */
    ins[1].name = NULL;                           /* position 1: the graph has one input */
    EXPECT_RUN_FAILURE(ins, 2, &out, 1, SWL_STATUS_INVALID_ARGUMENT, NULL);

    outs[0] = good_out; outs[1] = good_out;
    EXPECT_RUN_FAILURE(&in, 1, outs, 2, SWL_STATUS_INVALID_ARGUMENT, "logits");   /* duplicate */
    outs[1].name = NULL;                          /* position 1: the graph has one output */
    EXPECT_RUN_FAILURE(&in, 1, outs, 2, SWL_STATUS_INVALID_ARGUMENT, NULL);
    out = good_out; out.dtype = SWL_DTYPE_I64;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "logits");
    out = good_out; out.data = NULL;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_INVALID_ARGUMENT, "logits");

    /* Too small by one byte: BUFFER_TOO_SMALL with the required rank and shape written over
     * whatever the caller put there, and nothing else changed. */
    out = good_out; out.byte_size -= 1; out.rank = 2; out.shape[0] = 7; out.shape[1] = 7;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_BUFFER_TOO_SMALL, "logits");
    CHECK(out.rank == 2 && out.shape[0] == BATCH && out.shape[1] == CLASSES);
    CHECK(out.data == (void*)out_memory && out.byte_size == good_out.byte_size - 1);
    CHECK(out.dtype == SWL_DTYPE_F32 && strcmp(out.name, "logits") == 0);
    out = good_out; out.byte_size = 0;
    EXPECT_RUN_FAILURE(&in, 1, &out, 1, SWL_STATUS_BUFFER_TOO_SMALL, "logits");
    CHECK(out.rank == 2 && out.shape[0] == BATCH && out.shape[1] == CLASSES);
}

/* ---- Runs that must succeed ----------------------------------------------------------------------- */

static void test_run_results(swl_session* session) {
    section("run results");
    float pixels[BATCH * FEATURES], first[BATCH * CLASSES], second[BATCH * CLASSES];
    fill_pixels(pixels, BATCH * FEATURES, 3);
    swl_tensor in = input_tensor(pixels, BATCH), out = output_tensor(first, BATCH);
    swl_run_report report;
    memset(&report, 0xEE, sizeof report);
    report.struct_size = sizeof report;
    if (!CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, &report), SWL_STATUS_OK))
        return;
    CHECK(out.rank == 2 && out.shape[0] == BATCH && out.shape[1] == CLASSES);
    CHECK(all_finite(first, BATCH * CLASSES));
    CHECK(report.variant_index == 0);
    CHECK(report.wall_time_ms > 0.0 && report.wall_time_ms < 60e3);
    CHECK(report.flops >= (uint64_t)2 * BATCH * FEATURES * CLASSES);   /* at least one layer */
    CHECK(report.bytes_moved > 0);
    CHECK(report.sim_cycles == 0 && report.sim_energy_mj == 0.0);   /* not a simulated backend */
    CHECK(report.peak_activation_bytes > 0);
    CHECK(report.node_count > 0 && report.fallback_node_count == 0);

    /* Deterministic: the same call gives bit-identical logits. Report NULL is allowed. */
    out.data = second;
    CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, NULL), SWL_STATUS_OK);
    CHECK(memcmp(first, second, sizeof first) == 0);

    /* Matching by position (name NULL) is the same call. */
    swl_tensor in_by_position = in, out_by_position = out;
    in_by_position.name = NULL;
    out_by_position.name = NULL;
    memset(second, 0, sizeof second);
    CHECK_STATUS(swl_session_run(session, &in_by_position, 1, &out_by_position, 1, NULL),
                 SWL_STATUS_OK);
    CHECK(memcmp(first, second, sizeof first) == 0);

    /* Each image alone gives its row of the batch (to rounding: BLAS may block differently). */
    for (int64_t i = 0; i < BATCH; i++) {
        float row[CLASSES];
        swl_tensor one_in = input_tensor(pixels + i * FEATURES, 1), one_out = output_tensor(row, 1);
        CHECK_STATUS(swl_session_run(session, &one_in, 1, &one_out, 1, NULL), SWL_STATUS_OK);
        CHECK(nearly_equal(row, first + i * CLASSES, CLASSES));
    }

    /* A larger output buffer is fine: the shape says how much was written, the rest is untouched. */
    memset(out_memory, SENTINEL, sizeof out_memory);
    swl_tensor big_out = output_tensor(out_memory, BATCH);
    big_out.byte_size = sizeof out_memory;
    CHECK_STATUS(swl_session_run(session, &in, 1, &big_out, 1, NULL), SWL_STATUS_OK);
    CHECK(big_out.rank == 2 && big_out.shape[0] == BATCH && big_out.shape[1] == CLASSES);
    CHECK(memcmp(out_memory, first, sizeof first) == 0);
    CHECK(all_bytes_are(out_memory + BATCH * CLASSES, sizeof out_memory - sizeof first, SENTINEL));

    /* An older caller's shorter report: the library writes no more than struct_size bytes. */
    struct { swl_run_report report; unsigned char guard[32]; } short_report;
    memset(&short_report, 0xEE, sizeof short_report);
    short_report.report.struct_size = 16;   /* struct_size, variant_index, wall_time_ms */
    CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, &short_report.report), SWL_STATUS_OK);
    CHECK(short_report.report.wall_time_ms >= 0.0);   /* the guard bytes read as a negative double */
    CHECK(all_bytes_are((unsigned char*)&short_report + 16, sizeof short_report - 16, 0xEE));
}

/* ---- Ensembles ------------------------------------------------------------------------------------- */

static int first_largest(const float* row) {
    int best = 0;
    for (int c = 1; c < CLASSES; c++)
        if (row[c] > row[best])
            best = c;
    return best;
}

/* EMPIR over the MLP at fp32, int8 and MXFP4: the members' own scores come back as extra outputs,
 * the fp32 member equals the plain session, the combined row is one-hot at the plurality class
 * (the fp32 member's choice when all three disagree), and each member's time is reported. */
static void test_ensemble(swl_model* model, swl_session* plain) {
    section("ensembles");
    swl_ensemble_member members[3] = { { model, NULL }, { model, "int8" }, { model, "mxfp4" } };
    swl_options* options = NULL;
    swl_session* ensemble = NULL;
    if (!CHECK_STATUS(swl_options_create(&options), SWL_STATUS_OK) ||
        !CHECK_STATUS(swl_options_set_threads(options, 2), SWL_STATUS_OK) ||
        !CHECK_STATUS(swl_session_create_ensemble(members, 3, SWL_COMBINER_EMPIR, options, &ensemble),
                      SWL_STATUS_OK)) {
        swl_options_free(options);
        return;
    }
    swl_options_free(options);
    int32_t n_inputs = 0, n_outputs = 0;
    swl_tensor info;
    CHECK_STATUS(swl_session_io_count(ensemble, &n_inputs, &n_outputs), SWL_STATUS_OK);
    CHECK(n_inputs == 1 && n_outputs == 4);
    CHECK(swl_session_io_info(ensemble, 1, 2, &info) == SWL_STATUS_OK && strcmp(info.name, "logits/member1") == 0);

    float pixels[BATCH * FEATURES], scores[4][BATCH * CLASSES], expected[BATCH * CLASSES];
    fill_pixels(pixels, BATCH * FEATURES, 11);
    swl_tensor in = input_tensor(pixels, BATCH), out[4];
    const char* names[4] = { "logits", "logits/member0", "logits/member1", "logits/member2" };
    for (int i = 0; i < 4; i++) {
        out[i] = output_tensor(scores[i], BATCH);
        out[i].name = names[i];
    }
    swl_tensor plain_out = output_tensor(expected, BATCH);
    swl_run_report report = { .struct_size = sizeof report };
    if (CHECK_STATUS(swl_session_run(ensemble, &in, 1, out, 4, &report), SWL_STATUS_OK) &&
        CHECK_STATUS(swl_session_run(plain, &in, 1, &plain_out, 1, NULL), SWL_STATUS_OK)) {
        CHECK(nearly_equal(scores[1], expected, BATCH * CLASSES));
        for (int row = 0; row < BATCH; row++) {
            int votes[3], winner;
            for (int m = 0; m < 3; m++)
                votes[m] = first_largest(scores[1 + m] + row * CLASSES);
            winner = votes[1] == votes[2] ? votes[1] : votes[0];   /* 2 of 3 agree, else member 0 */
            for (int c = 0; c < CLASSES; c++)
                CHECK(scores[0][row * CLASSES + c] == (c == winner ? 1.0f : 0.0f));
        }
        CHECK(report.member_count == 3);
        for (int m = 0; m < 3; m++)
            CHECK(report.member_wall_time_ms[m] > 0.0 && report.member_wall_time_ms[m] <= report.wall_time_ms);
    }
    swl_session_free(ensemble);

    /* Bad members, counts, combiners and encodings. */
    swl_session* refused = NOT_NULL;
    CHECK_ERROR(swl_session_create_ensemble(NULL, 3, SWL_COMBINER_EMPIR, NULL, &refused),
                SWL_STATUS_INVALID_ARGUMENT, "members is NULL");
    CHECK(refused == NULL);
    CHECK_ERROR(swl_session_create_ensemble(members, 3, SWL_COMBINER_EMPIR, NULL, NULL),
                SWL_STATUS_INVALID_ARGUMENT, "out_session");
    CHECK_ERROR(swl_session_create_ensemble(members, 1, SWL_COMBINER_VOTE, NULL, &refused),
                SWL_STATUS_INVALID_ARGUMENT, "2 to 16");
    CHECK_ERROR(swl_session_create_ensemble(members, 3, (swl_combiner)0, NULL, &refused),
                SWL_STATUS_INVALID_ARGUMENT, "combiner 0");
    swl_ensemble_member bad_encoding[2] = { { model, NULL }, { model, "int3" } };
    CHECK_ERROR(swl_session_create_ensemble(bad_encoding, 2, SWL_COMBINER_MEAN, NULL, &refused),
                SWL_STATUS_INVALID_ARGUMENT, "members[1].encoding");
    swl_ensemble_member wrong_kind[2] = { { model, NULL }, { (const swl_model*)plain, NULL } };
    CHECK_ERROR(swl_session_create_ensemble(wrong_kind, 2, SWL_COMBINER_MEAN, NULL, &refused),
                SWL_STATUS_INVALID_ARGUMENT, "members[1].model is not a live swl_model");
    CHECK(refused == NULL);
}

/* ---- Backends and graph optimization agree ---------------------------------------------------------- */

/* The same batch on "cpu" and "reference", each with graph.optimize 1 and 0: all agree with the
 * optimized cpu run to float precision, no node falls back, and optimizing never adds nodes; on a
 * model with BatchNormalization (the CNN) it removes the ones it folds into Convs. */
static void test_backends_agree(swl_model* model, const char* label, bool folds_batchnorm) {
    printf("== backends agree: %s\n", label);
    fflush(stdout);
    static const struct { const char* backend; const char* optimize; } variants[] = {
        { "cpu", "1" }, { "reference", "1" }, { "cpu", "0" }, { "reference", "0" },
    };
    enum { VARIANTS = sizeof variants / sizeof variants[0] };
    float pixels[BATCH * FEATURES], logits[VARIANTS][BATCH * CLASSES];
    uint32_t nodes[VARIANTS];
    bool ran[VARIANTS] = { false };
    fill_pixels(pixels, BATCH * FEATURES, 4);
    for (size_t v = 0; v < VARIANTS; v++) {
        swl_session* session = make_session(model, variants[v].backend, variants[v].optimize);
        swl_tensor in;
        swl_run_report report = { .struct_size = sizeof report };
        swl_tensor out = output_tensor(logits[v], BATCH);
        /* The input's rank and shape come from the model: [batch,64] or [batch,1,8,8]. */
        if (session && CHECK_STATUS(swl_session_io_info(session, 0, 0, &in), SWL_STATUS_OK)) {
            in.shape[0] = BATCH;
            in.data = pixels;
            in.byte_size = sizeof pixels;
            ran[v] = CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, &report), SWL_STATUS_OK);
        }
        swl_session_free(session);
        if (!ran[v])
            continue;
        nodes[v] = report.node_count;
        CHECK(report.fallback_node_count == 0);
        if (v > 0 && ran[0] && !CHECK(nearly_equal(logits[0], logits[v], BATCH * CLASSES)))
            fprintf(stderr, "    %s: backend %s, graph.optimize %s differs from cpu, 1\n", label,
                    variants[v].backend, variants[v].optimize);
    }
    /* variants[v + 2] is variants[v] unoptimized. */
    for (size_t v = 0; v < 2; v++)
        if (ran[v] && ran[v + 2] && !CHECK(folds_batchnorm ? nodes[v + 2] > nodes[v]
                                                           : nodes[v + 2] >= nodes[v]))
            fprintf(stderr, "    %s, %s: %u nodes optimized, %u as stored\n", label,
                    variants[v].backend, nodes[v], nodes[v + 2]);
}

/* ---- Ownership: sessions keep their model alive --------------------------------------------------- */

static void test_ownership(const float* expected) {
    section("ownership");
    swl_model* model = NULL;
    if (!CHECK_STATUS(swl_model_load_file(mlp_path, &model), SWL_STATUS_OK))
        return;
    swl_session* session = make_session(model, "cpu", "1");
    swl_model_free(model);   /* the session holds its own reference */
    float pixels[BATCH * FEATURES], logits[BATCH * CLASSES];
    fill_pixels(pixels, BATCH * FEATURES, 3);
    swl_tensor in = input_tensor(pixels, BATCH), out = output_tensor(logits, BATCH);
    if (session && CHECK_STATUS(swl_session_run(session, &in, 1, &out, 1, NULL), SWL_STATUS_OK))
        CHECK(memcmp(logits, expected, sizeof logits) == 0);
    swl_session_free(session);
}

/* ---- Logging -------------------------------------------------------------------------------------- */

typedef struct log_capture {
    atomic_int messages;
    atomic_int below_min_level;   /* messages under the level asked for */
    atomic_int malformed;         /* NULL or empty message, or a level outside the enum */
    swl_log_level min_level;
} log_capture;

static void capture_log(swl_log_level level, const char* message, void* user_data) {
    log_capture* capture = user_data;
    atomic_fetch_add(&capture->messages, 1);
    if (level < capture->min_level)
        atomic_fetch_add(&capture->below_min_level, 1);
    if (!message || !message[0] || level < SWL_LOG_LEVEL_DEBUG || level > SWL_LOG_LEVEL_ERROR)
        atomic_fetch_add(&capture->malformed, 1);
}

/* `model` is the CNN: creating an optimized session folds its BatchNormalization nodes into the
 * Convs, which the library reports at DEBUG level. */
static void test_log_callback(swl_model* model) {
    section("log callback");
    log_capture capture = { .min_level = SWL_LOG_LEVEL_DEBUG };
    swl_set_log_callback(capture_log, &capture, SWL_LOG_LEVEL_DEBUG);
    swl_session_free(make_session(model, "cpu", "1"));
    CHECK(atomic_load(&capture.messages) > 0);
    CHECK(atomic_load(&capture.malformed) == 0);

    /* At ERROR only, an ordinary session creation logs nothing below ERROR. */
    capture.min_level = SWL_LOG_LEVEL_ERROR;
    swl_set_log_callback(capture_log, &capture, SWL_LOG_LEVEL_ERROR);
    swl_session_free(make_session(model, "cpu", "1"));
    CHECK(atomic_load(&capture.below_min_level) == 0);

    /* NULL restores the default: the callback is no longer called. */
    swl_set_log_callback(NULL, NULL, SWL_LOG_LEVEL_DEBUG);
    int before = atomic_load(&capture.messages);
    swl_session_free(make_session(model, "cpu", "1"));
    CHECK(atomic_load(&capture.messages) == before);
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MLP.swl CNN.swl\n", argv[0]);
        return 2;
    }
    mlp_path = argv[1];
    const char* cnn_path = argv[2];

    test_library();
    test_options();
    test_loading();

    swl_model* mlp = NULL;
    swl_model* cnn = NULL;
    swl_session* mlp_session = NULL;
    swl_session* cnn_session = NULL;
    if (CHECK_STATUS(swl_model_load_file(mlp_path, &mlp), SWL_STATUS_OK) &&
        CHECK_STATUS(swl_model_load_file(cnn_path, &cnn), SWL_STATUS_OK) &&
        (mlp_session = make_session(mlp, "cpu", "1")) != NULL &&
        (cnn_session = make_session(cnn, "cpu", "1")) != NULL) {
        test_null_arguments(mlp, mlp_session);
        test_wrong_handle_kinds(mlp, mlp_session);
        test_io_info(mlp_session, cnn_session);
        test_run_errors(mlp_session);
        test_run_results(mlp_session);
        test_ensemble(mlp, mlp_session);

        float pixels[BATCH * FEATURES], expected[BATCH * CLASSES];
        fill_pixels(pixels, BATCH * FEATURES, 3);
        swl_tensor in = input_tensor(pixels, BATCH), out = output_tensor(expected, BATCH);
        if (CHECK_STATUS(swl_session_run(mlp_session, &in, 1, &out, 1, NULL), SWL_STATUS_OK))
            test_ownership(expected);
        test_log_callback(cnn);
        test_backends_agree(mlp, "MLP", false);
        test_backends_agree(cnn, "CNN", true);
    }
    swl_session_free(cnn_session);
    swl_session_free(mlp_session);
    swl_model_free(cnn);
    swl_model_free(mlp);
    return harness_finish("c-api");
}
