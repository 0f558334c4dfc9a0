/* optimizer.c: the AdamW update as IR, compiled and run like a model.
 *
 * The elementwise part of the reference's optimizer step (optim.c has the
 * host version and the step logic around it), over every parameter as one
 * flat vector of n floats:
 *
 *   g' = (g / gnorm) * max_norm          (gnorm = max_norm = 1: no clipping)
 *   m' = (1-b1) g' + b1 m
 *   v' = (1-b2) (g' g') + b2 v
 *   u  = (m' / bias1) / (sqrt(v' / bias2) + eps) + wd p
 *   p' = p + neg_lr u
 *
 * with wd per element (the decay, or 0 where the mask excludes it) and the
 * rest rank-0 inputs, so one graph serves every step. The new parameters
 * are the output and the new moments probes, which makes all three
 * readable and the fusion engine computes them in one kernel, on whichever
 * device trains. The decisions around it (non-finite skips, the global norm
 * and whether to clip, the schedule) stay on the host: they are a handful of
 * scalars per step. */
#include "optimizer.h"

#include <stdlib.h>

static const char *const scalar_names[ADAMW_NSCALARS] = {
    "gnorm", "max_norm", "b1", "one_minus_b1", "b2", "one_minus_b2", "bias1", "bias2", "eps", "neg_lr",
};

static int add_input(Graph *g, const char *name, const Shape *s)
{
    Attr a = {.index = g->inputs.len};
    int node = ir_add(g, IR_INPUT, DT_F32, s, NULL, 0, &a, (Loc){0});
    Input in = {intern(name), node};
    vec_push(&g->inputs, in);
    return node;
}

static int add(Graph *g, int a, int b) { return ir_binary(g, IR_ADD, a, b, (Loc){0}); }
static int mul(Graph *g, int a, int b) { return ir_binary(g, IR_MUL, a, b, (Loc){0}); }
static int dvd(Graph *g, int a, int b) { return ir_binary(g, IR_DIV, a, b, (Loc){0}); }

static void add_probe(Graph *g, const char *name, int node)
{
    Probe p = {intern(name), node, (Loc){0}};
    vec_push(&g->probes, p);
}

Graph *adamw_graph(int64_t n)
{
    Graph *g = graph_new();
    Shape vec = {.rank = 1, .label = {intern("i")}, .size = {n}}, scalar = {0};
    int p = add_input(g, "p", &vec), grad = add_input(g, "g", &vec);
    int m = add_input(g, "m", &vec), v = add_input(g, "v", &vec), wd = add_input(g, "wd", &vec);
    int k[ADAMW_NSCALARS];
    for (int i = 0; i < ADAMW_NSCALARS; i++) k[i] = add_input(g, scalar_names[i], &scalar);
    int gc = mul(g, dvd(g, grad, k[0]), k[1]);
    int m1 = add(g, mul(g, k[3], gc), mul(g, k[2], m));
    int v1 = add(g, mul(g, k[5], mul(g, gc, gc)), mul(g, k[4], v));
    int denom = add(g, ir_unary(g, IR_SQRT, dvd(g, v1, k[7]), (Loc){0}), k[8]);
    int u = add(g, dvd(g, dvd(g, m1, k[6]), denom), mul(g, wd, p));
    g->output = add(g, p, mul(g, k[9], u));
    add_probe(g, "m", m1);
    add_probe(g, "v", v1);
    if (verify_graph(g, "adamw_graph")) ice("the AdamW graph does not verify");
    return g;
}

struct CompiledAdamW {
    Graph *graph;
    Exec *e;
    int p, g, m, v, wd, scalar[ADAMW_NSCALARS], m_new, v_new, p_new;
};

CompiledAdamW *compiled_adamw_new(int64_t n, Device d, char *err, size_t errlen)
{
    Graph *g = adamw_graph(n);
    Exec *e = exec_new(g, d, false, err, errlen);
    if (!e) return graph_free(g), NULL;
    CompiledAdamW *c = xcalloc(1, sizeof *c);
    c->graph = g, c->e = e;
    const Input *in = g->inputs.data;
    c->p = in[0].node, c->g = in[1].node, c->m = in[2].node, c->v = in[3].node, c->wd = in[4].node;
    for (int i = 0; i < ADAMW_NSCALARS; i++) c->scalar[i] = in[5 + i].node;
    c->p_new = g->output, c->m_new = g->probes.data[0].node, c->v_new = g->probes.data[1].node;
    return c;
}

void compiled_adamw_apply(void *ctx, const AdamWUpdate *k, float *p, const float *g, float *m, float *v,
                          const float *wd)
{
    CompiledAdamW *c = ctx;
    const float scalars[ADAMW_NSCALARS] = {k->gnorm, k->max_norm, k->b1, k->one_minus_b1, k->b2,
                                           k->one_minus_b2, k->bias1, k->bias2, k->eps, k->neg_lr};
    exec_set(c->e, c->p, p);
    exec_set(c->e, c->g, g);
    exec_set(c->e, c->m, m);
    exec_set(c->e, c->v, v);
    exec_set(c->e, c->wd, wd);
    for (int i = 0; i < ADAMW_NSCALARS; i++) exec_set(c->e, c->scalar[i], &scalars[i]);
    exec_run(c->e);
    exec_get(c->e, c->p_new, p);
    exec_get(c->e, c->m_new, m);
    exec_get(c->e, c->v_new, v);
}

void compiled_adamw_free(CompiledAdamW *c)
{
    if (!c) return;
    exec_free(c->e);
    graph_free(c->graph);
    free(c);
}
