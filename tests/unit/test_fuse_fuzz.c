/* test_fuse_fuzz.c: fused against unfused against the reference, on random graphs.
 *
 * Builds one graph holding many small random subgraphs of elementwise
 * (real and complex), reduction and movement ops, made with the typed
 * constructors of ir.h over a few labelled axes of small prime-ish sizes,
 * and makes a few nodes of each readable (probes), so fusion has to cut the
 * subgraphs in many places. The graph runs on the reference executor (f32),
 * on the cpu device with fusion and on the cpu device with every node its
 * own kernel; every probe must agree to a relative error of 1e-6 (the
 * devices round each op as the reference does, so they are nearly always
 * bit-identical; only sums whose partial sums the cpu device splits over
 * threads may differ in the last bit). Values stay in range by construction:
 * exp only of tanh, log and division only of values >= 1.
 *
 * The seed is fixed, so the test is repeatable; CSSM_FUZZ_SEED and
 * CSSM_FUZZ_GRAPHS explore further. Exits 77 when the cpu device cannot run
 * here (no C compiler). */
#include "exec.h"
#include "ir.h"
#include "kernel.h"
#include "rng.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

enum { LABELS = 5, OPS_PER_GRAPH = 18, PROBES_PER_GRAPH = 3 };

static const char *const label_names[LABELS] = {"A", "B", "C", "D", "E"};
static const int64_t label_sizes[LABELS] = {2, 3, 4, 5, 1};

typedef struct Fuzz {
    Graph *g;
    Rng r;
    Vec(int) pool;      /* the current subgraph's nodes */
    int fresh;          /* counter for new labels */
} Fuzz;

static int pick(Fuzz *f) { return f->pool.data[rng_below(&f->r, (uint64_t)f->pool.len)]; }
static bool coin(Fuzz *f) { return rng_below(&f->r, 2) == 0; }
static const Shape *shape_of(Fuzz *f, int x) { return &node_at(f->g, x)->shape; }
static DType dtype_of(Fuzz *f, int x) { return node_at(f->g, x)->dtype; }

static const char *fresh_label(Fuzz *f, const char *base)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s_%d", base, f->fresh++);
    return intern(buf);
}

static int add_input(Fuzz *f, DType dt)
{
    Shape s = {0};
    int rank = 1 + (int)rng_below(&f->r, 3);
    while (s.rank < rank) {
        int l = (int)rng_below(&f->r, LABELS);
        if (shape_find(&s, intern(label_names[l])) >= 0) continue;
        s.label[s.rank] = intern(label_names[l]);
        s.size[s.rank++] = label_sizes[l];
    }
    Attr a = {.index = f->g->inputs.len};
    int id = ir_add(f->g, IR_INPUT, dt, &s, NULL, 0, &a, (Loc){0});
    Input in = {intern("x"), id};
    vec_push(&f->g->inputs, in);
    return id;
}

/* A node with a value >= 1 computed from x: 1 + softplus(x) (real x). */
static int at_least_one(Fuzz *f, int x)
{
    return ir_binary(f->g, IR_ADD, ir_unary(f->g, IR_SOFTPLUS, x, (Loc){0}), ir_scalar(f->g, 1, (Loc){0}), (Loc){0});
}

static int real_of(Fuzz *f, int x) { return dtype_of(f, x) == DT_C64 ? ir_unary(f->g, IR_REAL, x, (Loc){0}) : x; }

static int random_unary(Fuzz *f, int x)
{
    static const OpCode any[] = {IR_NEG, IR_CONJ, IR_ABS, IR_REAL, IR_IMAG};
    static const OpCode real[] = {IR_TANH, IR_SIGMOID, IR_SIN, IR_COS, IR_RELU, IR_SILU, IR_GELU, IR_GELU_D,
                                  IR_SOFTPLUS, IR_FLOOR, IR_TO_C64};
    Graph *g = f->g;
    Loc l = {0};
    switch (rng_below(&f->r, 4)) {
    case 0: return ir_unary(g, any[rng_below(&f->r, COUNT_OF(any))], x, l);
    case 1: return ir_unary(g, IR_EXP, dtype_of(f, x) == DT_C64 ? ir_binary(g, IR_MUL, x, ir_scalar(g, 0.3, l), l)
                                                                 : ir_unary(g, IR_TANH, x, l), l);
    case 2: {
        static const OpCode pos[] = {IR_LOG, IR_SQRT, IR_RSQRT};
        return ir_unary(g, pos[rng_below(&f->r, COUNT_OF(pos))], at_least_one(f, real_of(f, x)), l);
    }
    default: return ir_unary(g, real[rng_below(&f->r, COUNT_OF(real))], real_of(f, x), l);
    }
}

/* Two nodes whose label union has at most 4 axes. */
static bool pair(Fuzz *f, int *a, int *b)
{
    for (int tries = 0; tries < 8; tries++) {
        *a = pick(f), *b = pick(f);
        Shape s;
        char why[128];
        if (broadcast_check(shape_of(f, *a), shape_of(f, *b), &s, why, sizeof why) && s.rank <= 4) return true;
    }
    return false;
}

static int random_binary(Fuzz *f)
{
    static const OpCode any[] = {IR_ADD, IR_SUB, IR_MUL};
    static const OpCode real[] = {IR_MAXIMUM, IR_MINIMUM, IR_COMPLEX, IR_MOD};
    Graph *g = f->g;
    Loc l = {0};
    int a, b;
    if (!pair(f, &a, &b)) return random_unary(f, pick(f));
    switch (rng_below(&f->r, 4)) {
    case 0: case 1: return ir_binary(g, any[rng_below(&f->r, COUNT_OF(any))], a, b, l);
    case 2: return ir_binary(g, IR_DIV, a, at_least_one(f, real_of(f, b)), l);
    default: {
        OpCode op = real[rng_below(&f->r, COUNT_OF(real))];
        if (op == IR_MOD) return ir_binary(g, op, real_of(f, a), at_least_one(f, real_of(f, b)), l);
        return ir_binary(g, op, real_of(f, a), real_of(f, b), l);
    }
    }
}

/* where(a > b, x, y) on inputs only, whose values both sides see exactly. */
static int random_where(Fuzz *f, const int *inputs, int n)
{
    int c = real_of(f, inputs[rng_below(&f->r, (uint64_t)n)]), d = real_of(f, inputs[rng_below(&f->r, (uint64_t)n)]), x, y;
    Shape s;
    char why[128];
    if (!pair(f, &x, &y) || !broadcast_check(shape_of(f, c), shape_of(f, d), &s, why, sizeof why)) return pick(f);
    Shape t;
    if (!broadcast_check(shape_of(f, x), shape_of(f, y), &t, why, sizeof why) ||
        !broadcast_check(&t, &s, &t, why, sizeof why) || t.rank > 4)
        return pick(f);
    return ir_where(f->g, ir_binary(f->g, IR_GT, c, d, (Loc){0}), x, y, (Loc){0});
}

static int random_reduce(Fuzz *f)
{
    int x = pick(f);
    const Shape *s = shape_of(f, x);
    if (s->rank == 0) return random_unary(f, x);
    uint32_t mask = 1u + (uint32_t)rng_below(&f->r, (1u << s->rank) - 1);
    bool max = dtype_of(f, x) == DT_F32 && coin(f);
    return ir_reduce(f->g, max ? IR_MAX : IR_SUM, x, mask, (Loc){0});
}

static int random_permute_or_broadcast(Fuzz *f, int x)
{
    Shape s = *shape_of(f, x);
    if (coin(f) || s.rank < 2) {
        int l = (int)rng_below(&f->r, LABELS);
        if (s.rank >= 4 || shape_find(&s, intern(label_names[l])) >= 0) return x;
        int at = (int)rng_below(&f->r, (uint64_t)s.rank + 1);
        for (int i = s.rank; i > at; i--) s.label[i] = s.label[i - 1], s.size[i] = s.size[i - 1];
        s.label[at] = intern(label_names[l]), s.size[at] = label_sizes[l], s.rank++;
        return ir_broadcast(f->g, x, &s, (Loc){0});
    }
    for (int i = s.rank - 1; i > 0; i--) {
        int j = (int)rng_below(&f->r, (uint64_t)i + 1);
        const char *tl = s.label[i];
        int64_t ts = s.size[i];
        s.label[i] = s.label[j], s.size[i] = s.size[j], s.label[j] = tl, s.size[j] = ts;
    }
    return ir_permute(f->g, x, &s, (Loc){0});
}

/* Merges two adjacent axes, or splits one of even size in two. */
static int random_reshape(Fuzz *f, int x)
{
    Shape s = *shape_of(f, x);
    if (s.rank >= 2 && coin(f)) {
        int i = (int)rng_below(&f->r, (uint64_t)s.rank - 1);
        s.size[i] *= s.size[i + 1];
        s.label[i] = fresh_label(f, "m");
        for (int k = i + 1; k + 1 < s.rank; k++) s.label[k] = s.label[k + 1], s.size[k] = s.size[k + 1];
        s.rank--;
        return ir_reshape(f->g, x, &s, (Loc){0});
    }
    for (int i = 0; i < s.rank && s.rank < 4; i++)
        if (s.size[i] % 2 == 0 && s.size[i] > 2) {
            for (int k = s.rank; k > i + 1; k--) s.label[k] = s.label[k - 1], s.size[k] = s.size[k - 1];
            s.size[i] /= 2, s.label[i] = fresh_label(f, "s");
            s.size[i + 1] = 2, s.label[i + 1] = fresh_label(f, "t");
            s.rank++;
            return ir_reshape(f->g, x, &s, (Loc){0});
        }
    return x;
}

static int random_positional(Fuzz *f, int x)
{
    const Shape *s = shape_of(f, x);
    if (s->rank == 0) return x;
    int axis = (int)rng_below(&f->r, (uint64_t)s->rank);
    int64_t n = s->size[axis];
    switch (rng_below(&f->r, 3)) {
    case 0: {
        int64_t step = 1 + (int64_t)rng_below(&f->r, 2), start = (int64_t)rng_below(&f->r, (uint64_t)n);
        int64_t len = 1 + (int64_t)rng_below(&f->r, (uint64_t)((n - 1 - start) / step + 1));
        return ir_slice(f->g, x, axis, start, len, step, len == 1 && coin(f), (Loc){0});
    }
    case 1: return ir_pad(f->g, x, axis, (int64_t)rng_below(&f->r, 3), (int64_t)rng_below(&f->r, 3), (Loc){0});
    default: return ir_flip(f->g, x, axis, (Loc){0});
    }
}

/* concat(x, g(x)) or stack(x, g(x), h) along a fresh axis. */
static int random_join(Fuzz *f, int x)
{
    const Shape copy = *shape_of(f, x), *s = &copy;   /* adding nodes moves the node array */
    Loc l = {0};
    int other = ir_unary(f->g, IR_NEG, x, l);
    if (s->rank > 0 && coin(f)) {
        int axis = (int)rng_below(&f->r, (uint64_t)s->rank);
        if (s->size[axis] > 1 && coin(f)) other = ir_slice(f->g, other, axis, 1, s->size[axis] - 1, 1, false, l);
        return ir_concat(f->g, x, other, axis, fresh_label(f, "c"), l);
    }
    if (s->rank >= 4) return x;
    int in[3] = {x, other, ir_unary(f->g, IR_ABS, x, l)};
    return ir_stack(f->g, in, 2 + (int)rng_below(&f->r, 2), (int)rng_below(&f->r, (uint64_t)s->rank + 1),
                    fresh_label(f, "k"), l);
}

static int random_op(Fuzz *f, const int *inputs, int n)
{
    int x = pick(f);
    switch (rng_below(&f->r, 10)) {
    case 0: case 1: return random_unary(f, x);
    case 2: case 3: return random_binary(f);
    case 4: return random_reduce(f);
    case 5: return random_permute_or_broadcast(f, x);
    case 6: return random_reshape(f, x);
    case 7: return random_positional(f, x);
    case 8: return random_join(f, x);
    default: return random_where(f, inputs, n);
    }
}

static void add_subgraph(Fuzz *f, const int *inputs, int n)
{
    f->pool.len = 0;
    for (int i = 0; i < n; i++) vec_push(&f->pool, inputs[i]);
    for (int k = 0; k < OPS_PER_GRAPH; k++) {
        int y = random_op(f, inputs, n);
        if (shape_numel(shape_of(f, y)) <= 4096) vec_push(&f->pool, y);
    }
    for (int k = 0; k < PROBES_PER_GRAPH; k++) {
        int y = f->pool.data[f->pool.len - 1 - (int)rng_below(&f->r, (uint64_t)MIN(f->pool.len, 8))];
        Probe p = {intern("probe"), y, (Loc){0}};
        vec_push(&f->g->probes, p);
    }
}

static float *values_of(Exec *e, Graph *g, int node)
{
    const Node *n = node_at(g, node);
    int64_t m = shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1);
    float *v = xmalloc(sizeof(float) * (size_t)(m + 1));
    exec_get(e, node, v);
    return v;
}

/* Compares every probe of two executors; returns how many differ beyond 1e-6. */
static int compare(Exec *a, Exec *b, Graph *g, const char *what, int *identical)
{
    int bad = 0;
    for (int p = 0; p < g->probes.len; p++) {
        int node = g->probes.data[p].node;
        const Node *n = node_at(g, node);
        int64_t m = shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1);
        float *x = values_of(a, g, node), *y = values_of(b, g, node);
        double diff = 0, scale = 0;
        bool same = true;
        for (int64_t i = 0; i < m; i++) {
            bool nan_x = x[i] != x[i], nan_y = y[i] != y[i];
            diff = fmax(diff, nan_x != nan_y ? INFINITY : nan_x ? 0 : fabs((double)x[i] - y[i]));
            scale = fmax(scale, nan_x ? 0 : fabs((double)x[i]));
            same &= nan_x ? nan_y : x[i] == y[i];
        }
        *identical += same;
        if (diff > 1e-6 * fmax(scale, 1e-30)) {
            fprintf(stderr, "%s: probe %%%d differs: max |diff| %.3g, scale %.3g\n", what, node, diff, scale);
            print_node(stderr, g, node);
            bad++;
        }
        free(x);
        free(y);
    }
    return bad;
}

static void feed(Exec *e, Graph *g, uint64_t seed)
{
    Rng r = rng_new(seed);
    for (int i = 0; i < g->inputs.len; i++) {
        const Node *n = node_at(g, g->inputs.data[i].node);
        int64_t m = shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1);
        float *v = xmalloc(sizeof(float) * (size_t)(m + 1));
        for (int64_t k = 0; k < m; k++) v[k] = (float)rng_normal(&r);
        exec_set(e, g->inputs.data[i].node, v);
        free(v);
    }
}

int main(void)
{
    const char *seed_env = getenv("CSSM_FUZZ_SEED"), *graphs_env = getenv("CSSM_FUZZ_GRAPHS");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20260401;
    int graphs = graphs_env ? atoi(graphs_env) : 40;
    Fuzz f = {.g = graph_new(), .r = rng_new(seed)};
    f.g->output = -1;
    int inputs[6];
    for (int i = 0; i < 6; i++) inputs[i] = add_input(&f, i < 5 ? DT_F32 : DT_C64);
    for (int k = 0; k < graphs; k++) add_subgraph(&f, inputs, 6);
    CHECK(verify_graph(f.g, "fuzz") == 0);
    char err[4096];
    Exec *ref = exec_new(f.g, DEV_REF, false, err, sizeof err);
    Exec *fused = exec_new_fusion(f.g, DEV_CPU, true, err, sizeof err);
    if (!fused) {
        printf("test_fuse_fuzz: the cpu device cannot run here: %s\n", err);
        return 77;
    }
    Exec *unfused = exec_new_fusion(f.g, DEV_CPU, false, err, sizeof err);
    CHECK(unfused != NULL);
    const Lowered *pf = exec_program(fused), *pu = exec_program(unfused);
    CHECK(pf->kernels.len < pu->kernels.len);
    CHECK(pf->nfallback == 0 && pu->nfallback == 0);
    Exec *all[3] = {ref, fused, unfused};
    for (int i = 0; i < 3; i++) {
        feed(all[i], f.g, seed + 1);
        exec_run(all[i]);
    }
    int same_fused = 0, same_unfused = 0;
    CHECK(compare(ref, fused, f.g, "fused vs ref", &same_fused) == 0);
    CHECK(compare(ref, unfused, f.g, "unfused vs ref", &same_unfused) == 0);
    int riders = 0;
    for (int i = 0; i < pf->kernels.len; i++) riders += pf->kernels.data[i].stores.len;
    printf("test_fuse_fuzz: seed %llu, %d nodes, %d probes; %d fused kernels (%d probes stored by a reader's "
           "kernel), %d unfused; bit-identical probes: %d fused, %d unfused\n", (unsigned long long)seed,
           f.g->nodes.len, f.g->probes.len, pf->kernels.len, riders, pu->kernels.len, same_fused, same_unfused);
    for (int i = 0; i < 3; i++) exec_free(all[i]);
    graph_free(f.g);
    return failures ? 1 : 0;
}
