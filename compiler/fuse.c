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
 *     materialized, so broadcasting does not multiply its work.
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

static void force(Graph *g, const bool *needed, bool enabled, bool *mat)
{
    for (int id = 0; id < g->nodes.len; id++) {
        const Node *n = node_at(g, id);
        if (n->op == IR_INPUT || n->op == IR_PARAM) mat[id] = true;
        if (!needed[id]) continue;
        if (!enabled || node_readable(g, id) || !lower_inlinable(g, id)) mat[id] = true;
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

bool *fuse(Graph *g, const bool *needed, bool enabled)
{
    int n = g->nodes.len;
    bool *mat = xcalloc((size_t)(n ? n : 1), sizeof *mat), *shared = xcalloc((size_t)(n ? n : 1), sizeof *shared);
    int *root = xmalloc(sizeof *root * (size_t)(n ? n : 1));
    force(g, needed, enabled, mat);
    int *cost = inline_costs(g, mat);
    Users u = users_of(g, needed);
    for (int id = n - 1; id >= 0; id--) {
        root[id] = -1;
        if (needed[id] && !mat[id]) decide(g, id, &u, cost, mat, root, shared);
    }
    for (int id = 0; id < n; id++) {
        OpCode op = node_at(g, id)->op;
        bool leaf = op == IR_INPUT || op == IR_PARAM;
        node_at(g, id)->group = !needed[id] || leaf ? -1 : mat[id] ? id : root[id];
    }
    free(u.start);
    free(u.list);
    free(cost);
    free(root);
    free(shared);
    return mat;
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
        fputc('\n', f);
    }
}
