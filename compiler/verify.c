/* verify.c: the IR verifier, run between passes.
 *
 * Re-checks the invariants every pass must keep: operands precede users,
 * arities match ops.def, labels are unique and sizes positive, and each op's
 * shape and dtype rule holds (by label, as shape.c builds them). A violation
 * is a compiler bug: it is printed as an internal error naming the node and
 * the pass that produced it. */
#include "ir.h"

#include <stdio.h>

typedef struct Check {
    Graph *g;
    const char *after;
    int id;
    int errors;
} Check;

static bool fail(Check *c, const char *what)
{
    fprintf(stderr, "cssmc: internal error: after %s: node %%%d: %s\n  ", c->after, c->id, what);
    print_node(stderr, c->g, c->id);
    c->errors++;
    return false;
}

static const Shape *in_shape(Check *c, int k) { return &node_at(c->g, node_at(c->g, c->id)->in[k])->shape; }
static DType in_dtype(Check *c, int k) { return node_at(c->g, node_at(c->g, c->id)->in[k])->dtype; }

static bool subset_of(const Shape *small, const Shape *big, const char *except)
{
    for (int i = 0; i < small->rank; i++) {
        if (small->label[i] == except) continue;
        int j = shape_find(big, small->label[i]);
        if (j < 0 || big->size[j] != small->size[i]) return false;
    }
    return true;
}

static bool check_shape_itself(Check *c, const Shape *s)
{
    if (s->rank < 0 || s->rank > MAX_RANK) return fail(c, "bad rank");
    for (int i = 0; i < s->rank; i++) {
        if (!s->label[i] || s->size[i] < 1) return fail(c, "an axis without a label or with size < 1");
        for (int j = 0; j < i; j++)
            if (s->label[i] == s->label[j]) return fail(c, "duplicate axis label");
    }
    return true;
}

static bool check_ew(Check *c, const Node *n)
{
    for (int k = 0; k < n->nin; k++)
        if (!subset_of(in_shape(c, k), &n->shape, NULL)) return fail(c, "operand axes not in the result");
    OpCode op = n->op;
    bool to_real = op == IR_REAL || op == IR_IMAG || op == IR_ABS;
    if (op == IR_COMPLEX || op == IR_TO_C64) return n->dtype == DT_C64 ? true : fail(c, "must be c64");
    if (to_real) return n->dtype == DT_F32 ? true : fail(c, "must be f32");
    int first = op == IR_WHERE ? 1 : 0;
    for (int k = first; k < n->nin; k++)
        if (in_dtype(c, k) != (op >= IR_LT && op <= IR_NE ? DT_F32 : n->dtype)) return fail(c, "operand dtype");
    return true;
}

static bool check_reduce(Check *c, const Node *n)
{
    const Shape *x = in_shape(c, 0);
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (n->attr.mask & (1u << i)) continue;
        if (r >= n->shape.rank || n->shape.label[r] != x->label[i] || n->shape.size[r] != x->size[i])
            return fail(c, "reduction result is not the operand minus the reduced axes");
        r++;
    }
    return r == n->shape.rank ? true : fail(c, "reduction result rank");
}

static bool check_move(Check *c, const Node *n)
{
    const Shape *x = in_shape(c, 0);
    switch (n->op) {
    case IR_PERMUTE: return shape_same_axes(x, &n->shape) ? true : fail(c, "permute changes the axes");
    case IR_BROADCAST: return subset_of(x, &n->shape, NULL) ? true : fail(c, "broadcast drops axes");
    case IR_RESHAPE: return shape_numel(x) == shape_numel(&n->shape) ? true : fail(c, "reshape changes the size");
    case IR_SLICE: case IR_PAD: case IR_FLIP:
        return n->attr.axis >= 0 && n->attr.axis < x->rank ? true : fail(c, "axis out of range");
    default: return true;
    }
}

static bool check_circ(Check *c, const Node *n)
{
    const int *ax = n->attr.ax;
    if (ax[0] < 0 || ax[1] < 0 || ax[0] >= n->shape.rank || ax[1] >= n->shape.rank || ax[0] == ax[1])
        return fail(c, "circ: bad H, W positions");
    for (int k = 0; k < 2; k++) {
        if (in_dtype(c, k) != DT_F32) return fail(c, "circ operands must be f32");
        if (!subset_of(in_shape(c, k), &n->shape, NULL)) return fail(c, "circ operand axes not in the result");
        if (shape_find(in_shape(c, k), n->shape.label[ax[0]]) < 0 || shape_find(in_shape(c, k), n->shape.label[ax[1]]) < 0)
            return fail(c, "circ operand lacks H or W");
    }
    return n->dtype == DT_F32 ? true : fail(c, "circ result must be f32");
}

/* SOLVE keeps SCAN's matrix conventions: result = b's shape, A within b but col. */
static bool check_solve(Check *c, const Node *n)
{
    if (!shape_equal(&n->shape, in_shape(c, 1))) return fail(c, "solve result differs from b");
    if (!subset_of(in_shape(c, 0), in_shape(c, 1), n->attr.col)) return fail(c, "solve matrix has axes b lacks");
    if (!n->attr.state || !n->attr.col || shape_find(in_shape(c, 1), n->attr.state) < 0 ||
        shape_find(in_shape(c, 0), n->attr.state) < 0 || shape_find(in_shape(c, 0), n->attr.col) < 0)
        return fail(c, "solve state or column axis missing");
    for (int k = 0; k < 2; k++)
        if (in_dtype(c, k) != n->dtype) return fail(c, "solve operand dtype");
    return true;
}

static bool check_lib(Check *c, const Node *n)
{
    if (n->op == IR_CIRC) return check_circ(c, n);
    if (n->op == IR_SOLVE) return check_solve(c, n);
    if (n->op == IR_CONTRACT) {
        Shape all = *in_shape(c, 0);
        for (int i = 0; i < in_shape(c, 1)->rank && all.rank < MAX_RANK; i++) {
            if (shape_find(&all, in_shape(c, 1)->label[i]) >= 0) continue;
            all.label[all.rank] = in_shape(c, 1)->label[i];
            all.size[all.rank++] = in_shape(c, 1)->size[i];
        }
        return subset_of(&n->shape, &all, NULL) ? true : fail(c, "contraction result has foreign axes");
    }
    return true;
}

static bool check_scan(Check *c, const Node *n)
{
    if (!shape_equal(&n->shape, in_shape(c, 1))) return fail(c, "scan result differs from its input b");
    if (!subset_of(in_shape(c, 0), in_shape(c, 1), n->attr.col)) return fail(c, "transition has axes b lacks");
    if (n->attr.state && shape_find(in_shape(c, 1), n->attr.state) < 0) return fail(c, "state axis missing");
    return true;
}

static void check_node(Check *c)
{
    const Node *n = node_at(c->g, c->id);
    const OpInfo *info = &op_info[n->op];
    if (info->arity >= 0 && n->nin != info->arity) {
        fail(c, "wrong number of operands");
        return;
    }
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] < 0 || n->in[k] >= c->id) {
            fail(c, "operand does not precede its user");
            return;
        }
    if (n->dtype != DT_F32 && n->dtype != DT_C64) fail(c, "dtype must be f32 or c64");
    if (!check_shape_itself(c, &n->shape)) return;
    switch (info->cls) {
    case OC_EW: check_ew(c, n); break;
    case OC_REDUCE: check_reduce(c, n); break;
    case OC_MOVE: check_move(c, n); break;
    case OC_LIB: check_lib(c, n); break;
    case OC_SCAN: check_scan(c, n); break;
    case OC_LEAF: break;
    }
}

int verify_graph(Graph *g, const char *after)
{
    Check c = {.g = g, .after = after};
    for (c.id = 0; c.id < g->nodes.len; c.id++) check_node(&c);
    if (g->output >= g->nodes.len) fail(&c, "output out of range");
    return c.errors;
}
