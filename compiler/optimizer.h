/* optimizer.h: the optimizer update as a compiled graph (optimizer.c).
 *
 * adamw_graph(n) is the elementwise AdamW update over n flat parameters,
 * in IR; a CompiledAdamW runs it on a device and plugs into the trainer's
 * AdamW (runtime/train/train.h, AdamWKernel) in place of the host loop. */
#ifndef CSSM_OPTIMIZER_H
#define CSSM_OPTIMIZER_H

#include "exec.h"
#include "train.h"

/* The rank-0 inputs after p, g, m, v, wd, in AdamWUpdate's order. */
#define ADAMW_NSCALARS 10

Graph *adamw_graph(int64_t n);

typedef struct CompiledAdamW CompiledAdamW;
/* NULL with a one-line message when the device cannot run it. */
CompiledAdamW *compiled_adamw_new(int64_t n, Device d, char *err, size_t errlen);
void compiled_adamw_free(CompiledAdamW *c);
/* An AdamWKernel.apply: ctx is the CompiledAdamW. */
void compiled_adamw_apply(void *ctx, const AdamWUpdate *k, float *p, const float *g, float *m, float *v,
                          const float *wd);

#endif
