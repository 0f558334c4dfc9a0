/* exec.h: one interface to every device that can run a typed Graph.
 *
 * `--device ref|cpu|cuda` picks an implementation: ref is the reference
 * executor (runtime/ref.c, the oracle); cpu (runtime/cpu.c) and cuda
 * (runtime/cudaexec.c) run the fused kernels of compiler/kernel.h, compiled
 * from generated C or CUDA. Every device takes and returns host f32 data (c64
 * as interleaved pairs), so callers (run, gradcheck, train, the tests) never
 * depend on where a graph runs. A graph runs whole: forward and, when
 * differentiated, backward. Compilation, kernel loading, FFT planning and
 * allocation all happen in exec_new, so exec_run in steady state does none
 * of them (the counters of runtime/jit.h show it). */
#ifndef CSSM_EXEC_H
#define CSSM_EXEC_H

#include "ir.h"

typedef enum Device { DEV_REF, DEV_CPU, DEV_CUDA } Device;

typedef struct Exec Exec;

/* f64 is only meaningful on ref. Returns NULL with a one-line message in err
 * when the device cannot run the graph here (no GPU, no compiler, an op the
 * device has no kernel for). */
Exec *exec_new(Graph *g, Device d, bool f64, char *err, size_t errlen);
/* As exec_new, with fusion off when fuse is false (every node its own
 * kernel), for tests that compare fused with unfused code. */
Exec *exec_new_fusion(Graph *g, Device d, bool fuse, char *err, size_t errlen);
void exec_free(Exec *e);
/* Feeds a leaf (INPUT or PARAM node) with numel values (2*numel for c64). */
void exec_set(Exec *e, int node, const float *values);
/* Runs every step; a device failure (a CUDA fault) is fatal, with a message
 * naming the kernel. */
void exec_run(Exec *e);
/* As exec_run, timing every step of the lowered program (exec_program):
 * step_ms[i] gets step i's wall time. Fused devices only (false on ref);
 * cuda then synchronizes after every step. */
bool exec_run_timed(Exec *e, double *step_ms);
/* Copies a node's value out (numel floats, 2*numel for c64). Only nodes the
 * device keeps are readable: outputs, gradients, probes, leaves. */
void exec_get(Exec *e, int node, float *out);

const char *device_name(Device d);
bool device_parse(const char *name, Device *out);
/* cuda when a GPU is usable, else cpu (probed once per process). */
Device device_default(void);

/* ---- for the device implementations ---- */

struct Lowered;
typedef struct ExecOps {
    void *(*open)(Graph *g, bool fuse, char *err, size_t errlen);
    void (*close)(void *dev);
    void (*set)(void *dev, int node, const float *values);
    void (*run)(void *dev, double *step_ms);   /* step_ms NULL: untimed */
    void (*get)(void *dev, int node, float *out);
    const struct Lowered *(*program)(void *dev);
} ExecOps;

extern const ExecOps cpu_exec_ops, cuda_exec_ops;

/* The lowered program a fused device runs (NULL on ref). */
const struct Lowered *exec_program(Exec *e);

#endif
