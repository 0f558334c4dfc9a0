/* layers.c: the built-in layers (dense, conv2d, causal_conv, layernorm,
 * batchnorm, groupnorm) and parameter initialisers.
 *
 * A layer is a block value made by `param name = layer(...)`; applying it to
 * a tensor creates its parameters under the instance's path (Flax names and
 * layouts: dense kernel [in, out], conv kernel [kh, kw, in/groups, out],
 * LayerNorm scale and bias; BatchNorm's running averages as states) and
 * emits its computation. Applying the same instance twice shares them. */
#include "build.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const layer_names[] = {"dense", "conv2d", "causal_conv", "layernorm", "batchnorm", "groupnorm"};

bool is_layer(const char *name)
{
    for (size_t i = 0; i < COUNT_OF(layer_names); i++)
        if (!strcmp(layer_names[i], name)) return true;
    return false;
}

/* ---- initialisers ---- */

typedef struct InitName {
    const char *name;
    InitKind kind;
    int nargs;
} InitName;

static const InitName init_names[] = {
    {"zeros", INIT_ZEROS, 0}, {"ones", INIT_ONES, 0}, {"constant", INIT_CONSTANT, 1},
    {"normal", INIT_NORMAL, 1}, {"trunc_normal", INIT_TRUNC_NORMAL, 1}, {"uniform", INIT_UNIFORM, 2},
    {"lecun_normal", INIT_LECUN_NORMAL, 0}, {"xavier_normal", INIT_XAVIER_NORMAL, 0},
    {"xavier_uniform", INIT_XAVIER_UNIFORM, 0}, {"ramp", INIT_RAMP, 2}, {"sqrt_ramp", INIT_SQRT_RAMP, 2},
};

static bool init_number(Builder *b, Inst *in, Scope *s, Expr *e, double *out)
{
    Value v = eval_static(b, in, s, e, "an initialiser argument");
    if (v.kind == V_ERROR) return false;
    if (!v_is_number(v)) {
        diag_error(e->loc, "an initialiser argument must be a number, got %s", kind_name(v.kind));
        return false;
    }
    *out = v_number(v);
    return true;
}

Init eval_init(Builder *b, Inst *in, Scope *s, Expr *e)
{
    Init init = {INIT_ZEROS, 0, 0};
    Expr *head = e->kind == E_CALL ? e->lhs : e;
    if (head->kind == E_IDENT && !scope_find(s, head->name)) {
        for (size_t i = 0; i < COUNT_OF(init_names); i++) {
            if (strcmp(init_names[i].name, head->name)) continue;
            int given = e->kind == E_CALL ? e->args.len : 0;
            if (given != init_names[i].nargs) {
                diag_error(e->loc, "%s takes %d argument%s", head->name, init_names[i].nargs, init_names[i].nargs == 1 ? "" : "s");
                return init;
            }
            init.kind = init_names[i].kind;
            double *slots[2] = {&init.a, &init.b};
            for (int k = 0; k < given; k++)
                if (!init_number(b, in, s, e->args.data[k].value, slots[k])) return init;
            return init;
        }
    }
    if (init_number(b, in, s, e, &init.a)) init.kind = INIT_CONSTANT;
    return init;
}

static Init default_init(Builder *b, BlockVal *bv, const char *name, Init dflt)
{
    for (int i = 0; i < bv->names.len; i++) {
        if (!bv->names.data[i] || strcmp(bv->names.data[i], name)) continue;
        Value v = bv->values.data[i];
        if (v_is_number(v)) return (Init){INIT_CONSTANT, v_number(v), 0};
        diag_error(bv->locs.data[i], "%s must be a number here", name);
    }
    return dflt;
}

/* ---- layer arguments ---- */

static Args layer_args(BlockVal *bv, Loc loc)
{
    Args a = {.fn = bv->builtin, .call = loc};
    for (int i = 0; i < bv->names.len && a.n < MAX_ARGS; i++) {
        a.v[a.n] = bv->values.data[i];
        a.name[a.n] = bv->names.data[i];
        a.loc[a.n++] = bv->locs.data[i];
    }
    return a;
}

static const char *layer_path(Builder *b, Inst *in, BlockVal *bv, const char *leaf)
{
    const char *base = bv->path ? bv->path : param_path(in, bv->builtin);
    return intern(xprintf("%s.%s", base, leaf));
}

static Shape shape_of_axes(int n, const char *const *labels, const int64_t *sizes)
{
    Shape s = {.rank = n};
    for (int i = 0; i < n; i++) {
        s.label[i] = intern(labels[i]);
        s.size[i] = sizes[i];
    }
    return s;
}

static bool dimmap_arg(Args *a, Value *from, Value *to)
{
    Value m = arg_get(a, NULL, 0);
    if (m.kind != V_DIMMAP || m.items[0].kind != V_DIM) {
        diag_error(arg_loc(a, NULL, 0), "%s(I -> O) needs a dim map from the input axis, e.g. %s(C -> 2*C)", a->fn, a->fn);
        return false;
    }
    *from = m.items[0];
    *to = m.items[1];
    return true;
}

static bool check_input(Builder *b, Args *a, int x, Value dim, int *axis)
{
    *axis = axis_of(b, x, dim, a->call);
    return *axis >= 0;
}

/* ---- dense ---- */

/* y = x W + bias over axis I; O is a dim or a list of dims (the output grid,
 * flattened in the kernel as Flax's Dense to prod(O) does). */
static Value apply_dense(Builder *b, Inst *in, BlockVal *bv, int x, Loc loc)
{
    Args a = layer_args(bv, loc);
    Value from, to;
    int axis;
    if (!dimmap_arg(&a, &from, &to) || !check_input(b, &a, x, from, &axis)) return v_error();
    int nout = to.kind == V_LIST ? to.n : 1;
    Value *outs = to.kind == V_LIST ? to.items : &to;
    int64_t total = 1;
    Value named[MAX_RANK];
    if (nout > MAX_RANK) nout = MAX_RANK;
    for (int i = 0; i < nout; i++) {
        named[i] = outs[i];
        if (outs[i].kind == V_INT && outs[i].i > 0) named[i] = v_dim(intern(xprintf("%lld", (long long)outs[i].i)), outs[i].i);
        else if (outs[i].kind != V_DIM) {
            diag_error(arg_loc(&a, NULL, 0), "dense: output sizes must be dims or positive ints");
            return v_error();
        }
        total *= outs[i].i;
    }
    outs = named;
    for (int i = 0; i < nout; i++)
        if (shape_find(&node_at(b->g, x)->shape, intern(outs[i].s)) >= 0 && intern(outs[i].s) != intern(from.s)) {
            diag_error(arg_loc(&a, NULL, 0), "dense: the output axis %s is already an axis of the input", outs[i].s);
            return v_error();
        }
    const char *olabel = nout == 1 ? intern(outs[0].s) : intern("#out");
    const char *klabel = olabel == intern(from.s) ? label_derived(olabel, "'") : olabel;
    const char *kl[2] = {from.s, klabel};
    int64_t ks[2] = {from.i, total};
    Shape kshape = shape_of_axes(2, kl, ks), bshape = shape_of_axes(1, &klabel, &total);
    int kernel = declare_param_path(b, layer_path(b, in, bv, "kernel"), &kshape, (Init){INIT_LECUN_NORMAL, 0, 0}, loc);
    int bias = declare_param_path(b, layer_path(b, in, bv, "bias"), &bshape,
                                  default_init(b, bv, "bias_init", (Init){INIT_ZEROS, 0, 0}), loc);
    if (kernel < 0 || bias < 0) return v_error();
    const char *over = intern(from.s);
    int y = ir_binary(b->g, IR_ADD, ir_contract(b->g, x, kernel, &over, 1, loc), bias, loc);
    /* put the output axis where the input axis was, with its label */
    Shape xs = node_at(b->g, x)->shape, want = {0};
    for (int i = 0; i < xs.rank; i++) {
        if (i == axis) {
            want.label[want.rank] = klabel;
            want.size[want.rank++] = total;
        } else {
            want.label[want.rank] = xs.label[i];
            want.size[want.rank++] = xs.size[i];
        }
    }
    y = ir_permute(b->g, y, &want, loc);
    if (nout == 1) return v_tensor(ir_relabel(b->g, y, axis, olabel, loc));
    Shape grid = {0};
    for (int i = 0; i < want.rank; i++) {
        if (i != axis) {
            grid.label[grid.rank] = want.label[i];
            grid.size[grid.rank++] = want.size[i];
            continue;
        }
        for (int j = 0; j < nout && grid.rank < MAX_RANK; j++) {
            grid.label[grid.rank] = intern(outs[j].s);
            grid.size[grid.rank++] = outs[j].i;
        }
    }
    return v_tensor(ir_reshape(b->g, y, &grid, loc));
}

/* ---- conv2d ---- */

static Value apply_conv2d(Builder *b, Inst *in, BlockVal *bv, int x, Loc loc)
{
    Args a = layer_args(bv, loc);
    Value from, to;
    int caxis, sp[2];
    int64_t size, groups;
    if (!dimmap_arg(&a, &from, &to) || !check_input(b, &a, x, from, &caxis)) return v_error();
    Value sz = arg_get(&a, "size", 1), gr = arg_get(&a, "groups", 2), over = arg_get(&a, "over", 3);
    size = v_is_number(sz) ? (int64_t)v_number(sz) : 3;
    groups = v_is_number(gr) ? (int64_t)v_number(gr) : 1;
    if (to.kind == V_INT && to.i > 0) to = v_dim(intern(xprintf("%lld", (long long)to.i)), to.i);
    if (to.kind != V_DIM || size < 1 || groups < 1 || from.i % groups || to.i % groups) {
        diag_error(loc, "conv2d: needs an output dim, size >= 1, and groups dividing both channel counts");
        return v_error();
    }
    const Shape *xs = &node_at(b->g, x)->shape;
    if (over.kind == V_LIST && over.n == 2) {
        sp[0] = axis_of(b, x, over.items[0], loc);
        sp[1] = axis_of(b, x, over.items[1], loc);
        if (sp[0] < 0 || sp[1] < 0) return v_error();
    } else if (over.kind == V_NONE && xs->rank >= 3) {
        sp[0] = caxis - 2;
        sp[1] = caxis - 1;
    } else {
        diag_error(loc, "conv2d: over = [H, W] names the two spatial axes");
        return v_error();
    }
    const char *kl[4] = {"kh", "kw", xprintf("%s/g", from.s), xprintf("%s#o", to.s)};
    int64_t ks[4] = {size, size, from.i / groups, to.i};
    Shape kshape = shape_of_axes(4, kl, ks);
    const char *bl = to.s;
    Shape bshape = shape_of_axes(1, &bl, &to.i);
    int kernel = declare_param_path(b, layer_path(b, in, bv, "kernel"), &kshape, (Init){INIT_LECUN_NORMAL, 0, 0}, loc);
    int bias = declare_param_path(b, layer_path(b, in, bv, "bias"), &bshape, (Init){INIT_ZEROS, 0, 0}, loc);
    if (kernel < 0 || bias < 0) return v_error();
    int y = ir_conv2d(b->g, x, kernel, sp[0], sp[1], caxis, (int)groups, intern(to.s), loc);
    return v_tensor(ir_binary(b->g, IR_ADD, y, bias, loc));
}

/* ---- causal depthwise conv along an axis (spec/models.md §2.8) ---- */

/* y[t] = bias + sum_j w[j] x[t + j - s + 1]: a sum of shifted copies. */
static Value apply_causal_conv(Builder *b, Inst *in, BlockVal *bv, int x, Loc loc)
{
    Args a = layer_args(bv, loc);
    Value C = arg_get(&a, NULL, 0), sz = arg_get(&a, "size", 1), along = arg_get(&a, "along", 2);
    int caxis, taxis;
    if (C.kind != V_DIM || !v_is_number(sz) || v_number(sz) < 1) {
        diag_error(loc, "causal_conv(C, size, along = T) needs the channel dim and a size >= 1");
        return v_error();
    }
    if (!check_input(b, &a, x, C, &caxis) || !check_input(b, &a, x, along, &taxis)) return v_error();
    int64_t s = (int64_t)v_number(sz), T = node_at(b->g, x)->shape.size[taxis];
    const char *kl[3] = {"k", "1", C.s};
    int64_t ks[3] = {s, 1, C.i};
    Shape kshape = shape_of_axes(3, kl, ks);
    const char *bl = C.s;
    Shape bshape = shape_of_axes(1, &bl, &C.i);
    int kernel = declare_param_path(b, layer_path(b, in, bv, "kernel"), &kshape, (Init){INIT_LECUN_NORMAL, 0, 0}, loc);
    int bias = declare_param_path(b, layer_path(b, in, bv, "bias"), &bshape, (Init){INIT_ZEROS, 0, 0}, loc);
    if (kernel < 0 || bias < 0) return v_error();
    int y = bias;
    int w1 = ir_slice(b->g, kernel, 1, 0, 1, 1, true, loc);
    for (int64_t j = 0; j < s; j++) {
        int64_t d = s - 1 - j;
        if (d >= T) continue;
        int wj = ir_slice(b->g, w1, 0, j, 1, 1, true, loc);
        int xs = d ? ir_pad(b->g, ir_slice(b->g, x, taxis, 0, T - d, 1, false, loc), taxis, d, 0, loc) : x;
        y = ir_binary(b->g, IR_ADD, y, ir_binary(b->g, IR_MUL, xs, wj, loc), loc);
    }
    return v_tensor(y);
}

/* ---- layernorm ---- */

/* E x and Flax's fast variance E[x^2] - E[x]^2, clamped at 0, over the axes
 * in mask (the normalisations of spec §2.1). */
static void moments(Graph *g, int x, uint32_t mask, int64_t count, Loc loc, int *mean, int *var)
{
    int inv_n = ir_scalar(g, 1.0 / (double)count, loc);
    *mean = ir_binary(g, IR_MUL, ir_reduce(g, IR_SUM, x, mask, loc), inv_n, loc);
    int msq = ir_binary(g, IR_MUL, ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, x, x, loc), mask, loc), inv_n, loc);
    *var = ir_binary(g, IR_MAXIMUM, ir_binary(g, IR_SUB, msq, ir_binary(g, IR_MUL, *mean, *mean, loc), loc),
                     ir_scalar(g, 0, loc), loc);
}

/* (x - mean) / sqrt(var + eps). */
static int standardise(Graph *g, int x, int mean, int var, double eps, Loc loc)
{
    int inv = ir_unary(g, IR_RSQRT, ir_binary(g, IR_ADD, var, ir_scalar(g, eps, loc), loc), loc);
    return ir_binary(g, IR_MUL, ir_binary(g, IR_SUB, x, mean, loc), inv, loc);
}

/* x standardised by its own statistics over the axes in mask. */
static int normalise(Graph *g, int x, uint32_t mask, int64_t count, double eps, Loc loc)
{
    int mean, var;
    moments(g, x, mask, count, loc, &mean, &var);
    return standardise(g, x, mean, var, eps, loc);
}

/* y * scale + bias with scale (ones) and bias (zeros) over C, in x's order. */
static Value scale_shift(Builder *b, Inst *in, BlockVal *bv, int x, int y, Value C, Loc loc)
{
    const char *cl = C.s;
    Shape ps = shape_of_axes(1, &cl, &C.i);
    int scale = declare_param_path(b, layer_path(b, in, bv, "scale"), &ps, (Init){INIT_ONES, 0, 0}, loc);
    int bias = declare_param_path(b, layer_path(b, in, bv, "bias"), &ps, (Init){INIT_ZEROS, 0, 0}, loc);
    if (scale < 0 || bias < 0) return v_error();
    Graph *g = b->g;
    y = ir_binary(g, IR_ADD, ir_binary(g, IR_MUL, y, scale, loc), bias, loc);
    Shape xs = node_at(g, x)->shape;
    return v_tensor(ir_permute(g, y, &xs, loc));
}

/* The axes named by `over` as a mask, and the product of their sizes. */
static bool over_mask(Builder *b, int x, Value over, uint32_t *mask, int64_t *count, Loc loc)
{
    for (int i = 0; i < over.n; i++) {
        int k = axis_of(b, x, over.items[i], loc);
        if (k < 0) return false;
        *mask |= 1u << k;
        *count *= node_at(b->g, x)->shape.size[k];
    }
    return true;
}

/* Flax LayerNorm: statistics over `over` (default the channel axis),
 * epsilon 1e-6, scale and bias [C]. */
static Value apply_layernorm(Builder *b, Inst *in, BlockVal *bv, int x, Loc loc)
{
    Args a = layer_args(bv, loc);
    Value C = arg_get(&a, NULL, 0), over = arg_get(&a, "over", 1);
    int caxis;
    if (!check_input(b, &a, x, C, &caxis)) return v_error();
    uint32_t mask = 1u << caxis;
    int64_t count = C.i;
    if (over.kind == V_LIST) {
        mask = 0, count = 1;
        if (!over_mask(b, x, over, &mask, &count, loc)) return v_error();
    }
    return scale_shift(b, in, bv, x, normalise(b->g, x, mask, count, 1e-6, loc), C, loc);
}

/* Probes a running average's next value, momentum * average + (1 - momentum)
 * * the batch's statistic, under the average's path. When the instance was
 * applied before, the update starts from that one's result, as Flax's
 * in-place update does. */
static void probe_running_average(Builder *b, const char *path, int average, int statistic, double momentum, Loc loc)
{
    Graph *g = b->g;
    int k = graph_probe(g, path);
    Probe *earlier = k >= 0 ? &g->probes.data[k] : NULL;
    if (earlier) average = earlier->node;
    int next = ir_binary(g, IR_ADD, ir_binary(g, IR_MUL, average, ir_scalar(g, momentum, loc), loc),
                         ir_binary(g, IR_MUL, statistic, ir_scalar(g, 1 - momentum, loc), loc), loc);
    if (earlier) earlier->node = next;
    else vec_push(&g->probes, ((Probe){path, next, loc}));
}

/* Flax BatchNorm over every axis but C, epsilon 1e-5, with its running
 * averages "mean" (zeros) and "var" (ones) as states. With batch statistics
 * (BuildMode: the training graph, or bn_batch_stats) it normalises with the
 * batch's mean and variance, and the training graph probes the averages'
 * next values (momentum 0.99 by default); otherwise it normalises with the
 * averages. */
static Value apply_batchnorm(Builder *b, Inst *in, BlockVal *bv, int x, Loc loc)
{
    Args a = layer_args(bv, loc);
    Value C = arg_get(&a, NULL, 0), mv = arg_get(&a, "momentum", 1);
    int caxis;
    if (!check_input(b, &a, x, C, &caxis)) return v_error();
    double momentum = v_is_number(mv) ? v_number(mv) : 0.99;
    if ((mv.kind != V_NONE && !v_is_number(mv)) || momentum < 0 || momentum > 1) {
        diag_error(arg_loc(&a, "momentum", 1), "batchnorm: the momentum must be a number in [0, 1]");
        return v_error();
    }
    const char *cl = C.s, *mean_path = layer_path(b, in, bv, "mean"), *var_path = layer_path(b, in, bv, "var");
    Shape cs = shape_of_axes(1, &cl, &C.i);
    int avg_mean = declare_state_path(b, mean_path, &cs, (Init){INIT_ZEROS, 0, 0}, loc);
    int avg_var = declare_state_path(b, var_path, &cs, (Init){INIT_ONES, 0, 0}, loc);
    if (avg_mean < 0 || avg_var < 0) return v_error();
    int mean = avg_mean, var = avg_var;
    if (b->mode.training || b->mode.bn_batch_stats) {
        const Shape *xs = &node_at(b->g, x)->shape;
        uint32_t mask = ((1u << xs->rank) - 1) & ~(1u << caxis);
        moments(b->g, x, mask, shape_numel(xs) / C.i, loc, &mean, &var);
    }
    if (b->mode.training) {
        probe_running_average(b, mean_path, avg_mean, mean, momentum, loc);
        probe_running_average(b, var_path, avg_var, var, momentum, loc);
    }
    return scale_shift(b, in, bv, x, standardise(b->g, x, mean, var, 1e-5, loc), C, loc);
}

/* Flax GroupNorm: C splits into `groups` groups (default C, "instance");
 * statistics per group over the group's channels and the axes `over` (the
 * sample's non-batch axes), epsilon 1e-6, scale and bias [C]. */
static Value apply_groupnorm(Builder *b, Inst *in, BlockVal *bv, int x, Loc loc)
{
    Args a = layer_args(bv, loc);
    Value C = arg_get(&a, NULL, 0), over = arg_get(&a, "over", 2);
    int64_t groups;
    int caxis;
    Value gr = arg_get(&a, "groups", 1);
    groups = v_is_number(gr) ? (int64_t)v_number(gr) : C.i;
    if (!check_input(b, &a, x, C, &caxis)) return v_error();
    if (groups < 1 || C.i % groups || (over.kind != V_LIST && over.kind != V_NONE)) {
        diag_error(loc, "groupnorm(C, groups = G, over = [axes]) needs G dividing %s = %lld", C.s, (long long)C.i);
        return v_error();
    }
    Shape s = node_at(b->g, x)->shape;
    if (s.rank == MAX_RANK) return v_error();
    for (int i = s.rank; i > caxis + 1; i--) s.label[i] = s.label[i - 1], s.size[i] = s.size[i - 1];
    s.label[caxis] = intern("#group"), s.size[caxis] = groups;
    s.label[caxis + 1] = intern("#in_group"), s.size[caxis + 1] = C.i / groups, s.rank++;
    int xg = ir_reshape(b->g, x, &s, loc);
    uint32_t mask = 1u << (caxis + 1);
    int64_t count = C.i / groups;
    if (over.kind == V_LIST && !over_mask(b, xg, over, &mask, &count, loc)) return v_error();
    Shape xs = node_at(b->g, x)->shape;
    int y = ir_reshape(b->g, normalise(b->g, xg, mask, count, 1e-6, loc), &xs, loc);
    return scale_shift(b, in, bv, x, y, C, loc);
}

Value apply_layer(Builder *b, Inst *in, BlockVal *bv, Value x, Loc loc)
{
    if (x.kind == V_AFFINE) return affine_escape(x);
    int t = as_tensor(b, x, loc, "a layer's input");
    if (t < 0) return v_error();
    if (node_at(b->g, t)->dtype != DT_F32) {
        diag_error(loc, "%s expects a real tensor, got a complex one", bv->builtin);
        return v_error();
    }
    if (!strcmp(bv->builtin, "dense")) return apply_dense(b, in, bv, t, loc);
    if (!strcmp(bv->builtin, "conv2d")) return apply_conv2d(b, in, bv, t, loc);
    if (!strcmp(bv->builtin, "causal_conv")) return apply_causal_conv(b, in, bv, t, loc);
    if (!strcmp(bv->builtin, "batchnorm")) return apply_batchnorm(b, in, bv, t, loc);
    if (!strcmp(bv->builtin, "groupnorm")) return apply_groupnorm(b, in, bv, t, loc);
    return apply_layernorm(b, in, bv, t, loc);
}
