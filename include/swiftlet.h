/*
 * swiftlet.h -- the C API of libswiftlet, an inference runtime for compressed neural networks.
 *
 * A complete program (error handling shortened; examples-c/digits.c is the full version):
 *
 *     swl_model* model = NULL;
 *     if (swl_model_load_file("models/digits_mlp.swl", &model) != SWL_STATUS_OK) {
 *         fprintf(stderr, "load: %s\n", swl_last_error());
 *         return 1;
 *     }
 *     swl_session* session = NULL;
 *     swl_status st = swl_session_create(model, NULL, &session);   // NULL options: "cpu", auto threads
 *     swl_model_free(model);                                        // the session keeps its own reference
 *     float pixels[64] = {0}, logits[10];
 *     swl_tensor in  = { .name = "input",  .dtype = SWL_DTYPE_F32, .rank = 2, .shape = {1, 64},
 *                        .data = pixels, .byte_size = sizeof pixels };
 *     swl_tensor out = { .name = "logits", .dtype = SWL_DTYPE_F32, .rank = 2, .shape = {1, 10},
 *                        .data = logits, .byte_size = sizeof logits };
 *     swl_run_report report = { .struct_size = sizeof report };
 *     st = swl_session_run(session, &in, 1, &out, 1, &report);
 *     swl_session_free(session);
 *
 * Conventions
 *   - Every symbol is prefixed swl_ / SWL_. Naming: swl_<object>_<verb>[_<noun>], create/free pairs.
 *   - Fallible functions return swl_status (0 == SWL_STATUS_OK) and write results through out_*
 *     parameters (the last parameters). On failure *out_* is set to NULL (when out_ itself is not
 *     NULL) and swl_last_error() explains why, naming the argument, tensor or node at fault.
 *   - No function traps, aborts or exits on caller data: every pointer, rank, size, dtype and name is
 *     checked before use. Passing a pointer that is not NULL yet not what the function expects
 *     (freed memory, a random address) is undefined behaviour; a handle of the wrong kind (a session
 *     where a model is expected) or an already-freed handle is detected on a best-effort basis
 *     and answered with SWL_STATUS_INVALID_ARGUMENT.
 *   - Ownership: every swl_*_create / swl_model_load_* result is owned by the caller and released
 *     with the matching swl_*_free (NULL-safe, like free(3)). Returned const char* are owned by the
 *     library; each function says how long they stay valid. The library never frees caller memory.
 *   - Buffers: tensor data is always caller memory. Inputs are only read during the call and never
 *     retained. Outputs are written in place (no library-owned output buffers to leak).
 *   - Threading: swl_model is immutable and may be shared freely between threads and sessions.
 *     swl_session_run may be called concurrently on one session. swl_options is a single-threaded
 *     builder. A *_free must not race with any other call on the same object.
 *   - ABI: SWL_ABI_VERSION == SONAME major (libswiftlet.so.1). Within one ABI version functions are
 *     only added, enum values are never renumbered or reused, and swl_run_report only grows at its
 *     end.
 */
#ifndef SWIFTLET_H
#define SWIFTLET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define SWL_API       __attribute__((visibility("default")))
#  define SWL_NODISCARD __attribute__((warn_unused_result))
#else
#  define SWL_API
#  define SWL_NODISCARD
#endif

#define SWL_ABI_VERSION 1
#define SWL_MAX_RANK    8
#define SWL_MAX_ENSEMBLE_MEMBERS 16

/* ---- Opaque handles ------------------------------------------------------------------------- */

typedef struct swl_model   swl_model;    /* a loaded, validated model; immutable                 */
typedef struct swl_options swl_options;  /* session options builder                              */
typedef struct swl_session swl_session;  /* a model bound to a backend, ready to run             */

/* ---- Enums (values are part of the ABI) ------------------------------------------------------ */

/* New codes may be added in a minor release: treat any unknown non-zero value as failure. */
typedef enum swl_status {
    SWL_STATUS_OK               = 0,
    SWL_STATUS_INVALID_ARGUMENT = 1,  /* NULL where not allowed, bad rank/dtype/size/shape        */
    SWL_STATUS_NOT_FOUND        = 2,  /* file, backend, option key, tensor name, index            */
    SWL_STATUS_INVALID_MODEL    = 3,  /* the model file failed parsing or validation              */
    SWL_STATUS_BUFFER_TOO_SMALL = 4,  /* an output's capacity is too small; required shape written */
    SWL_STATUS_UNSUPPORTED      = 5,  /* op/dtype not supported by any backend                    */
    SWL_STATUS_BACKEND_FAILURE  = 6,  /* a backend failed while running (out of memory, ...)      */
    SWL_STATUS_INTERNAL         = 99  /* a bug in libswiftlet: please report it with the message  */
} swl_status;

typedef enum swl_dtype {
    SWL_DTYPE_F32 = 1,
    SWL_DTYPE_F16 = 2,
    SWL_DTYPE_I8  = 3,
    SWL_DTYPE_I32 = 4,
    SWL_DTYPE_I64 = 5
} swl_dtype;

typedef enum swl_log_level {
    SWL_LOG_LEVEL_DEBUG = 0,
    SWL_LOG_LEVEL_INFO  = 1,
    SWL_LOG_LEVEL_WARN  = 2,
    SWL_LOG_LEVEL_ERROR = 3
} swl_log_level;

/* How an ensemble combines its members' class scores, row by row (each row of the scored output's
 * last axis holds one sample's class scores, read as logits). A row in which any member has a NaN
 * comes out all NaN. */
typedef enum swl_combiner {
    SWL_COMBINER_MEAN  = 1,  /* mean over members of softmax(row): probabilities                */
    SWL_COMBINER_VOTE  = 2,  /* plurality of the members' argmax (first largest); a tie goes to
                                the lowest class index; the row is one-hot (1 at the winner)     */
    SWL_COMBINER_EMPIR = 3   /* EMPIR: plurality; when the top count is shared (three members:
                                all disagree), members[0] decides, taking the tied class it
                                scores highest; one-hot                                           */
} swl_combiner;

/* ---- Plain structs --------------------------------------------------------------------------- */

/* A non-owning view of caller memory. The shape is a fixed array so that outputs can report their
 * real shape without allocation and Python's ctypes needs no second pointer. */
typedef struct swl_tensor {
    const char* name;                 /* NULL => matched by position (array index)               */
    swl_dtype   dtype;
    int32_t     rank;                 /* 0..SWL_MAX_RANK                                         */
    int64_t     shape[SWL_MAX_RANK];  /* outputs: overwritten with the produced shape            */
    void*       data;                 /* inputs: read during the call only; outputs: written      */
    size_t      byte_size;            /* inputs: exactly the bytes of dtype x shape;
                                         outputs: capacity in bytes (may exceed what is written) */
} swl_tensor;

/* Per-run report. The caller sets struct_size = sizeof(swl_run_report); the library writes at most
 * struct_size bytes, so callers compiled against an older, shorter struct keep working. */
typedef struct swl_run_report {
    uint32_t struct_size;
    uint32_t variant_index;           /* variant that actually ran (0 until variants arrive)      */
    double   wall_time_ms;            /* the whole run, inputs checked to outputs written        */
    uint64_t flops;                   /* floating-point operations of the nodes that ran         */
    uint64_t bytes_moved;             /* bytes read and written by the nodes' kernels            */
    uint64_t sim_cycles;              /* simulated backends only, else 0                         */
    double   sim_energy_mj;           /* simulated backends only, else 0 (millijoules)           */
    uint64_t peak_activation_bytes;   /* size of the activation arena this run's plan used       */
    uint32_t node_count;              /* nodes executed (after graph optimization)               */
    uint32_t fallback_node_count;     /* nodes the requested backend left to the cpu backend     */
    /* Ensembles only (else member_count 0): each member's own run time, in member order. For an
     * ensemble, wall_time_ms is the whole run and flops, bytes_moved, sim_cycles, sim_energy_mj,
     * peak_activation_bytes, node_count and fallback_node_count are the members' sums. */
    uint32_t member_count;
    double   member_wall_time_ms[SWL_MAX_ENSEMBLE_MEMBERS];
} swl_run_report;

/* One member of an ensemble (swl_session_create_ensemble). */
typedef struct swl_ensemble_member {
    const swl_model* model;           /* borrowed for the call; the ensemble keeps its own reference */
    const char*      encoding;        /* NULL or "" or "fp32": the model as stored; "int8",
                                         "mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e2m3", "mxfp6-e3m2",
                                         "mxfp4", "mxint8": its linear layers re-encoded in memory
                                         (as `swiftlet compress --quantize` would) when the ensemble
                                         is created                                           */
} swl_ensemble_member;

/* level is one of swl_log_level; message is valid only during the call. May be called from any
 * thread, concurrently: the callback must be thread-safe. */
typedef void (*swl_log_fn)(swl_log_level level, const char* message, void* user_data);

/* ---- Library --------------------------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH"; static storage. Thread-safe. */
SWL_API const char* swl_version(void);
/* The SWL_ABI_VERSION the library was built with; compare with the header's. Thread-safe. */
SWL_API uint32_t    swl_abi_version(void);
/* This thread's last failure message, "" if no call on this thread has failed yet. Valid until the
 * next failing swl_* call on the same thread. Never NULL. */
SWL_API const char* swl_last_error(void);
/* "SWL_STATUS_NOT_FOUND" etc.; "SWL_STATUS_UNKNOWN" for a value this version does not know.
 * Static storage; thread-safe. */
SWL_API const char* swl_status_name(swl_status status);
/* Routes the library's log messages at min_level and above to fn. fn == NULL restores the default
 * (WARN and above to stderr). Thread-safe. A message being delivered on another thread while the
 * callback is replaced may still reach the previous callback: keep the previous user_data valid
 * until such concurrent calls have returned. */
SWL_API void        swl_set_log_callback(swl_log_fn fn, void* user_data, swl_log_level min_level);

/* ---- Backends -------------------------------------------------------------------------------- */

/* Number of backends compiled into the library. Thread-safe. */
SWL_API int32_t     swl_backend_count(void);
/* Name of backend `index` ("cpu", "reference", ...); static storage; NULL if index is out of
 * range. "cpu" is OpenBLAS plus Swiftlet's kernels; "reference" is the plain, slow, obviously
 * correct implementation every other backend is tested against. Thread-safe. */
SWL_API const char* swl_backend_name(int32_t index);

/* ---- Models ---------------------------------------------------------------------------------- */

/* Opens and validates a .swl file (docs/FORMAT.md), or an ONNX file (recognized by its content and
 * imported in memory; its external data is read only from the file's folder). A .swl file is
 * memory-mapped, not copied; it may be deleted or renamed afterwards, but must not be modified in
 * place while the model or a session made from it lives. Errors: INVALID_ARGUMENT (NULL path or
 * out_model; a path that is not a readable regular file, e.g. a directory), NOT_FOUND (no such
 * file), INVALID_MODEL (any validation failure; the message names the tensor, node or field),
 * UNSUPPORTED (an ONNX op, attribute or opset the importer cannot map; the message names the
 * node, op and opset). Thread-safe. */
SWL_API SWL_NODISCARD swl_status swl_model_load_file(const char* path, swl_model** out_model);
/* As swl_model_load_file, from memory (an ONNX model here may not use external data). data is
 * copied: the caller may free it as soon as this returns. data may be NULL only if size is 0
 * (which then fails with INVALID_MODEL). */
SWL_API SWL_NODISCARD swl_status swl_model_load_memory(const void* data, size_t size,
                                                       swl_model** out_model);
/* NULL-safe. Sessions hold their own reference, so a model may be freed right after
 * swl_session_create. Must not race with other calls on the same model handle. */
SWL_API void        swl_model_free(swl_model* model);

/* ---- Session options ------------------------------------------------------------------------- */

/* A builder with the defaults: backend "cpu", threads 0 (auto), graph optimization on.
 * Single-threaded: do not use one options object from two threads at once. */
SWL_API SWL_NODISCARD swl_status swl_options_create(swl_options** out_options);
/* NOT_FOUND if no backend has that name (see swl_backend_name). */
SWL_API SWL_NODISCARD swl_status swl_options_set_backend(swl_options* options, const char* backend_name);
/* n_threads >= 0; 0 = one per core. The cpu backend's kernels split a node's work over up to this
 * many threads (small products and the reference kernels stay on one). The cpu backend keeps
 * OpenBLAS single-threaded for the whole process (openblas_set_num_threads(1)), so sessions with
 * different counts do not affect each other. The threads come from one process-wide pool whose
 * workers spin up to 0.5 ms after each split before sleeping (SWIFTLET_THREAD_SPIN_US in the
 * environment sets that; 0 disables spinning); they live until the process ends, so a program
 * must not dlclose the library after running a session with n_threads > 1. A forked child gets
 * fresh workers. INVALID_ARGUMENT if n_threads < 0. */
SWL_API SWL_NODISCARD swl_status swl_options_set_threads(swl_options* options, int32_t n_threads);
/* String settings. Known keys:
 *   "graph.optimize"  "1" (default) folds BatchNormalization into Conv and the like; "0" runs the
 *                     graph exactly as stored.
 *   "threads"         same as swl_options_set_threads.
 *   "backend"         same as swl_options_set_backend.
 * NOT_FOUND for an unknown key, INVALID_ARGUMENT for a value the key does not accept. */
SWL_API SWL_NODISCARD swl_status swl_options_set(swl_options* options, const char* key, const char* value);
/* NULL-safe; may be freed right after swl_session_create. */
SWL_API void        swl_options_free(swl_options* options);

/* ---- Sessions -------------------------------------------------------------------------------- */

/* Binds model to a backend. options may be NULL (defaults). Every node goes to the requested
 * backend when it supports it and to "cpu" otherwise (swl_run_report.fallback_node_count). The
 * session keeps the model alive. Errors: INVALID_ARGUMENT (NULL model or out_session, or a handle
 * of the wrong kind), UNSUPPORTED (a node no backend can run). Thread-safe. */
SWL_API SWL_NODISCARD swl_status swl_session_create(swl_model* model, const swl_options* options,
                                                    swl_session** out_session);
/* An ensemble (EMPIR: one network at several precisions voting) as one session. The members take
 * the same inputs (names, dtypes, ranks) and their first output -- the scored output -- is F32 class
 * scores with the same name and rank in every member (no dimension fixed to two different sizes). members[0] is the reference member (the
 * full-precision one for EMPIR): it breaks EMPIR's ties and supplies every other output.
 *   Outputs: members[0]'s outputs, the scored one holding the combined scores (see swl_combiner),
 *            then one per member, "<scored name>/member<i>", holding member i's own scores.
 *   Runs:    with options' threads other than 1, members run at the same time, one thread each;
 *            with threads 1, one after another. swl_run_report gives each member's time. Either
 *            way the members' sessions have one thread each.
 * The session is used like any other (io_info, run, free) and is as thread-safe. The models are
 * only borrowed: they may be freed right after this returns.
 * Errors: INVALID_ARGUMENT (NULL members or out_session, n_members outside 2..
 * SWL_MAX_ENSEMBLE_MEMBERS, an unknown combiner or encoding, a member model handle that is not
 * live, members whose inputs or scored outputs differ, a scored output that is not F32),
 * UNSUPPORTED (a node no backend can run). Messages name the member. Thread-safe. */
SWL_API SWL_NODISCARD swl_status swl_session_create_ensemble(const swl_ensemble_member* members,
                                                             size_t n_members, swl_combiner combiner,
                                                             const swl_options* options,
                                                             swl_session** out_session);
/* Number of graph inputs and outputs. Either out pointer may be NULL if not wanted. */
SWL_API SWL_NODISCARD swl_status swl_session_io_count(const swl_session* session,
                                                      int32_t* out_n_inputs, int32_t* out_n_outputs);
/* Describes input (is_output == 0) or output (is_output != 0) `index`: name (valid while the
 * session lives), dtype, rank, shape (-1 for a dynamic dimension); data = NULL; byte_size = bytes
 * for a fully static shape, else 0. NOT_FOUND if index is out of range. Thread-safe. */
SWL_API SWL_NODISCARD swl_status swl_session_io_info(const swl_session* session, int32_t is_output,
                                                     int32_t index, swl_tensor* out_info);
/* Runs the model. Thread-safe: may be called concurrently on one session (each call gets its own
 * activation memory).
 *   inputs:  exactly one per graph input, each matched by name or, when name is NULL, by position;
 *            dtype, rank and shape must fit the graph input (dynamic dimensions bind to the sizes
 *            given, consistently across inputs), byte_size must equal dtype x shape, and data
 *            must be aligned to the element size (NULL only when byte_size is 0). Every dim is at
 *            most 2^31-1 and the product of max(dim, 1) at most 2^48, also for empty tensors.
 *   outputs: at most one per graph output, matched the same way; each is filled with the output's
 *            shape and data. Outputs the caller does not ask for are computed and dropped. To
 *            learn output shapes before allocating, pass data = NULL and byte_size = 0: the call
 *            answers BUFFER_TOO_SMALL with the shapes filled in, without running the model.
 *   report:  may be NULL; otherwise report->struct_size must be set (see swl_run_report; at
 *            least 4, the size of struct_size itself).
 * Errors: INVALID_ARGUMENT (NULL/size/dtype/shape/alignment problems, unknown or duplicate names,
 * an index out of range in a Gather), NOT_FOUND (a name the graph does not have),
 * BUFFER_TOO_SMALL (then the required rank and shape are written into every outputs[i].rank and
 * .shape and nothing else is modified), INVALID_MODEL (the model computes an output whose dtype
 * or shape contradicts its declaration), BACKEND_FAILURE. On any failure no output data is
 * written. */
SWL_API SWL_NODISCARD swl_status swl_session_run(swl_session* session,
                                                 const swl_tensor* inputs, size_t n_inputs,
                                                 swl_tensor* outputs, size_t n_outputs,
                                                 swl_run_report* report);
/* NULL-safe. Must not race with a swl_session_run on the same session. */
SWL_API void        swl_session_free(swl_session* session);

#ifdef __cplusplus
}
#endif

#endif /* SWIFTLET_H */
