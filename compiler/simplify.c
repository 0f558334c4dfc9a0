/* simplify.c: algebraic folding, common-subexpression merging and dead-node
 * removal.
 *
 * Autodiff emits many trivial nodes (multiplications by one, sums with a zero
 * cotangent, the same broadcast twice). simplify() rebuilds the graph in two
 * sweeps: the first copies nodes in order, replacing each by an equivalent
 * earlier node when a rule applies (x*1, x+0, -(-x), reshape of a reshape,
 * or an identical node already copied); the second keeps only what the
 * output, the gradients and the probes need. Leaves (inputs, parameters) are
 * always kept so their indices stay valid. The result computes the same
 * values as the input graph, node for node where nodes survive. */
#include "driver.h"

#include <string.h>

static bool is_const(Graph *g, int id, double v)
{
    Node *n = node_at(g, id);
    return n->op == IR_CONST && n->attr.c[0] == v && n->attr.c[1] == 0;
}

static bool same_type(Graph *g, int a, int b)
{
    return shape_equal(&node_at(g, a)->shape, &node_at(g, b)->shape) && node_at(g, a)->dtype == node_at(g, b)->dtype;
}

/* An earlier node equal in value to node `n` (operands already remapped), or
 * -1. */
static int fold(Graph *g, const Node *n)
{
    int a = n->nin > 0 ? n->in[0] : -1, b = n->nin > 1 ? n->in[1] : -1;
    switch (n->op) {
    case IR_MUL:
        if (is_const(g, b, 1) && shape_equal(&node_at(g, a)->shape, &n->shape) && node_at(g, a)->dtype == n->dtype) return a;
        if (is_const(g, a, 1) && shape_equal(&node_at(g, b)->shape, &n->shape) && node_at(g, b)->dtype == n->dtype) return b;
        break;
    case IR_ADD:
        if (is_const(g, b, 0) && shape_equal(&node_at(g, a)->shape, &n->shape) && node_at(g, a)->dtype == n->dtype) return a;
        if (is_const(g, a, 0) && shape_equal(&node_at(g, b)->shape, &n->shape) && node_at(g, b)->dtype == n->dtype) return b;
        break;
    case IR_SUB:
        if (is_const(g, b, 0) && shape_equal(&node_at(g, a)->shape, &n->shape) && node_at(g, a)->dtype == n->dtype) return a;
        break;
    case IR_NEG: case IR_CONJ:
        if (node_at(g, a)->op == n->op && same_type(g, node_at(g, a)->in[0], a)) return node_at(g, a)->in[0];
        break;
    case IR_PERMUTE: case IR_RESHAPE: case IR_BROADCAST:
        if (shape_equal(&node_at(g, a)->shape, &n->shape)) return a;
        break;
    default: break;
    }
    return -1;
}

static bool same_attr(const Attr *x, const Attr *y)
{
    return x->index == y->index && x->c[0] == y->c[0] && x->c[1] == y->c[1] && x->mask == y->mask &&
           x->axis == y->axis && x->start == y->start && x->step == y->step && x->lo == y->lo &&
           x->drop == y->drop && !memcmp(x->ax, y->ax, sizeof x->ax) && x->groups == y->groups &&
           x->state == y->state && x->col == y->col && x->reverse == y->reverse;
}

static bool same_node(const Node *x, const Node *y)
{
    if (x->op != y->op || x->dtype != y->dtype || x->nin != y->nin || !shape_equal(&x->shape, &y->shape)) return false;
    for (int k = 0; k < x->nin; k++)
        if (x->in[k] != y->in[k]) return false;
    return same_attr(&x->attr, &y->attr);
}

/* Open-addressing table from node content to node id in the new graph. */
typedef struct Cse {
    int *slot;
    size_t cap;
} Cse;

static uint64_t node_hash(const Node *n)
{
    uint64_t h = (uint64_t)n->op * 1000003u ^ (uint64_t)n->shape.rank;
    for (int k = 0; k < n->nin; k++) h = h * 31 + (uint64_t)n->in[k];
    for (int i = 0; i < n->shape.rank; i++) h = h * 31 + (uint64_t)n->shape.size[i] + (uint64_t)(uintptr_t)n->shape.label[i];
    return h ^ (h >> 29);
}

static int cse_find_or_add(Cse *t, Graph *g, const Node *n, int id)
{
    for (size_t j = node_hash(n) & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
        if (t->slot[j] < 0) {
            t->slot[j] = id;
            return id;
        }
        if (same_node(node_at(g, t->slot[j]), n)) return t->slot[j];
    }
}

static int copy_node(Graph *to, const Node *n, const int *in)
{
    return ir_add(to, n->op, n->dtype, &n->shape, in, n->nin, &n->attr, n->loc);
}

static void copy_tables(Graph *from, Graph *to, const int *map)
{
    for (int i = 0; i < from->params.len; i++) {
        Param p = from->params.data[i];
        p.node = map[p.node];
        vec_push(&to->params, p);
    }
    for (int i = 0; i < from->inputs.len; i++) {
        Input in = from->inputs.data[i];
        in.node = map[in.node];
        vec_push(&to->inputs, in);
    }
    for (int i = 0; i < from->probes.len; i++) {
        Probe p = from->probes.data[i];
        p.node = map[p.node];
        vec_push(&to->probes, p);
    }
    for (int i = 0; i < from->grads.len; i++) vec_push(&to->grads, from->grads.data[i] < 0 ? -1 : map[from->grads.data[i]]);
    to->output = from->output < 0 ? -1 : map[from->output];
    to->loss_seed = from->loss_seed < 0 ? -1 : map[from->loss_seed];
}

/* Sweep 1: fold and merge. */
static Graph *fold_and_merge(Graph *g)
{
    Graph *to = graph_new();
    int *map = xmalloc(sizeof(int) * (size_t)g->nodes.len);
    Cse t = {.cap = 16};
    while (t.cap < 2 * (size_t)g->nodes.len) t.cap *= 2;
    t.slot = xmalloc(sizeof(int) * t.cap);
    memset(t.slot, -1, sizeof(int) * t.cap);
    int in[64];
    for (int i = 0; i < g->nodes.len; i++) {
        Node n = *node_at(g, i);
        int *ins = n.nin <= 64 ? in : xmalloc(sizeof(int) * (size_t)n.nin);
        for (int k = 0; k < n.nin; k++) ins[k] = map[n.in[k]];
        n.in = ins;
        int f = op_info[n.op].cls == OC_LEAF && n.op != IR_CONST ? -1 : fold(to, &n);
        if (f >= 0) map[i] = f;
        else {
            int id = copy_node(to, &n, ins);
            map[i] = n.op == IR_INPUT || n.op == IR_PARAM ? id : cse_find_or_add(&t, to, node_at(to, id), id);
            if (map[i] != id) to->nodes.len--;   /* the copy duplicated an earlier node: drop it */
        }
        if (ins != in) free(ins);
    }
    copy_tables(g, to, map);
    free(map);
    free(t.slot);
    return to;
}

/* Sweep 2: keep what the roots need. */
static Graph *drop_dead(Graph *g)
{
    bool *live = xcalloc((size_t)g->nodes.len, sizeof *live);
    if (g->output >= 0) live[g->output] = true;
    for (int i = 0; i < g->grads.len; i++)
        if (g->grads.data[i] >= 0) live[g->grads.data[i]] = true;
    for (int i = 0; i < g->probes.len; i++) live[g->probes.data[i].node] = true;
    for (int i = g->nodes.len - 1; i >= 0; i--) {
        Node *n = node_at(g, i);
        if (n->op == IR_INPUT || n->op == IR_PARAM) live[i] = true;
        if (!live[i]) continue;
        for (int k = 0; k < n->nin; k++) live[n->in[k]] = true;
    }
    Graph *to = graph_new();
    int *map = xmalloc(sizeof(int) * (size_t)g->nodes.len);
    int in[64];
    for (int i = 0; i < g->nodes.len; i++) {
        map[i] = -1;
        if (!live[i]) continue;
        Node *n = node_at(g, i);
        int *ins = n->nin <= 64 ? in : xmalloc(sizeof(int) * (size_t)n->nin);
        for (int k = 0; k < n->nin; k++) ins[k] = map[n->in[k]];
        map[i] = copy_node(to, n, ins);
        if (ins != in) free(ins);
    }
    copy_tables(g, to, map);
    free(map);
    free(live);
    return to;
}

Graph *simplify(Graph *g)
{
    Graph *merged = fold_and_merge(g);
    graph_free(g);
    Graph *out = drop_dead(merged);
    graph_free(merged);
    return out;
}
