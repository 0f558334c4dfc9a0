/* scan.c: elaborating `scan t in T (carries) { step }` and its combine form.
 *
 * Affine steps are evaluated once, vectorised over the scanned axis: `u[t]`
 * is u itself (every time-varying value keeps its T axis), and each carry is
 * an affine form in the previous carries. Arithmetic keeps the forms affine
 * (sums, products and quotients by carry-free factors, and `A @ h`); when a
 * carry's new value is first read (an emit, a later statement) or the step
 * ends, the updates become IR SCANs: scalar per carry when the carries are
 * uncoupled, one small matrix scan over all of them when they are coupled
 * (spec/models.md §2.5: the compiler assembles the system, the author writes
 * the equations), and a matrix scan over a named state axis for `A @ h`.
 *
 * `A @ h` follows the primed-label convention: A has an axis X and its column
 * X' (eye(X) and prime(x, X) make them), h has X; the product contracts A's
 * X' with h's X and keeps A's X. A d x d state S[r, i] with S_t = S M_t^T + D
 * is written `S = M[t] @ S + D[t]` with M over (i, i'): the row index r is a
 * batch axis of the scan (spec §3.3, GDN), as the IR SCAN expects.
 *
 * Any other step (a carry under circ, tanh, a layer, a carry on the left of
 * '@', an emit of the previous carry, or a non-zero initial carry) is
 * unrolled: evaluated once per index with the carries as tensors and u[t] a
 * slice, the per-step values then stacked along T. T is static, so unrolling
 * is exact, and it needs no new IR: the step's ops are differentiated like
 * any others. It costs one copy of the step per index, which suits the
 * zoo's short sequences (at most MAX_UNROLL). A step is first tried as
 * affine; when it turns out not to be, the attempt's nodes are discarded.
 *
 * The combine form evaluates its leaves vectorised, then combines them in
 * JAX's associative_scan tree order (pair (0,1), (2,3), ...; recurse; combine
 * each odd prefix with the next even leaf; interleave), each level one
 * vectorised evaluation of the combiner over all its pairs, log2 T levels.
 * Only there is the order part of the meaning: no_gate_realspace_par's
 * combiner is not associative (spec §3.14). */
#include "build.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_UNROLL = 1024 };

typedef Vec(int) IntVec;

static Value v_affine(Affine a)
{
    Affine *p = xmalloc(sizeof *p);
    *p = a;
    return (Value){.kind = V_AFFINE, .aff = p};
}

static Affine affine_empty(StepCtx *st)
{
    Affine a = {.off = -1, .step = st};
    for (int k = 0; k < MAX_CARRIES; k++) a.coef[k] = -1;
    return a;
}

/* A value as an affine form: a carry-free tensor is all offset. */
static bool to_affine(Builder *b, StepCtx *st, Value v, Loc loc, Affine *out)
{
    if (v.kind == V_AFFINE) {
        *out = *v.aff;
        return true;
    }
    *out = affine_empty(st);
    out->off = as_tensor(b, v, loc, "a term of a scan step");
    return out->off >= 0;
}

static StepCtx *step_of(Value x, Value y) { return x.kind == V_AFFINE ? x.aff->step : y.aff->step; }

static Value mark_nonaffine(StepCtx *st)
{
    st->nonaffine = true;
    return v_error();
}

Value affine_escape(Value v) { return mark_nonaffine(v.aff->step); }

/* ---- matrices: the primed-label convention ---- */

static const Shape *shape_at(Builder *b, int node) { return &node_at(b->g, node)->shape; }

/* The (X, X') pair of a matrix operand; false unless exactly one. */
static bool matrix_pair(Builder *b, int a, const char **row, const char **col)
{
    const Shape *s = shape_at(b, a);
    int found = 0;
    for (int i = 0; i < s->rank; i++) {
        const char *p = label_derived(s->label[i], "'");
        if (shape_find(s, p) < 0) continue;
        *row = s->label[i], *col = p;
        found++;
    }
    return found == 1;
}

static int relabel_named(Builder *b, int x, const char *from, const char *to, Loc loc)
{
    int k = shape_find(shape_at(b, x), from);
    return k < 0 ? x : ir_relabel(b->g, x, k, to, loc);
}

static bool check_pair(Builder *b, int a, const char **row, const char **col, Loc loc)
{
    if (matrix_pair(b, a, row, col)) return true;
    char got[256];
    describe_value(b, v_tensor(a), got, sizeof got);
    diag_error(loc, "the left side of '@' must be a matrix with one axis X and its column X', got %s", got);
    diag_note(loc, "eye(X) and prime(x, X) make column axes; A[.., X, X'] @ h[.., X] sums over X'");
    return false;
}

/* A[.., X, X'] @ B[.., X, ..]: sums A's X' against B's X; B's own X', if
 * any, survives (a matrix product). */
static int tensor_matmul(Builder *b, int A, int B, Loc loc)
{
    const char *row, *col;
    if (!check_pair(b, A, &row, &col, loc)) return -1;
    if (shape_find(shape_at(b, B), row) < 0) {
        char got[256];
        describe_value(b, v_tensor(B), got, sizeof got);
        diag_error(loc, "the right side of '@' needs the axis %s of the matrix's rows, got %s", row, got);
        return -1;
    }
    const char *keep = intern("#col");
    bool square = shape_find(shape_at(b, B), col) >= 0;
    B = relabel_named(b, relabel_named(b, B, col, keep, loc), row, col, loc);
    int r = ir_contract(b->g, A, B, &col, 1, loc);
    return square ? relabel_named(b, r, keep, col, loc) : r;
}

static int eye_of(Builder *b, const char *row, const char *col, int64_t n, Loc loc)
{
    Shape r = {.rank = 1, .label = {row}, .size = {n}}, c = {.rank = 1, .label = {col}, .size = {n}};
    int i = ir_add(b->g, IR_IOTA, DT_F32, &r, NULL, 0, NULL, loc), j = ir_add(b->g, IR_IOTA, DT_F32, &c, NULL, 0, NULL, loc);
    return ir_binary(b->g, IR_EQ, i, j, loc);
}

/* An elementwise coefficient as the matrix diag(c) over (row, col). */
static int as_matrix(Builder *b, int c, const char *row, const char *col, int64_t n, Loc loc)
{
    return ir_binary(b->g, IR_MUL, c, eye_of(b, row, col, n, loc), loc);
}

static int64_t size_of(Builder *b, int node, const char *label)
{
    return shape_at(b, node)->size[shape_find(shape_at(b, node), label)];
}

/* ---- affine arithmetic ---- */

static int add_opt(Graph *g, int x, int y, OpCode op, Loc loc)
{
    if (y < 0) return x;
    if (x < 0) return op == IR_SUB ? ir_unary(g, IR_NEG, y, loc) : y;
    return ir_binary(g, op, x, y, loc);
}

static int scale_opt(Graph *g, int x, int f, OpCode op, Loc loc)
{
    return x < 0 ? -1 : ir_binary(g, op, x, f, loc);
}

/* p.coef[k] + q.coef[k], where either may be a matrix coefficient. */
static bool add_coef(Builder *b, Affine *p, const Affine *q, int k, OpCode code, Loc loc)
{
    int x = p->coef[k], y = q->coef[k];
    if (x >= 0 && y >= 0 && (p->col[k] || q->col[k])) {
        const char *row = p->col[k] ? p->row[k] : q->row[k], *col = p->col[k] ? p->col[k] : q->col[k];
        if ((p->col[k] && q->col[k] && (p->row[k] != q->row[k] || p->col[k] != q->col[k]))) {
            diag_error(loc, "these terms apply matrices over different axes (%s and %s) to the same carry", p->row[k], q->row[k]);
            return false;
        }
        int64_t n = size_of(b, p->col[k] ? x : y, row);
        if (!p->col[k]) x = as_matrix(b, x, row, col, n, loc);
        if (!q->col[k]) y = as_matrix(b, y, row, col, n, loc);
        p->row[k] = row, p->col[k] = col;
    } else if (y >= 0 && q->col[k]) p->row[k] = q->row[k], p->col[k] = q->col[k];
    p->coef[k] = add_opt(b->g, x, y, code, loc);
    return true;
}

static Value affine_scale(Builder *b, Affine form, int factor, OpCode code, Loc loc)
{
    for (int k = 0; k < MAX_CARRIES; k++) {
        if (form.coef[k] >= 0 && form.col[k] && shape_find(shape_at(b, factor), form.col[k]) >= 0) {
            diag_error(loc, "a factor with the column axis %s cannot scale a matrix-transformed carry", form.col[k]);
            return v_error();
        }
        form.coef[k] = scale_opt(b->g, form.coef[k], factor, code, loc);
    }
    form.off = scale_opt(b->g, form.off, factor, code, loc);
    return v_affine(form);
}

Value affine_binary(Builder *b, Op op, Value x, Value y, Loc loc)
{
    StepCtx *st = step_of(x, y);
    Affine p, q;
    if (op == OP_MATMUL) return matmul_values(b, x, y, loc);
    if (!to_affine(b, st, x, loc, &p) || !to_affine(b, st, y, loc, &q)) return v_error();
    if (op == OP_ADD || op == OP_SUB) {
        OpCode code = op == OP_ADD ? IR_ADD : IR_SUB;
        for (int k = 0; k < MAX_CARRIES; k++)
            if (!add_coef(b, &p, &q, k, code, loc)) return v_error();
        p.off = add_opt(b->g, p.off, q.off, code, loc);
        return v_affine(p);
    }
    if (op == OP_MUL || op == OP_DIV) {
        if (y.kind == V_AFFINE && (op == OP_DIV || x.kind == V_AFFINE)) return mark_nonaffine(st);
        return affine_scale(b, x.kind == V_AFFINE ? p : q, x.kind == V_AFFINE ? q.off : p.off,
                            op == OP_MUL ? IR_MUL : IR_DIV, loc);
    }
    return mark_nonaffine(st);
}

/* A @ form: each coefficient c becomes A diag(c) (or A C for a matrix C). */
static Value affine_matmul(Builder *b, int A, Affine p, Loc loc)
{
    const char *row, *col;
    if (!check_pair(b, A, &row, &col, loc)) return v_error();
    Affine q = p;
    for (int k = 0; k < MAX_CARRIES; k++) {
        if (p.coef[k] < 0) continue;
        if (p.col[k] && (p.row[k] != row || p.col[k] != col)) {
            diag_error(loc, "'@' over %s applied to a carry already transformed over %s", row, p.row[k]);
            return v_error();
        }
        q.coef[k] = p.col[k] ? tensor_matmul(b, A, p.coef[k], loc)
                             : ir_binary(b->g, IR_MUL, A, relabel_named(b, p.coef[k], row, col, loc), loc);
        if (q.coef[k] < 0) return v_error();
        q.row[k] = row, q.col[k] = col;
    }
    if (p.off >= 0 && (q.off = tensor_matmul(b, A, p.off, loc)) < 0) return v_error();
    return v_affine(q);
}

Value matmul_values(Builder *b, Value x, Value y, Loc loc)
{
    if (x.kind == V_ERROR || y.kind == V_ERROR) return v_error();
    if (x.kind == V_AFFINE) return mark_nonaffine(x.aff->step);   /* carry on the left: unrolled */
    int A = as_tensor(b, x, loc, "the left side of '@'");
    if (A < 0) return v_error();
    if (y.kind == V_AFFINE) return affine_matmul(b, A, *y.aff, loc);
    int B = as_tensor(b, y, loc, "the right side of '@'");
    if (B < 0) return v_error();
    int r = tensor_matmul(b, A, B, loc);
    return r < 0 ? v_error() : v_tensor(r);
}

/* ---- materialising affine updates as IR scans ---- */

static int zero(Graph *g, Loc loc)
{
    Shape s = {0};
    return ir_const(g, 0, 0, DT_F32, &s, loc);
}

/* Broadcasts b so that it has every label of `a` (but `col`) and the scanned
 * axis; returns the position of the scanned axis. */
static int scan_operand(StepCtx *st, int a, int *bnode, const char *col)
{
    Graph *g = st->b->g;
    Shape as = node_at(g, a)->shape, s, want;
    int c = col ? shape_find(&as, col) : -1;
    if (c >= 0) {
        for (int i = c; i < as.rank - 1; i++) {
            as.label[i] = as.label[i + 1];
            as.size[i] = as.size[i + 1];
        }
        as.rank--;
    }
    char why[256];
    if (!broadcast_check(&node_at(g, *bnode)->shape, &as, &s, why, sizeof why)) ice("%s", why);
    want = s;
    int t = shape_find(&want, st->axis_label);
    if (t < 0) {
        t = want.rank ? 1 : 0;
        for (int i = want.rank; i > t; i--) {
            want.label[i] = want.label[i - 1];
            want.size[i] = want.size[i - 1];
        }
        want.label[t] = st->axis_label;
        want.size[t] = st->axis_size;
        want.rank++;
    }
    *bnode = ir_broadcast(g, *bnode, &want, st->loc);
    return t;
}

static bool is_coupled(StepCtx *st)
{
    for (int c = 0; c < st->ncarry; c++) {
        if (st->updated[c].kind != V_AFFINE) continue;
        for (int k = 0; k < st->ncarry; k++)
            if (k != c && st->updated[c].aff->coef[k] >= 0) return true;
    }
    return false;
}

static bool has_matrix(StepCtx *st)
{
    for (int c = 0; c < st->ncarry; c++)
        for (int k = 0; k < st->ncarry && st->updated[c].kind == V_AFFINE; k++)
            if (st->updated[c].aff->coef[k] >= 0 && st->updated[c].aff->col[k]) return true;
    return false;
}

/* The transition and the input of one carry must combine like the operands
 * of the `+` that joins them in the step (a matrix's column axis aside). */
static bool terms_combine(StepCtx *st, int a, int bn, const char *col)
{
    Graph *g = st->b->g;
    Shape as = node_at(g, a)->shape, out;
    int c = col ? shape_find(&as, col) : -1;
    if (c >= 0) as.label[c] = intern("#col");
    char why[256], sa[256], sb[256];
    const Shape *bs = &node_at(g, bn)->shape;
    if (broadcast_check(&as, bs, &out, why, sizeof why) && related_axes_check(&as, bs, why, sizeof why)) return true;
    diag_error(st->loc, "the step's carry term %s and input term %s do not combine: %s",
               shape_str(node_at(g, a)->dtype, &as, sa, sizeof sa), shape_str(node_at(g, bn)->dtype, bs, sb, sizeof sb), why);
    return false;
}

/* One carry's scan (elementwise, or a matrix over row/col), or -1. */
static int single_scan(StepCtx *st, Affine *u, int c)
{
    Graph *g = st->b->g;
    int a = u->coef[c] >= 0 ? u->coef[c] : zero(g, st->loc);
    int bn = u->off >= 0 ? u->off : zero(g, st->loc);
    const char *row = u->coef[c] >= 0 ? u->row[c] : NULL, *col = u->coef[c] >= 0 ? u->col[c] : NULL;
    if (!terms_combine(st, a, bn, col)) return -1;
    int t = scan_operand(st, a, &bn, col);
    return ir_scan(g, a, bn, t, row, col, st->scan->reverse, st->loc);
}

static bool joint_scan(StepCtx *st)
{
    Graph *g = st->b->g;
    Loc loc = st->loc;
    const char *state = intern(xprintf("#state%d", g->nodes.len)), *col = intern(xprintf("#col%d", g->nodes.len));
    int rows[MAX_CARRIES], offs[MAX_CARRIES];
    for (int c = 0; c < st->ncarry; c++) {
        Affine u;
        to_affine(st->b, st, st->updated[c], loc, &u);
        int row[MAX_CARRIES];
        for (int k = 0; k < st->ncarry; k++) row[k] = u.coef[k] >= 0 ? u.coef[k] : zero(g, loc);
        rows[c] = ir_stack(g, row, st->ncarry, 0, col, loc);
        offs[c] = u.off >= 0 ? u.off : zero(g, loc);
    }
    int a = ir_stack(g, rows, st->ncarry, 0, state, loc);
    int bn = ir_stack(g, offs, st->ncarry, 0, state, loc);
    if (!terms_combine(st, a, bn, col)) return false;
    int t = scan_operand(st, a, &bn, col);
    int h = ir_scan(g, a, bn, t, state, col, st->scan->reverse, loc);
    int sp = shape_find(&node_at(g, h)->shape, state);
    for (int c = 0; c < st->ncarry; c++) st->result[c] = v_tensor(ir_slice(g, h, sp, c, 1, 1, true, loc));
    return true;
}

static bool materialise(StepCtx *st, Loc loc)
{
    for (int c = 0; c < st->ncarry; c++)
        if (st->updated[c].kind == V_NONE) {
            diag_error(loc, "carry %s is not assigned by the step", st->names[c]);
            return false;
        } else if (st->updated[c].kind == V_ERROR) return false;
    if (st->ncarry > 1 && is_coupled(st)) {
        if (has_matrix(st)) {
            diag_error(loc, "coupled carries with '@' are not supported: write one carry per matrix state");
            return false;
        }
        return joint_scan(st);
    }
    for (int c = 0; c < st->ncarry; c++) {
        Affine u;
        if (!to_affine(st->b, st, st->updated[c], loc, &u)) return false;
        int h = single_scan(st, &u, c);
        if (h < 0) return false;
        st->result[c] = v_tensor(h);
    }
    return true;
}

/* ---- reading and assigning carries (every mode) ---- */

Value step_read_carry(StepCtx *st, int k, Loc loc)
{
    if (st->mode == STEP_COMBINE || st->mode == STEP_LEAF) {
        if (st->mode == STEP_COMBINE && st->updated[k].kind != V_NONE) return st->updated[k];
        diag_error(loc, "in a combine form read the partial results as %s.%s and %s.%s", st->scan->left,
                   st->names[k], st->scan->right, st->names[k]);
        return v_error();
    }
    if (st->mode == STEP_UNROLLED) return st->updated[k].kind == V_NONE ? v_tensor(st->cur[k]) : st->updated[k];
    if (st->updated[k].kind == V_NONE) {     /* the previous carry h_{t-1} */
        Affine a = affine_empty(st);
        a.coef[k] = ir_scalar(st->b->g, 1, loc);
        return v_affine(a);
    }
    if (st->result[k].kind == V_NONE && !materialise(st, loc)) return v_error();
    return st->result[k];
}

bool step_assign(StepCtx *st, const char *name, Value v, Loc loc)
{
    for (int k = 0; k < st->ncarry; k++) {
        if (st->names[k] != name) continue;
        if (st->updated[k].kind != V_NONE) diag_error(loc, "carry %s is assigned twice in one step", name);
        else st->updated[k] = v;
        return true;
    }
    return false;
}

static int axis_pos(Builder *b, int node, const char *label) { return shape_find(shape_at(b, node), label); }

Value step_index_read(StepCtx *st, Value u, Loc loc)
{
    if (st->mode == STEP_COMBINE) {
        diag_error(loc, "a combiner sees only its partial results %s and %s", st->scan->left, st->scan->right);
        return v_error();
    }
    if (st->mode != STEP_UNROLLED) return u;
    int k = axis_pos(st->b, u.node, st->axis_label);
    return v_tensor(ir_slice(st->b->g, u.node, k, st->t, 1, 1, true, loc));
}

Value eval_field(Builder *b, Inst *in, Scope *s, Expr *e)
{
    StepCtx *st = NULL;
    for (Scope *p = s; p && !st; p = p->parent) st = p->step;
    const char *side = e->lhs->kind == E_IDENT ? e->lhs->name : NULL;
    if (!st || st->mode != STEP_COMBINE || !side || (side != st->scan->left && side != st->scan->right)) {
        diag_error(e->loc, "field access '.%s' is defined only on the partial results of a combine step", e->name);
        return v_error();
    }
    for (int k = 0; k < st->ncarry; k++)
        if (st->names[k] == e->name) return v_tensor(side == st->scan->left ? st->left[k] : st->right[k]);
    diag_error(e->loc, "%s has no carry named '%s'", side, e->name);
    return v_error();
}

/* ---- running a step ---- */

static StepCtx step_new(Builder *b, Scan *sc, Loc loc, Value axis, Scope *outer, StepMode mode)
{
    StepCtx st = {.mode = mode, .b = b, .scan = sc, .loc = loc, .axis_label = intern(axis.s),
                  .axis_size = axis.i, .ncarry = sc->carries.len, .outer = outer};
    for (int k = 0; k < st.ncarry; k++) {
        st.names[k] = sc->carries.data[k].name;
        st.updated[k] = st.result[k] = v_none();
    }
    return st;
}

/* Runs the body once in a fresh scope; false on a `return` or errors. */
static bool run_body(Builder *b, Inst *in, StepCtx *st, Loc loc)
{
    Scope *step = scope_new(st->outer);
    step->step = st;
    for (int k = 0; k < st->ncarry; k++) scope_set(step, st->names[k], v_none(), st->scan->carries.data[k].loc);
    for (int k = 0; k < st->ncarry; k++) st->updated[k] = st->result[k] = v_none();
    Value ret = v_none();
    if (exec_stmts(b, in, step, &st->scan->body, &ret)) {
        diag_error(loc, "'return' inside a scan step");
        return false;
    }
    return true;
}

static Value tuple_or_one(Value *items, int n) { return n == 1 ? items[0] : v_tuple(items, n); }

static Value affine_result(StepCtx *st)
{
    Value *items = st->emits.len ? st->emits.data : st->result;
    int n = st->emits.len ? st->emits.len : st->ncarry;
    for (int i = 0; i < n; i++) {
        if (items[i].kind == V_AFFINE) return mark_nonaffine(st);   /* an emit of h_{t-1}: unrolled */
        if (items[i].kind == V_ERROR) return v_error();
    }
    return tuple_or_one(items, n);
}

/* The affine attempt; *fallback set when the step must be unrolled. */
static Value run_affine(Builder *b, Inst *in, StepCtx *st, Loc loc, bool *fallback)
{
    int errors = diag_error_count();
    bool ok = run_body(b, in, st, loc);
    Value r = v_error();
    if (ok && !st->nonaffine && diag_error_count() == errors) {
        bool pending = false;
        for (int k = 0; k < st->ncarry; k++) pending |= st->result[k].kind == V_NONE;
        if (!pending || materialise(st, loc)) r = affine_result(st);
    }
    *fallback = st->nonaffine && diag_error_count() == errors;
    vec_free(&st->emits);
    return r;
}

/* What an affine attempt may have added, to be discarded on fallback. */
typedef struct Mark {
    int nodes, params, probes;
    IntVec anon;
} Mark;

static Mark mark_graph(Builder *b, Inst *in)
{
    Mark m = {b->g->nodes.len, b->g->params.len, b->g->probes.len, {0}};
    for (int i = 0; i < in->anon_counts.len; i++) vec_push(&m.anon, in->anon_counts.data[i]);
    return m;
}

static void rewind_graph(Builder *b, Inst *in, Mark *m)
{
    b->g->nodes.len = m->nodes;
    b->g->params.len = m->params;
    b->g->probes.len = m->probes;
    in->anon_names.len = in->anon_counts.len = m->anon.len;
    for (int i = 0; i < m->anon.len; i++) in->anon_counts.data[i] = m->anon.data[i];
    vec_free(&m->anon);
}

/* Stacks per-step values (vals[t], node ids) along a new scanned axis. */
static Value stack_steps(StepCtx *st, const int *vals, Loc loc)
{
    Graph *g = st->b->g;
    Shape s = node_at(g, vals[0])->shape;
    char why[256];
    for (int64_t t = 1; t < st->axis_size; t++) {
        Shape u;
        if (!broadcast_check(&s, &node_at(g, vals[t])->shape, &u, why, sizeof why)) {
            diag_error(loc, "the step's values change shape between steps: %s", why);
            return v_error();
        }
        s = u;
    }
    if (shape_find(&s, st->axis_label) >= 0) {
        diag_error(loc, "a step value still has the scanned axis %s: read inputs as u[%s]", st->axis_label, st->scan->var);
        return v_error();
    }
    return v_tensor(ir_stack(g, vals, (int)st->axis_size, s.rank ? 1 : 0, st->axis_label, loc));
}

static bool unrolled_inits(Builder *b, Inst *in, StepCtx *st)
{
    for (int k = 0; k < st->ncarry; k++) {
        Carry *c = &st->scan->carries.data[k];
        Value v = eval(b, in, st->outer, c->init);
        st->cur[k] = as_tensor(b, v, c->init->loc, "an initial carry");
        if (st->cur[k] < 0) return false;
    }
    return true;
}

/* One index of an unrolled step: updates the carries, appends the emits. */
static bool unrolled_index(Builder *b, Inst *in, StepCtx *st, IntVec *emits, int *nemit, Loc loc)
{
    int before = diag_error_count();
    if (!run_body(b, in, st, loc)) return false;
    for (int k = 0; k < st->ncarry; k++) {
        if (st->updated[k].kind == V_NONE) diag_error(loc, "carry %s is not assigned by the step", st->names[k]);
        else if ((st->cur[k] = as_tensor(b, st->updated[k], loc, "a carry")) < 0) return false;
    }
    if (*nemit < 0) *nemit = st->emits.len;
    if (st->emits.len != *nemit) diag_error(loc, "the step emits a different number of values at different steps");
    for (int i = 0; i < st->emits.len && diag_error_count() == before; i++) {
        int e = as_tensor(b, st->emits.data[i], loc, "an emitted value");
        if (e < 0) return false;
        vec_push(emits, e);
    }
    st->emits.len = 0;
    return diag_error_count() == before;
}

static Value run_unrolled(Builder *b, Inst *in, StepCtx *st, Loc loc)
{
    if (st->axis_size > MAX_UNROLL) {
        diag_error(loc, "this scan step is not affine in its carries, so it runs unrolled, but %s = %lld exceeds %d steps",
                   st->axis_label, (long long)st->axis_size, MAX_UNROLL);
        return v_error();
    }
    if (!unrolled_inits(b, in, st)) return v_error();
    int64_t T = st->axis_size;
    IntVec emits = {0};
    int *carries = xmalloc(sizeof(int) * (size_t)(T * st->ncarry)), nemit = -1;
    bool ok = true;
    for (int64_t i = 0; i < T && ok; i++) {
        st->t = st->scan->reverse ? T - 1 - i : i;
        ok = unrolled_index(b, in, st, &emits, &nemit, loc);
        for (int k = 0; k < st->ncarry && ok; k++) carries[st->t * st->ncarry + k] = st->cur[k];
    }
    Value items[MAX_ARGS], r = v_error();
    int n = nemit > 0 ? nemit : st->ncarry;
    if (ok && n > MAX_ARGS) {
        diag_error(loc, "a step may emit at most %d values", MAX_ARGS);
        ok = false;
    }
    if (ok) {
        int *col = xmalloc(sizeof(int) * (size_t)T);
        for (int i = 0; i < n && ok; i++) {
            for (int64_t t = 0; t < T; t++) {
                int64_t step = st->scan->reverse ? T - 1 - t : t;   /* emits were appended in run order */
                col[t] = nemit > 0 ? emits.data[step * nemit + i] : carries[t * st->ncarry + i];
            }
            items[i] = stack_steps(st, col, loc);
            ok = items[i].kind != V_ERROR;
        }
        free(col);
        if (ok) r = tuple_or_one(items, n);
    }
    free(carries);
    vec_free(&emits);
    vec_free(&st->emits);
    return r;
}

static bool zero_init(Builder *b, Inst *in, Scope *s, Carry *c)
{
    Value v = eval(b, in, s, c->init);
    return v_is_number(v) && v_number(v) == 0;
}

static Value eval_combine(Builder *b, Inst *in, Scope *s, Expr *e, Value axis);

static bool scan_axis(Builder *b, Inst *in, Scope *s, Scan *sc, Value *axis)
{
    *axis = lookup_name(b, in, s, sc->axis, sc->axis_loc);
    if (axis->kind == V_ERROR) return false;
    if (axis->kind != V_DIM) {
        diag_error(sc->axis_loc, "scan needs a dim to run over, got %s", kind_name(axis->kind));
        return false;
    }
    if (sc->carries.len > MAX_CARRIES) {
        diag_error(sc->axis_loc, "a scan may have at most %d carries", MAX_CARRIES);
        return false;
    }
    return true;
}

Value eval_scan(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Scan *sc = e->scan;
    Value axis;
    if (!scan_axis(b, in, s, sc, &axis)) return v_error();
    if (sc->combine) return eval_combine(b, in, s, e, axis);
    bool zeros = true;
    for (int k = 0; k < sc->carries.len; k++) zeros &= zero_init(b, in, s, &sc->carries.data[k]);
    if (diag_error_count()) return v_error();
    if (zeros) {
        Mark m = mark_graph(b, in);
        StepCtx st = step_new(b, sc, e->loc, axis, s, STEP_AFFINE);
        bool fallback;
        Value r = run_affine(b, in, &st, e->loc, &fallback);
        if (!fallback) {
            vec_free(&m.anon);
            return r;
        }
        rewind_graph(b, in, &m);
    }
    StepCtx st = step_new(b, sc, e->loc, axis, s, STEP_UNROLLED);
    return run_unrolled(b, in, &st, e->loc);
}

/* ---- the combine form ---- */

/* A partial sequence: one node per carry, each with the scanned axis of
 * length n or without it (then the same at every index). */
typedef struct Seq {
    int v[MAX_CARRIES];
    int64_t n;
} Seq;

typedef struct Tree {
    Builder *b;
    Inst *in;
    StepCtx *st;
    int ncarry;
    Loc loc;
} Tree;

static int tpos(Tree *tr, int node) { return axis_pos(tr->b, node, tr->st->axis_label); }

/* Elements start, start + step, ... of axis p, count of them. A strided
 * slice is a contiguous one (zero-padded at the end when it would overrun)
 * reshaped to [count, step] and read at offset 0: ops whose gradients are
 * plain pads and slices. */
static int strided(Graph *g, int x, int p, int64_t start, int64_t count, int64_t step, Loc loc)
{
    if (step == 1) return ir_slice(g, x, p, start, count, 1, false, loc);
    int64_t len = count * step, avail = node_at(g, x)->shape.size[p] - start;
    if (avail < len) x = ir_pad(g, x, p, 0, len - avail, loc);
    x = ir_slice(g, x, p, start, len, 1, false, loc);
    Shape s = node_at(g, x)->shape;
    for (int i = s.rank; i > p + 1; i--) s.label[i] = s.label[i - 1], s.size[i] = s.size[i - 1];
    s.size[p] = count, s.label[p + 1] = intern("#stride"), s.size[p + 1] = step, s.rank++;
    return ir_slice(g, ir_reshape(g, x, &s, loc), p + 1, 0, 1, 1, true, loc);
}

/* Elements start, start+step, ... (count of them) of a sequence. */
static Seq seq_slice(Tree *tr, Seq s, int64_t start, int64_t count, int64_t step)
{
    Seq r = {.n = count};
    for (int k = 0; k < tr->ncarry; k++) {
        int p = tpos(tr, s.v[k]);
        r.v[k] = p < 0 ? s.v[k] : strided(tr->b->g, s.v[k], p, start, count, step, tr->loc);
    }
    return r;
}

static bool seq_combine(Tree *tr, Seq l, Seq r, Seq *out)
{
    StepCtx *st = tr->st;
    st->left = l.v, st->right = r.v;
    if (!run_body(tr->b, tr->in, st, tr->loc)) return false;
    out->n = l.n;
    for (int k = 0; k < tr->ncarry; k++) {
        if (st->updated[k].kind == V_NONE) {
            diag_error(tr->loc, "the combiner does not assign carry %s", st->names[k]);
            return false;
        }
        if ((out->v[k] = as_tensor(tr->b, st->updated[k], tr->loc, "a combined carry")) < 0) return false;
    }
    if (st->emits.len) {
        diag_error(tr->loc, "a combiner cannot emit");
        return false;
    }
    return true;
}

/* x broadcast to `like`'s other axes with the scanned axis of length n,
 * placed where `like` has it (or second). */
static int with_axis(Tree *tr, int x, const Shape *like, int64_t n)
{
    Shape s = *like;
    int p = shape_find(&s, tr->st->axis_label);
    if (p < 0) {
        p = s.rank ? 1 : 0;
        for (int i = s.rank; i > p; i--) s.label[i] = s.label[i - 1], s.size[i] = s.size[i - 1];
        s.rank++;
        s.label[p] = tr->st->axis_label;
    }
    s.size[p] = n;
    return ir_broadcast(tr->b->g, x, &s, tr->loc);   /* matches by label: also reorders */
}

/* The union of the two operands' axes, the scanned one with any size. */
static Shape joint_shape(Tree *tr, int a, int c)
{
    Shape sa = *shape_at(tr->b, a), sc = *shape_at(tr->b, c), out;
    char why[256];
    int pa = shape_find(&sa, tr->st->axis_label), pc = shape_find(&sc, tr->st->axis_label);
    if (pa >= 0) sa.size[pa] = 1;
    if (pc >= 0) sc.size[pc] = 1;
    if (!broadcast_check(&sa, &sc, &out, why, sizeof why)) ice("combine: %s", why);
    return out;
}

/* even[0], odd[0], even[1], odd[1], ...: even has odd.n or odd.n + 1 elements. */
static Seq seq_interleave(Tree *tr, Seq even, Seq odd)
{
    Graph *g = tr->b->g;
    Seq r = {.n = even.n + odd.n};
    for (int k = 0; k < tr->ncarry; k++) {
        Shape like = joint_shape(tr, even.v[k], odd.v[k]);
        int e = with_axis(tr, even.v[k], &like, even.n), o = with_axis(tr, odd.v[k], &like, odd.n);
        int p = tpos(tr, e);
        if (odd.n < even.n) o = ir_pad(g, o, p, 0, 1, tr->loc);
        int pair[2] = {e, o};
        int st = ir_stack(g, pair, 2, p + 1, intern("#pair"), tr->loc);
        Shape s = *shape_at(tr->b, e);
        s.size[p] = 2 * even.n;
        int m = ir_reshape(g, st, &s, tr->loc);
        r.v[k] = ir_slice(g, m, p, 0, r.n, 1, false, tr->loc);
    }
    return r;
}

static Seq seq_concat_first(Tree *tr, Seq first, Seq rest)
{
    Seq r = {.n = first.n + rest.n};
    for (int k = 0; k < tr->ncarry; k++) {
        Shape like = joint_shape(tr, first.v[k], rest.v[k]);
        int a = with_axis(tr, first.v[k], &like, first.n), c = with_axis(tr, rest.v[k], &like, rest.n);
        r.v[k] = ir_concat(tr->b->g, a, c, tpos(tr, a), tr->st->axis_label, tr->loc);
    }
    return r;
}

/* JAX's lax.associative_scan recursion (jax/_src/lax/control_flow/loops.py). */
static bool seq_scan(Tree *tr, Seq e, Seq *out)
{
    int64_t n = e.n;
    if (n < 2) return *out = e, true;
    Seq reduced, odd, even;
    if (!seq_combine(tr, seq_slice(tr, e, 0, n / 2, 2), seq_slice(tr, e, 1, n / 2, 2), &reduced)) return false;
    if (!seq_scan(tr, reduced, &odd)) return false;
    int64_t m = (n - 1) / 2;          /* elements 2, 4, ... below n */
    Seq first = seq_slice(tr, e, 0, 1, 1);
    if (m == 0) even = first;
    else {
        Seq lhs = n % 2 == 0 ? seq_slice(tr, odd, 0, m, 1) : odd, mid;
        if (!seq_combine(tr, lhs, seq_slice(tr, e, 2, m, 2), &mid)) return false;
        even = seq_concat_first(tr, first, mid);
    }
    *out = seq_interleave(tr, even, odd);
    return true;
}

/* Reverses every element that has the scanned axis (a reverse combine form
 * scans the reversed leaves, as associative_scan(reverse=True) does). */
static Seq seq_flip(Tree *tr, Seq s)
{
    for (int k = 0; k < tr->ncarry; k++) {
        int p = tpos(tr, s.v[k]);
        if (p >= 0) s.v[k] = ir_flip(tr->b->g, s.v[k], p, tr->loc);
    }
    return s;
}

static Value eval_combine(Builder *b, Inst *in, Scope *s, Expr *e, Value axis)
{
    Scan *sc = e->scan;
    StepCtx st = step_new(b, sc, e->loc, axis, s, STEP_LEAF);
    Scope *leaf = scope_new(s);
    leaf->step = &st;
    Seq leaves = {.n = axis.i};
    for (int k = 0; k < st.ncarry; k++) {
        Carry *c = &sc->carries.data[k];
        if ((leaves.v[k] = as_tensor(b, eval(b, in, leaf, c->init), c->init->loc, "a leaf of a combine form")) < 0)
            return v_error();
    }
    st.mode = STEP_COMBINE;
    Tree tr = {b, in, &st, st.ncarry, e->loc};
    Seq all;
    if (sc->reverse) leaves = seq_flip(&tr, leaves);
    if (!seq_scan(&tr, leaves, &all)) return v_error();
    if (sc->reverse) all = seq_flip(&tr, all);
    Value items[MAX_CARRIES];
    for (int k = 0; k < st.ncarry; k++) {
        Shape like = *shape_at(b, all.v[k]);
        items[k] = v_tensor(with_axis(&tr, all.v[k], &like, axis.i));
    }
    vec_free(&st.emits);
    return tuple_or_one(items, st.ncarry);
}
