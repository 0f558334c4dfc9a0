/* ref_ew.c: elementwise ops, reductions and contraction, all by axis label.
 *
 * Elementwise: for each result index, operand k's element is the one whose
 * coordinates agree with the result's on the operand's labels (operand labels
 * are a subset of the result's, with equal sizes), so broadcasting and axis
 * order come from the shapes alone. An op is evaluated in the complex domain
 * when the result or any operand is c64 (real operands then read as x + 0i),
 * with C99 <complex.h> arithmetic; otherwise in double.
 *
 * Reductions fold the axes of attr.mask away, keeping the others in order.
 * CONTRACT is einsum by label over the space (result axes, then summed axes
 * of a, then summed axes of b). Sums accumulate in double, in row-major order
 * of the operand (reductions) or of the space (contraction). */
#include "ref_ops.h"

#include <complex.h>
#include <math.h>

/* One exp for either sign: e = exp(-|x|) is exp(-x) for x >= 0 and exp(x) below. */
static double sigmoid(double x)
{
    double e = exp(-fabs(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/* log(1 + e^x) without overflow for large x or loss for very negative x. */
static double softplus(double x) { return fmax(x, 0) + log1p(exp(-fabs(x))); }

static const double GELU_K = 0.7978845608028654; /* sqrt(2/pi) */

static double gelu_tanh(double x) { return 0.5 * x * (1 + tanh(GELU_K * (x + 0.044715 * x * x * x))); }

/* d/dx of gelu_tanh: 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x), t = tanh u(x). */
static double gelu_tanh_d(double x)
{
    double t = tanh(GELU_K * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * x * x);
}

/* a, b, p are the operands in order (WHERE: condition, then, else). */
static double ew_real(const RefCall *c, double a, double b, double p)
{
    switch (c->n->op) {
    case IR_NEG: return -a;
    case IR_EXP: return exp(a);
    case IR_LOG: return log(a);
    case IR_SQRT: return sqrt(a);
    case IR_RSQRT: return 1 / sqrt(a);
    case IR_SIN: return sin(a);
    case IR_COS: return cos(a);
    case IR_TANH: return tanh(a);
    case IR_SIGMOID: return sigmoid(a);
    case IR_SOFTPLUS: return softplus(a);
    case IR_SILU: return a * sigmoid(a);
    case IR_GELU: return gelu_tanh(a);
    case IR_GELU_D: return gelu_tanh_d(a);
    case IR_RELU: return a > 0 || a != a ? a : 0;   /* NaN propagates, as XLA's max */
    case IR_FLOOR: return floor(a);
    case IR_ABS: return fabs(a);
    case IR_REAL: case IR_CONJ: return a;
    case IR_IMAG: return 0;
    case IR_ADD: return a + b;
    case IR_SUB: return a - b;
    case IR_MUL: return a * b;
    case IR_DIV: return a / b;
    case IR_POW: return pow(a, b);
    case IR_MAXIMUM: return max_first(a, b);
    case IR_MINIMUM: return a != a || b >= a ? a : b;
    case IR_MOD: return a - b * floor(a / b);
    case IR_LT: return a < b;
    case IR_LE: return a <= b;
    case IR_GT: return a > b;
    case IR_GE: return a >= b;
    case IR_EQ: return a == b;
    case IR_NE: return a != b;
    case IR_WHERE: return a != 0 ? b : p;
    default: call_ice(c, "not an elementwise op on f32");
    }
}

/* Ops with a real result (abs, real, imag) return it as the real part. */
static double complex ew_complex(const RefCall *c, double complex a, double complex b, double complex p)
{
    switch (c->n->op) {
    case IR_NEG: return -a;
    case IR_EXP: return cexp(a);
    case IR_LOG: return clog(a);
    case IR_ABS: return cabs(a);
    case IR_REAL: return creal(a);
    case IR_IMAG: return cimag(a);
    case IR_CONJ: return conj(a);
    case IR_TO_C64: return a;
    case IR_ADD: return a + b;
    case IR_SUB: return a - b;
    case IR_MUL: return a * b;
    case IR_DIV: return a / b;
    case IR_COMPLEX: return CMPLX(creal(a), creal(b));
    case IR_WHERE: return creal(a) != 0 ? b : p;
    default: call_ice(c, "not defined on c64");
    }
}

static bool complex_domain(const RefCall *c)
{
    if (c->n->dtype == DT_C64) return true;
    for (int k = 0; k < c->n->nin; k++)
        if (c->arg[k]->dtype == DT_C64) return true;
    return false;
}

static void check_result_dtype(const RefCall *c, bool cplx)
{
    OpCode op = c->n->op;
    bool real_of_complex = op == IR_ABS || op == IR_REAL || op == IR_IMAG;
    if (cplx && c->n->dtype != DT_C64 && !real_of_complex) call_ice(c, "c64 operands need a c64 result");
}

static double complex load(const RefCall *c, int k, int64_t off)
{
    const double *v = c->in[k] + off;
    return c->arg[k]->dtype == DT_C64 ? CMPLX(v[0], v[1]) : v[0];
}

void ref_elementwise(const RefCall *c)
{
    const Node *n = c->n;
    if (n->nin != op_info[n->op].arity || n->nin > 3) call_ice(c, "wrong operand count %d", n->nin);
    Space sp = space_of(&n->shape);
    Walk w;
    int64_t stride[SPACE_RANK];
    walk_init(&w, &sp);
    row_strides(&n->shape, dt_width(n->dtype), stride);
    walk_view(&w, 0, 0, stride);
    for (int k = 0; k < n->nin; k++) {
        match_labels(c, &sp, &c->arg[k]->shape, dt_width(c->arg[k]->dtype), stride, c->arg[k]->shape.rank);
        walk_view(&w, k + 1, 0, stride);
    }
    bool cplx = complex_domain(c), out_c64 = n->dtype == DT_C64;
    check_result_dtype(c, cplx);
    int64_t numel = space_numel(&sp);
    for (int64_t i = 0; i < numel; i++, walk_next(&w)) {
        double complex v[3] = {0, 0, 0};
        for (int k = 0; k < n->nin; k++) v[k] = load(c, k, w.off[k + 1]);
        double *o = c->out + w.off[0];
        if (!cplx) o[0] = ew_real(c, creal(v[0]), creal(v[1]), creal(v[2]));
        else {
            double complex z = ew_complex(c, v[0], v[1], v[2]);
            o[0] = creal(z);
            if (out_c64) o[1] = cimag(z);
        }
    }
}

/* ---- reductions ---- */

/* The result's strides seen from the operand's axes: 0 on reduced axes. */
static void reduced_strides(const RefCall *c, int width, int64_t *stride)
{
    const Shape *x = &c->arg[0]->shape, *y = &c->n->shape;
    int64_t ys[MAX_RANK];
    int j = 0;
    row_strides(y, width, ys);
    for (int i = 0; i < x->rank; i++) {
        if (c->n->attr.mask & (1u << i)) {
            stride[i] = 0;
            continue;
        }
        if (j >= y->rank || y->label[j] != x->label[i] || y->size[j] != x->size[i])
            call_ice(c, "result shape is not the operand's minus the reduced axes");
        stride[i] = ys[j++];
    }
    if (j != y->rank) call_ice(c, "result has more axes than the operand keeps");
}

void ref_reduce(const RefCall *c)
{
    const Shape *x = &c->arg[0]->shape;
    int width = dt_width(c->n->dtype);
    bool is_max = c->n->op == IR_MAX;
    if (c->arg[0]->dtype != c->n->dtype || (is_max && width == 2)) call_ice(c, "bad dtypes");
    if (c->n->attr.mask >> x->rank) call_ice(c, "mask names axes beyond the operand's rank");
    Space sp = space_of(x);
    Walk w;
    int64_t stride[SPACE_RANK];
    walk_init(&w, &sp);
    reduced_strides(c, width, stride);
    walk_view(&w, 0, 0, stride);
    int64_t numel = space_numel(&sp), out_numel = shape_numel(&c->n->shape);
    if (is_max)
        for (int64_t i = 0; i < out_numel; i++) c->out[i] = -INFINITY;
    for (int64_t i = 0; i < numel; i++, walk_next(&w)) {
        double *o = c->out + w.off[0];
        const double *v = c->in[0] + i * width;
        if (is_max) o[0] = max_first(o[0], v[0]);
        else
            for (int p = 0; p < width; p++) o[p] += v[p];
    }
}

/* ---- contraction ---- */

/* The space of a contraction: the result's axes, then every label of a and
 * then of b that the result lacks (each once). */
static Space contract_space(const RefCall *c)
{
    Space sp = space_of(&c->n->shape);
    for (int k = 0; k < 2; k++) {
        const Shape *t = &c->arg[k]->shape;
        for (int i = 0; i < t->rank; i++) {
            bool seen = false;
            for (int j = 0; j < sp.rank; j++) seen |= sp.label[j] == t->label[i];
            if (!seen) space_add(&sp, t->label[i], t->size[i]);
        }
    }
    return sp;
}

void ref_contract(const RefCall *c)
{
    const Node *n = c->n;
    Space sp = contract_space(c);
    Walk w;
    int64_t stride[SPACE_RANK] = {0};
    walk_init(&w, &sp);
    row_strides(&n->shape, dt_width(n->dtype), stride);   /* summed axes keep stride 0 */
    walk_view(&w, 0, 0, stride);
    for (int k = 0; k < 2; k++) {
        match_labels(c, &sp, &c->arg[k]->shape, dt_width(c->arg[k]->dtype), stride, c->arg[k]->shape.rank);
        walk_view(&w, k + 1, 0, stride);
    }
    for (int i = 0; i < n->shape.rank; i++)
        if (shape_find(&c->arg[0]->shape, n->shape.label[i]) < 0 &&
            shape_find(&c->arg[1]->shape, n->shape.label[i]) < 0)
            call_ice(c, "result axis %s is in neither operand", n->shape.label[i]);
    bool cplx = complex_domain(c);
    if (cplx && n->dtype != DT_C64) call_ice(c, "c64 operands need a c64 result");
    int64_t numel = space_numel(&sp);
    for (int64_t i = 0; i < numel; i++, walk_next(&w)) {
        double *o = c->out + w.off[0];
        if (!cplx) {
            o[0] += c->in[0][w.off[1]] * c->in[1][w.off[2]];
            continue;
        }
        double complex z = load(c, 0, w.off[1]) * load(c, 1, w.off[2]);
        o[0] += creal(z);
        o[1] += cimag(z);
    }
}
