/* build.h: the builder's internals (build.c, eval.c, builtins.c, layers.c,
 * scan.c): instantiating a model from its AST into a typed Graph.
 *
 * Building is evaluation. Static values (numbers, strings, bools, dims,
 * lists, blocks) are computed on the spot and drive `if`, `match`, `repeat`
 * and sizes; tensor values are graph nodes, created as they are computed, with
 * their shapes checked by the rules of shape.c. A block call instantiates the
 * block's body in a new scope; parameters get stable paths from the chain of
 * instances (`cssm_0.out_proj.kernel`). A user mistake is reported with diag
 * and yields the poison value V_ERROR, which every operation passes through
 * silently, so one mistake gives one message. */
#ifndef CSSM_BUILD_H
#define CSSM_BUILD_H

#include "ir.h"

typedef struct Value Value;
typedef struct Scope Scope;
typedef struct Inst Inst;
typedef struct Builder Builder;
typedef struct BlockVal BlockVal;
typedef struct Affine Affine;
typedef struct StepCtx StepCtx;

typedef enum VKind {
    V_ERROR,     /* poison: an error was already reported */
    V_NONE,      /* no value (a block that returns nothing) */
    V_INT, V_FLOAT, V_BOOL, V_STR,
    V_DIM,       /* a named size: label s, size i */
    V_LIST,      /* items, n */
    V_TUPLE,     /* several results: `a, b = ...` */
    V_BLOCK,     /* a block value, possibly partially applied or an instance */
    V_TENSOR,    /* node */
    V_AFFINE,    /* inside a scan step: an affine form in the carries */
    V_DIMMAP,    /* `I -> O` as an argument: items[0] -> items[1] */
} VKind;

struct Value {
    VKind kind;
    int64_t i;           /* INT, BOOL, DIM size */
    double f;            /* FLOAT */
    const char *s;       /* STR text, DIM label */
    Value *items;        /* LIST, TUPLE, DIMMAP */
    int n;
    int node;            /* TENSOR */
    BlockVal *blk;       /* BLOCK */
    Affine *aff;         /* AFFINE */
};

/* A block as a value: a user block (item) or a built-in layer (builtin),
 * with hyperparameters bound so far; `path` is set for a parameter instance
 * (`param a = dense(C -> C)`), whose parameters live under that path. */
struct BlockVal {
    Item *item;
    const Module *mod;
    const char *builtin;
    Vec(const char *) names;
    Vec(Value) values;
    Vec(Loc) locs;
    const char *path;
    Inst *owner;         /* the instance that declared the parameter instance */
};

/* An affine form in a scan's carries: sum_k coef[k] * carry_k + off, where a
 * coefficient or the offset may be absent (-1). A coefficient with col[k]
 * set is a matrix over the carry's axis row[k] and its column col[k]
 * (= row[k]'), applied as sum_j coef[.., row, j] carry_k[.., j] (from `A @ h`). */
enum { MAX_CARRIES = 8 };
struct Affine {
    int coef[MAX_CARRIES];
    const char *row[MAX_CARRIES], *col[MAX_CARRIES];
    int off;
    StepCtx *step;       /* the scan step the form belongs to */
};

typedef struct Binding {
    const char *name;
    Value value;
    Loc loc;
} Binding;

struct Scope {
    Scope *parent;
    Vec(Binding) vars;
    StepCtx *step;       /* set on a scan step's scope */
};

/* A block instance: where its parameters live and what it inherits. */
struct Inst {
    Inst *parent;
    const char *path;    /* "" for the model, "cssm_0", "cssm_0.alpha" ... */
    const Module *mod;
    Scope *hyper;        /* the instance's hyperparameters, for inheritance */
    Vec(const char *) anon_names;   /* anonymous instance counters, by block name */
    Vec(int) anon_counts;
    const char *repeat_suffix;      /* "_0" inside `repeat n as i` */
    int repeat_index;
};

typedef struct Override {
    const char *name;
    const char *text;    /* the value as written after '=' */
    bool used;
} Override;

/* What a graph is built for. The training graph: drop_path draws its masks
 * from random inputs named "rng.*" (fed U[0, 1) each step by the trainer),
 * and BatchNorm normalises with the batch's statistics and probes its
 * running averages' next values. bn_batch_stats: BatchNorm uses the batch's
 * statistics outside training too (the reference's --bn_train_mode);
 * otherwise it uses its running averages. */
typedef struct BuildMode {
    bool training;
    bool bn_batch_stats;
} BuildMode;

struct Builder {
    Graph *g;
    const Module *root;
    Vec(Override) overrides;
    int64_t batch;       /* the size of an unbound model input axis named B */
    BuildMode mode;
    Loc loc;             /* the model's location, for errors without a better place */
};

/* A scan step in progress (scan.c). AFFINE: evaluated once, vectorised
 * over the axis, carries as affine forms; UNROLLED: evaluated once per index
 * t with the carries as tensors; LEAF: a combine form's leaves, vectorised;
 * COMBINE: a combine form's combiner, reading the partial results l and r. */
typedef enum StepMode { STEP_AFFINE, STEP_UNROLLED, STEP_LEAF, STEP_COMBINE } StepMode;
struct StepCtx {
    StepMode mode;
    bool nonaffine;              /* AFFINE: an operation outside affine forms was met */
    int64_t t;                   /* UNROLLED: the current index */
    int cur[MAX_CARRIES];        /* UNROLLED: h_{t-1} (nodes) */
    const int *left, *right;     /* COMBINE: the partial results, one node per carry */
    Builder *b;
    Scan *scan;
    Loc loc;
    const char *axis_label;      /* the scanned axis */
    int64_t axis_size;
    int ncarry;
    const char *names[MAX_CARRIES];
    int init[MAX_CARRIES];       /* initial carries (nodes) or -1 for zero */
    Value updated[MAX_CARRIES];  /* new value (V_AFFINE or V_TENSOR), kind V_NONE until assigned */
    Value result[MAX_CARRIES];   /* materialised stacked carries (V_TENSOR) or V_NONE */
    Vec(Value) emits;
    Scope *outer;                /* the scope the scan expression is in */
};

/* values */
Value v_error(void);
Value v_none(void);
Value v_int(int64_t i);
Value v_float(double f);
Value v_bool(bool b);
Value v_str(const char *s);
Value v_dim(const char *label, int64_t size);
Value v_tensor(int node);
Value v_list(Value *items, int n);
Value v_tuple(Value *items, int n);
const char *kind_name(VKind k);
bool v_is_number(Value v);
double v_number(Value v);
void describe_value(Builder *b, Value v, char *buf, size_t n);

/* scopes */
Scope *scope_new(Scope *parent);
void scope_set(Scope *s, const char *name, Value v, Loc loc);
Binding *scope_find(Scope *s, const char *name);
Binding *scope_find_local(Scope *s, const char *name);

/* evaluation (eval.c) */
Value eval(Builder *b, Inst *in, Scope *s, Expr *e);
Value eval_static(Builder *b, Inst *in, Scope *s, Expr *e, const char *what);
bool eval_int(Builder *b, Inst *in, Scope *s, Expr *e, const char *what, int64_t *out);
Value binary_values(Builder *b, Op op, Value x, Value y, Loc loc);
Value unary_value(Builder *b, Op op, Value x, Loc loc);
/* Converts a number, complex literal or tensor to a tensor node, or -1 with an error. */
int as_tensor(Builder *b, Value v, Loc loc, const char *what);
Value tensor_index(Builder *b, Inst *in, Scope *s, Expr *e);
/* The related-axes guard of user-written broadcasts (eval.c): false, with a
 * reason, when a label of a and a different label of b derive from one dim. */
bool related_axes_check(const Shape *a, const Shape *b, char *why, size_t n);

/* blocks and statements (build.c) */
Value call_value(Builder *b, Inst *in, Scope *s, Value callee, Expr *call);
Value apply_block(Builder *b, Inst *in, BlockVal *bv, Value *args, const char **names, Loc *locs,
                  int nargs, Loc loc);
bool exec_stmts(Builder *b, Inst *in, Scope *s, StmtVec *body, Value *ret);
Value lookup_name(Builder *b, Inst *in, Scope *s, const char *name, Loc loc);
const char *param_path(Inst *in, const char *name);
int declare_param(Builder *b, Inst *in, const char *name, const Shape *shape, Init init, Loc loc);
int declare_param_path(Builder *b, const char *path, const Shape *shape, Init init, Loc loc);
/* A state (Param.state): a running statistic at path, initialised by init. */
int declare_state_path(Builder *b, const char *path, const Shape *shape, Init init, Loc loc);
bool bind_pattern(Builder *b, Inst *in, Scope *s, Type *t, Value *v, Loc loc);
Init eval_init(Builder *b, Inst *in, Scope *s, Expr *e);

/* built-in functions and layers (builtins.c, layers.c) */
bool is_builtin(const char *name);
Value call_builtin(Builder *b, Inst *in, Scope *s, const char *name, Expr *call);
bool is_layer(const char *name);
/* Call arguments, evaluated: positional first by position, named by name. */
enum { MAX_ARGS = 16 };
typedef struct Args {
    const char *fn;
    Loc call;
    int n;
    Value v[MAX_ARGS];
    const char *name[MAX_ARGS];
    Loc loc[MAX_ARGS];
} Args;
Value arg_get(Args *a, const char *name, int pos);      /* V_NONE when absent */
Loc arg_loc(Args *a, const char *name, int pos);
Value apply_layer(Builder *b, Inst *in, BlockVal *bv, Value x, Loc loc);
/* Axis of tensor `node` named by a dim value; reports and returns -1 if absent. */
int axis_of(Builder *b, int node, Value dim, Loc loc);

/* scans (scan.c) */
Value eval_scan(Builder *b, Inst *in, Scope *s, Expr *e);
Value affine_binary(Builder *b, Op op, Value x, Value y, Loc loc);
/* `x @ y` (tensors or affine forms): contracts the left operand's column
 * axis X' with the right operand's axis X (the primed-label convention). */
Value matmul_values(Builder *b, Value x, Value y, Loc loc);
/* A carry-dependent value v reached an operation that affine forms do not
 * cover: the step is marked non-affine (and will be unrolled). */
Value affine_escape(Value v);
/* `u[t]` inside a step: u itself (vectorised) or its slice at t (unrolled). */
Value step_index_read(StepCtx *st, Value u, Loc loc);
/* `l.k` / `r.k` inside a combine step. */
Value eval_field(Builder *b, Inst *in, Scope *s, Expr *e);
Value step_read_carry(StepCtx *st, int k, Loc loc);
bool step_assign(StepCtx *st, const char *name, Value v, Loc loc);

/* The model entry (build.c). */
Graph *build_model(const Module *root, const char *model_name, Override *ov, int nov, int64_t batch,
                   BuildMode mode);

#endif
