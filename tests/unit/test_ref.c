/* test_ref.c: known answers for the reference executor's leaves, elementwise
 * ops (real and complex), label broadcasting, reductions, data movement and
 * contraction, each on a tiny shape and in both f32 and f64 mode. Inputs are
 * exact in f32, so both modes are held to the same expected values (f32 to
 * one rounding). */
#include "ref_testing.h"

#include <complex.h>

/* ---- leaves ---- */

static void test_leaves(bool f64)
{
    Graph *g = graph_new();
    Shape s = shp("N=3");
    int c = ir_const(g, 1.5, 0, DT_F32, &s, (Loc){0});
    int z = ir_const(g, -2, 0.25, DT_C64, &s, (Loc){0});
    int io = node(g, IR_IOTA, DT_F32, "N=4", (Attr){0}, -1);
    int x = leaf(g, DT_F32, "N=3");
    double xv[] = {1, 2, 3};
    RefExec *r = ref_new(g, f64);
    ref_set(r, x, xv);
    ref_run(r);
    double got[8];
    CHECK(ref_get(r, c, got) == 3 && got[0] == 1.5 && got[2] == 1.5, "const f32");
    ref_get(r, z, got);
    CHECK(got[0] == -2 && got[1] == 0.25 && got[4] == -2 && got[5] == 0.25, "const c64");
    ref_get(r, io, got);
    CHECK(got[0] == 0 && got[3] == 3, "iota");
    const void *raw = ref_data(r, x);
    CHECK(f64 ? ((const double *)raw)[2] == 3 : ((const float *)raw)[2] == 3, "raw storage");
    ref_free(r);
    graph_free(g);
}

static void run_unfed(void *arg)
{
    Graph *g = graph_new();
    leaf(g, DT_F32, "N=2");
    RefExec *r = ref_new(g, *(bool *)arg);
    ref_run(r);
}

static void run_set_non_leaf(void *arg)
{
    Graph *g = graph_new();
    int x = leaf(g, DT_F32, "N=2");
    int y = node(g, IR_NEG, DT_F32, "N=2", (Attr){0}, x, -1);
    ref_set(ref_new(g, *(bool *)arg), y, (double[]){1, 2});
}

static void test_feeding(bool f64)
{
    CHECK(dies_with_ice(run_unfed, &f64), "an unfed input must be an internal error");
    CHECK(dies_with_ice(run_set_non_leaf, &f64), "feeding a computed node must be an internal error");
    Graph *g = graph_new();
    Shape ps = shp("N=2");
    int x = ir_add(g, IR_PARAM, DT_F32, &ps, NULL, 0, &(Attr){0}, (Loc){0});
    int y = node(g, IR_NEG, DT_F32, "N=2", (Attr){0}, x, -1);
    RefExec *r = ref_new(g, f64);
    float xf[] = {0.1f, -3};
    double got[2];
    ref_set_f32(r, x, xf);
    ref_run(r);
    ref_get(r, y, got);
    CHECK(got[0] == -(double)0.1f && got[1] == 3, "ref_set_f32 on a parameter");
    double third = 1.0 / 3;
    ref_set(r, x, (double[]){third, 0});
    ref_run(r);
    ref_get(r, y, got);
    CHECK(got[0] == (f64 ? -third : -(double)(float)third), "re-run after a new feed, rounding");
    ref_free(r);
    graph_free(g);
}

/* ---- elementwise ---- */

typedef struct UnaryCase {
    OpCode op;
    double x[4], y[4];
} UnaryCase;

static const UnaryCase unary_cases[] = {
    {IR_NEG, {1, -2, 0.5, 0}, {-1, 2, -0.5, -0.0}},
    {IR_EXP, {0, 1, -1, 2}, {1, 2.718281828459045, 0.36787944117144233, 7.38905609893065}},
    {IR_LOG, {1, 2, 0.5, 8}, {0, 0.6931471805599453, -0.6931471805599453, 2.0794415416798357}},
    {IR_SQRT, {4, 0.25, 2, 0}, {2, 0.5, 1.4142135623730951, 0}},
    {IR_RSQRT, {4, 0.25, 2, 1}, {0.5, 2, 0.7071067811865476, 1}},
    {IR_SIN, {0, 0.5, -1, 2}, {0, 0.479425538604203, -0.8414709848078965, 0.9092974268256817}},
    {IR_COS, {0, 0.5, -1, 2}, {1, 0.8775825618903728, 0.5403023058681398, -0.4161468365471424}},
    {IR_TANH, {0, 0.5, -1, 20}, {0, 0.46211715726000974, -0.7615941559557649, 1}},
    {IR_SIGMOID, {0, 2, -2, -800}, {0.5, 0.8807970779778823, 0.11920292202211755, 0}},
    {IR_SOFTPLUS, {0, 1, -1000, 1000}, {0.6931471805599453, 1.3132616875182228, 0, 1000}},
    {IR_SILU, {0, 1, -1, 3}, {0, 0.7310585786300049, -0.2689414213699951, 2.8577223804673}},
    {IR_GELU, {0, 1, -1, 2}, {0, 0.8411919906082768, -0.15880800939172324, 1.9545976940871754}},
    {IR_GELU_D, {0, 1, -1, 2.5}, {0.5, 1.0829640838457826, -0.08296408384578255, 1.037951576212666}},
    {IR_RELU, {-2, 3, 0, -0.5}, {0, 3, 0, 0}},
    {IR_FLOOR, {-1.5, 1.5, 2, -0.25}, {-2, 1, 2, -1}},
    {IR_ABS, {-3, 2, 0, -0.125}, {3, 2, 0, 0.125}},
};

static void test_unary(bool f64)
{
    for (size_t k = 0; k < COUNT_OF(unary_cases); k++) {
        const UnaryCase *t = &unary_cases[k];
        Graph *g = graph_new();
        int x = leaf(g, DT_F32, "N=4");
        int y = node(g, t->op, DT_F32, "N=4", (Attr){0}, x, -1);
        double *xv = (double *)t->x, *got = run_graph(g, f64, 1, &x, &xv, y);
        check_close(op_info[t->op].spelling, f64, got, t->y, 4, tolerance(f64));
        free(got);
        graph_free(g);
    }
}

typedef struct BinaryCase {
    OpCode op;
    double a[4], b[4], y[4];
} BinaryCase;

static const BinaryCase binary_cases[] = {
    {IR_ADD, {1, 2, -3, 0.5}, {1, -2, 1, 0.25}, {2, 0, -2, 0.75}},
    {IR_SUB, {1, 2, -3, 0.5}, {1, -2, 1, 0.25}, {0, 4, -4, 0.25}},
    {IR_MUL, {1, 2, -3, 0.5}, {1, -2, 1, 0.25}, {1, -4, -3, 0.125}},
    {IR_DIV, {1, 2, -3, 0.5}, {4, -2, 1, 0.25}, {0.25, -1, -3, 2}},
    {IR_POW, {2, -2, 4, 9}, {3, 3, 0.5, -0.5}, {8, -8, 2, 1.0 / 3}},
    {IR_MAXIMUM, {1, -2, 3, 0}, {2, -3, 3, -1}, {2, -2, 3, 0}},
    {IR_MINIMUM, {1, -2, 3, 0}, {2, -3, 3, -1}, {1, -3, 3, -1}},
    {IR_MOD, {-7, 7, 7, 5.5}, {3, -3, 3, 2}, {2, -2, 1, 1.5}},
    {IR_LT, {1, 2, 3, -1}, {2, 2, 1, 0}, {1, 0, 0, 1}},
    {IR_LE, {1, 2, 3, -1}, {2, 2, 1, 0}, {1, 1, 0, 1}},
    {IR_GT, {1, 2, 3, -1}, {2, 2, 1, 0}, {0, 0, 1, 0}},
    {IR_GE, {1, 2, 3, -1}, {2, 2, 1, 0}, {0, 1, 1, 0}},
    {IR_EQ, {1, 2, 3, -1}, {2, 2, 1, 0}, {0, 1, 0, 0}},
    {IR_NE, {1, 2, 3, -1}, {2, 2, 1, 0}, {1, 0, 1, 1}},
};

static void test_binary(bool f64)
{
    for (size_t k = 0; k < COUNT_OF(binary_cases); k++) {
        const BinaryCase *t = &binary_cases[k];
        Graph *g = graph_new();
        int a = leaf(g, DT_F32, "N=4"), b = leaf(g, DT_F32, "N=4");
        int y = node(g, t->op, DT_F32, "N=4", (Attr){0}, a, b, -1);
        double *v[] = {(double *)t->a, (double *)t->b}, *got = run_graph(g, f64, 2, (int[]){a, b}, v, y);
        check_close(op_info[t->op].spelling, f64, got, t->y, 4, tolerance(f64));
        free(got);
        graph_free(g);
    }
}

static void test_where_and_nan(bool f64)
{
    Graph *g = graph_new();
    int c = leaf(g, DT_F32, "N=3"), a = leaf(g, DT_F32, "N=3"), b = leaf(g, DT_F32, "N=3");
    int w = node(g, IR_WHERE, DT_F32, "N=3", (Attr){0}, c, a, b, -1);
    int mx = node(g, IR_MAXIMUM, DT_F32, "N=3", (Attr){0}, a, b, -1);
    int re = node(g, IR_RELU, DT_F32, "N=3", (Attr){0}, b, -1);
    double cv[] = {1, 0, -0.5}, av[] = {10, NAN, 30}, bv[] = {NAN, 2, -3};
    RefExec *r = ref_new(g, f64);
    ref_set(r, c, cv), ref_set(r, a, av), ref_set(r, b, bv);
    ref_run(r);
    double got[3];
    ref_get(r, w, got);
    CHECK(got[0] == 10 && got[1] == 2 && got[2] == 30, "where");
    ref_get(r, mx, got);
    CHECK(isnan(got[0]) && isnan(got[1]) && got[2] == 30, "maximum propagates NaN");
    ref_get(r, re, got);
    CHECK(isnan(got[0]) && got[1] == 2 && got[2] == 0, "relu propagates NaN");
    ref_free(r);
    graph_free(g);
}

/* Complex ops on a = (1+2i, i, -1, 3+4i), b = (3-i, 2, 1+i, -2i). */
static void test_complex(bool f64)
{
    Graph *g = graph_new();
    int a = leaf(g, DT_C64, "N=4"), b = leaf(g, DT_C64, "N=4"), r = leaf(g, DT_F32, "N=4");
    double av[] = {1, 2, 0, 1, -1, 0, 3, 4}, bv[] = {3, -1, 2, 0, 1, 1, 0, -2}, rv[] = {1, -2, 0.5, 0};
    double complex A[4];
    for (int i = 0; i < 4; i++) A[i] = CMPLX(av[2 * i], av[2 * i + 1]);
    struct { OpCode op; int nin; double complex want[4]; } cases[] = {
        {IR_NEG, 1, {-A[0], -A[1], -A[2], -A[3]}},
        {IR_ADD, 2, {4 + 1 * I, 2 + 1 * I, 1 * I, 3 + 2 * I}},
        {IR_SUB, 2, {-2 + 3 * I, -2 + 1 * I, -2 - 1 * I, 3 + 6 * I}},
        {IR_MUL, 2, {5 + 5 * I, 2 * I, -1 - 1 * I, 8 - 6 * I}},
        {IR_DIV, 2, {0.1 + 0.7 * I, 0.5 * I, -0.5 + 0.5 * I, -2 + 1.5 * I}},
        {IR_CONJ, 1, {1 - 2 * I, -1 * I, -1, 3 - 4 * I}},
        {IR_EXP, 1, {cexp(A[0]), cos(1) + sin(1) * I, exp(-1), cexp(A[3])}},
        {IR_LOG, 1, {log(sqrt(5)) + atan2(2, 1) * I, M_PI / 2 * I, M_PI * I, log(5) + atan2(4, 3) * I}},
    };
    for (size_t k = 0; k < COUNT_OF(cases); k++) {
        int y = cases[k].nin == 1 ? node(g, cases[k].op, DT_C64, "N=4", (Attr){0}, a, -1)
                                  : node(g, cases[k].op, DT_C64, "N=4", (Attr){0}, a, b, -1);
        double want[8], *got = run_graph(g, f64, 3, (int[]){a, b, r}, (double *[]){av, bv, rv}, y);
        for (int i = 0; i < 4; i++)
            want[2 * i] = creal(cases[k].want[i]), want[2 * i + 1] = cimag(cases[k].want[i]);
        check_close(op_info[cases[k].op].spelling, f64, got, want, 8, tolerance(f64));
        free(got);
    }
    struct { OpCode op; double want[4]; } to_real[] = {
        {IR_ABS, {sqrt(5), 1, 1, 5}}, {IR_REAL, {1, 0, -1, 3}}, {IR_IMAG, {2, 1, 0, 4}}};
    for (size_t k = 0; k < COUNT_OF(to_real); k++) {
        int y = node(g, to_real[k].op, DT_F32, "N=4", (Attr){0}, a, -1);
        double *got = run_graph(g, f64, 3, (int[]){a, b, r}, (double *[]){av, bv, rv}, y);
        check_close(op_info[to_real[k].op].spelling, f64, got, to_real[k].want, 4, tolerance(f64));
        free(got);
    }
    int cx = node(g, IR_COMPLEX, DT_C64, "N=4", (Attr){0}, r, r, -1);
    int tc = node(g, IR_TO_C64, DT_C64, "N=4", (Attr){0}, r, -1);
    int wh = node(g, IR_WHERE, DT_C64, "N=4", (Attr){0}, r, a, b, -1);
    double *got = run_graph(g, f64, 3, (int[]){a, b, r}, (double *[]){av, bv, rv}, cx);
    check_close("complex", f64, got, (double[]){1, 1, -2, -2, 0.5, 0.5, 0, 0}, 8, 0);
    free(got);
    got = run_graph(g, f64, 3, (int[]){a, b, r}, (double *[]){av, bv, rv}, tc);
    check_close("to_c64", f64, got, (double[]){1, 0, -2, 0, 0.5, 0, 0, 0}, 8, 0);
    free(got);
    got = run_graph(g, f64, 3, (int[]){a, b, r}, (double *[]){av, bv, rv}, wh);
    check_close("where c64", f64, got, (double[]){1, 2, 0, 1, -1, 0, 0, -2}, 8, 0);
    free(got);
    graph_free(g);
}

/* out[h,c] = a[c] + b[c,h] + s: operands lack axes and list them in another order. */
static void test_label_broadcast(bool f64)
{
    Graph *g = graph_new();
    int a = leaf(g, DT_F32, "C=3"), b = leaf(g, DT_F32, "C=3,H=2"), s = leaf(g, DT_F32, "");
    int ab = node(g, IR_ADD, DT_F32, "H=2,C=3", (Attr){0}, a, b, -1);
    int y = node(g, IR_ADD, DT_F32, "H=2,C=3", (Attr){0}, ab, s, -1);
    double av[] = {1, 2, 3}, bv[] = {10, 20, 30, 40, 50, 60}, sv[] = {100};
    double *got = run_graph(g, f64, 3, (int[]){a, b, s}, (double *[]){av, bv, sv}, y);
    double want[] = {111, 132, 153, 121, 142, 163};
    check_close("label broadcast", f64, got, want, 6, 0);
    free(got);
    graph_free(g);
}

/* ---- reductions ---- */

static void test_reduce(bool f64)
{
    Graph *g = graph_new();
    int x = leaf(g, DT_F32, "A=2,B=3,C=2"), z = leaf(g, DT_C64, "A=2,B=2");
    int sb = node(g, IR_SUM, DT_F32, "A=2,C=2", (Attr){.mask = 2}, x, -1);
    int mac = node(g, IR_MAX, DT_F32, "B=3", (Attr){.mask = 5}, x, -1);
    int all = node(g, IR_SUM, DT_F32, "", (Attr){.mask = 7}, x, -1);
    int none = node(g, IR_MAX, DT_F32, "A=2,B=3,C=2", (Attr){.mask = 0}, x, -1);
    int zs = node(g, IR_SUM, DT_C64, "B=2", (Attr){.mask = 1}, z, -1);
    double xv[12], zv[] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int i = 0; i < 12; i++) xv[i] = (i * 7) % 12 - 5;   /* -5 2 -3 4 -1 6 1 -4 3 -2 5 0 */
    int leaves[] = {x, z};
    double *vals[] = {xv, zv}, *got;
    got = run_graph(g, f64, 2, leaves, vals, sb);
    check_close("sum over B", f64, got, (double[]){-9, 12, 9, -6}, 4, 0);
    free(got);
    got = run_graph(g, f64, 2, leaves, vals, mac);
    check_close("max over A,C", f64, got, (double[]){2, 4, 6}, 3, 0);
    free(got);
    got = run_graph(g, f64, 2, leaves, vals, all);
    check_close("sum of all", f64, got, (double[]){6}, 1, 0);
    free(got);
    got = run_graph(g, f64, 2, leaves, vals, none);
    check_close("max over nothing", f64, got, xv, 12, 0);
    free(got);
    got = run_graph(g, f64, 2, leaves, vals, zs);
    check_close("complex sum", f64, got, (double[]){6, 8, 10, 12}, 4, 0);
    free(got);
    graph_free(g);
}

/* ---- data movement ---- */

static void check_node(Graph *g, bool f64, int x, double *xv, int y, const double *want, const char *what)
{
    double *got = run_graph(g, f64, 1, &x, &xv, y);
    check_close(what, f64, got, want, doubles_of(g, y), 0);
    free(got);
}

static void test_movement(bool f64)
{
    Graph *g = graph_new();
    int x = leaf(g, DT_F32, "A=2,B=3");   /* x[a,b] = 10a + b */
    double xv[] = {0, 1, 2, 10, 11, 12};
    int pm = node(g, IR_PERMUTE, DT_F32, "B=3,A=2", (Attr){0}, x, -1);
    check_node(g, f64, x, xv, pm, (double[]){0, 10, 1, 11, 2, 12}, "permute");
    int bc = node(g, IR_BROADCAST, DT_F32, "B=3,C=2,A=2", (Attr){0}, x, -1);
    check_node(g, f64, x, xv, bc, (double[]){0, 10, 0, 10, 1, 11, 1, 11, 2, 12, 2, 12}, "broadcast");
    int rs = node(g, IR_RESHAPE, DT_F32, "P=3,Q=2", (Attr){0}, x, -1);
    check_node(g, f64, x, xv, rs, xv, "reshape");
    int sl = node(g, IR_SLICE, DT_F32, "A=2,S=2", (Attr){.axis = 1, .start = 0, .step = 2}, x, -1);
    check_node(g, f64, x, xv, sl, (double[]){0, 2, 10, 12}, "slice with step");
    int sd = node(g, IR_SLICE, DT_F32, "B=3", (Attr){.axis = 0, .start = 1, .step = 1, .drop = true}, x, -1);
    check_node(g, f64, x, xv, sd, (double[]){10, 11, 12}, "slice drop");
    int pd = node(g, IR_PAD, DT_F32, "A=4,B=3", (Attr){.axis = 0, .lo = 1}, x, -1);
    check_node(g, f64, x, xv, pd, (double[]){0, 0, 0, 0, 1, 2, 10, 11, 12, 0, 0, 0}, "pad");
    int fl = node(g, IR_FLIP, DT_F32, "A=2,B=3", (Attr){.axis = 1}, x, -1);
    check_node(g, f64, x, xv, fl, (double[]){2, 1, 0, 12, 11, 10}, "flip");
    graph_free(g);
    g = graph_new();
    int z = leaf(g, DT_C64, "N=3");   /* (1+2i, 3+4i, 5+6i) */
    double zv[] = {1, 2, 3, 4, 5, 6};
    int zs = node(g, IR_SLICE, DT_C64, "M=2", (Attr){.axis = 0, .start = 1, .step = 1}, z, -1);
    check_node(g, f64, z, zv, zs, (double[]){3, 4, 5, 6}, "slice c64");
    int zp = node(g, IR_PAD, DT_C64, "N=5", (Attr){.axis = 0, .lo = 2}, z, -1);
    check_node(g, f64, z, zv, zp, (double[]){0, 0, 0, 0, 1, 2, 3, 4, 5, 6}, "pad c64");
    int zf = node(g, IR_FLIP, DT_C64, "N=3", (Attr){.axis = 0}, z, -1);
    check_node(g, f64, z, zv, zf, (double[]){5, 6, 3, 4, 1, 2}, "flip c64");
    graph_free(g);
}

static void test_concat_stack(bool f64)
{
    Graph *g = graph_new();
    int a = leaf(g, DT_F32, "A=2,B=3"), b = leaf(g, DT_F32, "B=3,D=1");
    double av[] = {0, 1, 2, 10, 11, 12}, bv[] = {-1, -2, -3};
    /* b's concatenated axis is D (not in the result); B is matched by label. */
    int c1 = node(g, IR_CONCAT, DT_F32, "E=3,B=3", (Attr){.axis = 0}, a, b, -1);
    int c2 = node(g, IR_CONCAT, DT_F32, "B=3,A=3", (Attr){.axis = 1}, a, b, -1); /* a's A keeps its label */
    int st = node(g, IR_STACK, DT_F32, "B=3,K=2,A=2", (Attr){.axis = 1}, a, a, -1);
    int leaves[] = {a, b};
    double *vals[] = {av, bv}, *got;
    got = run_graph(g, f64, 2, leaves, vals, c1);
    check_close("concat by label", f64, got, (double[]){0, 1, 2, 10, 11, 12, -1, -2, -3}, 9, 0);
    free(got);
    got = run_graph(g, f64, 2, leaves, vals, c2);
    check_close("concat on a labelled axis", f64, got, (double[]){0, 10, -1, 1, 11, -2, 2, 12, -3}, 9, 0);
    free(got);
    got = run_graph(g, f64, 2, leaves, vals, st);
    check_close("stack", f64, got, (double[]){0, 10, 0, 10, 1, 11, 1, 11, 2, 12, 2, 12}, 12, 0);
    free(got);
    graph_free(g);
    g = graph_new();
    int p = leaf(g, DT_C64, "A=2"), q = leaf(g, DT_C64, "");
    int s3 = node(g, IR_STACK, DT_C64, "A=2,K=2", (Attr){.axis = 1}, p, q, -1);
    got = run_graph(g, f64, 2, (int[]){p, q}, (double *[]){(double[]){1, 2, 3, 4}, (double[]){5, 6}}, s3);
    check_close("stack c64 with broadcast", f64, got, (double[]){1, 2, 5, 6, 3, 4, 5, 6}, 8, 0);
    free(got);
    graph_free(g);
}

/* ---- contraction ---- */

/* Naive einsum over the fixed pattern a[B,M,K] b[K,N,B] -> y[N,B,M]. */
static void test_contract(bool f64)
{
    Graph *g = graph_new();
    int a = leaf(g, DT_F32, "B=2,M=3,K=4"), b = leaf(g, DT_F32, "K=4,N=2,B=2");
    int y = node(g, IR_CONTRACT, DT_F32, "N=2,B=2,M=3", (Attr){0}, a, b, -1);
    int dot = node(g, IR_CONTRACT, DT_F32, "", (Attr){0}, a, a, -1);
    double *av = random_values(24, 1), *bv = random_values(16, 2), want[12] = {0}, d = 0;
    for (int bb = 0; bb < 2; bb++)
        for (int m = 0; m < 3; m++)
            for (int n = 0; n < 2; n++)
                for (int k = 0; k < 4; k++)
                    want[(n * 2 + bb) * 3 + m] += av[(bb * 3 + m) * 4 + k] * bv[(k * 2 + n) * 2 + bb];
    for (int i = 0; i < 24; i++) d += av[i] * av[i];
    double *got = run_graph(g, f64, 2, (int[]){a, b}, (double *[]){av, bv}, y);
    check_close("batched contraction", f64, got, want, 12, tolerance(f64));
    free(got);
    got = run_graph(g, f64, 2, (int[]){a, b}, (double *[]){av, bv}, dot);
    check_close("full contraction (same operand twice)", f64, got, &d, 1, tolerance(f64));
    free(got);
    free(av), free(bv);
    graph_free(g);
}

/* Complex a[M,K] times real b[K] and an outer product: no conjugation. */
static void test_contract_complex(bool f64)
{
    Graph *g = graph_new();
    int a = leaf(g, DT_C64, "M=2,K=2"), b = leaf(g, DT_C64, "K=2"), r = leaf(g, DT_F32, "K=2");
    int y = node(g, IR_CONTRACT, DT_C64, "M=2", (Attr){0}, a, b, -1);
    int yr = node(g, IR_CONTRACT, DT_C64, "M=2", (Attr){0}, a, r, -1);
    int outer = node(g, IR_CONTRACT, DT_C64, "K=2,J=2", (Attr){0}, b,
                     node(g, IR_RESHAPE, DT_C64, "J=2", (Attr){0}, b, -1), -1);
    double av[] = {1, 1, 0, 2, 3, 0, -1, -1}, bv[] = {0, 1, 2, -1}, rv[] = {2, -1};
    int leaves[] = {a, b, r};
    double *vals[] = {av, bv, rv}, *got;
    /* row 0: (1+i)(i) + (2i)(2-i) = -1+i + 2+4i = 1+5i; row 1: 3i + (-1-i)(2-i) = 3i - 3 - i = -3+2i */
    got = run_graph(g, f64, 3, leaves, vals, y);
    check_close("complex matvec", f64, got, (double[]){1, 5, -3, 2}, 4, 0);
    free(got);
    got = run_graph(g, f64, 3, leaves, vals, yr);
    check_close("complex times real", f64, got, (double[]){2, 0, 7, 1}, 4, 0);
    free(got);
    got = run_graph(g, f64, 3, leaves, vals, outer);
    check_close("outer product", f64, got, (double[]){-1, 0, 1, 2, 1, 2, 3, -4}, 8, 0);
    free(got);
    graph_free(g);
}

int main(void)
{
    for (int m = 0; m < 2; m++) {
        bool f64 = m;
        test_leaves(f64);
        test_feeding(f64);
        test_unary(f64);
        test_binary(f64);
        test_where_and_nan(f64);
        test_complex(f64);
        test_label_broadcast(f64);
        test_reduce(f64);
        test_movement(f64);
        test_concat_stack(f64);
        test_contract(f64);
        test_contract_complex(f64);
    }
    return test_status("test_ref");
}
