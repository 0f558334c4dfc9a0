/* test_optim.c: AdamW, global-norm clipping, decay mask, skip-non-finite.
 *
 * Two hand-computed steps (numbers written out below), clipping on and off
 * and across parameters, the decay mask and its path-component matching,
 * and NaN/Inf injection: skipped steps leave params and state untouched,
 * do not advance the LR schedule, and the 6th consecutive non-finite step
 * is applied as optax's apply_if_finite applies it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train.h"

#include "check.h"

static TensorRef vec_param(const char *name, float *data, int n)
{
    return (TensorRef){.name = name, .ndim = 1, .shape = {n}, .data = data};
}

/* Peak 0.1 over 2 steps: warmup of one step, so LR 0 then LR 0.1 exactly. */
static Schedule two_step_schedule(void)
{
    Schedule s;
    char err[256];
    sched_init(&s, 0.1, 2, err, sizeof err);
    return s;
}

/* w = [1, -2], b = 0.5 (a scalar), g_w = [0.1, -0.2], g_b = 0.3, wd 0.01.
 * Norm sqrt(0.14) = 0.374 < 1: no clipping.
 * Step 1 (count 0, LR 0): params unchanged; m = 0.1 g = [0.01, -0.02], 0.03;
 *   v = 0.001 g^2 = [1e-5, 4e-5], 9e-5.
 * Step 2 (count 1, LR 0.1): m = 0.19 g, v = 0.001999 g^2; bias corrections
 *   1 - 0.81 = 0.19 and 1 - 0.998001 = 0.001999 give m^ = g, v^ = g^2, so
 *   u = g / (|g| + 1e-8) + 0.01 p:
 *   w0: 0.1/(0.1 + 1e-8) + 0.01 = 1.0099999     -> 1 - 0.1 * 1.0099999 = 0.89900001
 *   w1: -0.99999995 - 0.02 = -1.01999995        -> -2 + 0.101999995 = -1.898000005
 *   b:  0.99999997 + 0.005 = 1.00499997         -> 0.5 - 0.100499997 = 0.399500003 */
static void test_hand_step(void)
{
    float w[2] = {1, -2}, b = 0.5f, gw[2] = {0.1f, -0.2f}, gb = 0.3f;
    TensorRef params[2] = {vec_param("w", w, 2), {.name = "b", .ndim = 0, .data = &b}};
    const float *grads[2] = {gw, &gb};
    AdamWConfig cfg = adamw_defaults();
    cfg.weight_decay = 0.01;
    Schedule sched = two_step_schedule();
    AdamW *opt = adamw_new(params, 2, &cfg, &sched);
    CHECK(opt->offset[0] == 0 && opt->offset[1] == 2 && opt->offset[2] == 3);

    StepInfo s1 = adamw_step(opt, params, grads);
    CHECK(s1.applied && s1.finite && s1.lr == 0);
    CHECK_NEAR(s1.grad_norm, sqrt(0.14), 1e-7);
    CHECK(w[0] == 1 && w[1] == -2 && b == 0.5f);
    CHECK_NEAR(opt->m[0], 0.01, 1e-8);
    CHECK_NEAR(opt->m[1], -0.02, 1e-8);
    CHECK_NEAR(opt->m[2], 0.03, 1e-8);
    CHECK_NEAR(opt->v[0], 1e-5, 1e-11);
    CHECK_NEAR(opt->v[1], 4e-5, 1e-11);
    CHECK_NEAR(opt->v[2], 9e-5, 1e-11);
    CHECK(opt->count == 1);

    StepInfo s2 = adamw_step(opt, params, grads);
    CHECK(s2.applied && s2.lr == 0.1);
    CHECK_NEAR(w[0], 0.89900001, 1e-6);
    CHECK_NEAR(w[1], -1.898000005, 1e-6);
    CHECK_NEAR(b, 0.399500003, 1e-6);
    CHECK_NEAR(opt->m[0], 0.019, 1e-8);
    CHECK_NEAR(opt->v[2], 0.001999 * 0.09, 1e-10);
    CHECK(opt->count == 2);
    adamw_free(opt);
}

/* eps is added outside the square root: with g = 1e-8 on both steps,
 * m^ = 1e-8 and sqrt(v^) = 1e-8, so u = 1e-8 / (1e-8 + 1e-8) = 0.5 and
 * p = 0 - 0.1 * 0.5 = -0.05 (eps inside the root would give u ~ 1e-4). */
static void test_epsilon(void)
{
    float p = 0, g = 1e-8f;
    TensorRef params[1] = {vec_param("p", &p, 1)};
    const float *grads[1] = {&g};
    AdamWConfig cfg = adamw_defaults();
    Schedule sched = two_step_schedule();
    AdamW *opt = adamw_new(params, 1, &cfg, &sched);
    adamw_step(opt, params, grads);
    adamw_step(opt, params, grads);
    CHECK_NEAR(p, -0.05, 1e-6);
    adamw_free(opt);
}

/* The moments after one step show the gradient Adam saw: m = 0.1 g. */
static void first_moment_after_step(double clip, const float *g0, const float *g1, float m[2], double *norm)
{
    float p0 = 0, p1 = 0;
    TensorRef params[2] = {vec_param("a", &p0, 1), vec_param("b", &p1, 1)};
    const float *grads[2] = {g0, g1};
    AdamWConfig cfg = adamw_defaults();
    cfg.grad_clip = clip;
    Schedule sched = two_step_schedule();
    AdamW *opt = adamw_new(params, 2, &cfg, &sched);
    *norm = adamw_step(opt, params, grads).grad_norm;
    m[0] = opt->m[0];
    m[1] = opt->m[1];
    adamw_free(opt);
}

/* g = (3, 4) split over two parameters: global norm 5. Clipped to norm 1
 * the gradient is (0.6, 0.8), so m = (0.06, 0.08); unclipped m = (0.3, 0.4). */
static void test_clipping(void)
{
    float g0 = 3, g1 = 4, m[2];
    double norm;
    first_moment_after_step(1.0, &g0, &g1, m, &norm);
    CHECK_NEAR(norm, 5.0, 1e-12);
    CHECK_NEAR(m[0], 0.06, 1e-8);
    CHECK_NEAR(m[1], 0.08, 1e-8);
    first_moment_after_step(0.0, &g0, &g1, m, &norm);
    CHECK_NEAR(m[0], 0.3, 1e-7);
    CHECK_NEAR(m[1], 0.4, 1e-7);
    first_moment_after_step(10.0, &g0, &g1, m, &norm);   /* under the bound: kept */
    CHECK_NEAR(m[0], 0.3, 1e-7);
    float s0 = 0.3f, s1 = 0.4f;                          /* norm 0.5 < 1: kept */
    first_moment_after_step(1.0, &s0, &s1, m, &norm);
    CHECK_NEAR(m[0], 0.03, 1e-8);
}

/* Zero gradients: the update is wd * p only. With LR 0.1 and wd 0.01 a
 * decayed parameter goes 1 -> 1 - 0.1 * 0.01 = 0.999; an excluded one stays. */
static void test_decay_mask(void)
{
    float kernel = 1, scale = 1, bias = 1, normal = 1, zero[4] = {0};
    TensorRef params[4] = {vec_param("blk.kernel", &kernel, 1), vec_param("blk.norm.scale", &scale, 1),
                           vec_param("head/bias", &bias, 1), vec_param("blk.normal", &normal, 1)};
    const float *grads[4] = {zero, zero + 1, zero + 2, zero + 3};
    AdamWConfig cfg = adamw_defaults();
    cfg.weight_decay = 0.01;
    Schedule sched = two_step_schedule();
    AdamW *opt = adamw_new(params, 4, &cfg, &sched);
    for (int i = 0; i < 4; i++) CHECK(opt->decay[i]);   /* the reference decays everything */
    const char *no_decay[] = {"norm", "bias"};
    CHECK(adamw_exclude_from_decay(opt, params, no_decay, 2) == 2);
    CHECK(opt->decay[0] && !opt->decay[1] && !opt->decay[2] && opt->decay[3]);
    adamw_step(opt, params, grads);                       /* LR 0 */
    CHECK(kernel == 1 && scale == 1);
    adamw_step(opt, params, grads);
    CHECK_NEAR(kernel, 0.999, 1e-7);
    CHECK_NEAR(normal, 0.999, 1e-7);                      /* "normal" is not "norm" */
    CHECK(scale == 1 && bias == 1);
    adamw_free(opt);
}

typedef struct Probe {
    float p[2], g[2];
    TensorRef params[1];
    const float *grads[1];
    AdamW *opt;
} Probe;

static void probe_init(Probe *t, int max_skips)
{
    *t = (Probe){.p = {1, 2}, .g = {0.5f, -0.5f}};
    t->params[0] = vec_param("p", t->p, 2);
    t->grads[0] = t->g;
    AdamWConfig cfg = adamw_defaults();
    cfg.max_consecutive_skips = max_skips;
    Schedule sched = two_step_schedule();
    t->opt = adamw_new(t->params, 1, &cfg, &sched);
}

static StepInfo probe_step(Probe *t, float g0)
{
    t->g[0] = g0;
    return adamw_step(t->opt, t->params, t->grads);
}

/* A skipped step changes nothing but the skip counters, and the schedule
 * does not advance: the next finite step still runs at LR 0. */
static void test_skip_leaves_state(void)
{
    Probe t;
    probe_init(&t, 5);
    StepInfo s = probe_step(&t, NAN);
    CHECK(!s.finite && !s.applied && s.lr == 0);
    CHECK(t.p[0] == 1 && t.p[1] == 2);
    CHECK(t.opt->m[0] == 0 && t.opt->m[1] == 0 && t.opt->v[0] == 0 && t.opt->v[1] == 0);
    CHECK(t.opt->count == 0 && t.opt->notfinite_count == 1 && t.opt->total_notfinite == 1);
    CHECK(!t.opt->last_finite);
    s = probe_step(&t, INFINITY);
    CHECK(!s.applied && t.opt->notfinite_count == 2);
    s = probe_step(&t, 0.5f);
    CHECK(s.applied && s.finite && s.lr == 0);            /* count was still 0 */
    CHECK(t.opt->count == 1 && t.opt->notfinite_count == 0 && t.opt->total_notfinite == 2);
    CHECK(t.opt->last_finite);
    CHECK(t.p[0] == 1);                                   /* LR 0 */
    CHECK_NEAR(t.opt->m[0], 0.05, 1e-8);
    adamw_free(t.opt);
}

/* Five non-finite steps in a row are skipped; the sixth is applied and
 * poisons the parameters, as are the ones after it. */
static void test_sixth_consecutive_applied(void)
{
    Probe t;
    probe_init(&t, 5);
    probe_step(&t, 0.5f);
    probe_step(&t, 0.5f);
    float before[2] = {t.p[0], t.p[1]};
    for (int i = 1; i <= 5; i++) {
        StepInfo s = probe_step(&t, NAN);
        CHECK(!s.applied && t.opt->notfinite_count == i);
    }
    CHECK(memcmp(before, t.p, sizeof before) == 0 && t.opt->count == 2);
    StepInfo s = probe_step(&t, NAN);
    CHECK(s.applied && !s.finite && t.opt->notfinite_count == 6 && t.opt->count == 3);
    CHECK(isnan(t.p[0]) && isnan(t.p[1]) && isnan(t.opt->m[1]));
    s = probe_step(&t, NAN);
    CHECK(s.applied && t.opt->notfinite_count == 7 && t.opt->total_notfinite == 7);
    s = probe_step(&t, 0.5f);
    CHECK(s.applied && s.finite && t.opt->notfinite_count == 0 && t.opt->total_notfinite == 7);
    adamw_free(t.opt);
}

static void test_zero_skips_allowed(void)
{
    Probe t;
    probe_init(&t, 0);
    StepInfo s = probe_step(&t, NAN);
    CHECK(s.applied && t.opt->count == 1);
    adamw_free(t.opt);
}

int main(void)
{
    test_hand_step();
    test_epsilon();
    test_clipping();
    test_decay_mask();
    test_skip_leaves_state();
    test_sixth_consecutive_applied();
    test_zero_skips_allowed();
    if (failures) {
        fprintf(stderr, "test_optim: %d checks failed\n", failures);
        return 1;
    }
    printf("test_optim: ok\n");
    return 0;
}
