/* ref_scan.c: the linear recurrence h_t = A_t h_{t-1} + b_t, run sequentially.
 *
 * The time axis is b's axis attr.axis (label T); the result has b's shape and
 * holds every h_t, with h_{-1} = 0, so h_0 = b_0. A is matched to b by label
 * and broadcasts: it may lack T (constant in time) or any other axis of b.
 *   scalar (attr.state NULL): elementwise, h_t = A_t * h_{t-1} + b_t;
 *   matrix: with i = label attr.state (in b and A) and j = label attr.col (in
 *     A only, size(j) = size(i)), h_t[i] = sum_j A_t[i,j] h_{t-1}[j] + b_t[i].
 * attr.reverse runs t from the end: h_t = A_t h_{t+1} + b_t with h_T = 0
 * (A_t, not A_{t+1}: a reverse-time adjoint passes its coefficients already
 * shifted). Arithmetic is complex when the result is c64 (real operands read
 * as x + 0i), and real otherwise. */
#include "ref_ops.h"

#include <complex.h>
#include <stdlib.h>
#include <string.h>

typedef struct ScanGeom {
    int64_t T, d;                          /* steps; state size (1 for a scalar scan) */
    Space batch;                           /* b's axes other than T and i */
    int64_t bb[SPACE_RANK], ab[SPACE_RANK];/* batch strides of b (= result) and of A */
    int64_t bt, at, bi, ai, aj;            /* strides of T in b and A, i in b and A, j in A */
    int wa, wb, wy;                        /* doubles per element of A, b, result */
} ScanGeom;

/* Axis labels of attrs are compared by spelling, not by interned pointer. */
static int find_named(const Shape *s, const char *name)
{
    for (int i = 0; i < s->rank; i++)
        if (strcmp(s->label[i], name) == 0) return i;
    return -1;
}

/* Stride (in doubles) of the axis named `name` in t, or 0 when t lacks it;
 * a present axis must have size `size`. */
static int64_t named_stride(const RefCall *c, const Shape *t, const char *name, int64_t size, int width,
                            int *found)
{
    int64_t st[MAX_RANK];
    int i = find_named(t, name);
    if (i < 0) return 0;
    if (t->size[i] != size) call_ice(c, "axis %s has size %lld, expected %lld", name,
                                     (long long)t->size[i], (long long)size);
    row_strides(t, width, st);
    (*found)++;
    return st[i];
}

static void scan_geometry(const RefCall *c, ScanGeom *s)
{
    const Shape *A = &c->arg[0]->shape, *b = &c->arg[1]->shape;
    const Attr *a = &c->n->attr;
    int64_t bs[MAX_RANK];
    int ia = 0, ib = 0, handled = 0;
    if (!shape_equal(&c->n->shape, b)) call_ice(c, "result shape is not b's");
    if (a->axis < 0 || a->axis >= b->rank) call_ice(c, "time axis %d out of range", a->axis);
    s->wa = dt_width(c->arg[0]->dtype), s->wb = dt_width(c->arg[1]->dtype), s->wy = dt_width(c->n->dtype);
    if (s->wy < MAX(s->wa, s->wb)) call_ice(c, "c64 operands need a c64 result");
    s->T = b->size[a->axis];
    row_strides(b, s->wb, bs);
    s->bt = bs[a->axis];
    s->at = named_stride(c, A, b->label[a->axis], s->T, s->wa, &handled);
    uint32_t drop = 1u << a->axis;
    s->d = 1, s->bi = s->ai = s->aj = 0;
    if (a->state) {
        ib = find_named(b, a->state);
        if (ib < 0 || !a->col || find_named(b, a->col) >= 0) call_ice(c, "bad matrix state labels");
        s->d = b->size[ib], s->bi = bs[ib], drop |= 1u << ib;
        s->ai = named_stride(c, A, a->state, s->d, s->wa, &ia);
        s->aj = named_stride(c, A, a->col, s->d, s->wa, &ia);
        if (ia != 2) call_ice(c, "A lacks axis %s or %s", a->state, a->col);
        handled += 2;
    }
    s->batch = space_without(b, drop);
    for (int i = 0, j = 0; i < b->rank; i++)
        if (!(drop & (1u << i))) s->bb[j++] = bs[i];
    match_labels(c, &s->batch, A, s->wa, s->ab, A->rank - handled);
}

static double complex load(const double *p, int width) { return width == 2 ? CMPLX(p[0], p[1]) : p[0]; }

/* One batch point: h over the d state components, updated in time order. */
static void scan_one(const RefCall *c, const ScanGeom *s, int64_t boff, int64_t aoff, double complex *h,
                     double complex *next)
{
    int64_t yoff = boff / s->wb * s->wy;   /* the result is b-shaped, maybe wider */
    int64_t yt = s->bt / s->wb * s->wy, yi = s->bi / s->wb * s->wy;
    for (int64_t i = 0; i < s->d; i++) h[i] = 0;
    for (int64_t step = 0; step < s->T; step++) {
        int64_t t = c->n->attr.reverse ? s->T - 1 - step : step;
        const double *A = c->in[0] + aoff + t * s->at, *b = c->in[1] + boff + t * s->bt;
        for (int64_t i = 0; i < s->d; i++) {
            double complex acc = load(b + i * s->bi, s->wb);
            for (int64_t j = 0; j < s->d; j++) {
                double complex a = load(A + i * s->ai + j * s->aj, s->wa);
                acc += s->wy == 2 ? a * h[j] : creal(a) * creal(h[j]);   /* no inf*0i in real scans */
            }
            next[i] = acc;
        }
        for (int64_t i = 0; i < s->d; i++) {
            double *y = c->out + yoff + t * yt + i * yi;
            h[i] = next[i];
            y[0] = creal(h[i]);
            if (s->wy == 2) y[1] = cimag(h[i]);
        }
    }
}

void ref_scan(const RefCall *c)
{
    ScanGeom s;
    scan_geometry(c, &s);
    double complex *h = xmalloc(sizeof *h * (size_t)s.d), *next = xmalloc(sizeof *next * (size_t)s.d);
    Walk w;
    walk_init(&w, &s.batch);
    walk_view(&w, 0, 0, s.bb);
    walk_view(&w, 1, 0, s.ab);
    int64_t nb = space_numel(&s.batch);
    for (int64_t p = 0; p < nb; p++, walk_next(&w)) scan_one(c, &s, w.off[0], w.off[1], h, next);
    free(h);
    free(next);
}
