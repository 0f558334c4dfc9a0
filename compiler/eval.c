/* eval.c: evaluating expressions to values.
 *
 * Static operands are computed now (ints, floats, bools, strings, dims,
 * lists); as soon as a tensor is involved the operation becomes a graph node
 * whose shape is checked by label (shape.c), and a mismatch is reported at
 * the operator with both shapes. Dims keep a symbolic label through
 * arithmetic (`W/2+1`), which becomes the label of the axes they size.
 * Inside a scan step, values that depend on a carry are affine forms
 * (scan.c). */
#include "build.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static Value eval_call(Builder *b, Inst *in, Scope *s, Expr *e);

int as_tensor(Builder *b, Value v, Loc loc, const char *what)
{
    switch (v.kind) {
    case V_TENSOR: return v.node;
    case V_INT: case V_BOOL: case V_DIM: return ir_scalar(b->g, (double)v.i, loc);
    case V_FLOAT: return ir_scalar(b->g, v.f, loc);
    case V_ERROR: return -1;
    default: diag_error(loc, "%s must be a number or a tensor, got %s", what, kind_name(v.kind)); return -1;
    }
}

/* ---- static arithmetic ---- */

static bool needs_parens(const char *label) { return strpbrk(label, "+-") != NULL; }

static const char *dim_text(Value v)
{
    if (v.kind == V_DIM) return v.s;
    return xprintf("%lld", (long long)v.i);
}

/* The label of a dim computed by `x op y` (one side at least a dim). */
static const char *dim_label_full(Op op, Value x, Value y)
{
    const char *a = dim_text(x), *c = dim_text(y);
    if (op == OP_ADD || op == OP_SUB) return intern(xprintf("%s%s%s", a, op_spelling(op), c));
    return intern(xprintf("%s%s%s%s%s%s%s", needs_parens(a) ? "(" : "", a, needs_parens(a) ? ")" : "",
                          op_spelling(op), needs_parens(c) ? "(" : "", c, needs_parens(c) ? ")" : ""));
}

static int64_t floor_div(int64_t a, int64_t c) { return a / c - ((a % c != 0) && ((a < 0) != (c < 0))); }
static int64_t floor_mod(int64_t a, int64_t c) { return a - c * floor_div(a, c); }

static Value int_arith(Builder *b, Op op, int64_t x, int64_t y, Loc loc)
{
    switch (op) {
    case OP_ADD: return v_int(x + y);
    case OP_SUB: return v_int(x - y);
    case OP_MUL: return v_int(x * y);
    case OP_DIV: case OP_MOD:
        if (y == 0) {
            diag_error(loc, "division by zero");
            return v_error();
        }
        return v_int(op == OP_DIV ? floor_div(x, y) : floor_mod(x, y));
    case OP_POW: return y >= 0 ? v_int((int64_t)llround(pow((double)x, (double)y))) : v_float(pow((double)x, (double)y));
    default: return v_error();
    }
}

static Value float_arith(Op op, double x, double y)
{
    switch (op) {
    case OP_ADD: return v_float(x + y);
    case OP_SUB: return v_float(x - y);
    case OP_MUL: return v_float(x * y);
    case OP_DIV: return v_float(x / y);
    case OP_MOD: return v_float(x - y * floor(x / y));
    case OP_POW: return v_float(pow(x, y));
    default: return v_error();
    }
}

static Value compare(Op op, double x, double y)
{
    switch (op) {
    case OP_EQ: return v_bool(x == y);
    case OP_NE: return v_bool(x != y);
    case OP_LT: return v_bool(x < y);
    case OP_LE: return v_bool(x <= y);
    case OP_GT: return v_bool(x > y);
    case OP_GE: return v_bool(x >= y);
    default: return v_error();
    }
}

static bool is_comparison(Op op) { return op >= OP_EQ && op <= OP_GE; }

static bool values_equal(Value x, Value y)
{
    if (v_is_number(x) && v_is_number(y)) return v_number(x) == v_number(y);
    if (x.kind == V_STR && y.kind == V_STR) return !strcmp(x.s, y.s);
    if (x.kind == V_BLOCK && y.kind == V_BLOCK)
        return x.blk->item == y.blk->item && x.blk->builtin == y.blk->builtin;
    if ((x.kind == V_LIST && y.kind == V_LIST) && x.n == y.n) {
        for (int i = 0; i < x.n; i++)
            if (!values_equal(x.items[i], y.items[i])) return false;
        return true;
    }
    return false;
}

static Value static_binary(Builder *b, Op op, Value x, Value y, Loc loc)
{
    if (op == OP_IN) {
        if (y.kind != V_LIST) {
            diag_error(loc, "'in' needs a list on the right, got %s", kind_name(y.kind));
            return v_error();
        }
        for (int i = 0; i < y.n; i++)
            if (values_equal(x, y.items[i])) return v_bool(true);
        return v_bool(false);
    }
    if (op == OP_EQ || op == OP_NE) {
        if (!(v_is_number(x) && v_is_number(y))) return v_bool(values_equal(x, y) == (op == OP_EQ));
    }
    if (op == OP_AND || op == OP_OR) {
        if (x.kind != V_BOOL || y.kind != V_BOOL) {
            diag_error(loc, "'%s' needs bools, got %s and %s", op_spelling(op), kind_name(x.kind), kind_name(y.kind));
            return v_error();
        }
        return v_bool(op == OP_AND ? x.i && y.i : x.i || y.i);
    }
    if (op == OP_ADD && x.kind == V_LIST && y.kind == V_LIST) {
        Value *items = xmalloc(sizeof(Value) * (size_t)(x.n + y.n + 1));
        memcpy(items, x.items, sizeof(Value) * (size_t)x.n);
        memcpy(items + x.n, y.items, sizeof(Value) * (size_t)y.n);
        return v_list(items, x.n + y.n);
    }
    if (op == OP_ADD && x.kind == V_STR && y.kind == V_STR) return v_str(intern(xprintf("%s%s", x.s, y.s)));
    if (!v_is_number(x) || !v_is_number(y)) {
        diag_error(loc, "cannot apply '%s' to %s and %s", op_spelling(op), kind_name(x.kind), kind_name(y.kind));
        return v_error();
    }
    if (is_comparison(op)) return compare(op, v_number(x), v_number(y));
    bool ints = x.kind != V_FLOAT && y.kind != V_FLOAT;
    Value r = ints ? int_arith(b, op, x.i, y.i, loc) : float_arith(op, v_number(x), v_number(y));
    if (r.kind == V_INT && (x.kind == V_DIM || y.kind == V_DIM) && op != OP_POW)
        r = v_dim(dim_label_full(op, x, y), r.i);
    return r;
}

/* ---- tensor arithmetic ---- */

static OpCode ir_op_of(Op op)
{
    switch (op) {
    case OP_ADD: return IR_ADD;
    case OP_SUB: return IR_SUB;
    case OP_MUL: return IR_MUL;
    case OP_DIV: return IR_DIV;
    case OP_POW: return IR_POW;
    case OP_MOD: return IR_MOD;
    case OP_LT: return IR_LT;
    case OP_LE: return IR_LE;
    case OP_GT: return IR_GT;
    case OP_GE: return IR_GE;
    case OP_EQ: return IR_EQ;
    case OP_NE: return IR_NE;
    default: return IR_COUNT;
    }
}

/* Do two different labels derive from the same dim (W and W/2+1, C and 2*C)?
 * Such axes never meet in an outer product in a correct model: it is nearly
 * always a pixel/spectrum or a head-split slip. */
static bool label_uses(const char *label, const char *name, size_t n)
{
    for (const char *p = label; (p = strstr(p, name)); p++) {
        bool start = p == label || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        bool end = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (start && end) return true;
    }
    return false;
}

static bool labels_related(const char *a, const char *b, const char **base)
{
    for (const char *p = a; *p;) {
        if (!(isalpha((unsigned char)*p) || *p == '_')) {
            p++;
            continue;
        }
        const char *q = p;
        while (isalnum((unsigned char)*q) || *q == '_') q++;
        size_t n = (size_t)(q - p);
        if (label_uses(b, xstrndup(p, n), n)) {
            *base = intern_n(p, n);
            return true;
        }
        p = q;
    }
    return false;
}

bool related_axes_check(const Shape *a, const Shape *b, char *why, size_t n)
{
    for (int i = 0; i < a->rank; i++) {
        if (shape_find(b, a->label[i]) >= 0) continue;
        for (int j = 0; j < b->rank; j++) {
            const char *base;
            if (shape_find(a, b->label[j]) >= 0 || !labels_related(a->label[i], b->label[j], &base)) continue;
            snprintf(why, n, "axes %s and %s both derive from %s", a->label[i], b->label[j], base);
            return false;
        }
    }
    return true;
}

static Value tensor_binary(Builder *b, Op op, Value x, Value y, Loc loc)
{
    OpCode code = ir_op_of(op);
    if (code == IR_COUNT) {
        diag_error(loc, "'%s' is not defined on tensors", op_spelling(op));
        return v_error();
    }
    int a = as_tensor(b, x, loc, "an operand"), c = as_tensor(b, y, loc, "an operand");
    if (a < 0 || c < 0) return v_error();
    Node *na = node_at(b->g, a), *nc = node_at(b->g, c);
    char why[256], sa[256], sc[256];
    Shape out;
    if (!broadcast_check(&na->shape, &nc->shape, &out, why, sizeof why) ||
        !related_axes_check(&na->shape, &nc->shape, why, sizeof why)) {
        diag_error(loc, "cannot combine %s with %s: %s", shape_str(na->dtype, &na->shape, sa, sizeof sa),
                   shape_str(nc->dtype, &nc->shape, sc, sizeof sc), why);
        return v_error();
    }
    bool complex = na->dtype == DT_C64 || nc->dtype == DT_C64;
    if (complex && (code == IR_POW || code == IR_MOD || (code >= IR_LT && code <= IR_NE))) {
        diag_error(loc, "'%s' is not defined on complex tensors", op_spelling(op));
        return v_error();
    }
    return v_tensor(ir_binary(b->g, code, a, c, loc));
}

Value binary_values(Builder *b, Op op, Value x, Value y, Loc loc)
{
    if (x.kind == V_ERROR || y.kind == V_ERROR) return v_error();
    if (op == OP_MATMUL) return matmul_values(b, x, y, loc);
    if (x.kind == V_AFFINE || y.kind == V_AFFINE) {
        return affine_binary(b, op, x, y, loc);
    }
    if (x.kind == V_TENSOR || y.kind == V_TENSOR) return tensor_binary(b, op, x, y, loc);
    return static_binary(b, op, x, y, loc);
}

Value unary_value(Builder *b, Op op, Value x, Loc loc)
{
    if (x.kind == V_ERROR) return x;
    if (op == OP_NOT) {
        if (x.kind != V_BOOL) {
            diag_error(loc, "'not' needs a bool, got %s", kind_name(x.kind));
            return v_error();
        }
        return v_bool(!x.i);
    }
    if (op == OP_PLUS) return x;
    if (x.kind == V_AFFINE) return affine_binary(b, OP_SUB, v_int(0), x, loc);
    if (x.kind == V_TENSOR) return v_tensor(ir_unary(b->g, IR_NEG, x.node, loc));
    if (x.kind == V_INT) return v_int(-x.i);
    if (x.kind == V_FLOAT) return v_float(-x.f);
    diag_error(loc, "cannot negate %s", kind_name(x.kind));
    return v_error();
}

/* ---- forms ---- */

static Value eval_list(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Value *items = xmalloc(sizeof(Value) * (size_t)(e->items.len + 1));
    for (int i = 0; i < e->items.len; i++) items[i] = eval(b, in, s, e->items.data[i]);
    Value v = v_list(items, e->items.len);
    free(items);
    return v;
}

static Value eval_match(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Value subject = eval(b, in, s, e->cond);
    if (subject.kind == V_ERROR) return subject;
    for (int i = 0; i < e->arms.len; i++) {
        Arm *arm = &e->arms.data[i];
        if (!arm->pattern) return eval(b, in, s, arm->value);
        Value p = eval(b, in, s, arm->pattern);
        if (p.kind == V_ERROR) return p;
        if (values_equal(subject, p)) return eval(b, in, s, arm->value);
    }
    char got[256];
    describe_value(b, subject, got, sizeof got);
    diag_error(e->loc, "no arm of this match accepts %s", got);
    return v_error();
}

static Value eval_cond(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Value c = eval(b, in, s, e->cond);
    if (c.kind == V_ERROR) return c;
    if (c.kind != V_BOOL) {
        if (c.kind == V_TENSOR) {
            diag_error(e->cond->loc, "condition must be known at instantiation, but it depends on a tensor");
            diag_note(e->cond->loc, "for a per-element choice use where(cond, a, b)");
        } else diag_error(e->cond->loc, "condition must be a bool, got %s", kind_name(c.kind));
        return v_error();
    }
    return eval(b, in, s, c.i ? e->lhs : e->rhs);
}

static Value eval_ident(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Value v = lookup_name(b, in, s, e->name, e->loc);
    for (Scope *p = s; p; p = p->parent) {
        if (!p->step) continue;
        for (int k = 0; k < p->step->ncarry; k++)
            if (p->step->names[k] == e->name && scope_find(s, e->name) == scope_find_local(p, e->name))
                return step_read_carry(p->step, k, e->loc);
        /* a tensor from outside the step that varies along the scanned axis
         * may only be read at the step's index */
        if (v.kind == V_TENSOR && !scope_find_local(p, e->name) &&
            shape_find(&node_at(b->g, v.node)->shape, p->step->axis_label) >= 0) {
            Binding *bd = scope_find(s, e->name);
            bool outside = bd && bd != scope_find_local(p, e->name);
            for (Scope *q = s; q != p && outside; q = q->parent) outside = !scope_find_local(q, e->name);
            if (outside) {
                diag_error(e->loc, "'%s' varies along %s: inside the step read it as %s[%s]", e->name,
                           p->step->axis_label, e->name, p->step->scan->var);
                return v_error();
            }
        }
        break;
    }
    return v;
}

Value eval(Builder *b, Inst *in, Scope *s, Expr *e)
{
    switch (e->kind) {
    case E_IDENT: return eval_ident(b, in, s, e);
    case E_INT: return v_int(e->ival);
    case E_FLOAT: return v_float(e->fval);
    case E_IMAG: {
        Shape sc = {0};
        return v_tensor(ir_const(b->g, 0, e->fval, DT_C64, &sc, e->loc));
    }
    case E_STRING: return v_str(e->name);
    case E_BOOL: return v_bool(e->ival != 0);
    case E_UNARY: return unary_value(b, e->op, eval(b, in, s, e->lhs), e->loc);
    case E_BINARY: {
        Value x = eval(b, in, s, e->lhs);
        if (e->op == OP_AND && x.kind == V_BOOL && !x.i) return x;
        if (e->op == OP_OR && x.kind == V_BOOL && x.i) return x;
        return binary_values(b, e->op, x, eval(b, in, s, e->rhs), e->loc);
    }
    case E_COND: return eval_cond(b, in, s, e);
    case E_CALL: return eval_call(b, in, s, e);
    case E_INDEX: return tensor_index(b, in, s, e);
    case E_LIST: return eval_list(b, in, s, e);
    case E_MATCH: return eval_match(b, in, s, e);
    case E_SCAN: return eval_scan(b, in, s, e);
    case E_ARROW: {
        Value both[2] = {eval(b, in, s, e->lhs), eval(b, in, s, e->rhs)};
        if (both[0].kind == V_ERROR || both[1].kind == V_ERROR) return v_error();
        Value v = v_list(both, 2);
        v.kind = V_DIMMAP;
        return v;
    }
    case E_FIELD: return eval_field(b, in, s, e);
    case E_RANGE: diag_error(e->loc, "a range 'a:b' is only valid inside an index"); return v_error();
    }
    return v_error();
}

Value eval_static(Builder *b, Inst *in, Scope *s, Expr *e, const char *what)
{
    Value v = eval(b, in, s, e);
    if (v.kind == V_TENSOR || v.kind == V_AFFINE) {
        diag_error(e->loc, "%s must be known at instantiation, but it is a tensor", what);
        return v_error();
    }
    return v;
}

bool eval_int(Builder *b, Inst *in, Scope *s, Expr *e, const char *what, int64_t *out)
{
    Value v = eval_static(b, in, s, e, what);
    if (v.kind == V_ERROR) return false;
    if (v.kind != V_INT && v.kind != V_DIM && v.kind != V_BOOL) {
        diag_error(e->loc, "%s must be an int, got %s", what, kind_name(v.kind));
        return false;
    }
    *out = v.i;
    return true;
}

static Value eval_call(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Expr *f = e->lhs;
    if (f->kind == E_IDENT && !scope_find(s, f->name) && is_builtin(f->name) &&
        !module_lookup(in->mod, NULL, f->name))
        return call_builtin(b, in, s, f->name, e);
    Value callee = eval(b, in, s, f);
    if (callee.kind == V_ERROR) return callee;
    if (callee.kind != V_BLOCK) {
        diag_error(f->loc, "%s is not callable", kind_name(callee.kind));
        return v_error();
    }
    return call_value(b, in, s, callee, e);
}

/* ---- indexing ---- */

static Value list_index(Builder *b, Value base, Value idx, Loc loc)
{
    if (idx.kind != V_INT) {
        diag_error(loc, "a list index must be an int, got %s", kind_name(idx.kind));
        return v_error();
    }
    int64_t i = idx.i < 0 ? idx.i + base.n : idx.i;
    if (i < 0 || i >= base.n) {
        diag_error(loc, "index %lld out of range for a list of %d", (long long)idx.i, base.n);
        return v_error();
    }
    return base.items[i];
}

static bool range_bound(Builder *b, Inst *in, Scope *s, Expr *e, int64_t dflt, int64_t size, int64_t *out)
{
    if (!e) {
        *out = dflt;
        return true;
    }
    if (!eval_int(b, in, s, e, "a slice bound", out)) return false;
    if (*out < 0) *out += size;
    if (*out < 0) *out = 0;
    if (*out > size) *out = size;
    return true;
}

/* Slices axis k of node by one index argument (an int, or a range). */
static int index_axis(Builder *b, Inst *in, Scope *s, int node, int k, Expr *arg, Loc loc)
{
    int64_t size = node_at(b->g, node)->shape.size[k];
    if (arg->kind == E_RANGE) {
        int64_t lo, hi;
        if (!range_bound(b, in, s, arg->lhs, 0, size, &lo) || !range_bound(b, in, s, arg->rhs, size, size, &hi))
            return -1;
        if (hi <= lo) {
            diag_error(arg->loc, "empty slice %lld:%lld of an axis of size %lld", (long long)lo, (long long)hi, (long long)size);
            return -1;
        }
        return ir_slice(b->g, node, k, lo, hi - lo, 1, false, loc);
    }
    int64_t i;
    if (!eval_int(b, in, s, arg, "an index", &i)) return -1;
    if (i < 0) i += size;
    if (i < 0 || i >= size) {
        diag_error(arg->loc, "index out of range for an axis of size %lld", (long long)size);
        return -1;
    }
    return ir_slice(b->g, node, k, i, 1, 1, true, loc);
}

static bool is_step_index(Scope *s, Expr *arg, StepCtx **step)
{
    for (Scope *p = s; p; p = p->parent)
        if (p->step) {
            *step = p->step;
            return arg->kind == E_IDENT && arg->name == p->step->scan->var;
        }
    return false;
}

Value tensor_index(Builder *b, Inst *in, Scope *s, Expr *e)
{
    StepCtx *step = NULL;
    if (e->args.len == 1 && !e->args.data[0].name && is_step_index(s, e->args.data[0].value, &step)) {
        if (e->lhs->kind != E_IDENT) {
            diag_error(e->loc, "index a named tensor by the step: name[%s]", step->scan->var);
            return v_error();
        }
        Value v = lookup_name(b, in, s, e->lhs->name, e->lhs->loc);
        if (v.kind == V_ERROR) return v;
        if (v.kind != V_TENSOR || shape_find(&node_at(b->g, v.node)->shape, step->axis_label) < 0) {
            char got[256];
            describe_value(b, v, got, sizeof got);
            diag_error(e->loc, "%s[%s] needs a tensor with an axis %s, got %s", e->lhs->name, step->scan->var,
                       step->axis_label, got);
            return v_error();
        }
        return step_index_read(step, v, e->loc);
    }
    Value base = eval(b, in, s, e->lhs);
    if (base.kind == V_ERROR) return base;
    if (base.kind == V_LIST) {
        if (e->args.len != 1) {
            diag_error(e->loc, "a list takes one index");
            return v_error();
        }
        return list_index(b, base, eval_static(b, in, s, e->args.data[0].value, "a list index"), e->loc);
    }
    if (base.kind != V_TENSOR) {
        diag_error(e->loc, "cannot index %s", kind_name(base.kind));
        return v_error();
    }
    int node = base.node;
    bool named = e->args.len && e->args.data[0].name;
    if (!named && e->args.len != node_at(b->g, node)->shape.rank) {
        diag_error(e->loc, "%d indices for a tensor of rank %d (or name the axis: x[T = -1])", e->args.len,
                   node_at(b->g, node)->shape.rank);
        return v_error();
    }
    /* positional indices apply from the last axis so dropped axes do not
     * shift the positions of those still to come */
    for (int i = e->args.len - 1; i >= 0 && node >= 0; i--) {
        Arg *a = &e->args.data[i];
        int k = i;
        if (a->name) {
            k = shape_find(&node_at(b->g, node)->shape, a->name);
            if (k < 0) {
                char got[256];
                describe_value(b, v_tensor(node), got, sizeof got);
                diag_error(a->name_loc, "no axis %s in %s", a->name, got);
                return v_error();
            }
        }
        node = index_axis(b, in, s, node, k, a->value, e->loc);
    }
    return node < 0 ? v_error() : v_tensor(node);
}

int axis_of(Builder *b, int node, Value dim, Loc loc)
{
    if (dim.kind == V_ERROR) return -1;
    if (dim.kind != V_DIM) {
        diag_error(loc, "expected a dim naming an axis, got %s", kind_name(dim.kind));
        return -1;
    }
    int k = shape_find(&node_at(b->g, node)->shape, intern(dim.s));
    if (k < 0) {
        char got[256];
        describe_value(b, v_tensor(node), got, sizeof got);
        diag_error(loc, "no axis %s in %s", dim.s, got);
    }
    return k;
}
