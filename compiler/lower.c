/* lower.c: the fused graph to a device-independent lowered program (Lowered, kernel.h).
 *
 * Each materialized node becomes one or more steps, in node order:
 *   OC_EW, OC_MOVE, CONST, IOTA   a map kernel over the node's shape;
 *   SUM, MAX                      a reduce kernel over the operand's shape;
 *   CONTRACT                      a reduce kernel: the product of the operands
 *                                 over (output axes, summed axes), summed;
 *   CONV2D, CONV2D_DX, CONV2D_DK  reduce kernels over (output axes, taps),
 *                                 each written as a gather, so no two threads
 *                                 write one element (the reference scatters);
 *   MAXPOOL2, MAXPOOL2_DX         a max over each window; a map that routes
 *                                 each window's cotangent to its first maximum;
 *   CIRC                          a reduce kernel over the taps, the image
 *                                 indices wrapping around;
 *   SCAN, SOLVE                   a scan kernel; a solve kernel (Gaussian
 *                                 elimination per batch point);
 *   RFFT2 & co                    FFT library steps (R2C, C2C, C2R) with map
 *                                 kernels for the scalings and projections
 *                                 that runtime/ref_fft.c applies, when H and W
 *                                 are adjacent axes;
 *   anything else                 a fallback step: the reference executor's
 *                                 kernel for that one node (cpu only).
 * A kernel's body is built by recursion from its root through every node it
 * inlines (fuse.c decides which; a map kernel also stores the readable
 * nodes that ride along with it), each node evaluated at an index vector over
 * the kernel's variables; movement ops only transform the index vector (a
 * pad or concat adds a select on an index condition, and loads at a clamped
 * index, so no load is ever out of bounds). Values are memoized by (node,
 * index), so a node shared inside a kernel is computed once per point.
 *
 * Index expressions (index.c) simplify as they are built, so the usual
 * reshapes, slices and clamps print as plain strides. Accumulation order in
 * reductions is row-major over the reduced axes, as in the reference. */
#include "kernel.h"

#include <math.h>
#include <string.h>

/* ---- what the lowering knows ---- */

static bool complex_domain(const Graph *g, const Node *n)
{
    bool c = n->dtype == DT_C64;
    for (int k = 0; k < n->nin; k++) c |= node_at((Graph *)g, n->in[k])->dtype == DT_C64;
    return c;
}

bool lower_inlinable(const Graph *g, int id)
{
    const Node *n = node_at((Graph *)g, id);
    switch (op_info[n->op].cls) {
    case OC_LEAF: return n->op == IR_CONST || (n->op == IR_IOTA && n->shape.rank == 1);
    case OC_EW: return n->nin == op_info[n->op].arity && ew_expr(n->op, complex_domain(g, n)) != NULL;
    case OC_MOVE:
        switch (n->op) {
        case IR_PERMUTE: case IR_RESHAPE: case IR_BROADCAST: case IR_SLICE: case IR_PAD: case IR_FLIP:
        case IR_CONCAT: case IR_STACK: return true;
        default: return false;
        }
    default: return false;
    }
}

/* FFTs run as library calls when H and W are adjacent: [outer][H][W][inner]. */
static bool fft_adjacent(const Node *n) { return n->attr.ax[1] == n->attr.ax[0] + 1; }

bool lower_supports(const Graph *g, int id)
{
    const Node *n = node_at((Graph *)g, id);
    if (lower_inlinable(g, id)) return true;
    switch (n->op) {
    case IR_INPUT: case IR_PARAM: case IR_CONTRACT: case IR_SCAN: case IR_SOLVE: case IR_CIRC: case IR_SUM:
    case IR_CONV2D: case IR_CONV2D_DX: case IR_CONV2D_DK: case IR_MAXPOOL2: case IR_MAXPOOL2_DX: return true;
    case IR_MAX: return n->dtype == DT_F32;
    case IR_RFFT2: case IR_IRFFT2: case IR_RFFT2_T: case IR_IRFFT2_T: return fft_adjacent(n);
    default: return false;
    }
}

bool node_readable(const Graph *g, int id)
{
    const Node *n = node_at((Graph *)g, id);
    if (n->op == IR_INPUT || n->op == IR_PARAM || id == g->output) return true;
    for (int i = 0; i < g->grads.len; i++)
        if (g->grads.data[i] == id) return true;
    for (int i = 0; i < g->probes.len; i++)
        if (g->probes.data[i].node == id) return true;
    return false;
}

/* ---- building one kernel ---- */

typedef struct Memo {
    char *key;
    int val;
} Memo;

typedef struct KB {
    Lowered *p;
    Arena *A;
    Kernel *k;
    const Ix *var[KSPACE_RANK];
    Vec(Memo) memo;
} KB;

static void space_push(KSpace *sp, const char *label, int64_t size)
{
    if (sp->rank == KSPACE_RANK) ice("lower: a kernel domain of more than %d axes", KSPACE_RANK);
    sp->label[sp->rank] = label;
    sp->size[sp->rank++] = size;
}

static KSpace space_of_shape(const Shape *s)
{
    KSpace sp = {0};
    for (int i = 0; i < s->rank; i++) space_push(&sp, s->label[i], s->size[i]);
    return sp;
}

static void kb_begin(KB *kb, Lowered *p, Kernel *k, KernelKind kind, int node, const char *suffix,
                     const KSpace *domain)
{
    memset(kb, 0, sizeof *kb);
    memset(k, 0, sizeof *k);
    kb->p = p, kb->A = &p->arena, kb->k = k;
    k->kind = kind, k->node = node, k->domain = *domain, k->out_buf = p->node_buf[node];
    snprintf(k->name, sizeof k->name, "k%d_%s%s", p->kernels.len, op_info[node_at(p->g, node)->op].spelling,
             suffix);
    for (int i = 0; i < domain->rank; i++) kb->var[i] = ix_var(kb->A, i, domain->size[i]);
}

static int add_val(KB *kb, Val v)
{
    vec_push(&kb->k->vals, v);
    return kb->k->vals.len - 1;
}

static int val_const(KB *kb, DType dt, double re, double im)
{
    return add_val(kb, (Val){.kind = VAL_CONST, .dtype = dt, .c = {re, im}});
}

/* A scale factor the reference applies in double (the FFTs' 1/(HW)). */
static int val_double(KB *kb, double c)
{
    int v = val_const(kb, DT_F32, c, 0);
    kb->k->vals.data[v].exact = true;
    return v;
}

static int val_op(KB *kb, OpCode op, DType dt, int a, int b, int c)
{
    Val v = {.kind = VAL_OP, .dtype = dt, .op = op, .nin = op_info[op].arity, .in = {a, b, c}};
    return add_val(kb, v);
}

/* The product inside a contraction or convolution: exact, not rounded. */
static int val_product(KB *kb, DType dt, int a, int b)
{
    int v = val_op(kb, IR_MUL, dt, a, b, 0);
    kb->k->vals.data[v].exact = true;
    return v;
}

static int val_select(KB *kb, const Ix *cond, int then, int other)
{
    if (ix_is_const(cond, 1)) return then;
    if (ix_is_const(cond, 0)) return other;
    Val v = {.kind = VAL_SELECT, .dtype = kb->k->vals.data[then].dtype, .ix = cond, .in = {then, other}};
    return add_val(kb, v);
}

static void note_unique(IntVec *v, int x)
{
    for (int i = 0; i < v->len; i++)
        if (v->data[i] == x) return;
    vec_push(v, x);
}

static int load_buf(KB *kb, int buf, const Ix *off)
{
    note_unique(&kb->k->reads, buf);
    Val v = {.kind = VAL_LOAD, .dtype = kb->p->bufs.data[buf].dtype, .buf = buf, .ix = off, .stage = -1};
    return add_val(kb, v);
}

static char *memo_key(int node, const Ix *const *idx, int rank)
{
    char *key = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&key, &len);
    fprintf(f, "%d", node);
    for (int i = 0; i < rank; i++) {
        fputc('|', f);
        ix_print(f, idx[i]);
    }
    fclose(f);
    return key;
}

static int val_compute(KB *kb, int node, const Ix *const *idx);

/* The value of `node` at index idx (one entry per axis of its shape). */
static int val_at(KB *kb, int node, const Ix *const *idx)
{
    const Node *n = node_at(kb->p->g, node);
    char *key = memo_key(node, idx, n->shape.rank);
    for (int i = 0; i < kb->memo.len; i++)
        if (!strcmp(kb->memo.data[i].key, key)) {
            free(key);
            return kb->memo.data[i].val;
        }
    int v = kb->p->materialized[node] ? load_buf(kb, kb->p->node_buf[node], ix_offset(kb->A, &n->shape, idx))
                                      : val_compute(kb, node, idx);
    Memo m = {key, v};
    vec_push(&kb->memo, m);
    return v;
}

/* idx over `from`'s axes, picked by label for the axes of `to`. */
static void by_label(const Node *n, const Shape *from, const Ix *const *idx, const Shape *to, const Ix **out)
{
    for (int j = 0; j < to->rank; j++) {
        int i = shape_find(from, to->label[j]);
        if (i < 0) ice("lower: %s: operand axis %s is not in the result", op_info[n->op].spelling, to->label[j]);
        out[j] = idx[i];
    }
}

static int operand_at(KB *kb, const Node *n, int k, const Ix *const *idx)
{
    const Ix *sub[MAX_RANK];
    by_label(n, &n->shape, idx, &node_at(kb->p->g, n->in[k])->shape, sub);
    return val_at(kb, n->in[k], sub);
}

static int ew_value(KB *kb, const Node *n, const Ix *const *idx)
{
    int in[3] = {0, 0, 0};
    for (int k = 0; k < n->nin; k++) in[k] = operand_at(kb, n, k, idx);
    return val_op(kb, n->op, n->dtype, in[0], in[1], in[2]);
}

static int reshape_value(KB *kb, const Node *n, const Ix *const *idx)
{
    const Shape *x = &node_at(kb->p->g, n->in[0])->shape, *y = &n->shape;
    const Ix *sub[MAX_RANK];
    bool positional = x->rank == y->rank;
    for (int i = 0; positional && i < x->rank; i++) positional = x->size[i] == y->size[i];
    if (positional) return val_at(kb, n->in[0], idx);
    int64_t xs[MAX_RANK];
    shape_strides(x, xs);
    const Ix *flat = ix_offset(kb->A, y, idx);
    if (kb->p->materialized[n->in[0]])   /* a row-major buffer: the flat index is the offset */
        return load_buf(kb, kb->p->node_buf[n->in[0]], flat);
    for (int j = 0; j < x->rank; j++) sub[j] = ix_mod(kb->A, ix_div(kb->A, flat, xs[j]), x->size[j]);
    return val_at(kb, n->in[0], sub);
}

static int slice_value(KB *kb, const Node *n, const Ix *const *idx)
{
    const Shape *x = &node_at(kb->p->g, n->in[0])->shape;
    const Attr *a = &n->attr;
    const Ix *sub[MAX_RANK];
    for (int i = 0, j = 0; i < x->rank; i++) {
        if (i == a->axis && a->drop) sub[i] = ix_const(kb->A, a->start);
        else if (i == a->axis) sub[i] = ix_lin2(kb->A, idx[j++], a->step, NULL, 0, a->start);
        else sub[i] = idx[j++];
    }
    return val_at(kb, n->in[0], sub);
}

static int pad_value(KB *kb, const Node *n, const Ix *const *idx)
{
    const Shape *x = &node_at(kb->p->g, n->in[0])->shape;
    int axis = n->attr.axis;
    int64_t lo = n->attr.lo, len = x->size[axis];
    int zero = val_const(kb, n->dtype, 0, 0);
    if (len == 0) return zero;
    const Ix *sub[MAX_RANK];
    memcpy(sub, idx, sizeof *sub * (size_t)x->rank);
    sub[axis] = ix_clamp(kb->A, ix_addc(kb->A, idx[axis], -lo), 0, len - 1);
    const Ix *inside = ix_in_range(kb->A, idx[axis], lo, lo + len);
    if (ix_is_const(inside, 0)) return zero;
    return val_select(kb, inside, val_at(kb, n->in[0], sub), zero);
}

static int flip_value(KB *kb, const Node *n, const Ix *const *idx)
{
    const Ix *sub[MAX_RANK];
    int axis = n->attr.axis;
    memcpy(sub, idx, sizeof *sub * (size_t)n->shape.rank);
    sub[axis] = ix_lin2(kb->A, idx[axis], -1, NULL, 0, n->shape.size[axis] - 1);
    return val_at(kb, n->in[0], sub);
}

/* Operand k of a concat at result index idx, its concatenated axis at `at`
 * (see ref_move.c: that axis is the one whose label the result lacks, or
 * has at the concatenated position). */
static int concat_part(KB *kb, const Node *n, int k, const Ix *const *idx, const Ix *at)
{
    const Shape *x = &node_at(kb->p->g, n->in[k])->shape;
    const Ix *sub[MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        int j = shape_find(&n->shape, x->label[i]);
        sub[i] = j < 0 || j == n->attr.axis ? ix_clamp(kb->A, at, 0, x->size[i] - 1) : idx[j];
    }
    return val_at(kb, n->in[k], sub);
}

static int concat_length(Graph *g, const Node *n, int k)
{
    const Shape *x = &node_at(g, n->in[k])->shape;
    for (int i = 0; i < x->rank; i++) {
        int j = shape_find(&n->shape, x->label[i]);
        if (j < 0 || j == n->attr.axis) return (int)x->size[i];
    }
    ice("lower: concat operand %d has no concatenated axis", k);
}

static int concat_value(KB *kb, const Node *n, const Ix *const *idx)
{
    const Ix *at = idx[n->attr.axis];
    int64_t na = concat_length(kb->p->g, n, 0);
    const Ix *first = ix_compare(kb->A, IX_LT, at, na);
    if (ix_is_const(first, 1)) return concat_part(kb, n, 0, idx, at);
    if (ix_is_const(first, 0)) return concat_part(kb, n, 1, idx, ix_addc(kb->A, at, -na));
    int a = concat_part(kb, n, 0, idx, at), b = concat_part(kb, n, 1, idx, ix_addc(kb->A, at, -na));
    return val_select(kb, first, a, b);
}

static int stack_value(KB *kb, const Node *n, const Ix *const *idx)
{
    const Ix *at = idx[n->attr.axis];
    int v = -1;
    for (int k = n->nin - 1; k >= 0; k--) {
        const Ix *is_k = ix_compare(kb->A, IX_EQ, at, k);
        if (ix_is_const(is_k, 0)) continue;
        int part = operand_at(kb, n, k, idx);
        v = v < 0 ? part : val_select(kb, is_k, part, v);
    }
    if (v < 0) ice("lower: stack with no operand in range");
    return v;
}

static int val_compute(KB *kb, int node, const Ix *const *idx)
{
    const Node *n = node_at(kb->p->g, node);
    note_unique(&kb->k->fused, node);
    switch (n->op) {
    case IR_CONST: return val_const(kb, n->dtype, n->attr.c[0], n->attr.c[1]);
    case IR_IOTA: return add_val(kb, (Val){.kind = VAL_INDEX, .dtype = DT_F32, .ix = idx[0]});
    case IR_PERMUTE: case IR_BROADCAST: return operand_at(kb, n, 0, idx);
    case IR_RESHAPE: return reshape_value(kb, n, idx);
    case IR_SLICE: return slice_value(kb, n, idx);
    case IR_PAD: return pad_value(kb, n, idx);
    case IR_FLIP: return flip_value(kb, n, idx);
    case IR_CONCAT: return concat_value(kb, n, idx);
    case IR_STACK: return stack_value(kb, n, idx);
    default:
        if (op_info[n->op].cls == OC_EW) return ew_value(kb, n, idx);
        ice("lower: %%%d = %s cannot be computed inside a kernel", node, op_info[n->op].spelling);
    }
}

/* ---- finishing kernels ---- */

/* Reductions over this many points per output run as one CUDA block per
 * output element: a thread each would leave the GPU idle when outputs are
 * few (a bias gradient sums a whole activation into C values). */
enum { WIDE_REDUCE = 2048 };

static void push_step(Lowered *p, Step s)
{
    vec_push(&p->steps, s);
    p->nfft += s.kind == STEP_FFT;
    p->nfallback += s.kind == STEP_FALLBACK;
}

static void kb_finish(KB *kb, int64_t work)
{
    Kernel *k = kb->k;
    Lowered *p = kb->p;
    for (int i = 0; i < kb->memo.len; i++) free(kb->memo.data[i].key);
    vec_free(&kb->memo);
    note_unique(&k->fused, k->node);
    for (int i = 1; i < k->fused.len; i++)   /* ascending, for the comments */
        for (int j = i; j > 0 && k->fused.data[j - 1] > k->fused.data[j]; j--) {
            int t = k->fused.data[j];
            k->fused.data[j] = k->fused.data[j - 1], k->fused.data[j - 1] = t;
        }
    k->work = work;
    k->block = 256;
    k->grid = (work + k->block - 1) / k->block;
    int64_t points = 1;
    for (int i = 0; i < k->domain.rank; i++)
        if (k->reduced >> i & 1) points *= k->domain.size[i];
    if (k->kind == KK_REDUCE && points >= WIDE_REDUCE) k->wide = true, k->grid = work;
    vec_push(&p->kernels, *k);
    push_step(p, (Step){.kind = STEP_KERNEL, .node = k->node, .kernel = p->kernels.len - 1});
}

static int64_t space_numel(const KSpace *sp)
{
    int64_t n = 1;
    for (int i = 0; i < sp->rank; i++) n *= sp->size[i];
    return n;
}

/* The output offset of a reduce kernel: the output's row-major strides on
 * the domain's kept axes, in order. */
static const Ix *kept_offset(KB *kb, const Shape *out)
{
    const Kernel *k = kb->k;
    const Ix *idx[KSPACE_RANK];
    int j = 0;
    for (int i = 0; i < k->domain.rank; i++)
        if (!(k->reduced >> i & 1)) idx[j++] = kb->var[i];
    if (j != out->rank) ice("lower: %s keeps %d axes for a rank-%d result", k->name, j, out->rank);
    return ix_offset(kb->A, out, idx);
}

/* The readable nodes riding along with map kernel root n (fuse.c): each
 * computed at the domain's points, reusing the values the kernel has, and
 * stored to its own buffer. */
static void store_riders(KB *kb, const Node *n)
{
    Lowered *p = kb->p;
    for (int x = 0; x < kb->k->node; x++) {
        if (node_at(p->g, x)->group != kb->k->node || !fuse_rides(p->g, p->needed, p->materialized, x)) continue;
        const Shape *s = &node_at(p->g, x)->shape;
        const Ix *idx[MAX_RANK];
        by_label(n, &n->shape, kb->var, s, idx);
        Store st = {.node = x, .val = val_at(kb, x, idx), .buf = p->node_buf[x], .ix = ix_offset(kb->A, s, idx)};
        vec_push(&kb->k->stores, st);
    }
}

static void lower_map(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    KSpace sp = space_of_shape(&n->shape);
    Kernel k;
    KB kb;
    kb_begin(&kb, p, &k, KK_MAP, id, "", &sp);
    k.result = val_compute(&kb, id, kb.var);
    k.out_ix = ix_offset(kb.A, &n->shape, kb.var);
    store_riders(&kb, n);
    kb_finish(&kb, shape_numel(&n->shape));
}

static void lower_reduce(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    const Node *x = node_at(p->g, n->in[0]);
    KSpace sp = space_of_shape(&x->shape);
    Kernel k;
    KB kb;
    kb_begin(&kb, p, &k, KK_REDUCE, id, "", &sp);
    k.reduced = n->attr.mask, k.fold = n->op;
    k.result = val_at(&kb, n->in[0], kb.var);
    k.out_ix = kept_offset(&kb, &n->shape);
    kb_finish(&kb, shape_numel(&n->shape));
}

/* The domain's variables, picked by label for the axes of s. */
static void pick(const KB *kb, const Shape *s, const Ix **out)
{
    const KSpace *d = &kb->k->domain;
    for (int j = 0; j < s->rank; j++) {
        int i = 0;
        while (i < d->rank && d->label[i] != s->label[j]) i++;
        if (i == d->rank) ice("lower: %s: axis %s is not in the domain", kb->k->name, s->label[j]);
        out[j] = kb->var[i];
    }
}

/* A reduce kernel over the output's axes and the reduced axes `extra`,
 * placed before the output's last axis, so the output's contiguous axis runs
 * innermost (render_c.c vectorizes it). ov[i] and ev[e] receive the
 * variables of output axis i and of extra axis e. */
static void begin_reduce(KB *kb, Lowered *p, Kernel *k, int id, const KSpace *extra, OpCode fold, const Ix **ov,
                         const Ix **ev)
{
    const Shape *out = &node_at(p->g, id)->shape;
    int r = out->rank, opos[MAX_RANK], epos[KSPACE_RANK];
    uint64_t reduced = 0;
    KSpace sp = {0};
    for (int i = 0; i < r - 1; i++) opos[i] = sp.rank, space_push(&sp, out->label[i], out->size[i]);
    for (int e = 0; e < extra->rank; e++)
        epos[e] = sp.rank, reduced |= 1ull << sp.rank, space_push(&sp, extra->label[e], extra->size[e]);
    if (r > 0) opos[r - 1] = sp.rank, space_push(&sp, out->label[r - 1], out->size[r - 1]);
    kb_begin(kb, p, k, KK_REDUCE, id, "", &sp);
    k->reduced = reduced, k->fold = fold;
    for (int i = 0; i < r; i++) ov[i] = kb->var[opos[i]];
    for (int e = 0; e < extra->rank; e++) ev[e] = kb->var[epos[e]];
}

/* Operands this small are staged when the C kernel's innermost loop reads
 * them: once converted to double (so the loop does not convert every
 * element again for every output row), and transposed when their layout
 * would make that loop stride through them. */
enum { STAGE_MAX = 16384 };

/* Loads contract operand k at idx (its axes, by label), through a stage
 * with the domain's last axis moved last when the operand is a small buffer
 * that varies along that axis. */
static int contract_operand(KB *kb, const Node *n, int k, const Ix *const *idx)
{
    int node = n->in[k];
    const Shape *s = &node_at(kb->p->g, node)->shape;
    const KSpace *d = &kb->k->domain;
    int at = shape_find(s, d->label[d->rank - 1]), v = val_at(kb, node, idx);
    Val *x = &kb->k->vals.data[v];
    if (at < 0 || shape_numel(s) > STAGE_MAX || x->kind != VAL_LOAD) return v;
    Stage st = {.buf = x->buf, .rank = s->rank, .numel = shape_numel(s)};
    shape_strides(s, st.from);
    int64_t stride = s->size[at];
    st.to[at] = 1;
    for (int i = s->rank - 1; i >= 0; i--)
        if (i != at) st.to[i] = stride, stride *= s->size[i];
    for (int i = 0; i < s->rank; i++) st.size[i] = s->size[i];
    vec_push(&kb->k->stages, st);
    const Ix *off = ix_const(kb->A, 0);
    for (int i = 0; i < s->rank; i++) off = ix_lin2(kb->A, off, 1, idx[i], st.to[i], 0);
    x->stage = kb->k->stages.len - 1, x->stage_ix = off;
    return v;
}

static void lower_contract(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    KSpace summed = {0};
    for (int k = 0; k < 2; k++) {
        const Shape *t = &node_at(p->g, n->in[k])->shape;
        for (int i = 0; i < t->rank; i++) {
            bool seen = shape_find(&n->shape, t->label[i]) >= 0;
            for (int j = 0; j < summed.rank; j++) seen |= summed.label[j] == t->label[i];
            if (!seen) space_push(&summed, t->label[i], t->size[i]);
        }
    }
    Kernel k;
    KB kb;
    const Ix *ov[MAX_RANK], *ev[KSPACE_RANK];
    begin_reduce(&kb, p, &k, id, &summed, IR_SUM, ov, ev);
    const Ix *ia[MAX_RANK], *ib[MAX_RANK];
    pick(&kb, &node_at(p->g, n->in[0])->shape, ia);
    pick(&kb, &node_at(p->g, n->in[1])->shape, ib);
    int va = contract_operand(&kb, n, 0, ia), vb = contract_operand(&kb, n, 1, ib);
    k.result = val_product(&kb, n->dtype, va, vb);
    k.out_ix = ix_offset(kb.A, &n->shape, ov);
    kb_finish(&kb, shape_numel(&n->shape));
}

/* ---- convolutions and pooling ---- */

typedef struct ConvDims {
    const Shape *x, *k, *y;
    int ax[3];
    int64_t H, W, kh, kw, cig, cog, lo_h, lo_w;
} ConvDims;

static ConvDims conv_dims(Graph *g, const Node *n)
{
    ConvDims c = {0};
    const Shape *a0 = &node_at(g, n->in[0])->shape, *a1 = &node_at(g, n->in[1])->shape;
    if (n->op == IR_CONV2D) c.x = a0, c.k = a1, c.y = &n->shape;
    else if (n->op == IR_CONV2D_DX) c.y = a0, c.k = a1, c.x = &n->shape;
    else c.x = a0, c.y = a1, c.k = &n->shape;
    memcpy(c.ax, n->attr.ax, sizeof c.ax);
    c.H = c.x->size[c.ax[0]], c.W = c.x->size[c.ax[1]];
    c.kh = c.k->size[0], c.kw = c.k->size[1], c.cig = c.k->size[2];
    c.cog = c.y->size[c.ax[2]] / n->attr.groups;
    c.lo_h = (c.kh - 1) / 2, c.lo_w = (c.kw - 1) / 2;
    return c;
}

/* x (or y) at the spatial position (h, w) and channel ch, the other axes
 * from the domain at the x-shaped positions `base`; with the condition that
 * (h, w) lies inside the image. */
static int conv_load(KB *kb, const ConvDims *c, int node, const Ix *const *base, const Ix *h, const Ix *w,
                     const Ix *ch)
{
    const Shape *s = &node_at(kb->p->g, node)->shape;
    const Ix *sub[MAX_RANK];
    memcpy(sub, base, sizeof *sub * (size_t)s->rank);
    sub[c->ax[0]] = ix_clamp(kb->A, h, 0, c->H - 1);
    sub[c->ax[1]] = ix_clamp(kb->A, w, 0, c->W - 1);
    sub[c->ax[2]] = ch;
    const Ix *inside = ix_and(kb->A, ix_in_range(kb->A, h, 0, c->H), ix_in_range(kb->A, w, 0, c->W));
    return val_select(kb, inside, val_at(kb, node, sub), val_const(kb, DT_F32, 0, 0));
}

static int tap_load(KB *kb, int node, const Ix *dh, const Ix *dw, const Ix *ci, const Ix *o)
{
    const Ix *sub[4] = {dh, dw, ci, o};
    return val_at(kb, node, sub);
}

/* ov: the variables of the output's axes; ev: of the taps ($dh, $dw, $ci). */
static void conv_forward(KB *kb, const Node *n, const ConvDims *c, const Ix *const *ov, const Ix *const *ev)
{
    const Ix *dh = ev[0], *dw = ev[1], *ci = ev[2], *o = ov[c->ax[2]];
    const Ix *h = ix_lin2(kb->A, ov[c->ax[0]], 1, dh, 1, -c->lo_h), *w = ix_lin2(kb->A, ov[c->ax[1]], 1, dw, 1, -c->lo_w);
    const Ix *ch = ix_add(kb->A, ix_scale(kb->A, ix_div(kb->A, o, c->cog), c->cig), ci);
    int x = conv_load(kb, c, n->in[0], ov, h, w, ch);
    kb->k->result = val_product(kb, DT_F32, x, tap_load(kb, n->in[1], dh, dw, ci, o));
}

/* ov: dx's axes (x-shaped); ev: $dh, $dw and $o, the output channel in its group. */
static void conv_dx(KB *kb, const Node *n, const ConvDims *c, const Ix *const *ov, const Ix *const *ev)
{
    const Ix *dh = ev[0], *dw = ev[1], *oo = ev[2], *ch = ov[c->ax[2]];
    const Ix *grp = ix_div(kb->A, ch, c->cig);
    const Ix *h = ix_lin2(kb->A, ov[c->ax[0]], 1, dh, -1, c->lo_h), *w = ix_lin2(kb->A, ov[c->ax[1]], 1, dw, -1, c->lo_w);
    const Ix *o = ix_add(kb->A, ix_scale(kb->A, grp, c->cog), oo);
    int gy = conv_load(kb, c, n->in[0], ov, h, w, o);
    kb->k->result = val_product(kb, DT_F32, gy, tap_load(kb, n->in[1], dh, dw, ix_mod(kb->A, ch, c->cig), o));
}

/* ov: dk's four axes; ev: x's axes but C, in x's order. */
static void conv_dk(KB *kb, const Node *n, const ConvDims *c, const Ix *const *ov, const Ix *const *ev)
{
    const Ix *dh = ov[0], *dw = ov[1], *ci = ov[2], *o = ov[3];
    const Ix *base[MAX_RANK];
    for (int i = 0, j = 0; i < c->x->rank; i++) base[i] = i == c->ax[2] ? o : ev[j++];
    const Ix *h = ix_lin2(kb->A, base[c->ax[0]], 1, dh, 1, -c->lo_h), *w = ix_lin2(kb->A, base[c->ax[1]], 1, dw, 1, -c->lo_w);
    const Ix *ch = ix_add(kb->A, ix_scale(kb->A, ix_div(kb->A, o, c->cog), c->cig), ci);
    int x = conv_load(kb, c, n->in[0], base, h, w, ch);
    kb->k->result = val_product(kb, DT_F32, x, val_at(kb, n->in[1], base));
}

static void lower_conv(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    ConvDims c = conv_dims(p->g, n);
    KSpace taps = {0};
    if (n->op == IR_CONV2D) {
        space_push(&taps, "$dh", c.kh), space_push(&taps, "$dw", c.kw), space_push(&taps, "$ci", c.cig);
    } else if (n->op == IR_CONV2D_DX) {
        space_push(&taps, "$dh", c.kh), space_push(&taps, "$dw", c.kw), space_push(&taps, "$o", c.cog);
    } else
        for (int i = 0; i < c.x->rank; i++)
            if (i != c.ax[2]) space_push(&taps, c.x->label[i], c.x->size[i]);
    Kernel k;
    KB kb;
    const Ix *ov[MAX_RANK], *ev[KSPACE_RANK];
    begin_reduce(&kb, p, &k, id, &taps, IR_SUM, ov, ev);
    if (n->op == IR_CONV2D) conv_forward(&kb, n, &c, ov, ev);
    else if (n->op == IR_CONV2D_DX) conv_dx(&kb, n, &c, ov, ev);
    else conv_dk(&kb, n, &c, ov, ev);
    k.out_ix = ix_offset(kb.A, &n->shape, ov);
    kb_finish(&kb, shape_numel(&n->shape));
}

/* x at window element (2i + dh, 2j + dw) of the pooled axes, -inf outside. */
static int window_load(KB *kb, const Node *n, const Ix *const *base, const Ix *h, const Ix *w)
{
    const Shape *x = &node_at(kb->p->g, n->in[0])->shape;
    int a0 = n->attr.ax[0], a1 = n->attr.ax[1];
    const Ix *sub[MAX_RANK];
    memcpy(sub, base, sizeof *sub * (size_t)x->rank);
    sub[a0] = ix_min(kb->A, h, x->size[a0] - 1);
    sub[a1] = ix_min(kb->A, w, x->size[a1] - 1);
    const Ix *inside = ix_and(kb->A, ix_compare(kb->A, IX_LT, h, x->size[a0]), ix_compare(kb->A, IX_LT, w, x->size[a1]));
    return val_select(kb, inside, val_at(kb, n->in[0], sub), val_const(kb, DT_F32, -INFINITY, 0));
}

static void lower_maxpool(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    int a0 = n->attr.ax[0], a1 = n->attr.ax[1];
    KSpace taps = {0};
    space_push(&taps, "$ph", 2), space_push(&taps, "$pw", 2);
    Kernel k;
    KB kb;
    const Ix *ov[MAX_RANK], *ev[KSPACE_RANK];
    begin_reduce(&kb, p, &k, id, &taps, IR_MAX, ov, ev);
    const Ix *h = ix_lin2(kb.A, ov[a0], 2, ev[0], 1, 0), *w = ix_lin2(kb.A, ov[a1], 2, ev[1], 1, 0);
    k.result = window_load(&kb, n, ov, h, w);
    k.out_ix = ix_offset(kb.A, &n->shape, ov);
    kb_finish(&kb, shape_numel(&n->shape));
}

/* CIRC as a sum over the taps (a, b) of k[a,b] x[(i +- (a+1)) mod H,
 * (j +- (b+1)) mod W], the taps in the reference's order. */
static int circ_operand(KB *kb, const Node *n, int k, const Ix *const *ov, const Ix *h, const Ix *w)
{
    const Shape *y = &n->shape, *t = &node_at(kb->p->g, n->in[k])->shape;
    const Ix *sub[MAX_RANK];
    for (int i = 0; i < t->rank; i++) {
        int j = shape_find(y, t->label[i]);
        sub[i] = j == n->attr.ax[0] ? h : j == n->attr.ax[1] ? w : ov[j];
    }
    return val_at(kb, n->in[k], sub);
}

/* (i + a + 1) mod n, or (i - a - 1) mod n for the reverse map, kept >= 0. */
static const Ix *wrapped(Arena *A, const Ix *i, const Ix *a, int64_t n, bool reverse)
{
    return ix_mod(A, reverse ? ix_lin2(A, i, 1, a, -1, n - 1) : ix_lin2(A, i, 1, a, 1, 1), n);
}

static void lower_circ(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    int ah = n->attr.ax[0], aw = n->attr.ax[1];
    int64_t H = n->shape.size[ah], W = n->shape.size[aw];
    KSpace taps = {0};
    space_push(&taps, "$a", H), space_push(&taps, "$b", W);
    Kernel k;
    KB kb;
    const Ix *ov[MAX_RANK], *ev[KSPACE_RANK];
    begin_reduce(&kb, p, &k, id, &taps, IR_SUM, ov, ev);
    bool rev = n->attr.reverse;
    int x = circ_operand(&kb, n, 0, ov, wrapped(kb.A, ov[ah], ev[0], H, rev), wrapped(kb.A, ov[aw], ev[1], W, rev));
    int kv = circ_operand(&kb, n, 1, ov, ev[0], ev[1]);
    k.result = val_product(&kb, DT_F32, kv, x);
    k.out_ix = ix_offset(kb.A, &n->shape, ov);
    kb_finish(&kb, shape_numel(&n->shape));
}

/* MAXPOOL2_DX as a gather: windows do not overlap, so each x element takes
 * its window's cotangent when it is the window's first maximum (NaN counts
 * as maximal), found with the reference's scan over the window. */
static void lower_maxpool_dx(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    int a0 = n->attr.ax[0], a1 = n->attr.ax[1];
    KSpace sp = space_of_shape(&n->shape);
    Kernel k;
    KB kb;
    kb_begin(&kb, p, &k, KK_MAP, id, "", &sp);
    Arena *A = kb.A;
    const Ix *wi = ix_div(A, kb.var[a0], 2), *wj = ix_div(A, kb.var[a1], 2);
    int best = -1, at = val_const(&kb, DT_F32, 0, 0), one = val_const(&kb, DT_F32, 1, 0);
    for (int e = 0; e < 4; e++) {
        int v = window_load(&kb, n, kb.var, ix_addc(A, ix_scale(A, wi, 2), e / 2), ix_addc(A, ix_scale(A, wj, 2), e % 2));
        if (e == 0) { best = v; continue; }
        int number = val_op(&kb, IR_EQ, DT_F32, best, best, 0);
        int above = val_op(&kb, IR_SUB, DT_F32, one, val_op(&kb, IR_LE, DT_F32, v, best, 0), 0);
        int take = val_op(&kb, IR_MUL, DT_F32, number, above, 0);
        best = val_op(&kb, IR_WHERE, DT_F32, take, v, best);
        at = val_op(&kb, IR_WHERE, DT_F32, take, val_const(&kb, DT_F32, e, 0), at);
    }
    const Ix *mine = ix_lin2(A, ix_mod(A, kb.var[a0], 2), 2, ix_mod(A, kb.var[a1], 2), 1, 0);
    int me = add_val(&kb, (Val){.kind = VAL_INDEX, .dtype = DT_F32, .ix = mine});
    const Ix *gidx[MAX_RANK];
    memcpy(gidx, kb.var, sizeof *gidx * (size_t)n->shape.rank);
    gidx[a0] = wi, gidx[a1] = wj;
    int g = val_at(&kb, n->in[1], gidx);
    int hit = val_op(&kb, IR_EQ, DT_F32, at, me, 0);
    k.result = val_op(&kb, IR_WHERE, DT_F32, hit, g, val_const(&kb, DT_F32, 0, 0));
    k.out_ix = ix_offset(A, &n->shape, kb.var);
    kb_finish(&kb, shape_numel(&n->shape));
}

/* ---- scans ---- */

static int find_named(const Shape *s, const char *name)
{
    for (int i = 0; i < s->rank; i++)
        if (!strcmp(s->label[i], name)) return i;
    return -1;
}

static int64_t stride_named(const Shape *s, const char *name)
{
    int64_t st[MAX_RANK];
    int i = find_named(s, name);
    shape_strides(s, st);
    return i < 0 ? 0 : st[i];
}

/* Scalar scans run their trailing batch axes (up to 1024 points) as one
 * vector per thread, so the time loop walks memory in contiguous rows. */
static int scan_inner_axes(const KSpace *batch)
{
    int64_t prod = 1;
    int n = 0;
    while (n < batch->rank && prod * batch->size[batch->rank - 1 - n] <= 1024) prod *= batch->size[batch->rank - 1 - n++];
    return n;
}

/* SCAN and SOLVE: the recurrence, or the linear system, at every batch
 * point of b (its axes but time and the state). SOLVE has no time axis. */
static void lower_scan(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id), *A = node_at(p->g, n->in[0]), *b = node_at(p->g, n->in[1]);
    const Attr *at = &n->attr;
    bool solve = n->op == IR_SOLVE;
    int64_t bs[MAX_RANK], as[MAX_RANK];
    shape_strides(&b->shape, bs);
    shape_strides(&A->shape, as);
    int time = solve ? -1 : at->axis;
    ScanKernel s = {.a_buf = p->node_buf[n->in[0]], .b_buf = p->node_buf[n->in[1]], .a_dt = A->dtype,
                    .b_dt = b->dtype, .y_dt = n->dtype, .T = solve ? 1 : b->shape.size[time], .d = 1,
                    .matrix = at->state != NULL, .reverse = at->reverse, .bt = solve ? 0 : bs[time]};
    s.at = solve ? 0 : stride_named(&A->shape, b->shape.label[time]);
    int state = s.matrix ? find_named(&b->shape, at->state) : -1;
    if (s.matrix) {
        s.d = b->shape.size[state], s.bi = bs[state];
        s.ai = stride_named(&A->shape, at->state), s.aj = stride_named(&A->shape, at->col);
    }
    KSpace batch = {0};
    int pos[MAX_RANK];
    for (int i = 0; i < b->shape.rank; i++)
        if (i != time && i != state) pos[batch.rank] = i, space_push(&batch, b->shape.label[i], b->shape.size[i]);
    Kernel k;
    KB kb;
    kb_begin(&kb, p, &k, solve ? KK_SOLVE : KK_SCAN, id, "", &batch);
    const Ix *boff = ix_const(kb.A, 0), *aoff = ix_const(kb.A, 0);
    for (int i = 0; i < batch.rank; i++) {
        boff = ix_lin2(kb.A, boff, 1, kb.var[i], bs[pos[i]], 0);
        int ja = shape_find(&A->shape, batch.label[i]);
        if (ja >= 0) aoff = ix_lin2(kb.A, aoff, 1, kb.var[i], as[ja], 0);
    }
    s.b_off = boff, s.a_off = aoff, s.inner = s.matrix ? 0 : scan_inner_axes(&batch);
    note_unique(&k.reads, s.a_buf);
    note_unique(&k.reads, s.b_buf);
    k.scan = s;
    kb_finish(&kb, space_numel(&batch));
}

/* ---- FFTs ---- */

static int add_buffer(Lowered *p, int node, DType dt, int64_t numel, bool keep)
{
    Buffer b = {.node = node, .dtype = dt, .numel = numel, .keep = keep};
    int64_t bytes = numel * (dt == DT_C64 ? 8 : 4);
    b.bytes = (bytes + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
    if (b.bytes == 0) b.bytes = BUFFER_ALIGN;
    vec_push(&p->bufs, b);
    return p->bufs.len - 1;
}

/* Begins a map kernel that rewrites buf (shape s) in place, after an FFT
 * step; returns the Val of the element it rewrites. */
static int begin_in_place(KB *kb, Lowered *p, Kernel *k, int id, const char *suffix, int buf, const Shape *s)
{
    KSpace dom = space_of_shape(s);
    kb_begin(kb, p, k, KK_MAP, id, suffix, &dom);
    k->out_buf = buf;
    k->out_ix = ix_offset(kb->A, s, kb->var);
    return load_buf(kb, buf, k->out_ix);
}

/* Multiplies each spectral element of buf (shape sp) by (edge re, edge im) on
 * the DC and Nyquist columns of axis w and by (inner re, inner im) elsewhere,
 * after conjugating it when conj is set: runtime/ref_fft.c's scale_columns. */
static void spectral_scale(Lowered *p, int id, int buf, const Shape *sp, int w, int64_t W, const double *edge,
                           const double *inner, bool conj)
{
    Kernel k;
    KB kb;
    int z = begin_in_place(&kb, p, &k, id, "_scale", buf, sp);
    if (conj) z = val_op(&kb, IR_CONJ, DT_C64, z, 0, 0);
    int re = val_op(&kb, IR_REAL, DT_F32, z, 0, 0), im = val_op(&kb, IR_IMAG, DT_F32, z, 0, 0);
    int side[2];
    for (int s = 0; s < 2; s++) {
        const double *f = s ? inner : edge;
        int r = val_op(&kb, IR_MUL, DT_F32, re, val_double(&kb, f[0]), 0);
        int i = val_op(&kb, IR_MUL, DT_F32, im, val_double(&kb, f[1]), 0);
        side[s] = val_op(&kb, IR_COMPLEX, DT_C64, r, i, 0);
    }
    int v = side[1];
    if (W % 2 == 0 && W / 2 > 0) v = val_select(&kb, ix_compare(kb.A, IX_EQ, kb.var[w], W / 2), side[0], v);
    k.result = val_select(&kb, ix_compare(kb.A, IX_EQ, kb.var[w], 0), side[0], v);
    kb_finish(&kb, shape_numel(sp));
}

/* buf (shape sh, f32) *= s, after the transform, where the reference scales. */
static void real_scale(Lowered *p, int id, int buf, const Shape *sh, double s)
{
    Kernel k;
    KB kb;
    int x = begin_in_place(&kb, p, &k, id, "_norm", buf, sh);
    k.result = val_op(&kb, IR_MUL, DT_F32, x, val_double(&kb, s), 0);
    kb_finish(&kb, shape_numel(sh));
}

static void fft_step(Lowered *p, int id, FftKind kind, int rank, int64_t n0, int64_t n1, int64_t outer,
                     int64_t inner, int in, int out)
{
    Step s = {.kind = STEP_FFT, .node = id};
    s.fft = (FftStep){kind, rank, {n0, n1}, outer, inner, in, out};
    push_step(p, s);
}

static void lower_fft(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id), *x = node_at(p->g, n->in[0]);
    bool real_in = n->op == IR_RFFT2 || n->op == IR_IRFFT2_T;
    const Shape *re = real_in ? &x->shape : &n->shape, *sp = real_in ? &n->shape : &x->shape;
    int h = n->attr.ax[0], w = n->attr.ax[1];
    int64_t H = re->size[h], W = re->size[w], Wf = sp->size[w], outer = 1, inner = 1;
    for (int i = 0; i < h; i++) outer *= re->size[i];
    for (int i = w + 1; i < re->rank; i++) inner *= re->size[i];
    int in = p->node_buf[n->in[0]], out = p->node_buf[id];
    double s = 1.0 / (double)(H * W);
    if (real_in) {
        fft_step(p, id, FFT_R2C, 2, H, W, outer, inner, in, out);
        if (n->op == IR_IRFFT2_T) spectral_scale(p, id, out, sp, w, W, (double[2]){s, s}, (double[2]){2 * s, 2 * s}, true);
        return;
    }
    int z = add_buffer(p, -1, DT_C64, shape_numel(sp), false);
    bool inverse = n->op == IR_IRFFT2;
    fft_step(p, id, inverse ? FFT_C2C_INVERSE : FFT_C2C_FORWARD, 1, H, 0, outer, Wf * inner, in, z);
    if (inverse) spectral_scale(p, id, z, sp, w, W, (double[2]){1, 0}, (double[2]){1, 1}, false);
    else spectral_scale(p, id, z, sp, w, W, (double[2]){1, 1}, (double[2]){0.5, 0.5}, true);
    fft_step(p, id, FFT_C2R, 1, W, 0, outer * H, inner, z, out);
    if (inverse) real_scale(p, id, out, re, s);
}

/* ---- the program ---- */

static void lower_node(Lowered *p, int id)
{
    const Node *n = node_at(p->g, id);
    if (!lower_supports(p->g, id)) {
        push_step(p, (Step){.kind = STEP_FALLBACK, .node = id});
        return;
    }
    switch (n->op) {
    case IR_SUM: case IR_MAX: lower_reduce(p, id); return;
    case IR_CONTRACT: lower_contract(p, id); return;
    case IR_CONV2D: case IR_CONV2D_DX: case IR_CONV2D_DK: lower_conv(p, id); return;
    case IR_MAXPOOL2: lower_maxpool(p, id); return;
    case IR_MAXPOOL2_DX: lower_maxpool_dx(p, id); return;
    case IR_SCAN: case IR_SOLVE: lower_scan(p, id); return;
    case IR_CIRC: lower_circ(p, id); return;
    case IR_RFFT2: case IR_IRFFT2: case IR_RFFT2_T: case IR_IRFFT2_T: lower_fft(p, id); return;
    default: lower_map(p, id); return;
    }
}

static bool *mark_needed(Graph *g)
{
    int n = g->nodes.len;
    bool *need = xcalloc((size_t)(n ? n : 1), sizeof *need);
    for (int id = 0; id < n; id++)
        need[id] = node_readable(g, id) && node_at(g, id)->op != IR_INPUT && node_at(g, id)->op != IR_PARAM;
    for (int id = n - 1; id >= 0; id--)
        if (need[id])
            for (int k = 0; k < node_at(g, id)->nin; k++) need[node_at(g, id)->in[k]] = true;
    return need;
}

Lowered *lower(Graph *g, const LowerOptions *opt)
{
    Lowered *p = xcalloc(1, sizeof *p);
    int n = g->nodes.len;
    p->g = g;
    p->needed = mark_needed(g);
    p->materialized = fuse(g, p->needed, opt->fuse);
    p->node_buf = xmalloc(sizeof *p->node_buf * (size_t)(n ? n : 1));
    for (int id = 0; id < n; id++) {
        const Node *x = node_at(g, id);
        bool leaf = x->op == IR_INPUT || x->op == IR_PARAM;
        bool stored = p->needed[id] && (p->materialized[id] || fuse_rides(g, p->needed, p->materialized, id));
        p->node_buf[id] = leaf || stored
                              ? add_buffer(p, id, x->dtype, shape_numel(&x->shape), node_readable(g, id))
                              : -1;
    }
    for (int id = 0; id < n; id++) {
        OpCode op = node_at(g, id)->op;
        if (p->needed[id] && p->materialized[id] && op != IR_INPUT && op != IR_PARAM) lower_node(p, id);
    }
    plan_memory(p);
    return p;
}

void program_free(Lowered *p)
{
    if (!p) return;
    for (int i = 0; i < p->kernels.len; i++) {
        vec_free(&p->kernels.data[i].fused);
        vec_free(&p->kernels.data[i].vals);
        vec_free(&p->kernels.data[i].reads);
        vec_free(&p->kernels.data[i].stages);
        vec_free(&p->kernels.data[i].stores);
    }
    vec_free(&p->kernels);
    vec_free(&p->steps);
    vec_free(&p->bufs);
    free(p->needed);
    free(p->materialized);
    free(p->node_buf);
    arena_free(&p->arena);
    free(p);
}
