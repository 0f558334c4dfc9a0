/* ref_testing.h: what the reference-executor unit tests share.
 *
 * Small graphs are built by hand from shape strings ("B=2,T=3"; "" is a
 * scalar), fed with values that f32 represents exactly (so f32 and f64 runs
 * start from the same numbers), run in either precision, and compared with
 * an expected array. CHECK counts failures; a test's main returns
 * test_status(), which is 1 when any check failed. */
#ifndef CSSM_REF_TESTING_H
#define CSSM_REF_TESTING_H

#include "ref.h"
#include "rng.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int test_failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            test_failures++;                                                \
            fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__);   \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

static inline int test_status(const char *name)
{
    if (test_failures) fprintf(stderr, "%s: %d checks failed\n", name, test_failures);
    else printf("%s: ok\n", name);
    return test_failures ? 1 : 0;
}

/* "H=2,W/2+1=3" -> labelled shape; "" -> scalar. */
static inline Shape shp(const char *spec)
{
    Shape s = {0};
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq || s.rank == MAX_RANK) abort();
        s.label[s.rank] = intern_n(p, (size_t)(eq - p));
        s.size[s.rank++] = strtoll(eq + 1, (char **)&p, 10);
        if (*p == ',') p++;
    }
    return s;
}

static inline int leaf(Graph *g, DType dt, const char *spec)
{
    Shape s = shp(spec);
    Attr a = {.index = g->inputs.len};
    return ir_add(g, IR_INPUT, dt, &s, NULL, 0, &a, (Loc){0});
}

/* A node with operands given as a -1-terminated list. */
static inline int node(Graph *g, OpCode op, DType dt, const char *spec, Attr a, ...)
{
    int in[16], n = 0;
    va_list ap;
    va_start(ap, a);
    for (int x; (x = va_arg(ap, int)) >= 0;) in[n++] = x;
    va_end(ap);
    Shape s = shp(spec);
    return ir_add(g, op, dt, &s, in, n, &a, (Loc){0});
}

static inline int64_t doubles_of(Graph *g, int id)
{
    const Node *n = node_at(g, id);
    return shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1);
}

/* Standard normal values rounded to f32, so both precisions see them exactly. */
static inline double *random_values(int64_t n, uint64_t seed)
{
    Rng r = rng_new(seed);
    double *v = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = (float)rng_normal(&r);
    return v;
}

/* Runs g with the given leaves fed and returns a fresh copy of node `out`. */
static inline double *run_graph(Graph *g, bool f64, int nfeed, const int *leaves, double *const *values,
                                int out)
{
    RefExec *r = ref_new(g, f64);
    for (int i = 0; i < nfeed; i++) ref_set(r, leaves[i], values[i]);
    ref_run(r);
    double *v = xmalloc(sizeof(double) * (size_t)doubles_of(g, out));
    ref_get(r, out, v);
    ref_free(r);
    return v;
}

/* max |got - want| / max(1, max |want|) */
static inline double rel_err(const double *got, const double *want, int64_t n)
{
    double err = 0, scale = 1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (got[i] == want[i] || (isnan(got[i]) && isnan(want[i]))) d = 0;
        else if (isnan(d)) d = INFINITY;
        err = fmax(err, d);
        if (isfinite(want[i])) scale = fmax(scale, fabs(want[i]));
    }
    return err / scale;
}

static inline double tolerance(bool f64) { return f64 ? 1e-12 : 2e-6; }

static inline void check_close(const char *what, bool f64, const double *got, const double *want, int64_t n,
                        double tol)
{
    double e = rel_err(got, want, n);
    CHECK(e <= tol, "%s (%s): relative error %.3g > %.3g", what, f64 ? "f64" : "f32", e, tol);
    if (e > tol)
        for (int64_t i = 0; i < n && i < 12; i++) fprintf(stderr, "    [%lld] got %.9g want %.9g\n",
                                                      (long long)i, got[i], want[i]);
}

/* Runs fn(arg) in a child and reports whether it stopped with an internal
 * error (abort), as ice does. */
static inline bool dies_with_ice(void (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        fn(arg);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

#endif
