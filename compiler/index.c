/* index.c: index expressions, the integer arithmetic kernels address memory with.
 *
 * An Ix is a tree of constants, variables (a kernel's loop indices), linear
 * sums, divisions and remainders by constants, clamps and comparisons, each
 * node knowing the range of values it takes. The constructors simplify as
 * they build, using those ranges: a remainder of something already in range
 * disappears, so does a clamp that cannot bite, a sum is split into the
 * multiples of a divisor and the rest, and k*m*(a/m) + k*(a%m) folds back to
 * k*a. So the index of a reshape that only merges or splits axes, or of a
 * slice, a pad or a flip, prints as plain strides. Divisions and remainders
 * are only ever taken of non-negative values (the lowering keeps them so),
 * where C's and CUDA's truncating operators agree with the floor the
 * simplifications assume. Nodes live in the lowered program's arena. */
#include "kernel.h"

#include <string.h>

static Ix *ix_new(Arena *A, IxKind kind, int64_t lo, int64_t hi)
{
    Ix *x = arena_alloc(A, sizeof *x);
    x->kind = kind, x->lo = lo, x->hi = hi;
    return x;
}

const Ix *ix_const(Arena *A, int64_t c)
{
    Ix *x = ix_new(A, IX_CONST, c, c);
    x->c = c;
    return x;
}

const Ix *ix_var(Arena *A, int var, int64_t size)
{
    Ix *x = ix_new(A, IX_VAR, 0, size > 0 ? size - 1 : 0);
    x->var = var;
    return x;
}

bool ix_is_const(const Ix *x, int64_t c) { return x->kind == IX_CONST && x->c == c; }

/* coef * term, flattened into the lists of a sum under construction. */
static void lin_add(const Ix **term, int64_t *coef, int *n, int64_t *c, const Ix *x, int64_t k)
{
    if (k == 0) return;
    if (x->kind == IX_CONST) { *c += k * x->c; return; }
    if (x->kind == IX_SUM) {
        for (int i = 0; i < x->nterm; i++) lin_add(term, coef, n, c, x->term[i], k * x->coef[i]);
        *c += k * x->c;
        return;
    }
    for (int i = 0; i < *n; i++)
        if (term[i] == x) { coef[i] += k; return; }
    if (*n == 4 * KSPACE_RANK) ice("lower: index expression with too many terms");
    term[*n] = x, coef[(*n)++] = k;
}

/* Finds terms k*m*(a / m) + k*(a % m) among term[0..n) and replaces them by
 * k*a (a >= 0), which is what re-linearizing a reshape's index produces.
 * Returns the new count; term and coef are rewritten in place. */
static int merge_div_mod(const Ix **term, int64_t *coef, int n, int64_t *c)
{
    for (int i = 0; i < n; i++) {
        const Ix *d = term[i];
        if (d->kind != IX_DIV || d->a->lo < 0) continue;
        for (int j = 0; j < n; j++) {
            const Ix *r = term[j];
            if (r->kind != IX_MOD || r->a != d->a || r->c != d->c || coef[i] != coef[j] * d->c) continue;
            int64_t k = coef[j];
            int keep = 0;
            for (int t = 0; t < n; t++)
                if (t != i && t != j) term[keep] = term[t], coef[keep++] = coef[t];
            lin_add(term, coef, &keep, c, d->a, k);
            return merge_div_mod(term, coef, keep, c);
        }
    }
    return n;
}

static const Ix *lin_make(Arena *A, const Ix **term, const int64_t *coef, int n, int64_t c)
{
    int64_t kc[4 * KSPACE_RANK];
    const Ix *kt[4 * KSPACE_RANK];
    memcpy(kt, term, sizeof *kt * (size_t)n);
    memcpy(kc, coef, sizeof *kc * (size_t)n);
    n = merge_div_mod(kt, kc, n, &c);
    term = kt, coef = kc;
    int m = 0;
    const Ix *t[4 * KSPACE_RANK];
    int64_t k[4 * KSPACE_RANK], lo = c, hi = c;
    for (int i = 0; i < n; i++) {
        if (coef[i] == 0) continue;
        t[m] = term[i], k[m] = coef[i];
        lo += k[m] > 0 ? k[m] * t[m]->lo : k[m] * t[m]->hi;
        hi += k[m] > 0 ? k[m] * t[m]->hi : k[m] * t[m]->lo;
        m++;
    }
    if (m == 0) return ix_const(A, c);
    if (m == 1 && k[0] == 1 && c == 0) return t[0];
    Ix *x = ix_new(A, IX_SUM, lo, hi);
    x->c = c, x->nterm = m;
    x->term = arena_alloc(A, sizeof *x->term * (size_t)m);
    x->coef = arena_alloc(A, sizeof *x->coef * (size_t)m);
    memcpy(x->term, t, sizeof *t * (size_t)m);
    memcpy(x->coef, k, sizeof *k * (size_t)m);
    return x;
}

/* a * ka + b * kb + c */
const Ix *ix_lin2(Arena *A, const Ix *a, int64_t ka, const Ix *b, int64_t kb, int64_t c)
{
    const Ix *term[4 * KSPACE_RANK];
    int64_t coef[4 * KSPACE_RANK];
    int n = 0;
    lin_add(term, coef, &n, &c, a, ka);
    if (b) lin_add(term, coef, &n, &c, b, kb);
    return lin_make(A, term, coef, n, c);
}

const Ix *ix_add(Arena *A, const Ix *a, const Ix *b) { return ix_lin2(A, a, 1, b, 1, 0); }
const Ix *ix_addc(Arena *A, const Ix *a, int64_t c) { return ix_lin2(A, a, 1, NULL, 0, c); }
const Ix *ix_scale(Arena *A, const Ix *a, int64_t k) { return ix_lin2(A, a, k, NULL, 0, 0); }

static int64_t floor_div(int64_t a, int64_t d) { return a >= 0 ? a / d : -((-a + d - 1) / d); }

/* Splits a non-negative sum into q*d + r: the terms whose coefficients d
 * divides (divided by d, into *q) and the rest (into *r, with the constant's
 * remainder). */
static void split_sum(Arena *A, const Ix *x, int64_t d, const Ix **q, const Ix **r)
{
    const Ix *qt[4 * KSPACE_RANK], *rt[4 * KSPACE_RANK];
    int64_t qc[4 * KSPACE_RANK], rc[4 * KSPACE_RANK];
    int nq = 0, nr = 0;
    for (int i = 0; i < x->nterm; i++) {
        if (x->coef[i] % d == 0) qt[nq] = x->term[i], qc[nq++] = x->coef[i] / d;
        else rt[nr] = x->term[i], rc[nr++] = x->coef[i];
    }
    int64_t cq = floor_div(x->c, d);
    *q = lin_make(A, qt, qc, nq, cq);
    *r = lin_make(A, rt, rc, nr, x->c - cq * d);
}

static int64_t gcd(int64_t a, int64_t b)
{
    if (a < 0) a = -a;
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

/* A factor f of d that dividing by first may simplify: the gcd of d with a
 * term's coefficient (or the constant), the i-th candidate; 0 when none. */
static int64_t division_factor(const Ix *a, int64_t d, int i)
{
    int64_t f = gcd(i < a->nterm ? a->coef[i] : a->c, d);
    return f > 1 && f < d ? f : 0;
}

/* (a / f) / (d / f) when dividing by a factor f first simplifies:
 * (8*i + 4 + j) / 12 with j < 4 is (2*i + 1) / 3. */
static const Ix *div_by_factor(Arena *A, const Ix *a, int64_t d)
{
    if (a->kind != IX_SUM) return NULL;
    for (int i = 0; i <= a->nterm; i++) {
        int64_t f = division_factor(a, d, i);
        if (!f) continue;
        const Ix *t = ix_div(A, a, f);
        if (t->kind != IX_DIV) return ix_div(A, t, d / f);
    }
    return NULL;
}

const Ix *ix_div(Arena *A, const Ix *a, int64_t d)
{
    if (d <= 0) ice("lower: division of an index by %lld", (long long)d);
    if (d == 1) return a;
    if (a->kind == IX_CONST) return ix_const(A, floor_div(a->c, d));
    if (a->lo >= 0 && a->hi < d) return ix_const(A, 0);
    if (a->lo >= 0 && a->kind == IX_SUM) {
        const Ix *q, *r;
        split_sum(A, a, d, &q, &r);
        if (r->lo >= 0 && r->hi < d) return q;
        if (r->lo >= 0 && q->kind != IX_CONST) return ix_add(A, q, ix_div(A, r, d));
        const Ix *f = div_by_factor(A, a, d);
        if (f) return f;
    }
    if (a->kind == IX_DIV) return ix_div(A, a->a, a->c * d);
    Ix *x = ix_new(A, IX_DIV, floor_div(a->lo, d), floor_div(a->hi, d));
    x->a = a, x->c = d;
    return x;
}

const Ix *ix_mod(Arena *A, const Ix *a, int64_t d)
{
    if (d <= 0) ice("lower: remainder of an index by %lld", (long long)d);
    if (d == 1) return ix_const(A, 0);
    if (a->kind == IX_CONST) return ix_const(A, a->c - floor_div(a->c, d) * d);
    if (a->lo >= 0 && a->hi < d) return a;
    if (a->lo >= 0 && a->kind == IX_SUM) {
        const Ix *q, *r;
        split_sum(A, a, d, &q, &r);
        if (r->lo >= 0 && r->hi < d) return r;
        if (r->lo >= 0 && q->kind != IX_CONST) return ix_mod(A, r, d);
        for (int i = 0; i <= a->nterm; i++) {   /* a % (f*m) = a % f + f * ((a / f) % m) */
            int64_t f = division_factor(a, d, i);
            if (!f) continue;
            const Ix *t = ix_div(A, a, f);
            if (t->kind != IX_DIV) return ix_lin2(A, ix_mod(A, a, f), 1, ix_mod(A, t, d / f), f, 0);
        }
    }
    Ix *x = ix_new(A, IX_MOD, 0, d - 1);
    x->a = a, x->c = d;
    return x;
}

const Ix *ix_min(Arena *A, const Ix *a, int64_t c)
{
    if (a->hi <= c) return a;
    if (a->lo >= c) return ix_const(A, c);
    Ix *x = ix_new(A, IX_MIN, a->lo, c);
    x->a = a, x->c = c;
    return x;
}

const Ix *ix_max(Arena *A, const Ix *a, int64_t c)
{
    if (a->lo >= c) return a;
    if (a->hi <= c) return ix_const(A, c);
    Ix *x = ix_new(A, IX_MAX, c, a->hi);
    x->a = a, x->c = c;
    return x;
}

const Ix *ix_clamp(Arena *A, const Ix *a, int64_t lo, int64_t hi) { return ix_min(A, ix_max(A, a, lo), hi); }

const Ix *ix_compare(Arena *A, IxKind kind, const Ix *a, int64_t c)
{
    bool always = kind == IX_LT ? a->hi < c : kind == IX_GE ? a->lo >= c : a->lo == c && a->hi == c;
    bool never = kind == IX_LT ? a->lo >= c : kind == IX_GE ? a->hi < c : c < a->lo || c > a->hi;
    if (always || never) return ix_const(A, always);
    Ix *x = ix_new(A, kind, 0, 1);
    x->a = a, x->c = c;
    return x;
}

const Ix *ix_and(Arena *A, const Ix *a, const Ix *b)
{
    if (ix_is_const(a, 0) || ix_is_const(b, 1)) return a;
    if (ix_is_const(b, 0) || ix_is_const(a, 1)) return b;
    Ix *x = ix_new(A, IX_AND, 0, 1);
    x->a = a, x->b = b;
    return x;
}

/* lo <= a < hi */
const Ix *ix_in_range(Arena *A, const Ix *a, int64_t lo, int64_t hi)
{
    return ix_and(A, ix_compare(A, IX_GE, a, lo), ix_compare(A, IX_LT, a, hi));
}

static void print_term(FILE *f, int64_t k, const Ix *t, bool first)
{
    if (!first) fputs(k < 0 ? " - " : " + ", f);
    else if (k < 0) fputc('-', f);
    int64_t m = k < 0 ? -k : k;
    if (m != 1) fprintf(f, "%lld*", (long long)m);
    ix_print(f, t);
}

void ix_print(FILE *f, const Ix *x)
{
    static const char *const cmp[] = {[IX_LT] = "<", [IX_GE] = ">=", [IX_EQ] = "=="};
    switch (x->kind) {
    case IX_CONST: fprintf(f, "%lld", (long long)x->c); return;
    case IX_VAR: fprintf(f, "i%d", x->var); return;
    case IX_SUM:
        fputc('(', f);
        for (int i = 0; i < x->nterm; i++) print_term(f, x->coef[i], x->term[i], i == 0);
        if (x->c) fprintf(f, " %c %lld", x->c < 0 ? '-' : '+', (long long)(x->c < 0 ? -x->c : x->c));
        fputc(')', f);
        return;
    case IX_DIV: case IX_MOD:
        fputc('(', f);
        ix_print(f, x->a);
        fprintf(f, " %c %lld)", x->kind == IX_DIV ? '/' : '%', (long long)x->c);
        return;
    case IX_MIN: case IX_MAX:
        fputs(x->kind == IX_MIN ? "ix_min(" : "ix_max(", f);
        ix_print(f, x->a);
        fprintf(f, ", %lld)", (long long)x->c);
        return;
    case IX_LT: case IX_GE: case IX_EQ:
        fputc('(', f);
        ix_print(f, x->a);
        fprintf(f, " %s %lld)", cmp[x->kind], (long long)x->c);
        return;
    case IX_AND:
        fputc('(', f);
        ix_print(f, x->a);
        fputs(" && ", f);
        ix_print(f, x->b);
        fputc(')', f);
        return;
    }
}

/* The row-major element offset of idx in shape s. */
const Ix *ix_offset(Arena *A, const Shape *s, const Ix *const *idx)
{
    int64_t st[MAX_RANK];
    const Ix *off = ix_const(A, 0);
    shape_strides(s, st);
    for (int i = 0; i < s->rank; i++) off = ix_lin2(A, off, 1, idx[i], st[i], 0);
    return off;
}
