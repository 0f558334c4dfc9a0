/* builtins.c: the built-in functions of the language.
 *
 * Elementwise maths (computed statically on static numbers), reductions over
 * named axes, FFTs (2-D and 1-D), circ and solve, layout (pad, flip, concat,
 * chunk, split_dim, merge_dims, as_complex, as_real, eye, prime), iota,
 * attention, pooling, and the static helpers (len, int, float). Layers with parameters are in layers.c. Each built-in
 * checks its arguments and reports mistakes at the argument. */
#include "build.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef Value (*BuiltinFn)(Builder *b, Args *a);

static Graph *G(Builder *b) { return b->g; }
static const Shape *shp(Builder *b, int node) { return &node_at(b->g, node)->shape; }

Value arg_get(Args *a, const char *name, int pos)
{
    for (int i = 0; i < a->n; i++)
        if (a->name[i] && name && !strcmp(a->name[i], name)) return a->v[i];
    int k = 0;
    for (int i = 0; i < a->n; i++)
        if (!a->name[i] && k++ == pos) return a->v[i];
    return v_none();
}

Loc arg_loc(Args *a, const char *name, int pos)
{
    for (int i = 0; i < a->n; i++)
        if (a->name[i] && name && !strcmp(a->name[i], name)) return a->loc[i];
    int k = 0;
    for (int i = 0; i < a->n; i++)
        if (!a->name[i] && k++ == pos) return a->loc[i];
    return a->call;
}

static int tensor_arg(Builder *b, Args *a, const char *name, int pos)
{
    Value v = arg_get(a, name, pos);
    if (v.kind == V_NONE) {
        diag_error(a->call, "%s needs argument %d%s%s", a->fn, pos + 1, name ? ", " : "", name ? name : "");
        return -1;
    }
    return as_tensor(b, v, arg_loc(a, name, pos), xprintf("argument %d of %s", pos + 1, a->fn));
}

/* A dim or list of dims argument, as axis positions of node. */
static int axes_arg(Builder *b, Args *a, const char *name, int pos, int node, int *axes)
{
    Value v = arg_get(a, name, pos);
    Loc l = arg_loc(a, name, pos);
    if (v.kind == V_ERROR) return -1;
    if (v.kind == V_DIM) return (axes[0] = axis_of(b, node, v, l)) < 0 ? -1 : 1;
    if (v.kind != V_LIST) {
        diag_error(l, "%s: expected a dim or a list of dims, got %s", a->fn, kind_name(v.kind));
        return -1;
    }
    for (int i = 0; i < v.n; i++)
        if ((axes[i] = axis_of(b, node, v.items[i], l)) < 0) return -1;
    return v.n;
}

static bool int_arg(Builder *b, Args *a, const char *name, int pos, int64_t dflt, int64_t *out)
{
    Value v = arg_get(a, name, pos);
    if (v.kind == V_NONE) {
        *out = dflt;
        return dflt != INT64_MIN;
    }
    if (v.kind != V_INT && v.kind != V_DIM) {
        if (v.kind != V_ERROR) diag_error(arg_loc(a, name, pos), "%s: expected an int, got %s", a->fn, kind_name(v.kind));
        return false;
    }
    *out = v.i;
    return true;
}

/* ---- elementwise ---- */

typedef struct MathFn {
    const char *name;
    OpCode op;
    double (*fold)(double);
} MathFn;

static double sigmoid_d(double x) { return 1 / (1 + exp(-x)); }
static double softplus_d(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double silu_d(double x) { return x * sigmoid_d(x); }
static double relu_d(double x) { return x > 0 ? x : 0; }
static double rsqrt_d(double x) { return 1 / sqrt(x); }

static const MathFn math_fns[] = {
    {"exp", IR_EXP, exp}, {"log", IR_LOG, log}, {"sqrt", IR_SQRT, sqrt}, {"rsqrt", IR_RSQRT, rsqrt_d},
    {"sin", IR_SIN, sin}, {"cos", IR_COS, cos}, {"tanh", IR_TANH, tanh}, {"sigmoid", IR_SIGMOID, sigmoid_d},
    {"softplus", IR_SOFTPLUS, softplus_d}, {"silu", IR_SILU, silu_d}, {"gelu", IR_GELU, NULL},
    {"relu", IR_RELU, relu_d}, {"abs", IR_ABS, fabs}, {"floor", IR_FLOOR, floor},
    {"real", IR_REAL, NULL}, {"imag", IR_IMAG, NULL}, {"conj", IR_CONJ, NULL},
};

static const MathFn *find_math(const char *name)
{
    for (size_t i = 0; i < COUNT_OF(math_fns); i++)
        if (!strcmp(math_fns[i].name, name)) return &math_fns[i];
    return NULL;
}

static Value math_call(Builder *b, Args *a)
{
    const MathFn *m = find_math(a->fn);
    Value x = arg_get(a, NULL, 0);
    if (a->n != 1) {
        diag_error(a->call, "%s takes one argument", a->fn);
        return v_error();
    }
    if (v_is_number(x) && m->fold) {
        double r = m->fold(v_number(x));
        return m->op == IR_FLOOR ? v_int((int64_t)r) : v_float(r);
    }
    int t = tensor_arg(b, a, NULL, 0);
    if (t < 0) return v_error();
    DType dt = node_at(G(b), t)->dtype;
    if (dt == DT_C64 && !(op_info[m->op].flags & OF_COMPLEX)) {
        diag_error(a->call, "%s is not defined on complex tensors", a->fn);
        return v_error();
    }
    if (dt == DT_F32 && (m->op == IR_REAL || m->op == IR_CONJ)) return v_tensor(t);
    if (dt == DT_F32 && m->op == IR_IMAG) return v_tensor(ir_const(G(b), 0, 0, DT_F32, shp(b, t), a->call));
    return v_tensor(ir_unary(G(b), m->op, t, a->call));
}

static Value fn_complex(Builder *b, Args *a)
{
    int re = tensor_arg(b, a, NULL, 0), im = tensor_arg(b, a, NULL, 1);
    if (re < 0 || im < 0) return v_error();
    char why[256];
    Shape s;
    if (node_at(G(b), re)->dtype != DT_F32 || node_at(G(b), im)->dtype != DT_F32) {
        diag_error(a->call, "complex(re, im) needs two real tensors");
        return v_error();
    }
    if (!broadcast_check(shp(b, re), shp(b, im), &s, why, sizeof why)) {
        diag_error(a->call, "complex: %s", why);
        return v_error();
    }
    return v_tensor(ir_binary(G(b), IR_COMPLEX, re, im, a->call));
}

static Value fn_where(Builder *b, Args *a)
{
    int c = tensor_arg(b, a, NULL, 0), x = tensor_arg(b, a, NULL, 1), y = tensor_arg(b, a, NULL, 2);
    if (c < 0 || x < 0 || y < 0) return v_error();
    char why[256];
    Shape s1, s;
    if (!broadcast_check(shp(b, x), shp(b, y), &s1, why, sizeof why) ||
        !broadcast_check(&s1, shp(b, c), &s, why, sizeof why)) {
        diag_error(a->call, "where: %s", why);
        return v_error();
    }
    return v_tensor(ir_where(G(b), c, x, y, a->call));
}

static Value fn_maximum(Builder *b, Args *a)
{
    Value x = arg_get(a, NULL, 0), y = arg_get(a, NULL, 1);
    if (v_is_number(x) && v_is_number(y))
        return v_number(x) >= v_number(y) ? x : y;
    int p = tensor_arg(b, a, NULL, 0), q = tensor_arg(b, a, NULL, 1);
    if (p < 0 || q < 0) return v_error();
    return v_tensor(ir_binary(G(b), strcmp(a->fn, "maximum") ? IR_MINIMUM : IR_MAXIMUM, p, q, a->call));
}

static Value fn_clip(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0), lo = tensor_arg(b, a, NULL, 1), hi = tensor_arg(b, a, NULL, 2);
    if (x < 0 || lo < 0 || hi < 0) return v_error();
    return v_tensor(ir_binary(G(b), IR_MINIMUM, ir_binary(G(b), IR_MAXIMUM, x, lo, a->call), hi, a->call));
}

/* ---- reductions ---- */

static Value reduce_call(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0), axes[MAX_RANK];
    if (x < 0) return v_error();
    int n = axes_arg(b, a, "over", 1, x, axes);
    if (n < 0) return v_error();
    uint32_t mask = 0;
    int64_t count = 1;
    for (int i = 0; i < n; i++) {
        mask |= 1u << axes[i];
        count *= shp(b, x)->size[axes[i]];
    }
    bool is_max = !strcmp(a->fn, "max");
    if (is_max && node_at(G(b), x)->dtype == DT_C64) {
        diag_error(a->call, "max over a complex tensor");
        return v_error();
    }
    int r = ir_reduce(G(b), is_max ? IR_MAX : IR_SUM, x, mask, a->call);
    if (!strcmp(a->fn, "mean")) r = ir_binary(G(b), IR_MUL, r, ir_scalar(G(b), 1.0 / (double)count, a->call), a->call);
    return v_tensor(r);
}

/* ---- FFTs ---- */

static Value fft_call(Builder *b, Args *a)
{
    bool inverse = !strcmp(a->fn, "irfft2");
    int x = tensor_arg(b, a, NULL, 0);
    if (x < 0) return v_error();
    Value H = arg_get(a, NULL, 1), W = arg_get(a, NULL, 2);
    if (H.kind != V_DIM || W.kind != V_DIM) {
        diag_error(a->call, "%s(x, H, W) needs the two spatial dims", a->fn);
        return v_error();
    }
    DType dt = node_at(G(b), x)->dtype;
    char got[256];
    if ((dt == DT_C64) != inverse) {
        describe_value(b, v_tensor(x), got, sizeof got);
        diag_error(arg_loc(a, NULL, 0), "%s expects %s, got %s", a->fn, inverse ? "a complex spectrum" : "a real tensor", got);
        if (inverse) diag_note(a->call, "did you mean rfft2(x, %s, %s)?", H.s, W.s);
        return v_error();
    }
    const char *wf = label_derived(W.s, "/2+1");
    int hpos = axis_of(b, x, H, arg_loc(a, NULL, 1));
    int wpos = inverse ? shape_find(shp(b, x), wf) : axis_of(b, x, W, arg_loc(a, NULL, 2));
    if (hpos < 0) return v_error();
    if (wpos < 0) {
        describe_value(b, v_tensor(x), got, sizeof got);
        diag_error(arg_loc(a, NULL, 0), "irfft2 expects a spectrum with an axis %s, got %s", wf, got);
        return v_error();
    }
    if (inverse) return v_tensor(ir_fft(G(b), IR_IRFFT2, x, hpos, wpos, intern(W.s), W.i, a->call));
    return v_tensor(ir_fft(G(b), IR_RFFT2, x, hpos, wpos, wf, W.i / 2 + 1, a->call));
}

/* rfft(x, A), irfft(X, A): the 1-D transforms along axis A (S4ND, spec
 * §2.2: numpy's rfft and irfft with n = size(A)). They are the 2-D ops over
 * A and a size-1 axis, which is exact: a length-1 DFT is the identity, and
 * irfft2 then scales by 1/size(A) and ignores Im of the DC and Nyquist
 * columns as numpy's irfft does. */
static int with_unit_axis(Builder *b, int x, int at, Loc loc)
{
    Shape s = *shp(b, x);
    if (s.rank == MAX_RANK) return -1;
    for (int i = s.rank; i > at; i--) s.label[i] = s.label[i - 1], s.size[i] = s.size[i - 1];
    s.label[at] = intern("#one"), s.size[at] = 1, s.rank++;
    return ir_reshape(G(b), x, &s, loc);
}

static Value fft1_call(Builder *b, Args *a)
{
    bool inverse = !strcmp(a->fn, "irfft");
    int x = tensor_arg(b, a, NULL, 0);
    Value A = arg_get(a, NULL, 1);
    if (x < 0) return v_error();
    if (A.kind != V_DIM || (node_at(G(b), x)->dtype == DT_C64) != inverse) {
        diag_error(a->call, "%s(x, A) needs %s tensor and the transformed dim", a->fn, inverse ? "a complex" : "a real");
        return v_error();
    }
    const char *af = label_derived(A.s, "/2+1");
    int k = inverse ? shape_find(shp(b, x), af) : axis_of(b, x, A, arg_loc(a, NULL, 1));
    if (k < 0) {
        if (inverse) diag_error(arg_loc(a, NULL, 0), "irfft expects a spectrum with an axis %s", af);
        return v_error();
    }
    int x1 = with_unit_axis(b, x, k, a->call);
    if (x1 < 0) return v_error();
    int y = inverse ? ir_fft(G(b), IR_IRFFT2, x1, k, k + 1, intern(A.s), A.i, a->call)
                    : ir_fft(G(b), IR_RFFT2, x1, k, k + 1, af, A.i / 2 + 1, a->call);
    Shape out = *shp(b, x);
    out.label[k] = inverse ? intern(A.s) : af;
    out.size[k] = inverse ? A.i : A.i / 2 + 1;
    return v_tensor(ir_reshape(G(b), y, &out, a->call));
}

/* circ(x, k, H, W): the real-space circular depthwise correlation of spec
 * §3.14, y[i,j] = sum_ab k[a,b] x[(i+a+1)%H, (j+b+1)%W], other axes
 * broadcast by label (ops.def CIRC); convolve = true reads x[(i-a-1)%H, ...]
 * (the op's reverse map), which composes two correlations:
 * circ(circ(x, k1), k2) = circ(x, circ(k2, k1, convolve = true)). */
static Value fn_circ(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0), k = tensor_arg(b, a, NULL, 1);
    Value H = arg_get(a, NULL, 2), W = arg_get(a, NULL, 3), rev = arg_get(a, "convolve", 4);
    if (x < 0 || k < 0) return v_error();
    if (rev.kind != V_NONE && rev.kind != V_BOOL) {
        diag_error(arg_loc(a, "convolve", 4), "circ: convolve must be true or false");
        return v_error();
    }
    if (H.kind != V_DIM || W.kind != V_DIM) {
        diag_error(a->call, "circ(x, k, H, W) needs the two spatial dims");
        return v_error();
    }
    for (int i = 0; i < 2; i++) {
        int t = i ? k : x;
        if (node_at(G(b), t)->dtype != DT_F32) {
            diag_error(arg_loc(a, NULL, i), "circ works on real tensors");
            return v_error();
        }
        if (axis_of(b, t, H, arg_loc(a, NULL, i)) < 0 || axis_of(b, t, W, arg_loc(a, NULL, i)) < 0) return v_error();
    }
    char why[256];
    Shape s;
    if (!broadcast_check(shp(b, x), shp(b, k), &s, why, sizeof why)) {
        diag_error(a->call, "circ: %s", why);
        return v_error();
    }
    return v_tensor(ir_circ(G(b), x, k, intern(H.s), intern(W.s), rev.kind == V_BOOL && rev.i, a->call));
}

/* roll(x, n, A): numpy's roll along A, y[i] = x[(i - n) mod size(A)]: two
 * slices joined (exact, differentiable as slices and a concat are). */
static Value fn_roll(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0);
    int64_t n;
    if (x < 0 || !int_arg(b, a, NULL, 1, INT64_MIN, &n)) return v_error();
    int k = axis_of(b, x, arg_get(a, NULL, 2), arg_loc(a, NULL, 2));
    if (k < 0) return v_error();
    int64_t size = shp(b, x)->size[k], s = ((n % size) + size) % size;
    if (s == 0) return v_tensor(x);
    const char *label = shp(b, x)->label[k], *tail = intern("#roll");
    int head = ir_slice(G(b), x, k, size - s, s, 1, false, a->call);
    int rest = ir_relabel(G(b), ir_slice(G(b), x, k, 0, size - s, 1, false, a->call), k, tail, a->call);
    return v_tensor(ir_concat(G(b), head, rest, k, label, a->call));
}

/* The (X, X') pair of a matrix argument, reported at the argument. */
static bool matrix_axes(Builder *b, Args *a, int m, const char **row, const char **col)
{
    const Shape *s = shp(b, m);
    int found = 0;
    for (int i = 0; i < s->rank; i++) {
        const char *p = label_derived(s->label[i], "'");
        if (shape_find(s, p) >= 0) *row = s->label[i], *col = p, found++;
    }
    if (found == 1) return true;
    diag_error(arg_loc(a, NULL, 0), "%s needs a matrix with one axis X and its column X' (eye(X), prime(x, X))", a->fn);
    return false;
}

/* A^-1 r with r lacking the column label. */
static Value solve_vector(Builder *b, Args *a, int A, int r, const char *row, const char *col)
{
    Shape as = *shp(b, A), want;
    char why[256];
    int c = shape_find(&as, col);
    for (int i = c; i < as.rank - 1; i++) as.label[i] = as.label[i + 1], as.size[i] = as.size[i + 1];
    as.rank--;
    if (!broadcast_check(shp(b, r), &as, &want, why, sizeof why)) {
        diag_error(a->call, "solve: %s", why);
        return v_error();
    }
    return v_tensor(ir_solve(G(b), A, ir_broadcast(G(b), r, &want, a->call), row, col, a->call));
}

/* solve(A, b): x with sum_j A[.., X, j] x[j] = b[.., X], j the column X'
 * (the primed-label convention of '@'); other axes batch (ops.def SOLVE).
 * A matrix b[.., X, X'] gives A^-1 b: its columns are systems of their own. */
static Value fn_solve(Builder *b, Args *a)
{
    int A = tensor_arg(b, a, NULL, 0), r = tensor_arg(b, a, NULL, 1);
    const char *row, *col, *rhs = intern("#rhs");
    if (A < 0 || r < 0 || !matrix_axes(b, a, A, &row, &col)) return v_error();
    if (shape_find(shp(b, r), row) < 0) {
        diag_error(arg_loc(a, NULL, 1), "solve: the right-hand side needs the axis %s", row);
        return v_error();
    }
    int cpos = shape_find(shp(b, r), col);
    if (cpos < 0) return solve_vector(b, a, A, r, row, col);
    Value v = solve_vector(b, a, A, ir_relabel(G(b), r, cpos, rhs, a->call), row, col);
    if (v.kind != V_TENSOR) return v;
    return v_tensor(ir_relabel(G(b), v.node, shape_find(shp(b, v.node), rhs), col, a->call));
}

/* eye(X): the identity f32[X, X']; prime(x, X): axis X relabelled X'. With
 * outer, these are the matrix forms that '@' and solve read. */
static Value fn_eye(Builder *b, Args *a)
{
    Value X = arg_get(a, NULL, 0);
    if (X.kind != V_DIM) {
        if (X.kind != V_ERROR) diag_error(a->call, "eye(X) needs a dim");
        return v_error();
    }
    Shape r = {.rank = 1, .label = {intern(X.s)}, .size = {X.i}};
    Shape c = {.rank = 1, .label = {label_derived(X.s, "'")}, .size = {X.i}};
    int i = ir_add(G(b), IR_IOTA, DT_F32, &r, NULL, 0, NULL, a->call), j = ir_add(G(b), IR_IOTA, DT_F32, &c, NULL, 0, NULL, a->call);
    return v_tensor(ir_binary(G(b), IR_EQ, i, j, a->call));
}

/* outer(u, v, X): u[.., X] v[.., X'] (v's X relabelled), the matrix u_i v_j.
 * No conjugation; an outer product over related labels is meant here. */
static Value fn_outer(Builder *b, Args *a)
{
    int u = tensor_arg(b, a, NULL, 0), v = tensor_arg(b, a, NULL, 1);
    Value X = arg_get(a, NULL, 2);
    if (u < 0 || v < 0 || axis_of(b, u, X, arg_loc(a, NULL, 0)) < 0) return v_error();
    int k = axis_of(b, v, X, arg_loc(a, NULL, 1));
    if (k < 0) return v_error();
    const char *p = label_derived(intern(X.s), "'");
    char why[256];
    Shape s;
    v = ir_relabel(G(b), v, k, p, a->call);
    if (shape_find(shp(b, u), p) >= 0 || !broadcast_check(shp(b, u), shp(b, v), &s, why, sizeof why)) {
        diag_error(a->call, "outer: the operands do not combine over %s and %s", X.s, p);
        return v_error();
    }
    return v_tensor(ir_binary(G(b), IR_MUL, u, v, a->call));
}

static Value fn_prime(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0);
    Value X = arg_get(a, NULL, 1);
    if (x < 0) return v_error();
    int k = axis_of(b, x, X, arg_loc(a, NULL, 1));
    if (k < 0) return v_error();
    const char *p = label_derived(shp(b, x)->label[k], "'");
    if (shape_find(shp(b, x), p) >= 0) {
        diag_error(a->call, "prime: the tensor already has an axis %s", p);
        return v_error();
    }
    return v_tensor(ir_relabel(G(b), x, k, p, a->call));
}

/* ---- layout ---- */

static bool pair_list(Value v, int64_t *lo, int64_t *hi)
{
    if (v.kind != V_LIST || v.n != 2 || !v_is_number(v.items[0]) || !v_is_number(v.items[1])) return false;
    *lo = (int64_t)v_number(v.items[0]);
    *hi = (int64_t)v_number(v.items[1]);
    return true;
}

static Value fn_pad(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0);
    Value p = arg_get(a, NULL, 1);
    if (x < 0) return v_error();
    if (p.kind != V_LIST || p.n != shp(b, x)->rank) {
        diag_error(arg_loc(a, NULL, 1), "pad(x, [[lo, hi], ...]) needs one [lo, hi] per axis (%d)", shp(b, x)->rank);
        return v_error();
    }
    for (int k = 0; k < p.n; k++) {
        int64_t lo, hi;
        if (!pair_list(p.items[k], &lo, &hi) || lo < 0 || hi < 0) {
            diag_error(arg_loc(a, NULL, 1), "pad: entry %d must be [lo, hi] with non-negative ints", k + 1);
            return v_error();
        }
        x = ir_pad(G(b), x, k, lo, hi, a->call);
    }
    return v_tensor(x);
}

static Value fn_flip(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0), ax[1];
    if (x < 0 || axes_arg(b, a, NULL, 1, x, ax) != 1) return v_error();
    return v_tensor(ir_flip(G(b), x, ax[0], a->call));
}

/* Each operand broadcast to the other's axes but the joined ones (a
 * parameter without the batch axis joins a batch of frames). */
static bool concat_broadcast(Builder *b, Args *a, int *x, int *y, int *ka, int *kb)
{
    Shape sa = *shp(b, *x), sb = *shp(b, *y), ja, jb;
    const char *la = sa.label[*ka], *lb = sb.label[*kb];
    char why[256];
    sa.label[*ka] = sb.label[*kb] = intern("#cat");
    int64_t na = sa.size[*ka], nb = sb.size[*kb];
    sa.size[*ka] = sb.size[*kb] = 1;
    if (!broadcast_check(&sa, &sb, &ja, why, sizeof why) || !broadcast_check(&sb, &sa, &jb, why, sizeof why)) {
        diag_error(a->call, "concat: %s", why);
        return false;
    }
    int pa = shape_find(&ja, intern("#cat")), pb = shape_find(&jb, intern("#cat"));
    ja.label[pa] = la, ja.size[pa] = na;
    jb.label[pb] = lb, jb.size[pb] = nb;
    *x = ir_broadcast(G(b), *x, &ja, a->call), *y = ir_broadcast(G(b), *y, &jb, a->call);
    *ka = pa, *kb = pb;
    return true;
}

static Value fn_concat(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0), y = tensor_arg(b, a, NULL, 1);
    Value axes = arg_get(a, NULL, 2);
    if (x < 0 || y < 0) return v_error();
    if (axes.kind != V_LIST || axes.n != 2) {
        diag_error(arg_loc(a, NULL, 2), "concat(a, b, [A, B]) names the joined axis of each");
        return v_error();
    }
    int ka = axis_of(b, x, axes.items[0], a->call), kb = axis_of(b, y, axes.items[1], a->call);
    if (ka < 0 || kb < 0) return v_error();
    if (!concat_broadcast(b, a, &x, &y, &ka, &kb)) return v_error();
    Shape sa = *shp(b, x), sb = *shp(b, y);
    sa.label[ka] = sb.label[kb] = intern("#cat");
    int64_t nb = sb.size[kb];
    sb.size[kb] = sa.size[ka];
    if (!shape_same_axes(&sa, &sb)) {
        diag_error(a->call, "concat: the operands must agree on every other axis");
        return v_error();
    }
    y = ir_relabel(G(b), y, kb, sb.label[kb], a->call);
    x = ir_relabel(G(b), x, ka, sa.label[ka], a->call);
    Shape want = *shp(b, x);
    want.size[ka] = nb;
    y = ir_permute(G(b), y, &want, a->call);
    const char *label = intern(xprintf("%s+%s", axes.items[0].s, axes.items[1].s));
    return v_tensor(ir_concat(G(b), x, y, ka, label, a->call));
}

/* The label of one of n equal parts of an axis labelled `label`. */
static const char *part_label(const char *label, int64_t n)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%lld*", (long long)n);
    size_t k = strlen(prefix);
    if (!strncmp(label, prefix, k)) return intern(label + k);
    return intern(xprintf("%s/%lld", label, (long long)n));
}

static Value fn_chunk(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0);
    int64_t n;
    if (x < 0 || !int_arg(b, a, NULL, 1, INT64_MIN, &n)) return v_error();
    const Shape *s = shp(b, x);
    int k = s->rank - 1;
    if (n < 1 || k < 0 || s->size[k] % n) {
        diag_error(a->call, "chunk: the last axis (%s = %lld) does not split into %lld parts", k >= 0 ? s->label[k] : "-",
                   k >= 0 ? (long long)s->size[k] : 0LL, (long long)n);
        return v_error();
    }
    int64_t part = s->size[k] / n;
    const char *label = part_label(s->label[k], n);
    Value items[MAX_ARGS];
    if (n > MAX_ARGS) {
        diag_error(a->call, "chunk into more than %d parts", MAX_ARGS);
        return v_error();
    }
    for (int64_t i = 0; i < n; i++) {
        int p = ir_slice(G(b), x, k, i * part, part, 1, false, a->call);
        items[i] = v_tensor(ir_relabel(G(b), p, k, label, a->call));
    }
    return v_tuple(items, (int)n);
}

/* split_dim(x, C -> [nh, d]): axis C becomes nh then d, row-major. */
static Value fn_split_dim(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0);
    Value m = arg_get(a, NULL, 1);
    if (x < 0) return v_error();
    if (m.kind != V_DIMMAP || m.items[1].kind != V_LIST) {
        diag_error(arg_loc(a, NULL, 1), "split_dim(x, C -> [a, b]) needs a dim map to a list of dims");
        return v_error();
    }
    int k = axis_of(b, x, m.items[0], a->call);
    if (k < 0) return v_error();
    Shape s = *shp(b, x), out = {0};
    Value parts = m.items[1];
    int64_t prod = 1;
    for (int i = 0; i < parts.n; i++) prod *= parts.items[i].i;
    if (prod != s.size[k] || s.rank + parts.n - 1 > MAX_RANK) {
        diag_error(a->call, "split_dim: %s = %lld does not split into sizes with product %lld", s.label[k],
                   (long long)s.size[k], (long long)prod);
        return v_error();
    }
    for (int i = 0; i < s.rank; i++) {
        if (i != k) {
            out.label[out.rank] = s.label[i];
            out.size[out.rank++] = s.size[i];
            continue;
        }
        for (int j = 0; j < parts.n; j++) {
            out.label[out.rank] = intern(parts.items[j].s);
            out.size[out.rank++] = parts.items[j].i;
        }
    }
    return v_tensor(ir_reshape(G(b), x, &out, a->call));
}

/* merge_dims(x, [nh, d] -> C): the listed axes, moved together in that order,
 * become one axis (row-major). */
static Value fn_merge_dims(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0);
    Value m = arg_get(a, NULL, 1);
    if (x < 0) return v_error();
    if (m.kind != V_DIMMAP || m.items[0].kind != V_LIST || m.items[1].kind != V_DIM) {
        diag_error(arg_loc(a, NULL, 1), "merge_dims(x, [a, b] -> C) needs a dim map from a list of dims");
        return v_error();
    }
    Value parts = m.items[0];
    int ks[MAX_RANK];
    for (int i = 0; i < parts.n; i++)
        if ((ks[i] = axis_of(b, x, parts.items[i], a->call)) < 0) return v_error();
    const Shape *s = shp(b, x);
    Shape perm = {0}, out = {0};
    int64_t size = 1;
    for (int i = 0; i < s->rank; i++) {
        bool merged = false;
        for (int j = 0; j < parts.n; j++) merged |= ks[j] == i;
        if (merged && i != ks[0]) continue;
        if (!merged) {
            perm.label[perm.rank] = out.label[out.rank] = s->label[i];
            perm.size[perm.rank++] = out.size[out.rank++] = s->size[i];
            continue;
        }
        for (int j = 0; j < parts.n; j++) {
            perm.label[perm.rank] = s->label[ks[j]];
            perm.size[perm.rank++] = s->size[ks[j]];
            size *= s->size[ks[j]];
        }
        out.label[out.rank] = intern(m.items[1].s);
        out.size[out.rank++] = size;
    }
    if (size != m.items[1].i) {
        diag_error(a->call, "merge_dims: the merged size %lld is not %s = %lld", (long long)size, m.items[1].s,
                   (long long)m.items[1].i);
        return v_error();
    }
    return v_tensor(ir_reshape(G(b), ir_permute(G(b), x, &perm, a->call), &out, a->call));
}

/* as_complex(x, C): channel pairs (2p, 2p+1) become complex p, on an axis
 * labelled C/2. as_real(z, C) is the inverse. */
static Value fn_as_complex(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0);
    Value C = arg_get(a, NULL, 1);
    if (x < 0) return v_error();
    int k = axis_of(b, x, C, arg_loc(a, NULL, 1));
    if (k < 0) return v_error();
    if (C.i % 2) {
        diag_error(a->call, "as_complex: %s = %lld is odd", C.s, (long long)C.i);
        return v_error();
    }
    Shape s = *shp(b, x);
    if (s.rank == MAX_RANK) return v_error();
    for (int i = s.rank; i > k + 1; i--) {
        s.label[i] = s.label[i - 1];
        s.size[i] = s.size[i - 1];
    }
    s.label[k] = label_derived(C.s, "/2");
    s.size[k] = C.i / 2;
    s.label[k + 1] = intern("#pair");
    s.size[k + 1] = 2;
    s.rank++;
    int r = ir_reshape(G(b), x, &s, a->call);
    int re = ir_slice(G(b), r, k + 1, 0, 1, 1, true, a->call), im = ir_slice(G(b), r, k + 1, 1, 1, 1, true, a->call);
    return v_tensor(ir_binary(G(b), IR_COMPLEX, re, im, a->call));
}

static Value fn_as_real(Builder *b, Args *a)
{
    int z = tensor_arg(b, a, NULL, 0);
    Value C = arg_get(a, NULL, 1);
    if (z < 0 || C.kind != V_DIM) {
        if (z >= 0) diag_error(arg_loc(a, NULL, 1), "as_real(z, C) needs the channel dim");
        return v_error();
    }
    int k = shape_find(shp(b, z), label_derived(C.s, "/2"));
    if (k < 0 || node_at(G(b), z)->dtype != DT_C64) {
        diag_error(a->call, "as_real expects a complex tensor with an axis %s/2", C.s);
        return v_error();
    }
    int parts[2] = {ir_unary(G(b), IR_REAL, z, a->call), ir_unary(G(b), IR_IMAG, z, a->call)};
    int st = ir_stack(G(b), parts, 2, k + 1, intern("#pair"), a->call);
    Shape s = *shp(b, z), out = {0};
    for (int i = 0; i < s.rank; i++) {
        out.label[out.rank] = i == k ? intern(C.s) : s.label[i];
        out.size[out.rank++] = i == k ? C.i : s.size[i];
    }
    return v_tensor(ir_reshape(G(b), st, &out, a->call));
}

/* interleave([y0, ..., yn-1], C): channel-major interleaving of n tensors
 * with an axis C into one axis n*C whose channel c*n + s is y_s's channel c. */
static Value fn_interleave(Builder *b, Args *a)
{
    Value list = arg_get(a, NULL, 0), C = arg_get(a, NULL, 1);
    if (list.kind != V_LIST || list.n < 1 || list.n > MAX_ARGS || C.kind != V_DIM) {
        diag_error(a->call, "interleave([a, b, ...], C) needs a list of tensors and the channel dim");
        return v_error();
    }
    int parts[MAX_ARGS];
    for (int i = 0; i < list.n; i++)
        if ((parts[i] = as_tensor(b, list.items[i], a->call, "an interleaved tensor")) < 0) return v_error();
    int k = axis_of(b, parts[0], C, a->call);
    if (k < 0) return v_error();
    Shape all = *shp(b, parts[0]);
    char why[256];
    for (int i = 1; i < list.n; i++) {
        Shape t;
        if (!broadcast_check(&all, shp(b, parts[i]), &t, why, sizeof why)) {
            diag_error(a->call, "interleave: %s", why);
            return v_error();
        }
        all = t;
    }
    for (int i = 0; i < list.n; i++) parts[i] = ir_broadcast(G(b), parts[i], &all, a->call);
    k = shape_find(&all, intern(C.s));
    int st = ir_stack(G(b), parts, list.n, k + 1, intern("#part"), a->call);
    Shape out = *shp(b, parts[0]);
    out.label[k] = intern(xprintf("%d*%s", list.n, C.s));
    out.size[k] = C.i * list.n;
    return v_tensor(ir_reshape(G(b), st, &out, a->call));
}

static Value fn_arange(Builder *b, Args *a)
{
    Value n = arg_get(a, NULL, 0);
    if (n.kind != V_DIM && n.kind != V_INT) {
        if (n.kind != V_ERROR) diag_error(a->call, "arange(n) needs a dim or an int");
        return v_error();
    }
    Shape s = {.rank = 1};
    s.label[0] = intern(n.kind == V_DIM ? n.s : xprintf("%lld", (long long)n.i));
    s.size[0] = n.i;
    return v_tensor(ir_add(G(b), IR_IOTA, DT_F32, &s, NULL, 0, NULL, a->call));
}

/* ---- attention and pooling ---- */

/* softmax over the axes in mask, stabilised by the maximum. */
static int softmax(Builder *b, int x, uint32_t mask, Loc l)
{
    Shape xs = *shp(b, x);
    int m = ir_broadcast(G(b), ir_reduce(G(b), IR_MAX, x, mask, l), &xs, l);
    int e = ir_unary(G(b), IR_EXP, ir_binary(G(b), IR_SUB, x, m, l), l);
    return ir_binary(G(b), IR_DIV, e, ir_reduce(G(b), IR_SUM, e, mask, l), l);
}

/* attention(q, k, v, heads, over): multi-head softmax(q k^T / sqrt(d)) v
 * with the tokens spanning the axes `over`; the channel axis (last) splits
 * into (heads, d). Keys are the same axes relabelled with a prime. */
static Value fn_attention(Builder *b, Args *a)
{
    int q = tensor_arg(b, a, NULL, 0), k = tensor_arg(b, a, NULL, 1), v = tensor_arg(b, a, NULL, 2), over[MAX_RANK];
    int64_t heads;
    if (q < 0 || k < 0 || v < 0 || !int_arg(b, a, "heads", 3, INT64_MIN, &heads)) return v_error();
    int nover = axes_arg(b, a, "over", 4, q, over);
    if (nover < 0) return v_error();
    const Shape qs = *shp(b, q);
    int c = qs.rank - 1;
    if (qs.size[c] % heads) {
        diag_error(a->call, "attention: %s = %lld is not divisible by heads = %lld", qs.label[c], (long long)qs.size[c], (long long)heads);
        return v_error();
    }
    Loc l = a->call;
    Shape split = qs;
    if (split.rank == MAX_RANK) return v_error();
    split.label[c] = intern("#head");
    split.size[c] = heads;
    split.label[c + 1] = intern("#hd");
    split.size[c + 1] = qs.size[c] / heads;
    split.rank++;
    q = ir_reshape(G(b), q, &split, l);
    k = ir_reshape(G(b), k, &split, l);
    v = ir_reshape(G(b), v, &split, l);
    for (int i = 0; i < nover; i++) {
        const char *key = label_derived(qs.label[over[i]], "'");
        k = ir_relabel(G(b), k, over[i], key, l);
        v = ir_relabel(G(b), v, over[i], key, l);
    }
    const char *hd = intern("#hd");
    int scores = ir_contract(G(b), q, k, &hd, 1, l);
    scores = ir_binary(G(b), IR_MUL, scores, ir_scalar(G(b), 1 / sqrt((double)split.size[c + 1]), l), l);
    uint32_t mask = 0;
    for (int i = 0; i < nover; i++) mask |= 1u << shape_find(shp(b, scores), shp(b, k)->label[over[i]]);
    int p = softmax(b, scores, mask, l);
    const char *keys[MAX_RANK];
    for (int i = 0; i < nover; i++) keys[i] = shp(b, k)->label[over[i]];
    int o = ir_contract(G(b), p, v, keys, nover, l);
    o = ir_permute(G(b), o, &split, l);
    return v_tensor(ir_reshape(G(b), o, &qs, l));
}

static Value fn_max_pool(Builder *b, Args *a)
{
    int x = tensor_arg(b, a, NULL, 0), ax[MAX_RANK];
    int64_t win;
    if (x < 0 || !int_arg(b, a, "size", 1, 2, &win)) return v_error();
    if (win != 2) {
        diag_error(arg_loc(a, "size", 1), "max_pool supports 2x2 windows (stride 2), got %lld", (long long)win);
        return v_error();
    }
    if (axes_arg(b, a, "over", 2, x, ax) != 2) {
        diag_error(a->call, "max_pool(x, 2, over = [H, W]) pools two axes");
        return v_error();
    }
    Shape s = *shp(b, x);
    for (int i = 0; i < 2; i++) {
        s.size[ax[i]] = (s.size[ax[i]] + 1) / 2;
        s.label[ax[i]] = label_derived(s.label[ax[i]], "/2");
    }
    Attr at = {.ax = {ax[0], ax[1]}};
    return v_tensor(ir_add(G(b), IR_MAXPOOL2, DT_F32, &s, &x, 1, &at, a->call));
}

/* drop_path(x, rate, per = [axes]): stochastic depth. Outside training,
 * or at rate 0, x itself. In the training graph every point of the `per`
 * axes (a sample, a frame) is kept with probability keep = 1 - rate and
 * scaled by 1/keep, else zeroed, as timm/Flax DropPath: the mask is
 * floor(keep + u) / keep with u ~ U[0, 1) a random input ("rng.drop_path.N")
 * that the trainer draws anew each step. */
static Value fn_drop_path(Builder *b, Args *a)
{
    Value rate = arg_get(a, "rate", 1);
    if (!v_is_number(rate)) {
        diag_error(arg_loc(a, "rate", 1), "drop_path needs a static rate");
        return v_error();
    }
    double r = v_number(rate);
    if (!(r >= 0 && r < 1)) {
        diag_error(arg_loc(a, "rate", 1), "drop_path: the rate must be in [0, 1), got %g", r);
        return v_error();
    }
    int xn = tensor_arg(b, a, NULL, 0);
    if (xn < 0) return v_error();
    int axes[MAX_RANK];
    int n = arg_get(a, "per", 2).kind == V_NONE ? 0 : axes_arg(b, a, "per", 2, xn, axes);
    if (n < 0) return v_error();
    if (n == 0) {
        diag_error(a->call, "drop_path(x, rate, per = [B, ...]) needs the axes one draw covers");
        return v_error();
    }
    if (r == 0 || !b->mode.training) return v_tensor(xn);
    const Shape *xs = shp(b, xn);
    Shape us = {.rank = n};
    for (int i = 0; i < n; i++) us.label[i] = xs->label[axes[i]], us.size[i] = xs->size[axes[i]];
    Attr at = {.index = G(b)->inputs.len};
    int u = ir_add(G(b), IR_INPUT, DT_F32, &us, NULL, 0, &at, a->call);
    int ndrop = 0;
    for (int i = 0; i < G(b)->inputs.len; i++) ndrop += input_is_random(&G(b)->inputs.data[i]);
    Input in = {intern(xprintf(RANDOM_INPUT_PREFIX "drop_path.%d", ndrop)), u};
    vec_push(&G(b)->inputs, in);
    double keep = 1 - r;
    int kept = ir_unary(G(b), IR_FLOOR, ir_binary(G(b), IR_ADD, u, ir_scalar(G(b), keep, a->call), a->call), a->call);
    int mask = ir_binary(G(b), IR_MUL, kept, ir_scalar(G(b), 1 / keep, a->call), a->call);
    return v_tensor(ir_binary(G(b), IR_MUL, xn, ir_broadcast(G(b), mask, xs, a->call), a->call));
}

/* ---- static helpers ---- */

static Value fn_len(Builder *b, Args *a)
{
    Value v = arg_get(a, NULL, 0);
    if (v.kind != V_LIST) {
        if (v.kind != V_ERROR) diag_error(a->call, "len needs a list, got %s", kind_name(v.kind));
        return v_error();
    }
    return v_int(v.n);
}

static Value fn_int(Builder *b, Args *a)
{
    Value v = arg_get(a, NULL, 0);
    if (!v_is_number(v)) {
        if (v.kind != V_ERROR) diag_error(a->call, "int needs a number, got %s", kind_name(v.kind));
        return v_error();
    }
    return v_int((int64_t)v_number(v));
}

static Value fn_float(Builder *b, Args *a)
{
    Value v = arg_get(a, NULL, 0);
    if (!v_is_number(v)) {
        if (v.kind != V_ERROR) diag_error(a->call, "float needs a number, got %s", kind_name(v.kind));
        return v_error();
    }
    return v_float(v_number(v));
}

typedef struct Builtin {
    const char *name;
    BuiltinFn fn;
} Builtin;

static const Builtin builtins[] = {
    {"complex", fn_complex}, {"where", fn_where}, {"maximum", fn_maximum}, {"minimum", fn_maximum},
    {"clip", fn_clip}, {"sum", reduce_call}, {"mean", reduce_call}, {"max", reduce_call},
    {"rfft2", fft_call}, {"irfft2", fft_call}, {"pad", fn_pad}, {"flip", fn_flip}, {"concat", fn_concat},
    {"chunk", fn_chunk}, {"split_dim", fn_split_dim}, {"merge_dims", fn_merge_dims},
    {"as_complex", fn_as_complex}, {"as_real", fn_as_real}, {"interleave", fn_interleave}, {"arange", fn_arange},
    {"attention", fn_attention}, {"max_pool", fn_max_pool}, {"drop_path", fn_drop_path},
    {"len", fn_len}, {"int", fn_int}, {"float", fn_float},
    {"rfft", fft1_call}, {"irfft", fft1_call}, {"circ", fn_circ}, {"solve", fn_solve}, {"eye", fn_eye},
    {"prime", fn_prime}, {"outer", fn_outer}, {"roll", fn_roll},
};

static BuiltinFn find_builtin(const char *name)
{
    if (find_math(name)) return math_call;
    for (size_t i = 0; i < COUNT_OF(builtins); i++)
        if (!strcmp(builtins[i].name, name)) return builtins[i].fn;
    return NULL;
}

bool is_builtin(const char *name) { return find_builtin(name) != NULL; }

Value call_builtin(Builder *b, Inst *in, Scope *s, const char *name, Expr *call)
{
    Args a = {.fn = name, .call = call->loc};
    if (call->args.len > MAX_ARGS) {
        diag_error(call->loc, "too many arguments to %s", name);
        return v_error();
    }
    for (int i = 0; i < call->args.len; i++) {
        Arg *arg = &call->args.data[i];
        a.v[a.n] = eval(b, in, s, arg->value);
        if (a.v[a.n].kind == V_ERROR) return v_error();
        if (a.v[a.n].kind == V_AFFINE) return affine_escape(a.v[a.n]);
        a.name[a.n] = arg->name;
        a.loc[a.n++] = arg->value->loc;
    }
    return find_builtin(name)(b, &a);
}
