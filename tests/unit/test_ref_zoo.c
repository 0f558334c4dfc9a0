/* test_ref_zoo.c: the reference kernels the model zoo added, CIRC and SOLVE.
 *
 * CIRC: a delta kernel rolls the map by (+1, +1) (forward) or (-1, -1)
 * (reverse); a random case with a kernel broadcast over the batch against a
 * hand-written loop of the reference's index map; and the transpose identity
 * <circ(x, k), g> = <x, circ_reverse(g, k)> that autodiff relies on.
 * SOLVE: a known 2x2 answer, a system that needs a row swap, and batched
 * complex 4x4 systems whose solutions are checked by multiplying back. */
#include "ref_testing.h"

#include <complex.h>

static int64_t wrap(int64_t i, int64_t n) { return ((i % n) + n) % n; }

static void test_circ_roll(bool f64)
{
    Graph *g = graph_new();
    int x = leaf(g, DT_F32, "H=3,W=2"), k = leaf(g, DT_F32, "H=3,W=2");
    int fw = node(g, IR_CIRC, DT_F32, "H=3,W=2", (Attr){.ax = {0, 1}}, x, k, -1);
    int rv = node(g, IR_CIRC, DT_F32, "H=3,W=2", (Attr){.ax = {0, 1}, .reverse = true}, x, k, -1);
    double xv[] = {1, 2, 3, 4, 5, 6}, kv[] = {1, 0, 0, 0, 0, 0}, want_f[6], want_r[6];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            want_f[i * 2 + j] = xv[wrap(i + 1, 3) * 2 + wrap(j + 1, 2)];
            want_r[i * 2 + j] = xv[wrap(i - 1, 3) * 2 + wrap(j - 1, 2)];
        }
    double *got = run_graph(g, f64, 2, (int[]){x, k}, (double *[]){xv, kv}, fw);
    check_close("circ with a delta kernel", f64, got, want_f, 6, 0);
    free(got);
    got = run_graph(g, f64, 2, (int[]){x, k}, (double *[]){xv, kv}, rv);
    check_close("reverse circ with a delta kernel", f64, got, want_r, 6, 0);
    free(got);
    graph_free(g);
}

/* x[B, W, H] (axes in another order), k[H, W] shared by the batch. */
static void test_circ_random(bool f64)
{
    enum { B = 2, H = 4, W = 3 };
    Graph *g = graph_new();
    int x = leaf(g, DT_F32, "B=2,W=3,H=4"), k = leaf(g, DT_F32, "H=4,W=3");
    int y = node(g, IR_CIRC, DT_F32, "B=2,H=4,W=3", (Attr){.ax = {1, 2}}, x, k, -1);
    double *xv = random_values(B * W * H, 7), *kv = random_values(H * W, 8), want[B * H * W];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double acc = 0;
                for (int a = 0; a < H; a++)
                    for (int c = 0; c < W; c++)
                        acc += kv[a * W + c] * xv[(b * W + wrap(j + c + 1, W)) * H + wrap(i + a + 1, H)];
                want[(b * H + i) * W + j] = acc;
            }
    double *got = run_graph(g, f64, 2, (int[]){x, k}, (double *[]){xv, kv}, y);
    check_close("circ against the reference's index map", f64, got, want, B * H * W, tolerance(f64));
    free(got), free(xv), free(kv);
    graph_free(g);
}

static void test_circ_transpose(void)
{
    Graph *g = graph_new();
    int x = leaf(g, DT_F32, "H=5,W=4"), k = leaf(g, DT_F32, "H=5,W=4"), gr = leaf(g, DT_F32, "H=5,W=4");
    int y = node(g, IR_CIRC, DT_F32, "H=5,W=4", (Attr){.ax = {0, 1}}, x, k, -1);
    int xt = node(g, IR_CIRC, DT_F32, "H=5,W=4", (Attr){.ax = {0, 1}, .reverse = true}, gr, k, -1);
    double *xv = random_values(20, 9), *kv = random_values(20, 10), *gv = random_values(20, 11);
    int leaves[] = {x, k, gr};
    double *vals[] = {xv, kv, gv};
    double *yv = run_graph(g, true, 3, leaves, vals, y), *tv = run_graph(g, true, 3, leaves, vals, xt);
    double lhs = 0, rhs = 0;
    for (int i = 0; i < 20; i++) lhs += yv[i] * gv[i], rhs += xv[i] * tv[i];
    CHECK(fabs(lhs - rhs) <= 1e-12 * fmax(1, fabs(lhs)), "<circ(x,k), g> = %.17g but <x, circ_rev(g,k)> = %.17g", lhs, rhs);
    free(xv), free(kv), free(gv), free(yv), free(tv);
    graph_free(g);
}

static void test_solve_known(bool f64)
{
    Graph *g = graph_new();
    int A = leaf(g, DT_F32, "i=2,j=2"), b = leaf(g, DT_F32, "i=2");
    int x = node(g, IR_SOLVE, DT_F32, "i=2", (Attr){.state = intern("i"), .col = intern("j")}, A, b, -1);
    double av[] = {2, 1, 1, 3}, bv[] = {3, 5};
    double *got = run_graph(g, f64, 2, (int[]){A, b}, (double *[]){av, bv}, x);
    check_close("[[2,1],[1,3]] x = [3,5]", f64, got, (double[]){0.8, 1.4}, 2, f64 ? 1e-15 : 1e-7);
    free(got);
    double pv[] = {0, 1, 1, 0};   /* needs a row swap: x = (5, 3) */
    got = run_graph(g, f64, 2, (int[]){A, b}, (double *[]){pv, bv}, x);
    check_close("[[0,1],[1,0]] x = [3,5]", f64, got, (double[]){5, 3}, 2, 0);
    free(got);
    graph_free(g);
}

/* A[B, i, j] c64, b[B, R, i] (two right-hand sides per matrix). */
static void test_solve_complex(bool f64)
{
    enum { B = 3, R = 2, N = 4 };
    Graph *g = graph_new();
    int A = leaf(g, DT_C64, "B=3,i=4,j=4"), b = leaf(g, DT_C64, "B=3,R=2,i=4");
    int x = node(g, IR_SOLVE, DT_C64, "B=3,R=2,i=4", (Attr){.state = intern("i"), .col = intern("j")}, A, b, -1);
    double *av = random_values(2 * B * N * N, 12), *bv = random_values(2 * B * R * N, 13);
    double *got = run_graph(g, f64, 2, (int[]){A, b}, (double *[]){av, bv}, x), back[2 * B * R * N];
    for (int p = 0; p < B; p++)
        for (int r = 0; r < R; r++)
            for (int i = 0; i < N; i++) {
                double complex s = 0;
                for (int j = 0; j < N; j++) {
                    int a = (p * N + i) * N + j, e = (p * R + r) * N + j;
                    s += CMPLX(av[2 * a], av[2 * a + 1]) * CMPLX(got[2 * e], got[2 * e + 1]);
                }
                int e = (p * R + r) * N + i;
                back[2 * e] = creal(s), back[2 * e + 1] = cimag(s);
            }
    check_close("A (A^-1 b) = b, batched complex", f64, back, bv, 2 * B * R * N, f64 ? 1e-12 : 1e-4);
    free(got), free(av), free(bv);
    graph_free(g);
}

int main(void)
{
    for (int f = 0; f < 2; f++) {
        test_circ_roll(f);
        test_circ_random(f);
        test_solve_known(f);
        test_solve_complex(f);
    }
    test_circ_transpose();
    return test_status("test_ref_zoo");
}
