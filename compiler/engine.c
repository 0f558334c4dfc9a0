/* engine.c: a model on a device, for the commands that run one on data.
 *
 * engine_open compiles the model through the driver's own option parser
 * (so -D, -I, --model, --batch, --scan and --bn-train-mode mean what they
 * mean everywhere), checks its input and output shapes, lays its
 * parameters and running statistics out in a TrainModel, and binds each
 * graph to an executor on the chosen device: the forward graph always, the
 * training graph and the compiled AdamW update for training. A training
 * step feeds the parameters, the statistics, the batch and each random
 * input's draws for that step (a function of seed, step and input, so a
 * resumed run draws what the uninterrupted one did), runs the graph, and
 * reads back the loss, the logits, the gradients and the statistics' next
 * values. */
#include "engine.h"
#include "init.h"

#include <string.h>

/* The stream label of the random inputs, apart from initialisation and data order. */
#define NOISE_STREAM 0x64726f70u

/* The driver's options for this model, through its own parser. The argument
 * strings live as long as the process, as the graphs refer to them. */
static int compile_options(const Settings *s, const char *cmd, Options *o)
{
    StrVec args = {0};
    vec_push(&args, cmd);
    vec_push(&args, s->model);
    for (int i = 0; i < s->defines.len; i++) vec_push(&args, xprintf("-D%s", s->defines.data[i]));
    for (int i = 0; i < s->includes.len; i++) vec_push(&args, xprintf("-I%s", s->includes.data[i]));
    if (s->model_name) {
        vec_push(&args, "--model");
        vec_push(&args, s->model_name);
    }
    vec_push(&args, "--batch");
    vec_push(&args, xprintf("%lld", (long long)s->batch));
    vec_push(&args, xprintf("--scan=%s", s->scan));
    if (s->bn_train_mode) vec_push(&args, "--bn-train-mode");
    return parse_options(args.len, (char **)args.data, OPT_MODEL, "", o);
}

static int model_shapes(Engine *en, Graph *g, const Settings *s, const char *cmd)
{
    char a[256], b[256];
    const Node *x = node_at(g, g->inputs.data[0].node), *y = node_at(g, g->output);
    if (g->inputs.len != 1 + (g->loss_seed >= 0) || x->shape.rank != 5 || x->shape.size[4] != 3 || x->dtype != DT_F32)
        return fprintf(stderr, "cssmc %s: error: %s: the model input is %s; cssmc %s needs one f32[B, T, H, W, 3]\n",
                       cmd, s->model, shape_str(x->dtype, &x->shape, a, sizeof a), cmd), 1;
    if (y->shape.rank != 2 || y->dtype != DT_F32 || y->shape.size[0] != s->batch || y->shape.size[1] < 2)
        return fprintf(stderr, "cssmc %s: error: %s: the model output is %s; expected f32[B=%lld, classes >= 2]\n",
                       cmd, s->model, shape_str(y->dtype, &y->shape, b, sizeof b), (long long)s->batch), 1;
    en->frames = (int)x->shape.size[1], en->height = (int)x->shape.size[2], en->width = (int)x->shape.size[3];
    en->m.batch = (int)s->batch;
    en->m.classes = (int)y->shape.size[1];
    en->m.sample_floats = (size_t)en->frames * (size_t)en->height * (size_t)en->width * 3;
    return 0;
}

static TensorRef tensor_of(const Param *p)
{
    TensorRef t = {.name = p->path, .ndim = p->shape.rank};
    for (int i = 0; i < p->shape.rank; i++) t.shape[i] = p->shape.size[i];
    return t;
}

/* The parameters and the running statistics, in the forward graph's order,
 * each kind over one flat buffer. */
static void model_params(TrainModel *m, Graph *g)
{
    m->params = xcalloc((size_t)MAX(g->params.len, 1), sizeof(TensorRef));
    m->stats = xcalloc((size_t)MAX(g->params.len, 1), sizeof(TensorRef));
    for (int p = 0; p < g->params.len; p++) {
        const Param *pp = &g->params.data[p];
        if (pp->state) m->stats[m->nstats++] = tensor_of(pp);
        else m->params[m->nparams++] = tensor_of(pp);
    }
    train_model_layout(m);
}

void init_model(TrainModel *m, Graph *g, uint64_t seed)
{
    double **v = xcalloc((size_t)g->params.len + 1, sizeof(double *));
    init_params(g, seed, v);
    int np = 0, ns = 0;
    for (int p = 0; p < g->params.len; p++) {
        TensorRef *t = g->params.data[p].state ? &m->stats[ns++] : &m->params[np++];
        int64_t n = tensor_numel(t);
        for (int64_t j = 0; j < n; j++) t->data[j] = (float)v[p][j];
        free(v[p]);
    }
    free(v);
}

static int node_of_input(Graph *g, const char *name)
{
    for (int i = 0; i < g->inputs.len; i++)
        if (!strcmp(g->inputs.data[i].name, name)) return g->inputs.data[i].node;
    ice("engine: the graph has no input %s", name);
}

int node_of_probe(Graph *g, const char *name)
{
    int k = graph_probe(g, name);
    if (k < 0) ice("engine: the graph has no probe %s", name);
    return g->probes.data[k].node;
}

/* The index in g->params of the variable at path, or -1. */
static int param_index(Graph *g, const char *path)
{
    for (int p = 0; p < g->params.len; p++)
        if (!strcmp(g->params.data[p].path, path)) return p;
    return -1;
}

static void bind_random_inputs(Bound *b)
{
    int64_t most = 1;
    for (int i = 0; i < b->g->inputs.len; i++) {
        const Input *in = &b->g->inputs.data[i];
        if (!input_is_random(in)) continue;
        RandomInput r = {in->node, shape_numel(&node_at(b->g, in->node)->shape)};
        vec_push(&b->random, r);
        most = MAX(most, r.numel);
    }
    b->draws = xmalloc(sizeof(float) * (size_t)most);
}

/* Step `step`'s draws for every random input: a function of (seed, step, input). */
static void feed_random_inputs(Bound *b, Rng noise, int64_t step)
{
    Rng at_step = rng_fold(noise, (uint64_t)step);
    for (int i = 0; i < b->random.len; i++) {
        Rng r = rng_fold(at_step, (uint64_t)i);
        for (int64_t j = 0; j < b->random.data[i].numel; j++) b->draws[j] = (float)rng_uniform(&r);
        exec_set(b->e, b->random.data[i].node, b->draws);
    }
}

static int bind(Bound *b, Graph *g, Engine *en, bool train, char *err, size_t errlen)
{
    const TrainModel *m = &en->m;
    *b = (Bound){.g = g, .x = g->inputs.data[0].node, .seed = g->loss_seed, .logits = g->output};
    b->param = xmalloc(sizeof(int) * (size_t)MAX(m->nparams, 1));
    b->grad = xmalloc(sizeof(int) * (size_t)MAX(m->nparams, 1));
    for (int i = 0; i < m->nparams; i++) {
        int p = param_index(g, m->params[i].name);
        b->param[i] = p >= 0 ? g->params.data[p].node : -1;
        b->grad[i] = train && p >= 0 ? g->grads.data[p] : -1;
    }
    b->stat = xmalloc(sizeof(int) * (size_t)MAX(m->nstats, 1));
    b->stat_next = xmalloc(sizeof(int) * (size_t)MAX(m->nstats, 1));
    for (int i = 0; i < m->nstats; i++) {
        int p = param_index(g, m->stats[i].name);
        b->stat[i] = p >= 0 ? g->params.data[p].node : -1;
        b->stat_next[i] = train && p >= 0 ? node_of_probe(g, m->stats[i].name) : -1;
    }
    if (train) {
        b->targets = node_of_input(g, "targets");
        b->logits = node_of_probe(g, "logits");
        bind_random_inputs(b);
    }
    b->e = exec_new(g, en->device, false, err, errlen);
    return b->e ? 0 : -1;
}

static void unbind(Bound *b)
{
    exec_free(b->e);
    if (b->g) graph_free(b->g);
    free(b->param);
    free(b->grad);
    free(b->stat);
    free(b->stat_next);
    vec_free(&b->random);
    free(b->draws);
}

/* The parameters and the running statistics. */
void feed_params(Bound *b, const TrainModel *m)
{
    for (int i = 0; i < m->nparams; i++)
        if (b->param[i] >= 0) exec_set(b->e, b->param[i], m->params[i].data);
    for (int i = 0; i < m->nstats; i++)
        if (b->stat[i] >= 0) exec_set(b->e, b->stat[i], m->stats[i].data);
}

static void engine_step(TrainModel *m, int64_t step, const float *x, const float *targets, double *loss,
                        float *logits)
{
    Engine *en = m->ctx;
    Bound *b = &en->train;
    const float one = 1;
    float l;
    feed_params(b, m);
    feed_random_inputs(b, en->noise, step);
    exec_set(b->e, b->x, x);
    exec_set(b->e, b->targets, targets);
    exec_set(b->e, b->seed, &one);
    exec_run(b->e);
    exec_get(b->e, b->g->output, &l);
    *loss = l;
    exec_get(b->e, b->logits, logits);
    for (int i = 0; i < m->nparams; i++) {
        float *g = m->grads + (m->params[i].data - m->flat);
        if (b->grad[i] >= 0) exec_get(b->e, b->grad[i], g);
        else memset(g, 0, sizeof(float) * (size_t)tensor_numel(&m->params[i]));
    }
    for (int i = 0; i < m->nstats; i++)
        if (b->stat_next[i] >= 0) exec_get(b->e, b->stat_next[i], m->stats[i].data);
}

static void engine_forward(TrainModel *m, const float *x, float *logits)
{
    Bound *b = &((Engine *)m->ctx)->fwd;
    feed_params(b, m);
    exec_set(b->e, b->x, x);
    exec_run(b->e);
    exec_get(b->e, b->logits, logits);
}

void engine_close(Engine *en)
{
    unbind(&en->train);
    unbind(&en->fwd);
    compiled_adamw_free(en->optimizer);
    train_model_free_buffers(&en->m);
    free(en->m.params);
    free(en->m.stats);
}

/* The AdamW update over every parameter, compiled for the training device. */
static int open_optimizer(Engine *en, char *err, size_t errlen)
{
    en->optimizer = compiled_adamw_new(MAX(en->m.total, 1), en->device, err, errlen);
    if (!en->optimizer) return -1;
    en->m.optimizer = (AdamWKernel){.apply = compiled_adamw_apply, .ctx = en->optimizer};
    return 0;
}

int engine_open(Engine *en, const Settings *s, EngineUse use, const char *cmd)
{
    bool train = use == ENGINE_TRAIN;
    Options o, ot;
    char err[512];
    *en = (Engine){.m.ctx = en, .m.step = engine_step, .m.forward = engine_forward,
                   .noise = rng_fold(rng_new((uint64_t)s->seed), NOISE_STREAM)};
    if (!device_parse(s->device, &en->device)) ice("train: device %s was not checked", s->device);
    int rc = compile_options(s, cmd, &o);
    if (rc) return rc;
    o.grad_input = use == ENGINE_INSPECT;
    Graph *fwd = compile_model(&o, o.grad_input);
    if (!fwd) return 1;
    if ((rc = model_shapes(en, fwd, s, cmd))) return graph_free(fwd), rc;
    model_params(&en->m, fwd);
    en->fwd.g = fwd;                             /* owned by en from here */
    Graph *tg = NULL;
    if (train && (compile_options(s, cmd, &ot) || !(tg = compile_training(&ot)))) rc = 1;
    else if (bind(&en->fwd, fwd, en, false, err, sizeof err) || (tg && bind(&en->train, tg, en, true, err, sizeof err))
             || (train && open_optimizer(en, err, sizeof err)))
        rc = run_usage_error(cmd, "%s", err);
    if (rc == 0) return 0;
    if (tg && !en->train.g) graph_free(tg);
    engine_close(en);
    *en = (Engine){0};
    return rc;
}

