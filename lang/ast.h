/* ast.h: the syntax tree of a .cssm file.
 *
 * The parser builds it, the resolver and the builder (compiler/build.c) read
 * it; nothing mutates it after parsing. Every node has the source range it
 * came from, so any later phase can point at the user's text. Nodes live in
 * the AST arena of their file; lists are Vecs of pointers.
 *
 * The tree is deliberately close to the grammar (README, "The language"):
 * one Expr kind per expression form, one Stmt kind per statement form, one
 * Item kind per top-level form. Static evaluation and typing happen later. */
#ifndef CSSM_AST_H
#define CSSM_AST_H

#include "base.h"
#include "diag.h"

#include <stdio.h>

typedef struct Expr Expr;
typedef struct Stmt Stmt;
typedef struct Type Type;

typedef Vec(Expr *) ExprVec;
typedef Vec(Stmt *) StmtVec;
typedef Vec(Type *) TypeVec;
typedef Vec(const char *) StrVec;

typedef enum ExprKind {
    E_IDENT,     /* name */
    E_INT,       /* ival */
    E_FLOAT,     /* fval */
    E_IMAG,      /* fval: the literal 2.5i has fval 2.5 */
    E_STRING,    /* name: the unquoted, unescaped text */
    E_BOOL,      /* ival: 0 or 1 */
    E_UNARY,     /* op, lhs */
    E_BINARY,    /* op, lhs, rhs */
    E_COND,      /* if cond then lhs else rhs: cond, lhs, rhs */
    E_CALL,      /* lhs(args) */
    E_INDEX,     /* lhs[args]; an arg value may be an E_RANGE */
    E_FIELD,     /* lhs.name */
    E_LIST,      /* [items] */
    E_MATCH,     /* match cond { arms } */
    E_SCAN,      /* scan */
    E_ARROW,     /* lhs -> rhs (dimension map, only as a call argument) */
    E_RANGE,     /* lhs : rhs, either may be NULL (only inside an index) */
} ExprKind;

typedef enum Op {
    OP_OR, OP_AND, OP_NOT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_MATMUL, OP_POW,
    OP_NEG, OP_PLUS,
} Op;

/* A call argument or an index: `value`, `name = value`. */
typedef struct Arg {
    const char *name;       /* interned, or NULL when positional */
    Loc name_loc;
    Expr *value;
} Arg;
typedef Vec(Arg) ArgVec;

/* A match arm: `pattern: value`; pattern NULL is the wildcard `_`. */
typedef struct Arm {
    Expr *pattern;
    Expr *value;
} Arm;
typedef Vec(Arm) ArmVec;

/* A scan carry `name [: type] = init`. */
typedef struct Carry {
    const char *name;
    Loc loc;
    Type *type;             /* NULL when not annotated */
    Expr *init;
} Carry;
typedef Vec(Carry) CarryVec;

typedef struct Scan {
    const char *var;        /* the step index, `t` */
    const char *axis;       /* the scanned dimension, `T` */
    Loc axis_loc;
    bool reverse;
    CarryVec carries;
    bool combine;           /* the `combine (...) with (l, r)` form */
    const char *left, *right;
    StmtVec body;
} Scan;

struct Expr {
    ExprKind kind;
    Loc loc;
    Op op;
    const char *name;       /* E_IDENT, E_STRING, E_FIELD (interned) */
    int64_t ival;
    double fval;
    Expr *cond, *lhs, *rhs;
    ArgVec args;            /* E_CALL, E_INDEX */
    ExprVec items;          /* E_LIST */
    ArmVec arms;            /* E_MATCH */
    Scan *scan;             /* E_SCAN */
    int depth;              /* height of this expression tree (1 for a leaf), not
                               counting statements inside a scan's step; the
                               parser keeps it <= AST_MAX_DEPTH, so recursive
                               walks over expressions are bounded */
};

/* Types: `f32[B, T, H, W, C]`, `c64<d,d>[B, nh]`, `f32[..., C]`,
 * `f32[C, kh = k]`. Axis sizes are expressions over dims and ints. */
typedef enum DType { DT_F32, DT_C64, DT_I32, DT_BOOL } DType;

typedef struct Axis {
    const char *label;      /* `kh` in `kh = k`; NULL when the size is the label */
    Expr *size;             /* NULL for `...` */
    bool ellipsis;
    Loc loc;
} Axis;
typedef Vec(Axis) AxisVec;

struct Type {
    DType dtype;
    Loc loc;
    ExprVec elem;           /* 0, 1 or 2 element dims: c64<d> / c64<d,d> */
    bool has_axes;          /* `f32` alone is a scalar type */
    AxisVec axes;
};

typedef enum StmtKind {
    S_ASSIGN,   /* targets = values (parallel assignment) */
    S_PARAM,    /* param names [: type] = value */
    S_DIM,      /* dim name = value */
    S_PROBE,    /* probe name = value */
    S_EMIT,     /* emit values */
    S_RETURN,   /* return [values] */
    S_ASSERT,   /* assert value [, message] */
    S_IF,       /* if cond { body } else { orelse } (orelse may hold one S_IF) */
    S_REPEAT,   /* repeat count [as name] { body } */
} StmtKind;

typedef struct Target {
    const char *name;
    Loc loc;
    Type *type;             /* NULL when not annotated */
} Target;
typedef Vec(Target) TargetVec;

struct Stmt {
    StmtKind kind;
    Loc loc;
    TargetVec targets;      /* S_ASSIGN, S_PARAM (types only on S_ASSIGN), S_DIM and S_PROBE (one) */
    Type *type;             /* S_PARAM's `: type` */
    ExprVec values;         /* right-hand sides; S_ASSERT: [cond] */
    const char *message;    /* S_ASSERT, or NULL */
    Expr *cond;             /* S_IF; S_REPEAT: the count */
    const char *name;       /* S_REPEAT's `as` name, or NULL */
    StmtVec body, orelse;
};

/* Formal parameter of a block or model. Exactly one of `type` (a tensor
 * input) and `kind` (a hyperparameter) is set, or neither (untyped). */
typedef enum KindTag { K_NONE, K_NAMED, K_DIM, K_BLOCK, K_ENUM } KindTag;

typedef struct Formal {
    const char *name;
    Loc loc;
    Type *type;             /* `x: f32[...]` */
    KindTag kind;
    const char *kind_name;  /* K_NAMED: int, float, bool, str, dims, ... */
    StrVec choices;         /* K_ENUM: "a" | "b" */
    Expr *def;              /* default, or NULL */
} Formal;
typedef Vec(Formal) FormalVec;

typedef enum ItemKind {
    I_IMPORT,   /* import a.b.c [as x]  /  import "path" [as x] */
    I_BLOCK,    /* block|model name(formals) [-> rtypes] body */
    I_ALIAS,    /* block name = expr */
    I_CONST,    /* name = expr */
} ItemKind;

typedef struct Item {
    ItemKind kind;
    Loc loc;
    const char *name;       /* block/alias/const name; import: the alias or NULL */
    const char *path;       /* I_IMPORT: "a/b/c" for a.b.c, or the string as written */
    bool is_string_path;
    bool is_model;
    FormalVec formals;
    TypeVec rtypes;
    StmtVec body;           /* suite body */
    Expr *value;            /* `= expr` body, alias or constant value */
} Item;
typedef Vec(Item *) ItemVec;

typedef struct Program {
    const SrcFile *file;
    ItemVec items;
} Program;

/* Parses a whole file. Syntax errors are reported through diag (several per
 * run; the parser recovers at statement and item boundaries). Returns the
 * program even when there were errors (possibly partial); callers check
 * diag_error_count(). Never crashes or hangs, whatever the input. */
Program *parse_file(const SrcFile *file, Arena *arena);

/* Prints the tree in the stable text format of `cssmc -dP` (one node per
 * line, indented by depth, with line:col). */
void ast_print(FILE *out, const Program *p);

/* Modules: a file and the files it imports, loaded once each.
 * `import std` and `import a.b` look for std.cssm and a/b.cssm; `import
 * "dir/x.cssm"` names a file. The search order is the importing file's
 * folder, then each -I folder in order, then the installed models/ folder.
 * Import cycles and missing files are errors at the import's location. */
typedef struct Module Module;
struct Module {
    const char *name;           /* the import name: "std", "a.b", or the alias */
    const char *path;           /* the file found */
    const char *real_path;      /* its canonical form (realpath), the file's identity */
    Program *prog;
    Vec(Module *) imports;      /* in order */
    Vec(const char *) aliases;  /* parallel to imports: the `as` name or NULL */
};

typedef struct ModuleLoader {
    Arena *arena;
    Vec(const char *) search;   /* -I folders, then the installed models/ folder */
    Vec(Module *) loaded;       /* every module loaded so far, by path */
} ModuleLoader;

/* Loads `path` and, transitively, its imports. Returns NULL if the file itself
 * cannot be read (reported with diag); errors in imports are reported and the
 * module is returned with what could be loaded. */
Module *module_load(ModuleLoader *ml, const char *path);

/* Finds a top-level item visible in m: its own items first, then the items of
 * imports without an alias (in import order, depth first), then `alias.name`
 * for aliased imports (pass the alias as `qualifier`, or NULL). */
Item *module_lookup(const Module *m, const char *qualifier, const char *name);

/* Construction (lang/ast.c, used by the parser and the resolver). Every node
 * and every vector of a tree lives in the tree's arena, so arena_free
 * releases all of it; AST vectors are grown with ast_push, never vec_push. */
enum { AST_MAX_DEPTH = 256 };  /* deepest bracket nesting and expression tree */

void ast_grow(Arena *a, void *data_ptr, int *cap, size_t elem_size);
#define ast_push(a, v, x)                                                     \
    do {                                                                      \
        if ((v)->len == (v)->cap)                                             \
            ast_grow((a), &(v)->data, &(v)->cap, sizeof *(v)->data);          \
        (v)->data[(v)->len++] = (x);                                          \
    } while (0)

Expr *expr_leaf(Arena *a, ExprKind kind, Loc loc);
Expr *expr_ident(Arena *a, const char *name, Loc loc);
Expr *expr_unary(Arena *a, Op op, Expr *operand, Loc loc);
Expr *expr_binary(Arena *a, Op op, Expr *lhs, Expr *rhs, Loc loc);
/* E_ARROW and E_RANGE: lhs -> rhs, lhs : rhs (either side of a range may be NULL). */
Expr *expr_pair(Arena *a, ExprKind kind, Expr *lhs, Expr *rhs, Loc loc);
Expr *expr_cond(Arena *a, Expr *cond, Expr *then, Expr *orelse, Loc loc);
/* E_CALL and E_INDEX: callee(args), callee[args]. */
Expr *expr_apply(Arena *a, ExprKind kind, Expr *callee, ArgVec args, Loc loc);
Expr *expr_field(Arena *a, Expr *lhs, const char *name, Loc loc);
Expr *expr_list(Arena *a, ExprVec items, Loc loc);
Expr *expr_match(Arena *a, Expr *subject, ArmVec arms, Loc loc);
Expr *expr_scan(Arena *a, Scan *scan, Loc loc);
Stmt *stmt_new(Arena *a, StmtKind kind, Loc loc);
Item *item_new(Arena *a, ItemKind kind, Loc loc);
Type *type_new(Arena *a, DType dtype, Loc loc);

const char *op_spelling(Op op);     /* "+", "and", "@", ... */
const char *dtype_name(DType t);    /* "f32", "c64", ... */

#endif
