/* test_fuse_lower.c: the back end's promises, on small hand-built graphs.
 *
 *   - ewexpr's table covers every OC_EW op of ops.def (a new op fails here
 *     until it has an expression);
 *   - fusion: an elementwise chain is one kernel; a chain ending in a
 *     reduction fuses into it, and the consumer of the reduction is another
 *     kernel; a value read by two kernels is materialized once it costs more
 *     than a few ops (a transcendental function), and recomputed when cheap;
 *   - index expressions: merging axes by reshape, slicing and padding lower
 *     to plain strides (no division or remainder left in the source);
 *   - the memory plan: aligned offsets, inside the arena, and no two buffers
 *     whose lifetimes meet share a byte; memory is reused along a chain;
 *   - multi-output fusion: a readable node read only inside one map kernel
 *     over its axes is stored by it (and matches ref), and otherwise not;
 *   - an op the lowering has no kernel for (here an FFT over non-adjacent
 *     axes) falls back to the reference executor and still matches it;
 *   - the rendered C and CUDA are deterministic and cite the source lines. */
#include "exec.h"
#include "ir.h"
#include "kernel.h"
#include "rng.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static Shape shp(const char *spec)
{
    Shape s = {0};
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '=');
        s.label[s.rank] = intern_n(p, (size_t)(eq - p));
        s.size[s.rank++] = strtoll(eq + 1, (char **)&p, 10);
        if (*p == ',') p++;
    }
    return s;
}

static int input(Graph *g, DType dt, const char *spec)
{
    Shape s = shp(spec);
    Attr a = {.index = g->inputs.len};
    int id = ir_add(g, IR_INPUT, dt, &s, NULL, 0, &a, (Loc){0});
    Input in = {intern("x"), id};
    vec_push(&g->inputs, in);
    return id;
}

static void probe(Graph *g, int node)
{
    Probe p = {intern("p"), node, (Loc){0}};
    vec_push(&g->probes, p);
}

static Graph *new_graph(void)
{
    Graph *g = graph_new();
    g->output = -1;
    return g;
}

static Lowered *lowered(Graph *g) { return lower(g, &(LowerOptions){.fuse = true}); }

static void test_table(void)
{
    char why[1024];
    int gaps = ew_check_table(why, sizeof why);
    if (gaps) fprintf(stderr, "ewexpr: %s\n", why);
    CHECK(gaps == 0);
}

static void test_chain_and_reduction(void)
{
    Graph *g = new_graph();
    Loc l = {0};
    int x = input(g, DT_F32, "B=2,C=8");
    int y = ir_unary(g, IR_TANH, ir_binary(g, IR_MUL, ir_unary(g, IR_EXP, x, l), x, l), l);
    probe(g, ir_binary(g, IR_ADD, y, ir_scalar(g, 1, l), l));
    Lowered *p = lowered(g);
    CHECK(p->kernels.len == 1 && p->steps.len == 1);
    program_free(p);
    /* x - mean(x): the sum fuses its producer; the subtraction reads the sum */
    int e = ir_binary(g, IR_MUL, x, ir_scalar(g, 2, l), l);
    int mean = ir_binary(g, IR_MUL, ir_reduce(g, IR_SUM, e, 2u, l), ir_scalar(g, 0.125, l), l);
    probe(g, ir_binary(g, IR_SUB, e, mean, l));
    p = lowered(g);
    CHECK(p->kernels.len == 3);
    const Kernel *sum = &p->kernels.data[1];
    bool has_e = false;
    for (int i = 0; i < sum->fused.len; i++) has_e |= sum->fused.data[i] == e;
    CHECK(sum->kind == KK_REDUCE && has_e);   /* x*2 computed inside the sum */
    program_free(p);
    graph_free(g);
}

static void test_shared_values(void)
{
    Graph *g = new_graph();
    Loc l = {0};
    int x = input(g, DT_F32, "B=4,C=8");
    int cheap = ir_binary(g, IR_ADD, x, ir_scalar(g, 1, l), l);
    int costly = ir_unary(g, IR_SOFTPLUS, ir_unary(g, IR_SIN, x, l), l);
    probe(g, ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, cheap, costly, l), 1u, l));
    probe(g, ir_reduce(g, IR_MAX, ir_binary(g, IR_SUB, cheap, costly, l), 2u, l));
    Lowered *p = lowered(g);
    CHECK(!p->materialized[cheap]);
    CHECK(p->materialized[costly]);
    CHECK(p->kernels.len == 3);
    program_free(p);
    graph_free(g);
}

static bool source_has_div_or_mod(const Lowered *p)
{
    char *src = render_c(p);
    const char *body = strstr(src, "void k0_");
    bool found = body && (strstr(body, " / ") || strstr(body, " % "));
    free(src);
    return found;
}

static void test_plain_strides(void)
{
    Graph *g = new_graph();
    Loc l = {0};
    int x = input(g, DT_F32, "B=2,T=3,C=4");
    Shape merged = shp("BT=6,C=4");
    int y = ir_reshape(g, ir_unary(g, IR_NEG, x, l), &merged, l);
    int z = ir_pad(g, ir_slice(g, y, 1, 1, 2, 1, false, l), 1, 1, 2, l);
    probe(g, ir_unary(g, IR_TANH, z, l));
    Lowered *p = lowered(g);
    CHECK(p->kernels.len == 1);
    CHECK(!source_has_div_or_mod(p));
    program_free(p);
    graph_free(g);
}

static bool meet(const Buffer *a, const Buffer *b) { return a->first <= b->last && b->first <= a->last; }

static void check_plan(const Lowered *p)
{
    for (int i = 0; i < p->bufs.len; i++) {
        const Buffer *a = &p->bufs.data[i];
        CHECK(a->offset % BUFFER_ALIGN == 0);
        CHECK(a->offset + a->bytes <= p->arena_bytes);
        for (int j = i + 1; j < p->bufs.len; j++) {
            const Buffer *b = &p->bufs.data[j];
            bool apart = a->offset + a->bytes <= b->offset || b->offset + b->bytes <= a->offset;
            if (meet(a, b) && !apart) {
                fprintf(stderr, "buffers %d and %d overlap while both live\n", i, j);
                failures++;
            }
        }
    }
}

static void test_memory_plan(void)
{
    Graph *g = new_graph();
    Loc l = {0};
    int x = input(g, DT_F32, "B=64,C=64");
    int v = x;
    for (int k = 0; k < 8; k++) {   /* v = v + max_B(sin v), each v read by two kernels */
        int m = ir_reduce(g, IR_MAX, ir_unary(g, IR_SIN, v, l), 1u, l);
        v = ir_unary(g, IR_SIN, ir_binary(g, IR_ADD, v, m, l), l);
    }
    probe(g, v);
    Lowered *p = lowered(g);
    check_plan(p);
    int64_t total = 0;
    for (int i = 0; i < p->bufs.len; i++) total += p->bufs.data[i].bytes;
    CHECK(p->arena_bytes < total);   /* dead buffers' memory is reused */
    program_free(p);
    graph_free(g);
}

static void fill(Exec *e, Graph *g, int node)
{
    int64_t n = shape_numel(&node_at(g, node)->shape);
    float *v = xmalloc(sizeof(float) * (size_t)n);
    Rng r = rng_new(7);
    for (int64_t i = 0; i < n; i++) v[i] = (float)rng_normal(&r);
    exec_set(e, node, v);
    free(v);
}

/* The values of `node` on the cpu device and on ref, equal bit for bit. */
static void check_cpu_matches_ref(Graph *g, int x, int node)
{
    char err[4096];
    Exec *cpu = exec_new(g, DEV_CPU, false, err, sizeof err), *ref = exec_new(g, DEV_REF, false, err, sizeof err);
    if (!cpu) {
        printf("test_fuse_lower: no cpu device here (%s): not run\n", err);
        exec_free(ref);
        return;
    }
    fill(cpu, g, x), fill(ref, g, x);
    exec_run(cpu), exec_run(ref);
    int64_t n = shape_numel(&node_at(g, node)->shape);
    float *a = xmalloc(sizeof(float) * (size_t)n), *b = xmalloc(sizeof(float) * (size_t)n);
    exec_get(cpu, node, a), exec_get(ref, node, b);
    for (int64_t i = 0; i < n; i++) CHECK(a[i] == b[i]);
    free(a), free(b);
    exec_free(cpu), exec_free(ref);
}

static void test_fallback(void)
{
    Graph *g = new_graph();
    Loc l = {0};
    int x = input(g, DT_F32, "H=4,C=3,W=6");
    int X = ir_fft(g, IR_RFFT2, ir_unary(g, IR_TANH, x, l), 0, 2, intern("W/2+1"), 4, l);
    int y = ir_unary(g, IR_ABS, X, l);
    probe(g, y);
    Lowered *p = lowered(g);
    CHECK(p->nfallback == 1);
    program_free(p);
    check_cpu_matches_ref(g, x, y);
    graph_free(g);
}

/* Multi-output fusion: a readable node whose only reader is one map kernel
 * over its axes is stored by that kernel; read by two kernels, or by a map
 * over more axes, it gets its own. */
static void test_riders(void)
{
    Graph *g = new_graph();
    Loc l = {0};
    int x = input(g, DT_F32, "B=4,C=8");
    int a = ir_unary(g, IR_EXP, x, l), b = ir_binary(g, IR_MUL, a, x, l);
    probe(g, a);
    probe(g, ir_binary(g, IR_ADD, b, ir_scalar(g, 1, l), l));
    Lowered *p = lowered(g);
    CHECK(p->kernels.len == 1 && p->kernels.data[0].stores.len == 1);
    CHECK(!p->materialized[a] && p->node_buf[a] >= 0 && p->kernels.data[0].stores.data[0].node == a);
    char *src = render_c(p);
    CHECK(strstr(src, "also stores"));
    free(src);
    program_free(p);
    check_cpu_matches_ref(g, x, a);

    int sum = ir_reduce(g, IR_SUM, a, 2u, l);   /* a second kernel reads a */
    probe(g, sum);
    p = lowered(g);
    CHECK(p->materialized[a] && p->kernels.len == 3);
    program_free(p);
    graph_free(g);

    g = new_graph();
    x = input(g, DT_F32, "C=8");
    a = ir_unary(g, IR_SIN, x, l);
    probe(g, a);
    Shape wide = shp("B=4,C=8");
    probe(g, ir_binary(g, IR_MUL, ir_broadcast(g, a, &wide, l), ir_scalar(g, 3, l), l));
    p = lowered(g);
    CHECK(p->materialized[a] && p->kernels.len == 2);
    program_free(p);
    graph_free(g);
}

static void test_rendering(void)
{
    static SrcFile file = {.path = "models/tiny.cssm", .text = "", .len = 0};
    Graph *g = new_graph();
    Loc at = {.file = &file, .line = 7, .col = 3};
    int x = input(g, DT_C64, "B=2,C=3");
    probe(g, ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, x, ir_unary(g, IR_CONJ, x, at), at), 2u, at));
    Lowered *p = lowered(g);
    char *c1 = render_c(p), *c2 = render_c(p), *cu = render_cuda(p, NULL);
    CHECK(!strcmp(c1, c2));
    CHECK(strstr(c1, "tiny.cssm:7:3") && strstr(cu, "tiny.cssm:7:3"));
    CHECK(strstr(cu, "extern \"C\" __global__"));
    free(c1), free(c2), free(cu);
    program_free(p);
    graph_free(g);
}

int main(void)
{
    test_table();
    test_chain_and_reduction();
    test_shared_values();
    test_plain_strides();
    test_memory_plan();
    test_fallback();
    test_riders();
    test_rendering();
    if (!failures) printf("test_fuse_lower: ok\n");
    return failures ? 1 : 0;
}
