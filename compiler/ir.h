/* ir.h: the graph IR, the table of contents of the compiler's middle.
 *
 * A Graph is an append-only, topologically ordered array of Nodes addressed
 * by index: every operand index is smaller than its user's. Each node has an
 * op (ops.def), a dtype (f32 or c64), a labelled shape, operands, op-specific
 * attributes, the source location it came from, and a fusion group.
 *
 * Shapes are labelled: axis i has a label (an interned name such as "T" or
 * "W/2+1") and a concrete size. Labels are unique within a shape. Elementwise
 * operands are matched to the output by label, so broadcasting and axis order
 * are explicit in the node's shape and never positional. Memory layout of a
 * tensor is row-major in its shape's axis order.
 *
 * Forward and backward live in one graph: autodiff appends ordinary nodes. */
#ifndef CSSM_IR_H
#define CSSM_IR_H

#include "base.h"
#include "diag.h"
#include "ast.h"

#include <stdio.h>
#include <string.h>

typedef enum OpCode {
#define OPDEF(name, spelling, cls, arity, flags) IR_##name,
#include "ops.def"
#undef OPDEF
    IR_COUNT
} OpCode;

typedef enum OpClass { OC_LEAF, OC_EW, OC_REDUCE, OC_MOVE, OC_LIB, OC_SCAN } OpClass;
enum { OF_COMPLEX = 1, OF_SMOOTH0 = 2 };

typedef struct OpInfo {
    const char *spelling;
    OpClass cls;
    int arity;
    int flags;
} OpInfo;
extern const OpInfo op_info[IR_COUNT];

enum { MAX_RANK = 8 };

typedef struct Shape {
    int rank;
    const char *label[MAX_RANK];   /* interned, unique within the shape */
    int64_t size[MAX_RANK];
} Shape;

int64_t shape_numel(const Shape *s);
int shape_find(const Shape *s, const char *label);   /* axis index or -1 */
bool shape_equal(const Shape *a, const Shape *b);    /* same labels, sizes and order */
bool shape_same_axes(const Shape *a, const Shape *b);/* same label set and sizes, any order */
/* Writes "f32[B=2,T=8,C=32]" (or "f32" for a scalar) into buf. */
const char *shape_str(DType dt, const Shape *s, char *buf, size_t n);
/* Row-major strides of s (elements). */
void shape_strides(const Shape *s, int64_t *strides);

typedef struct Attr {
    int index;               /* PARAM: graph->params index; INPUT: graph->inputs index */
    double c[2];             /* CONST: value (re, im) */
    uint32_t mask;           /* SUM, MAX: operand axes reduced */
    int axis;                /* SLICE, PAD, FLIP: operand axis; CONCAT, STACK: output axis;
                                SCAN: b's time axis */
    int64_t start, step, lo; /* SLICE: start, step; PAD: lo */
    bool drop;               /* SLICE: the axis is removed (size 1) */
    int ax[3];               /* RFFT2 & co: H, W positions; CONV2D & co: H, W, C positions in x;
                                MAXPOOL2: the two pooled axes; CIRC: H, W in the result */
    int groups;              /* CONV2D & co */
    const char *state, *col; /* SCAN: matrix state labels (NULL for scalar); SOLVE: the same */
    bool reverse;            /* SCAN; CIRC: the adjoint index map */
    bool assoc;              /* SCAN: evaluate in associative_scan's tree order (--scan=assoc);
                                the same values, another rounding */
} Attr;

typedef struct Node {
    OpCode op;
    DType dtype;             /* DT_F32 or DT_C64 */
    Shape shape;
    int nin;
    int *in;                 /* operand node ids, each < this node's id */
    Attr attr;
    Loc loc;
    int group;               /* fusion group, -1 until fused */
} Node;

typedef enum InitKind {
    INIT_ZEROS, INIT_ONES, INIT_CONSTANT, INIT_NORMAL, INIT_TRUNC_NORMAL, INIT_UNIFORM,
    INIT_LECUN_NORMAL, INIT_XAVIER_NORMAL, INIT_XAVIER_UNIFORM,
    INIT_RAMP, INIT_SQRT_RAMP,
} InitKind;

typedef struct Init {
    InitKind kind;
    double a, b;             /* CONSTANT: a; NORMAL, TRUNC_NORMAL: stddev a; UNIFORM: [a, b);
                                RAMP: element i (row-major) = a + b i; SQRT_RAMP: sqrt(a + b i) */
} Init;

/* A parameter of the model, or (state) one of its running statistics:
 * a variable the optimizer never sees, with no gradient and not counted
 * among the parameters (Flax's batch_stats). A training graph probes each
 * state's next value under the state's own path. */
typedef struct Param {
    const char *path;        /* "cssm_0.out_proj.kernel" */
    Shape shape;             /* in declaration order; fans follow Flax (in -2, out -1) */
    Init init;
    int node;
    bool state;
    Loc loc;
} Param;

typedef struct Input {
    const char *name;
    int node;
} Input;

/* The random inputs of a training-mode graph (drop_path's masks) are named
 * RANDOM_INPUT_PREFIX...; whoever runs the graph feeds them U[0, 1) draws. */
#define RANDOM_INPUT_PREFIX "rng."
static inline bool input_is_random(const Input *in)
{
    return !strncmp(in->name, RANDOM_INPUT_PREFIX, sizeof RANDOM_INPUT_PREFIX - 1);
}

typedef struct Probe {
    const char *name;        /* "cssm_0.spectral_state" */
    int node;
    Loc loc;
} Probe;

typedef struct Graph {
    Arena arena;
    Vec(Node) nodes;
    Vec(Param) params;
    Vec(Input) inputs;
    Vec(Probe) probes;
    int output;              /* the model's result, -1 if none */
    int loss_seed;           /* after differentiate: the INPUT holding d loss / d output */
    Vec(int) grads;          /* after differentiate: parallel to params, -1 if no path */
} Graph;

Graph *graph_new(void);
void graph_free(Graph *g);
static inline Node *node_at(Graph *g, int id) { return &g->nodes.data[id]; }

/* Appends a node and returns its id. `in` is copied. The shape and dtype are
 * taken as given: builders compute them with the rules in shape.c. */
int ir_add(Graph *g, OpCode op, DType dt, const Shape *shape, const int *in, int nin,
           const Attr *attr, Loc loc);
int ir_const(Graph *g, double re, double im, DType dt, const Shape *shape, Loc loc);

/* Checks every invariant: operand order, arity, dtypes, shapes against the
 * op's rule. Returns the number of violations, each printed as an internal
 * error naming the node; `after` names the pass just run. */
int verify_graph(Graph *g, const char *after);

/* Prints the graph in the one stable text format of the -d dumps:
 *   %12 = mul %3, %11 : c64[B=2,T=8,H=32,W/2+1=17,C=32]   # no_gate.cssm:10:9 */
void print_graph(FILE *out, Graph *g);
void print_node(FILE *out, Graph *g, int id);

/* The index in g->probes of the probe named name, or -1. */
int graph_probe(const Graph *g, const char *name);

/* Elements of the trained parameters, and of the states (running statistics). */
int64_t graph_param_count(const Graph *g);
int64_t graph_state_count(const Graph *g);

/* Appends the backward pass (autodiff.c): adds the INPUT d_output (the
 * cotangent of g->output, recorded in g->loss_seed) and, as wrt asks, sets
 * g->grads (AD_PARAMS; -1 for the rest) and probes the model input's
 * gradient as "grad.<input name>" (AD_INPUT). */
enum { AD_PARAMS = 1, AD_INPUT = 2 };
void differentiate(Graph *g, unsigned wrt);
/* The name of the probe AD_INPUT adds: "grad.<the model input's name>". */
const char *input_gradient_name(const Graph *g);

/* ---- Typed constructors (shape.c) ----
 * One per op family: each computes the result's shape and dtype by the op's
 * rule, inserting TO_C64 where an f32 operand meets a c64 one. They assume
 * valid operands (the builder checks user programs first, with messages,
 * using the *_check functions) and call ice() otherwise. */

/* Label broadcasting: if one shape's labels include the other's, the result
 * takes the larger one's order; otherwise a's axes then b's others. Shared
 * labels must agree in size. Returns false with a reason in why. */
bool broadcast_check(const Shape *a, const Shape *b, Shape *out, char *why, size_t n);
DType dtype_join(DType a, DType b);

int ir_unary(Graph *g, OpCode op, int x, Loc loc);
int ir_binary(Graph *g, OpCode op, int a, int b, Loc loc);
int ir_where(Graph *g, int c, int a, int b, Loc loc);
int ir_cast(Graph *g, int x, DType to, Loc loc);          /* f32 -> c64 only; identity otherwise */
int ir_scalar(Graph *g, double v, Loc loc);               /* f32 rank-0 constant */
int ir_reduce(Graph *g, OpCode op, int x, uint32_t mask, Loc loc);
int ir_reduce_labels(Graph *g, OpCode op, int x, const char *const *labels, int n, Loc loc);
/* Sums x over its labels missing from target and permutes to target's order
 * (the adjoint of broadcasting); target's labels must all be in x. */
int ir_sum_to(Graph *g, int x, const Shape *target, Loc loc);
int ir_broadcast(Graph *g, int x, const Shape *target, Loc loc);
int ir_permute(Graph *g, int x, const Shape *target, Loc loc);   /* no-op when already in order */
int ir_reshape(Graph *g, int x, const Shape *target, Loc loc);   /* no-op when equal */
int ir_slice(Graph *g, int x, int axis, int64_t start, int64_t len, int64_t step, bool drop, Loc loc);
int ir_pad(Graph *g, int x, int axis, int64_t lo, int64_t hi, Loc loc);
int ir_flip(Graph *g, int x, int axis, Loc loc);
/* a and b agree on every axis but `axis` of a; the result's axis there has
 * label `label` and size a's + b's. */
int ir_concat(Graph *g, int a, int b, int axis, const char *label, Loc loc);
int ir_stack(Graph *g, const int *in, int n, int axis, const char *label, Loc loc);
/* einsum by label: a's axes then b's others, minus the labels in `over`. */
int ir_contract(Graph *g, int a, int b, const char *const *over, int nover, Loc loc);
int ir_contract_to(Graph *g, int a, int b, const Shape *out, Loc loc);
int ir_fft(Graph *g, OpCode op, int x, int hpos, int wpos, const char *wlabel, int64_t wsize, Loc loc);
int ir_conv2d(Graph *g, int x, int k, int hpos, int wpos, int cpos, int groups, const char *olabel, Loc loc);
int ir_scan(Graph *g, int a, int b, int axis, const char *state, const char *col, bool reverse, Loc loc);
/* Circular correlation of x with the H x W kernel k (ops.def CIRC); the
 * result has the broadcast of both shapes. */
int ir_circ(Graph *g, int x, int k, const char *hlabel, const char *wlabel, bool reverse, Loc loc);
/* A^-1 b by label (ops.def SOLVE); b must already have A's axes but col. */
int ir_solve(Graph *g, int a, int b, const char *state, const char *col, Loc loc);
/* Relabels axis `axis` of x (a RESHAPE that changes only a label). */
int ir_relabel(Graph *g, int x, int axis, const char *label, Loc loc);

/* The label "W/2+1" made from "W" and "/2+1": interned. */
const char *label_derived(const char *base, const char *suffix);

#endif
