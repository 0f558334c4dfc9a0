/* ref_ops.h: the inside of the reference executor, one kernel per op family.
 *
 * ref.c owns storage and calls one kernel per node with a RefCall: the node,
 * its operands' values as double arrays (widened from f32 in f32 mode), and a
 * zeroed double array for the result, which ref.c rounds back to the node's
 * storage. Kernels therefore compute in double and never see the storage
 * precision, except the FFTs, which pick FFTW's precision from `f64`.
 *
 * Every kernel finds operand elements with one strided iterator (Walk) over
 * an index space (Space): each view is an offset plus one stride per space
 * axis, 0 where the tensor lacks the axis. Matching by label (match_labels)
 * is how elementwise broadcasting, permutation and einsum all work. Strides
 * here count doubles, so a c64 element at offset o is (o, o+1).
 *
 * Kernels check the shape rules they rely on and stop with call_ice on a
 * violation: a malformed graph is a compiler bug, never user input. */
#ifndef CSSM_REF_OPS_H
#define CSSM_REF_OPS_H

#include "ref.h"

typedef struct RefCall {
    int id;                    /* the node computed */
    const Node *n;
    const Node *const *arg;    /* its operand nodes */
    const double *const *in;   /* operand values, numel (x2 for c64) doubles each */
    double *out;               /* the result, zeroed on entry */
    bool f64;
} RefCall;

#define call_ice(c, fmt, ...) \
    ice("ref: %%%d = %s: " fmt, (c)->id, op_info[(c)->n->op].spelling, ##__VA_ARGS__)

/* Doubles per element: 2 for c64, 1 for f32. */
static inline int dt_width(DType dt) { return dt == DT_C64 ? 2 : 1; }

/* An index space: like a Shape, but a contraction's space (output axes plus
 * summed axes) can be longer than MAX_RANK. */
enum { SPACE_RANK = 3 * MAX_RANK, WALK_VIEWS = 4 };

typedef struct Space {
    int rank;
    const char *label[SPACE_RANK];
    int64_t size[SPACE_RANK];
} Space;

Space space_of(const Shape *s);
/* s without the axes in `mask` (bit i = axis i), order kept. */
Space space_without(const Shape *s, uint32_t mask);
void space_add(Space *sp, const char *label, int64_t size);
int64_t space_numel(const Space *sp);

/* Row-major strides of s, in doubles for elements `width` doubles wide. */
void row_strides(const Shape *s, int width, int64_t *stride);

/* Strides (in doubles) of the tensor `t`, `width` wide, seen over sp: for
 * each space axis, the stride of t's axis with the same label, or 0. Stops
 * unless exactly `matched` of t's axes have a label in sp, each with the
 * space's size; the caller accounts for the rest (a scan's time axis). */
void match_labels(const RefCall *c, const Space *sp, const Shape *t, int width, int64_t *stride,
                  int matched);

/* The strided iterator: walk_next advances the multi-index over the space in
 * row-major order and keeps every view's offset in step. */
typedef struct Walk {
    int rank, nview;
    int64_t size[SPACE_RANK], idx[SPACE_RANK];
    int64_t stride[WALK_VIEWS][SPACE_RANK];
    int64_t off[WALK_VIEWS];
} Walk;

void walk_init(Walk *w, const Space *sp);
void walk_view(Walk *w, int view, int64_t offset, const int64_t *stride);

static inline void walk_next(Walk *w)
{
    for (int k = w->rank - 1; k >= 0; k--) {
        for (int v = 0; v < w->nview; v++) w->off[v] += w->stride[v][k];
        if (++w->idx[k] < w->size[k]) return;
        for (int v = 0; v < w->nview; v++) w->off[v] -= w->stride[v][k] * w->size[k];
        w->idx[k] = 0;
    }
}

/* max as XLA computes it: NaN propagates, ties keep the first argument. */
static inline double max_first(double a, double b) { return a != a || b <= a ? a : b; }

/* The kernels, by op family. */
void ref_elementwise(const RefCall *c);   /* ref_ew.c: OC_EW */
void ref_reduce(const RefCall *c);        /* ref_ew.c: SUM, MAX */
void ref_contract(const RefCall *c);      /* ref_ew.c: CONTRACT */
void ref_movement(const RefCall *c);      /* ref_move.c: OC_MOVE */
void ref_fft(const RefCall *c);           /* ref_fft.c: RFFT2, IRFFT2 and transposes */
void ref_conv(const RefCall *c);          /* ref_conv.c: CONV2D, CONV2D_DX, CONV2D_DK */
void ref_pool(const RefCall *c);          /* ref_conv.c: MAXPOOL2, MAXPOOL2_DX */
void ref_scan(const RefCall *c);          /* ref_scan.c: SCAN */
void ref_scan_assoc(const RefCall *c);    /* ref_scan_assoc.c: SCAN with attr.assoc */
void ref_circ(const RefCall *c);          /* ref_circ.c: CIRC */
void ref_solve(const RefCall *c);         /* ref_solve.c: SOLVE */

#endif
