/* test_ref_fft.c: RFFT2, IRFFT2 and their transposes on the reference executor.
 *
 * Each op is compared with a naive DFT in double on layouts that put H and W
 * at different positions (W before H too) with odd and even sizes, on random
 * spectra that are not Hermitian (nonzero Im on the DC and Nyquist columns).
 * IRFFT2 is also compared with numbers printed by numpy.fft.irfft2.
 *
 * Dot-product tests. JAX's cotangent of a complex value is the conjugate of
 * the gradient under the real inner product <u, v>_R = sum Re u Re v + Im u
 * Im v = Re sum conj(u) v, so its transposes are adjoints for the bilinear
 * pairing <u, v>_J = Re sum u v = <u, conj(v)>_R. With x, g real and X, G
 * complex, the identities checked are
 *     <rfft2(x), G>_J  = <x, rfft2_t(G)>
 *     <irfft2(X), g>   = <X, irfft2_t(g)>_J
 * i.e. <rfft2(x), conj(G)>_R = <x, rfft2_t(G)>_R and likewise for irfft2. */
#include "ref_testing.h"

#include <complex.h>

typedef struct Layout {
    const char *re;     /* the real-side shape, with axes named H and W */
    int h, w;
} Layout;

typedef struct Geo {
    Shape re, sp;
    int h, w;
    int64_t H, W, Wf;
} Geo;

static Geo geometry(const Layout *l)
{
    Geo g = {.re = shp(l->re), .h = l->h, .w = l->w};
    g.sp = g.re;
    g.H = g.re.size[l->h], g.W = g.re.size[l->w], g.Wf = g.W / 2 + 1;
    g.sp.label[l->w] = intern("W/2+1");
    g.sp.size[l->w] = g.Wf;
    return g;
}

static void decode(int64_t e, const Shape *s, int64_t *coord)
{
    for (int i = s->rank - 1; i >= 0; i--) coord[i] = e % s->size[i], e /= s->size[i];
}

static int64_t encode(const int64_t *coord, const Shape *s)
{
    int64_t e = 0;
    for (int i = 0; i < s->rank; i++) e = e * s->size[i] + coord[i];
    return e;
}

/* e^{i sign theta(u, v; h, w)}, reduced exactly before the trigonometry. */
static double complex twiddle(const Geo *g, int64_t u, int64_t v, int64_t h, int64_t w, int sign)
{
    double t = 2 * M_PI * ((double)(u * h % g->H) / (double)g->H + (double)(v * w % g->W) / (double)g->W);
    return cexp(sign * I * t);
}

static double column_weight(const Geo *g, int64_t v) { return v == 0 || 2 * v == g->W ? 1 : 2; }

static double complex cval(const double *z, int64_t e) { return CMPLX(z[2 * e], z[2 * e + 1]); }

/* forward: spectral[k] = sum_n x[n] e^{-i theta} (rfft2), or with +i and w_v/(HW) (irfft2_t). */
static void naive_to_spectrum(const Geo *g, const double *x, double *out, bool transpose_of_inverse)
{
    int64_t ck[MAX_RANK], cn[MAX_RANK];
    for (int64_t k = 0; k < shape_numel(&g->sp); k++) {
        decode(k, &g->sp, ck);
        memcpy(cn, ck, sizeof cn);
        double complex s = 0;
        for (cn[g->h] = 0; cn[g->h] < g->H; cn[g->h]++)
            for (cn[g->w] = 0; cn[g->w] < g->W; cn[g->w]++)
                s += x[encode(cn, &g->re)] *
                     twiddle(g, ck[g->h], ck[g->w], cn[g->h], cn[g->w], transpose_of_inverse ? 1 : -1);
        if (transpose_of_inverse) s *= column_weight(g, ck[g->w]) / (double)(g->H * g->W);
        out[2 * k] = creal(s), out[2 * k + 1] = cimag(s);
    }
}

/* inverse: x[n] = 1/(HW) sum_k w_v Re(X e^{+i theta}) (irfft2), or Re sum_k G e^{-i theta} (rfft2_t). */
static void naive_from_spectrum(const Geo *g, const double *z, double *out, bool transpose_of_forward)
{
    int64_t cn[MAX_RANK], ck[MAX_RANK];
    for (int64_t n = 0; n < shape_numel(&g->re); n++) {
        decode(n, &g->re, cn);
        memcpy(ck, cn, sizeof ck);
        double s = 0;
        for (ck[g->h] = 0; ck[g->h] < g->H; ck[g->h]++)
            for (ck[g->w] = 0; ck[g->w] < g->Wf; ck[g->w]++) {
                double complex t =
                    cval(z, encode(ck, &g->sp)) *
                    twiddle(g, ck[g->h], ck[g->w], cn[g->h], cn[g->w], transpose_of_forward ? -1 : 1);
                s += transpose_of_forward ? creal(t) : column_weight(g, ck[g->w]) * creal(t);
            }
        out[n] = transpose_of_forward ? s : s / (double)(g->H * g->W);
    }
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* <u, v>_J = Re sum u v for interleaved complex arrays of n elements. */
static double dot_j(const double *u, const double *v, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += u[2 * i] * v[2 * i] - u[2 * i + 1] * v[2 * i + 1];
    return s;
}

typedef struct FftGraph {
    Graph *g;
    int x, z, rfft, irfft, rfft_t, irfft_t, roundtrip;
} FftGraph;

static FftGraph fft_graph(const Geo *geo)
{
    FftGraph f = {.g = graph_new()};
    Attr a = {.ax = {geo->h, geo->w}};
    Loc l = {0};
    f.x = ir_add(f.g, IR_INPUT, DT_F32, &geo->re, NULL, 0, &(Attr){0}, l);
    f.z = ir_add(f.g, IR_INPUT, DT_C64, &geo->sp, NULL, 0, &(Attr){.index = 1}, l);
    f.rfft = ir_add(f.g, IR_RFFT2, DT_C64, &geo->sp, &f.x, 1, &a, l);
    f.irfft = ir_add(f.g, IR_IRFFT2, DT_F32, &geo->re, &f.z, 1, &a, l);
    f.rfft_t = ir_add(f.g, IR_RFFT2_T, DT_F32, &geo->re, &f.z, 1, &a, l);
    f.irfft_t = ir_add(f.g, IR_IRFFT2_T, DT_C64, &geo->sp, &f.x, 1, &a, l);
    f.roundtrip = ir_add(f.g, IR_IRFFT2, DT_F32, &geo->re, &f.rfft, 1, &a, l);
    return f;
}

typedef struct Vals {
    int64_t nre, nsp;
    double *x, *z, *rfft, *irfft, *rfft_t, *irfft_t, *roundtrip;
} Vals;

static Vals run_fft_graph(const FftGraph *f, bool f64, double *x, double *z)
{
    Vals v = {.nre = shape_numel(&node_at(f->g, f->x)->shape), .nsp = shape_numel(&node_at(f->g, f->z)->shape),
              .x = x, .z = z};
    RefExec *r = ref_new(f->g, f64);
    ref_set(r, f->x, x);
    ref_set(r, f->z, z);
    ref_run(r);
    double **slots[] = {&v.rfft, &v.irfft, &v.rfft_t, &v.irfft_t, &v.roundtrip};
    int ids[] = {f->rfft, f->irfft, f->rfft_t, f->irfft_t, f->roundtrip};
    for (int i = 0; i < 5; i++) {
        *slots[i] = xmalloc(sizeof(double) * (size_t)doubles_of(f->g, ids[i]));
        ref_get(r, ids[i], *slots[i]);
    }
    ref_free(r);
    return v;
}

static void check_dot(const char *what, bool f64, double lhs, double rhs, double scale)
{
    double e = fabs(lhs - rhs) / scale;
    CHECK(e <= (f64 ? 1e-12 : 1e-5), "%s (%s): %.17g vs %.17g (relative %.3g)", what, f64 ? "f64" : "f32", lhs,
          rhs, e);
}

static void test_layout(const Layout *l, bool f64)
{
    Geo geo = geometry(l);
    FftGraph f = fft_graph(&geo);
    int64_t nre = shape_numel(&geo.re), nsp = shape_numel(&geo.sp);
    double *x = random_values(nre, 11), *z = random_values(2 * nsp, 12);
    Vals v = run_fft_graph(&f, f64, x, z);
    double *want_sp = xmalloc(sizeof(double) * (size_t)(2 * nsp));
    double *want_re = xmalloc(sizeof(double) * (size_t)nre);
    double tol = f64 ? 1e-12 : 1e-6;
    char what[128];
    naive_to_spectrum(&geo, x, want_sp, false);
    snprintf(what, sizeof what, "rfft2 %s", l->re), check_close(what, f64, v.rfft, want_sp, 2 * nsp, tol);
    naive_to_spectrum(&geo, x, want_sp, true);
    snprintf(what, sizeof what, "irfft2_t %s", l->re), check_close(what, f64, v.irfft_t, want_sp, 2 * nsp, tol);
    naive_from_spectrum(&geo, z, want_re, false);
    snprintf(what, sizeof what, "irfft2 %s", l->re), check_close(what, f64, v.irfft, want_re, nre, tol);
    naive_from_spectrum(&geo, z, want_re, true);
    snprintf(what, sizeof what, "rfft2_t %s", l->re), check_close(what, f64, v.rfft_t, want_re, nre, tol);
    snprintf(what, sizeof what, "irfft2(rfft2(x)) %s", l->re), check_close(what, f64, v.roundtrip, x, nre, tol);
    double scale = sqrt(dot(x, x, nre) * dot(z, z, 2 * nsp)) * (double)nsp;
    snprintf(what, sizeof what, "<rfft2 x, G> = <x, rfft2_t G> %s", l->re);
    check_dot(what, f64, dot_j(v.rfft, z, nsp), dot(x, v.rfft_t, nre), scale);
    snprintf(what, sizeof what, "<irfft2 X, g> = <X, irfft2_t g> %s", l->re);
    check_dot(what, f64, dot(v.irfft, x, nre), dot_j(z, v.irfft_t, nsp), scale);
    double *all[] = {x, z, want_sp, want_re, v.rfft, v.irfft, v.rfft_t, v.irfft_t, v.roundtrip};
    for (size_t i = 0; i < COUNT_OF(all); i++) free(all[i]);
    graph_free(f.g);
}

/* numpy.fft.irfft2(X, s=(H, W)) on non-Hermitian X, printed by numpy 2.4. */
static void test_numpy_irfft2(bool f64)
{
    struct { const char *re; double z[18], want[12]; } cases[] = {
        {"H=3,W=4",
         {1, 2, 0.5, -1, -2, 0.25, 0, 0.75, 2, -0.5, 1, 1, -1, -1, 0.125, 3, 0.5, -2},
         {0.3958333333333333, -0.20833333333333334, -0.4791666666666667, 0.2916666666666667,
          -0.035536903457084434, 0.5487447075449087, -0.8583998745389294, 0.34001058491018277,
          -0.3602964298762489, 0.9095886257884247, 0.837566541205596, -0.38167725157684945}},
        {"H=2,W=3",
         {1, -1, 2, 0.5, 0.25, 1, -1, -2},
         {0.5416666666666666, 0.474679368558886, -0.39134603522555267, 1.125, -1.096687836487032,
          0.3466878364870321}},
    };
    for (size_t k = 0; k < COUNT_OF(cases); k++) {
        Geo geo = geometry(&(Layout){cases[k].re, 0, 1});
        FftGraph f = fft_graph(&geo);
        double *x = xcalloc((size_t)shape_numel(&geo.re), sizeof(double));
        Vals v = run_fft_graph(&f, f64, x, cases[k].z);
        check_close(cases[k].re, f64, v.irfft, cases[k].want, v.nre, f64 ? 1e-14 : 1e-6);
        double *all[] = {x, v.rfft, v.irfft, v.rfft_t, v.irfft_t, v.roundtrip};
        for (size_t i = 0; i < COUNT_OF(all); i++) free(all[i]);
        graph_free(f.g);
    }
}

int main(void)
{
    static const Layout layouts[] = {
        {"B=2,H=4,W=6,C=3", 1, 2},
        {"H=5,C=2,W=7", 0, 2},
        {"W=4,H=3", 1, 0},
        {"T=2,H=8,W=8", 1, 2},
        {"H=1,W=2", 0, 1},
        {"W=5,B=2,H=6", 2, 0},
    };
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < COUNT_OF(layouts); i++) test_layout(&layouts[i], m);
        test_numpy_irfft2(m);
    }
    return test_status("test_ref_fft");
}
