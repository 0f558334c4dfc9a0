/* build.c: instantiating a model: values, scopes, blocks, statements.
 *
 * build_model() evaluates the model block with the -D overrides and the
 * batch size, producing a typed Graph whose output is the model's result.
 * Blocks are instantiated where they are applied; hyperparameters resolve,
 * in order, from the explicit argument, a -D override, the same-named
 * hyperparameter of the nearest enclosing instance, and the default.
 * Assumes a parsed, import-resolved module; guarantees a graph that passes
 * verify_graph, or errors reported through diag. */
#include "build.h"
#include "driver.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool bind_formal(Builder *b, Inst *in, Scope *s, Type *t, Value *v, Loc loc);

/* ---- values ---- */

Value v_error(void) { return (Value){.kind = V_ERROR}; }
Value v_none(void) { return (Value){.kind = V_NONE}; }
Value v_int(int64_t i) { return (Value){.kind = V_INT, .i = i}; }
Value v_float(double f) { return (Value){.kind = V_FLOAT, .f = f}; }
Value v_bool(bool b) { return (Value){.kind = V_BOOL, .i = b}; }
Value v_str(const char *s) { return (Value){.kind = V_STR, .s = s}; }
Value v_dim(const char *label, int64_t size) { return (Value){.kind = V_DIM, .s = label, .i = size}; }
Value v_tensor(int node) { return (Value){.kind = V_TENSOR, .node = node}; }

static Value v_items(VKind k, Value *items, int n)
{
    Value v = {.kind = k, .n = n};
    v.items = xmalloc(sizeof(Value) * (size_t)(n ? n : 1));
    memcpy(v.items, items, sizeof(Value) * (size_t)n);
    return v;
}
Value v_list(Value *items, int n) { return v_items(V_LIST, items, n); }
Value v_tuple(Value *items, int n) { return v_items(V_TUPLE, items, n); }

const char *kind_name(VKind k)
{
    static const char *names[] = {"an erroneous value", "nothing", "an int", "a float", "a bool",
                                  "a string", "a dim", "a list", "several values", "a block",
                                  "a tensor", "a carry-dependent tensor", "a dim map"};
    return names[k];
}

bool v_is_number(Value v) { return v.kind == V_INT || v.kind == V_FLOAT || v.kind == V_BOOL || v.kind == V_DIM; }
double v_number(Value v) { return v.kind == V_FLOAT ? v.f : (double)v.i; }

void describe_value(Builder *b, Value v, char *buf, size_t n)
{
    switch (v.kind) {
    case V_TENSOR: shape_str(node_at(b->g, v.node)->dtype, &node_at(b->g, v.node)->shape, buf, n); break;
    case V_INT: snprintf(buf, n, "int %lld", (long long)v.i); break;
    case V_FLOAT: snprintf(buf, n, "float %g", v.f); break;
    case V_STR: snprintf(buf, n, "string \"%s\"", v.s); break;
    case V_DIM: snprintf(buf, n, "dim %s = %lld", v.s, (long long)v.i); break;
    default: snprintf(buf, n, "%s", kind_name(v.kind)); break;
    }
}

/* ---- scopes ---- */

Scope *scope_new(Scope *parent)
{
    Scope *s = xcalloc(1, sizeof *s);
    s->parent = parent;
    return s;
}

Binding *scope_find_local(Scope *s, const char *name)
{
    for (int i = s->vars.len - 1; i >= 0; i--)
        if (s->vars.data[i].name == name) return &s->vars.data[i];
    return NULL;
}

Binding *scope_find(Scope *s, const char *name)
{
    for (; s; s = s->parent) {
        Binding *bd = scope_find_local(s, name);
        if (bd) return bd;
    }
    return NULL;
}

void scope_set(Scope *s, const char *name, Value v, Loc loc)
{
    Binding *bd = scope_find_local(s, name);
    if (bd) {
        bd->value = v;
        return;
    }
    Binding nb = {name, v, loc};
    vec_push(&s->vars, nb);
}

/* ---- names ---- */

static Value block_value(Item *it, const Module *mod)
{
    BlockVal *bv = xcalloc(1, sizeof *bv);
    bv->item = it;
    bv->mod = mod;
    return (Value){.kind = V_BLOCK, .blk = bv};
}

static Value item_value(Builder *b, Inst *in, Item *it, const Module *mod, Loc loc);
static Value eval_block_value(Builder *b, Inst *in, Scope *s, Expr *e);
static Value partial(BlockVal *bv, Value *args, const char **names, Loc *locs, int nargs);

static const Module *module_of_item(const Module *m, Item *it)
{
    for (int i = 0; i < m->prog->items.len; i++)
        if (m->prog->items.data[i] == it) return m;
    for (int i = 0; i < m->imports.len; i++) {
        const Module *r = module_of_item(m->imports.data[i], it);
        if (r) return r;
    }
    return NULL;
}

Value lookup_name(Builder *b, Inst *in, Scope *s, const char *name, Loc loc)
{
    Binding *bd = scope_find(s, name);
    if (bd) return bd->value;
    if (!strcmp(name, "pi")) return v_float(M_PI);
    Item *it = module_lookup(in->mod, NULL, name);
    if (!it) it = module_lookup(b->root, NULL, name);
    if (it) {
        const Module *m = module_of_item(in->mod, it);
        return item_value(b, in, it, m ? m : b->root, loc);
    }
    if (is_layer(name)) {
        BlockVal *bv = xcalloc(1, sizeof *bv);
        bv->builtin = name;
        return (Value){.kind = V_BLOCK, .blk = bv};
    }
    diag_error(loc, "unknown name '%s'", name);
    return v_error();
}

static Value item_value(Builder *b, Inst *in, Item *it, const Module *mod, Loc loc)
{
    switch (it->kind) {
    case I_BLOCK: return block_value(it, mod);
    case I_CONST: case I_ALIAS: {
        Inst top = {.path = "", .mod = mod, .hyper = scope_new(NULL)};
        return it->kind == I_ALIAS ? eval_block_value(b, &top, top.hyper, it->value) : eval(b, &top, top.hyper, it->value);
    }
    default: diag_error(loc, "'%s' is an import, not a value", it->name); return v_error();
    }
}

/* ---- parameters ---- */

const char *param_path(Inst *in, const char *name)
{
    const char *sfx = in->repeat_suffix ? in->repeat_suffix : "";
    if (!in->path[0]) return intern(xprintf("%s%s", name, sfx));
    return intern(xprintf("%s.%s%s", in->path, name, sfx));
}

int declare_param(Builder *b, Inst *in, const char *name, const Shape *shape, Init init, Loc loc)
{
    return declare_param_path(b, param_path(in, name), shape, init, loc);
}

static int declare_variable(Builder *b, const char *path, const Shape *shape, Init init, bool state, Loc loc)
{
    for (int i = 0; i < b->g->params.len; i++) {
        Param *p = &b->g->params.data[i];
        if (p->path != path) continue;
        if (p->state != state) {
            diag_error(loc, "%s is declared both as a parameter and as a running statistic", path);
            return -1;
        }
        if (!shape_equal(&p->shape, shape)) {
            char x[256], y[256];
            diag_error(loc, "parameter %s is used with shape %s, but was created as %s", path,
                       shape_str(DT_F32, shape, x, sizeof x), shape_str(DT_F32, &p->shape, y, sizeof y));
            return -1;
        }
        return p->node;
    }
    Attr a = {.index = b->g->params.len};
    int node = ir_add(b->g, IR_PARAM, DT_F32, shape, NULL, 0, &a, loc);
    Param p = {.path = path, .shape = *shape, .init = init, .node = node, .state = state, .loc = loc};
    vec_push(&b->g->params, p);
    return node;
}

int declare_param_path(Builder *b, const char *path, const Shape *shape, Init init, Loc loc)
{
    return declare_variable(b, path, shape, init, false, loc);
}

int declare_state_path(Builder *b, const char *path, const Shape *shape, Init init, Loc loc)
{
    return declare_variable(b, path, shape, init, true, loc);
}

/* ---- hyperparameters and -D overrides ---- */

static Value parse_override(Builder *b, Override *ov)
{
    char *end;
    const char *t = ov->text;
    long long i = strtoll(t, &end, 10);
    if (*t && !*end) return v_int(i);
    double f = strtod(t, &end);
    if (*t && !*end) return v_float(f);
    if (!strcmp(t, "true") || !strcmp(t, "false")) return v_bool(t[0] == 't');
    return v_str(intern(t));
}

static Override *find_override(Builder *b, const char *name)
{
    for (int i = 0; i < b->overrides.len; i++)
        if (b->overrides.data[i].name == name) return &b->overrides.data[i];
    return NULL;
}

/* Coerces a hyperparameter value to the formal's kind: -D strings name
 * blocks for `block` formals, ints become floats, enums are checked. */
static Value coerce_hyper(Builder *b, Inst *in, Formal *f, Value v, Loc loc)
{
    if (v.kind == V_ERROR) return v;
    if (f->kind == K_BLOCK && v.kind == V_STR) return lookup_name(b, in, in->hyper, intern(v.s), loc);
    if (f->kind == K_ENUM) {
        for (int i = 0; i < f->choices.len; i++)
            if (v.kind == V_STR && !strcmp(v.s, f->choices.data[i])) return v;
        char buf[512];
        size_t k = 0;
        for (int i = 0; i < f->choices.len && k < sizeof buf; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s\"%s\"", i ? ", " : "", f->choices.data[i]);
        char got[128];
        describe_value(b, v, got, sizeof got);
        diag_error(loc, "%s: expected one of %s, got %s", f->name, buf, got);
        diag_note(f->loc, "%s declared here", f->name);
        return v_error();
    }
    if (f->kind == K_NAMED && !strcmp(f->kind_name, "float") && v.kind == V_INT) return v_float((double)v.i);
    return v;
}

static Binding *inherited(Inst *in, const char *name)
{
    for (Inst *p = in; p; p = p->parent) {
        Binding *bd = scope_find_local(p->hyper, name);
        if (bd) return bd;
    }
    return NULL;
}

/* Resolves one hyperparameter formal (explicit argument already handled). */
static Value resolve_hyper(Builder *b, Inst *caller, Inst *self, Formal *f, Loc loc)
{
    Override *ov = find_override(b, f->name);
    if (ov) {
        ov->used = true;
        return coerce_hyper(b, self, f, parse_override(b, ov), loc);
    }
    Binding *bd = caller ? inherited(caller, f->name) : NULL;
    if (bd && bd->value.kind != V_TENSOR) return coerce_hyper(b, self, f, bd->value, loc);
    if (f->def) return coerce_hyper(b, self, f, eval(b, self, self->hyper, f->def), loc);
    diag_error(loc, "no value for hyperparameter '%s' (give it as an argument or with -D %s=...)", f->name, f->name);
    return v_error();
}

/* ---- applying blocks ---- */

static const char *anon_name(Inst *in, const char *base)
{
    for (int i = 0; i < in->anon_names.len; i++)
        if (in->anon_names.data[i] == base) return intern(xprintf("%s_%d", base, in->anon_counts.data[i]++));
    vec_push(&in->anon_names, base);
    vec_push(&in->anon_counts, 1);
    return intern(xprintf("%s_0", base));
}

static int find_arg(const char **names, int nargs, const char *name)
{
    for (int i = 0; i < nargs; i++)
        if (names[i] == name) return i;
    return -1;
}

static bool is_tensor_formal(const Formal *f) { return f->type != NULL; }

/* Binds the formals of bv's block in a fresh instance and runs its body. */
static Value instantiate(Builder *b, Inst *caller, BlockVal *bv, Value *args, const char **names, Loc *locs,
                         int nargs, Loc loc)
{
    Item *it = bv->item;
    Inst *self = xcalloc(1, sizeof *self);
    self->parent = caller;
    self->mod = bv->mod;
    self->hyper = scope_new(NULL);
    self->path = bv->path ? bv->path : caller->path;
    Scope *body = scope_new(self->hyper);
    int positional = 0;
    for (int i = 0; i < nargs; i++) {
        bool known = !names[i];
        for (int k = 0; k < it->formals.len && !known; k++) known = it->formals.data[k].name == names[i];
        if (!known) diag_error(locs[i], "%s has no parameter named '%s'", it->name, names[i]);
    }
    /* match arguments to formals: by name, else the next positional one */
    int nf = it->formals.len, *arg_of = xmalloc(sizeof(int) * (size_t)(nf ? nf : 1));
    for (int k = 0; k < nf; k++) {
        arg_of[k] = find_arg(names, nargs, it->formals.data[k].name);
        if (arg_of[k] < 0) {
            while (positional < nargs && names[positional]) positional++;
            if (positional < nargs) arg_of[k] = positional++;
        }
    }
    /* hyperparameters first, in order (defaults may use earlier ones), then
     * the tensor inputs, whose patterns may use any hyperparameter */
    bool ok = true;
    for (int pass = 0; pass < 2 && ok; pass++)
        for (int k = 0; k < nf && ok; k++) {
            Formal *f = &it->formals.data[k];
            if (is_tensor_formal(f) != (pass == 1)) continue;
            int a = arg_of[k], bound = find_arg(bv->names.data, bv->names.len, f->name);
            Value v;
            if (a >= 0) v = coerce_hyper(b, self, f, args[a], locs[a]);
            else if (bound >= 0) v = bv->values.data[bound];
            else if (pass == 1) {
                diag_error(loc, "%s needs its input '%s'", it->name, f->name);
                v = v_error();
            } else v = resolve_hyper(b, caller, self, f, f->loc);
            if (pass == 0) {
                scope_set(self->hyper, f->name, v, f->loc);
                continue;
            }
            ok = bind_formal(b, self, body, f->type, &v, a >= 0 ? locs[a] : loc);
            scope_set(body, f->name, v, f->loc);
        }
    free(arg_of);
    if (!ok) return v_error();
    while (positional < nargs && names[positional]) positional++;
    if (positional < nargs) diag_error(locs[positional], "too many arguments to %s", it->name);
    if (it->value) return eval(b, self, body, it->value);
    Value ret = v_none();
    exec_stmts(b, self, body, &it->body, &ret);
    if (it->rtypes.len == 1 && ret.kind == V_TENSOR) {
        if (!bind_pattern(b, self, body, it->rtypes.data[0], &ret, it->rtypes.data[0]->loc)) return v_error();
    }
    return ret;
}

/* Does the call supply every tensor input of the block (an application), or
 * only hyperparameters (a partial application yielding a block value)? */
static bool supplies_inputs(BlockVal *bv, int nargs, const char **names)
{
    if (bv->builtin) return nargs > 0 && !names[0];
    int tensors = 0, given = 0;
    for (int k = 0; k < bv->item->formals.len; k++) {
        Formal *f = &bv->item->formals.data[k];
        if (!is_tensor_formal(f)) continue;
        tensors++;
        if (find_arg(names, nargs, f->name) >= 0) given++;
    }
    int positional = 0;
    for (int i = 0; i < nargs; i++) positional += names[i] == NULL;
    return tensors > 0 ? given + positional >= tensors : true;
}

static Value partial(BlockVal *bv, Value *args, const char **names, Loc *locs, int nargs)
{
    BlockVal *nb = xcalloc(1, sizeof *nb);
    *nb = *bv;
    memset(&nb->names, 0, sizeof nb->names);
    memset(&nb->values, 0, sizeof nb->values);
    memset(&nb->locs, 0, sizeof nb->locs);
    for (int i = 0; i < bv->names.len; i++) {
        vec_push(&nb->names, bv->names.data[i]);
        vec_push(&nb->values, bv->values.data[i]);
        vec_push(&nb->locs, bv->locs.data[i]);
    }
    for (int i = 0; i < nargs; i++) {
        vec_push(&nb->names, names[i]);
        vec_push(&nb->values, args[i]);
        vec_push(&nb->locs, locs[i]);
    }
    return (Value){.kind = V_BLOCK, .blk = nb};
}

Value apply_block(Builder *b, Inst *in, BlockVal *bv, Value *args, const char **names, Loc *locs, int nargs,
                  Loc loc)
{
    if (bv->builtin) {
        if (nargs != 1 || names[0]) {
            diag_error(loc, "layer %s takes one tensor", bv->builtin);
            return v_error();
        }
        return apply_layer(b, in, bv, args[0], loc);
    }
    if (!bv->path && bv->item->body.len) {
        /* an anonymous instance: parameters it declares go under name_k */
        bool has_param = false;
        for (int i = 0; i < bv->item->body.len; i++) has_param |= bv->item->body.data[i]->kind == S_PARAM;
        if (has_param) {
            BlockVal tmp = *bv;
            tmp.path = param_path(in, anon_name(in, bv->item->name));
            return instantiate(b, in, &tmp, args, names, locs, nargs, loc);
        }
    }
    return instantiate(b, bv->owner ? bv->owner : in, bv, args, names, locs, nargs, loc);
}

/* In a block-value position (the right side of `param a = ...` or `block a =
 * ...`), a call binds hyperparameters and yields a block value. */
static Value eval_block_value(Builder *b, Inst *in, Scope *s, Expr *e)
{
    if (e->kind != E_CALL) return eval(b, in, s, e);
    Value callee = eval(b, in, s, e->lhs);
    if (callee.kind != V_BLOCK) {
        if (callee.kind != V_ERROR) diag_error(e->lhs->loc, "expected a block or a layer, got %s", kind_name(callee.kind));
        return v_error();
    }
    int n = e->args.len;
    Value *args = xmalloc(sizeof(Value) * (size_t)(n ? n : 1));
    const char **names = xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    Loc *locs = xmalloc(sizeof(Loc) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        args[i] = eval(b, in, s, e->args.data[i].value);
        names[i] = e->args.data[i].name;
        locs[i] = e->args.data[i].value->loc;
    }
    Value r = partial(callee.blk, args, names, locs, n);
    free(args);
    free(names);
    free(locs);
    return r;
}

Value call_value(Builder *b, Inst *in, Scope *s, Value callee, Expr *call)
{
    int n = call->args.len;
    Value *args = xmalloc(sizeof(Value) * (size_t)(n ? n : 1));
    const char **names = xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    Loc *locs = xmalloc(sizeof(Loc) * (size_t)(n ? n : 1));
    bool bad = false;
    for (int i = 0; i < n; i++) {
        Arg *a = &call->args.data[i];
        args[i] = eval(b, in, s, a->value);
        names[i] = a->name;
        locs[i] = a->value->loc;
        bad |= args[i].kind == V_ERROR;
    }
    Value r;
    if (bad) r = v_error();
    else if (supplies_inputs(callee.blk, n, names))
        r = apply_block(b, in, callee.blk, args, names, locs, n, call->loc);
    else r = partial(callee.blk, args, names, locs, n);
    free(args);
    free(names);
    free(locs);
    return r;
}

/* ---- patterns ---- */

/* A type used as a pattern binds names to the value's sizes. In a block's
 * formals a fresh name aliases the axis as it is (its label travels with the
 * tensor, so results come back labelled as the caller knows them); in an
 * annotation or a result type (relabel) a name's label is given to the axis,
 * which is how `h: f32[B, T, H, W, C] = x` names the post-stem sizes. */
static bool bind_axis(Builder *b, Inst *in, Scope *s, Axis *ax, int k, Value *v, bool relabel, Loc loc)
{
    const Shape *sh = &node_at(b->g, v->node)->shape;
    int64_t size = sh->size[k];
    const char *label = NULL;
    Value want = v_none();
    if (ax->ellipsis) return true;
    if (!ax->label && ax->size->kind == E_IDENT && !scope_find(s, ax->size->name)) {
        const char *name = ax->size->name;
        label = relabel ? name : sh->label[k];
        scope_set(s, name, v_dim(label, size), ax->loc);
    } else {
        want = eval(b, in, s, ax->size);
        if (want.kind == V_ERROR) return false;
        if (!v_is_number(want)) {
            diag_error(ax->loc, "an axis size must be a dim or an int, not %s", kind_name(want.kind));
            return false;
        }
        if ((int64_t)v_number(want) != size) {
            char got[256];
            describe_value(b, *v, got, sizeof got);
            diag_error(loc, "expected axis %d to be %s = %lld, got %s", k + 1, want.kind == V_DIM ? want.s : "of size",
                       (long long)v_number(want), got);
            return false;
        }
        label = ax->label ? ax->label : want.kind == V_DIM ? want.s : NULL;
        if (ax->label) scope_set(s, ax->label, v_dim(ax->label, size), ax->loc);
    }
    if (!label || intern(label) == sh->label[k]) return true;
    if (shape_find(sh, intern(label)) >= 0) return true;    /* [C, k, k]: the label is taken */
    *v = v_tensor(ir_relabel(b->g, v->node, k, intern(label), loc));
    return true;
}

static bool bind_type(Builder *b, Inst *in, Scope *s, Type *t, Value *v, bool relabel, Loc loc)
{
    if (v->kind == V_ERROR) return false;
    if (v->kind != V_TENSOR) {
        diag_error(loc, "expected a tensor %s[...], got %s", dtype_name(t->dtype), kind_name(v->kind));
        return false;
    }
    Node *n = node_at(b->g, v->node);
    int rank = n->shape.rank;
    bool ellipsis = t->axes.len && t->axes.data[0].ellipsis;
    int fixed = t->axes.len - ellipsis;
    char got[256];
    if (n->dtype != t->dtype || (t->has_axes && (ellipsis ? rank < fixed : fixed != rank))) {
        describe_value(b, *v, got, sizeof got);
        diag_error(loc, "expected %s with %s%d axes, got %s", dtype_name(t->dtype), ellipsis ? "at least " : "", fixed, got);
        return false;
    }
    for (int k = ellipsis; k < t->axes.len; k++)
        if (!bind_axis(b, in, s, &t->axes.data[k], rank - fixed + k - ellipsis, v, relabel, loc)) return false;
    return true;
}

bool bind_pattern(Builder *b, Inst *in, Scope *s, Type *t, Value *v, Loc loc)
{
    return bind_type(b, in, s, t, v, true, loc);
}

static bool bind_formal(Builder *b, Inst *in, Scope *s, Type *t, Value *v, Loc loc)
{
    return bind_type(b, in, s, t, v, false, loc);
}

/* ---- statements ---- */

static bool assign_targets(Builder *b, Inst *in, Scope *s, Stmt *st, Value v)
{
    int nt = st->targets.len;
    Value *parts = &v;
    if (nt > 1 && v.kind == V_ERROR) {      /* poison every name, so uses say nothing more */
        for (int i = 0; i < nt; i++) scope_set(s, st->targets.data[i].name, v, st->targets.data[i].loc);
        return false;
    }
    if (nt > 1) {
        if ((v.kind != V_TUPLE && v.kind != V_LIST) || v.n != nt) {
            diag_error(st->loc, "%d names on the left but %s on the right", nt,
                       v.kind == V_TUPLE || v.kind == V_LIST ? xprintf("%d values", v.n) : "one value");
            return false;
        }
        parts = v.items;
    }
    for (int i = 0; i < nt; i++) {
        Target *t = &st->targets.data[i];
        Value pv = parts[i];
        if (t->type && !bind_pattern(b, in, s, t->type, &pv, t->loc)) pv = v_error();
        StepCtx *step = NULL;
        for (Scope *p = s; p && !step; p = p->parent) step = p->step;
        if (step && step_assign(step, t->name, pv, t->loc)) continue;
        scope_set(s, t->name, pv, t->loc);
    }
    return true;
}

static Value eval_values(Builder *b, Inst *in, Scope *s, ExprVec *vals)
{
    if (vals->len == 1) return eval(b, in, s, vals->data[0]);
    Value *items = xmalloc(sizeof(Value) * (size_t)vals->len);
    for (int i = 0; i < vals->len; i++) items[i] = eval(b, in, s, vals->data[i]);
    Value t = v_tuple(items, vals->len);
    free(items);
    return t;
}

static void exec_param(Builder *b, Inst *in, Scope *s, Stmt *st)
{
    if (st->type) {       /* param kernel: f32[C, k, k] = normal(0.02) */
        Init init = eval_init(b, in, s, st->values.data[0]);
        Shape shape = {0};
        Type *t = st->type;
        for (int k = 0; k < t->axes.len && k < MAX_RANK; k++) {
            Axis *ax = &t->axes.data[k];
            Value sz = eval(b, in, s, ax->size);
            if (!v_is_number(sz)) {
                if (sz.kind != V_ERROR) diag_error(ax->loc, "a parameter's axis size must be a dim or an int");
                return;
            }
            const char *label = ax->label ? ax->label : sz.kind == V_DIM ? sz.s
                                : ax->size->kind == E_IDENT ? ax->size->name : xprintf("%lld", (long long)sz.i);
            label = intern(label);
            while (shape_find(&shape, label) >= 0) label = label_derived(label, "'");
            if (ax->label) scope_set(s, ax->label, v_dim(label, (int64_t)v_number(sz)), ax->loc);
            shape.label[shape.rank] = label;
            shape.size[shape.rank++] = (int64_t)v_number(sz);
        }
        for (int i = 0; i < st->targets.len; i++) {
            int node = declare_param(b, in, st->targets.data[i].name, &shape, init, st->targets.data[i].loc);
            scope_set(s, st->targets.data[i].name, node < 0 ? v_error() : v_tensor(node), st->targets.data[i].loc);
        }
        return;
    }
    Value blk = eval_block_value(b, in, s, st->values.data[0]);
    if (blk.kind == V_ERROR) return;
    if (blk.kind != V_BLOCK) {
        diag_error(st->values.data[0]->loc, "param %s = ... needs a block or a layer, got %s (or declare a tensor: param %s: f32[...] = init)",
                   st->targets.data[0].name, kind_name(blk.kind), st->targets.data[0].name);
        return;
    }
    for (int i = 0; i < st->targets.len; i++) {
        BlockVal *inst = xcalloc(1, sizeof *inst);
        *inst = *blk.blk;
        inst->path = param_path(in, st->targets.data[i].name);
        inst->owner = in;
        scope_set(s, st->targets.data[i].name, (Value){.kind = V_BLOCK, .blk = inst}, st->targets.data[i].loc);
    }
}

static bool static_truth(Builder *b, Value v, Loc loc, const char *what)
{
    if (v.kind == V_BOOL || v.kind == V_INT) return v.i != 0;
    if (v.kind == V_TENSOR || v.kind == V_AFFINE) {
        diag_error(loc, "%s must be known at instantiation, but it depends on a tensor", what);
        diag_note(loc, "for a per-element choice use where(cond, a, b)");
    } else if (v.kind != V_ERROR) diag_error(loc, "%s must be a bool, got %s", what, kind_name(v.kind));
    return false;
}

static void exec_assert(Builder *b, Inst *in, Scope *s, Stmt *st)
{
    Value v = eval(b, in, s, st->values.data[0]);
    if (v.kind == V_ERROR) return;
    if (v.kind != V_BOOL && v.kind != V_INT) {
        static_truth(b, v, st->loc, "an assertion");
        return;
    }
    if (!v.i) diag_error(st->loc, "assertion failed: %s", st->message ? st->message : "condition is false");
}

static bool exec_repeat(Builder *b, Inst *in, Scope *s, Stmt *st, Value *ret)
{
    int64_t n;
    if (!eval_int(b, in, s, st->cond, "a repeat count", &n)) return false;
    const char *saved = in->repeat_suffix;
    for (int64_t i = 0; i < n; i++) {
        in->repeat_suffix = intern(xprintf("%s_%lld", saved ? saved : "", (long long)i));
        if (st->name) scope_set(s, st->name, v_int(i), st->loc);
        if (exec_stmts(b, in, s, &st->body, ret)) {
            in->repeat_suffix = saved;
            return true;
        }
    }
    in->repeat_suffix = saved;
    return false;
}

/* Runs one statement; true when it returned (the value in *ret). */
static bool exec_stmt(Builder *b, Inst *in, Scope *s, Stmt *st, Value *ret)
{
    switch (st->kind) {
    case S_ASSIGN: assign_targets(b, in, s, st, eval_values(b, in, s, &st->values)); return false;
    case S_PARAM: exec_param(b, in, s, st); return false;
    case S_DIM: {
        Value v = eval(b, in, s, st->values.data[0]);
        if (v.kind == V_INT) v = v_dim(st->targets.data[0].name, v.i);
        else if (v.kind != V_DIM && v.kind != V_ERROR) {
            diag_error(st->values.data[0]->loc, "dim %s must be an int, got %s", st->targets.data[0].name, kind_name(v.kind));
            v = v_error();
        }
        scope_set(s, st->targets.data[0].name, v, st->loc);
        return false;
    }
    case S_PROBE: {
        Value v = eval(b, in, s, st->values.data[0]);
        if (v.kind == V_TENSOR) {
            Probe p = {param_path(in, st->targets.data[0].name), v.node, st->loc};
            vec_push(&b->g->probes, p);
        } else if (v.kind != V_ERROR) diag_error(st->loc, "a probe needs a tensor, got %s", kind_name(v.kind));
        return false;
    }
    case S_EMIT: {
        StepCtx *step = NULL;
        for (Scope *p = s; p && !step; p = p->parent) step = p->step;
        if (!step) {
            diag_error(st->loc, "'emit' outside a scan step");
            return false;
        }
        for (int i = 0; i < st->values.len; i++) vec_push(&step->emits, eval(b, in, s, st->values.data[i]));
        return false;
    }
    case S_RETURN: *ret = st->values.len ? eval_values(b, in, s, &st->values) : v_none(); return true;
    case S_ASSERT: exec_assert(b, in, s, st); return false;
    case S_IF:
        if (static_truth(b, eval(b, in, s, st->cond), st->cond->loc, "an 'if' condition"))
            return exec_stmts(b, in, s, &st->body, ret);
        return exec_stmts(b, in, s, &st->orelse, ret);
    case S_REPEAT: return exec_repeat(b, in, s, st, ret);
    }
    return false;
}

bool exec_stmts(Builder *b, Inst *in, Scope *s, StmtVec *body, Value *ret)
{
    for (int i = 0; i < body->len; i++)
        if (exec_stmt(b, in, s, body->data[i], ret)) return true;
    return false;
}

/* ---- the model entry ---- */

static Item *find_model(const Module *m, const char *name)
{
    for (int i = 0; i < m->prog->items.len; i++) {
        Item *it = m->prog->items.data[i];
        if (it->kind == I_BLOCK && it->is_model && (!name || it->name == name)) return it;
    }
    return NULL;
}

/* Makes the model's input tensor from its pattern: sizes from hyperparameters,
 * an unbound B from the batch size. */
static int model_input(Builder *b, Inst *in, Formal *f)
{
    Shape s = {0};
    Type *t = f->type;
    for (int k = 0; k < t->axes.len && k < MAX_RANK; k++) {
        Axis *ax = &t->axes.data[k];
        int64_t size = -1;
        const char *label = ax->label;
        if (!label && ax->size->kind == E_IDENT && !scope_find(in->hyper, ax->size->name)) {
            label = ax->size->name;
            if (!strcmp(label, "B")) size = b->batch;
            else {
                diag_error(ax->loc, "the size of model input axis %s is unknown: write it as %s = expression", label, label);
                return -1;
            }
        } else if (!eval_int(b, in, in->hyper, ax->size, "an input axis size", &size)) return -1;
        if (!label) label = xprintf("%lld", (long long)size);
        s.label[s.rank] = intern(label);
        s.size[s.rank++] = size;
    }
    Attr a = {.index = b->g->inputs.len};
    int node = ir_add(b->g, IR_INPUT, t->dtype, &s, NULL, 0, &a, f->loc);
    Input inp = {f->name, node};
    vec_push(&b->g->inputs, inp);
    return node;
}

static void check_overrides_used(Builder *b)
{
    for (int i = 0; i < b->overrides.len; i++)
        if (!b->overrides.data[i].used)
            diag_warning((Loc){0}, "-D %s is not used by this model", b->overrides.data[i].name);
}

Graph *build_model(const Module *root, const char *model_name, Override *ov, int nov, int64_t batch,
                   BuildMode mode)
{
    Item *model = find_model(root, model_name ? intern(model_name) : NULL);
    if (!model) {
        diag_error((Loc){.file = root->prog->file, .line = 1, .col = 1}, "no model %s%sin this file (declare one with `model name(x: f32[...]) {...}`)",
                   model_name ? model_name : "", model_name ? " " : "");
        return NULL;
    }
    Builder b = {.g = graph_new(), .root = root, .batch = batch, .mode = mode, .loc = model->loc};
    for (int i = 0; i < nov; i++) vec_push(&b.overrides, ov[i]);
    Inst top = {.path = "", .mod = root, .hyper = scope_new(NULL)};
    Value *args = xcalloc((size_t)model->formals.len + 1, sizeof(Value));
    const char **names = xcalloc((size_t)model->formals.len + 1, sizeof(char *));
    Loc *locs = xcalloc((size_t)model->formals.len + 1, sizeof(Loc));
    int nargs = 0;
    /* hyperparameters first: input sizes may use them */
    for (int k = 0; k < model->formals.len; k++) {
        Formal *f = &model->formals.data[k];
        if (f->type) continue;
        scope_set(top.hyper, f->name, resolve_hyper(&b, NULL, &top, f, f->loc), f->loc);
    }
    for (int k = 0; k < model->formals.len; k++) {
        Formal *f = &model->formals.data[k];
        names[nargs] = f->name;
        locs[nargs] = f->loc;
        if (f->type) {
            int node = model_input(&b, &top, f);
            args[nargs++] = node < 0 ? v_error() : v_tensor(node);
        } else args[nargs++] = scope_find_local(top.hyper, f->name)->value;
    }
    Value result = v_error();
    if (!diag_error_count()) {
        BlockVal bv = {.item = model, .mod = root, .path = ""};
        result = instantiate(&b, &top, &bv, args, names, locs, nargs, model->loc);
    }
    free(args);
    free(names);
    free(locs);
    check_overrides_used(&b);
    if (result.kind == V_TENSOR) b.g->output = result.node;
    else if (result.kind != V_ERROR && !diag_error_count())
        diag_error(model->loc, "model %s must return a tensor, got %s", model->name, kind_name(result.kind));
    if (diag_error_count()) {
        graph_free(b.g);
        return NULL;
    }
    return b.g;
}

/* ---- one block alone (gradcheck --block) ---- */

static int64_t harness_size(Builder *b, const char *name, int64_t dflt)
{
    Override *ov = find_override(b, intern(name));
    if (!ov) return dflt;
    ov->used = true;
    char *end;
    long long v = strtoll(ov->text, &end, 10);
    if (*end || v < 1) {
        diag_error((Loc){0}, "-D %s expects a positive integer, got '%s'", name, ov->text);
        return dflt;
    }
    return v;
}

Graph *build_block(const Module *root, const char *block, Override *ov, int nov, int64_t batch, BuildMode mode)
{
    Item *it = module_lookup(root, NULL, intern(block));
    if (!it || (it->kind != I_BLOCK && it->kind != I_ALIAS)) {
        diag_error((Loc){0}, "no block named '%s' in %s or its imports", block, root->path);
        return NULL;
    }
    Builder b = {.g = graph_new(), .root = root, .batch = batch, .mode = mode, .loc = it->loc};
    const Module *mod = module_of_item(root, it);
    Value blk = item_value(&b, NULL, it, mod ? mod : root, it->loc);
    if (blk.kind != V_BLOCK) {
        if (blk.kind != V_ERROR) diag_error(it->loc, "'%s' is not a block", block);
        graph_free(b.g);
        return NULL;
    }
    for (int i = 0; i < nov; i++) vec_push(&b.overrides, ov[i]);
    static const char *const labels[5] = {"B", "T", "H", "W", "C"};
    int64_t sizes[5] = {batch, harness_size(&b, "seq_len", 3), harness_size(&b, "image_size", 8),
                        harness_size(&b, "image_size", 8), harness_size(&b, "embed_dim", 8)};
    Shape s = {.rank = 5};
    for (int i = 0; i < 5; i++) {
        s.label[i] = intern(labels[i]);
        s.size[i] = sizes[i];
    }
    Attr a = {.index = 0};
    int x = ir_add(b.g, IR_INPUT, DT_F32, &s, NULL, 0, &a, it->loc);
    Input inp = {"x", x};
    vec_push(&b.g->inputs, inp);
    Inst top = {.path = "", .mod = blk.blk->mod, .hyper = scope_new(NULL)};
    BlockVal bv = *blk.blk;
    bv.path = intern(block);
    it = bv.item;
    Value arg = v_tensor(x);
    const char *name = NULL;
    Value r = diag_error_count() ? v_error() : instantiate(&b, &top, &bv, &arg, &name, &it->loc, 1, it->loc);
    check_overrides_used(&b);
    if (r.kind == V_TENSOR) b.g->output = r.node;
    else if (r.kind != V_ERROR) diag_error(it->loc, "block %s must return a tensor, got %s", block, kind_name(r.kind));
    if (diag_error_count()) {
        graph_free(b.g);
        return NULL;
    }
    return b.g;
}
