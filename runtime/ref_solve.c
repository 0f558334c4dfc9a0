/* ref_solve.c: SOLVE, batched small dense linear systems (S4ND-Full's
 * bilinear discretisation, spec/models.md §3.11).
 *
 * x solves sum_j A[i,j] x[j] = b[i] with i = label attr.state (in b and A)
 * and j = label attr.col (A only, the same size); every other axis of b is a
 * batch axis, and A is matched to it by label (it may lack any of them).
 * The result has b's shape. Each system is solved by Gaussian elimination
 * with partial pivoting in complex double (real operands read as x + 0i; a
 * real result keeps the real part, which is exact for real systems). The
 * systems are tiny (n <= 64) and the build links no LAPACK, so the loop is
 * written here. A singular matrix divides by zero and yields inf or NaN, as
 * LAPACK's getrs would after a zero pivot. */
#include "ref_ops.h"

#include <complex.h>
#include <stdlib.h>

typedef struct SolveGeom {
    int64_t n;
    Space batch;                            /* b's axes other than i */
    int64_t bb[SPACE_RANK], ab[SPACE_RANK];
    int64_t bi, ai, aj;                     /* strides (doubles) */
    int wa, wb, wy;
} SolveGeom;

static int64_t stride_of(const RefCall *c, const Shape *t, const char *label, int64_t n, int width)
{
    int64_t st[MAX_RANK];
    int i = shape_find(t, label);
    if (i < 0 || t->size[i] != n) call_ice(c, "axis %s missing or not of size %lld", label, (long long)n);
    row_strides(t, width, st);
    return st[i];
}

static void solve_geometry(const RefCall *c, SolveGeom *s)
{
    const Shape *A = &c->arg[0]->shape, *b = &c->arg[1]->shape;
    const Attr *a = &c->n->attr;
    int64_t bs[MAX_RANK];
    if (!shape_equal(&c->n->shape, b)) call_ice(c, "result shape is not b's");
    s->wa = dt_width(c->arg[0]->dtype), s->wb = dt_width(c->arg[1]->dtype), s->wy = dt_width(c->n->dtype);
    int ib = shape_find(b, a->state);
    if (ib < 0 || !a->col || shape_find(b, a->col) >= 0) call_ice(c, "bad state labels");
    s->n = b->size[ib];
    row_strides(b, s->wb, bs);
    s->bi = bs[ib];
    s->ai = stride_of(c, A, a->state, s->n, s->wa);
    s->aj = stride_of(c, A, a->col, s->n, s->wa);
    s->batch = space_without(b, 1u << ib);
    for (int i = 0, j = 0; i < b->rank; i++)
        if (i != ib) s->bb[j++] = bs[i];
    match_labels(c, &s->batch, A, s->wa, s->ab, A->rank - 2);
}

static double complex load(const double *p, int width) { return width == 2 ? CMPLX(p[0], p[1]) : p[0]; }

/* Solves m x = r in place (m row-major n x n, r length n): x ends in r. */
static void gauss(double complex *m, double complex *r, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        int64_t p = k;
        for (int64_t i = k + 1; i < n; i++)
            if (cabs(m[i * n + k]) > cabs(m[p * n + k])) p = i;
        if (p != k) {
            for (int64_t j = 0; j < n; j++) {
                double complex t = m[k * n + j];
                m[k * n + j] = m[p * n + j], m[p * n + j] = t;
            }
            double complex t = r[k];
            r[k] = r[p], r[p] = t;
        }
        for (int64_t i = k + 1; i < n; i++) {
            double complex f = m[i * n + k] / m[k * n + k];
            for (int64_t j = k; j < n; j++) m[i * n + j] -= f * m[k * n + j];
            r[i] -= f * r[k];
        }
    }
    for (int64_t k = n - 1; k >= 0; k--) {
        for (int64_t j = k + 1; j < n; j++) r[k] -= m[k * n + j] * r[j];
        r[k] /= m[k * n + k];
    }
}

static void solve_one(const RefCall *c, const SolveGeom *s, int64_t boff, int64_t aoff, double complex *m,
                      double complex *r)
{
    int64_t n = s->n;
    for (int64_t i = 0; i < n; i++) {
        r[i] = load(c->in[1] + boff + i * s->bi, s->wb);
        for (int64_t j = 0; j < n; j++) m[i * n + j] = load(c->in[0] + aoff + i * s->ai + j * s->aj, s->wa);
    }
    gauss(m, r, n);
    int64_t yoff = boff / s->wb * s->wy, yi = s->bi / s->wb * s->wy;
    for (int64_t i = 0; i < n; i++) {
        double *y = c->out + yoff + i * yi;
        y[0] = creal(r[i]);
        if (s->wy == 2) y[1] = cimag(r[i]);
    }
}

void ref_solve(const RefCall *c)
{
    SolveGeom s;
    solve_geometry(c, &s);
    double complex *m = xmalloc(sizeof *m * (size_t)(s.n * s.n)), *r = xmalloc(sizeof *r * (size_t)s.n);
    Walk w;
    walk_init(&w, &s.batch);
    walk_view(&w, 0, 0, s.bb);
    walk_view(&w, 1, 0, s.ab);
    int64_t nb = space_numel(&s.batch);
    for (int64_t p = 0; p < nb; p++, walk_next(&w)) solve_one(c, &s, w.off[0], w.off[1], m, r);
    free(m);
    free(r);
}
