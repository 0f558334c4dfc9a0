/* autodiff.c: reverse-mode differentiation on the IR.
 *
 * differentiate() appends the backward pass to the forward graph as ordinary
 * nodes: one VJP rule per op (vjp below), cotangents accumulated by ADD.
 * The cotangent of the output is a new INPUT ("d_output"), so the same graph
 * serves gradcheck (a random seed) and training (the loss gradient computed
 * by the trainer). The gradients are those of the trained parameters
 * (g->grads) and, when asked, of the model input, as the probe
 * "grad.<input>" (cssmc inspect's attributions).
 *
 * Complex values follow JAX's convention: the cotangent of z is
 * dL/dRe z - i dL/dIm z, so holomorphic ops propagate by plain multiplication
 * with their derivative (no conjugation), conj propagates conj, and a linear
 * map propagates by its transpose (not its adjoint). The linear scan's
 * transpose is a reverse scan with the transition shifted by one step and, for
 * matrix scans, its state and column labels swapped (spec/models.md §5.3). */
#include "ir.h"

#include <stdlib.h>

typedef struct Ad {
    Graph *g;
    int *ct;        /* cotangent node per forward node, -1 if none */
    bool *needs;    /* does the node depend on what is differentiated? */
} Ad;

/* Adds cotangent v to node x: reduces broadcast axes, drops an imaginary part
 * for real x, and accumulates. */
static void contribute(Ad *ad, int x, int v)
{
    if (!ad->needs[x]) return;
    Graph *g = ad->g;
    Loc loc = node_at(g, v)->loc;
    Shape target = node_at(g, x)->shape;
    v = ir_sum_to(g, v, &target, loc);
    if (node_at(g, x)->dtype == DT_F32 && node_at(g, v)->dtype == DT_C64) v = ir_unary(g, IR_REAL, v, loc);
    ad->ct[x] = ad->ct[x] < 0 ? v : ir_binary(g, IR_ADD, ad->ct[x], v, loc);
}

static int mul(Graph *g, int a, int b, Loc l) { return ir_binary(g, IR_MUL, a, b, l); }
static int num(Graph *g, double v, Loc l) { return ir_scalar(g, v, l); }
static int un(Graph *g, OpCode op, int x, Loc l) { return ir_unary(g, op, x, l); }
static int bin(Graph *g, OpCode op, int a, int b, Loc l) { return ir_binary(g, op, a, b, l); }

/* d/dx of the unary elementwise ops, as a node (y is the op's output). */
static int unary_derivative(Graph *g, OpCode op, int x, int y, Loc l)
{
    switch (op) {
    case IR_EXP: return y;
    case IR_LOG: return bin(g, IR_DIV, num(g, 1, l), x, l);
    case IR_SQRT: return bin(g, IR_DIV, num(g, 0.5, l), y, l);
    case IR_RSQRT: return mul(g, num(g, -0.5, l), bin(g, IR_DIV, y, x, l), l);
    case IR_SIN: return un(g, IR_COS, x, l);
    case IR_COS: return un(g, IR_NEG, un(g, IR_SIN, x, l), l);
    case IR_TANH: return bin(g, IR_SUB, num(g, 1, l), mul(g, y, y, l), l);
    case IR_SIGMOID: return mul(g, y, bin(g, IR_SUB, num(g, 1, l), y, l), l);
    case IR_SOFTPLUS: return un(g, IR_SIGMOID, x, l);
    case IR_SILU: {
        int s = un(g, IR_SIGMOID, x, l);
        return mul(g, s, bin(g, IR_ADD, num(g, 1, l), mul(g, x, bin(g, IR_SUB, num(g, 1, l), s, l), l), l), l);
    }
    case IR_GELU: return un(g, IR_GELU_D, x, l);
    case IR_RELU: return bin(g, IR_GT, x, num(g, 0, l), l);
    default: ice("no derivative for %s", op_info[op].spelling);
    }
}

/* Gradient of |x|: sign(x) for reals, conj(z)/|z| for complex; 0 at 0. */
static int abs_vjp(Graph *g, int x, int y, int gr, Loc l)
{
    if (node_at(g, x)->dtype == DT_F32)
        return mul(g, gr, bin(g, IR_SUB, bin(g, IR_GT, x, num(g, 0, l), l), bin(g, IR_LT, x, num(g, 0, l), l), l), l);
    int nz = bin(g, IR_GT, y, num(g, 0, l), l);
    int safe = bin(g, IR_MAXIMUM, y, num(g, 1e-300, l), l);
    int v = mul(g, gr, bin(g, IR_DIV, un(g, IR_CONJ, x, l), safe, l), l);
    return ir_where(g, nz, v, num(g, 0, l), l);
}

static void vjp_unary(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int x = n.in[0];
    Loc l = n.loc;
    switch (n.op) {
    case IR_NEG: contribute(ad, x, un(g, IR_NEG, gr, l)); break;
    case IR_CONJ: contribute(ad, x, un(g, IR_CONJ, gr, l)); break;
    case IR_REAL: contribute(ad, x, ir_cast(g, gr, DT_C64, l)); break;
    case IR_IMAG: contribute(ad, x, bin(g, IR_COMPLEX, num(g, 0, l), un(g, IR_NEG, gr, l), l)); break;
    case IR_TO_C64: contribute(ad, x, un(g, IR_REAL, gr, l)); break;
    case IR_ABS: contribute(ad, x, abs_vjp(g, x, id, gr, l)); break;
    case IR_FLOOR: break;
    default: contribute(ad, x, mul(g, gr, unary_derivative(g, n.op, x, id, l), l)); break;
    }
}

static void vjp_binary(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int a = n.in[0], b = n.in[1];
    Loc l = n.loc;
    switch (n.op) {
    case IR_ADD: contribute(ad, a, gr); contribute(ad, b, gr); break;
    case IR_SUB: contribute(ad, a, gr); contribute(ad, b, un(g, IR_NEG, gr, l)); break;
    case IR_MUL: contribute(ad, a, mul(g, gr, b, l)); contribute(ad, b, mul(g, gr, a, l)); break;
    case IR_DIV:
        contribute(ad, a, bin(g, IR_DIV, gr, b, l));
        contribute(ad, b, un(g, IR_NEG, mul(g, gr, bin(g, IR_DIV, id, b, l), l), l));
        break;
    case IR_POW:
        if (ad->needs[a])
            contribute(ad, a, mul(g, gr, mul(g, b, bin(g, IR_POW, a, bin(g, IR_SUB, b, num(g, 1, l), l), l), l), l));
        if (ad->needs[b]) contribute(ad, b, mul(g, gr, mul(g, id, un(g, IR_LOG, a, l), l), l));
        break;
    case IR_MAXIMUM: case IR_MINIMUM: {
        int pick_a = bin(g, n.op == IR_MAXIMUM ? IR_GE : IR_LE, a, b, l);
        contribute(ad, a, mul(g, gr, pick_a, l));
        contribute(ad, b, mul(g, gr, bin(g, IR_SUB, num(g, 1, l), pick_a, l), l));
        break;
    }
    case IR_COMPLEX:
        contribute(ad, a, un(g, IR_REAL, gr, l));
        contribute(ad, b, un(g, IR_NEG, un(g, IR_IMAG, gr, l), l));
        break;
    default: break;   /* comparisons and mod: zero almost everywhere */
    }
}

static void vjp_where(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    Loc l = n.loc;
    int zero = num(g, 0, l);
    contribute(ad, n.in[1], ir_where(g, n.in[0], gr, zero, l));
    contribute(ad, n.in[2], ir_where(g, n.in[0], zero, gr, l));
}

/* max: the cotangent is shared equally by the elements equal to the maximum,
 * as JAX's reduce_max does. */
static void vjp_max(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int x = n.in[0];
    Loc l = n.loc;
    Shape xs = node_at(g, x)->shape;
    int hit = bin(g, IR_EQ, x, ir_broadcast(g, id, &xs, l), l);
    int count = ir_reduce(g, IR_SUM, hit, n.attr.mask, l);
    int share = bin(g, IR_DIV, gr, count, l);
    contribute(ad, x, mul(g, hit, ir_broadcast(g, share, &xs, l), l));
}

/* Undoes a slice: pads the cotangent back to the operand's extent. */
static int unslice(Graph *g, const Node *n, int gr)
{
    const Shape *xs = &node_at(g, n->in[0])->shape;
    int axis = n->attr.axis;
    Loc l = n->loc;
    if (n->attr.step != 1) ice("gradient of a strided slice");
    if (n->attr.drop) {     /* put the dropped axis back, with size 1 */
        Shape s = *xs;
        s.size[axis] = 1;
        gr = ir_reshape(g, gr, &s, l);
    }
    int64_t len = node_at(g, gr)->shape.size[axis];
    return ir_pad(g, gr, axis, n->attr.start, xs->size[axis] - n->attr.start - len, l);
}

static void vjp_move(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int x = n.in[0];
    Loc l = n.loc;
    Shape xs = node_at(g, x)->shape;
    switch (n.op) {
    case IR_PERMUTE: contribute(ad, x, ir_permute(g, gr, &xs, l)); break;
    case IR_BROADCAST: contribute(ad, x, gr); break;
    case IR_RESHAPE: contribute(ad, x, ir_reshape(g, gr, &xs, l)); break;
    case IR_SLICE: contribute(ad, x, unslice(g, &n, gr)); break;
    case IR_PAD: contribute(ad, x, ir_slice(g, gr, n.attr.axis, n.attr.lo, xs.size[n.attr.axis], 1, false, l)); break;
    case IR_FLIP: contribute(ad, x, ir_flip(g, gr, n.attr.axis, l)); break;
    case IR_CONCAT: {
        int ax = n.attr.axis;
        int64_t na = xs.size[ax];
        int pa = ir_slice(g, gr, ax, 0, na, 1, false, l);
        int pb = ir_slice(g, gr, ax, na, n.shape.size[ax] - na, 1, false, l);
        contribute(ad, x, ir_relabel(g, pa, ax, xs.label[ax], l));
        const Shape *bs = &node_at(g, n.in[1])->shape;
        const char *blabel = NULL;
        for (int i = 0; i < bs->rank; i++)
            if (shape_find(&n.shape, bs->label[i]) < 0 || bs->label[i] == n.shape.label[ax]) blabel = bs->label[i];
        contribute(ad, n.in[1], ir_relabel(g, pb, ax, blabel, l));
        break;
    }
    case IR_STACK:
        for (int k = 0; k < n.nin; k++) contribute(ad, n.in[k], ir_slice(g, gr, n.attr.axis, k, 1, 1, true, l));
        break;
    default: ice("no VJP for %s", op_info[n.op].spelling);
    }
}

/* Contraction: each operand's cotangent contracts the output cotangent with
 * the other operand onto the operand's labels (labels the operand sums alone
 * are broadcast back). */
static int contract_onto(Graph *g, int gr, int other, const Shape *target, Loc l)
{
    const Shape *gs = &node_at(g, gr)->shape, *os = &node_at(g, other)->shape;
    Shape s = {0};
    for (int i = 0; i < target->rank; i++) {
        if (shape_find(gs, target->label[i]) < 0 && shape_find(os, target->label[i]) < 0) continue;
        s.label[s.rank] = target->label[i];
        s.size[s.rank++] = target->size[i];
    }
    return ir_contract_to(g, gr, other, &s, l);
}

/* x shifted by one step along axis: y_t = x_{t-dir}, zero at the edge. */
static int shift(Graph *g, int x, int axis, int dir, Loc l)
{
    int64_t n = node_at(g, x)->shape.size[axis];
    if (n == 1) return ir_const(g, 0, 0, node_at(g, x)->dtype, &node_at(g, x)->shape, l);
    if (dir > 0) return ir_pad(g, ir_slice(g, x, axis, 0, n - 1, 1, false, l), axis, 1, 0, l);
    return ir_pad(g, ir_slice(g, x, axis, 1, n - 1, 1, false, l), axis, 0, 1, l);
}

/* Swaps the state and column labels of a matrix transition: its transpose. */
static int transpose_transition(Graph *g, int a, const char *state, const char *col, Loc l)
{
    Shape s = node_at(g, a)->shape;
    int i = shape_find(&s, state), j = shape_find(&s, col);
    s.label[i] = col;
    s.label[j] = state;
    return ir_reshape(g, a, &s, l);
}

static void vjp_scan(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int a = n.in[0], b = n.in[1];
    Loc l = n.loc;
    const char *T = node_at(g, b)->shape.label[n.attr.axis];
    int dir = n.attr.reverse ? -1 : 1;
    int at = a, ta = shape_find(&node_at(g, a)->shape, T);
    if (ta >= 0) at = shift(g, a, ta, -dir, l);            /* A'_t = A_{t+1} (forward scans) */
    if (n.attr.state) at = transpose_transition(g, at, n.attr.state, n.attr.col, l);
    int lam = ir_scan(g, at, gr, n.attr.axis, n.attr.state, n.attr.col, !n.attr.reverse, l);
    contribute(ad, b, lam);
    if (!ad->needs[a]) return;
    int prev = shift(g, id, n.attr.axis, dir, l);           /* h_{t-1} */
    if (n.attr.state) {
        int ps = shape_find(&node_at(g, prev)->shape, n.attr.state);
        prev = ir_relabel(g, prev, ps, n.attr.col, l);
    }
    contribute(ad, a, mul(g, lam, prev, l));
}

/* circ is linear in each operand. With the forward map x[(i+a+1)], the
 * adjoint in x reads the cotangent at (p-a-1): the reverse map; the adjoint
 * in k correlates x with the cotangent as kernel. The reverse map's adjoints
 * swap back (spec/models.md §5.3 item 6). */
static void vjp_circ(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int x = n.in[0], k = n.in[1];
    const char *h = n.shape.label[n.attr.ax[0]], *w = n.shape.label[n.attr.ax[1]];
    bool rev = n.attr.reverse;
    Loc l = n.loc;
    if (ad->needs[x]) contribute(ad, x, ir_circ(g, gr, k, h, w, !rev, l));
    if (ad->needs[k]) contribute(ad, k, rev ? ir_circ(g, gr, x, h, w, false, l) : ir_circ(g, x, gr, h, w, false, l));
}

/* x = A^-1 b: the cotangent of b is A^-T g (another solve), that of A is
 * -(A^-T g)[i] x[j] (JAX's transpose convention: no conjugation). */
static void vjp_solve(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int a = n.in[0], b = n.in[1];
    const char *state = n.attr.state, *col = n.attr.col;
    Loc l = n.loc;
    int cb = ir_solve(g, transpose_transition(g, a, state, col, l), gr, state, col, l);
    contribute(ad, b, cb);
    if (!ad->needs[a]) return;
    int xcol = ir_relabel(g, id, shape_find(&node_at(g, id)->shape, state), col, l);
    contribute(ad, a, un(g, IR_NEG, mul(g, cb, xcol, l), l));
}

static void vjp_lib(Ad *ad, int id, int gr)
{
    Graph *g = ad->g;
    Node n = *node_at(g, id);
    int x = n.in[0];
    Loc l = n.loc;
    Shape xs = node_at(g, x)->shape;
    Attr at = n.attr;
    switch (n.op) {
    case IR_CONTRACT:
        if (ad->needs[x]) contribute(ad, x, contract_onto(g, gr, n.in[1], &xs, l));
        if (ad->needs[n.in[1]]) contribute(ad, n.in[1], contract_onto(g, gr, x, &node_at(g, n.in[1])->shape, l));
        break;
    case IR_RFFT2: case IR_IRFFT2: case IR_RFFT2_T: case IR_IRFFT2_T: {
        static const OpCode transpose[] = {[IR_RFFT2] = IR_RFFT2_T, [IR_IRFFT2] = IR_IRFFT2_T,
                                           [IR_RFFT2_T] = IR_RFFT2, [IR_IRFFT2_T] = IR_IRFFT2};
        int wpos = at.ax[1];
        contribute(ad, x, ir_fft(g, transpose[n.op], gr, at.ax[0], wpos, xs.label[wpos], xs.size[wpos], l));
        break;
    }
    case IR_CONV2D: {
        int k = n.in[1];
        int in_dx[2] = {gr, k}, in_dk[2] = {x, gr};
        Shape ks = node_at(g, k)->shape;
        if (ad->needs[x]) contribute(ad, x, ir_add(g, IR_CONV2D_DX, DT_F32, &xs, in_dx, 2, &at, l));
        if (ad->needs[k]) contribute(ad, k, ir_add(g, IR_CONV2D_DK, DT_F32, &ks, in_dk, 2, &at, l));
        break;
    }
    case IR_MAXPOOL2: {
        int in[2] = {x, gr};
        contribute(ad, x, ir_add(g, IR_MAXPOOL2_DX, DT_F32, &xs, in, 2, &at, l));
        break;
    }
    case IR_CIRC: vjp_circ(ad, id, gr); break;
    case IR_SOLVE: vjp_solve(ad, id, gr); break;
    default: ice("no VJP for %s", op_info[n.op].spelling);
    }
}

static void vjp(Ad *ad, int id)
{
    int gr = ad->ct[id];
    Node *n = node_at(ad->g, id);
    switch (op_info[n->op].cls) {
    case OC_LEAF: break;
    case OC_EW:
        if (n->op == IR_WHERE) vjp_where(ad, id, gr);
        else if (n->nin == 1) vjp_unary(ad, id, gr);
        else vjp_binary(ad, id, gr);
        break;
    case OC_REDUCE:
        if (n->op == IR_MAX) vjp_max(ad, id, gr);
        else contribute(ad, n->in[0], ir_broadcast(ad->g, gr, &node_at(ad->g, n->in[0])->shape, n->loc));
        break;
    case OC_MOVE: vjp_move(ad, id, gr); break;
    case OC_LIB: vjp_lib(ad, id, gr); break;
    case OC_SCAN: vjp_scan(ad, id, gr); break;
    }
}

/* Whether each node depends on a trained parameter (AD_PARAMS) or on the
 * model input (AD_INPUT). */
static bool *dependence(Graph *g, int upto, unsigned wrt)
{
    bool *needs = xcalloc((size_t)upto + 1, sizeof *needs);
    int input = g->inputs.len ? g->inputs.data[0].node : -1;
    for (int i = 0; i <= upto; i++) {
        Node *n = node_at(g, i);
        needs[i] = ((wrt & AD_PARAMS) && n->op == IR_PARAM && !g->params.data[n->attr.index].state)
                   || ((wrt & AD_INPUT) && i == input);
        for (int k = 0; k < n->nin && !needs[i]; k++) needs[i] = needs[n->in[k]];
    }
    return needs;
}

const char *input_gradient_name(const Graph *g)
{
    return intern(xprintf("grad.%s", g->inputs.data[0].name));
}

void differentiate(Graph *g, unsigned wrt)
{
    int out = g->output;
    if (out < 0) ice("differentiate: graph has no output");
    Node *o = node_at(g, out);
    Shape os = o->shape;
    Input in = {.name = "d_output", .node = -1};
    Attr a = {.index = g->inputs.len};
    in.node = ir_add(g, IR_INPUT, o->dtype, &os, NULL, 0, &a, o->loc);
    vec_push(&g->inputs, in);
    g->loss_seed = in.node;

    int input = g->inputs.data[0].node;
    Ad ad = {.g = g, .needs = dependence(g, out, wrt)};
    ad.ct = xmalloc(sizeof(int) * (size_t)(out + 1));
    for (int i = 0; i <= out; i++) ad.ct[i] = -1;
    ad.ct[out] = in.node;
    for (int i = out; i >= 0; i--)
        if (ad.ct[i] >= 0 && ad.needs[i]) vjp(&ad, i);

    g->grads.len = 0;
    for (int p = 0; p < g->params.len; p++) {
        int node = g->params.data[p].node, ct = node <= out ? ad.ct[node] : -1;
        vec_push(&g->grads, g->params.data[p].state ? -1 : ct);
    }
    if ((wrt & AD_INPUT) && input <= out && ad.ct[input] >= 0)
        vec_push(&g->probes, ((Probe){input_gradient_name(g), ad.ct[input], node_at(g, input)->loc}));
    free(ad.ct);
    free(ad.needs);
}
