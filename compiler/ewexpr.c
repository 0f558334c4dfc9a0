/* ewexpr.c: the scalar meaning of every elementwise op, as C text, for both
 * renderers.
 *
 * One table gives each OC_EW op of ops.def its expression in the real domain
 * (float operands) and in the complex domain (c64 operands: a struct of two
 * floats), with %0 %1 %2 standing for the operands, which are always SSA
 * variables, so an operand may appear twice. The expressions follow
 * runtime/ref_ew.c exactly (NaN propagation of max and relu, the stable
 * sigmoid and softplus, the tanh gelu); helpers they call are defined once in
 * the prelude, which C and CUDA share but for the function qualifier. An op
 * added to ops.def without a line here is reported by ew_check_table (a unit
 * test runs it) and falls back to the reference executor on the cpu device.
 *
 * Complex ops that round more than once in float (product, division, exp,
 * log, abs) compute in double and round once, as the reference does; the
 * rest compute in float, where one op rounds once either way.
 * This file also prints one Val of a kernel as a C statement, since that is
 * the same text in both renderers. */
#include "kernel.h"

#include <math.h>
#include <string.h>

typedef struct EwExpr {
    OpCode op;
    const char *real, *complex;
} EwExpr;

static const EwExpr ew_table[] = {
    {IR_NEG, "(-%0)", "c_neg(%0)"},
    {IR_EXP, "expf(%0)", "c_exp(%0)"},
    {IR_LOG, "logf(%0)", "c_log(%0)"},
    {IR_SQRT, "sqrtf(%0)", NULL},
    {IR_RSQRT, "(1.0f / sqrtf(%0))", NULL},
    {IR_SIN, "sinf(%0)", NULL},
    {IR_COS, "cosf(%0)", NULL},
    {IR_TANH, "tanhf(%0)", NULL},
    {IR_SIGMOID, "f_sigmoid(%0)", NULL},
    {IR_SOFTPLUS, "f_softplus(%0)", NULL},
    {IR_SILU, "(%0 * f_sigmoid(%0))", NULL},
    {IR_GELU, "f_gelu(%0)", NULL},
    {IR_GELU_D, "f_gelu_d(%0)", NULL},
    {IR_RELU, "f_relu(%0)", NULL},
    {IR_FLOOR, "floorf(%0)", NULL},
    {IR_ABS, "fabsf(%0)", "c_abs(%0)"},
    {IR_REAL, "%0", "%0.re"},
    {IR_IMAG, "0.0f", "%0.im"},
    {IR_CONJ, "%0", "c_conj(%0)"},
    {IR_TO_C64, NULL, "%0"},
    {IR_ADD, "(%0 + %1)", "c_add(%0, %1)"},
    {IR_SUB, "(%0 - %1)", "c_sub(%0, %1)"},
    {IR_MUL, "(%0 * %1)", "c_mul(%0, %1)"},
    {IR_DIV, "(%0 / %1)", "c_div(%0, %1)"},
    {IR_POW, "powf(%0, %1)", NULL},
    {IR_MAXIMUM, "f_max_first(%0, %1)", NULL},
    {IR_MINIMUM, "f_min_first(%0, %1)", NULL},
    {IR_MOD, "f_mod(%0, %1)", NULL},
    {IR_COMPLEX, NULL, "c_make(%0.re, %1.re)"},
    {IR_LT, "(float)(%0 < %1)", NULL},
    {IR_LE, "(float)(%0 <= %1)", NULL},
    {IR_GT, "(float)(%0 > %1)", NULL},
    {IR_GE, "(float)(%0 >= %1)", NULL},
    {IR_EQ, "(float)(%0 == %1)", NULL},
    {IR_NE, "(float)(%0 != %1)", NULL},
    {IR_WHERE, "(%0 != 0.0f ? %1 : %2)", "(%0.re != 0.0f ? %1 : %2)"},
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
    "typedef struct { float re, im; } c64;\n"
    "DEV i64 ix_min(i64 a, i64 b) { return a < b ? a : b; }\n"
    "DEV i64 ix_max(i64 a, i64 b) { return a > b ? a : b; }\n"
    "DEV c64 c_make(float re, float im) { c64 z; z.re = re; z.im = im; return z; }\n"
    "DEV c64 c_neg(c64 a) { return c_make(-a.re, -a.im); }\n"
    "DEV c64 c_conj(c64 a) { return c_make(a.re, -a.im); }\n"
    "DEV c64 c_add(c64 a, c64 b) { return c_make(a.re + b.re, a.im + b.im); }\n"
    "DEV c64 c_sub(c64 a, c64 b) { return c_make(a.re - b.re, a.im - b.im); }\n"
    "DEV c64 c_mul(c64 a, c64 b) {\n"
    "    return c_make((float)((double)a.re * b.re - (double)a.im * b.im), (float)((double)a.re * b.im + (double)a.im * b.re));\n"
    "}\n"
    "DEV c64 c_div(c64 a, c64 b) {\n"
    "    double d = (double)b.re * b.re + (double)b.im * b.im;\n"
    "    return c_make((float)(((double)a.re * b.re + (double)a.im * b.im) / d),\n"
    "                  (float)(((double)a.im * b.re - (double)a.re * b.im) / d));\n"
    "}\n"
    "DEV c64 c_exp(c64 a) {\n"
    "    double e = exp((double)a.re);\n"
    "    if (a.im == 0.0f) return c_make((float)e, a.im);\n"
    "    return c_make((float)(e * cos((double)a.im)), (float)(e * sin((double)a.im)));\n"
    "}\n"
    "DEV c64 c_log(c64 a) {\n"
    "    return c_make((float)log(hypot((double)a.re, (double)a.im)), (float)atan2((double)a.im, (double)a.re));\n"
    "}\n"
    "DEV float c_abs(c64 a) { return (float)hypot((double)a.re, (double)a.im); }\n"
    "DEV double f_sigmoid(double x) { return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }\n"
    "DEV double f_softplus(double x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }\n"
    "DEV double f_gelu(double x) {\n"
    "    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));\n"
    "}\n"
    "DEV double f_gelu_d(double x) {\n"
    "    double t = tanhf(0.7978845608f * (x + 0.044715f * x * x * x));\n"
    "    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * 0.7978845608f * (1.0f + 3.0f * 0.044715f * x * x);\n"
    "}\n"
    "DEV double f_relu(double x) { return x > 0.0f || x != x ? x : 0.0f; }\n"
    "DEV double f_max_first(double a, double b) { return a != a || b <= a ? a : b; }\n"
    "DEV double f_min_first(double a, double b) { return a != a || b >= a ? a : b; }\n"
    "DEV double f_mod(double a, double b) { return a - b * floorf(a / b); }\n";

void ew_print_prelude(FILE *f, bool cuda)
{
    if (cuda)
        fputs("#define DEV static __device__ __forceinline__\n"
              "#define CSSM_INF __int_as_float(0x7f800000)\n"
              "#define CSSM_NAN __int_as_float(0x7fffffff)\n", f);
    else
        fputs("#include <math.h>\n"
              "#define DEV static inline\n"
              "#define CSSM_INF INFINITY\n"
              "#define CSSM_NAN NAN\n", f);
    fputs("#define expf exp\n#define logf log\n#define sqrtf sqrt\n#define sinf sin\n#define cosf cos\n#define tanhf tanh\n#define floorf floor\n#define fabsf fabs\n#define powf pow\n#define log1pf log1p\n#define fmaxf fmax\n", f);
    fputs(prelude_common, f);
}

/* ---- one Val as a statement ---- */

static void print_float(FILE *f, double v)
{
    float x = (float)v;
    if (isnan(x)) fputs("CSSM_NAN", f);
    else if (isinf(x)) fputs(x > 0 ? "CSSM_INF" : "(-CSSM_INF)", f);
    else {
        char buf[48];
        snprintf(buf, sizeof buf, "%.9g", (double)x);
        fprintf(f, "%s%s%sf", x < 0 ? "(" : "", buf, strpbrk(buf, ".e") ? "" : ".0");
        if (x < 0) fputc(')', f);
    }
}

static const char *type_name(DType dt) { return dt == DT_C64 ? "c64" : "double"; }

/* Operand k of an op, promoted to c64 in the complex domain. */
static void print_operand(FILE *f, const Kernel *k, int v, bool complex_domain)
{
    if (complex_domain && k->vals.data[v].dtype != DT_C64) fprintf(f, "c_make(v%d, 0.0f)", v);
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
        if (staged && x->stage >= 0) fprintf(f, "s%d[", x->stage);
        else fprintf(f, "b%d[", x->buf);
        ix_print(f, staged && x->stage >= 0 ? x->stage_ix : x->ix);
        fputc(']', f);
        break;
    case VAL_CONST:
        if (x->dtype == DT_C64) {
            fputs("c_make(", f);
            print_float(f, x->c[0]);
            fputs(", ", f);
            print_float(f, x->c[1]);
            fputc(')', f);
        } else print_float(f, x->c[0]);
        break;
    case VAL_INDEX:
        fputs("(float)", f);
        ix_print(f, x->ix);
        break;
    case VAL_OP: print_op(f, k, x); break;
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
    return k->kind == KK_REDUCE && k->fold == IR_SUM && r->kind == VAL_OP && r->op == IR_MUL;
}

bool ew_val_printed(const Kernel *k, int v) { return v != k->result || !product_fold(k); }

/* Operand k of the product as a double pair (re, im), im "0" for f32. */
static void product_operand(const Kernel *k, int v, char *re, char *im, size_t n)
{
    bool c = k->vals.data[v].dtype == DT_C64;
    snprintf(re, n, c ? "(double)v%d.re" : "(double)v%d", v);
    snprintf(im, n, c ? "(double)v%d.im" : "0.0", v);
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

/* ---- comments that point back to the source ---- */

void print_kernel_comment(FILE *f, const Lowered *p, const Kernel *k)
{
    static const char *const kinds[] = {"map", "reduce", "scan"};
    char shape[512];
    const Node *root = node_at(p->g, k->node);
    fprintf(f, "/* %s: %s %s, %lld items\n", k->name, kinds[k->kind],
            shape_str(root->dtype, &root->shape, shape, sizeof shape), (long long)k->work);
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
