/* ref_conv.c: 2-D convolution (Flax nn.Conv semantics) and 2x2 max pooling.
 *
 * CONV2D is cross-correlation (no kernel flip), stride 1, SAME zero padding
 * as XLA computes it: pad_lo = (k-1)/2 before, k-1-pad_lo after, so odd k
 * pads (k-1)/2 on both sides. x has H, W, C at attr.ax[0..2] and any other
 * axes (batch) anywhere; the kernel is positional [kh, kw, Ci/G, Co]; the
 * result is x's shape with C replaced (same position) by Co. With G =
 * attr.groups feature groups, output channel o reads input channels
 * [g*Ci/G, (g+1)*Ci/G) with g = o / (Co/G).
 *
 * The three ops are the three slots of one trilinear form
 *     S(x, k, y) = sum y[b,h,w,o] k[dh,dw,ci,o] x[b, h+dh-lo_h, w+dw-lo_w, g*Ci/G+ci]
 * (terms outside x dropped): CONV2D computes y from (x, k), CONV2D_DX
 * computes x from (y = g, k) and CONV2D_DK computes k from (x, y = g), each
 * by one loop over the same terms, so the two gradients are exactly the
 * adjoints of the forward.
 *
 * MAXPOOL2 takes 2x2 windows with stride 2 over attr.ax[0], attr.ax[1]; odd
 * sizes pad the high side with -inf, so the result has ceil(n/2) there and a
 * window may hold 1, 2 or 4 elements. MAXPOOL2_DX(x, g) routes each g to the
 * first maximum of its window in row-major window order. */
#include "ref_ops.h"

#include <math.h>

typedef struct Conv {
    const Shape *x, *k, *y;         /* the x-, kernel- and y-shaped tensors */
    int64_t H, W, ci, co, kh, kw, cig, cog, lo_h, lo_w;
    int64_t xh, xw, xc, yh, yw, yc; /* strides of H, W, C in x and in y */
    Space batch;                    /* x's axes other than H, W, C */
    int64_t xb[SPACE_RANK], yb[SPACE_RANK];
} Conv;

static void conv_shapes(const RefCall *c, Conv *v)
{
    const Shape *a0 = &c->arg[0]->shape, *a1 = &c->arg[1]->shape, *out = &c->n->shape;
    switch (c->n->op) {
    case IR_CONV2D: v->x = a0, v->k = a1, v->y = out; break;
    case IR_CONV2D_DX: v->y = a0, v->k = a1, v->x = out; break;
    default: v->x = a0, v->y = a1, v->k = out; break;
    }
    for (int k = 0; k < c->n->nin; k++)
        if (c->arg[k]->dtype != DT_F32) call_ice(c, "convolutions are f32 only");
}

/* The axes of x and y other than C must agree, position by position. */
static void conv_batch(const RefCall *c, Conv *v, const int *ax)
{
    int64_t xs[MAX_RANK], ys[MAX_RANK];
    shape_strides(v->x, xs);
    shape_strides(v->y, ys);
    v->xh = xs[ax[0]], v->xw = xs[ax[1]], v->xc = xs[ax[2]];
    v->yh = ys[ax[0]], v->yw = ys[ax[1]], v->yc = ys[ax[2]];
    v->batch = space_without(v->x, 1u << ax[0] | 1u << ax[1] | 1u << ax[2]);
    for (int i = 0, j = 0; i < v->x->rank; i++) {
        if (i != ax[2] && (v->x->label[i] != v->y->label[i] || v->x->size[i] != v->y->size[i]))
            call_ice(c, "x and y differ on axis %d", i);
        if (i == ax[0] || i == ax[1] || i == ax[2]) continue;
        v->xb[j] = xs[i], v->yb[j++] = ys[i];
    }
}

static void conv_geometry(const RefCall *c, Conv *v)
{
    const int *ax = c->n->attr.ax;
    int64_t G = c->n->attr.groups;
    conv_shapes(c, v);
    if (v->x->rank != v->y->rank || v->k->rank != 4) call_ice(c, "bad ranks");
    for (int i = 0; i < 3; i++)
        if (ax[i] < 0 || ax[i] >= v->x->rank || ax[i] == ax[(i + 1) % 3]) call_ice(c, "bad attr.ax");
    v->H = v->x->size[ax[0]], v->W = v->x->size[ax[1]], v->ci = v->x->size[ax[2]];
    v->co = v->y->size[ax[2]];
    v->kh = v->k->size[0], v->kw = v->k->size[1], v->cig = v->k->size[2];
    if (G < 1 || v->cig * G != v->ci || v->k->size[3] != v->co || v->co % G)
        call_ice(c, "kernel [%lld,%lld,%lld,%lld] does not fit Ci=%lld, Co=%lld, groups=%lld",
                 (long long)v->kh, (long long)v->kw, (long long)v->cig, (long long)v->k->size[3],
                 (long long)v->ci, (long long)v->co, (long long)G);
    v->cog = v->co / G;
    v->lo_h = (v->kh - 1) / 2, v->lo_w = (v->kw - 1) / 2;
    conv_batch(c, v, ax);
}

/* Every term of S for one (batch, h, w, o), applied to the op's slot. */
static void conv_terms(OpCode op, const Conv *v, int64_t xb, int64_t yo, int64_t h, int64_t w,
                       int64_t o, double *x, double *k, double *y)
{
    int64_t c0 = o / v->cog * v->cig;
    for (int64_t dh = 0; dh < v->kh; dh++) {
        int64_t ih = h + dh - v->lo_h;
        if (ih < 0 || ih >= v->H) continue;
        for (int64_t dw = 0; dw < v->kw; dw++) {
            int64_t iw = w + dw - v->lo_w;
            if (iw < 0 || iw >= v->W) continue;
            for (int64_t ci = 0; ci < v->cig; ci++) {
                int64_t xo = xb + ih * v->xh + iw * v->xw + (c0 + ci) * v->xc;
                int64_t ko = ((dh * v->kw + dw) * v->cig + ci) * v->co + o;
                if (op == IR_CONV2D) y[yo] += x[xo] * k[ko];
                else if (op == IR_CONV2D_DX) x[xo] += y[yo] * k[ko];
                else k[ko] += x[xo] * y[yo];
            }
        }
    }
}

void ref_conv(const RefCall *c)
{
    Conv v;
    conv_geometry(c, &v);
    OpCode op = c->n->op;
    double *x = op == IR_CONV2D_DX ? c->out : (double *)c->in[0];
    double *y = op == IR_CONV2D ? c->out : (double *)c->in[op == IR_CONV2D_DX ? 0 : 1];
    double *k = op == IR_CONV2D_DK ? c->out : (double *)c->in[1];
    Walk walk;
    walk_init(&walk, &v.batch);
    walk_view(&walk, 0, 0, v.xb);
    walk_view(&walk, 1, 0, v.yb);
    int64_t nb = space_numel(&v.batch);
    for (int64_t b = 0; b < nb; b++, walk_next(&walk))
        for (int64_t h = 0; h < v.H; h++)
            for (int64_t w = 0; w < v.W; w++)
                for (int64_t o = 0; o < v.co; o++) {
                    int64_t yo = walk.off[1] + h * v.yh + w * v.yw + o * v.yc;
                    conv_terms(op, &v, walk.off[0], yo, h, w, o, x, k, y);
                }
}

/* ---- max pooling ---- */

typedef struct Pool {
    int64_t H, W, xh, xw, yh, yw, oh, ow;
    Space batch;
    int64_t xb[SPACE_RANK], yb[SPACE_RANK];
} Pool;

static void pool_geometry(const RefCall *c, Pool *p)
{
    const Shape *x = &c->arg[0]->shape, *y = c->n->op == IR_MAXPOOL2 ? &c->n->shape : &c->arg[1]->shape;
    const int *ax = c->n->attr.ax;
    int64_t xs[MAX_RANK], ys[MAX_RANK];
    if (x->rank != y->rank || ax[0] < 0 || ax[1] < 0 || ax[0] >= x->rank || ax[1] >= x->rank || ax[0] == ax[1])
        call_ice(c, "bad ranks or pooled axes");
    if (c->n->op == IR_MAXPOOL2_DX && !shape_equal(&c->n->shape, x)) call_ice(c, "result is not x-shaped");
    for (int i = 0; i < x->rank; i++) {
        bool pooled = i == ax[0] || i == ax[1];
        int64_t want = pooled ? (x->size[i] + 1) / 2 : x->size[i];
        if (y->size[i] != want || (!pooled && y->label[i] != x->label[i]))
            call_ice(c, "pooled shape differs from x's on axis %d", i);
    }
    shape_strides(x, xs);
    shape_strides(y, ys);
    p->H = x->size[ax[0]], p->W = x->size[ax[1]], p->oh = y->size[ax[0]], p->ow = y->size[ax[1]];
    p->xh = xs[ax[0]], p->xw = xs[ax[1]], p->yh = ys[ax[0]], p->yw = ys[ax[1]];
    p->batch = space_without(x, 1u << ax[0] | 1u << ax[1]);
    for (int i = 0, j = 0; i < x->rank; i++)
        if (i != ax[0] && i != ax[1]) p->xb[j] = xs[i], p->yb[j++] = ys[i];
}

/* Offset in x of the first maximum of window (i, j); NaN counts as maximal. */
static int64_t window_argmax(const Pool *p, const double *x, int64_t xb, int64_t i, int64_t j)
{
    int64_t best = xb + 2 * i * p->xh + 2 * j * p->xw;
    for (int64_t h = 2 * i; h < MIN(2 * i + 2, p->H); h++)
        for (int64_t w = 2 * j; w < MIN(2 * j + 2, p->W); w++) {
            int64_t o = xb + h * p->xh + w * p->xw;
            if (x[best] == x[best] && !(x[o] <= x[best])) best = o;   /* greater, or NaN */
        }
    return best;
}

void ref_pool(const RefCall *c)
{
    Pool p;
    for (int k = 0; k < c->n->nin; k++)
        if (c->arg[k]->dtype != DT_F32) call_ice(c, "pooling is f32 only");
    pool_geometry(c, &p);
    bool fwd = c->n->op == IR_MAXPOOL2;
    const double *x = c->in[0];
    Walk walk;
    walk_init(&walk, &p.batch);
    walk_view(&walk, 0, 0, p.xb);
    walk_view(&walk, 1, 0, p.yb);
    int64_t nb = space_numel(&p.batch);
    for (int64_t b = 0; b < nb; b++, walk_next(&walk))
        for (int64_t i = 0; i < p.oh; i++)
            for (int64_t j = 0; j < p.ow; j++) {
                int64_t at = window_argmax(&p, x, walk.off[0], i, j);
                int64_t yo = walk.off[1] + i * p.yh + j * p.yw;
                if (fwd) c->out[yo] = x[at];
                else c->out[at] += c->in[1][yo];
            }
}
