/* inspect_cmd.c: `cssmc inspect`, what a checkpoint's model computed on a
 * batch of samples.
 *
 * The engine is opened for inspection: the forward graph differentiated
 * with respect to its input (autodiff.c's "grad.<input>" probe). One run
 * with a zero cotangent gives the logits and every probe; a second, seeded
 * with the one-hot of each sample's predicted class, gives d logit / d x,
 * whose L2 norm over each frame is that frame's attribution. Everything is
 * written as .npy into the --out folder and summarised on stdout. */
#include "commands.h"
#include "engine.h"
#include "formats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char inspect_usage[] =
    "usage: cssmc inspect CHECKPOINT [MODEL.cssm] [-D name=value]... [--data SPEC] [--split S]\n"
    "                     [--index N] [--batch K] [--device D] [--bn-train-mode] --out DIR\n"
    "Runs a checkpoint's model on K samples (the batch size, by default the run's) from\n"
    "sample N (default 0) of a split (default test), and writes what it computed into DIR:\n"
    "  x.npy, labels.npy    the input f32[K, T, H, W, 3] and the labels (int32 [K])\n"
    "  logits.npy           f32[K, classes]\n"
    "  PROBE.npy            every probe of the model (`probe name = ...`, float32 or\n"
    "                       complex64), e.g. a block's states over time\n"
    "  attribution.npy      f32[K, T]: for each frame, the L2 norm of the gradient of the\n"
    "                       predicted class's logit with respect to that frame\n"
    "It prints each sample's label, prediction and attributions, and for each probe with a\n"
    "time axis its RMS at each step. Model and data as for cssmc eval. With --bn-train-mode\n"
    "the K samples share batch statistics, so a sample's attribution also reaches the others.\n";

/* One inspection: a batch of K samples and what the model made of it. */
typedef struct Inspection {
    int64_t first, count;        /* samples [first, first + count) of the split */
    float *x, *logits, *grad, *attribution;
    int32_t *labels, *predicted;
} Inspection;

static void inspection_free(Inspection *in)
{
    free(in->x), free(in->logits), free(in->grad), free(in->attribution), free(in->labels), free(in->predicted);
}

static int read_samples(EvalJob *job, Inspection *in, char *err, size_t errlen)
{
    const TrainModel *m = &job->en.m;
    in->x = xmalloc(sizeof(float) * m->sample_floats * (size_t)in->count);
    in->labels = xmalloc(sizeof(int32_t) * (size_t)in->count);
    for (int64_t k = 0; k < in->count; k++)
        if (source_read(job->src, job->split, in->first + k, in->x + (size_t)k * m->sample_floats, &in->labels[k],
                        err, errlen))
            return -1;
    return 0;
}

/* The index of the first largest of z[0..n). */
static int first_max(const float *z, int n)
{
    int best = 0;
    for (int c = 1; c < n; c++)
        if (z[c] > z[best]) best = c;
    return best;
}

/* The forward pass, then the backward pass from the one-hot of each
 * sample's predicted class, which leaves d logit / d x in grad. */
static void run_inspection(Engine *en, Inspection *in)
{
    Bound *b = &en->fwd;
    int classes = en->m.classes;
    size_t xn = en->m.sample_floats * (size_t)in->count;
    float *seed = xcalloc((size_t)in->count * (size_t)classes, sizeof(float));
    in->logits = xmalloc(sizeof(float) * (size_t)in->count * (size_t)classes);
    in->predicted = xmalloc(sizeof(int32_t) * (size_t)in->count);
    in->grad = xmalloc(sizeof(float) * xn);
    feed_params(b, &en->m);
    exec_set(b->e, b->x, in->x);
    exec_set(b->e, b->seed, seed);
    exec_run(b->e);
    exec_get(b->e, b->logits, in->logits);
    for (int64_t k = 0; k < in->count; k++) {
        in->predicted[k] = first_max(in->logits + k * classes, classes);
        seed[k * classes + in->predicted[k]] = 1;
    }
    exec_set(b->e, b->seed, seed);
    exec_run(b->e);
    exec_get(b->e, node_of_probe(b->g, input_gradient_name(b->g)), in->grad);
    free(seed);
}

/* attribution[k][t] = |grad of sample k, frame t|_2. */
static void frame_attributions(const Engine *en, Inspection *in)
{
    size_t frame = (size_t)en->height * (size_t)en->width * 3;
    in->attribution = xmalloc(sizeof(float) * (size_t)in->count * (size_t)en->frames);
    for (int64_t i = 0; i < in->count * en->frames; i++) {
        double s = 0;
        for (size_t j = 0; j < frame; j++) s += (double)in->grad[(size_t)i * frame + j] * in->grad[(size_t)i * frame + j];
        in->attribution[i] = (float)sqrt(s);
    }
}

static int write_array(const char *dir, const char *name, const char *dtype, int ndim, const int64_t *shape,
                       const void *data, char *err, size_t errlen)
{
    char *path = xprintf("%s/%s.npy", dir, name);
    int rc = npy_write(path, dtype, ndim, shape, data, err, errlen);
    free(path);
    return rc;
}

/* The axis of a probe that runs over the input's frames: the first after
 * the batch axis with as many steps, or -1. */
static int time_axis(const Node *n, int frames)
{
    for (int i = 1; i < n->shape.rank; i++)
        if (n->shape.size[i] == frames) return i;
    return -1;
}

/* RMS of a probe's values (complex: of their moduli) at each step of axis t. */
static void print_probe_over_time(const char *name, const Node *n, const float *v, int t)
{
    int64_t steps = n->shape.size[t], inner = 1, total = shape_numel(&n->shape);
    for (int i = t + 1; i < n->shape.rank; i++) inner *= n->shape.size[i];
    int comps = n->dtype == DT_C64 ? 2 : 1;
    double *sq = xcalloc((size_t)steps, sizeof(double));
    for (int64_t i = 0; i < total; i++)
        for (int c = 0; c < comps; c++) sq[i / inner % steps] += (double)v[i * comps + c] * v[i * comps + c];
    printf("probe %s, RMS by step:", name);
    for (int64_t s = 0; s < steps; s++) printf(" %.4g", sqrt(sq[s] / (double)(total / steps)));
    printf("\n");
    free(sq);
}

/* Every probe but the input's gradient: DIR/NAME.npy, and its RMS over time. */
static int write_probes(Engine *en, const char *dir, char *err, size_t errlen)
{
    Graph *g = en->fwd.g;
    for (int i = 0; i < g->probes.len; i++) {
        const Probe *p = &g->probes.data[i];
        if (p->name == input_gradient_name(g)) continue;
        const Node *n = node_at(g, p->node);
        int64_t numel = shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1);
        float *v = xmalloc(sizeof(float) * (size_t)MAX(numel, 1));
        exec_get(en->fwd.e, p->node, v);
        int rc = write_array(dir, p->name, n->dtype == DT_C64 ? "<c8" : "<f4", n->shape.rank, n->shape.size, v, err,
                             errlen);
        int t = time_axis(n, en->frames);
        if (rc == 0 && t >= 0) print_probe_over_time(p->name, n, v, t);
        free(v);
        if (rc) return rc;
    }
    return 0;
}

static int write_inspection(Engine *en, const Inspection *in, const char *dir, char *err, size_t errlen)
{
    int64_t k = in->count, xs[5] = {k, en->frames, en->height, en->width, 3}, zs[2] = {k, en->m.classes},
            as[2] = {k, en->frames};
    if (mkdir(dir, 0777) && errno != EEXIST)
        return snprintf(err, errlen, "%s: cannot create the folder: %s", dir, strerror(errno)), -1;
    if (write_array(dir, "x", "<f4", 5, xs, in->x, err, errlen) ||
        write_array(dir, "labels", "<i4", 1, &k, in->labels, err, errlen) ||
        write_array(dir, "logits", "<f4", 2, zs, in->logits, err, errlen) ||
        write_array(dir, "attribution", "<f4", 2, as, in->attribution, err, errlen))
        return -1;
    return write_probes(en, dir, err, errlen);
}

static void print_inspection(const Engine *en, const Inspection *in, const char *split)
{
    for (int64_t k = 0; k < in->count; k++) {
        printf("%s sample %lld: label %d, predicted %d; attribution by frame:", split,
               (long long)(in->first + k), in->labels[k], in->predicted[k]);
        for (int t = 0; t < en->frames; t++) printf(" %.4g", in->attribution[k * en->frames + t]);
        printf("\n");
    }
}

int cmd_inspect(int argc, char **argv)
{
    EvalJob job = {0};
    Settings s;
    char err[512];
    Inspection in = {0};
    int rc = eval_open(argc, argv, CMD_INSPECT, inspect_usage, &job, &s);
    if (rc == 0) in = (Inspection){.first = s.index, .count = job.en.m.batch};
    int64_t size = rc ? 0 : source_size(job.src, job.split);
    if (rc == 0 && in.first + in.count > size)
        rc = run_usage_error(argv[0], "--index %lld: the %s split has %lld samples, too few for %lld from there",
                         (long long)in.first, split_name(job.split), (long long)size, (long long)in.count);
    if (rc == 0 && read_samples(&job, &in, err, sizeof err)) rc = run_failure(argv[0], err);
    if (rc == 0) {
        run_inspection(&job.en, &in);
        frame_attributions(&job.en, &in);
        print_inspection(&job.en, &in, split_name(job.split));
        if (write_inspection(&job.en, &in, s.out, err, sizeof err)) rc = run_failure(argv[0], err);
        else printf("wrote x, labels, logits, attribution and the probes to %s\n", s.out);
    }
    inspection_free(&in);
    eval_close(&job);
    return rc < 0 ? 0 : rc;
}
