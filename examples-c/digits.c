/*
 * digits.c -- classify the scikit-learn 8x8 digits test set with libswiftlet.
 *
 *     digits MODEL.swl X.npy Y.npy
 *
 * X.npy holds float32 images [N, 64] (or [N, 1, 8, 8]), Y.npy their int64 labels [N]. The program
 * runs the whole set as one batch, prints the accuracy and the run report, then times single-image
 * runs. It works with any model whose one input is F32 [batch, ...] and whose first output is F32
 * logits [batch, classes]: the input's shape comes from the model (swl_session_io_info), so the same
 * binary runs both bundled models (digits_mlp.swl takes [batch, 64], digits_cnn.swl
 * [batch, 1, 8, 8]).
 *
 * This file is meant to be copied. Everything a real program needs is here: every swl_status is
 * checked, failures print swl_status_name() and swl_last_error(), and every resource is released on
 * every path through one cleanup label.
 *
 * Build:  cc -std=c11 -O2 digits.c $(pkg-config --cflags --libs swiftlet) -o digits
 */
#define _POSIX_C_SOURCE 200809L  /* clock_gettime under -std=c11 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <swiftlet.h>

enum {
    WARMUP_RUNS  = 20,   /* first runs touch cold caches and grow the activation arena */
    LATENCY_RUNS = 200,
};

/* ---- A small .npy reader ---------------------------------------------------------------------
 * The format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor version byte, the
 * header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), then the header:
 * a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (360, 64), }
 * padded with spaces and ended by '\n', and then the raw array bytes, nothing after them.
 * Only what this program needs is accepted: C order and one exact dtype; anything else is
 * rejected with a message rather than misread. */

#define NPY_MAX_RANK   SWL_MAX_RANK
#define NPY_MAX_HEADER (1u << 20)   /* numpy headers are tiny; refuse to allocate for nonsense */

typedef struct npy_array {
    int32_t rank;
    int64_t shape[NPY_MAX_RANK];
    size_t  count;   /* elements: the product of shape (1 for a scalar) */
    void*   data;    /* count x element size bytes, malloc'd; release with free() */
} npy_array;

/* Prints "digits: PATH: <message>" to stderr and returns false, so callers can `return npy_fail(...)`. */
static bool npy_fail(const char* path, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "digits: %s: ", path);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    return false;
}

/* A cursor over the header text; the parse functions advance `p` and never read past `end`. */
typedef struct npy_cursor {
    const char* p;
    const char* end;
} npy_cursor;

static void npy_skip_space(npy_cursor* c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes `ch` (after optional spaces); false if the next character is something else. */
static bool npy_accept(npy_cursor* c, char ch) {
    npy_skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted Python string without escapes ('descr' values and keys never need them). Copies at
 * most cap-1 characters into out; false if the string is malformed or too long. */
static bool npy_parse_string(npy_cursor* c, char* out, size_t cap) {
    npy_skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= cap)
            return false;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return false;   /* no closing quote */
    c->p++;
    out[n] = '\0';
    return true;
}

/* Python's True or False. */
static bool npy_parse_bool(npy_cursor* c, bool* out) {
    npy_skip_space(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *out = true;
        return true;
    }
    if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *out = false;
        return true;
    }
    return false;
}

/* A tuple of non-negative integers: "()", "(360,)", "(360, 64)"; a trailing comma is allowed. */
static bool npy_parse_shape(npy_cursor* c, npy_array* a) {
    if (!npy_accept(c, '('))
        return false;
    a->rank = 0;
    for (;;) {
        if (npy_accept(c, ')'))
            return true;
        if (a->rank == NPY_MAX_RANK)
            return false;
        npy_skip_space(c);
        int64_t dim = 0;
        const char* digits_start = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (dim > (INT64_MAX - 9) / 10)
                return false;   /* would overflow */
            dim = dim * 10 + (*c->p++ - '0');
        }
        if (c->p == digits_start)
            return false;       /* not a number (numpy never writes negative sizes) */
        a->shape[a->rank++] = dim;
        if (!npy_accept(c, ',')) {
            return npy_accept(c, ')');
        }
    }
}


/* Reads exactly n bytes; false on a short read (truncated file) or an I/O error. */
static bool read_exact(FILE* f, void* buf, size_t n) {
    return fread(buf, 1, n, f) == n;
}

/* Parses the header dict into a (rank, shape); checks descr and fortran_order. Keys may come in
 * any order, each exactly once; numpy writes no others. */
static bool npy_parse_header(const char* path, const char* text, size_t len, const char* want_descr,
                             npy_array* a) {
    npy_cursor c = { text, text + len };
    bool seen_descr = false, seen_order = false, seen_shape = false;
    if (!npy_accept(&c, '{'))
        return npy_fail(path, "header is not a dict");
    while (!npy_accept(&c, '}')) {
        char key[32];
        if (!npy_parse_string(&c, key, sizeof key) || !npy_accept(&c, ':'))
            return npy_fail(path, "malformed header (expected 'key': value)");
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            char descr[32];
            if (!npy_parse_string(&c, descr, sizeof descr))
                return npy_fail(path, "'descr' is not a simple dtype string");
            if (strcmp(descr, want_descr) != 0)
                return npy_fail(path, "dtype '%s' where '%s' is required (save it with "
                                "arr.astype(...) first)", descr, want_descr);
            seen_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !seen_order) {
            bool fortran;
            if (!npy_parse_bool(&c, &fortran))
                return npy_fail(path, "'fortran_order' is not True or False");
            if (fortran)
                return npy_fail(path, "Fortran-ordered arrays are not supported "
                                "(save numpy.ascontiguousarray(arr))");
            seen_order = true;
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            if (!npy_parse_shape(&c, a))
                return npy_fail(path, "'shape' is not a tuple of at most %d sizes", NPY_MAX_RANK);
            seen_shape = true;
        } else {
            return npy_fail(path, "unexpected or repeated header key '%s'", key);
        }
        /* Entries are separated by commas; the last one may have one too. */
        if (!npy_accept(&c, ',')) {
            if (!npy_accept(&c, '}'))
                return npy_fail(path, "malformed header (expected ',' or '}')");
            break;
        }
    }
    npy_skip_space(&c);   /* the padding and the final '\n' */
    if (c.p != c.end)
        return npy_fail(path, "unexpected text after the header dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return npy_fail(path, "header lacks 'descr', 'fortran_order' or 'shape'");
    return true;
}

/* Loads the .npy file at `path` into *out, requiring dtype `want_descr` (e.g. "<f4") whose elements
 * are `elem_size` bytes. On failure prints why and returns false; *out then owns nothing. */
static bool npy_load(const char* path, const char* want_descr, size_t elem_size, npy_array* out) {
    memset(out, 0, sizeof *out);
    bool ok = false;
    char* header = NULL;
    FILE* f = fopen(path, "rb");
    if (!f)
        return npy_fail(path, "cannot open: %s", strerror(errno));

    /* Preamble: 6 magic bytes, major, minor, then a 2- or 4-byte little-endian header length. */
    unsigned char pre[12];
    if (!read_exact(f, pre, 8) || memcmp(pre, "\x93NUMPY", 6) != 0) {
        npy_fail(path, "not a .npy file (no \\x93NUMPY magic)");
        goto cleanup;
    }
    unsigned major = pre[6], minor = pre[7];
    size_t len_bytes = major == 1 ? 2 : 4;
    if (!((major >= 1 && major <= 3) && minor == 0)) {
        npy_fail(path, "unsupported .npy version %u.%u (1.0, 2.0 and 3.0 are known)", major, minor);
        goto cleanup;
    }
    if (!read_exact(f, pre + 8, len_bytes)) {
        npy_fail(path, "file ends inside the preamble");
        goto cleanup;
    }
    size_t header_len = 0;
    for (size_t i = 0; i < len_bytes; i++)
        header_len |= (size_t)pre[8 + i] << (8 * i);
    if (header_len > NPY_MAX_HEADER) {
        npy_fail(path, "header length %zu is implausible", header_len);
        goto cleanup;
    }

    header = malloc(header_len + 1);
    if (!header) {
        npy_fail(path, "out of memory");
        goto cleanup;
    }
    if (!read_exact(f, header, header_len)) {
        npy_fail(path, "file ends inside the header");
        goto cleanup;
    }
    header[header_len] = '\0';
    if (!npy_parse_header(path, header, header_len, want_descr, out))
        goto cleanup;

    /* Element count, refusing sizes whose byte count would not fit in size_t. */
    size_t count = 1;
    for (int32_t i = 0; i < out->rank; i++) {
        uint64_t dim = (uint64_t)out->shape[i];
        if (dim != 0 && count > SIZE_MAX / elem_size / dim) {
            npy_fail(path, "shape is too large");
            goto cleanup;
        }
        count *= (size_t)dim;
    }
    size_t data_bytes = count * elem_size;

    /* The data must be exactly the rest of the file: shorter means truncated, longer means the
     * header lies or this is not what it claims to be. Check before allocating. */
    long data_offset = ftell(f), file_size;
    if (data_offset < 0 || fseek(f, 0, SEEK_END) != 0 || (file_size = ftell(f)) < 0 ||
        fseek(f, data_offset, SEEK_SET) != 0) {
        npy_fail(path, "cannot determine the file size: %s", strerror(errno));
        goto cleanup;
    }
    if ((uint64_t)(file_size - data_offset) != (uint64_t)data_bytes) {
        npy_fail(path, "the header announces %zu data bytes but the file holds %ld",
                 data_bytes, file_size - data_offset);
        goto cleanup;
    }

    /* malloc(0) may return NULL; an empty array still gets a valid pointer. */
    out->data = malloc(data_bytes ? data_bytes : 1);
    if (!out->data) {
        npy_fail(path, "out of memory for %zu bytes", data_bytes);
        goto cleanup;
    }
    if (!read_exact(f, out->data, data_bytes)) {
        npy_fail(path, "read error: %s", strerror(errno));
        goto cleanup;
    }
    out->count = count;
    ok = true;

cleanup:
    if (!ok) {
        free(out->data);
        memset(out, 0, sizeof *out);
    }
    free(header);
    fclose(f);
    return ok;
}

/* ---- libswiftlet helpers --------------------------------------------------------------------- */

/* Every fallible swl_* function returns a swl_status; on failure swl_last_error() (per thread) says
 * what went wrong, naming the argument, tensor or node at fault. */
static bool swl_ok(swl_status status, const char* what) {
    if (status == SWL_STATUS_OK)
        return true;
    fprintf(stderr, "digits: %s failed: %s: %s\n", what, swl_status_name(status), swl_last_error());
    return false;
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_doubles(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n > 0 sorted values: the smallest value with at least p% of the values
 * at or below it (rank = ceil(p/100 * n), in integers). */
static double percentile(const double* sorted, size_t n, unsigned p) {
    size_t rank = (p * n + 99) / 100;
    return sorted[rank > 0 ? rank - 1 : 0];
}

static const char* base_name(const char* path) {
    const char* slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.swl X.npy Y.npy\n"
                        "  X.npy: float32 images [N, ...], Y.npy: int64 labels [N]\n",
                argc > 0 ? argv[0] : "digits");
        return 2;
    }
    const char* model_path = argv[1];

    /* Everything that needs releasing starts out empty, so one cleanup block serves every path. */
    int exit_code = 1;
    npy_array x = {0}, y = {0};
    swl_model*   model   = NULL;
    swl_options* options = NULL;
    swl_session* session = NULL;
    float*       logits  = NULL;
    double       latency_us[LATENCY_RUNS];

    if (!npy_load(argv[2], "<f4", sizeof(float), &x) ||
        !npy_load(argv[3], "<i8", sizeof(int64_t), &y))
        goto cleanup;

    /* Load and validate the model file (it is memory-mapped, not copied). */
    if (!swl_ok(swl_model_load_file(model_path, &model), "loading the model"))
        goto cleanup;

    /* Session options: the "cpu" backend (the default, spelled out here) on one thread, which gives
     * the steadiest single-image latency on a busy machine. */
    if (!swl_ok(swl_options_create(&options), "creating options") ||
        !swl_ok(swl_options_set_backend(options, "cpu"), "choosing the backend") ||
        !swl_ok(swl_options_set_threads(options, 1), "setting the thread count"))
        goto cleanup;
    if (!swl_ok(swl_session_create(model, options, &session), "creating the session"))
        goto cleanup;
    /* The session holds its own reference to the model and no longer needs the options, so both
     * can go now. (Setting them to NULL keeps the cleanup block's frees harmless.) */
    swl_options_free(options);
    options = NULL;
    swl_model_free(model);
    model = NULL;

    /* Ask the model what it expects instead of hard-coding it: input 0 is F32 [batch, ...] where
     * the batch is dynamic (-1) and the rest is fixed; output 0 is F32 logits [batch, classes]. */
    swl_tensor in_info, out_info;
    if (!swl_ok(swl_session_io_info(session, 0, 0, &in_info), "describing input 0") ||
        !swl_ok(swl_session_io_info(session, 1, 0, &out_info), "describing output 0"))
        goto cleanup;
    bool input_fits = in_info.dtype == SWL_DTYPE_F32 && in_info.rank >= 2 && in_info.shape[0] == -1;
    size_t per_image = 1;   /* values per image: the product of the fixed dimensions */
    for (int32_t i = 1; input_fits && i < in_info.rank; i++) {
        if (in_info.shape[i] > 0)
            per_image *= (size_t)in_info.shape[i];
        else
            input_fits = false;
    }
    if (!input_fits) {
        fprintf(stderr, "digits: %s: input '%s' is not F32 [batch, fixed sizes...]\n",
                model_path, in_info.name);
        goto cleanup;
    }
    if (out_info.dtype != SWL_DTYPE_F32 || out_info.rank != 2 || out_info.shape[0] != -1 ||
        out_info.shape[1] <= 0) {
        fprintf(stderr, "digits: %s: output '%s' is not F32 [batch, classes]\n",
                model_path, out_info.name);
        goto cleanup;
    }
    size_t classes = (size_t)out_info.shape[1];

    /* The data must agree with the model: N images of per_image floats (however X is shaped) and
     * N labels. */
    size_t n = x.rank >= 1 ? (size_t)x.shape[0] : 0;
    if (x.rank < 2 || n == 0 || x.count != n * per_image) {
        fprintf(stderr, "digits: %s: expected [N, ...] with %zu values per image and N > 0\n",
                argv[2], per_image);
        goto cleanup;
    }
    if (y.rank != 1 || (size_t)y.shape[0] != n) {
        fprintf(stderr, "digits: %s: expected %zu labels, shape [%zu]\n", argv[3], n, n);
        goto cleanup;
    }

    logits = malloc(n * classes * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "digits: out of memory\n");
        goto cleanup;
    }

    /* The whole test set as one batch. swl_tensor is a view of our memory: the library reads the
     * input during the call and writes the output in place; it allocates nothing we must free. */
    swl_tensor input = { .name = in_info.name, .dtype = SWL_DTYPE_F32, .rank = in_info.rank,
                         .data = x.data, .byte_size = n * per_image * sizeof(float) };
    memcpy(input.shape, in_info.shape, sizeof input.shape);
    input.shape[0] = (int64_t)n;   /* bind the dynamic batch dimension */
    swl_tensor output = { .name = out_info.name, .dtype = SWL_DTYPE_F32, .rank = 2,
                          .shape = { (int64_t)n, (int64_t)classes }, .data = logits,
                          .byte_size = n * classes * sizeof *logits };
    /* struct_size tells the library how much of the report this program knows about. The first
     * run with a new input shape also plans the graph for it (plans are cached), so the batch runs
     * twice and the report is the second, steady-state run's. */
    swl_run_report report = { .struct_size = sizeof report };
    for (int run = 0; run < 2; run++)
        if (!swl_ok(swl_session_run(session, &input, 1, &output, 1, &report), "running the test set"))
            goto cleanup;

    /* The prediction is the class with the largest logit. */
    const int64_t* labels = y.data;
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        const float* row = logits + i * classes;
        size_t best = 0;
        for (size_t k = 1; k < classes; k++)
            if (row[k] > row[best])
                best = k;
        correct += (int64_t)best == labels[i];
    }
    printf("%s: accuracy %.2f%% (%zu/%zu), batch of %zu in %.2f ms, %.1f MFLOP, "
           "peak activations %" PRIu64 " KiB, %" PRIu32 " nodes (%" PRIu32 " on fallback)\n",
           base_name(model_path), 100.0 * (double)correct / (double)n, correct, n, n,
           report.wall_time_ms, (double)report.flops / 1e6,
           (report.peak_activation_bytes + 1023) / 1024, report.node_count,
           report.fallback_node_count);

    /* Single-image latency: the same input and output views with a batch of 1, cycling through the
     * test images. The report is optional (NULL) when the numbers are not wanted. */
    input.shape[0] = 1;
    input.byte_size = per_image * sizeof(float);
    output.shape[0] = 1;
    output.byte_size = classes * sizeof *logits;
    for (int run = 0; run < WARMUP_RUNS + LATENCY_RUNS; run++) {
        input.data = (float*)x.data + (size_t)run % n * per_image;
        double start = now_us();
        swl_status st = swl_session_run(session, &input, 1, &output, 1, NULL);
        double elapsed = now_us() - start;
        if (!swl_ok(st, "running one image"))
            goto cleanup;
        if (run >= WARMUP_RUNS)
            latency_us[run - WARMUP_RUNS] = elapsed;
    }
    qsort(latency_us, LATENCY_RUNS, sizeof latency_us[0], compare_doubles);
    printf("%s: latency of one image over %d runs: p50 %.1f us, p90 %.1f us, p99 %.1f us\n",
           base_name(model_path), LATENCY_RUNS, percentile(latency_us, LATENCY_RUNS, 50),
           percentile(latency_us, LATENCY_RUNS, 90), percentile(latency_us, LATENCY_RUNS, 99));
    exit_code = 0;

cleanup:
    /* Every free is NULL-safe, so this runs the same whatever was created before a failure. */
    free(logits);
    swl_session_free(session);
    swl_options_free(options);
    swl_model_free(model);
    free(y.data);
    free(x.data);
    return exit_code;
}
