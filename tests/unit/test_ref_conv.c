/* test_ref_conv.c: CONV2D (and its two gradients) and MAXPOOL2 on the
 * reference executor, in f32 and f64.
 *
 * Known answers: a ones kernel on 1..9 (SAME, odd k), an even 2x2 kernel
 * (XLA SAME pads only the high side), grouped and depthwise-with-multiplier
 * channel routing; a naive convolution over generic layouts (batch axes
 * between H and W, C first, kernels larger than the image). The gradients
 * are checked with the dot-product test
 *     <conv2d(x, k), g> = <x, conv2d_dx(g, k)> = <k, conv2d_dk(x, g)>.
 * Pooling: odd sizes (-inf padding on the high side), first maximum on ties,
 * NaN propagation, and gradient routing. */
#include "ref_testing.h"

typedef struct ConvCase {
    const char *x, *y, *k;   /* shapes; y is x's with C replaced */
    int ax[3], groups;
} ConvCase;

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

/* y[.., h, w, o] = sum k[dh, dw, ci, o] xpad[.., h + dh, w + dw, g*Cig + ci] with
 * xpad the zero-padded image ((k-1)/2 before). */
static void naive_conv(const ConvCase *c, const double *x, const double *k, double *y)
{
    Shape xs = shp(c->x), ys = shp(c->y), ks = shp(c->k);
    int64_t kh = ks.size[0], kw = ks.size[1], cig = ks.size[2], co = ks.size[3], cog = co / c->groups;
    int64_t cy[MAX_RANK], cx[MAX_RANK];
    for (int64_t e = 0; e < shape_numel(&ys); e++) {
        decode(e, &ys, cy);
        memcpy(cx, cy, sizeof cx);
        double s = 0;
        int64_t o = cy[c->ax[2]];
        for (int64_t dh = 0; dh < kh; dh++)
            for (int64_t dw = 0; dw < kw; dw++)
                for (int64_t ci = 0; ci < cig; ci++) {
                    cx[c->ax[0]] = cy[c->ax[0]] + dh - (kh - 1) / 2;
                    cx[c->ax[1]] = cy[c->ax[1]] + dw - (kw - 1) / 2;
                    cx[c->ax[2]] = o / cog * cig + ci;
                    bool inside = cx[c->ax[0]] >= 0 && cx[c->ax[0]] < xs.size[c->ax[0]] && cx[c->ax[1]] >= 0 &&
                                  cx[c->ax[1]] < xs.size[c->ax[1]];
                    if (inside) s += x[encode(cx, &xs)] * k[((dh * kw + dw) * cig + ci) * co + o];
                }
        y[e] = s;
    }
}

typedef struct ConvGraph {
    Graph *g;
    int x, k, gy, y, dx, dk;
} ConvGraph;

static ConvGraph conv_graph(const ConvCase *c)
{
    ConvGraph f = {.g = graph_new()};
    Attr a = {.ax = {c->ax[0], c->ax[1], c->ax[2]}, .groups = c->groups};
    f.x = leaf(f.g, DT_F32, c->x);
    f.k = leaf(f.g, DT_F32, c->k);
    f.gy = leaf(f.g, DT_F32, c->y);
    f.y = node(f.g, IR_CONV2D, DT_F32, c->y, a, f.x, f.k, -1);
    f.dx = node(f.g, IR_CONV2D_DX, DT_F32, c->x, a, f.gy, f.k, -1);
    f.dk = node(f.g, IR_CONV2D_DK, DT_F32, c->k, a, f.x, f.gy, -1);
    return f;
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void test_conv_case(const ConvCase *c, bool f64)
{
    ConvGraph f = conv_graph(c);
    int64_t nx = doubles_of(f.g, f.x), nk = doubles_of(f.g, f.k), ny = doubles_of(f.g, f.gy);
    double *x = random_values(nx, 21), *k = random_values(nk, 22), *gy = random_values(ny, 23);
    double *want = xmalloc(sizeof(double) * (size_t)ny), *vals[] = {x, k, gy};
    int leaves[] = {f.x, f.k, f.gy};
    double *y = run_graph(f.g, f64, 3, leaves, vals, f.y);
    double *dx = run_graph(f.g, f64, 3, leaves, vals, f.dx);
    double *dk = run_graph(f.g, f64, 3, leaves, vals, f.dk);
    char what[160];
    naive_conv(c, x, k, want);
    snprintf(what, sizeof what, "conv2d %s * %s groups=%d", c->x, c->k, c->groups);
    check_close(what, f64, y, want, ny, tolerance(f64));
    double lhs = dot(y, gy, ny), scale = sqrt(dot(x, x, nx) * dot(k, k, nk) * dot(gy, gy, ny));
    double tol = f64 ? 1e-12 : 1e-5;
    CHECK(fabs(lhs - dot(x, dx, nx)) <= tol * scale, "%s (%s): <conv(x,k), g> = %.17g, <x, dx> = %.17g", what,
          f64 ? "f64" : "f32", lhs, dot(x, dx, nx));
    CHECK(fabs(lhs - dot(k, dk, nk)) <= tol * scale, "%s (%s): <conv(x,k), g> = %.17g, <k, dk> = %.17g", what,
          f64 ? "f64" : "f32", lhs, dot(k, dk, nk));
    free(x), free(k), free(gy), free(want), free(y), free(dx), free(dk);
    graph_free(f.g);
}

static const ConvCase conv_cases[] = {
    {"B=2,H=5,W=4,C=3", "B=2,H=5,W=4,D=2", "kh=3,kw=3,ci=3,co=2", {1, 2, 3}, 1},
    {"H=4,B=2,W=6,C=4", "H=4,B=2,W=6,D=6", "kh=2,kw=2,ci=2,co=6", {0, 2, 3}, 2},
    {"C=2,H=3,W=3", "D=4,H=3,W=3", "kh=5,kw=5,ci=1,co=4", {1, 2, 0}, 2},
    {"T=2,W=5,H=4,C=3", "T=2,W=5,H=4,D=3", "kh=3,kw=1,ci=1,co=3", {2, 1, 3}, 3},
    {"H=6,W=6,C=1", "H=6,W=6,D=1", "kh=4,kw=3,ci=1,co=1", {0, 1, 2}, 1},
};

static double *conv_once(const char *x, const char *y, const char *k, int groups, double *xv, double *kv,
                         bool f64)
{
    Graph *g = graph_new();
    int xi = leaf(g, DT_F32, x), ki = leaf(g, DT_F32, k);
    int yi = node(g, IR_CONV2D, DT_F32, y, (Attr){.ax = {0, 1, 2}, .groups = groups}, xi, ki, -1);
    double *out = run_graph(g, f64, 2, (int[]){xi, ki}, (double *[]){xv, kv}, yi);
    graph_free(g);
    return out;
}

static void test_conv_known(bool f64)
{
    double x[9], ones[9], *y;
    for (int i = 0; i < 9; i++) x[i] = i + 1, ones[i] = 1;
    y = conv_once("H=3,W=3,C=1", "H=3,W=3,D=1", "kh=3,kw=3,ci=1,co=1", 1, x, ones, f64);
    check_close("3x3 ones kernel", f64, y, (double[]){12, 21, 16, 27, 45, 33, 24, 39, 28}, 9, 0);
    free(y);
    /* 2x2: pad_lo = 0, pad_hi = 1, so y[h,w] = x[h,w] + x[h,w+1] + x[h+1,w] + x[h+1,w+1]. */
    y = conv_once("H=3,W=3,C=1", "H=3,W=3,D=1", "kh=2,kw=2,ci=1,co=1", 1, x, ones, f64);
    check_close("2x2 kernel (XLA SAME)", f64, y, (double[]){12, 16, 9, 24, 28, 15, 15, 17, 9}, 9, 0);
    free(y);
    /* groups=2, Ci=4, Co=4: k[ci, o] = 4 ci + o + 1; output o reads inputs 2*(o/2) + ci. */
    double px[] = {1, 10, 100, 1000}, gk[] = {1, 2, 3, 4, 5, 6, 7, 8};
    y = conv_once("H=1,W=1,C=4", "H=1,W=1,D=4", "kh=1,kw=1,ci=2,co=4", 2, px, gk, f64);
    check_close("grouped channels", f64, y, (double[]){51, 62, 7300, 8400}, 4, 0);
    free(y);
    /* depthwise, multiplier 2: groups=2, Ci=2, Co=4. */
    double dk[] = {1, 2, 3, 4};
    y = conv_once("H=1,W=1,C=2", "H=1,W=1,D=4", "kh=1,kw=1,ci=1,co=4", 2, px, dk, f64);
    check_close("depthwise with multiplier", f64, y, (double[]){1, 2, 30, 40}, 4, 0);
    free(y);
}

/* ---- pooling ---- */

static void test_pool(bool f64)
{
    Graph *g = graph_new();
    Attr a = {.ax = {0, 1}};
    int x = leaf(g, DT_F32, "H=3,W=3"), gy = leaf(g, DT_F32, "H2=2,W2=2");
    int y = node(g, IR_MAXPOOL2, DT_F32, "H2=2,W2=2", a, x, -1);
    int dx = node(g, IR_MAXPOOL2_DX, DT_F32, "H=3,W=3", a, x, gy, -1);
    double xv[] = {1, 5, 2, 5, 3, 0, 7, 7, 1}, gv[] = {1, 2, 3, 4};
    int leaves[] = {x, gy};
    double *vals[] = {xv, gv}, *got;
    got = run_graph(g, f64, 2, leaves, vals, y);
    check_close("maxpool2 odd sizes", f64, got, (double[]){5, 2, 7, 1}, 4, 0);
    free(got);
    got = run_graph(g, f64, 2, leaves, vals, dx);
    check_close("maxpool2_dx to first maximum", f64, got, (double[]){0, 1, 2, 0, 0, 0, 3, 0, 4}, 9, 0);
    free(got);
    double nv[] = {1, NAN, 2, 5, 3, 0, -INFINITY, -1, 1};
    got = run_graph(g, f64, 2, leaves, (double *[]){nv, gv}, y);
    CHECK(isnan(got[0]) && got[1] == 2 && got[2] == -1 && got[3] == 1, "maxpool2 with NaN and -inf");
    free(got);
    graph_free(g);
}

/* Pooling over axes 1 and 3 of [B, H, C, W] against a direct loop. */
static void test_pool_layout(bool f64)
{
    Graph *g = graph_new();
    Attr a = {.ax = {1, 3}};
    int x = leaf(g, DT_F32, "B=2,H=5,C=2,W=4"), gy = leaf(g, DT_F32, "B=2,H2=3,C=2,W2=2");
    int y = node(g, IR_MAXPOOL2, DT_F32, "B=2,H2=3,C=2,W2=2", a, x, -1);
    int dx = node(g, IR_MAXPOOL2_DX, DT_F32, "B=2,H=5,C=2,W=4", a, x, gy, -1);
    double *xv = random_values(80, 31), *gv = random_values(24, 32), want[24], wdx[80] = {0};
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 2; c++)
                for (int j = 0; j < 2; j++) {
                    int best = -1;
                    for (int h = 2 * i; h < 2 * i + 2 && h < 5; h++)
                        for (int w = 2 * j; w < 2 * j + 2; w++) {
                            int at = ((b * 5 + h) * 2 + c) * 4 + w;
                            if (best < 0 || xv[at] > xv[best]) best = at;
                        }
                    int yo = ((b * 3 + i) * 2 + c) * 2 + j;
                    want[yo] = xv[best];
                    wdx[best] += gv[yo];
                }
    double *got = run_graph(g, f64, 2, (int[]){x, gy}, (double *[]){xv, gv}, y);
    check_close("maxpool2 [B,H,C,W]", f64, got, want, 24, 0);
    free(got);
    got = run_graph(g, f64, 2, (int[]){x, gy}, (double *[]){xv, gv}, dx);
    check_close("maxpool2_dx [B,H,C,W]", f64, got, wdx, 80, 0);
    free(got), free(xv), free(gv);
    graph_free(g);
}

int main(void)
{
    for (int m = 0; m < 2; m++) {
        test_conv_known(m);
        for (size_t i = 0; i < COUNT_OF(conv_cases); i++) test_conv_case(&conv_cases[i], m);
        test_pool(m);
        test_pool_layout(m);
    }
    return test_status("test_ref_conv");
}
