/* ast.c: constructors for syntax-tree nodes, and the names of operators and
 * dtypes.
 *
 * The parser builds every node through these functions, so each node comes
 * out zeroed, located, and (for expressions) with its height in `depth`
 * already computed from its children; the parser only has to compare that
 * height with AST_MAX_DEPTH. Everything, vectors included, is allocated in
 * the caller's arena: a tree owns no heap memory, and freeing its arena frees
 * it whole, even a partial tree left behind by a syntax error. */
#include "ast.h"

#include <string.h>

void ast_grow(Arena *a, void *data_ptr, int *cap, size_t elem_size)
{
    /* The old block stays in the arena: at most doubling, so the waste is
     * bounded by the final size. */
    void *old, *grown;
    memcpy(&old, data_ptr, sizeof old);
    int new_cap = *cap ? 2 * *cap : 4;
    grown = arena_alloc(a, (size_t)new_cap * elem_size);
    if (old) memcpy(grown, old, (size_t)*cap * elem_size);
    memcpy(data_ptr, &grown, sizeof grown);
    *cap = new_cap;
}

static int max_depth(const Expr *a, const Expr *b)
{
    int da = a ? a->depth : 0, db = b ? b->depth : 0;
    return da > db ? da : db;
}

Expr *expr_leaf(Arena *a, ExprKind kind, Loc loc)
{
    Expr *e = arena_alloc(a, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

Expr *expr_ident(Arena *a, const char *name, Loc loc)
{
    Expr *e = expr_leaf(a, E_IDENT, loc);
    e->name = name;
    return e;
}

Expr *expr_unary(Arena *a, Op op, Expr *operand, Loc loc)
{
    Expr *e = expr_leaf(a, E_UNARY, loc);
    e->op = op;
    e->lhs = operand;
    e->depth = 1 + operand->depth;
    return e;
}

Expr *expr_binary(Arena *a, Op op, Expr *lhs, Expr *rhs, Loc loc)
{
    Expr *e = expr_pair(a, E_BINARY, lhs, rhs, loc);
    e->op = op;
    return e;
}

Expr *expr_pair(Arena *a, ExprKind kind, Expr *lhs, Expr *rhs, Loc loc)
{
    Expr *e = expr_leaf(a, kind, loc);
    e->lhs = lhs;
    e->rhs = rhs;
    e->depth = 1 + max_depth(lhs, rhs);
    return e;
}

Expr *expr_cond(Arena *a, Expr *cond, Expr *then, Expr *orelse, Loc loc)
{
    Expr *e = expr_pair(a, E_COND, then, orelse, loc);
    e->cond = cond;
    e->depth = MAX(e->depth, 1 + cond->depth);
    return e;
}

Expr *expr_apply(Arena *a, ExprKind kind, Expr *callee, ArgVec args, Loc loc)
{
    Expr *e = expr_pair(a, kind, callee, NULL, loc);
    e->args = args;
    for (int i = 0; i < args.len; i++) e->depth = MAX(e->depth, 1 + args.data[i].value->depth);
    return e;
}

Expr *expr_field(Arena *a, Expr *lhs, const char *name, Loc loc)
{
    Expr *e = expr_pair(a, E_FIELD, lhs, NULL, loc);
    e->name = name;
    return e;
}

Expr *expr_list(Arena *a, ExprVec items, Loc loc)
{
    Expr *e = expr_leaf(a, E_LIST, loc);
    e->items = items;
    for (int i = 0; i < items.len; i++) e->depth = MAX(e->depth, 1 + items.data[i]->depth);
    return e;
}

Expr *expr_match(Arena *a, Expr *subject, ArmVec arms, Loc loc)
{
    Expr *e = expr_pair(a, E_MATCH, NULL, NULL, loc);
    e->cond = subject;
    e->arms = arms;
    e->depth = 1 + subject->depth;
    for (int i = 0; i < arms.len; i++)
        e->depth = MAX(e->depth, 1 + max_depth(arms.data[i].pattern, arms.data[i].value));
    return e;
}

Expr *expr_scan(Arena *a, Scan *scan, Loc loc)
{
    Expr *e = expr_leaf(a, E_SCAN, loc);
    e->scan = scan;
    for (int i = 0; i < scan->carries.len; i++)
        e->depth = MAX(e->depth, 1 + scan->carries.data[i].init->depth);
    return e;
}

Stmt *stmt_new(Arena *a, StmtKind kind, Loc loc)
{
    Stmt *s = arena_alloc(a, sizeof *s);
    s->kind = kind;
    s->loc = loc;
    return s;
}

Item *item_new(Arena *a, ItemKind kind, Loc loc)
{
    Item *it = arena_alloc(a, sizeof *it);
    it->kind = kind;
    it->loc = loc;
    return it;
}

Type *type_new(Arena *a, DType dtype, Loc loc)
{
    Type *t = arena_alloc(a, sizeof *t);
    t->dtype = dtype;
    t->loc = loc;
    return t;
}

const char *op_spelling(Op op)
{
    switch (op) {
    case OP_OR: return "or";
    case OP_AND: return "and";
    case OP_NOT: return "not";
    case OP_EQ: return "==";
    case OP_NE: return "!=";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    case OP_IN: return "in";
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_MOD: return "%";
    case OP_MATMUL: return "@";
    case OP_POW: return "**";
    case OP_NEG: return "-";
    case OP_PLUS: return "+";
    }
    ice("op_spelling: bad op %d", (int)op);
}

const char *dtype_name(DType t)
{
    switch (t) {
    case DT_F32: return "f32";
    case DT_C64: return "c64";
    case DT_I32: return "i32";
    case DT_BOOL: return "bool";
    }
    ice("dtype_name: bad dtype %d", (int)t);
}
