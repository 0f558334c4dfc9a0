/* exec.c: the device dispatch behind exec.h.
 *
 * ref is wired directly (the reference executor in f32 or f64); cpu and cuda
 * are tables of functions (ExecOps) in runtime/cpu.c and runtime/cudaexec.c.
 * The default device is probed once: cuda when libcuda loads and sees a
 * device, else cpu. */
#include "exec.h"
#include "jit.h"
#include "ref.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct Exec {
    Device device;
    Graph *g;
    RefExec *ref;
    const ExecOps *ops;
    void *dev;
    bool *fed;          /* fused devices: node i was set (ref keeps its own) */
};

static const char *const device_names[] = {"ref", "cpu", "cuda"};

const char *device_name(Device d) { return device_names[d]; }

bool device_parse(const char *name, Device *out)
{
    for (size_t i = 0; name && i < COUNT_OF(device_names); i++)
        if (!strcmp(name, device_names[i])) return *out = (Device)i, true;
    return false;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static Device probed = DEV_CPU;

static void probe_gpu(void)
{
    char why[512];
    probed = cssm_cuda_probe(why, sizeof why) == 1 ? DEV_CUDA : DEV_CPU;
}

Device device_default(void)
{
    pthread_once(&probe_once, probe_gpu);
    return probed;
}

static Exec *open_fused(Graph *g, Device d, bool fuse, char *err, size_t errlen)
{
    const ExecOps *ops = d == DEV_CPU ? &cpu_exec_ops : &cuda_exec_ops;
    void *dev = ops->open(g, fuse, err, errlen);
    if (!dev) return NULL;
    Exec *e = xcalloc(1, sizeof *e);
    e->device = d, e->g = g, e->ops = ops, e->dev = dev;
    e->fed = xcalloc((size_t)g->nodes.len + 1, sizeof(bool));
    return e;
}

/* Every input and parameter must be set before a run, as the reference
 * executor requires: a fused device would read its buffer's old or zero
 * contents instead. */
static void check_fed(const Exec *e)
{
    for (int i = 0; i < e->g->inputs.len; i++)
        if (!e->fed[e->g->inputs.data[i].node]) ice("exec: input %s was not set before exec_run", e->g->inputs.data[i].name);
    for (int p = 0; p < e->g->params.len; p++)
        if (!e->fed[e->g->params.data[p].node]) ice("exec: parameter %s was not set before exec_run", e->g->params.data[p].path);
}

Exec *exec_new_fusion(Graph *g, Device d, bool fuse, char *err, size_t errlen)
{
    if (d != DEV_REF) return open_fused(g, d, fuse, err, errlen);
    Exec *e = xcalloc(1, sizeof *e);
    e->device = d, e->g = g, e->ref = ref_new(g, false);
    return e;
}

Exec *exec_new(Graph *g, Device d, bool f64, char *err, size_t errlen)
{
    if (f64 && d != DEV_REF) {
        snprintf(err, errlen, "--f64 runs only on --device ref (%s computes in f32)", device_name(d));
        return NULL;
    }
    if (d != DEV_REF) return open_fused(g, d, true, err, errlen);
    Exec *e = xcalloc(1, sizeof *e);
    e->device = d, e->g = g, e->ref = ref_new(g, f64);
    return e;
}

void exec_free(Exec *e)
{
    if (!e) return;
    if (e->ops) e->ops->close(e->dev);
    else ref_free(e->ref);
    free(e->fed);
    free(e);
}

void exec_set(Exec *e, int node, const float *values)
{
    if (!e->ops) {
        ref_set_f32(e->ref, node, values);
        return;
    }
    e->ops->set(e->dev, node, values);
    e->fed[node] = true;
}

void exec_run(Exec *e)
{
    if (!e->ops) {
        ref_run(e->ref);
        return;
    }
    check_fed(e);
    e->ops->run(e->dev, NULL);
}

bool exec_run_timed(Exec *e, double *step_ms)
{
    if (!e->ops) return false;
    check_fed(e);
    e->ops->run(e->dev, step_ms);
    return true;
}

void exec_get(Exec *e, int node, float *out)
{
    if (e->ops) {
        e->ops->get(e->dev, node, out);
        return;
    }
    Node *n = node_at(e->g, node);
    int64_t m = shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1);
    double *tmp = xmalloc(sizeof(double) * (size_t)(m ? m : 1));
    ref_get(e->ref, node, tmp);
    for (int64_t i = 0; i < m; i++) out[i] = (float)tmp[i];
    free(tmp);
}

const struct Lowered *exec_program(Exec *e) { return e->ops ? e->ops->program(e->dev) : NULL; }
