/* test_sched.c: the warmup-cosine learning-rate schedule.
 *
 * Values at chosen steps against the closed form of spec/training.md §1.5,
 * worked out by hand below (peak 1e-3, end 1e-5), and the edge cases: one
 * step (no warmup, the step runs at the peak), two steps (warmup of one:
 * LR 0 then the peak), a run shorter than the 500-step warmup cap, and a
 * run with no steps (refused). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train.h"

#include "check.h"

/* Relative tolerance: the closed form in double, rounding only. */
#define CHECK_LR(s, step, want)                                                       \
    do {                                                                              \
        double got_ = lr_at(s, step), want_ = (want);                                 \
        if (!(fabs(got_ - want_) <= 1e-12 * fmax(fabs(want_), 1e-12))) {              \
            fprintf(stderr, "%s:%d: lr_at(%lld) = %.17g, expected %.17g\n", __FILE__, \
                    __LINE__, (long long)(step), got_, want_);                        \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static Schedule make(double peak, int64_t total)
{
    Schedule s;
    char err[256];
    if (sched_init(&s, peak, total, err, sizeof err) != 0) {
        fprintf(stderr, "sched_init(%g, %lld) failed: %s\n", peak, (long long)total, err);
        failures++;
    }
    return s;
}

/* total 10000: warmup W = 500, decay over D - W = 9500 steps. */
static void test_long_run(void)
{
    Schedule s = make(1e-3, 10000);
    CHECK(s.warmup == 500);
    CHECK_LR(&s, 0, 0.0);                  /* the first update runs at LR 0 */
    CHECK_LR(&s, 1, 2e-6);                 /* 1e-3 * 1/500 */
    CHECK_LR(&s, 250, 5e-4);               /* half way up */
    CHECK_LR(&s, 499, 0.998e-3);
    CHECK_LR(&s, 500, 1e-3);               /* cos(0) = 1: the peak */
    CHECK_LR(&s, 2875, 0.855017856687341e-3); /* quarter: 1e-5 + 0.99e-3 (1 + cos(pi/4)) / 2 */
    CHECK_LR(&s, 5250, 0.505e-3);          /* half: cos(pi/2) = 0 -> 1e-5 + 0.99e-3 / 2 */
    CHECK_LR(&s, 10000, 1e-5);             /* cos(pi) = -1: 1% of peak */
    CHECK_LR(&s, 20000, 1e-5);             /* constant after the end */
    CHECK_LR(&s, -3, 0.0);
    for (int64_t t = 1; t < 500; t++) CHECK(lr_at(&s, t) > lr_at(&s, t - 1));
    for (int64_t t = 501; t <= 10000; t++) CHECK(lr_at(&s, t) < lr_at(&s, t - 1));
}

static void test_one_step(void)
{
    Schedule s = make(0.1, 1);
    CHECK(s.warmup == 0);
    CHECK_LR(&s, 0, 0.1);
    CHECK_LR(&s, 1, 0.001);
}

static void test_two_steps(void)
{
    Schedule s = make(0.1, 2);
    CHECK(s.warmup == 1);
    CHECK_LR(&s, 0, 0.0);
    CHECK_LR(&s, 1, 0.1);
    CHECK_LR(&s, 2, 0.001);
}

/* Fewer steps than the warmup cap: W = total - 1, so the peak is reached at
 * the last step and the cosine has a single step to fall. */
static void test_short_run(void)
{
    Schedule s = make(2e-3, 300);
    CHECK(s.warmup == 299);
    CHECK_LR(&s, 150, 2e-3 * 150 / 299);
    CHECK_LR(&s, 299, 2e-3);
    CHECK_LR(&s, 300, 2e-5);
}

static void test_no_steps(void)
{
    Schedule s;
    char err[256] = "";
    CHECK(sched_init(&s, 1e-3, 0, err, sizeof err) == -1);
    CHECK(strstr(err, "no steps") != NULL);
    CHECK(sched_init(&s, 1e-3, -5, err, sizeof err) == -1);
}

int main(void)
{
    test_long_run();
    test_one_step();
    test_two_steps();
    test_short_run();
    test_no_steps();
    if (failures) {
        fprintf(stderr, "test_sched: %d checks failed\n", failures);
        return 1;
    }
    printf("test_sched: ok\n");
    return 0;
}
