/* ir.c: graph construction, shapes and parameter accounting.
 *
 * The graph owns an arena for operand arrays; nodes live in a Vec so ids stay
 * valid as it grows (pointers from node_at do not: re-fetch after ir_add). */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

const OpInfo op_info[IR_COUNT] = {
#define OPDEF(name, spelling, cls, arity, flags) {spelling, cls, arity, flags},
#include "ops.def"
#undef OPDEF
};

int64_t shape_numel(const Shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->size[i];
    return n;
}

int shape_find(const Shape *s, const char *label)
{
    for (int i = 0; i < s->rank; i++)
        if (s->label[i] == label) return i;
    return -1;
}

bool shape_equal(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->label[i] != b->label[i] || a->size[i] != b->size[i]) return false;
    return true;
}

bool shape_same_axes(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++) {
        int j = shape_find(b, a->label[i]);
        if (j < 0 || b->size[j] != a->size[i]) return false;
    }
    return true;
}

void shape_strides(const Shape *s, int64_t *strides)
{
    int64_t st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        strides[i] = st;
        st *= s->size[i];
    }
}

const char *shape_str(DType dt, const Shape *s, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s", dtype_name(dt));
    if (s->rank == 0 || k >= n) return buf;
    for (int i = 0; i < s->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s=%lld", i ? "," : "[", s->label[i],
                              (long long)s->size[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

Graph *graph_new(void)
{
    Graph *g = xcalloc(1, sizeof *g);
    g->output = -1;
    g->loss_seed = -1;
    return g;
}

void graph_free(Graph *g)
{
    if (!g) return;
    arena_free(&g->arena);
    vec_free(&g->nodes);
    vec_free(&g->params);
    vec_free(&g->inputs);
    vec_free(&g->probes);
    vec_free(&g->grads);
    free(g);
}

int ir_add(Graph *g, OpCode op, DType dt, const Shape *shape, const int *in, int nin,
           const Attr *attr, Loc loc)
{
    Node n = {.op = op, .dtype = dt, .shape = *shape, .nin = nin, .loc = loc, .group = -1};
    if (attr) n.attr = *attr;
    n.in = arena_alloc(&g->arena, sizeof(int) * (size_t)(nin ? nin : 1));
    for (int i = 0; i < nin; i++) {
        if (in[i] < 0 || in[i] >= g->nodes.len) ice("operand %d of %s out of range", in[i], op_info[op].spelling);
        n.in[i] = in[i];
    }
    vec_push(&g->nodes, n);
    return g->nodes.len - 1;
}

int ir_const(Graph *g, double re, double im, DType dt, const Shape *shape, Loc loc)
{
    Attr a = {.c = {re, im}};
    return ir_add(g, IR_CONST, dt, shape, NULL, 0, &a, loc);
}

static int64_t count_elements(const Graph *g, bool state)
{
    int64_t n = 0;
    for (int i = 0; i < g->params.len; i++)
        if (g->params.data[i].state == state) n += shape_numel(&g->params.data[i].shape);
    return n;
}

int64_t graph_param_count(const Graph *g) { return count_elements(g, false); }

int graph_probe(const Graph *g, const char *name)
{
    for (int i = 0; i < g->probes.len; i++)
        if (!strcmp(g->probes.data[i].name, name)) return i;
    return -1;
}
int64_t graph_state_count(const Graph *g) { return count_elements(g, true); }
