/* kernel.h: the lowered program, the table of contents of the back end.
 *
 * After the IR is final, three passes turn it into something a device runs:
 *   fuse        (fuse.c)   decides which nodes get a buffer of their own
 *                          (are "materialized"); every other node is
 *                          recomputed inside the kernels that read it;
 *   lower       (lower.c)  turns each materialized node into steps: generated
 *                          kernels (map, reduce, scan, solve), FFT library
 *                          calls, or a per-node fallback into the reference
 *                          executor; index.c builds its index expressions;
 *   plan_memory (plan.c)   gives every buffer an offset in one arena, reusing
 *                          memory between buffers whose lifetimes do not meet.
 * The lowered program they produce (Lowered) is device-independent:
 * render_c.c and render_cuda.c only print it, and runtime/cpu.c and
 * runtime/cudaexec.c only run it.
 *
 * A generated kernel computes one value per point of its index space (its
 * domain) in SSA form: a list of Vals, each a load from a buffer at an index
 * expression (Ix) over the domain's variables, a constant, an index turned
 * into a value, an elementwise op of earlier Vals (ewexpr.c holds the scalar
 * C expression of every op), or a select on an index condition. A map kernel
 * stores its result at every point (and the readable nodes that ride along
 * with it, Kernel.stores); a reduce kernel folds it over the
 * domain's reduced axes and stores one value per point of the rest; a scan
 * kernel runs the linear recurrence of a SCAN node along time, a solve
 * kernel a SOLVE node's small dense systems. Index expressions are integer
 * arithmetic with known value ranges, simplified as they are built (a
 * relabelling reshape or an in-range clamp disappears), and print in the
 * syntax C and CUDA share. */
#ifndef CSSM_KERNEL_H
#define CSSM_KERNEL_H

#include "ir.h"

#include <stdio.h>

/* ---- index expressions (index.c) ---- */

typedef enum IxKind {
    IX_CONST, IX_VAR,
    IX_SUM,                  /* sum of coef[k] * term[k], plus c */
    IX_DIV, IX_MOD,          /* a / c, a % c: a >= 0, c > 0 */
    IX_MIN, IX_MAX,          /* min(a, c), max(a, c) */
    IX_LT, IX_GE, IX_EQ,     /* a < c, a >= c, a == c: 0 or 1 */
    IX_AND,                  /* a && b */
} IxKind;

typedef struct Ix Ix;
struct Ix {
    IxKind kind;
    int64_t lo, hi;          /* the range of values it takes */
    int64_t c;               /* CONST: the value; SUM: the constant term; others: the right operand */
    int var;                 /* VAR: the variable's number (printed iN) */
    const Ix *a, *b;         /* operands */
    int nterm;
    const Ix **term;         /* SUM */
    int64_t *coef;
};

/* Constructors (index.c), simplifying as they build; nodes live in A. */
const Ix *ix_const(Arena *A, int64_t c);
const Ix *ix_var(Arena *A, int var, int64_t size);          /* 0 <= var < size */
const Ix *ix_lin2(Arena *A, const Ix *a, int64_t ka, const Ix *b, int64_t kb, int64_t c);  /* ka a + kb b + c */
const Ix *ix_add(Arena *A, const Ix *a, const Ix *b);
const Ix *ix_addc(Arena *A, const Ix *a, int64_t c);
const Ix *ix_scale(Arena *A, const Ix *a, int64_t k);
const Ix *ix_div(Arena *A, const Ix *a, int64_t d);          /* a >= 0, d > 0 */
const Ix *ix_mod(Arena *A, const Ix *a, int64_t d);
const Ix *ix_min(Arena *A, const Ix *a, int64_t c);
const Ix *ix_max(Arena *A, const Ix *a, int64_t c);
const Ix *ix_clamp(Arena *A, const Ix *a, int64_t lo, int64_t hi);
const Ix *ix_compare(Arena *A, IxKind kind, const Ix *a, int64_t c);   /* IX_LT, IX_GE, IX_EQ */
const Ix *ix_and(Arena *A, const Ix *a, const Ix *b);
const Ix *ix_in_range(Arena *A, const Ix *a, int64_t lo, int64_t hi);  /* lo <= a < hi */
/* The row-major element offset of index idx (one entry per axis) in s. */
const Ix *ix_offset(Arena *A, const Shape *s, const Ix *const *idx);
bool ix_is_const(const Ix *x, int64_t c);
/* Prints in C syntax (the common subset of C and CUDA). */
void ix_print(FILE *f, const Ix *x);

/* ---- kernels ---- */

enum { KSPACE_RANK = 3 * MAX_RANK };

/* An index space: a kernel's domain or a scan's batch. */
typedef struct KSpace {
    int rank;
    const char *label[KSPACE_RANK];
    int64_t size[KSPACE_RANK];
} KSpace;

typedef enum ValKind {
    VAL_LOAD,                /* buf[ix] */
    VAL_CONST,               /* c (re, im) */
    VAL_INDEX,               /* ix as a value (rounded to f32, as IOTA holds it) */
    VAL_OP,                  /* op(in[0..nin)) (an OC_EW op) */
    VAL_SELECT,              /* ix ? in[0] : in[1] */
} ValKind;

typedef struct Val {
    ValKind kind;
    DType dtype;
    OpCode op;
    int nin, in[3];
    int buf;
    const Ix *ix;
    double c[2];
    bool exact;              /* VAL_OP: not rounded to f32 (the product inside a contraction
                                or convolution, summed exactly as the reference sums it);
                                VAL_CONST: a double, not an f32 constant (an FFT's 1/(HW)) */
    int stage;               /* VAL_LOAD: -1, or the Stage the C rendering reads instead */
    const Ix *stage_ix;      /* its element offset in the stage */
} Val;

/* A small operand copied, axes permuted, into a local array before a C
 * kernel's loops, so that its innermost loop reads it contiguously (a dense
 * layer's kernel read along its first axis, say). CUDA reads the buffer. */
typedef struct Stage {
    int buf;
    int rank;
    int64_t size[MAX_RANK];  /* the buffer's axes, in its own order */
    int64_t from[MAX_RANK], to[MAX_RANK];   /* element strides in the buffer, in the stage */
    int64_t numel;
} Stage;

typedef enum KernelKind { KK_MAP, KK_REDUCE, KK_SCAN, KK_SOLVE } KernelKind;

typedef Vec(int) IntVec;

/* The recurrence h_t = A_t h_{t-1} + b_t of a SCAN node (ref_scan.c), or
 * the system sum_j A[i,j] x[j] = b[i] of a SOLVE node (ref_solve.c: T = 1,
 * no time strides, d the system's size), over the batch points of b (its
 * axes but time and state). Offsets are in elements of each buffer's own
 * dtype. */
typedef struct ScanKernel {
    int a_buf, b_buf;
    DType a_dt, b_dt, y_dt;
    int64_t T, d;            /* steps; state size (1: scalar scan) */
    bool matrix, reverse;
    const Ix *b_off, *a_off; /* the batch point's offset in b (= in y) and in A */
    int64_t bt, at;          /* strides of time in b and A (0: A is constant in time) */
    int64_t bi, ai, aj;      /* matrix scans: strides of the state in b, of i and j in A */
    int inner;               /* trailing batch axes run as a vector per thread (scalar scans) */
} ScanKernel;

/* A further result of a map kernel: a readable node it computes anyway, at
 * the domain's points, stored to that node's buffer (see fuse.c). */
typedef struct Store {
    int node, val, buf;
    const Ix *ix;
} Store;

typedef struct Kernel {
    KernelKind kind;
    char name[48];           /* "k12_softplus": unique, a C identifier */
    int node;                /* the node it computes (the root of its group) */
    IntVec fused;            /* every node computed inside it, ascending */
    KSpace domain;           /* MAP: the output's axes; REDUCE: kept and reduced axes;
                                SCAN, SOLVE: the batch points */
    uint64_t reduced;        /* REDUCE: bit k = domain axis k is folded */
    OpCode fold;             /* REDUCE: IR_SUM or IR_MAX */
    Vec(Val) vals;
    int result;              /* the Val stored (MAP) or folded (REDUCE) */
    int out_buf;
    const Ix *out_ix;        /* MAP, REDUCE: the output element over the (kept) variables */
    Vec(Store) stores;       /* MAP: further results (multi-output fusion) */
    ScanKernel scan;
    IntVec reads;            /* buffers it loads, each once */
    Vec(Stage) stages;
    int64_t work;            /* independent items: output elements, or scan lines */
    int64_t grid, block;     /* CUDA launch geometry: grid x block threads cover work */
    bool wide;               /* REDUCE on CUDA: one block per output element, its threads
                                sharing the reduced points, combined by a fixed tree */
} Kernel;

/* ---- steps, buffers, the program ---- */

typedef enum StepKind { STEP_KERNEL, STEP_FFT, STEP_FALLBACK } StepKind;

/* Same order and meaning as runtime/jit.h's CssmFftKind. */
typedef enum FftKind { FFT_R2C, FFT_C2R, FFT_C2C_FORWARD, FFT_C2C_INVERSE } FftKind;

/* A batch of unnormalized transforms over a row-major [outer][n0][n1][inner]
 * tensor (rank 1: [outer][n0][inner]); the complex side of R2C/C2R has
 * n1/2+1 (rank 1: n0/2+1) bins on the last transformed axis. */
typedef struct FftStep {
    FftKind kind;
    int rank;
    int64_t n[2], outer, inner;
    int in_buf, out_buf;
} FftStep;

typedef struct Step {
    StepKind kind;
    int node;                /* the node this step belongs to */
    int kernel;              /* STEP_KERNEL */
    FftStep fft;             /* STEP_FFT */
} Step;

typedef struct Buffer {
    int node;                /* the node it holds, -1 for a scratch buffer */
    DType dtype;
    int64_t numel, bytes;
    bool keep;               /* live for the whole run: leaves and readable results */
    int first, last;         /* steps that write it first and read it last */
    int64_t offset;          /* in the arena */
} Buffer;

typedef struct Lowered {
    Graph *g;
    Arena arena;             /* index expressions */
    bool *needed;            /* per node: contributes to a readable result */
    bool *materialized;      /* per node: has a buffer (fuse) */
    int *node_buf;           /* per node: its buffer, -1 */
    Vec(Kernel) kernels;
    Vec(Step) steps;
    Vec(Buffer) bufs;
    int nfft, nfallback;     /* steps of each kind */
    int64_t arena_bytes;
} Lowered;

/* The arena's alignment of every buffer (cuFFT and vector loads like 256). */
enum { BUFFER_ALIGN = 256 };

typedef struct LowerOptions {
    bool fuse;               /* false: every node is its own kernel (for tests) */
} LowerOptions;

/* Lowers a verified graph; the graph must outlive the program and not grow. */
Lowered *lower(Graph *g, const LowerOptions *opt);
void program_free(Lowered *p);

/* Nodes a device may read after a run: leaves, the output, gradients, probes. */
bool node_readable(const Graph *g, int id);
/* lower.c's answer to "is there a generated kernel or library call for this
 * node, or does it fall back to the reference executor?" */
bool lower_supports(const Graph *g, int id);
/* Can the node be recomputed inside another kernel (an OC_EW or OC_MOVE op
 * the lowering knows, or a CONST or IOTA)? */
bool lower_inlinable(const Graph *g, int id);

/* fuse.c: the materialized set (xcalloc'd, one flag per node), and each
 * node's group (Node.group: the materialized node whose kernel computes it,
 * -1 for leaves and dead nodes). enabled = false materializes every node.
 * A readable node that is not materialized rides along: the map kernel of
 * its group stores it (fuse_rides). */
bool *fuse(Graph *g, const bool *needed, bool enabled);
bool fuse_rides(const Graph *g, const bool *needed, const bool *materialized, int id);

/* plan.c: every buffer's lifetime and arena offset; sets arena_bytes. */
void plan_memory(Lowered *p);

/* The -dF and -dL dumps; print_step is one line of -dL. */
void print_fusion(FILE *f, const Lowered *p);
void print_program(FILE *f, const Lowered *p);
void print_step(FILE *f, const Lowered *p, int step);
/* The bytes of the buffers a step reads and writes, each counted once (the
 * traffic of a pass that touches every element once). */
int64_t step_bytes(const Lowered *p, int step);
/* "57 (49 generated, 6 fft, 2 fallback)": the line kernel-count tests record. */
void print_kernel_count(FILE *f, const Lowered *p);

/* ---- rendering (ewexpr.c, render_c.c, render_cuda.c) ---- */

/* The scalar C expression of an OC_EW op with operands %0 %1 %2 (variables),
 * in the real domain or the complex one (c64 operands); NULL if none. */
const char *ew_expr(OpCode op, bool complex_domain);
/* Checks the table against ops.def: every OC_EW op has an expression (and a
 * complex one when it is OF_COMPLEX). Returns the number of gaps, naming
 * each in why (the first few). */
int ew_check_table(char *why, size_t n);
/* The helper functions the expressions call, for C (cuda = false) or CUDA. */
void ew_print_prelude(FILE *f, bool cuda);
/* One statement "T vN = expr;" computing Val v of k, T double or cplx
 * (buffers as bN; with staged, loads with a Stage read it, as sN). */
void ew_print_val(FILE *f, const Lowered *p, const Kernel *k, int v, bool staged);
/* Reduce kernels: the statement folding the result into the accumulator
 * (acc, and acc_im for c64; C lvalues). An exact product is folded as the
 * double product of its operands, so its own Val is not printed
 * (ew_val_printed). */
void ew_print_fold(FILE *f, const Kernel *k, const char *acc, const char *acc_im, const char *indent);
bool ew_val_printed(const Kernel *k, int v);
/* The f32 (or c64) element to store for a value with parts re (and im). */
void ew_print_store(FILE *f, DType dt, const char *re, const char *im);
/* The kernel's buffers as pointers into the arena A: bN for those it reads,
 * o for its output and oN for each further store. */
void print_buffer_pointers(FILE *f, const Lowered *p, const Kernel *k);
/* A map kernel's stores at one point: "o[ix] = ...;" and one per Store. */
void print_map_stores(FILE *f, const Kernel *k, const char *indent);
/* Scan kernels, the same in both renderers: an offset expression base +
 * var*stride; the transition coefficient at offset `ao` as doubles ar, ai;
 * the time loop (t counts down for a reverse scan). */
void scan_print_offset(FILE *f, const Ix *base, const char *var, int64_t stride);
void scan_print_load_a(FILE *f, const ScanKernel *s, const char *indent);
void scan_print_time_loop(FILE *f, const ScanKernel *s);
/* The comment block above a kernel: its nodes with their source lines. */
void print_kernel_comment(FILE *f, const Lowered *p, const Kernel *k);

/* Whole translation units, heap strings. render_cuda also gives each
 * kernel's first line (lines[k], 1-based) for mapping compiler errors. */
char *render_c(const Lowered *p);
char *render_cuda(const Lowered *p, int *lines);
/* The NVRTC options render_cuda's source is compiled with (the cuda device
 * and `cssmc compile` share them, and so the cache entries). */
extern const char *const cuda_nvrtc_options[];
extern const int cuda_nvrtc_noptions;
/* The kernel whose source contains `line` of render_cuda's output, or -1. */
int kernel_at_line(const Lowered *p, const int *lines, int line);
/* A compiler log about render_cuda's output (errors read "NAME.cu(LINE):"),
 * followed by a line naming the kernel of its first error and that kernel's
 * node and .cssm location. Heap string. */
char *cuda_log_with_kernel(const Lowered *p, const int *lines, const char *log);

#endif
