/* exec.c: the device dispatch behind exec.h.
 *
 * Each device is a table of four functions; exec_new picks the table. Only
 * the reference executor is wired here; the fused backends register in the
 * same table. */
#include "exec.h"
#include "ref.h"

#include <stdio.h>
#include <string.h>

struct Exec {
    Device device;
    Graph *g;
    RefExec *ref;
};

static const char *const device_names[] = {"ref", "cpu", "cuda"};

const char *device_name(Device d) { return device_names[d]; }

bool device_parse(const char *name, Device *out)
{
    for (size_t i = 0; i < COUNT_OF(device_names); i++)
        if (!strcmp(name, device_names[i])) return *out = (Device)i, true;
    return false;
}

Device device_default(void) { return DEV_REF; }

Exec *exec_new(Graph *g, Device d, bool f64, char *err, size_t errlen)
{
    if (d != DEV_REF) {
        snprintf(err, errlen, "--device %s is not available in this build (use --device ref)", device_name(d));
        return NULL;
    }
    Exec *e = xcalloc(1, sizeof *e);
    e->device = d;
    e->g = g;
    e->ref = ref_new(g, f64);
    return e;
}

void exec_free(Exec *e)
{
    if (!e) return;
    ref_free(e->ref);
    free(e);
}

void exec_set(Exec *e, int node, const float *values) { ref_set_f32(e->ref, node, values); }

void exec_run(Exec *e) { ref_run(e->ref); }

void exec_get(Exec *e, int node, float *out)
{
    Node *n = node_at(e->g, node);
    int64_t m = shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1);
    double *tmp = xmalloc(sizeof(double) * (size_t)(m ? m : 1));
    ref_get(e->ref, node, tmp);
    for (int64_t i = 0; i < m; i++) out[i] = (float)tmp[i];
    free(tmp);
}
