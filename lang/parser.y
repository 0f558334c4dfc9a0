/* parser.y: the grammar of .cssm (LANGUAGE-SKETCH §2.2) as a pure bison
 * parser that builds the tree of ast.h.
 *
 * Assumes the token stream of lexer.l, which has already applied the newline
 * rule (a newline that ends a statement arrives as ';') and keeps the stack
 * of open brackets that the messages below refer to. Guarantees: the grammar
 * has no conflicts (%expect 0); every node carries its source range; syntax
 * errors are reported through diag with a message that says what was
 * expected, and the parser recovers at statement and item boundaries, so one
 * run reports several; whatever the input, parse_file returns a (possibly
 * partial) program: nesting is capped at AST_MAX_DEPTH, errors at
 * MAX_SYNTAX_ERRORS per file, and bison's own stack overflow becomes an
 * error message instead of an abort. */

%code requires {
#include "ast.h"
typedef struct ParseState ParseState;
}

%code provides {
/* An open bracket: its token kind, where it is, and whether the parser
 * took it as the '{' of a suite (a block of statements). */
typedef struct Bracket {
    int kind;
    Loc loc;
    bool suite;
} Bracket;

/* What a closing bracket did to the bracket stack. */
typedef enum CloseStatus { CLOSE_OK, CLOSE_MISMATCHED, CLOSE_UNMATCHED } CloseStatus;

typedef struct Token {
    int kind;                 /* bison token kind; 0 is end of file */
    CSSM_STYPE val;
    Loc loc;
    size_t off, len;          /* bytes of the token in the file's text */
    bool newline_before;      /* a newline separates it from the previous token */
    bool automatic;           /* a ';' inserted by the newline rule */
    CloseStatus close;        /* closing brackets only */
    Bracket opener;           /* CLOSE_MISMATCHED: the bracket left open */
} Token;

/* Everything the parser and the lexer share while one file is parsed. */
struct ParseState {
    const SrcFile *file;
    Arena *arena;
    Program *prog;
    void *scanner;            /* the flex scanner */
    int line, col;            /* position of the next byte */
    size_t off, tok_off;      /* offset of the next byte, of the last match */
    bool saw_newline;         /* the scanner passed a newline since the last token */
    bool at_eof;
    Loc eof_loc;
    Bracket brackets[AST_MAX_DEPTH];
    int depth;
    Token buffered;           /* read ahead by the newline rule */
    bool has_buffered;
    Token last, prev, prev2;  /* the last three tokens handed to the parser */
    int errors;
    bool stopped;             /* nesting or error limit hit: the rest is not parsed */
    bool skipped;             /* a bad character was skipped in this statement */
    bool recovering;          /* after a syntax error, until the next statement */
    int resync_depth;         /* recovering: the bracket depth of that statement */
};

enum { MAX_SYNTAX_ERRORS = 10 };

/* Reports a syntax error, counting it against the file's limit. */
void parse_error(ParseState *ps, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Stops parsing the file: the lexer returns end of file from now on and no
 * further syntax errors are reported. */
void parse_stop(ParseState *ps);

/* Marks the open '{' at `loc` as a suite's. */
void lexer_mark_suite(ParseState *ps, Loc loc);
/* Starts error recovery: until the parser is back at the start of a
 * statement of the innermost suite (or of an item), the lexer hands it no
 * tokens from inside brackets opened after that point, so a '}' or ';'
 * inside them cannot be taken for the end of the broken statement. */
void lexer_recover(ParseState *ps);
void lexer_open(ParseState *ps);
void lexer_close(ParseState *ps);
int cssm_lex(CSSM_STYPE *val, Loc *loc, ParseState *ps);
const char *token_source(const ParseState *ps, const Token *t, int max, int *len);
}

%code {
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The range of a rule is that of its non-empty parts; an empty rule has no
 * location (file NULL), so it never stretches its parent's range. */
static Loc span_rhs(const Loc *rhs, int n)
{
    Loc loc = {0};
    for (int i = 1; i <= n; i++) {
        if (!rhs[i].file) continue;
        if (!loc.file) loc = rhs[i];
        loc.end_line = rhs[i].end_line;
        loc.end_col = rhs[i].end_col;
    }
    return loc;
}
#define YYLLOC_DEFAULT(cur, rhs, n) ((cur) = span_rhs(&YYRHSLOC(rhs, 0), (n)))
#define YYMAXDEPTH 10000

static void cssm_error(Loc *loc, ParseState *ps, const char *msg);
static Expr *checked(ParseState *ps, Expr *e);
static const char *join_path(const char *dir, const char *name);
static Item *import_item(ParseState *ps, Loc loc, const char *path, bool is_string,
                         const char *alias);
static Stmt *named_stmt(ParseState *ps, StmtKind kind, const char *name, Loc name_loc,
                        Expr *value, Loc loc);
static Stmt *if_stmt(ParseState *ps, Expr *cond, StmtVec body, Stmt *orelse, Loc loc);
static Scan *scan_new(ParseState *ps, const char *var, const char *axis, Loc axis_loc,
                      bool reverse, CarryVec carries);

#define A (ps->arena)
}

%define api.pure full
%define api.prefix {cssm_}
%define api.token.prefix {TOK_}
%define api.location.type {Loc}
%define parse.error custom
%define parse.lac full
%locations
%param {ParseState *ps}
%expect 0

%union {
    const char *name;
    int64_t ival;
    double fval;
    DType dtype;
    Op op;
    bool flag;
    Expr *expr;
    ExprVec exprs;
    Arg arg;
    ArgVec args;
    Arm arm;
    ArmVec arms;
    Carry carry;
    CarryVec carries;
    Scan *scan;
    Stmt *stmt;
    StmtVec stmts;
    Target target;
    TargetVec targets;
    Type *type;
    TypeVec types;
    Axis axis;
    AxisVec axes;
    Formal formal;
    FormalVec formals;
    StrVec strs;
    Item *item;
}

%token <name> IDENT "identifier" STRING "string"
%token <ival> INT "integer"
%token <fval> FLOAT "number" IMAG "imaginary number"
%token <dtype> DTYPE "dtype"
%token IMPORT "'import'" AS "'as'" BLOCK "'block'" MODEL "'model'" PARAM "'param'"
%token DIM "'dim'" PROBE "'probe'" EMIT "'emit'" RETURN "'return'" ASSERT "'assert'"
%token IF "'if'" THEN "'then'" ELSE "'else'" REPEAT "'repeat'" SCAN "'scan'" IN "'in'"
%token REVERSE "'reverse'" COMBINE "'combine'" WITH "'with'" MATCH "'match'"
%token AND "'and'" OR "'or'" NOT "'not'" TRUE "'true'" FALSE "'false'"
%token ARROW "'->'" POW "'**'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='"
%token ELLIPSIS "'...'" UNDERSCORE "'_'"

%type <name> dotted opt_as
%type <item> item block_head
%type <formals> opt_formals formals
%type <formal> formal annotation
%type <strs> choices
%type <types> opt_rtypes rtypes type_list
%type <type> type type_head opt_type
%type <exprs> opt_elem exprs opt_exprs
%type <axes> axes
%type <axis> axis
%type <expr> dimexpr dimterm dimatom opt_default
%type <expr> expr or_expr and_expr not_expr cmp sum product unary power postfix primary
%type <expr> range match
%type <op> cmp_op
%type <stmts> suite stmts
%type <stmt> opt_stmt stmt simple if_stmt repeat_stmt
%type <targets> targets names
%type <target> target
%type <args> opt_args args indexes
%type <arg> arg index
%type <arms> arms
%type <arm> arm
%type <scan> scan_head
%type <carries> carries
%type <carry> carry
%type <flag> opt_reverse

%%

program
    : items
    ;
items
    : opt_item
    | items separator opt_item
    ;
/* A separator after an error is a real resynchronisation point, so errors
 * right after it are reported (bison would stay silent for three tokens). */
separator
    : ';'                       { yyerrok; }
    ;
opt_item
    : %empty
    | item                      { ast_push(A, &ps->prog->items, $1); }
    | error
    ;
item
    : IMPORT dotted opt_as      { $$ = import_item(ps, @$, $2, false, $3); }
    | IMPORT STRING opt_as      { $$ = import_item(ps, @$, $2, true, $3); }
    | block_head suite          { $$ = $1; $$->body = $2; $$->loc = @$; }
    | block_head '=' expr       { $$ = $1; $$->value = $3; $$->loc = @$; }
    | BLOCK IDENT '=' expr      { $$ = item_new(A, I_ALIAS, @$); $$->name = $2; $$->value = $4; }
    | IDENT '=' expr            { $$ = item_new(A, I_CONST, @$); $$->name = $1; $$->value = $3; }
    ;
dotted
    : IDENT
    | dotted '.' IDENT          { $$ = join_path($1, $3); }
    ;
opt_as
    : %empty                    { $$ = NULL; }
    | AS IDENT                  { $$ = $2; }
    ;
block_head
    : BLOCK IDENT '(' opt_formals ')' opt_rtypes
        { $$ = item_new(A, I_BLOCK, @$); $$->name = $2; $$->formals = $4; $$->rtypes = $6; }
    | MODEL IDENT '(' opt_formals ')' opt_rtypes
        { $$ = item_new(A, I_BLOCK, @$); $$->name = $2; $$->formals = $4; $$->rtypes = $6;
          $$->is_model = true; }
    ;

opt_formals
    : %empty                    { $$ = (FormalVec){0}; }
    | formals
    | formals ','
    ;
formals
    : formal                    { $$ = (FormalVec){0}; ast_push(A, &$$, $1); }
    | formals ',' formal        { $$ = $1; ast_push(A, &$$, $3); }
    ;
formal
    : IDENT annotation opt_default
        { $$ = $2; $$.name = $1; $$.loc = @$; $$.def = $3; }
    ;
annotation
    : %empty                    { $$ = (Formal){0}; }
    | ':' type                  { $$ = (Formal){0}; $$.type = $2; }
    | ':' IDENT                 { $$ = (Formal){0}; $$.kind = K_NAMED; $$.kind_name = $2; }
    | ':' DIM                   { $$ = (Formal){0}; $$.kind = K_DIM; }
    | ':' BLOCK                 { $$ = (Formal){0}; $$.kind = K_BLOCK; }
    | ':' choices               { $$ = (Formal){0}; $$.kind = K_ENUM; $$.choices = $2; }
    ;
choices
    : STRING                    { $$ = (StrVec){0}; ast_push(A, &$$, $1); }
    | choices '|' STRING        { $$ = $1; ast_push(A, &$$, $3); }
    ;
opt_default
    : %empty                    { $$ = NULL; }
    | '=' expr                  { $$ = $2; }
    ;
opt_rtypes
    : %empty                    { $$ = (TypeVec){0}; }
    | ARROW rtypes              { $$ = $2; }
    ;
rtypes
    : type                      { $$ = (TypeVec){0}; ast_push(A, &$$, $1); }
    | '(' type_list ')'         { $$ = $2; }
    ;
type_list
    : type                      { $$ = (TypeVec){0}; ast_push(A, &$$, $1); }
    | type_list ',' type        { $$ = $1; ast_push(A, &$$, $3); }
    ;

/* ---- types: f32, c64<d,d>[B, nh, H, Wf], f32[..., C], f32[C, kh = k] */
type
    : type_head
    | type_head '[' axes ']'    { $$ = $1; $$->has_axes = true; $$->axes = $3; $$->loc = @$; }
    ;
type_head
    : DTYPE opt_elem            { $$ = type_new(A, $1, @$); $$->elem = $2; }
    ;
opt_elem
    : %empty                    { $$ = (ExprVec){0}; }
    | '<' dimexpr '>'           { $$ = (ExprVec){0}; ast_push(A, &$$, $2); }
    | '<' dimexpr ',' dimexpr '>'
        { $$ = (ExprVec){0}; ast_push(A, &$$, $2); ast_push(A, &$$, $4); }
    ;
axes
    : axis                      { $$ = (AxisVec){0}; ast_push(A, &$$, $1); }
    | axes ',' axis             { $$ = $1; ast_push(A, &$$, $3); }
    ;
axis
    : dimexpr                   { $$ = (Axis){.size = $1, .loc = @$}; }
    | IDENT '=' dimexpr         { $$ = (Axis){.label = $1, .size = $3, .loc = @$}; }
    | ELLIPSIS                  { $$ = (Axis){.ellipsis = true, .loc = @$}; }
    ;
dimexpr
    : dimterm
    | dimexpr '+' dimterm       { $$ = checked(ps, expr_binary(A, OP_ADD, $1, $3, @$)); }
    | dimexpr '-' dimterm       { $$ = checked(ps, expr_binary(A, OP_SUB, $1, $3, @$)); }
    ;
dimterm
    : dimatom
    | dimterm '*' dimatom       { $$ = checked(ps, expr_binary(A, OP_MUL, $1, $3, @$)); }
    | dimterm '/' dimatom       { $$ = checked(ps, expr_binary(A, OP_DIV, $1, $3, @$)); }
    | dimterm '%' dimatom       { $$ = checked(ps, expr_binary(A, OP_MOD, $1, $3, @$)); }
    ;
dimatom
    : IDENT                     { $$ = expr_ident(A, $1, @$); }
    | INT                       { $$ = expr_leaf(A, E_INT, @$); $$->ival = $1; }
    | '(' dimexpr ')'           { $$ = $2; }
    ;

/* ---- statements */
suite
    : '{' { lexer_mark_suite(ps, @1); } stmts '}'   { $$ = $3; }
    ;
stmts
    : opt_stmt                  { $$ = (StmtVec){0}; if ($1) ast_push(A, &$$, $1); }
    | stmts separator opt_stmt  { $$ = $1; if ($3) ast_push(A, &$$, $3); }
    ;
opt_stmt
    : %empty                    { $$ = NULL; }
    | stmt
    | error                     { $$ = NULL; }
    ;
stmt
    : simple
    | if_stmt
    | repeat_stmt
    ;
simple
    : targets '=' exprs
        { $$ = stmt_new(A, S_ASSIGN, @$); $$->targets = $1; $$->values = $3; }
    | PARAM names opt_type '=' expr
        { $$ = stmt_new(A, S_PARAM, @$); $$->targets = $2; $$->type = $3;
          ast_push(A, &$$->values, $5); }
    | DIM IDENT '=' expr        { $$ = named_stmt(ps, S_DIM, $2, @2, $4, @$); }
    | PROBE IDENT '=' expr      { $$ = named_stmt(ps, S_PROBE, $2, @2, $4, @$); }
    | EMIT exprs                { $$ = stmt_new(A, S_EMIT, @$); $$->values = $2; }
    | RETURN                    { $$ = stmt_new(A, S_RETURN, @$); }
    | RETURN exprs              { $$ = stmt_new(A, S_RETURN, @$); $$->values = $2; }
    | ASSERT expr               { $$ = stmt_new(A, S_ASSERT, @$); ast_push(A, &$$->values, $2); }
    | ASSERT expr ',' STRING
        { $$ = stmt_new(A, S_ASSERT, @$); ast_push(A, &$$->values, $2); $$->message = $4; }
    ;
targets
    : target                    { $$ = (TargetVec){0}; ast_push(A, &$$, $1); }
    | targets ',' target        { $$ = $1; ast_push(A, &$$, $3); }
    ;
target
    : IDENT                     { $$ = (Target){.name = $1, .loc = @$}; }
    | IDENT ':' type            { $$ = (Target){.name = $1, .loc = @$, .type = $3}; }
    ;
names
    : IDENT                     { $$ = (TargetVec){0}; ast_push(A, &$$, ((Target){$1, @1, NULL})); }
    | names ',' IDENT           { $$ = $1; ast_push(A, &$$, ((Target){$3, @3, NULL})); }
    ;
opt_type
    : %empty                    { $$ = NULL; }
    | ':' type                  { $$ = $2; }
    ;
if_stmt
    : IF expr suite                     { $$ = if_stmt(ps, $2, $3, NULL, @$); }
    | IF expr suite ELSE suite
        { $$ = if_stmt(ps, $2, $3, NULL, @$); $$->orelse = $5; }
    | IF expr suite ELSE if_stmt        { $$ = if_stmt(ps, $2, $3, $5, @$); }
    ;
repeat_stmt
    : REPEAT expr opt_as suite
        { $$ = stmt_new(A, S_REPEAT, @$); $$->cond = $2; $$->name = $3; $$->body = $4; }
    ;

/* ---- expressions, lowest precedence first */
exprs
    : expr                      { $$ = (ExprVec){0}; ast_push(A, &$$, $1); }
    | exprs ',' expr            { $$ = $1; ast_push(A, &$$, $3); }
    ;
expr
    : IF expr THEN expr ELSE expr   { $$ = checked(ps, expr_cond(A, $2, $4, $6, @$)); }
    | or_expr
    ;
or_expr
    : and_expr
    | or_expr OR and_expr       { $$ = checked(ps, expr_binary(A, OP_OR, $1, $3, @$)); }
    ;
and_expr
    : not_expr
    | and_expr AND not_expr     { $$ = checked(ps, expr_binary(A, OP_AND, $1, $3, @$)); }
    ;
not_expr
    : NOT not_expr              { $$ = checked(ps, expr_unary(A, OP_NOT, $2, @$)); }
    | cmp
    ;
cmp
    : sum
    | sum cmp_op sum            { $$ = checked(ps, expr_binary(A, $2, $1, $3, @$)); }
    ;
cmp_op
    : EQ { $$ = OP_EQ; } | NE { $$ = OP_NE; } | '<' { $$ = OP_LT; } | LE { $$ = OP_LE; }
    | '>' { $$ = OP_GT; } | GE { $$ = OP_GE; } | IN { $$ = OP_IN; }
    ;
sum
    : product
    | sum '+' product           { $$ = checked(ps, expr_binary(A, OP_ADD, $1, $3, @$)); }
    | sum '-' product           { $$ = checked(ps, expr_binary(A, OP_SUB, $1, $3, @$)); }
    ;
product
    : unary
    | product '*' unary         { $$ = checked(ps, expr_binary(A, OP_MUL, $1, $3, @$)); }
    | product '/' unary         { $$ = checked(ps, expr_binary(A, OP_DIV, $1, $3, @$)); }
    | product '%' unary         { $$ = checked(ps, expr_binary(A, OP_MOD, $1, $3, @$)); }
    | product '@' unary         { $$ = checked(ps, expr_binary(A, OP_MATMUL, $1, $3, @$)); }
    ;
unary
    : '-' unary                 { $$ = checked(ps, expr_unary(A, OP_NEG, $2, @$)); }
    | '+' unary                 { $$ = checked(ps, expr_unary(A, OP_PLUS, $2, @$)); }
    | power
    ;
power
    : postfix
    | postfix POW unary         { $$ = checked(ps, expr_binary(A, OP_POW, $1, $3, @$)); }
    ;
postfix
    : primary
    | postfix '(' opt_args ')'  { $$ = checked(ps, expr_apply(A, E_CALL, $1, $3, @$)); }
    | postfix '[' indexes ']'   { $$ = checked(ps, expr_apply(A, E_INDEX, $1, $3, @$)); }
    | postfix '.' IDENT         { $$ = checked(ps, expr_field(A, $1, $3, @$)); }
    ;
primary
    : IDENT                     { $$ = expr_ident(A, $1, @$); }
    | INT                       { $$ = expr_leaf(A, E_INT, @$); $$->ival = $1; }
    | FLOAT                     { $$ = expr_leaf(A, E_FLOAT, @$); $$->fval = $1; }
    | IMAG                      { $$ = expr_leaf(A, E_IMAG, @$); $$->fval = $1; }
    | STRING                    { $$ = expr_leaf(A, E_STRING, @$); $$->name = $1; }
    | TRUE                      { $$ = expr_leaf(A, E_BOOL, @$); $$->ival = 1; }
    | FALSE                     { $$ = expr_leaf(A, E_BOOL, @$); $$->ival = 0; }
    | '(' expr ')'              { $$ = $2; }
    | '[' opt_exprs ']'         { $$ = checked(ps, expr_list(A, $2, @$)); }
    | match
    | scan_head suite           { $1->body = $2; $$ = checked(ps, expr_scan(A, $1, @$)); }
    ;
opt_exprs
    : %empty                    { $$ = (ExprVec){0}; }
    | exprs
    | exprs ','
    ;
opt_args
    : %empty                    { $$ = (ArgVec){0}; }
    | args
    | args ','
    ;
args
    : arg                       { $$ = (ArgVec){0}; ast_push(A, &$$, $1); }
    | args ',' arg              { $$ = $1; ast_push(A, &$$, $3); }
    ;
arg
    : expr                      { $$ = (Arg){.value = $1}; }
    | IDENT '=' expr            { $$ = (Arg){.name = $1, .name_loc = @1, .value = $3}; }
    | expr ARROW expr           { $$ = (Arg){.value = checked(ps, expr_pair(A, E_ARROW, $1, $3, @$))}; }
    ;
indexes
    : index                     { $$ = (ArgVec){0}; ast_push(A, &$$, $1); }
    | indexes ',' index         { $$ = $1; ast_push(A, &$$, $3); }
    ;
index
    : range                     { $$ = (Arg){.value = $1}; }
    | IDENT '=' range           { $$ = (Arg){.name = $1, .name_loc = @1, .value = $3}; }
    ;
range
    : expr
    | expr ':' expr             { $$ = checked(ps, expr_pair(A, E_RANGE, $1, $3, @$)); }
    | expr ':'                  { $$ = checked(ps, expr_pair(A, E_RANGE, $1, NULL, @$)); }
    | ':' expr                  { $$ = checked(ps, expr_pair(A, E_RANGE, NULL, $2, @$)); }
    | ':'                       { $$ = expr_pair(A, E_RANGE, NULL, NULL, @$); }
    ;
match
    : MATCH expr '{' arms '}'   { $$ = checked(ps, expr_match(A, $2, $4, @$)); }
    ;
arms
    : arm                       { $$ = (ArmVec){0}; if ($1.value) ast_push(A, &$$, $1); }
    | arms ',' arm              { $$ = $1; if ($3.value) ast_push(A, &$$, $3); }
    | arms ';' arm              { $$ = $1; if ($3.value) ast_push(A, &$$, $3); }
    ;
arm
    : %empty                    { $$ = (Arm){0}; }
    | expr ':' expr             { $$ = (Arm){.pattern = $1, .value = $3}; }
    | UNDERSCORE ':' expr       { $$ = (Arm){.pattern = NULL, .value = $3}; }
    ;
scan_head
    : SCAN IDENT IN opt_reverse IDENT '(' carries ')'
        { $$ = scan_new(ps, $2, $5, @5, $4, $7); }
    | SCAN IDENT IN opt_reverse IDENT COMBINE '(' carries ')' WITH '(' IDENT ',' IDENT ')'
        { $$ = scan_new(ps, $2, $5, @5, $4, $8); $$->combine = true;
          $$->left = $12; $$->right = $14; }
    ;
opt_reverse
    : %empty                    { $$ = false; }
    | REVERSE                   { $$ = true; }
    ;
carries
    : carry                     { $$ = (CarryVec){0}; ast_push(A, &$$, $1); }
    | carries ',' carry         { $$ = $1; ast_push(A, &$$, $3); }
    ;
carry
    : IDENT '=' expr            { $$ = (Carry){.name = $1, .loc = @$, .init = $3}; }
    | IDENT ':' type '=' expr   { $$ = (Carry){.name = $1, .loc = @$, .type = $3, .init = $5}; }
    ;

%%

/* ---- building nodes */

/* Every expression constructor goes through here: the one place that keeps
 * trees shallow enough for recursive walks. */
static Expr *checked(ParseState *ps, Expr *e)
{
    if (e->depth == AST_MAX_DEPTH + 1) {
        parse_error(ps, e->loc, "expression nested too deeply (more than %d levels)",
                    AST_MAX_DEPTH);
        parse_stop(ps);
    }
    return e;
}

/* `import a.b.c` names the file a/b/c.cssm. */
static const char *join_path(const char *dir, const char *name)
{
    char *s = xprintf("%s/%s", dir, name);
    const char *path = intern(s);
    free(s);
    return path;
}

static Item *import_item(ParseState *ps, Loc loc, const char *path, bool is_string,
                         const char *alias)
{
    Item *it = item_new(A, I_IMPORT, loc);
    if (is_string && !*path) parse_error(ps, loc, "empty import path");
    it->path = path;
    it->is_string_path = is_string;
    it->name = alias;
    return it;
}

static Stmt *named_stmt(ParseState *ps, StmtKind kind, const char *name, Loc name_loc,
                        Expr *value, Loc loc)
{
    Stmt *s = stmt_new(A, kind, loc);
    ast_push(A, &s->targets, ((Target){name, name_loc, NULL}));
    ast_push(A, &s->values, value);
    return s;
}

static Stmt *if_stmt(ParseState *ps, Expr *cond, StmtVec body, Stmt *orelse, Loc loc)
{
    Stmt *s = stmt_new(A, S_IF, loc);
    s->cond = cond;
    s->body = body;
    if (orelse) ast_push(A, &s->orelse, orelse);
    return s;
}

static Scan *scan_new(ParseState *ps, const char *var, const char *axis, Loc axis_loc,
                      bool reverse, CarryVec carries)
{
    Scan *sc = arena_alloc(A, sizeof *sc);
    sc->var = var;
    sc->axis = axis;
    sc->axis_loc = axis_loc;
    sc->reverse = reverse;
    sc->carries = carries;
    return sc;
}

/* ---- errors */

void parse_error(ParseState *ps, Loc loc, const char *fmt, ...)
{
    if (ps->stopped) return;
    va_list ap;
    va_start(ap, fmt);
    diag_verror(loc, fmt, ap);
    va_end(ap);
    if (++ps->errors == MAX_SYNTAX_ERRORS) {
        diag_note((Loc){0}, "too many syntax errors in %s; the rest of it is not parsed",
                  ps->file->path);
        parse_stop(ps);
    }
}

void parse_stop(ParseState *ps) { ps->stopped = true; }

/* Bison calls this only when its stack is full (its own message says
 * "memory exhausted", which would mislead). */
static void cssm_error(Loc *loc, ParseState *ps, const char *msg)
{
    (void)msg;
    parse_error(ps, *loc, "nested too deeply for the parser (its stack of %d levels is full)",
                YYMAXDEPTH);
    parse_stop(ps);
}

static const char *opener_spelling(int kind)
{
    return kind == '(' ? "'('" : kind == '[' ? "'['" : "'{'";
}

static const char *closer_spelling(int kind)
{
    return kind == '(' ? "')'" : kind == '[' ? "']'" : "'}'";
}

/* The symbol kind of a one-character token. */
#define SYM(c) YYTRANSLATE(c)

/* How a token kind reads in "expected ..." lists. */
static const char *expected_name(yysymbol_kind_t sym)
{
    switch (sym) {
    case YYSYMBOL_YYEOF: return "end of file";
    case YYSYMBOL_IDENT: return "a name";
    case YYSYMBOL_STRING: return "a string";
    case YYSYMBOL_INT: return "an integer";
    case YYSYMBOL_FLOAT: case YYSYMBOL_IMAG: return "a number";
    case YYSYMBOL_DTYPE: return "a type (f32, c64, i32)";
    default: return sym == SYM(';') ? "end of statement" : yysymbol_name(sym);
    }
}

/* How the offending token reads in "unexpected ...". */
static char *got_name(const ParseState *ps, yysymbol_kind_t sym)
{
    const Token *t = &ps->last;
    if (t->automatic) return xstrdup("end of line");
    int len;
    const char *text = token_source(ps, t, 40, &len);
    const char *dots = (size_t)len < t->len ? "..." : "";
    switch (sym) {
    case YYSYMBOL_IDENT: return xprintf("name '%.*s%s'", len, text, dots);
    case YYSYMBOL_INT: case YYSYMBOL_FLOAT: case YYSYMBOL_IMAG:
        return xprintf("number '%.*s%s'", len, text, dots);
    case YYSYMBOL_STRING: return xprintf("string %.*s%s", len, text, dots);
    case YYSYMBOL_DTYPE: return xprintf("'%.*s'", len, text);
    default: return xstrdup(expected_name(sym));
    }
}

static bool in_set(yysymbol_kind_t sym, const yysymbol_kind_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == sym) return true;
    return false;
}

static bool starts_expression(yysymbol_kind_t s)
{
    return s == YYSYMBOL_IDENT || s == YYSYMBOL_INT || s == YYSYMBOL_FLOAT ||
           s == YYSYMBOL_IMAG || s == YYSYMBOL_STRING || s == YYSYMBOL_TRUE ||
           s == YYSYMBOL_FALSE || s == SYM('(') || s == SYM('[') ||
           s == YYSYMBOL_MATCH || s == YYSYMBOL_SCAN || s == YYSYMBOL_IF ||
           s == YYSYMBOL_NOT || s == SYM('-') || s == SYM('+');
}

static bool is_comparison(yysymbol_kind_t s)
{
    return s == YYSYMBOL_EQ || s == YYSYMBOL_NE || s == SYM('<') || s == SYM('>') ||
           s == YYSYMBOL_LE || s == YYSYMBOL_GE || s == YYSYMBOL_IN;
}

/* Tokens that would continue the expression just read. When the offending
 * token is not one of them the user meant the expression to end, so listing
 * every operator that could have followed only hides what was missing. */
static bool continues_expression(yysymbol_kind_t s)
{
    return is_comparison(s) || s == SYM('+') || s == SYM('-') || s == SYM('*') ||
           s == SYM('/') || s == SYM('%') || s == SYM('@') || s == YYSYMBOL_POW ||
           s == YYSYMBOL_AND || s == YYSYMBOL_OR || s == SYM('(') || s == SYM('[') ||
           s == SYM('.') || s == YYSYMBOL_ARROW;
}

static bool is_keyword(yysymbol_kind_t s)
{
    return s >= YYSYMBOL_IMPORT && s <= YYSYMBOL_FALSE;
}

/* "expected A, B or C", or NULL when the list would be too long to help.
 * Where an expression may start, its many first tokens read as one entry. */
static char *expected_list(yysymbol_kind_t got, const yysymbol_kind_t *exp, int n)
{
    bool expression_allowed = in_set(YYSYMBOL_INT, exp, n), expression = false;
    bool filter = !continues_expression(got);
    for (int i = 0; filter && i < n; i++)
        if (!continues_expression(exp[i])) break;
        else if (i == n - 1) filter = false;   /* nothing would be left */
    const char *names[6];
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (expression_allowed && starts_expression(exp[i])) expression = true;
        else if (filter && continues_expression(exp[i])) continue;
        else if (count == 5) return NULL;
        else names[count++] = expected_name(exp[i]);
    }
    if (expression && count == 5) return NULL;
    if (expression) names[count++] = "an expression";
    if (count == 0) return NULL;
    char *s = xprintf("expected %s", names[0]);
    for (int i = 1; i < count; i++) {
        char *t = xprintf("%s%s%s", s, i == count - 1 ? " or " : ", ", names[i]);
        free(s);
        s = t;
    }
    return s;
}

static bool starts_statement(yysymbol_kind_t s)
{
    return s == YYSYMBOL_PARAM || s == YYSYMBOL_DIM || s == YYSYMBOL_PROBE ||
           s == YYSYMBOL_EMIT || s == YYSYMBOL_RETURN || s == YYSYMBOL_ASSERT ||
           s == YYSYMBOL_REPEAT || s == YYSYMBOL_BLOCK || s == YYSYMBOL_MODEL ||
           s == YYSYMBOL_IMPORT;
}

/* A '(' or '[' left open on an earlier line, when the error comes where a
 * new statement would begin (a keyword, the first token of a line, the '='
 * of `name =` at the start of a line) and its closer could come next: then
 * the missing closer is the likeliest mistake, far from where it shows. */
static const Bracket *unclosed_group(const ParseState *ps, yysymbol_kind_t got,
                                     const yysymbol_kind_t *exp, int n)
{
    if (ps->depth == 0) return NULL;
    const Bracket *b = &ps->brackets[ps->depth - 1];
    if (b->kind == '{' || !in_set(SYM(b->kind == '(' ? ')' : ']'), exp, n) ||
        b->loc.line >= ps->last.loc.line)
        return NULL;
    bool fresh = starts_statement(got) || ps->last.newline_before ||
                 (got == SYM('=') && ps->prev.newline_before);
    return fresh ? b : NULL;
}

static char *unclosed_message(const Bracket *b, const char *suffix)
{
    return xprintf("expected %s to close %s at %d:%d%s", closer_spelling(b->kind),
                   opener_spelling(b->kind), b->loc.line, b->loc.col, suffix);
}

/* A name at the start of a statement or item that is not followed by '='. */
static char *not_an_assignment(const ParseState *ps, const yysymbol_kind_t *exp, int n)
{
    int before = ps->prev2.kind;
    if (ps->prev.kind != TOK_IDENT || (before != 0 && before != ';' && before != '{') ||
        !in_set(SYM('='), exp, n) || n > 3)
        return NULL;
    int len;
    const char *name = token_source(ps, &ps->prev, 40, &len);
    return xprintf("expected '=' after '%.*s': %s", len, name,
                   n == 1 ? "an item at the top level is an import, a block, a model or "
                            "'name = value'"
                          : "a statement assigns a name or starts with a keyword");
}

/* The messages for mistakes that a list of expected tokens explains badly;
 * NULL when none applies. */
static char *special_message(const ParseState *ps, yysymbol_kind_t got,
                             const yysymbol_kind_t *exp, int n)
{
    const Token *t = &ps->last;
    const Bracket *open = unclosed_group(ps, got, exp, n);
    if (t->close == CLOSE_MISMATCHED) return unclosed_message(&t->opener, "");
    if (t->close == CLOSE_UNMATCHED)
        return xprintf("unexpected %s: there is no open bracket to close",
                       yysymbol_name(got));
    if (got == YYSYMBOL_YYEOF && ps->depth > 0)
        return unclosed_message(&ps->brackets[ps->depth - 1], " before the end of the file");
    if (open) return unclosed_message(open, "");
    if (got == SYM('=') && in_set(YYSYMBOL_EQ, exp, n))
        return xstrdup("unexpected '=' in an expression (to compare, use '==')");
    if (is_comparison(got) && !in_set(got, exp, n) && in_set(YYSYMBOL_AND, exp, n))
        return xprintf("comparisons do not chain: join them with 'and' instead of a second %s",
                       yysymbol_name(got));
    if (got == YYSYMBOL_ELSE) return xstrdup("unexpected 'else' without an 'if' before it");
    if (is_keyword(got) && in_set(YYSYMBOL_IDENT, exp, n) && !in_set(YYSYMBOL_INT, exp, n))
        return xprintf("%s is a keyword and cannot be used as a name", yysymbol_name(got));
    return not_an_assignment(ps, exp, n);
}

/* Syntax errors in a statement where a bad character was skipped are not
 * reported: they are nearly always that character's echo. */
static int yyreport_syntax_error(const yypcontext_t *ctx, ParseState *ps)
{
    lexer_recover(ps);
    if (ps->stopped || ps->skipped) return 0;
    yysymbol_kind_t got = yypcontext_token(ctx), exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0) return n;
    Loc loc = *yypcontext_location(ctx);
    char *msg = special_message(ps, got, exp, n);
    if (!msg) {
        char *what = got_name(ps, got), *list = expected_list(got, exp, n);
        msg = list ? xprintf("unexpected %s, %s", what, list) : xprintf("unexpected %s", what);
        free(what);
        free(list);
    }
    parse_error(ps, loc, "%s", msg);
    free(msg);
    return 0;
}

Program *parse_file(const SrcFile *file, Arena *arena)
{
    ParseState ps = {.file = file, .arena = arena, .line = 1, .col = 1};
    ps.prog = arena_alloc(arena, sizeof *ps.prog);
    ps.prog->file = file;
    lexer_open(&ps);
    cssm_parse(&ps);
    lexer_close(&ps);
    return ps.prog;
}
