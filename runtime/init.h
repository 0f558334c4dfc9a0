/* init.h: the initial values of a graph's parameters.
 *
 * Flax's initializer semantics on each parameter's declared shape
 * (spec/models.md §2.1), drawn from cssmc's counter-based RNG: parameter p
 * uses the stream rng_fold(rng_new(seed), p), so adding a parameter never
 * changes the values of the others, and a seed fixes every value. Values are
 * not bit-identical to JAX's (its threefry streams are not reproduced). */
#ifndef CSSM_INIT_H
#define CSSM_INIT_H

#include "ir.h"

/* Flax's fans: in_axis -2, out_axis -1, the other axes' product as the
 * receptive field; a 1-D shape has fan_in = fan_out = its size, a scalar 1. */
void param_fans(const Shape *s, double *fan_in, double *fan_out);

/* values[p] (one slot per g->params entry) receives a fresh xmalloc'd array
 * of the parameter's numel values, row-major in its declared shape. */
void init_params(Graph *g, uint64_t seed, double **values);

#endif
