/* ref_circ.c: CIRC, the real-space circular depthwise correlation of the
 * mechanism-validation models (spec/models.md §3.14, cssm.py:6297-6326).
 *
 * With H, W the result's axes attr.ax[0], attr.ax[1]:
 *   forward  y[i,j] = sum_{a,b} k[a,b] x[(i+a+1) mod H, (j+b+1) mod W]
 *   reverse  y[i,j] = sum_{a,b} k[a,b] x[(i-a-1) mod H, (j-b-1) mod W]
 * The forward map is what the reference computes (wrap-pad by H-1, W-1 at
 * the top and left, then a VALID cross-correlation with the H x W kernel);
 * the reverse map is its adjoint in x, which autodiff.c needs. x and k both
 * have H and W with the result's sizes and any subset of the result's other
 * axes, matched by label (a missing axis broadcasts). Each point of the other
 * axes costs O(H^2 W^2), as in the reference. */
#include "ref_ops.h"

#include <stdlib.h>

typedef struct Circ {
    int64_t H, W;
    int64_t yh, yw, xh, xw, kh, kw;            /* strides of H, W (doubles) */
    Space rest;                                /* the result's other axes */
    int64_t yr[SPACE_RANK], xr[SPACE_RANK], kr[SPACE_RANK];
} Circ;

/* Strides of H, W in operand t, and of the other axes over the rest space. */
static void operand_strides(const RefCall *c, const Circ *v, const Shape *t, int64_t *h, int64_t *w,
                            int64_t *rest)
{
    const Shape *y = &c->n->shape;
    int64_t st[MAX_RANK];
    int ih = shape_find(t, y->label[c->n->attr.ax[0]]), iw = shape_find(t, y->label[c->n->attr.ax[1]]);
    if (ih < 0 || iw < 0 || t->size[ih] != v->H || t->size[iw] != v->W) call_ice(c, "an operand lacks H or W");
    shape_strides(t, st);
    *h = st[ih], *w = st[iw];
    match_labels(c, &v->rest, t, 1, rest, t->rank - 2);
}

static void circ_geometry(const RefCall *c, Circ *v)
{
    const Shape *y = &c->n->shape;
    const int *ax = c->n->attr.ax;
    int64_t st[MAX_RANK];
    if (c->n->dtype != DT_F32 || c->arg[0]->dtype != DT_F32 || c->arg[1]->dtype != DT_F32)
        call_ice(c, "circ is f32 only");
    if (ax[0] < 0 || ax[1] < 0 || ax[0] >= y->rank || ax[1] >= y->rank || ax[0] == ax[1]) call_ice(c, "bad attr.ax");
    v->H = y->size[ax[0]], v->W = y->size[ax[1]];
    shape_strides(y, st);
    v->yh = st[ax[0]], v->yw = st[ax[1]];
    v->rest = space_without(y, 1u << ax[0] | 1u << ax[1]);
    for (int i = 0, j = 0; i < y->rank; i++)
        if (i != ax[0] && i != ax[1]) v->yr[j++] = st[i];
    operand_strides(c, v, &c->arg[0]->shape, &v->xh, &v->xw, v->xr);
    operand_strides(c, v, &c->arg[1]->shape, &v->kh, &v->kw, v->kr);
}

/* Row of x read by output row i and kernel row a, for both maps. */
static int64_t wrap(int64_t i, int64_t a, int64_t n, bool reverse)
{
    int64_t r = reverse ? i - a - 1 : i + a + 1;
    return ((r % n) + n) % n;
}

static void circ_one(const RefCall *c, const Circ *v, int64_t yo, int64_t xo, int64_t ko)
{
    const double *x = c->in[0] + xo, *k = c->in[1] + ko;
    bool rev = c->n->attr.reverse;
    for (int64_t i = 0; i < v->H; i++)
        for (int64_t j = 0; j < v->W; j++) {
            double acc = 0;
            for (int64_t a = 0; a < v->H; a++) {
                int64_t xrow = wrap(i, a, v->H, rev) * v->xh;
                for (int64_t b = 0; b < v->W; b++)
                    acc += k[a * v->kh + b * v->kw] * x[xrow + wrap(j, b, v->W, rev) * v->xw];
            }
            c->out[yo + i * v->yh + j * v->yw] = acc;
        }
}

void ref_circ(const RefCall *c)
{
    Circ v;
    circ_geometry(c, &v);
    Walk w;
    walk_init(&w, &v.rest);
    walk_view(&w, 0, 0, v.yr);
    walk_view(&w, 1, 0, v.xr);
    walk_view(&w, 2, 0, v.kr);
    int64_t n = space_numel(&v.rest);
    for (int64_t p = 0; p < n; p++, walk_next(&w)) circ_one(c, &v, w.off[0], w.off[1], w.off[2]);
}
