/* exec.h: one interface to every device that can run a typed Graph.
 *
 * `--device ref|cpu|cuda` picks an implementation: ref is the reference
 * executor (runtime/ref.c, the oracle); cpu and cuda run the fused kernels.
 * Every device takes and returns host f32 data (c64 as interleaved pairs), so
 * callers (run, gradcheck, train, the tests) never depend on where a graph
 * runs. A graph runs whole: forward and, when differentiated, backward. */
#ifndef CSSM_EXEC_H
#define CSSM_EXEC_H

#include "ir.h"

typedef enum Device { DEV_REF, DEV_CPU, DEV_CUDA } Device;

typedef struct Exec Exec;

/* f64 is only meaningful on ref. Returns NULL with a message in err when the
 * device cannot run here (no GPU, no compiler). */
Exec *exec_new(Graph *g, Device d, bool f64, char *err, size_t errlen);
void exec_free(Exec *e);
/* Feeds a leaf (INPUT or PARAM node) with numel values (2*numel for c64). */
void exec_set(Exec *e, int node, const float *values);
void exec_run(Exec *e);
/* Copies a node's value out (numel floats, 2*numel for c64). Only nodes the
 * device keeps are readable: outputs, gradients, probes, leaves. */
void exec_get(Exec *e, int node, float *out);

const char *device_name(Device d);
bool device_parse(const char *name, Device *out);
/* cuda when a GPU is usable, else cpu; ref until the fused devices exist. */
Device device_default(void);

#endif
