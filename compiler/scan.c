/* scan.c: elaborating `scan t in T (carries) { step }`.
 *
 * The step is evaluated once, vectorised over the scanned axis: `u[t]` is u
 * itself (every time-varying value keeps its T axis), and each carry is an
 * affine form in the previous carries. Arithmetic keeps the forms affine
 * (sums, products and quotients by carry-free factors); anything else is a
 * non-affine step, reported as such. When a carry's new value is first read
 * (an emit, a later statement) or the step ends, the updates become one IR
 * SCAN: scalar per carry when the carries are uncoupled, one small matrix scan
 * over all of them when they are coupled (spec/models.md §2.5: the compiler
 * assembles the system, the author writes the equations). */
#include "build.h"

#include <string.h>

static Value v_affine(Affine a)
{
    Affine *p = xmalloc(sizeof *p);
    *p = a;
    return (Value){.kind = V_AFFINE, .aff = p};
}

static Affine affine_empty(void)
{
    Affine a;
    for (int k = 0; k < MAX_CARRIES; k++) a.coef[k] = -1;
    a.off = -1;
    return a;
}

/* A value as an affine form: a carry-free tensor is all offset. */
static bool to_affine(Builder *b, Value v, Loc loc, Affine *out)
{
    if (v.kind == V_AFFINE) {
        *out = *v.aff;
        return true;
    }
    *out = affine_empty();
    out->off = as_tensor(b, v, loc, "a term of a scan step");
    return out->off >= 0;
}

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

static Value non_affine(Builder *b, Op op, Loc loc)
{
    diag_error(loc, "'%s' here makes the scan step non-affine in its carries", op_spelling(op));
    diag_note(loc, "only affine steps (h = A*h + b, scalar or coupled) are supported yet");
    return v_error();
}

Value affine_binary(Builder *b, Op op, Value x, Value y, Loc loc)
{
    Affine p, q;
    if (!to_affine(b, x, loc, &p) || !to_affine(b, y, loc, &q)) return v_error();
    Graph *g = b->g;
    if (op == OP_ADD || op == OP_SUB) {
        OpCode code = op == OP_ADD ? IR_ADD : IR_SUB;
        for (int k = 0; k < MAX_CARRIES; k++) p.coef[k] = add_opt(g, p.coef[k], q.coef[k], code, loc);
        p.off = add_opt(g, p.off, q.off, code, loc);
        return v_affine(p);
    }
    if (op == OP_MUL || op == OP_DIV) {
        if (y.kind == V_AFFINE && (op == OP_DIV || x.kind == V_AFFINE)) return non_affine(b, op, loc);
        Affine form = x.kind == V_AFFINE ? p : q;
        int factor = x.kind == V_AFFINE ? q.off : p.off;
        OpCode code = op == OP_MUL ? IR_MUL : IR_DIV;
        for (int k = 0; k < MAX_CARRIES; k++) form.coef[k] = scale_opt(g, form.coef[k], factor, code, loc);
        form.off = scale_opt(g, form.off, factor, code, loc);
        return v_affine(form);
    }
    return non_affine(b, op, loc);
}

/* ---- materialising the updates as IR scans ---- */

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

/* The transition and the input of one carry must combine like the operands
 * of the `+` that joins them in the step. */
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

static int scalar_scan(StepCtx *st, Affine *u, int c)
{
    Graph *g = st->b->g;
    int a = u->coef[c] >= 0 ? u->coef[c] : zero(g, st->loc);
    int bn = u->off >= 0 ? u->off : zero(g, st->loc);
    if (!terms_combine(st, a, bn, NULL)) return -1;
    int t = scan_operand(st, a, &bn, NULL);
    return ir_scan(g, a, bn, t, NULL, NULL, st->scan->reverse, st->loc);
}

static bool joint_scan(StepCtx *st)
{
    Graph *g = st->b->g;
    Loc loc = st->loc;
    const char *state = intern(xprintf("#state%d", g->nodes.len)), *col = intern(xprintf("#col%d", g->nodes.len));
    int rows[MAX_CARRIES], offs[MAX_CARRIES];
    for (int c = 0; c < st->ncarry; c++) {
        Affine u;
        to_affine(st->b, st->updated[c], loc, &u);
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
    if (st->ncarry > 1 && is_coupled(st)) return joint_scan(st);
    for (int c = 0; c < st->ncarry; c++) {
        Affine u;
        if (!to_affine(st->b, st->updated[c], loc, &u)) return false;
        int h = scalar_scan(st, &u, c);
        if (h < 0) return false;
        st->result[c] = v_tensor(h);
    }
    return true;
}

Value step_read_carry(StepCtx *st, int k, Loc loc)
{
    if (st->updated[k].kind == V_NONE) {     /* the previous carry h_{t-1} */
        Affine a = affine_empty();
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

/* ---- the scan expression ---- */

static bool zero_init(Builder *b, Inst *in, Scope *s, Carry *c)
{
    Value v = eval(b, in, s, c->init);
    if (v.kind == V_ERROR) return false;
    if (v_is_number(v) && v_number(v) == 0) return true;
    diag_error(c->init->loc, "carry %s must start at 0 (h_{-1} = 0, spec §2.5); other initial values are not supported yet", c->name);
    return false;
}

static Value scan_result(StepCtx *st)
{
    Value *items;
    int n;
    if (st->emits.len) {
        items = st->emits.data;
        n = st->emits.len;
    } else {
        items = st->result;
        n = st->ncarry;
    }
    for (int i = 0; i < n; i++) {
        if (items[i].kind == V_AFFINE) {
            diag_error(st->loc, "a scan's emitted value must not depend on the previous carry");
            return v_error();
        }
        if (items[i].kind == V_ERROR) return v_error();
    }
    return n == 1 ? items[0] : v_tuple(items, n);
}

Value eval_scan(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Scan *sc = e->scan;
    Value axis = lookup_name(b, in, s, sc->axis, sc->axis_loc);
    if (axis.kind == V_ERROR) return axis;
    if (axis.kind != V_DIM) {
        diag_error(sc->axis_loc, "scan needs a dim to run over, got %s", kind_name(axis.kind));
        return v_error();
    }
    if (sc->combine) {
        diag_error(e->loc, "the combine form of scan is not supported yet");
        return v_error();
    }
    if (sc->carries.len > MAX_CARRIES) {
        diag_error(e->loc, "a scan may have at most %d carries", MAX_CARRIES);
        return v_error();
    }
    StepCtx st = {.b = b, .scan = sc, .loc = e->loc, .axis_label = intern(axis.s), .axis_size = axis.i,
                  .ncarry = sc->carries.len, .outer = s};
    Scope *step = scope_new(s);
    step->step = &st;
    for (int k = 0; k < st.ncarry; k++) {
        Carry *c = &sc->carries.data[k];
        if (!zero_init(b, in, s, c)) return v_error();
        st.names[k] = c->name;
        st.updated[k] = st.result[k] = v_none();
        scope_set(step, c->name, v_none(), c->loc);
    }
    Value ret = v_none();
    if (exec_stmts(b, in, step, &sc->body, &ret)) {
        diag_error(e->loc, "'return' inside a scan step");
        return v_error();
    }
    if (diag_error_count()) return v_error();
    bool pending = false;
    for (int k = 0; k < st.ncarry; k++) pending |= st.result[k].kind == V_NONE;
    if (pending && !materialise(&st, e->loc)) return v_error();
    Value r = scan_result(&st);
    vec_free(&st.emits);
    return r;
}
