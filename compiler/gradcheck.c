/* gradcheck.c: the commands that execute a model: `run` (one forward pass
 * on any device) and `gradcheck` (autodiff against central differences, in
 * f64 on the reference executor, and a fused device against the reference).
 *
 * gradcheck draws the parameters with their initialisers, a standard-normal
 * input and a standard-normal output cotangent w, so the checked loss is
 * L = <y, w>. For each parameter tensor it compares the autodiff gradient
 * with fourth-order central differences of L along e_i, refined from a step
 * of 1e-2 times the tensor's rms value (numeric_derivative),
 * over a sample of its entries and
 * reports the relative error max|a - n| / max(max|a|, max|n|); it fails
 * (exit 1) when any exceeds the tolerance, or when too many entries sit next
 * to non-smooth points for the comparison to mean anything.
 *
 * With --device cpu or cuda (the default is the fastest device present),
 * gradcheck also runs the differentiated graph on that device and on the
 * reference executor, both in f32 on the same values, and compares the
 * output, every gradient and every probe by the same relative error (tolerance
 * --device-tol, default 1e-5). --entries 0 skips the finite differences.
 * --stats prints the runtime's counters, including those of a second device
 * run, where nothing may compile or plan. */
#include "driver.h"
#include "commands.h"
#include "exec.h"
#include "formats.h"
#include "jit.h"
#include "init.h"
#include "ref.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values of every parameter and every input; seed is the output cotangent
 * (the input d_output), one of inputs. */
typedef struct Feed {
    double **params;
    double **inputs;
    const double *seed;
} Feed;

static int64_t numel_of(Graph *g, int node)
{
    return shape_numel(&node_at(g, node)->shape) * (node_at(g, node)->dtype == DT_C64 ? 2 : 1);
}

static double *random_normal(int64_t n, Rng *r)
{
    double *v = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = rng_normal(r);
    return v;
}

/* Standard-normal values for every input, but U[0, 1) for the random
 * inputs ("rng.*") of a training-mode graph, as the trainer feeds them. */
static double **random_inputs(Graph *g, Rng *r)
{
    double **v = xcalloc((size_t)g->inputs.len, sizeof(double *));
    for (int i = 0; i < g->inputs.len; i++) {
        int64_t n = numel_of(g, g->inputs.data[i].node);
        if (!input_is_random(&g->inputs.data[i])) {
            v[i] = random_normal(n, r);
            continue;
        }
        v[i] = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int64_t j = 0; j < n; j++) v[i][j] = rng_uniform(r);
    }
    return v;
}

static void feed_all(RefExec *rx, Graph *g, Feed *f)
{
    for (int p = 0; p < g->params.len; p++) ref_set(rx, g->params.data[p].node, f->params[p]);
    for (int i = 0; i < g->inputs.len; i++) ref_set(rx, g->inputs.data[i].node, f->inputs[i]);
}

/* The rounding level of the loss in f64: 64 ulps of sum |y_i w_i| (the FFTs,
 * scans and reductions before the output round too). */
static double loss_noise(Graph *g, Feed *f, const double *out)
{
    double mag = 0;
    for (int64_t i = 0; i < numel_of(g, g->output); i++) mag += fabs(out[i] * f->seed[i]);
    return 64 * 2.2e-16 * mag;
}

static double loss_of(RefExec *rx, Graph *g, Feed *f, double *out)
{
    feed_all(rx, g, f);
    ref_run(rx);
    int64_t n = numel_of(g, g->output);
    ref_get(rx, g->output, out);
    double l = 0;
    for (int64_t i = 0; i < n; i++) l += out[i] * f->seed[i];
    return l;
}

/* One finite-difference check in progress: the executor and the values
 * it runs on, the loss's rounding level, and the tally so far. */
typedef struct Checker {
    RefExec *rx;
    Graph *g;
    Feed *f;
    Rng r;
    int entries;            /* per tensor */
    double noise;
    double *scratch;        /* the output */
    double worst;
    int checked, compared, kinks;
} Checker;

/* Fourth-order central difference of L along entry i of v (a parameter or
 * the input, in c->f). */
static double central_difference(Checker *c, double *v, int64_t i, double h)
{
    static const double step[4] = {-2, -1, 1, 2};
    double keep = v[i], l[4];
    for (int k = 0; k < 4; k++) {
        v[i] = keep + step[k] * h;
        l[k] = loss_of(c->rx, c->g, c->f, c->scratch);
    }
    v[i] = keep;
    return (8 * (l[2] - l[1]) - (l[3] - l[0])) / (12 * h);
}

typedef struct TensorCheck {
    double error;       /* relative error over the entries compared */
    int compared, kinks;
} TensorCheck;

/* The derivative along one entry, from fourth-order differences at steps
 * h and h/8 (and h/64 when those two disagree), taking the one with the
 * smallest estimated error: truncation from the gap to the next finer step
 * (the finest borrows the gap above divided by 8^4), rounding as
 * 1.5 * noise / step, noise being the loss's f64 rounding level. When even the
 * best estimate's truncation part is large (above 1e-3 of the value beyond
 * what rounding explains) the entry sits next to a non-smooth point (a max
 * or relu switching inside the stencil), where differences mean nothing: it
 * returns false. The choice never looks at the autodiff value. */
static bool numeric_derivative(Checker *c, double *v, int64_t i, double h, double *out)
{
    double d[3], err[3], rounding[3];
    int levels = 2;
    for (int k = 0; k < levels; k++, h /= 8) {
        d[k] = central_difference(c, v, i, h);
        err[k] = rounding[k] = 1.5 * c->noise / h;
        if (k == 1 && fabs(d[0] - d[1]) > 1e-3 * fabs(d[1]) + 4 * rounding[1]) levels = 3;
    }
    for (int k = 0; k + 1 < levels; k++) err[k] += fabs(d[k] - d[k + 1]);
    err[levels - 1] += fabs(d[levels - 2] - d[levels - 1]) / 4096;
    int best = 0;
    for (int k = 1; k < levels; k++)
        if (err[k] < err[best]) best = k;
    *out = d[best];
    return err[best] - rounding[best] <= 1e-3 * fabs(d[best]) + 4 * rounding[best];
}

/* Checks the gradient of one tensor v[0..n) over a sample of its entries. */
static TensorCheck check_values(Checker *c, double *v, int64_t n, const double *grad)
{
    double max_diff = 0, max_a = 0, max_n = 0, rms = 0;
    int count = n < c->entries ? (int)n : c->entries;
    for (int64_t i = 0; i < n; i++) rms += v[i] * v[i];
    double h = 1e-2 * fmax(sqrt(rms / (double)(n ? n : 1)), 1e-2);
    TensorCheck pc = {0};
    for (int s = 0; s < count; s++) {
        int64_t i = n <= c->entries ? s : (int64_t)rng_below(&c->r, (uint64_t)n);
        double num;
        if (!numeric_derivative(c, v, i, h, &num)) {
            pc.kinks++;
            continue;
        }
        max_diff = fmax(max_diff, fabs(num - grad[i]));
        max_a = fmax(max_a, fabs(grad[i]));
        max_n = fmax(max_n, fabs(num));
        pc.compared++;
    }
    double scale = fmax(max_a, max_n);
    pc.error = scale > 0 ? max_diff / scale : 0;
    return pc;
}

static const char gradcheck_usage[] =
    "usage: cssmc gradcheck MODEL.cssm [-D name=value]... [-I dir]... [--block NAME] [--seed N]\n"
    "                       [--batch N] [--entries N] [--tol X]\n"
    "Compares autodiff gradients with central differences in f64 on the reference\n"
    "executor, for random inputs and parameters. Prints each parameter's relative\n"
    "error; exit 1 if any exceeds the tolerance (default 1e-6).\n"
    "  --block NAME   check one block alone on a random f32[B,T,H,W,C] input\n"
    "                 (sizes from -D seq_len, image_size, embed_dim; --batch)\n"
    "  --entries N    entries checked per parameter tensor (default 24; 0: none)\n"
    "  --wrt-input    check the gradient with respect to the model input instead (the\n"
    "                 one cssmc inspect's attributions come from)\n"
    "  --device D     also compare D's forward and gradients (f32) with the reference\n"
    "                 executor's: cpu or cuda (default: cuda with a GPU, else cpu); ref: no\n"
    "  --device-tol X tolerance of that comparison (default 1e-5)\n"
    "  --stats        print the runtime's counters\n";

typedef struct CheckFlags {
    int entries;
    double tol, device_tol;
    bool stats;
} CheckFlags;

/* Pulls --entries, --tol and --device-tol out of argv before the shared
 * option parser. */
static int gradcheck_flags(int *argc, char **argv, CheckFlags *cf)
{
    int w = 1;
    cf->stats = take_flag(argc, argv, "--stats");
    for (int i = 1; i < *argc; i++) {
        char *end;
        bool entries = !strcmp(argv[i], "--entries"), tol = !strcmp(argv[i], "--tol");
        if ((entries || tol || !strcmp(argv[i], "--device-tol")) && i + 1 < *argc) {
            double v = strtod(argv[i + 1], &end);
            if (*end || v < 0 || (v == 0 && !entries)) {
                fprintf(stderr, "cssmc gradcheck: error: %s expects a positive number, got '%s'\n", argv[i], argv[i + 1]);
                return 2;
            }
            if (entries) cf->entries = (int)v;
            else if (tol) cf->tol = v;
            else cf->device_tol = v;
            i++;
            continue;
        }
        argv[w++] = argv[i];
    }
    *argc = w;
    return 0;
}

/* ---- a fused device against the reference executor ---- */

static float *to_f32(const double *v, int64_t n)
{
    float *f = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}

static void feed_exec(Exec *e, Graph *g, Feed *f)
{
    for (int p = 0; p < g->params.len; p++) {
        float *v = to_f32(f->params[p], numel_of(g, g->params.data[p].node));
        exec_set(e, g->params.data[p].node, v);
        free(v);
    }
    for (int i = 0; i < g->inputs.len; i++) {
        int node = g->inputs.data[i].node;
        float *v = to_f32(f->inputs[i], numel_of(g, node));
        exec_set(e, node, v);
        free(v);
    }
}

/* max|a - b| / max(max|a|, max|b|) of one node's values on two executors. */
static double node_error(Exec *a, Exec *b, Graph *g, int node)
{
    int64_t n = numel_of(g, node);
    float *x = xmalloc(sizeof(float) * (size_t)(n ? n : 1)), *y = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    exec_get(a, node, x);
    exec_get(b, node, y);
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)x[i] - y[i]));
        if (x[i] != y[i] && (isnan(x[i]) || isnan(y[i]))) diff = INFINITY;
        scale = fmax(scale, fmax(fabs((double)x[i]), fabs((double)y[i])));
    }
    free(x);
    free(y);
    return scale > 0 ? diff / scale : diff;
}

static uint64_t steady_work(void)
{
    return cssm_counter_get(CSSM_CTR_HOST_COMPILES) + cssm_counter_get(CSSM_CTR_NVRTC_COMPILES) +
           cssm_counter_get(CSSM_CTR_FFT_PLANS) + cssm_counter_get(CSSM_CTR_BYTES_ALLOCATED);
}

/* Runs the device twice (the second run must compile, plan and allocate
 * nothing) and the reference once, then compares output and gradients. */
static int device_check(Graph *g, Device d, Feed *f, const CheckFlags *cf)
{
    char err[4096];
    Exec *dev = exec_new(g, d, false, err, sizeof err);
    if (!dev) {
        fprintf(stderr, "cssmc gradcheck: error: %s\n", err);
        return 1;
    }
    Exec *ref = exec_new(g, DEV_REF, false, err, sizeof err);
    feed_exec(dev, g, f);
    feed_exec(ref, g, f);
    exec_run(dev);
    uint64_t before = steady_work();
    exec_run(dev);
    uint64_t steady = steady_work() - before;
    exec_run(ref);
    double worst = node_error(dev, ref, g, g->output);
    printf("device %s: output rel error %.3e\n", device_name(d), worst);
    int checked = 1;
    for (int p = 0; p < g->params.len; p++) {
        if (g->grads.data[p] < 0) continue;
        double e = node_error(dev, ref, g, g->grads.data[p]);
        printf("device %s: %-36s rel error %.3e\n", device_name(d), g->params.data[p].path, e);
        worst = fmax(worst, e), checked++;
    }
    for (int i = 0; i < g->probes.len; i++) {
        double e = node_error(dev, ref, g, g->probes.data[i].node);
        printf("device %s: probe %-30s rel error %.3e\n", device_name(d), g->probes.data[i].name, e);
        worst = fmax(worst, e), checked++;
    }
    exec_free(dev);
    exec_free(ref);
    printf("device %s vs ref (f32): max relative error %.3e over %d tensors (tolerance %.1e)\n", device_name(d),
           worst, checked, cf->device_tol);
    if (steady) printf("device %s: the second run compiled, planned or allocated again\n", device_name(d));
    return worst <= cf->device_tol && !steady ? 0 : 1;
}

static void print_stats(void)
{
    printf("## stats\n");
    cssm_counters_print(stdout);
}

/* Checks the gradient node gn (-1: no gradient path) of tensor v[0..n),
 * named name, and prints one line. */
static void check_tensor(Checker *c, const char *name, double *v, int64_t n, int gn)
{
    double *grad = xcalloc((size_t)n, sizeof(double));
    if (gn >= 0) ref_get(c->rx, gn, grad);
    TensorCheck tc = check_values(c, v, n, grad);
    if (gn >= 0) loss_of(c->rx, c->g, c->f, c->scratch);   /* restore the unperturbed values */
    printf("%-44s rel error %.3e", name, tc.error);
    if (tc.kinks) printf("  (%d of %d entries next to a kink, not compared)", tc.kinks, tc.kinks + tc.compared);
    printf("%s\n", gn < 0 ? " (no gradient path)" : "");
    c->worst = fmax(c->worst, tc.error);
    c->compared += tc.compared;
    c->kinks += tc.kinks;
    c->checked++;
    free(grad);
}

/* Autodiff against central differences on the reference executor in f64:
 * every trained parameter's gradient, or with grad_input the input's. */
static int finite_difference_check(Graph *g, Feed *f, Rng *rng, const CheckFlags *cf, bool grad_input)
{
    Checker c = {.rx = ref_new(g, true), .g = g, .f = f, .r = *rng, .entries = cf->entries,
                 .scratch = xmalloc(sizeof(double) * (size_t)numel_of(g, g->output))};
    loss_of(c.rx, g, f, c.scratch);
    c.noise = loss_noise(g, f, c.scratch);
    for (int p = 0; p < g->params.len && !grad_input; p++)
        if (!g->params.data[p].state)   /* running statistics are not differentiated */
            check_tensor(&c, g->params.data[p].path, f->params[p], shape_numel(&g->params.data[p].shape),
                         g->grads.data[p]);
    int gi = grad_input ? graph_probe(g, input_gradient_name(g)) : -1;
    if (gi >= 0)
        check_tensor(&c, g->probes.data[gi].name, f->inputs[0], numel_of(g, g->inputs.data[0].node),
                     g->probes.data[gi].node);
    printf("max relative error %.3e over %d %s tensors (tolerance %.1e)\n", c.worst, c.checked,
           grad_input ? "input" : "parameter", cf->tol);
    ref_free(c.rx);
    free(c.scratch);
    if (c.kinks * 4 > c.compared + c.kinks) {
        printf("too many entries next to kinks (%d of %d): the check is not meaningful here\n", c.kinks,
               c.compared + c.kinks);
        return 1;
    }
    return c.worst <= cf->tol && c.checked > 0 ? 0 : 1;
}

int cmd_gradcheck(int argc, char **argv)
{
    CheckFlags cf = {.entries = 24, .tol = 1e-6, .device_tol = 1e-5};
    int rc = gradcheck_flags(&argc, argv, &cf);
    Options o;
    bool wrt_input = take_flag(&argc, argv, "--wrt-input");
    if (rc || (rc = parse_options(argc, argv, OPT_MODEL | OPT_EXEC | OPT_BLOCK, gradcheck_usage, &o)))
        return rc < 0 ? 0 : rc;
    o.grad_input = wrt_input;
    Device d = DEV_REF;
    device_parse(o.device, &d);
    if (cf.entries == 0 && d == DEV_REF) {
        fprintf(stderr, "cssmc gradcheck: error: --entries 0 with --device ref checks nothing\n");
        return 2;
    }
    Graph *g = compile_model(&o, true);
    if (!g) return 1;
    Rng r = rng_new(o.seed + 1);
    Feed f = {.params = xcalloc((size_t)g->params.len + 1, sizeof(double *))};
    init_params(g, o.seed, f.params);
    f.inputs = random_inputs(g, &r);
    for (int i = 0; i < g->inputs.len; i++)
        if (g->inputs.data[i].node == g->loss_seed) f.seed = f.inputs[i];
    rc = cf.entries > 0 ? finite_difference_check(g, &f, &r, &cf, wrt_input) : 0;
    if (d != DEV_REF && device_check(g, d, &f, &cf)) rc = 1;
    if (cf.stats) print_stats();
    for (int p = 0; p < g->params.len; p++) free(f.params[p]);
    free(f.params);
    for (int i = 0; i < g->inputs.len; i++) free(f.inputs[i]);
    free(f.inputs);
    graph_free(g);
    return rc;
}

/* ---- run ---- */

static const char run_usage[] =
    "usage: cssmc run MODEL.cssm --input X.npy [--out Y.npy] [-D name=value]...\n"
    "                 [--device ref|cpu|cuda] [--f64] [--seed N] [--stats]\n"
    "Runs one forward pass with freshly initialised parameters (seed N) on the\n"
    "input array (float32, the model input's shape; its first axis is the batch)\n"
    "and writes the output as float32 .npy (default: prints a summary).\n"
    "  --device D   where to run it (default: cuda with a GPU, else cpu); --f64 needs ref\n"
    "  --training   the training-mode graph: BatchNorm with batch statistics, drop-path\n"
    "               masks drawn from the seed\n"
    "  --stats      print the runtime's counters (kernels, compiles, FFT plans, bytes)\n";

static bool load_input(Options *o, NpyArray *a)
{
    char err[256];
    if (npy_read(o->input, a, err, sizeof err)) {
        fprintf(stderr, "cssmc run: error: %s\n", err);
        return false;
    }
    if (strcmp(a->dtype, "<f4")) {
        fprintf(stderr, "cssmc run: error: %s: expected float32 (<f4), got %s\n", o->input, a->dtype);
        return false;
    }
    o->batch = a->ndim > 0 ? a->shape[0] : 1;
    return true;
}

static bool input_matches(Graph *g, const NpyArray *a, const char *path)
{
    const Shape *s = &node_at(g, g->inputs.data[0].node)->shape;
    bool ok = a->ndim == s->rank;
    for (int i = 0; ok && i < s->rank; i++) ok = a->shape[i] == s->size[i];
    if (!ok) {
        char buf[256];
        fprintf(stderr, "cssmc run: error: %s: shape does not match the model input %s\n", path,
                shape_str(DT_F32, s, buf, sizeof buf));
    }
    return ok;
}

/* v: the output's values (numel_of doubles). */
static int write_output(Graph *g, const double *v, const char *path)
{
    Node *out = node_at(g, g->output);
    int64_t m = numel_of(g, g->output);
    float *fv = xmalloc(sizeof(float) * (size_t)m);
    for (int64_t i = 0; i < m; i++) fv[i] = (float)v[i];
    int64_t shape[MAX_RANK + 1];
    for (int i = 0; i < out->shape.rank; i++) shape[i] = out->shape.size[i];
    int rank = out->shape.rank;
    if (out->dtype == DT_C64) shape[rank++] = 2;
    char err[256];
    int rc = 0;
    if (path && npy_write(path, "<f4", rank, shape, fv, err, sizeof err)) {
        fprintf(stderr, "cssmc run: error: %s\n", err);
        rc = 1;
    } else if (!path) {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < m; i++) sum += v[i], sq += v[i] * v[i];
        char buf[256];
        printf("output %s: mean %.6g, rms %.6g\n", shape_str(out->dtype, &out->shape, buf, sizeof buf), sum / (double)m,
               sqrt(sq / (double)m));
    }
    free(fv);
    return rc;
}

/* The values of every input: the model input from the file, and for a
 * training-mode graph (--training) the random inputs "rng.*" (drop-path
 * masks) drawn U[0, 1) from the seed. */
static float **run_inputs(Graph *g, const float *input, uint64_t seed)
{
    float **v = xcalloc((size_t)g->inputs.len, sizeof(float *));
    Rng r = rng_fold(rng_new(seed), 0x72756e);
    v[0] = (float *)input;
    for (int i = 1; i < g->inputs.len; i++) {
        int64_t n = numel_of(g, g->inputs.data[i].node);
        if (!input_is_random(&g->inputs.data[i])) ice("run: input %s has no values", g->inputs.data[i].name);
        v[i] = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
        for (int64_t j = 0; j < n; j++) v[i][j] = (float)rng_uniform(&r);
    }
    return v;
}

static void free_run_inputs(Graph *g, float **v)
{
    for (int i = 1; i < g->inputs.len; i++) free(v[i]);
    free(v);
}

/* The forward pass on the reference executor, in its own precision. */
static double *run_on_ref(Options *o, Graph *g, double **params, float *const *inputs)
{
    RefExec *rx = ref_new(g, o->f64);
    for (int p = 0; p < g->params.len; p++) ref_set(rx, g->params.data[p].node, params[p]);
    for (int i = 0; i < g->inputs.len; i++) ref_set_f32(rx, g->inputs.data[i].node, inputs[i]);
    ref_run(rx);
    double *v = xmalloc(sizeof(double) * (size_t)(numel_of(g, g->output) + 1));
    ref_get(rx, g->output, v);
    ref_free(rx);
    return v;
}

/* The forward pass on a fused device (f32); NULL after reporting why not. */
static double *run_fused(Options *o, Device d, Graph *g, double **params, float *const *inputs)
{
    char err[4096];
    Exec *e = exec_new(g, d, o->f64, err, sizeof err);
    if (!e) {
        fprintf(stderr, "cssmc run: error: %s\n", err);
        return NULL;
    }
    for (int p = 0; p < g->params.len; p++) {
        float *pv = to_f32(params[p], numel_of(g, g->params.data[p].node));
        exec_set(e, g->params.data[p].node, pv);
        free(pv);
    }
    for (int i = 0; i < g->inputs.len; i++) exec_set(e, g->inputs.data[i].node, inputs[i]);
    exec_run(e);
    int64_t m = numel_of(g, g->output);
    float *fv = xmalloc(sizeof(float) * (size_t)(m + 1));
    double *v = xmalloc(sizeof(double) * (size_t)(m + 1));
    exec_get(e, g->output, fv);
    for (int64_t i = 0; i < m; i++) v[i] = fv[i];
    free(fv);
    exec_free(e);
    return v;
}

int cmd_run(int argc, char **argv)
{
    Options o;
    bool stats = take_flag(&argc, argv, "--stats");
    int rc = parse_options(argc, argv, OPT_MODEL | OPT_EXEC | OPT_IO, run_usage, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.input) {
        fprintf(stderr, "cssmc run: error: --input X.npy is required (try cssmc run --help)\n");
        return 2;
    }
    NpyArray a = {0};
    if (!load_input(&o, &a)) return 1;
    Graph *g = compile_model(&o, false);
    if (!g) return 1;
    if (!input_matches(g, &a, o.input)) return 1;
    double **params = xcalloc((size_t)g->params.len + 1, sizeof(double *));
    init_params(g, o.seed, params);
    Device d = DEV_REF;
    device_parse(o.device, &d);
    float **inputs = run_inputs(g, a.data, o.seed);
    double *out = d == DEV_REF ? run_on_ref(&o, g, params, inputs) : run_fused(&o, d, g, params, inputs);
    free_run_inputs(g, inputs);
    rc = out ? write_output(g, out, o.out) : 1;
    if (stats) print_stats();
    free(out);
    for (int p = 0; p < g->params.len; p++) free(params[p]);
    free(params);
    npy_free(&a);
    graph_free(g);
    return rc;
}
