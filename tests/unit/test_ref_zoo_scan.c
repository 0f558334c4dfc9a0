/* test_ref_zoo_scan.c: scan evaluation orders and the combine form's tree.
 *
 * 1. SCAN with attr.assoc (the associative tree order, --scan=assoc) equals
 *    the sequential order in f64 for scalar, complex, matrix and reverse
 *    scans of odd and even lengths.
 * 2. The combine form follows JAX's associative_scan tree exactly: a model
 *    with a non-associative combiner against an independent replica of
 *    lax.associative_scan's recursion, written here on plain arrays.
 * 3. Every zoo model whose step is affine (hence runs as IR SCANs) gives the
 *    same output and gradients under --scan=seq and --scan=assoc, within f32
 *    tolerance in f32 and within 1e-8 in f64, inside the SimpleCSSM wrapper;
 *    the test also checks that the graph has SCAN nodes and that all of them
 *    carry the chosen order.
 * 4. no_gate_realspace_par equals no_gate_realspace_seq for T = 3 and not
 *    for T = 5 (spec §3.14: its combiner is not associative), and at T = 5
 *    too with realspace_combiner = associative.
 * 5. A 1x1 kernel's spectrum: constant with kernel_embed = centred, a linear
 *    phase with the reference's embedding (spec §2.3, §7.3).
 * Run from the repository root (tests/run.sh does). */
#include "driver.h"
#include "init.h"
#include "ref_testing.h"

#include <complex.h>

/* ---- 1: SCAN orders on hand-built graphs ---- */

static void compare_orders(const char *what, const char *Aspec, const char *bspec, DType dt, Attr at, int axis)
{
    Graph *g = graph_new();
    int A = leaf(g, dt, Aspec), b = leaf(g, dt, bspec);
    at.axis = axis;
    int seq = node(g, IR_SCAN, dt, bspec, at, A, b, -1);
    at.assoc = true;
    int par = node(g, IR_SCAN, dt, bspec, at, A, b, -1);
    double *av = random_values(doubles_of(g, A), 17), *bv = random_values(doubles_of(g, b), 18);
    for (int64_t i = 0; i < doubles_of(g, A); i++) av[i] *= 0.6;   /* keep powers of A tame */
    double *x = run_graph(g, true, 2, (int[]){A, b}, (double *[]){av, bv}, seq);
    double *y = run_graph(g, true, 2, (int[]){A, b}, (double *[]){av, bv}, par);
    check_close(what, true, y, x, doubles_of(g, seq), 1e-12);
    free(x), free(y), free(av), free(bv);
    graph_free(g);
}

static void test_orders(void)
{
    compare_orders("scalar real, T = 7", "T=7,C=3", "B=2,T=7,C=3", DT_F32, (Attr){0}, 1);
    compare_orders("scalar complex, A without T, T = 8", "C=3", "B=2,T=8,C=3", DT_C64, (Attr){0}, 1);
    compare_orders("reverse, T = 5", "T=5,C=2", "T=5,C=2", DT_F32, (Attr){.reverse = true}, 0);
    Attr m = {.state = intern("i"), .col = intern("j")};
    compare_orders("3x3 complex matrix, T = 6", "T=6,i=3,j=3", "B=2,T=6,i=3", DT_C64, m, 1);
    m.reverse = true;
    compare_orders("2x2 real matrix reverse, T = 9", "T=9,i=2,j=2,C=2", "C=2,T=9,i=2", DT_F32, m, 1);
    compare_orders("T = 1", "T=1", "T=1,C=2", DT_F32, (Attr){0}, 0);
}

/* ---- compiling small models from source ---- */

static const char *write_model(const char *text)
{
    static char path[] = "/tmp/test_ref_zoo_scan_XXXXXX.cssm";
    strcpy(path, "/tmp/test_ref_zoo_scan_XXXXXX.cssm");
    int fd = mkstemps(path, 5);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) abort();
    close(fd);
    return path;
}

static Graph *compile(const char *path, const char *const *defs, int ndefs, bool assoc, bool grad)
{
    Options o = {.command = "test", .model_path = path, .batch = 2, .scan_assoc = assoc};
    for (int i = 0; i < ndefs; i++) {
        const char *eq = strchr(defs[i], '=');
        Override ov = {intern_n(defs[i], (size_t)(eq - defs[i])), eq + 1, false};
        vec_push(&o.overrides, ov);
    }
    Graph *g = compile_model(&o, grad);
    vec_free(&o.overrides);
    return g;
}

/* ---- 2: the combine form's tree against a replica of associative_scan ---- */

typedef struct Pair { double k, b; } Pair;

static Pair combiner(Pair l, Pair r) { return (Pair){l.k * r.k, tanh(l.b) * r.k + r.b}; }

/* jax.lax.associative_scan's recursion (loops.py), on plain arrays. */
static void jax_scan(const Pair *e, int n, Pair *out)
{
    if (n < 2) {
        if (n == 1) out[0] = e[0];
        return;
    }
    int m = n / 2;
    Pair *reduced = xmalloc(sizeof(Pair) * (size_t)m), *odd = xmalloc(sizeof(Pair) * (size_t)m);
    for (int i = 0; i < m; i++) reduced[i] = combiner(e[2 * i], e[2 * i + 1]);
    jax_scan(reduced, m, odd);
    out[0] = e[0];
    for (int i = 0; i < m; i++) out[2 * i + 1] = odd[i];
    for (int t = 2; t < n; t += 2) out[t] = combiner(odd[t / 2 - 1], e[t]);
    free(reduced), free(odd);
}

static void test_combine_tree(int T)
{
    char text[512];
    snprintf(text, sizeof text,
             "model tree(x: f32[B, T = %d]) {\n"
             "    K, S = scan t in T combine (k = 0.9 + 0 * x[t], b = x[t]) with (l, r) {\n"
             "        k = l.k * r.k\n"
             "        b = tanh(l.b) * r.k + r.b\n"
             "    }\n"
             "    return S\n"
             "}\n", T);
    const char *path = write_model(text);
    Graph *g = compile(path, NULL, 0, false, false);
    unlink(path);
    CHECK(g != NULL, "the combine model does not compile");
    if (!g) return;
    int x = g->inputs.data[0].node;
    double *xv = random_values(2 * T, 19);
    double *got = run_graph(g, true, 1, &x, &xv, g->output);
    Pair e[64], out[64];
    double want[128];
    for (int b = 0; b < 2; b++) {
        for (int t = 0; t < T; t++) e[t] = (Pair){0.9, xv[b * T + t]};
        jax_scan(e, T, out);
        for (int t = 0; t < T; t++) want[b * T + t] = out[t].b;
    }
    char what[64];
    snprintf(what, sizeof what, "combine tree, T = %d", T);
    check_close(what, true, got, want, 2 * T, 1e-13);
    free(got), free(xv);
    graph_free(g);
}

/* ---- 3: the zoo under both orders ---- */

typedef struct Run {
    double *out;
    double **grads;
    int64_t *gsize;
    int nparams, scans, marked;
    int64_t nout;
} Run;

typedef struct Zoo {
    const char *cssm, *extra;     /* a -D setting that makes the model small, or NULL */
} Zoo;

static Run run_zoo(const Zoo *z, bool assoc, bool f64)
{
    char key[64];
    snprintf(key, sizeof key, "cssm=%s", z->cssm);
    const char *defs[] = {key, "seq_len=4", "image_size=8", "embed_dim=8", "stem_layers=1", z->extra};
    Run r = {0};
    Graph *g = compile("models/simple.cssm", defs, (int)COUNT_OF(defs) - !z->extra, assoc, true);
    if (!g) return r;
    for (int i = 0; i < g->nodes.len; i++)
        if (g->nodes.data[i].op == IR_SCAN) r.scans++, r.marked += g->nodes.data[i].attr.assoc == assoc;
    RefExec *x = ref_new(g, f64);
    double **pv = xcalloc((size_t)g->params.len, sizeof *pv);
    init_params(g, 5, pv);
    for (int p = 0; p < g->params.len; p++) ref_set(x, g->params.data[p].node, pv[p]);
    for (int i = 0; i < g->inputs.len; i++) {
        double *v = random_values(doubles_of(g, g->inputs.data[i].node), 30 + (uint64_t)i);
        ref_set(x, g->inputs.data[i].node, v);
        free(v);
    }
    ref_run(x);
    r.nout = doubles_of(g, g->output);
    r.out = xmalloc(sizeof(double) * (size_t)r.nout);
    ref_get(x, g->output, r.out);
    r.nparams = g->params.len;
    r.grads = xcalloc((size_t)r.nparams, sizeof *r.grads);
    r.gsize = xcalloc((size_t)r.nparams, sizeof *r.gsize);
    for (int p = 0; p < r.nparams; p++) {
        int gn = g->grads.data[p];
        r.gsize[p] = shape_numel(&g->params.data[p].shape);
        r.grads[p] = xcalloc((size_t)r.gsize[p], sizeof(double));
        if (gn >= 0) ref_get(x, gn, r.grads[p]);
        free(pv[p]);
    }
    free(pv);
    ref_free(x);
    graph_free(g);
    return r;
}

/* max |x - y| over max |y|, as gradcheck measures a tensor */
static double tensor_error(const double *x, const double *y, int64_t n)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs(x[i] - y[i])), m = fmax(m, fabs(y[i]));
    return m > 0 ? d / m : d;
}

/* f32: the orders agree to f32 rounding; f64: far below it, which shows the
 * tree really ran (ref's f32 mode computes each node in double, so its two
 * orders usually round to the same floats). f64 allows 1e-8: no_fft's C gate
 * is shared over the channels that RMSNorm then rescales, so its gradient is
 * nearly cancelled and carries double rounding magnified about 1e5 times. */
static void test_zoo_orders(const Zoo *z, bool f64)
{
    const char *cssm = z->cssm;
    double tol = f64 ? 1e-8 : 1e-5;
    Run s = run_zoo(z, false, f64), a = run_zoo(z, true, f64);
    CHECK(s.out && a.out, "%s: does not compile", cssm);
    if (!s.out || !a.out) return;
    CHECK(a.scans > 0 && a.marked == a.scans && s.marked == s.scans, "%s: %d scans, %d marked assoc",
          cssm, a.scans, a.marked);
    double e = tensor_error(a.out, s.out, s.nout);
    CHECK(e <= tol, "%s: output differs between scan orders by %.3g", cssm, e);
    for (int p = 0; p < s.nparams; p++) {
        e = tensor_error(a.grads[p], s.grads[p], s.gsize[p]);
        CHECK(e <= tol, "%s: gradient %d differs between scan orders by %.3g", cssm, p, e);
        free(s.grads[p]), free(a.grads[p]);
    }
    free(s.grads), free(a.grads), free(s.gsize), free(a.gsize), free(s.out), free(a.out);
}

/* ---- 4: the two real-space variants: equal for T <= 3, not from T = 4 ---- */

/* The model's output on fixed inputs; both variants declare the same
 * parameter paths in the same order, so a seed gives both the same values. */
static double *realspace_output(const char *cssm, int T, const char *extra, int64_t *n)
{
    char key[64], seq_len[32];
    snprintf(key, sizeof key, "cssm=%s", cssm);
    snprintf(seq_len, sizeof seq_len, "seq_len=%d", T);
    const char *defs[] = {key, seq_len, "image_size=8", "embed_dim=4", "stem_layers=1", "kernel_size=3", extra};
    Graph *g = compile("models/simple.cssm", defs, (int)COUNT_OF(defs) - !extra, false, false);
    CHECK(g != NULL, "%s does not compile", cssm);
    if (!g) return NULL;
    double **pv = xcalloc((size_t)g->params.len, sizeof *pv);
    init_params(g, 3, pv);
    RefExec *x = ref_new(g, true);
    for (int i = 0; i < g->params.len; i++) ref_set(x, g->params.data[i].node, pv[i]), free(pv[i]);
    double *in = random_values(doubles_of(g, g->inputs.data[0].node), 44);
    ref_set(x, g->inputs.data[0].node, in);
    ref_run(x);
    *n = doubles_of(g, g->output);
    double *out = xmalloc(sizeof(double) * (size_t)*n);
    ref_get(x, g->output, out);
    free(in), free(pv);
    ref_free(x);
    graph_free(g);
    return out;
}

static void test_realspace(int T, bool equal, const char *extra)
{
    int64_t n;
    double *seq = realspace_output("no_gate_realspace_seq", T, NULL, &n);
    double *par = realspace_output("no_gate_realspace_par", T, extra, &n);
    if (!seq || !par) return;
    double e = tensor_error(par, seq, n);
    CHECK(equal ? e <= 1e-12 : e > 1e-9, "realspace seq vs par%s%s at T = %d: difference %.3g", extra ? ", " : "",
          extra ? extra : "", T, e);
    free(seq), free(par);
}

/* ---- 5: kernel embeddings of a 1x1 kernel (spec §2.3, §7.3) ---- */

static void test_unit_kernel(const char *mode, bool constant)
{
    char text[512];
    snprintf(text, sizeof text,
             "import std\n"
             "model k1(x: f32[B, N = 1]) {\n"
             "    dim H = 6\n"
             "    dim W = 5\n"
             "    param kernel: f32[N, 1, 1] = constant(0.5)\n"
             "    K = rfft2(embed(kernel, H, W, kernel_embed = \"%s\"), H, W)\n"
             "    return x * 0 + complex(real(K), imag(K))\n"
             "}\n", mode);
    const char *path = write_model(text);
    Options o = {.command = "test", .model_path = path, .batch = 1};
    vec_push(&o.includes, "models");
    Graph *g = compile_model(&o, false);
    unlink(path);
    vec_free(&o.includes);
    CHECK(g != NULL, "the kernel model does not compile");
    if (!g) return;
    RefExec *x = ref_new(g, true);
    double half = 0.5, zero = 0;
    ref_set(x, g->params.data[0].node, &half);
    ref_set(x, g->inputs.data[0].node, &zero);
    ref_run(x);
    int64_t n = doubles_of(g, g->output);
    double *K = xmalloc(sizeof(double) * (size_t)n), phase = 0;
    ref_get(x, g->output, K);
    for (int64_t i = 0; i < n; i += 2) {
        CHECK(fabs(hypot(K[i], K[i + 1]) - 0.5) < 1e-12, "%s: |K| = %g, expected 0.5", mode, hypot(K[i], K[i + 1]));
        phase = fmax(phase, fabs(atan2(K[i + 1], K[i])));
    }
    CHECK(constant ? phase < 1e-12 : phase > 0.1, "%s: the largest phase is %g", mode, phase);
    free(K);
    ref_free(x);
    graph_free(g);
}

int main(void)
{
    test_orders();
    for (int T = 1; T <= 11; T++) test_combine_tree(T);
    static const Zoo affine[] = {
        {"no_gate", "kernel_size=3"}, {"gated", "kernel_size=3"}, {"gdn", "kernel_size=3"},
        {"hgru_bi", "kernel_size=3"}, {"transformer", "kernel_size=3"}, {"mamba2_seq", "state_dim=4"},
        {"gdn_seq", NULL}, {"conv_ssm", "kernel_size=3"}, {"s4nd_full", "s4nd_d_state=8"},
        {"convs5", "convs5_state_dim=4"}, {"no_fft", NULL}, {"direct_conv_seq", NULL},
        {"gdn_int", "kernel_size=3"}, {"gdn_int_elem", "kernel_size=3"}, {"gdn_int_qk", "kernel_size=3"},
    };
    for (size_t i = 0; i < COUNT_OF(affine); i++) test_zoo_orders(&affine[i], false), test_zoo_orders(&affine[i], true);
    test_realspace(3, true, NULL);
    test_realspace(5, false, NULL);
    test_realspace(5, true, "realspace_combiner=associative");
    test_unit_kernel("reference", false);
    test_unit_kernel("centred", true);
    return test_status("test_ref_zoo_scan");
}
