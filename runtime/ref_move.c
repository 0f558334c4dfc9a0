/* ref_move.c: data movement (OC_MOVE): copies with no arithmetic.
 *
 * Every op here is one or two strided copies (copy_strided) between a source
 * view and a destination view over an index space:
 *   PERMUTE, BROADCAST  by label: the result's axes, the operand's found by
 *                       label (stride 0 where it lacks one: broadcast);
 *   RESHAPE             row-major reinterpretation, a flat copy;
 *   SLICE, FLIP         positional: result axis i is operand axis i (after
 *                       the dropped axis, i+1), so labels may change;
 *   PAD                 positional, zeros outside [lo, lo + n);
 *   CONCAT              per operand: its axes other than the concatenated one
 *                       are matched to the result's other axes by label; the
 *                       one operand axis left unmatched is the concatenated
 *                       axis, whatever its label (so a[T=3] ++ b[T=5] -> [T2=8]
 *                       and a[B,C] ++ b[B,D] -> [B,E] both work);
 *   STACK               operand k is broadcast by label onto the result
 *                       without axis attr.axis, at index k of that axis.
 * Operands and result share one dtype. */
#include "ref_ops.h"

#include <string.h>

static void copy_strided(const Space *sp, double *dst, int64_t doff, const int64_t *dstride,
                         const double *src, int64_t soff, const int64_t *sstride, int width)
{
    Walk w;
    walk_init(&w, sp);
    walk_view(&w, 0, doff, dstride);
    walk_view(&w, 1, soff, sstride);
    int64_t numel = space_numel(sp);
    for (int64_t i = 0; i < numel; i++, walk_next(&w))
        for (int p = 0; p < width; p++) dst[w.off[0] + p] = src[w.off[1] + p];
}

static void check_same_dtypes(const RefCall *c)
{
    for (int k = 0; k < c->n->nin; k++)
        if (c->arg[k]->dtype != c->n->dtype) call_ice(c, "operand %d has another dtype", k);
}

static void by_label(const RefCall *c, int width)
{
    const Shape *x = &c->arg[0]->shape, *y = &c->n->shape;
    if (c->n->op == IR_PERMUTE && !shape_same_axes(x, y)) call_ice(c, "result axes are not the operand's");
    Space sp = space_of(y);
    int64_t ys[SPACE_RANK], xs[SPACE_RANK];
    row_strides(y, width, ys);
    match_labels(c, &sp, x, width, xs, x->rank);
    copy_strided(&sp, c->out, 0, ys, c->in[0], 0, xs, width);
}

static void reshape(const RefCall *c, int width)
{
    int64_t numel = shape_numel(&c->n->shape);
    if (numel != shape_numel(&c->arg[0]->shape)) call_ice(c, "element counts differ");
    memcpy(c->out, c->in[0], (size_t)(numel * width) * sizeof(double));
}

/* Checks that result axis i is operand axis i, except at `axis`, where the
 * result may have another size (or, with drop, no axis at all). */
static void check_positional(const RefCall *c, int axis, bool drop)
{
    const Shape *x = &c->arg[0]->shape, *y = &c->n->shape;
    if (axis < 0 || axis >= x->rank) call_ice(c, "axis %d out of range", axis);
    if (y->rank != x->rank - drop) call_ice(c, "result rank %d, operand rank %d", y->rank, x->rank);
    for (int i = 0, j = 0; i < x->rank; i++) {
        if (i == axis && drop) continue;
        if (i != axis && y->size[j] != x->size[i]) call_ice(c, "axis %d changed size", i);
        j++;
    }
}

/* The operand's strides (and start offset) seen from the result's axes. */
static int64_t slice_view(const RefCall *c, int width, int64_t *xs_out)
{
    const Shape *x = &c->arg[0]->shape;
    const Attr *a = &c->n->attr;
    int64_t xs[MAX_RANK], count = a->drop ? 1 : c->n->shape.size[a->axis];
    row_strides(x, width, xs);
    if (a->step < 1 || a->start < 0 || (count > 0 && a->start + (count - 1) * a->step >= x->size[a->axis]))
        call_ice(c, "slice %lld:%lld of %lld elements runs out of bounds", (long long)a->start,
                 (long long)a->step, (long long)x->size[a->axis]);
    for (int i = 0, j = 0; i < x->rank; i++) {
        if (i == a->axis && a->drop) continue;
        xs_out[j++] = i == a->axis ? xs[i] * a->step : xs[i];
    }
    return a->start * xs[a->axis];
}

static void slice(const RefCall *c, int width)
{
    int64_t ys[SPACE_RANK], xs[SPACE_RANK];
    check_positional(c, c->n->attr.axis, c->n->attr.drop);
    int64_t start = slice_view(c, width, xs);
    Space sp = space_of(&c->n->shape);
    row_strides(&c->n->shape, width, ys);
    copy_strided(&sp, c->out, 0, ys, c->in[0], start, xs, width);
}

static void pad(const RefCall *c, int width)
{
    const Shape *x = &c->arg[0]->shape;
    int axis = c->n->attr.axis;
    int64_t lo = c->n->attr.lo, ys[SPACE_RANK], xs[SPACE_RANK];
    check_positional(c, axis, false);
    if (lo < 0 || lo + x->size[axis] > c->n->shape.size[axis]) call_ice(c, "padding does not fit");
    Space sp = space_of(x);
    row_strides(&c->n->shape, width, ys);
    row_strides(x, width, xs);
    copy_strided(&sp, c->out, lo * ys[axis], ys, c->in[0], 0, xs, width);   /* the rest stays 0 */
}

static void flip(const RefCall *c, int width)
{
    const Shape *x = &c->arg[0]->shape;
    int axis = c->n->attr.axis;
    int64_t ys[SPACE_RANK], xs[SPACE_RANK];
    check_positional(c, axis, false);
    if (x->size[axis] != c->n->shape.size[axis]) call_ice(c, "flipped axis changed size");
    Space sp = space_of(x);
    row_strides(x, width, xs);
    row_strides(&c->n->shape, width, ys);
    int64_t start = (x->size[axis] - 1) * xs[axis];
    xs[axis] = -xs[axis];
    copy_strided(&sp, c->out, 0, ys, c->in[0], start, xs, width);
}

/* Result strides seen from operand k of a concat; returns the size of the
 * operand's concatenated axis (see the file comment for the rule). */
static int64_t concat_view(const RefCall *c, int k, int width, int64_t *ys_out)
{
    const Shape *x = &c->arg[k]->shape, *y = &c->n->shape;
    int axis = c->n->attr.axis, cat = -1;
    int64_t ys[MAX_RANK];
    row_strides(y, width, ys);
    if (x->rank != y->rank) call_ice(c, "operand %d has rank %d, result %d", k, x->rank, y->rank);
    for (int i = 0; i < x->rank; i++) {
        int j = shape_find(y, x->label[i]);
        if (j < 0 || j == axis) {
            if (cat >= 0) call_ice(c, "operand %d has two axes not in the result", k);
            cat = i;
            ys_out[i] = ys[axis];
        } else if (y->size[j] != x->size[i]) call_ice(c, "axis %s changed size", x->label[i]);
        else ys_out[i] = ys[j];
    }
    if (cat < 0) call_ice(c, "operand %d has no axis to concatenate", k);
    return x->size[cat];
}

static void concat(const RefCall *c, int width)
{
    int axis = c->n->attr.axis;
    int64_t ys[MAX_RANK], yview[SPACE_RANK], xs[SPACE_RANK], at = 0;
    if (axis < 0 || axis >= c->n->shape.rank) call_ice(c, "axis %d out of range", axis);
    row_strides(&c->n->shape, width, ys);
    for (int k = 0; k < 2; k++) {
        int64_t len = concat_view(c, k, width, yview);
        Space sp = space_of(&c->arg[k]->shape);
        row_strides(&c->arg[k]->shape, width, xs);
        copy_strided(&sp, c->out, at * ys[axis], yview, c->in[k], 0, xs, width);
        at += len;
    }
    if (at != c->n->shape.size[axis]) call_ice(c, "operand lengths do not add up to the result's");
}

static void stack(const RefCall *c, int width)
{
    const Shape *y = &c->n->shape;
    int axis = c->n->attr.axis;
    if (axis < 0 || axis >= y->rank || y->size[axis] != c->n->nin)
        call_ice(c, "%d operands for a stacked axis of %lld", c->n->nin, (long long)y->size[axis]);
    Space sp = space_without(y, 1u << axis);
    int64_t ys[MAX_RANK], yview[SPACE_RANK], xs[SPACE_RANK];
    row_strides(y, width, ys);
    for (int i = 0, j = 0; i < y->rank; i++)
        if (i != axis) yview[j++] = ys[i];
    for (int k = 0; k < c->n->nin; k++) {
        match_labels(c, &sp, &c->arg[k]->shape, width, xs, c->arg[k]->shape.rank);
        copy_strided(&sp, c->out, k * ys[axis], yview, c->in[k], 0, xs, width);
    }
}

void ref_movement(const RefCall *c)
{
    int width = dt_width(c->n->dtype);
    check_same_dtypes(c);
    switch (c->n->op) {
    case IR_PERMUTE: case IR_BROADCAST: by_label(c, width); return;
    case IR_RESHAPE: reshape(c, width); return;
    case IR_SLICE: slice(c, width); return;
    case IR_PAD: pad(c, width); return;
    case IR_FLIP: flip(c, width); return;
    case IR_CONCAT: concat(c, width); return;
    case IR_STACK: stack(c, width); return;
    default: call_ice(c, "not a movement op");
    }
}
