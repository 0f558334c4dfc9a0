/* check.h: the assertion macros the unit tests share.
 *
 * CHECK(cond) and CHECK_NEAR(got, want, tol) report the failed condition with
 * its file and line and count it; a test's main ends with
 * `return failures ? 1 : 0;` (or check_status), so one run reports every
 * failing check, not just the first. */
#ifndef CSSM_TEST_CHECK_H
#define CSSM_TEST_CHECK_H

#include <math.h>
#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                                    \
    do {                                                                              \
        double got_ = (got), want_ = (want);                                          \
        if (!(fabs(got_ - want_) <= (tol))) {                                         \
            fprintf(stderr, "%s:%d: %s = %.12g, expected %.12g\n", __FILE__, __LINE__, \
                    #got, got_, want_);                                               \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#endif
