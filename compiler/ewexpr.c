/* ewexpr.c: the scalar meaning of every elementwise op, as C text, for both
 * renderers.
 *
 * One table gives each OC_EW op of ops.def its expression in the real domain
 * and in the complex domain (c64 operands), with %0 %1 %2 standing for the
 * operands, which are always SSA variables, so an operand may appear twice.
 * The expressions follow runtime/ref_ew.c exactly (NaN propagation of max and
 * relu, the stable sigmoid and softplus, the tanh gelu); helpers they call
 * are defined once in the prelude, which C and CUDA share but for the
 * function qualifier. An op added to ops.def without a line here is reported
 * by ew_check_table (a unit test runs it) and falls back to the reference
 * executor on the cpu device. The few printing helpers both renderers share
 * (kernel comments, the scan kernels' offsets, coefficient loads and time
 * loop) live here too.
 *
 * Values follow the reference's f32 mode: each op computes in double
 * (complex: cplx, two doubles) from f32-valued operands and rounds its result
 * to f32 once, stored or not; only sums accumulate in double across their
 * terms (and products that are summed stay exact). So a value recomputed
 * inside a fused kernel is the value a materialized node holds, and
 * comparisons between the two (a max's ties) behave as in the reference.
 * One exception on the cpu device: where a loop vectorises, exp, log, log1p,
 * pow, sin, cos and tanh come from glibc's vector math library, several
 * times faster, whose double results may differ from the scalar functions'
 * in the last bits (at most 4 double ulps). Rounded to f32 they agree but for
 * a few inputs in a million, by one ulp; where an expression cancels (gelu's
 * left tail, 1 + tanh -> 0) the last bits show as absolute differences near
 * 1e-13 (tests/unit/test_jit_hostcc.c measures both). These are differences
 * from the reference only: fusion recomputes a value in several kernels
 * only when it is cheap, which no transcendental function is (fuse.c), so
 * a value a kernel recomputes still equals the one another kernel stored.
 * Floating-point contraction is off (C pragmas; --fmad=false for NVRTC), since
 * an fma rounds once where the reference rounds twice.
 * This file also prints one Val of a kernel as a C statement, since that is
 * the same text in both renderers. */
#include "kernel.h"
#include "jit.h"

#include <math.h>
#include <string.h>

typedef struct EwExpr {
    OpCode op;
    const char *real, *complex;
} EwExpr;

static const EwExpr ew_table[] = {
    {IR_NEG, "(-%0)", "c_neg(%0)"},
    {IR_EXP, "exp(%0)", "c_exp(%0)"},
    {IR_LOG, "log(%0)", "c_log(%0)"},
    {IR_SQRT, "sqrt(%0)", NULL},
    {IR_RSQRT, "(1.0 / sqrt(%0))", NULL},
    {IR_SIN, "sin(%0)", NULL},
    {IR_COS, "cos(%0)", NULL},
    {IR_TANH, "tanh(%0)", NULL},
    {IR_SIGMOID, "f_sigmoid(%0)", NULL},
    {IR_SOFTPLUS, "f_softplus(%0)", NULL},
    {IR_SILU, "(%0 * f_sigmoid(%0))", NULL},
    {IR_GELU, "f_gelu(%0)", NULL},
    {IR_GELU_D, "f_gelu_d(%0)", NULL},
    {IR_RELU, "f_relu(%0)", NULL},
    {IR_FLOOR, "floor(%0)", NULL},
    {IR_ABS, "fabs(%0)", "c_abs(%0)"},
    {IR_REAL, "%0", "%0.re"},
    {IR_IMAG, "0.0", "%0.im"},
    {IR_CONJ, "%0", "c_conj(%0)"},
    {IR_TO_C64, NULL, "%0"},
    {IR_ADD, "(%0 + %1)", "c_add(%0, %1)"},
    {IR_SUB, "(%0 - %1)", "c_sub(%0, %1)"},
    {IR_MUL, "(%0 * %1)", "c_mul(%0, %1)"},
    {IR_DIV, "(%0 / %1)", "c_div(%0, %1)"},
    {IR_POW, "pow(%0, %1)", NULL},
    {IR_MAXIMUM, "f_max_first(%0, %1)", NULL},
    {IR_MINIMUM, "f_min_first(%0, %1)", NULL},
    {IR_MOD, "f_mod(%0, %1)", NULL},
    {IR_COMPLEX, NULL, "c_make(%0.re, %1.re)"},
    {IR_LT, "(double)(%0 < %1)", NULL},
    {IR_LE, "(double)(%0 <= %1)", NULL},
    {IR_GT, "(double)(%0 > %1)", NULL},
    {IR_GE, "(double)(%0 >= %1)", NULL},
    {IR_EQ, "(double)(%0 == %1)", NULL},
    {IR_NE, "(double)(%0 != %1)", NULL},
    {IR_WHERE, "(%0 != 0.0 ? %1 : %2)", "(%0.re != 0.0 ? %1 : %2)"},
};

static const EwExpr *ew_entry(OpCode op)
{
    for (size_t i = 0; i < COUNT_OF(ew_table); i++)
        if (ew_table[i].op == op) return &ew_table[i];
    return NULL;
}

const char *ew_expr(OpCode op, bool complex_domain)
{
    const EwExpr *e = ew_entry(op);
    return !e ? NULL : complex_domain ? e->complex : e->real;
}

int ew_check_table(char *why, size_t n)
{
    int gaps = 0;
    size_t used = 0;
    if (n) why[0] = 0;
    for (int op = 0; op < IR_COUNT; op++) {
        if (op_info[op].cls != OC_EW) continue;
        const EwExpr *e = ew_entry((OpCode)op);
        const char *gap = !e                                           ? "has no expression"
                          : !e->real && !e->complex                    ? "has an empty entry"
                          : (op_info[op].flags & OF_COMPLEX) && !e->complex ? "has no complex expression"
                                                                       : NULL;
        if (!gap) continue;
        if (used < n) used += (size_t)snprintf(why + used, n - used, "%sop '%s' %s", gaps ? "; " : "",
                                               op_info[op].spelling, gap);
        gaps++;
    }
    return gaps;
}

/* ---- the prelude ---- */

static const char prelude_common[] =
    "typedef long long i64;\n"
    "typedef struct { float re, im; } c64;     /* a c64 element in memory */\n"
    "typedef struct { double re, im; } cplx;   /* a c64 value in a kernel */\n"
    "DEV i64 ix_min(i64 a, i64 b) { return a < b ? a : b; }\n"
    "DEV i64 ix_max(i64 a, i64 b) { return a > b ? a : b; }\n"
    "DEV cplx c_make(double re, double im) { cplx z; z.re = re; z.im = im; return z; }\n"
    "DEV cplx c_load(c64 z) { return c_make(z.re, z.im); }\n"
    "DEV c64 c_pack(double re, double im) { c64 z; z.re = (float)re; z.im = (float)im; return z; }\n"
    "DEV cplx c_round(cplx a) { return c_make((float)a.re, (float)a.im); }\n"
    "DEV cplx c_neg(cplx a) { return c_make(-a.re, -a.im); }\n"
    "DEV cplx c_conj(cplx a) { return c_make(a.re, -a.im); }\n"
    "DEV cplx c_add(cplx a, cplx b) { return c_make(a.re + b.re, a.im + b.im); }\n"
    "DEV cplx c_sub(cplx a, cplx b) { return c_make(a.re - b.re, a.im - b.im); }\n"
    "DEV cplx c_mul(cplx a, cplx b) { return c_make(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re); }\n"

    "DEV double f_sigmoid(double x) { double e = exp(-fabs(x)); return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e); }\n"
    "DEV double f_softplus(double x) { return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x))); }\n"
    "DEV double f_gelu(double x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }\n"
    "DEV double f_gelu_d(double x) {\n"
    "    double t = tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));\n"
    "    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);\n"
    "}\n"
    "DEV double f_relu(double x) { return x > 0.0 || x != x ? x : 0.0; }\n"
    "DEV double f_max_first(double a, double b) { return a != a || b <= a ? a : b; }\n"
    "DEV double f_min_first(double a, double b) { return a != a || b >= a ? a : b; }\n"
    "DEV double f_mod(double a, double b) { return a - b * floor(a / b); }\n";

/* Solves m x = r in place (m row-major n x n): Gaussian elimination with
 * partial pivoting, step for step runtime/ref_solve.c's. T is the complex
 * type; the other arguments are its statements in that type's notation. */
#define GAUSS(T, pivot_gt, factor, update_m, update_r, back_sub, back_div)               \
    "DEV void c_gauss(" T " *m, " T " *r, i64 n) {\n"                                    \
    "    for (i64 k = 0; k < n; k++) {\n"                                               \
    "        i64 p = k;\n"                                                              \
    "        for (i64 i = k + 1; i < n; i++) if (" pivot_gt ") p = i;\n"                 \
    "        if (p != k) {\n"                                                           \
    "            for (i64 j = 0; j < n; j++) { " T " t = m[k * n + j]; m[k * n + j] = m[p * n + j]; m[p * n + j] = t; }\n" \
    "            " T " t = r[k]; r[k] = r[p]; r[p] = t;\n"                               \
    "        }\n"                                                                       \
    "        for (i64 i = k + 1; i < n; i++) {\n"                                       \
    "            " T " f = " factor ";\n"                                               \
    "            for (i64 j = k; j < n; j++) " update_m ";\n"                            \
    "            " update_r ";\n"                                                       \
    "        }\n"                                                                       \
    "    }\n"                                                                           \
    "    for (i64 k = n - 1; k >= 0; k--) {\n"                                          \
    "        for (i64 j = k + 1; j < n; j++) " back_sub ";\n"                            \
    "        " back_div ";\n"                                                           \
    "    }\n"                                                                           \
    "}\n"

/* Division, exp, log and abs: C has the reference's own <complex.h>
 * functions (so the cpu device rounds exactly as the reference); CUDA gets
 * the textbook formulas, equal to them up to the last double bits. */
static const char prelude_c_complex[] =
    "DEV cplx c_of(double _Complex z) { return c_make(creal(z), cimag(z)); }\n"
    "DEV cplx c_div(cplx a, cplx b) { return c_of(CMPLX(a.re, a.im) / CMPLX(b.re, b.im)); }\n"
    "DEV cplx c_exp(cplx a) { return c_of(cexp(CMPLX(a.re, a.im))); }\n"
    "DEV cplx c_log(cplx a) { return c_of(clog(CMPLX(a.re, a.im))); }\n"
    "DEV double c_abs(cplx a) { return cabs(CMPLX(a.re, a.im)); }\n"
    GAUSS("double _Complex", "cabs(m[i * n + k]) > cabs(m[p * n + k])", "m[i * n + k] / m[k * n + k]",
          "m[i * n + j] -= f * m[k * n + j]", "r[i] -= f * r[k]", "r[k] -= m[k * n + j] * r[j]", "r[k] /= m[k * n + k]");

static const char prelude_cuda_complex[] =
    "DEV cplx c_div(cplx a, cplx b) {\n"
    "    double d = b.re * b.re + b.im * b.im;\n"
    "    return c_make((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d);\n"
    "}\n"
    "DEV cplx c_exp(cplx a) {\n"
    "    double e = exp(a.re);\n"
    "    return a.im == 0.0 ? c_make(e, a.im) : c_make(e * cos(a.im), e * sin(a.im));\n"
    "}\n"
    "DEV cplx c_log(cplx a) { return c_make(log(hypot(a.re, a.im)), atan2(a.im, a.re)); }\n"
    "DEV double c_abs(cplx a) { return hypot(a.re, a.im); }\n"
    GAUSS("cplx", "c_abs(m[i * n + k]) > c_abs(m[p * n + k])", "c_div(m[i * n + k], m[k * n + k])",
          "m[i * n + j] = c_sub(m[i * n + j], c_mul(f, m[k * n + j]))", "r[i] = c_sub(r[i], c_mul(f, r[k]))",
          "r[k] = c_sub(r[k], c_mul(m[k * n + j], r[j]))", "r[k] = c_div(r[k], m[k * n + k])");

/* glibc's vector variants of the prelude's and the table's functions, so
 * that map loops calling them vectorise (cssm_hostcc_vector_math). */
static const char prelude_c_vector_math[] =
    "#pragma omp declare simd notinbranch\ndouble exp(double);\n"
    "#pragma omp declare simd notinbranch\ndouble log(double);\n"
    "#pragma omp declare simd notinbranch\ndouble log1p(double);\n"
    "#pragma omp declare simd notinbranch\ndouble pow(double, double);\n"
    "#pragma omp declare simd notinbranch\ndouble sin(double);\n"
    "#pragma omp declare simd notinbranch\ndouble cos(double);\n"
    "#pragma omp declare simd notinbranch\ndouble tanh(double);\n";

void ew_print_prelude(FILE *f, bool cuda)
{
    if (cuda)
        fputs("#define DEV static __device__ __forceinline__\n"
              "#define CSSM_INF __int_as_float(0x7f800000)\n"
              "#define CSSM_NAN __int_as_float(0x7fffffff)\n", f);
    else
        fputs("#include <complex.h>\n"
              "#include <math.h>\n"
              "#pragma STDC FP_CONTRACT OFF\n"
              "#pragma GCC optimize (\"fp-contract=off\", \"no-tree-slp-vectorize\")\n"
              "#define DEV static inline\n"
              "#define CSSM_INF INFINITY\n"
              "#define CSSM_NAN NAN\n", f);
    if (!cuda && cssm_hostcc_vector_math()) fputs(prelude_c_vector_math, f);
    fputs(prelude_common, f);
    fputs(cuda ? prelude_cuda_complex : prelude_c_complex, f);
}

/* ---- one Val as a statement ---- */

/* A constant as the reference holds it, rounded to f32 (or a double, when
 * exact), printed exactly. */
static void print_constant(FILE *f, double v, bool exact)
{
    double x = exact ? v : (float)v;
    if (isnan(x)) fputs("CSSM_NAN", f);
    else if (isinf(x)) fputs(x > 0 ? "CSSM_INF" : "(-CSSM_INF)", f);
    else {
        char buf[48];
        snprintf(buf, sizeof buf, "%.17g", x);
        fprintf(f, "%s%s%s", x < 0 ? "(" : "", buf, strpbrk(buf, ".e") ? "" : ".0");
        if (x < 0) fputc(')', f);
    }
}

static const char *type_name(DType dt) { return dt == DT_C64 ? "cplx" : "double"; }

/* Operand k of an op, promoted to complex in the complex domain. */
static void print_operand(FILE *f, const Kernel *k, int v, bool complex_domain)
{
    if (complex_domain && k->vals.data[v].dtype != DT_C64) fprintf(f, "c_make(v%d, 0.0)", v);
    else fprintf(f, "v%d", v);
}

static void print_op(FILE *f, const Kernel *k, const Val *x)
{
    bool cplx = x->dtype == DT_C64;
    for (int i = 0; i < x->nin; i++) cplx |= k->vals.data[x->in[i]].dtype == DT_C64;
    const char *e = ew_expr(x->op, cplx);
    if (!e) ice("ewexpr: no %s expression for %s", cplx ? "complex" : "real", op_info[x->op].spelling);
    for (; *e; e++) {
        if (e[0] == '%' && e[1] >= '0' && e[1] < '0' + x->nin) print_operand(f, k, x->in[*++e - '0'], cplx);
        else fputc(*e, f);
    }
}

void ew_print_val(FILE *f, const Lowered *p, const Kernel *k, int v, bool staged)
{
    const Val *x = &k->vals.data[v];
    fprintf(f, "%s v%d = ", type_name(x->dtype), v);
    switch (x->kind) {
    case VAL_LOAD:
        if (staged && x->stage >= 0) {   /* already a double or a cplx */
            fprintf(f, "s%d[", x->stage);
            ix_print(f, x->stage_ix);
            fputc(']', f);
            break;
        }
        if (x->dtype == DT_C64) fputs("c_load(", f);
        fprintf(f, "b%d[", x->buf);
        ix_print(f, x->ix);
        fputs(x->dtype == DT_C64 ? "])" : "]", f);
        break;
    case VAL_CONST:
        if (x->dtype == DT_C64) {
            fputs("c_make(", f);
            print_constant(f, x->c[0], x->exact);
            fputs(", ", f);
            print_constant(f, x->c[1], x->exact);
            fputc(')', f);
        } else print_constant(f, x->c[0], x->exact);
        break;
    case VAL_INDEX:
        fputs("(double)(float)", f);
        ix_print(f, x->ix);
        break;
    case VAL_OP:
        if (x->exact) print_op(f, k, x);
        else {
            fputs(x->dtype == DT_C64 ? "c_round(" : "(float)(", f);
            print_op(f, k, x);
            fputc(')', f);
        }
        break;
    case VAL_SELECT:
        ix_print(f, x->ix);
        fprintf(f, " ? v%d : v%d", x->in[0], x->in[1]);
        break;
    }
    fputs(";\n", f);
    (void)p;
}

/* ---- folding in reduce kernels ---- */

static bool product_fold(const Kernel *k)
{
    const Val *r = &k->vals.data[k->result];
    return k->kind == KK_REDUCE && k->fold == IR_SUM && r->kind == VAL_OP && r->op == IR_MUL && r->exact;
}

bool ew_val_printed(const Kernel *k, int v) { return v != k->result || !product_fold(k); }

void ew_print_store(FILE *f, DType dt, const char *re, const char *im)
{
    if (dt == DT_C64) fprintf(f, "c_pack(%s, %s)", re, im);
    else fprintf(f, "(float)%s", re);
}

/* Operand k of the product as a pair (re, im), im "0.0" for f32. */
static void product_operand(const Kernel *k, int v, char *re, char *im, size_t n)
{
    bool c = k->vals.data[v].dtype == DT_C64;
    snprintf(re, n, c ? "v%d.re" : "v%d", v);
    snprintf(im, n, c ? "v%d.im" : "0.0", v);
}

void ew_print_fold(FILE *f, const Kernel *k, const char *acc, const char *acc_im, const char *indent)
{
    const Val *r = &k->vals.data[k->result];
    bool cplx = r->dtype == DT_C64;
    if (k->fold == IR_MAX) {
        fprintf(f, "%s%s = f_max_first(%s, v%d);\n", indent, acc, acc, k->result);
        return;
    }
    if (!product_fold(k)) {
        if (cplx) fprintf(f, "%s%s += v%d.re;\n%s%s += v%d.im;\n", indent, acc, k->result, indent, acc_im, k->result);
        else fprintf(f, "%s%s += v%d;\n", indent, acc, k->result);
        return;
    }
    char ar[32], ai[32], br[32], bi[32];
    product_operand(k, r->in[0], ar, ai, sizeof ar);
    product_operand(k, r->in[1], br, bi, sizeof br);
    if (!cplx) fprintf(f, "%s%s += %s * %s;\n", indent, acc, ar, br);
    else
        fprintf(f, "%s%s += %s * %s - %s * %s;\n%s%s += %s * %s + %s * %s;\n", indent, acc, ar, br, ai, bi, indent,
                acc_im, ar, bi, ai, br);
}

/* ---- buffers and stores, the same in both renderers ---- */

static const char *elem_type(DType dt) { return dt == DT_C64 ? "c64" : "float"; }

void print_buffer_pointers(FILE *f, const Lowered *p, const Kernel *k)
{
    for (int r = 0; r < k->reads.len; r++) {
        const Buffer *b = &p->bufs.data[k->reads.data[r]];
        const char *t = elem_type(b->dtype);
        fprintf(f, "    const %s *b%d = (const %s *)(A + %lld);\n", t, k->reads.data[r], t, (long long)b->offset);
    }
    const Buffer *o = &p->bufs.data[k->out_buf];
    fprintf(f, "    %s *o = (%s *)(A + %lld);\n", elem_type(o->dtype), elem_type(o->dtype), (long long)o->offset);
    for (int i = 0; i < k->stores.len; i++) {
        const Buffer *b = &p->bufs.data[k->stores.data[i].buf];
        const char *t = elem_type(b->dtype);
        fprintf(f, "    %s *o%d = (%s *)(A + %lld);\n", t, k->stores.data[i].buf, t, (long long)b->offset);
    }
}

/* "o[ix] = value;" for Val v. */
static void print_store_of(FILE *f, const Kernel *k, const char *dst, const Ix *ix, int v, const char *indent)
{
    char re[32], im[32];
    DType dt = k->vals.data[v].dtype;
    snprintf(re, sizeof re, dt == DT_C64 ? "v%d.re" : "v%d", v);
    snprintf(im, sizeof im, "v%d.im", v);
    fprintf(f, "%s%s[", indent, dst);
    ix_print(f, ix);
    fputs("] = ", f);
    ew_print_store(f, dt, re, im);
    fputs(";\n", f);
}

void print_map_stores(FILE *f, const Kernel *k, const char *indent)
{
    print_store_of(f, k, "o", k->out_ix, k->result, indent);
    for (int i = 0; i < k->stores.len; i++) {
        const Store *st = &k->stores.data[i];
        char dst[16];
        snprintf(dst, sizeof dst, "o%d", st->buf);
        print_store_of(f, k, dst, st->ix, st->val, indent);
    }
}

/* ---- comments that point back to the source ---- */

void print_kernel_comment(FILE *f, const Lowered *p, const Kernel *k)
{
    static const char *const kinds[] = {"map", "reduce", "scan", "solve"};
    char shape[512];
    const Node *root = node_at(p->g, k->node);
    fprintf(f, "/* %s: %s %s, %lld items\n", k->name, kinds[k->kind],
            shape_str(root->dtype, &root->shape, shape, sizeof shape), (long long)k->work);
    for (int i = 0; i < k->stores.len; i++) fprintf(f, " * also stores %%%d as o%d\n", k->stores.data[i].node, k->stores.data[i].buf);
    for (int i = 0; i < k->fused.len; i++) {
        char *line = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&line, &len);
        print_node(m, p->g, k->fused.data[i]);
        fclose(m);
        for (char *s = line; (s = strstr(s, "*/")); ) s[1] = ' ';   /* a label holding a comment terminator */
        fprintf(f, " *   %s", line);
        free(line);
    }
    fputs(" */\n", f);
}

void scan_print_offset(FILE *f, const Ix *base, const char *var, int64_t stride)
{
    ix_print(f, base);
    if (stride) fprintf(f, " + %s * %lld", var, (long long)stride);
}

void scan_print_load_a(FILE *f, const ScanKernel *s, const char *indent)
{
    fprintf(f, "%sdouble ar = %s, ai = %s;\n", indent, s->a_dt == DT_C64 ? "a[ao].re" : "a[ao]",
            s->a_dt == DT_C64 ? "a[ao].im" : "0");
}

void scan_print_time_loop(FILE *f, const ScanKernel *s)
{
    fprintf(f, "    for (i64 s = 0; s < %lld; s++) {\n", (long long)s->T);
    if (s->reverse) fprintf(f, "        i64 t = %lld - s;\n", (long long)(s->T - 1));
    else fputs("        i64 t = s;\n", f);
}
