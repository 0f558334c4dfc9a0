/* ref.h: the reference executor (`--device ref`), the meaning of every IR op.
 *
 * A RefExec runs a typed Graph node by node, in id order, with plain loops;
 * every other backend is tested against it. It assumes a graph that passes
 * verify_graph: a violated shape or dtype rule is a compiler bug and stops
 * with an internal error naming the node.
 *
 * Storage is one buffer per node, row-major in the node's shape order, as
 * double in f64 mode and as float in f32 mode; c64 is stored as interleaved
 * (re, im) pairs. In f32 mode each node is computed in double from its f32
 * operands and its result is rounded once to f32 (the FFTs run in FFTW's
 * single precision instead), so f32 results carry one rounding per node and
 * f64 results are as exact as plain double loops make them.
 *
 * Leaves: INPUT and PARAM nodes must be fed with ref_set before ref_run;
 * CONST and IOTA fill themselves. The graph must not grow after ref_new.
 * An executor is not thread-safe, and two may not run at once in one
 * process: FFTW's planner is not re-entrant. */
#ifndef CSSM_REF_H
#define CSSM_REF_H

#include "ir.h"

typedef struct RefExec RefExec;

/* f64: compute and store in double; else store float, rounding each node's
 * result to f32. The graph must outlive the executor. */
RefExec *ref_new(Graph *g, bool f64);
void ref_free(RefExec *r);

/* Feeds a leaf (INPUT or PARAM node): numel values, interleaved (re, im)
 * for c64. In f32 mode the values are rounded to float. */
void ref_set(RefExec *r, int node, const double *values);
void ref_set_f32(RefExec *r, int node, const float *values);

/* Evaluates every node in id order. May be called again after new feeds. */
void ref_run(RefExec *r);

/* Copies a node's value out as doubles (interleaved for c64; `out` holds
 * 2*numel doubles then) and returns numel. */
int64_t ref_get(RefExec *r, int node, double *out);

/* The node's raw storage: float* in f32 mode, double* in f64 mode. */
const void *ref_data(RefExec *r, int node);

/* Evaluates the non-leaf node `id` of g alone, as ref_run does in f32 mode:
 * in[k] holds operand k's value (numel floats, interleaved for c64), out
 * receives the node's, rounded once to f32. For devices that have no kernel
 * of their own for an op. */
void ref_eval_node(Graph *g, int id, const float *const *in, float *out);

#endif
