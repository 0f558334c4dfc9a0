/* test_ref_scan.c: the linear recurrence SCAN on the reference executor.
 *
 * Scalar scans (real and complex, A with or without the time axis, the time
 * axis not first, operands in other axis orders) against a hand-rolled loop
 * and, for a constant K, the closed form h_t = sum_{j<=t} K^{t-j} U_j;
 * reverse scans; a 2x2 complex matrix scan against a loop. f32 and f64. */
#include "ref_testing.h"

#include <complex.h>

static double complex cpow_int(double complex z, int n)
{
    double complex p = 1;
    while (n-- > 0) p *= z;
    return p;
}

/* Constant complex K[C] (no T), U[B, T, C]: closed form. */
static void test_closed_form(bool f64)
{
    Graph *g = graph_new();
    int K = leaf(g, DT_C64, "C=2"), U = leaf(g, DT_C64, "B=2,T=5,C=2");
    int h = node(g, IR_SCAN, DT_C64, "B=2,T=5,C=2", (Attr){.axis = 1}, K, U, -1);
    double kv[] = {0.5, 0.75, -0.875, 0.125}, *uv = random_values(40, 41), want[40];
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 5; t++)
            for (int c = 0; c < 2; c++) {
                double complex s = 0, k = CMPLX(kv[2 * c], kv[2 * c + 1]);
                for (int j = 0; j <= t; j++) {
                    int e = (b * 5 + j) * 2 + c;
                    s += cpow_int(k, t - j) * CMPLX(uv[2 * e], uv[2 * e + 1]);
                }
                int e = (b * 5 + t) * 2 + c;
                want[2 * e] = creal(s), want[2 * e + 1] = cimag(s);
            }
    double *got = run_graph(g, f64, 2, (int[]){K, U}, (double *[]){kv, uv}, h);
    check_close("closed form, constant complex K", f64, got, want, 40, tolerance(f64));
    free(got), free(uv);
    graph_free(g);
}

/* Real A[T, C] and b[C, T] (time axis last), result in b's order; forward
 * and reverse against loops. */
static void test_real_loop(bool f64)
{
    Graph *g = graph_new();
    int A = leaf(g, DT_F32, "T=4,C=3"), b = leaf(g, DT_F32, "C=3,T=4");
    int fw = node(g, IR_SCAN, DT_F32, "C=3,T=4", (Attr){.axis = 1}, A, b, -1);
    int bw = node(g, IR_SCAN, DT_F32, "C=3,T=4", (Attr){.axis = 1, .reverse = true}, A, b, -1);
    double *av = random_values(12, 42), *bv = random_values(12, 43), wf[12], wb[12];
    for (int c = 0; c < 3; c++) {
        double hf = 0, hb = 0;
        for (int t = 0; t < 4; t++) {
            hf = av[t * 3 + c] * hf + bv[c * 4 + t];
            wf[c * 4 + t] = hf;
            int r = 3 - t;
            hb = av[r * 3 + c] * hb + bv[c * 4 + r];
            wb[c * 4 + r] = hb;
        }
    }
    double *got = run_graph(g, f64, 2, (int[]){A, b}, (double *[]){av, bv}, fw);
    check_close("real scan, T last", f64, got, wf, 12, tolerance(f64));
    free(got);
    got = run_graph(g, f64, 2, (int[]){A, b}, (double *[]){av, bv}, bw);
    check_close("real reverse scan", f64, got, wb, 12, tolerance(f64));
    free(got), free(av), free(bv);
    graph_free(g);
}

/* h_t = 0.5 h_{t-1} + 1 from h_{-1} = 0: 1, 1.5, 1.75, 1.875, with a scalar A. */
static void test_known(bool f64)
{
    Graph *g = graph_new();
    int A = leaf(g, DT_F32, ""), b = leaf(g, DT_F32, "T=4");
    int h = node(g, IR_SCAN, DT_F32, "T=4", (Attr){.axis = 0}, A, b, -1);
    int r = node(g, IR_SCAN, DT_F32, "T=4", (Attr){.axis = 0, .reverse = true}, A, b, -1);
    double av[] = {0.5}, bv[] = {1, 1, 1, 1};
    double *got = run_graph(g, f64, 2, (int[]){A, b}, (double *[]){av, bv}, h);
    check_close("h = 0.5 h + 1", f64, got, (double[]){1, 1.5, 1.75, 1.875}, 4, 0);
    free(got);
    got = run_graph(g, f64, 2, (int[]){A, b}, (double *[]){av, bv}, r);
    check_close("reverse h = 0.5 h + 1", f64, got, (double[]){1.875, 1.75, 1.5, 1}, 4, 0);
    free(got);
    graph_free(g);
}

/* Complex 2x2 matrix scan: A[T, i, j] (no batch: broadcast), b[B, T, i];
 * also real A with complex b. */
static void test_matrix(bool f64)
{
    Graph *g = graph_new();
    int A = leaf(g, DT_C64, "j=2,T=3,i=2"), b = leaf(g, DT_C64, "B=2,i=2,T=3"), Ar = leaf(g, DT_F32, "i=2,j=2");
    Attr at = {.axis = 2, .state = "i", .col = "j"};
    int h = node(g, IR_SCAN, DT_C64, "B=2,i=2,T=3", at, A, b, -1);
    int hr = node(g, IR_SCAN, DT_C64, "B=2,i=2,T=3", at, Ar, b, -1);
    double *av = random_values(24, 44), *bv = random_values(24, 45), *arv = random_values(4, 46);
    double want[24], wr[24];
    for (int bb = 0; bb < 2; bb++) {
        double complex s[2] = {0, 0}, sr[2] = {0, 0};
        for (int t = 0; t < 3; t++) {
            double complex n[2], nr[2];
            for (int i = 0; i < 2; i++) {
                int e = (bb * 2 + i) * 3 + t;
                n[i] = nr[i] = CMPLX(bv[2 * e], bv[2 * e + 1]);
                for (int j = 0; j < 2; j++) {
                    int ae = (j * 3 + t) * 2 + i;
                    n[i] += CMPLX(av[2 * ae], av[2 * ae + 1]) * s[j];
                    nr[i] += arv[i * 2 + j] * sr[j];
                }
            }
            for (int i = 0; i < 2; i++) {
                int e = (bb * 2 + i) * 3 + t;
                s[i] = n[i], sr[i] = nr[i];
                want[2 * e] = creal(s[i]), want[2 * e + 1] = cimag(s[i]);
                wr[2 * e] = creal(sr[i]), wr[2 * e + 1] = cimag(sr[i]);
            }
        }
    }
    int leaves[] = {A, b, Ar};
    double *vals[] = {av, bv, arv}, *got;
    got = run_graph(g, f64, 3, leaves, vals, h);
    check_close("2x2 complex matrix scan", f64, got, want, 24, tolerance(f64));
    free(got);
    got = run_graph(g, f64, 3, leaves, vals, hr);
    check_close("real constant matrix, complex b", f64, got, wr, 24, tolerance(f64));
    free(got), free(av), free(bv), free(arv);
    graph_free(g);
}

int main(void)
{
    for (int m = 0; m < 2; m++) {
        test_known(m);
        test_closed_form(m);
        test_real_loop(m);
        test_matrix(m);
    }
    return test_status("test_ref_scan");
}
