/* fuse.c: which nodes get a buffer, and which are recomputed inside the
 * kernels that read them.
 *
 * A materialized node is computed by a kernel (or library call) of its own
 * and stored; any other node is inlined: evaluated, at the index it is read
 * at, inside each kernel that reads it. So fusion is the choice of the
 * materialized set, and a group is a materialized node with the nodes
 * inlined into it. The rules:
 *   - leaves that are fed (INPUT, PARAM), readable results (output,
 *     gradients, probes) and nodes no kernel can inline (reductions, library
 *     calls, scans, fallbacks) are materialized;
 *   - so are the operands of library calls, scans and fallbacks: barriers;
 *   - elementwise and movement nodes are inlined into their consumers, so a
 *     chain fuses with its consumer, and a chain feeding a reduction fuses
 *     into the reduction (which ends the group);
 *   - a node read by several kernels is materialized unless it is cheap
 *     (work of at most CHEAP float ops, counting what it inlines, with
 *     transcendental functions weighing 8), so shared work is done once;
 *     cheap ones (constants, casts, broadcasts of buffers, an add) are
 *     recomputed in each reader;
 *   - a costly node (over COSTLY) read by a kernel over a larger domain is
 *     materialized, so broadcasting does not multiply its work;
 *   - a readable elementwise or movement node whose every reader is in one
 *     map kernel over the same axes rides along: that kernel computes it
 *     anyway and stores it too (multi-output fusion), so an optimizer's new
 *     moments and parameters, say, come out of one kernel. Where the rule
 *     fails for a node it is materialized and the decisions are redone,
 *     until every rider qualifies (the set only shrinks).
 * Decisions run from the last node back, so every consumer's group is known
 * when its operands are decided. */
#include "kernel.h"

#include <string.h>

enum { CHEAP = 2, COSTLY = 8 };

typedef struct Users {
    int *start, *list;     /* CSR: the needed consumers of node i are list[start[i] .. start[i+1]) */
} Users;

static Users users_of(Graph *g, const bool *needed)
{
    int n = g->nodes.len;
    Users u = {xcalloc((size_t)n + 2, sizeof(int)), NULL};
    int total = 0;
    for (int id = 0; id < n; id++)
        if (needed[id])
            for (int k = 0; k < node_at(g, id)->nin; k++) u.start[node_at(g, id)->in[k] + 1]++, total++;
    for (int i = 0; i < n; i++) u.start[i + 1] += u.start[i];
    u.list = xmalloc(sizeof(int) * (size_t)(total ? total : 1));
    int *fill = xcalloc((size_t)n + 1, sizeof(int));
    for (int id = 0; id < n; id++)
        if (needed[id])
            for (int k = 0; k < node_at(g, id)->nin; k++) {
                int x = node_at(g, id)->in[k];
                u.list[u.start[x] + fill[x]++] = id;
            }
    free(fill);
    return u;
}

static bool is_leaf(const Node *n) { return n->op == IR_INPUT || n->op == IR_PARAM; }

static void force(Graph *g, const bool *needed, bool enabled, const bool *candidate, bool *mat)
{
    for (int id = 0; id < g->nodes.len; id++) {
        const Node *n = node_at(g, id);
        if (is_leaf(n)) mat[id] = true;
        if (!needed[id]) continue;
        if (!enabled || (node_readable(g, id) && !candidate[id]) || !lower_inlinable(g, id)) mat[id] = true;
        OpClass c = op_info[n->op].cls;
        if (c == OC_LIB || c == OC_SCAN || !lower_supports(g, id))
            for (int k = 0; k < n->nin; k++) mat[n->in[k]] = true;
    }
}

/* The work of one elementwise op, in simple float ops: transcendental
 * functions cost a few tens of cycles, so recomputing one in several
 * kernels is not free. */
static int ew_weight(const Node *x)
{
    int w;
    switch (x->op) {
    case IR_EXP: case IR_LOG: case IR_SIN: case IR_COS: case IR_TANH: case IR_SIGMOID: case IR_SOFTPLUS:
    case IR_SILU: case IR_GELU: case IR_GELU_D: case IR_POW: w = 8; break;
    case IR_SQRT: case IR_RSQRT: case IR_DIV: w = 4; break;
    default: w = op_info[x->op].cls == OC_EW; break;
    }
    return x->dtype == DT_C64 ? 2 * w : w;
}

/* The work a node costs each of its readers: its own, plus its inlined operands'. */
static int *inline_costs(Graph *g, const bool *mat)
{
    int n = g->nodes.len;
    int *cost = xcalloc((size_t)(n ? n : 1), sizeof *cost);
    for (int id = 0; id < n; id++) {
        const Node *x = node_at(g, id);
        if (mat[id]) continue;
        cost[id] = ew_weight(x);
        for (int k = 0; k < x->nin; k++)
            if (!mat[x->in[k]]) cost[id] += cost[x->in[k]];
    }
    return cost;
}

/* The number of points a kernel rooted at r evaluates its body over. */
static int64_t domain_numel(Graph *g, int r)
{
    const Node *n = node_at(g, r);
    return shape_numel(op_info[n->op].cls == OC_REDUCE ? &node_at(g, n->in[0])->shape : &n->shape);
}

/* Decides one node from its consumers' groups: root[id] (the kernel that
 * inlines it, the first of several when shared), or materializes it. */
static void decide(Graph *g, int id, const Users *u, const int *cost, bool *mat, int *root, bool *shared)
{
    int r = -1;
    bool many = false;
    for (int i = u->start[id]; i < u->start[id + 1]; i++) {
        int c = u->list[i], rc = mat[c] ? c : root[c];
        many |= !mat[c] && shared[c];
        if (rc < 0) continue;
        if (r < 0) r = rc;
        else many |= r != rc;
    }
    bool costly = cost[id] > COSTLY && r >= 0 && shape_numel(&node_at(g, id)->shape) < domain_numel(g, r);
    if ((many && cost[id] > CHEAP) || costly) {
        mat[id] = true;
        return;
    }
    root[id] = r, shared[id] = many;
}

/* The fusion decisions for a given candidate set of riders. */
static void decide_all(Graph *g, const bool *needed, bool enabled, const bool *candidate, const Users *u, bool *mat,
                       int *root, bool *shared)
{
    int n = g->nodes.len;
    memset(mat, 0, sizeof *mat * (size_t)n);
    memset(shared, 0, sizeof *shared * (size_t)n);
    force(g, needed, enabled, candidate, mat);
    int *cost = inline_costs(g, mat);
    for (int id = n - 1; id >= 0; id--) {
        root[id] = -1;
        if (needed[id] && !mat[id]) decide(g, id, u, cost, mat, root, shared);
    }
    free(cost);
}

/* A rider must be inlined into exactly one kernel, a map over its own axes. */
static bool rides(Graph *g, int id, const bool *mat, const int *root, const bool *shared)
{
    int r = root[id];
    return !mat[id] && r >= 0 && !shared[id] && lower_inlinable(g, r)
           && shape_same_axes(&node_at(g, id)->shape, &node_at(g, r)->shape);
}

/* Drops the last candidate that does not ride (an earlier one may fail only
 * because that one was not materialized); whether there was one. */
static bool drop_non_rider(Graph *g, bool *candidate, const bool *mat, const int *root, const bool *shared)
{
    for (int id = g->nodes.len - 1; id >= 0; id--)
        if (candidate[id] && !rides(g, id, mat, root, shared)) return candidate[id] = false, true;
    return false;
}

bool *fuse(Graph *g, const bool *needed, bool enabled)
{
    int n = g->nodes.len;
    size_t len = (size_t)(n ? n : 1);
    bool *mat = xcalloc(len, sizeof *mat), *shared = xcalloc(len, sizeof *shared);
    bool *candidate = xcalloc(len, sizeof *candidate);
    int *root = xmalloc(sizeof *root * len);
    Users u = users_of(g, needed);
    for (int id = 0; id < n; id++)
        candidate[id] = enabled && needed[id] && node_readable(g, id) && !is_leaf(node_at(g, id))
                        && lower_inlinable(g, id) && u.start[id] < u.start[id + 1];
    do decide_all(g, needed, enabled, candidate, &u, mat, root, shared);
    while (drop_non_rider(g, candidate, mat, root, shared));
    for (int id = 0; id < n; id++) {
        bool leaf = is_leaf(node_at(g, id));
        node_at(g, id)->group = !needed[id] || leaf ? -1 : mat[id] ? id : root[id];
    }
    free(u.start);
    free(u.list);
    free(root);
    free(shared);
    free(candidate);
    return mat;
}

bool fuse_rides(const Graph *g, const bool *needed, const bool *materialized, int id)
{
    return needed[id] && !materialized[id] && node_readable(g, id) && !is_leaf(node_at((Graph *)g, id));
}

/* ---- -dF ---- */

void print_fusion(FILE *f, const Lowered *p)
{
    Graph *g = p->g;
    fprintf(f, "## fusion\n");
    print_graph(f, g);
    for (int r = 0; r < g->nodes.len; r++) {
        OpCode op = node_at(g, r)->op;
        if (!p->needed[r] || !p->materialized[r] || op == IR_INPUT || op == IR_PARAM) continue;
        fprintf(f, "group g%d (%s):", r, op_info[op].spelling);
        for (int id = 0; id <= r; id++)
            if (node_at(g, id)->group == r) fprintf(f, " %%%d", id);
        for (int id = 0; id < r; id++)
            if (node_at(g, id)->group == r && fuse_rides(g, p->needed, p->materialized, id)) fprintf(f, " +stores %%%d", id);
        fputc('\n', f);
    }
}
