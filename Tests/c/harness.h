/*
 * harness.h -- the smallest test harness that does the job: CHECK records a failure with file:line
 * and swl_last_error() and carries on, so one run reports every broken expectation; harness_finish
 * prints the summary line CI parses ("c-api: 57 passed, 0 failed") and gives the exit status.
 * The counters are atomic because the concurrency test checks from several threads.
 */
#ifndef SWIFTLET_TEST_HARNESS_H
#define SWIFTLET_TEST_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <swiftlet.h>

static atomic_int harness_passed;
static atomic_int harness_failed;

static inline bool harness_check(bool ok, const char* expr, const char* file, int line) {
    if (ok) {
        atomic_fetch_add(&harness_passed, 1);
    } else {
        atomic_fetch_add(&harness_failed, 1);
        fprintf(stderr, "%s:%d: FAILED: %s\n    swl_last_error(): \"%s\"\n", file, line, expr,
                swl_last_error());
    }
    return ok;
}

/* Checks a status and, for an expected failure, that swl_last_error() says something and (when
 * `mention` is not NULL) names the culprit, as the header promises. */
static inline bool harness_check_status(swl_status got, swl_status want, const char* mention,
                                        const char* expr, const char* file, int line) {
    const char* message = swl_last_error();
    bool ok = got == want;
    if (ok && want != SWL_STATUS_OK)
        ok = message[0] != '\0' && (!mention || strstr(message, mention));
    if (ok) {
        atomic_fetch_add(&harness_passed, 1);
    } else {
        atomic_fetch_add(&harness_failed, 1);
        fprintf(stderr, "%s:%d: FAILED: %s\n    got %s, want %s", file, line, expr,
                swl_status_name(got), swl_status_name(want));
        if (mention)
            fprintf(stderr, " with a message naming \"%s\"", mention);
        fprintf(stderr, "\n    swl_last_error(): \"%s\"\n", message);
    }
    return ok;
}

#define CHECK(cond) harness_check((cond), #cond, __FILE__, __LINE__)
/* CHECK_STATUS(call, SWL_STATUS_...): the call returns that status (and explains a failure). */
#define CHECK_STATUS(call, want) harness_check_status((call), (want), NULL, #call, __FILE__, __LINE__)
/* CHECK_ERROR(call, SWL_STATUS_..., "word"): as CHECK_STATUS, and swl_last_error() contains word. */
#define CHECK_ERROR(call, want, mention) \
    harness_check_status((call), (want), (mention), #call, __FILE__, __LINE__)

/* Prints the summary line and returns the process exit status. */
static inline int harness_finish(const char* suite) {
    int passed = atomic_load(&harness_passed), failed = atomic_load(&harness_failed);
    printf("%s: %d passed, %d failed\n", suite, passed, failed);
    return failed == 0 ? 0 : 1;
}

#endif
