/* astprint.c: the `cssmc -dP` dump of a syntax tree.
 *
 * One node per line, indented two spaces per level, each node line ending in
 * `@line:col` (where the node starts). Children follow their parent in source
 * order. Types and formal annotations are short and printed inline
 * (`formal x: f32[B, T = seq_len, W/2 + 1]`); everything else is a node of
 * its own. Lines without `@` are group labels (`body`, `then`, `else`,
 * `value`) that separate lists a reader could not otherwise tell apart. The
 * format is the golden form of tests/parse: it must only change on purpose.
 *
 * Assumes a tree from parse_file, possibly partial after syntax errors
 * (missing parts are simply absent). Recursion depth is bounded by the
 * parser's nesting limits. */
#include "ast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Printer {
    FILE *out;
} Printer;

static void print_expr(Printer *p, const Expr *e, int depth);
static void print_stmts(Printer *p, const StmtVec *body, int depth);

static void indent(Printer *p, int depth)
{
    for (int i = 0; i < depth; i++) fputs("  ", p->out);
}

static void at(Printer *p, Loc loc) { fprintf(p->out, " @%d:%d\n", loc.line, loc.col); }

static void label(Printer *p, const char *what, int depth)
{
    indent(p, depth);
    fprintf(p->out, "%s\n", what);
}

/* Strings are printed quoted and escaped, so every dump line is one line. */
static void print_string(Printer *p, const char *s)
{
    fputc('"', p->out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(p->out, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", p->out);
        else if (*c == '\t') fputs("\\t", p->out);
        else if (*c == '\r') fputs("\\r", p->out);
        else if (*c < 32 || *c == 127) fprintf(p->out, "\\x%02x", *c);
        else fputc(*c, p->out);
    }
    fputc('"', p->out);
}

/* "1e-06" reads better as "1e-6". */
static void tidy_exponent(char *s)
{
    char *e = strchr(s, 'e');
    if (!e) return;
    char *from = e + 1, *to = e + 1;
    if (*from == '-') *to++ = *from++;
    else if (*from == '+') from++;
    while (*from == '0' && from[1]) from++;
    memmove(to, from, strlen(from) + 1);
}

/* Integral values keep a ".0" (they were written as floats); others print
 * as the shortest decimal that reads back as the same double. */
static void print_real(Printer *p, double v)
{
    char buf[48];
    if (fabs(v) < 1e15 && v == (double)(long long)v) {
        snprintf(buf, sizeof buf, "%.1f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
        tidy_exponent(buf);
    }
    fputs(buf, p->out);
}

/* ---- types, inline */

static int dim_precedence(const Expr *e)
{
    if (e->kind != E_BINARY) return 3;
    return e->op == OP_ADD || e->op == OP_SUB ? 1 : 2;
}

/* Size expressions print infix, with parentheses only where precedence
 * needs them: `W/2 + 1`, `(k - H)/2`. */
static void print_dim(Printer *p, const Expr *e, int outer)
{
    if (e->kind == E_IDENT) {
        fputs(e->name, p->out);
        return;
    }
    if (e->kind == E_INT) {
        fprintf(p->out, "%lld", (long long)e->ival);
        return;
    }
    int prec = dim_precedence(e);
    bool paren = prec < outer;
    if (paren) fputc('(', p->out);
    print_dim(p, e->lhs, prec);
    fprintf(p->out, prec == 1 ? " %s " : "%s", op_spelling(e->op));
    print_dim(p, e->rhs, prec + 1);
    if (paren) fputc(')', p->out);
}

static void print_axis(Printer *p, const Axis *ax)
{
    if (ax->ellipsis) {
        fputs("...", p->out);
        return;
    }
    if (ax->label) fprintf(p->out, "%s = ", ax->label);
    print_dim(p, ax->size, 0);
}

static void print_type(Printer *p, const Type *t)
{
    fputs(dtype_name(t->dtype), p->out);
    for (int i = 0; i < t->elem.len; i++) {
        fputs(i ? ", " : "<", p->out);
        print_dim(p, t->elem.data[i], 0);
    }
    if (t->elem.len) fputc('>', p->out);
    if (!t->has_axes) return;
    for (int i = 0; i < t->axes.len; i++) {
        fputs(i ? ", " : "[", p->out);
        print_axis(p, &t->axes.data[i]);
    }
    fputc(']', p->out);
}

static void print_annotation(Printer *p, const Type *t)
{
    if (!t) return;
    fputs(": ", p->out);
    print_type(p, t);
}

/* ---- expressions */

static void print_args(Printer *p, const ArgVec *args, int depth)
{
    for (int i = 0; i < args->len; i++) {
        const Arg *a = &args->data[i];
        if (!a->name) {
            print_expr(p, a->value, depth);
            continue;
        }
        indent(p, depth);
        fprintf(p->out, "named %s", a->name);
        at(p, a->name_loc);
        print_expr(p, a->value, depth + 1);
    }
}

static void print_range(Printer *p, const Expr *e, int depth)
{
    indent(p, depth);
    fprintf(p->out, "range %s:%s", e->lhs ? "lo" : "", e->rhs ? "hi" : "");
    at(p, e->loc);
    if (e->lhs) print_expr(p, e->lhs, depth + 1);
    if (e->rhs) print_expr(p, e->rhs, depth + 1);
}

static void print_arms(Printer *p, const ArmVec *arms, int depth)
{
    for (int i = 0; i < arms->len; i++) {
        const Arm *a = &arms->data[i];
        if (a->pattern) {
            label(p, "arm", depth);
            print_expr(p, a->pattern, depth + 1);
        } else {
            label(p, "arm _", depth);
        }
        print_expr(p, a->value, depth + 1);
    }
}

static void print_scan(Printer *p, const Expr *e, int depth)
{
    const Scan *s = e->scan;
    indent(p, depth);
    fprintf(p->out, "scan %s in %s%s", s->var, s->reverse ? "reverse " : "", s->axis);
    if (s->combine) fprintf(p->out, " combine with (%s, %s)", s->left, s->right);
    at(p, e->loc);
    for (int i = 0; i < s->carries.len; i++) {
        const Carry *c = &s->carries.data[i];
        indent(p, depth + 1);
        fprintf(p->out, "carry %s", c->name);
        print_annotation(p, c->type);
        at(p, c->loc);
        print_expr(p, c->init, depth + 2);
    }
    label(p, "body", depth + 1);
    print_stmts(p, &s->body, depth + 2);
}

/* The head of a node line: kind and inline attributes. */
static void print_expr_head(Printer *p, const Expr *e)
{
    FILE *o = p->out;
    switch (e->kind) {
    case E_IDENT: fprintf(o, "ident %s", e->name); break;
    case E_INT: fprintf(o, "int %lld", (long long)e->ival); break;
    case E_FLOAT: fputs("float ", o); print_real(p, e->fval); break;
    case E_IMAG: fputs("imag ", o); print_real(p, e->fval); fputc('i', o); break;
    case E_STRING: fputs("string ", o); print_string(p, e->name); break;
    case E_BOOL: fputs(e->ival ? "bool true" : "bool false", o); break;
    case E_UNARY: fprintf(o, "unary %s", op_spelling(e->op)); break;
    case E_BINARY: fprintf(o, "binary %s", op_spelling(e->op)); break;
    case E_COND: fputs("cond", o); break;
    case E_CALL: fputs("call", o); break;
    case E_INDEX: fputs("index", o); break;
    case E_FIELD: fprintf(o, "field %s", e->name); break;
    case E_LIST: fputs("list", o); break;
    case E_MATCH: fputs("match", o); break;
    case E_ARROW: fputs("arrow", o); break;
    case E_SCAN: case E_RANGE: ice("print_expr_head: %d has its own printer", e->kind);
    }
}

static void print_expr(Printer *p, const Expr *e, int depth)
{
    if (e->kind == E_SCAN) {
        print_scan(p, e, depth);
        return;
    }
    if (e->kind == E_RANGE) {
        print_range(p, e, depth);
        return;
    }
    indent(p, depth);
    print_expr_head(p, e);
    at(p, e->loc);
    if (e->cond) print_expr(p, e->cond, depth + 1);
    if (e->lhs) print_expr(p, e->lhs, depth + 1);
    if (e->rhs) print_expr(p, e->rhs, depth + 1);
    print_args(p, &e->args, depth + 1);
    for (int i = 0; i < e->items.len; i++) print_expr(p, e->items.data[i], depth + 1);
    print_arms(p, &e->arms, depth + 1);
}

static void print_exprs(Printer *p, const ExprVec *v, int depth)
{
    for (int i = 0; i < v->len; i++) print_expr(p, v->data[i], depth);
}

/* ---- statements */

static const char *stmt_keyword(StmtKind k)
{
    switch (k) {
    case S_ASSIGN: return "assign";
    case S_PARAM: return "param";
    case S_DIM: return "dim";
    case S_PROBE: return "probe";
    case S_EMIT: return "emit";
    case S_RETURN: return "return";
    case S_ASSERT: return "assert";
    case S_IF: return "if";
    case S_REPEAT: return "repeat";
    }
    ice("stmt_keyword: bad kind %d", (int)k);
}

static void print_targets(Printer *p, const TargetVec *targets)
{
    for (int i = 0; i < targets->len; i++) {
        fprintf(p->out, "%s%s", i ? ", " : " ", targets->data[i].name);
        print_annotation(p, targets->data[i].type);
    }
}

static void print_stmt(Printer *p, const Stmt *s, int depth)
{
    indent(p, depth);
    fputs(stmt_keyword(s->kind), p->out);
    print_targets(p, &s->targets);
    print_annotation(p, s->type);
    if (s->kind == S_REPEAT && s->name) fprintf(p->out, " as %s", s->name);
    if (s->message) {
        fputc(' ', p->out);
        print_string(p, s->message);
    }
    at(p, s->loc);
    if (s->cond) print_expr(p, s->cond, depth + 1);
    print_exprs(p, &s->values, depth + 1);
    if (s->kind == S_IF) label(p, "then", depth + 1);
    else if (s->kind == S_REPEAT) label(p, "body", depth + 1);
    print_stmts(p, &s->body, depth + 2);
    if (s->orelse.len) {
        label(p, "else", depth + 1);
        print_stmts(p, &s->orelse, depth + 2);
    }
}

static void print_stmts(Printer *p, const StmtVec *body, int depth)
{
    for (int i = 0; i < body->len; i++) print_stmt(p, body->data[i], depth);
}

/* ---- items */

static void print_kind(Printer *p, const Formal *f)
{
    switch (f->kind) {
    case K_NONE: print_annotation(p, f->type); break;
    case K_NAMED: fprintf(p->out, ": %s", f->kind_name); break;
    case K_DIM: fputs(": dim", p->out); break;
    case K_BLOCK: fputs(": block", p->out); break;
    case K_ENUM:
        for (int i = 0; i < f->choices.len; i++) {
            fputs(i ? " | " : ": ", p->out);
            print_string(p, f->choices.data[i]);
        }
        break;
    }
}

static void print_block(Printer *p, const Item *it)
{
    fprintf(p->out, "%s %s", it->is_model ? "model" : "block", it->name);
    at(p, it->loc);
    for (int i = 0; i < it->formals.len; i++) {
        const Formal *f = &it->formals.data[i];
        indent(p, 1);
        fprintf(p->out, "formal %s", f->name);
        print_kind(p, f);
        at(p, f->loc);
        if (f->def) print_expr(p, f->def, 2);
    }
    for (int i = 0; i < it->rtypes.len; i++) {
        indent(p, 1);
        fputs("returns ", p->out);
        print_type(p, it->rtypes.data[i]);
        at(p, it->rtypes.data[i]->loc);
    }
    label(p, it->value ? "value" : "body", 1);
    if (it->value) print_expr(p, it->value, 2);
    else print_stmts(p, &it->body, 2);
}

static void print_item(Printer *p, const Item *it)
{
    switch (it->kind) {
    case I_IMPORT:
        fputs("import ", p->out);
        if (it->is_string_path) print_string(p, it->path);
        else for (const char *c = it->path; *c; c++) fputc(*c == '/' ? '.' : *c, p->out);
        if (it->name) fprintf(p->out, " as %s", it->name);
        at(p, it->loc);
        return;
    case I_BLOCK:
        print_block(p, it);
        return;
    case I_ALIAS:
    case I_CONST:
        fprintf(p->out, "%s %s", it->kind == I_ALIAS ? "alias" : "const", it->name);
        at(p, it->loc);
        print_expr(p, it->value, 1);
        return;
    }
}

void ast_print(FILE *out, const Program *prog)
{
    Printer p = {out};
    fprintf(out, "file %s\n", prog->file ? prog->file->path : "?");
    for (int i = 0; i < prog->items.len; i++) print_item(&p, prog->items.data[i]);
}
