/* ref_scan_assoc.c: SCAN evaluated in the associative tree order (--scan=assoc).
 *
 * The same recurrence as ref_scan.c, h_t = A_t h_{t-1} + b_t (scalar or
 * matrix, labels as there), computed the way jax.lax.associative_scan
 * orders it (spec/models.md §2.5), on the pairs e_t = (A_t, b_t) with the
 * combiner (A_i, b_i) . (A_j, b_j) = (A_j A_i, A_j b_i + b_j), i earlier:
 * combine adjacent pairs (0,1), (2,3), ...; scan that half-length sequence
 * recursively (its results are the prefixes ending at the odd indices);
 * each even index t >= 2 is then the odd prefix t-1 combined with e_t; index
 * 0 is e_0. The prefixes' b parts are the h_t. A reverse scan runs the same
 * tree on the reversed sequence, as associative_scan(reverse=True) does.
 *
 * Mathematically equal to the sequential order; the rounding differs, which
 * is what the switch lets one measure. Arithmetic is complex double (real
 * operands read as x + 0i); a real result keeps the real part. Each batch
 * point uses a workspace of at most 2T elements per level sum, reused. */
#include "ref_ops.h"

#include <complex.h>
#include <stdlib.h>
#include <string.h>

typedef struct Geom {
    int64_t T, d;
    Space batch;                            /* b's axes other than T and the state */
    int64_t bb[SPACE_RANK], ab[SPACE_RANK];
    int64_t bt, at, bi, ai, aj;             /* strides (doubles) */
    int wa, wb, wy;
} Geom;

/* Stride (doubles) of the axis labelled `label` in t, 0 when absent. */
static int64_t stride_of(const RefCall *c, const Shape *t, const char *label, int64_t n, int width, int *found)
{
    int64_t st[MAX_RANK];
    int i = -1;
    for (int k = 0; k < t->rank; k++)
        if (!strcmp(t->label[k], label)) i = k;
    if (i < 0) return 0;
    if (t->size[i] != n) call_ice(c, "axis %s has size %lld, expected %lld", label, (long long)t->size[i], (long long)n);
    row_strides(t, width, st);
    (*found)++;
    return st[i];
}

static void geometry(const RefCall *c, Geom *g)
{
    const Shape *A = &c->arg[0]->shape, *b = &c->arg[1]->shape;
    const Attr *a = &c->n->attr;
    int64_t bs[MAX_RANK];
    int handled = 0, ia = 0;
    if (!shape_equal(&c->n->shape, b) || a->axis < 0 || a->axis >= b->rank) call_ice(c, "bad scan shapes");
    g->wa = dt_width(c->arg[0]->dtype), g->wb = dt_width(c->arg[1]->dtype), g->wy = dt_width(c->n->dtype);
    g->T = b->size[a->axis];
    row_strides(b, g->wb, bs);
    g->bt = bs[a->axis];
    g->at = stride_of(c, A, b->label[a->axis], g->T, g->wa, &handled);
    uint32_t drop = 1u << a->axis;
    g->d = 1, g->bi = g->ai = g->aj = 0;
    if (a->state) {
        int ib = shape_find(b, a->state);
        if (ib < 0) call_ice(c, "state axis %s missing", a->state);
        g->d = b->size[ib], g->bi = bs[ib], drop |= 1u << ib;
        g->ai = stride_of(c, A, a->state, g->d, g->wa, &ia);
        g->aj = stride_of(c, A, a->col, g->d, g->wa, &ia);
        if (ia != 2) call_ice(c, "A lacks axis %s or %s", a->state, a->col);
        handled += 2;
    }
    g->batch = space_without(b, drop);
    for (int i = 0, j = 0; i < b->rank; i++)
        if (!(drop & (1u << i))) g->bb[j++] = bs[i];
    match_labels(c, &g->batch, A, g->wa, g->ab, A->rank - handled);
}

/* n elements, each a d x d matrix then a d vector, contiguous. */
typedef struct Seq {
    double complex *v;
    int64_t n;
} Seq;

typedef struct Tree {
    int64_t d, esize;                        /* d and doubles-complex per element: d*d + d */
    double complex *work;
    int64_t used;
} Tree;

static double complex *elem(const Tree *w, Seq s, int64_t i) { return s.v + i * w->esize; }

/* out = l . r = (A_r A_l, A_r b_l + b_r); out must not alias l or r. */
static void combine(const Tree *w, const double complex *l, const double complex *r, double complex *out)
{
    int64_t d = w->d;
    const double complex *Al = l, *bl = l + d * d, *Ar = r, *br = r + d * d;
    for (int64_t i = 0; i < d; i++) {
        for (int64_t j = 0; j < d; j++) {
            double complex s = 0;
            for (int64_t k = 0; k < d; k++) s += Ar[i * d + k] * Al[k * d + j];
            out[i * d + j] = s;
        }
        double complex s = br[i];
        for (int64_t k = 0; k < d; k++) s += Ar[i * d + k] * bl[k];
        out[d * d + i] = s;
    }
}

static Seq seq_alloc(Tree *w, int64_t n)
{
    Seq s = {w->work + w->used, n};
    w->used += n * w->esize;
    return s;
}

/* Prefixes of e into out (n elements), in associative_scan's order. */
static void tree_scan(Tree *w, Seq e, Seq out)
{
    int64_t n = e.n, m = n / 2, mark = w->used;
    if (n < 2) {
        if (n == 1) memcpy(out.v, e.v, sizeof(double complex) * (size_t)w->esize);
        return;
    }
    Seq reduced = seq_alloc(w, m), odd = seq_alloc(w, m);
    for (int64_t i = 0; i < m; i++) combine(w, elem(w, e, 2 * i), elem(w, e, 2 * i + 1), elem(w, reduced, i));
    tree_scan(w, reduced, odd);
    memcpy(out.v, e.v, sizeof(double complex) * (size_t)w->esize);
    for (int64_t i = 0; i < m; i++) memcpy(elem(w, out, 2 * i + 1), elem(w, odd, i), sizeof(double complex) * (size_t)w->esize);
    for (int64_t t = 2; t < n; t += 2) combine(w, elem(w, odd, t / 2 - 1), elem(w, e, t), elem(w, out, t));
    w->used = mark;
}

static double complex load(const double *p, int width) { return width == 2 ? CMPLX(p[0], p[1]) : p[0]; }

static void scan_point(const RefCall *c, const Geom *g, Tree *w, int64_t boff, int64_t aoff)
{
    int64_t T = g->T, d = g->d;
    bool rev = c->n->attr.reverse;
    w->used = 0;
    Seq e = seq_alloc(w, T), out = seq_alloc(w, T);
    for (int64_t s = 0; s < T; s++) {
        int64_t t = rev ? T - 1 - s : s;
        double complex *x = elem(w, e, s);
        for (int64_t i = 0; i < d; i++) {
            x[d * d + i] = load(c->in[1] + boff + t * g->bt + i * g->bi, g->wb);
            for (int64_t j = 0; j < d; j++) x[i * d + j] = load(c->in[0] + aoff + t * g->at + i * g->ai + j * g->aj, g->wa);
        }
    }
    tree_scan(w, e, out);
    int64_t yoff = boff / g->wb * g->wy, yt = g->bt / g->wb * g->wy, yi = g->bi / g->wb * g->wy;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = rev ? T - 1 - s : s;
        const double complex *h = elem(w, out, s) + d * d;
        for (int64_t i = 0; i < d; i++) {
            double *y = c->out + yoff + t * yt + i * yi;
            y[0] = creal(h[i]);
            if (g->wy == 2) y[1] = cimag(h[i]);
        }
    }
}

void ref_scan_assoc(const RefCall *c)
{
    Geom g;
    geometry(c, &g);
    Tree w = {.d = g.d, .esize = g.d * g.d + g.d};
    w.work = xmalloc(sizeof(double complex) * (size_t)(4 * (g.T + 1) * w.esize));   /* 2T + sum of halves */
    Walk wk;
    walk_init(&wk, &g.batch);
    walk_view(&wk, 0, 0, g.bb);
    walk_view(&wk, 1, 0, g.ab);
    int64_t nb = space_numel(&g.batch);
    for (int64_t p = 0; p < nb; p++, walk_next(&wk)) scan_point(c, &g, &w, wk.off[0], wk.off[1]);
    free(w.work);
}
