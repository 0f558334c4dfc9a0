/* shape.c: shape and dtype rules, and the typed constructors built on them.
 *
 * Every node enters the graph through one of these constructors, so the
 * graph is typed by construction; verify.c re-checks the same rules between
 * passes. The rules are by label (ir.h): broadcasting, reductions and
 * contractions name axes, never positions. */
#include "ir.h"

#include <stdio.h>
#include <string.h>

DType dtype_join(DType a, DType b) { return a == DT_C64 || b == DT_C64 ? DT_C64 : DT_F32; }

const char *label_derived(const char *base, const char *suffix)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", base, suffix);
    return intern(buf);
}

static bool labels_include(const Shape *big, const Shape *small)
{
    for (int i = 0; i < small->rank; i++)
        if (shape_find(big, small->label[i]) < 0) return false;
    return true;
}

bool broadcast_check(const Shape *a, const Shape *b, Shape *out, char *why, size_t n)
{
    for (int i = 0; i < a->rank; i++) {
        int j = shape_find(b, a->label[i]);
        if (j >= 0 && b->size[j] != a->size[i]) {
            snprintf(why, n, "axis %s has size %lld on the left and %lld on the right", a->label[i],
                     (long long)a->size[i], (long long)b->size[j]);
            return false;
        }
    }
    if (labels_include(a, b)) { *out = *a; return true; }
    if (labels_include(b, a)) { *out = *b; return true; }
    *out = *a;
    for (int i = 0; i < b->rank; i++) {
        if (shape_find(a, b->label[i]) >= 0) continue;
        if (out->rank == MAX_RANK) {
            snprintf(why, n, "the result would have more than %d axes", MAX_RANK);
            return false;
        }
        out->label[out->rank] = b->label[i];
        out->size[out->rank++] = b->size[i];
    }
    return true;
}

static const Shape *shape_of(Graph *g, int id) { return &node_at(g, id)->shape; }
static DType dtype_of(Graph *g, int id) { return node_at(g, id)->dtype; }

int ir_scalar(Graph *g, double v, Loc loc)
{
    Shape s = {0};
    return ir_const(g, v, 0, DT_F32, &s, loc);
}

int ir_cast(Graph *g, int x, DType to, Loc loc)
{
    if (dtype_of(g, x) == to || to == DT_F32) return x;
    Node *n = node_at(g, x);
    if (n->op == IR_CONST) return ir_const(g, n->attr.c[0], 0, DT_C64, &n->shape, loc);
    Shape s = n->shape;
    return ir_add(g, IR_TO_C64, DT_C64, &s, &x, 1, NULL, loc);
}

int ir_unary(Graph *g, OpCode op, int x, Loc loc)
{
    DType dt = dtype_of(g, x);
    if (op == IR_REAL || op == IR_IMAG || op == IR_ABS) dt = DT_F32;
    else if (op == IR_TO_C64) dt = DT_C64;
    else if (dt == DT_C64 && !(op_info[op].flags & OF_COMPLEX)) ice("%s on c64", op_info[op].spelling);
    Shape s = *shape_of(g, x);
    return ir_add(g, op, dt, &s, &x, 1, NULL, loc);
}

static bool is_comparison(OpCode op)
{
    return op == IR_LT || op == IR_LE || op == IR_GT || op == IR_GE || op == IR_EQ || op == IR_NE;
}

int ir_binary(Graph *g, OpCode op, int a, int b, Loc loc)
{
    char why[256];
    Shape s;
    if (!broadcast_check(shape_of(g, a), shape_of(g, b), &s, why, sizeof why)) ice("%s", why);
    DType dt = dtype_join(dtype_of(g, a), dtype_of(g, b));
    if (op == IR_COMPLEX || is_comparison(op) || !(op_info[op].flags & OF_COMPLEX)) {
        if (dt == DT_C64) ice("%s on c64", op_info[op].spelling);
    } else {
        a = ir_cast(g, a, dt, loc);
        b = ir_cast(g, b, dt, loc);
    }
    int in[2] = {a, b};
    return ir_add(g, op, op == IR_COMPLEX ? DT_C64 : dt, &s, in, 2, NULL, loc);
}

int ir_where(Graph *g, int c, int a, int b, Loc loc)
{
    char why[256];
    Shape s1, s;
    if (!broadcast_check(shape_of(g, a), shape_of(g, b), &s1, why, sizeof why) ||
        !broadcast_check(&s1, shape_of(g, c), &s, why, sizeof why))
        ice("%s", why);
    DType dt = dtype_join(dtype_of(g, a), dtype_of(g, b));
    int in[3] = {c, ir_cast(g, a, dt, loc), ir_cast(g, b, dt, loc)};
    return ir_add(g, IR_WHERE, dt, &s, in, 3, NULL, loc);
}

int ir_reduce(Graph *g, OpCode op, int x, uint32_t mask, Loc loc)
{
    if (!mask) return x;
    const Shape *in = shape_of(g, x);
    Shape s = {0};
    for (int i = 0; i < in->rank; i++) {
        if (mask & (1u << i)) continue;
        s.label[s.rank] = in->label[i];
        s.size[s.rank++] = in->size[i];
    }
    Attr a = {.mask = mask};
    return ir_add(g, op, dtype_of(g, x), &s, &x, 1, &a, loc);
}

int ir_reduce_labels(Graph *g, OpCode op, int x, const char *const *labels, int n, Loc loc)
{
    uint32_t mask = 0;
    for (int i = 0; i < n; i++) {
        int k = shape_find(shape_of(g, x), labels[i]);
        if (k < 0) ice("reduce over missing axis %s", labels[i]);
        mask |= 1u << k;
    }
    return ir_reduce(g, op, x, mask, loc);
}

int ir_permute(Graph *g, int x, const Shape *target, Loc loc)
{
    if (shape_equal(shape_of(g, x), target)) return x;
    if (!shape_same_axes(shape_of(g, x), target)) ice("permute to a different axis set");
    return ir_add(g, IR_PERMUTE, dtype_of(g, x), target, &x, 1, NULL, loc);
}

int ir_sum_to(Graph *g, int x, const Shape *target, Loc loc)
{
    const Shape *s = shape_of(g, x);
    uint32_t mask = 0;
    for (int i = 0; i < s->rank; i++)
        if (shape_find(target, s->label[i]) < 0) mask |= 1u << i;
    int y = ir_reduce(g, IR_SUM, x, mask, loc);
    if (!shape_same_axes(shape_of(g, y), target)) return ir_broadcast(g, y, target, loc);
    return ir_permute(g, y, target, loc);
}

int ir_broadcast(Graph *g, int x, const Shape *target, Loc loc)
{
    if (shape_equal(shape_of(g, x), target)) return x;
    if (!labels_include(target, shape_of(g, x))) ice("broadcast to a shape without the operand's axes");
    return ir_add(g, IR_BROADCAST, dtype_of(g, x), target, &x, 1, NULL, loc);
}

int ir_reshape(Graph *g, int x, const Shape *target, Loc loc)
{
    if (shape_equal(shape_of(g, x), target)) return x;
    if (shape_numel(shape_of(g, x)) != shape_numel(target)) ice("reshape changes the element count");
    return ir_add(g, IR_RESHAPE, dtype_of(g, x), target, &x, 1, NULL, loc);
}

int ir_relabel(Graph *g, int x, int axis, const char *label, Loc loc)
{
    Shape s = *shape_of(g, x);
    s.label[axis] = label;
    return ir_reshape(g, x, &s, loc);
}

static Shape drop_axis(const Shape *in, int axis)
{
    Shape s = {0};
    for (int i = 0; i < in->rank; i++) {
        if (i == axis) continue;
        s.label[s.rank] = in->label[i];
        s.size[s.rank++] = in->size[i];
    }
    return s;
}

int ir_slice(Graph *g, int x, int axis, int64_t start, int64_t len, int64_t step, bool drop, Loc loc)
{
    const Shape *in = shape_of(g, x);
    if (start < 0 || step < 1 || len < 1 || start + (len - 1) * step >= in->size[axis]) ice("slice out of range");
    if (start == 0 && step == 1 && len == in->size[axis] && !drop) return x;
    Shape s = *in;
    s.size[axis] = len;
    if (drop) {
        if (len != 1) ice("dropping an axis of size %lld", (long long)len);
        s = drop_axis(in, axis);
    }
    Attr a = {.axis = axis, .start = start, .step = step, .drop = drop};
    return ir_add(g, IR_SLICE, dtype_of(g, x), &s, &x, 1, &a, loc);
}

int ir_pad(Graph *g, int x, int axis, int64_t lo, int64_t hi, Loc loc)
{
    if (!lo && !hi) return x;
    Shape s = *shape_of(g, x);
    s.size[axis] += lo + hi;
    Attr a = {.axis = axis, .lo = lo};
    return ir_add(g, IR_PAD, dtype_of(g, x), &s, &x, 1, &a, loc);
}

int ir_flip(Graph *g, int x, int axis, Loc loc)
{
    Shape s = *shape_of(g, x);
    Attr a = {.axis = axis};
    return ir_add(g, IR_FLIP, dtype_of(g, x), &s, &x, 1, &a, loc);
}

int ir_concat(Graph *g, int a, int b, int axis, const char *label, Loc loc)
{
    DType dt = dtype_join(dtype_of(g, a), dtype_of(g, b));
    a = ir_cast(g, a, dt, loc);
    b = ir_cast(g, b, dt, loc);
    const Shape *sb = shape_of(g, b);
    Shape s = *shape_of(g, a);
    int bax = -1;
    for (int i = 0; i < sb->rank; i++)
        if (shape_find(&s, sb->label[i]) < 0 || sb->label[i] == s.label[axis]) bax = i;
    if (bax < 0 || sb->rank != s.rank) ice("concat operands disagree");
    s.size[axis] += sb->size[bax];
    s.label[axis] = label;
    Attr at = {.axis = axis};
    int in[2] = {a, b};
    return ir_add(g, IR_CONCAT, dt, &s, in, 2, &at, loc);
}

int ir_stack(Graph *g, const int *in, int n, int axis, const char *label, Loc loc)
{
    char why[256];
    Shape s = *shape_of(g, in[0]);
    DType dt = dtype_of(g, in[0]);
    for (int k = 1; k < n; k++) {
        Shape t;
        if (!broadcast_check(&s, shape_of(g, in[k]), &t, why, sizeof why)) ice("%s", why);
        s = t;
        dt = dtype_join(dt, dtype_of(g, in[k]));
    }
    if (s.rank == MAX_RANK) ice("stack exceeds the maximum rank");
    int *cast = xmalloc(sizeof(int) * (size_t)n);
    for (int k = 0; k < n; k++) cast[k] = ir_cast(g, in[k], dt, loc);
    for (int i = s.rank; i > axis; i--) {
        s.label[i] = s.label[i - 1];
        s.size[i] = s.size[i - 1];
    }
    s.label[axis] = label;
    s.size[axis] = n;
    s.rank++;
    Attr a = {.axis = axis};
    int id = ir_add(g, IR_STACK, dt, &s, cast, n, &a, loc);
    free(cast);
    return id;
}

int ir_contract_to(Graph *g, int a, int b, const Shape *out, Loc loc)
{
    DType dt = dtype_join(dtype_of(g, a), dtype_of(g, b));
    int in[2] = {ir_cast(g, a, dt, loc), ir_cast(g, b, dt, loc)};
    return ir_add(g, IR_CONTRACT, dt, out, in, 2, NULL, loc);
}

int ir_contract(Graph *g, int a, int b, const char *const *over, int nover, Loc loc)
{
    char why[256];
    Shape all, s = {0};
    if (!broadcast_check(shape_of(g, a), shape_of(g, b), &all, why, sizeof why)) ice("%s", why);
    for (int i = 0; i < all.rank; i++) {
        bool summed = false;
        for (int k = 0; k < nover; k++) summed |= all.label[i] == over[k];
        if (summed) continue;
        s.label[s.rank] = all.label[i];
        s.size[s.rank++] = all.size[i];
    }
    return ir_contract_to(g, a, b, &s, loc);
}

int ir_fft(Graph *g, OpCode op, int x, int hpos, int wpos, const char *wlabel, int64_t wsize, Loc loc)
{
    Shape s = *shape_of(g, x);
    s.label[wpos] = wlabel;
    s.size[wpos] = wsize;
    DType dt = op == IR_RFFT2 || op == IR_IRFFT2_T ? DT_C64 : DT_F32;
    Attr a = {.ax = {hpos, wpos}};
    return ir_add(g, op, dt, &s, &x, 1, &a, loc);
}

int ir_conv2d(Graph *g, int x, int k, int hpos, int wpos, int cpos, int groups, const char *olabel, Loc loc)
{
    Shape s = *shape_of(g, x);
    const Shape *ks = shape_of(g, k);
    s.label[cpos] = olabel;
    s.size[cpos] = ks->size[3];
    Attr a = {.ax = {hpos, wpos, cpos}, .groups = groups};
    int in[2] = {x, k};
    return ir_add(g, IR_CONV2D, DT_F32, &s, in, 2, &a, loc);
}

int ir_scan(Graph *g, int a, int b, int axis, const char *state, const char *col, bool reverse, Loc loc)
{
    DType dt = dtype_join(dtype_of(g, a), dtype_of(g, b));
    int in[2] = {ir_cast(g, a, dt, loc), ir_cast(g, b, dt, loc)};
    Shape s = *shape_of(g, b);
    Attr at = {.axis = axis, .state = state, .col = col, .reverse = reverse};
    return ir_add(g, IR_SCAN, dt, &s, in, 2, &at, loc);
}

int ir_circ(Graph *g, int x, int k, const char *hlabel, const char *wlabel, bool reverse, Loc loc)
{
    char why[256];
    Shape s;
    if (!broadcast_check(shape_of(g, x), shape_of(g, k), &s, why, sizeof why)) ice("%s", why);
    int h = shape_find(&s, hlabel), w = shape_find(&s, wlabel);
    if (h < 0 || w < 0 || dtype_of(g, x) != DT_F32 || dtype_of(g, k) != DT_F32) ice("circ needs f32 operands with axes %s, %s", hlabel, wlabel);
    Attr a = {.ax = {h, w}, .reverse = reverse};
    int in[2] = {x, k};
    return ir_add(g, IR_CIRC, DT_F32, &s, in, 2, &a, loc);
}

int ir_solve(Graph *g, int a, int b, const char *state, const char *col, Loc loc)
{
    DType dt = dtype_join(dtype_of(g, a), dtype_of(g, b));
    int in[2] = {ir_cast(g, a, dt, loc), ir_cast(g, b, dt, loc)};
    Shape s = *shape_of(g, b);
    Attr at = {.state = state, .col = col};
    return ir_add(g, IR_SOLVE, dt, &s, in, 2, &at, loc);
}
