/* bench.c: `cssmc bench`, the time of a training step on several devices.
 *
 * The graph is compile_training's (the model, its softmax cross-entropy and
 * the backward pass), fed freshly initialised parameters, a standard-normal
 * input and one-hot targets. A step is what a trainer does per batch: one
 * exec_run (forward and backward) and reading the loss and every gradient
 * back to the host. Each device is set up (compile, plan, allocate) and
 * warmed up first; then the timed steps are interleaved across devices
 * (A, B, A, B, ...), so drifts in machine load or clock hit them alike, as
 * spec/performance.md §4 asks. It reports each device's median, p10 and p90
 * wall time, the ratio of every device's median to the last device's (the
 * reference, by default) with the spread of the per-step ratios, and the
 * runtime's counters over the timed steps: in steady state nothing compiles,
 * plans or allocates, and the command fails (exit 1) if something does.
 * --profile then times each step of the lowered program (exec_run_timed)
 * and lists the costliest by median, each as its -dL line. */
#include "driver.h"
#include "commands.h"
#include "exec.h"
#include "init.h"
#include "jit.h"
#include "kernel.h"
#include "rng.h"

#include <stdio.h>
#include <string.h>

static const char bench_usage[] =
    "usage: cssmc bench MODEL.cssm [-D name=value]... [-I dir]... [--batch N] [--model NAME]\n"
    "                   [--devices LIST] [--steps N] [--warmup N] [--profile N]\n"
    "Times one training step (forward, loss, backward, gradients read back) on each\n"
    "device, interleaving the timed steps, and prints medians and ratios.\n"
    "  --devices LIST   comma-separated, the last one the baseline (default cpu,ref)\n"
    "  --steps N        timed steps per device (default 5)\n"
    "  --warmup N       untimed steps per device first (default 1)\n"
    "  --profile N      then time every kernel and FFT of each fused device over as many\n"
    "                   runs as --steps and list the N costliest, with the bandwidth their\n"
    "                   buffers' bytes (read and written once) imply\n";

typedef struct Bench {
    Device d;
    Exec *e;
    double setup_ms, first_ms, *ms;
    uint64_t steady;         /* compiles, plans and bytes allocated during timed steps */
} Bench;

typedef struct Feeds {
    float **params, *x, *targets, *scratch;
} Feeds;

static double now_ms(void) { return 1e3 * monotonic_seconds(); }

static int64_t floats_of(Graph *g, int node)
{
    return shape_numel(&node_at(g, node)->shape) * (node_at(g, node)->dtype == DT_C64 ? 2 : 1);
}

static Feeds make_feeds(Graph *g)
{
    Feeds f = {.params = xcalloc((size_t)g->params.len + 1, sizeof(float *))};
    double **values = xcalloc((size_t)g->params.len + 1, sizeof(double *));
    init_params(g, 0, values);
    int64_t most = 1;
    for (int p = 0; p < g->params.len; p++) {
        int64_t n = floats_of(g, g->params.data[p].node);
        f.params[p] = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
        for (int64_t i = 0; i < n; i++) f.params[p][i] = (float)values[p][i];
        most = MAX(most, n);
        free(values[p]);
    }
    free(values);
    Rng r = rng_new(1);
    int x = g->inputs.data[0].node, t = -1;
    for (int i = 0; i < g->inputs.len; i++)
        if (!strcmp(g->inputs.data[i].name, "targets")) t = g->inputs.data[i].node;
    f.x = xmalloc(sizeof(float) * (size_t)floats_of(g, x));
    for (int64_t i = 0; i < floats_of(g, x); i++) f.x[i] = (float)rng_normal(&r);
    const Shape *ts = &node_at(g, t)->shape;
    f.targets = xcalloc((size_t)shape_numel(ts), sizeof(float));
    for (int64_t b = 0; b < ts->size[0]; b++) f.targets[b * ts->size[1] + (int64_t)rng_below(&r, (uint64_t)ts->size[1])] = 1;
    f.scratch = xmalloc(sizeof(float) * (size_t)most);
    return f;
}

static void feed(Exec *e, Graph *g, const Feeds *f)
{
    float one = 1;
    for (int p = 0; p < g->params.len; p++) exec_set(e, g->params.data[p].node, f->params[p]);
    for (int i = 0; i < g->inputs.len; i++) {
        int node = g->inputs.data[i].node;
        exec_set(e, node, node == g->loss_seed ? &one : !strcmp(g->inputs.data[i].name, "targets") ? f->targets : f->x);
    }
}

static void train_step(Exec *e, Graph *g, const Feeds *f)
{
    float loss;
    exec_run(e);
    exec_get(e, g->output, &loss);
    for (int p = 0; p < g->grads.len; p++)
        if (g->grads.data[p] >= 0) exec_get(e, g->grads.data[p], f->scratch);
}

static uint64_t steady_work(void)
{
    return cssm_counter_get(CSSM_CTR_HOST_COMPILES) + cssm_counter_get(CSSM_CTR_NVRTC_COMPILES) +
           cssm_counter_get(CSSM_CTR_FFT_PLANS) + cssm_counter_get(CSSM_CTR_BYTES_ALLOCATED);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0 <= q <= 1) of n values, by nearest rank. */
static double quantile(const double *v, int n, double q)
{
    double *s = xmalloc(sizeof(double) * (size_t)n);
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double x = s[(int)(q * (n - 1) + 0.5)];
    free(s);
    return x;
}

static bool parse_devices(const char *list, Bench *b, int *n)
{
    char *copy = xstrdup(list), *save;
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == 3 || !device_parse(t, &b[*n].d)) {
            fprintf(stderr, "cssmc bench: error: --devices expects up to 3 of ref, cpu, cuda, got '%s'\n", list);
            free(copy);
            return false;
        }
        (*n)++;
    }
    free(copy);
    return *n > 0;
}

static bool set_up(Bench *b, Graph *g, const Feeds *f, int warmup, int steps)
{
    char err[4096];
    double t0 = now_ms();
    b->e = exec_new(g, b->d, false, err, sizeof err);
    if (!b->e) {
        fprintf(stderr, "cssmc bench: error: %s\n", err);
        return false;
    }
    feed(b->e, g, f);
    double t1 = now_ms();
    train_step(b->e, g, f);
    b->setup_ms = t1 - t0, b->first_ms = now_ms() - t1;
    for (int i = 1; i < warmup; i++) train_step(b->e, g, f);
    b->ms = xcalloc((size_t)steps, sizeof(double));
    return true;
}

static void report(Bench *b, int n, int steps)
{
    for (int i = 0; i < n; i++)
        printf("device %-4s median %10.2f ms  p10 %10.2f  p90 %10.2f  (setup %.0f ms, first step %.0f ms)\n",
               device_name(b[i].d), quantile(b[i].ms, steps, 0.5), quantile(b[i].ms, steps, 0.1),
               quantile(b[i].ms, steps, 0.9), b[i].setup_ms, b[i].first_ms);
    Bench *base = &b[n - 1];
    double *ratio = xmalloc(sizeof(double) * (size_t)steps);
    for (int i = 0; i + 1 < n; i++) {
        for (int s = 0; s < steps; s++) ratio[s] = b[i].ms[s] / base->ms[s];
        double med = quantile(b[i].ms, steps, 0.5) / quantile(base->ms, steps, 0.5);
        printf("ratio %s/%s: %.4f (per-step ratios %.4f to %.4f): %s takes %.1f%% of %s's time, %.1fx faster\n",
               device_name(b[i].d), device_name(base->d), med, quantile(ratio, steps, 0), quantile(ratio, steps, 1),
               device_name(b[i].d), 100 * med, device_name(base->d), 1 / med);
    }
    free(ratio);
}

typedef struct StepCost {
    double ms;               /* median over the profiled runs */
    int step;
} StepCost;

static int costliest_first(const void *a, const void *b)
{
    double x = ((const StepCost *)a)->ms, y = ((const StepCost *)b)->ms;
    return (x < y) - (x > y);
}

/* Median time of every step over `runs` timed runs, the costliest `top` printed. */
static void profile(const Bench *b, int runs, int top)
{
    const Lowered *p = exec_program(b->e);
    if (!p) return;
    int n = p->steps.len;
    double *ms = xcalloc((size_t)n * (size_t)runs + 1, sizeof(double)), *column = xcalloc((size_t)runs, sizeof(double));
    StepCost *cost = xcalloc((size_t)n + 1, sizeof *cost);
    double total = 0;
    exec_run(b->e);   /* untimed: the other devices' steps have let the OpenMP threads sleep */
    for (int r = 0; r < runs; r++) exec_run_timed(b->e, ms + (size_t)r * (size_t)n);
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < runs; r++) column[r] = ms[(size_t)r * (size_t)n + (size_t)i];
        cost[i] = (StepCost){quantile(column, runs, 0.5), i};
        total += cost[i].ms;
    }
    qsort(cost, (size_t)n, sizeof *cost, costliest_first);
    printf("\nprofile %s: %d steps, their medians sum to %.2f ms over %d runs; the costliest:\n", device_name(b->d), n,
           total, runs);
    printf("%9s %6s %9s  step\n", "ms", "share", "GB/s");
    for (int k = 0; k < MIN(top, n); k++) {
        const StepCost *c = &cost[k];
        printf("%9.3f %5.1f%% %9.2f  ", c->ms, total > 0 ? 100 * c->ms / total : 0,
               c->ms > 0 ? (double)step_bytes(p, c->step) / (c->ms * 1e6) : 0);
        print_step(stdout, p, c->step);
    }
    free(ms), free(column), free(cost);
}

int cmd_bench(int argc, char **argv)
{
    const char *devices = take_value(&argc, argv, "--devices"), *steps_s = take_value(&argc, argv, "--steps");
    const char *warm_s = take_value(&argc, argv, "--warmup"), *profile_s = take_value(&argc, argv, "--profile");
    Options o;
    int rc = parse_options(argc, argv, OPT_MODEL | OPT_BLOCK, bench_usage, &o);
    if (rc) return rc < 0 ? 0 : rc;
    int steps = steps_s ? atoi(steps_s) : 5, warmup = warm_s ? atoi(warm_s) : 1, top = profile_s ? atoi(profile_s) : 0, n;
    Bench b[3] = {0};
    if (steps < 1 || warmup < 1 || (profile_s && top < 1)) {
        fprintf(stderr, "cssmc bench: error: --steps, --warmup and --profile expect positive integers\n");
        return 2;
    }
    if (!parse_devices(devices ? devices : "cpu,ref", b, &n)) return 2;
    Graph *g = compile_training(&o);
    if (!g) return 1;
    Feeds f = make_feeds(g);
    for (int i = 0; i < n; i++)
        if (!set_up(&b[i], g, &f, warmup, steps)) return 1;
    printf("bench %s: training step (forward, loss, backward), batch %lld, %d timed steps per device after %d warm-up, "
           "interleaved\n", o.model_path, (long long)node_at(g, g->inputs.data[0].node)->shape.size[0], steps, warmup);
    for (int s = 0; s < steps; s++)
        for (int i = 0; i < n; i++) {
            uint64_t before = steady_work();
            double t0 = now_ms();
            train_step(b[i].e, g, &f);
            b[i].ms[s] = now_ms() - t0;
            b[i].steady += steady_work() - before;
        }
    report(b, n, steps);
    for (int i = 0; i < n && top; i++) profile(&b[i], steps, top);
    uint64_t steady = 0;
    for (int i = 0; i < n; i++) steady += b[i].steady, exec_free(b[i].e), free(b[i].ms);
    printf("steady state: %s\n", steady ? "FAILED: timed steps compiled, planned or allocated" :
                                          "no compiles, FFT plans or allocations during timed steps");
    graph_free(g);
    return steady ? 1 : 0;
}
