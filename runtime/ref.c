/* ref.c: the reference executor's storage, leaves and dispatch.
 *
 * Each node owns one buffer (float or double, see ref.h) allocated up front.
 * ref_run visits nodes in id order; leaves are filled here, every other node
 * goes to its family's kernel (ref_ops.h) through a RefCall whose operands
 * are double arrays: in f64 mode the storage itself, in f32 mode widened
 * copies, with the result rounded back to float once. Widening is exact, so
 * the only f32 rounding is the one per node that ref.h promises.
 * ref_eval_node runs the same dispatch for one node on storage that another
 * device owns, so a device without a kernel for an op falls back to this one.
 *
 * This file also holds the index-space helpers the kernels share (Space,
 * match_labels, Walk). */
#include "ref_ops.h"

#include <stdlib.h>
#include <string.h>

struct RefExec {
    Graph *g;
    int nodes;        /* the graph's node count at ref_new */
    bool f64;
    void **data;      /* per node: float[] or double[], numel x width */
    bool *fed;        /* per node: a leaf that ref_set has filled */
};

static int64_t node_doubles(const Node *n) { return shape_numel(&n->shape) * dt_width(n->dtype); }

static void check_dtype(Graph *g, int id)
{
    DType dt = node_at(g, id)->dtype;
    if (dt != DT_F32 && dt != DT_C64)
        ice("ref: %%%d = %s has dtype %d; the IR holds only f32 and c64", id,
            op_info[node_at(g, id)->op].spelling, (int)dt);
}

RefExec *ref_new(Graph *g, bool f64)
{
    RefExec *r = xcalloc(1, sizeof *r);
    int n = g->nodes.len;
    r->g = g;
    r->nodes = n;
    r->f64 = f64;
    r->data = xcalloc((size_t)(n ? n : 1), sizeof *r->data);
    r->fed = xcalloc((size_t)(n ? n : 1), sizeof *r->fed);
    for (int i = 0; i < n; i++) {
        check_dtype(g, i);
        size_t bytes = f64 ? sizeof(double) : sizeof(float);
        r->data[i] = xcalloc((size_t)node_doubles(node_at(g, i)), bytes);
    }
    return r;
}

void ref_free(RefExec *r)
{
    if (!r) return;
    for (int i = 0; i < r->nodes; i++) free(r->data[i]);
    free(r->data);
    free(r->fed);
    free(r);
}

static const Node *leaf_to_feed(RefExec *r, int node)
{
    if (node < 0 || node >= r->nodes) ice("ref_set: node %d out of range", node);
    const Node *n = node_at(r->g, node);
    if (n->op != IR_INPUT && n->op != IR_PARAM)
        ice("ref_set: %%%d = %s is not an input or a parameter", node, op_info[n->op].spelling);
    r->fed[node] = true;
    return n;
}

void ref_set(RefExec *r, int node, const double *values)
{
    int64_t m = node_doubles(leaf_to_feed(r, node));
    if (r->f64) memcpy(r->data[node], values, (size_t)m * sizeof(double));
    else
        for (int64_t i = 0; i < m; i++) ((float *)r->data[node])[i] = (float)values[i];
}

void ref_set_f32(RefExec *r, int node, const float *values)
{
    int64_t m = node_doubles(leaf_to_feed(r, node));
    if (!r->f64) memcpy(r->data[node], values, (size_t)m * sizeof(float));
    else
        for (int64_t i = 0; i < m; i++) ((double *)r->data[node])[i] = values[i];
}

int64_t ref_get(RefExec *r, int node, double *out)
{
    if (node < 0 || node >= r->nodes) ice("ref_get: node %d out of range", node);
    const Node *n = node_at(r->g, node);
    int64_t m = node_doubles(n);
    if (r->f64) memcpy(out, r->data[node], (size_t)m * sizeof(double));
    else
        for (int64_t i = 0; i < m; i++) out[i] = ((const float *)r->data[node])[i];
    return shape_numel(&n->shape);
}

const void *ref_data(RefExec *r, int node)
{
    if (node < 0 || node >= r->nodes) ice("ref_data: node %d out of range", node);
    return r->data[node];
}

/* ---- leaves ---- */

static void store(RefExec *r, int node, int64_t i, double v)
{
    if (r->f64) ((double *)r->data[node])[i] = v;
    else ((float *)r->data[node])[i] = (float)v;
}

static void fill_leaf(RefExec *r, int id)
{
    const Node *n = node_at(r->g, id);
    int64_t numel = shape_numel(&n->shape);
    switch (n->op) {
    case IR_INPUT: case IR_PARAM:
        if (!r->fed[id]) ice("ref: %%%d = %s was not fed before ref_run", id, op_info[n->op].spelling);
        break;
    case IR_CONST:
        for (int64_t i = 0; i < numel; i++) {
            if (n->dtype == DT_C64) {
                store(r, id, 2 * i, n->attr.c[0]);
                store(r, id, 2 * i + 1, n->attr.c[1]);
            } else store(r, id, i, n->attr.c[0]);
        }
        break;
    case IR_IOTA:
        if (n->shape.rank != 1 || n->dtype != DT_F32) ice("ref: %%%d = iota must be 1-D f32", id);
        for (int64_t i = 0; i < numel; i++) store(r, id, i, (double)i);
        break;
    default: ice("ref: %%%d = %s is not a leaf", id, op_info[n->op].spelling);
    }
}

/* ---- dispatch ---- */

static void run_kernel(const RefCall *c)
{
    switch (op_info[c->n->op].cls) {
    case OC_EW: ref_elementwise(c); return;
    case OC_REDUCE: ref_reduce(c); return;
    case OC_MOVE: ref_movement(c); return;
    case OC_SCAN: (c->n->attr.assoc ? ref_scan_assoc : ref_scan)(c); return;
    case OC_LIB: break;
    case OC_LEAF: call_ice(c, "a leaf reached the kernel dispatch");
    }
    switch (c->n->op) {
    case IR_CONTRACT: ref_contract(c); return;
    case IR_RFFT2: case IR_IRFFT2: case IR_RFFT2_T: case IR_IRFFT2_T: ref_fft(c); return;
    case IR_CONV2D: case IR_CONV2D_DX: case IR_CONV2D_DK: ref_conv(c); return;
    case IR_MAXPOOL2: case IR_MAXPOOL2_DX: ref_pool(c); return;
    case IR_CIRC: ref_circ(c); return;
    case IR_SOLVE: ref_solve(c); return;
    default: call_ice(c, "no reference kernel");
    }
}

static double *widen(const float *src, int64_t m)
{
    double *d = xmalloc((size_t)m * sizeof(double));
    for (int64_t i = 0; i < m; i++) d[i] = src[i];
    return d;
}

static void run_node(RefExec *r, int id)
{
    const Node *n = node_at(r->g, id);
    int nin = n->nin;
    const Node **arg = xmalloc(sizeof *arg * (size_t)(nin ? nin : 1));
    const double **in = xmalloc(sizeof *in * (size_t)(nin ? nin : 1));
    for (int k = 0; k < nin; k++) {
        arg[k] = node_at(r->g, n->in[k]);
        in[k] = r->f64 ? r->data[n->in[k]] : widen(r->data[n->in[k]], node_doubles(arg[k]));
    }
    int64_t m = node_doubles(n);
    double *out = r->f64 ? r->data[id] : xmalloc((size_t)m * sizeof(double));
    memset(out, 0, (size_t)m * sizeof(double));
    RefCall c = {.id = id, .n = n, .arg = arg, .in = in, .out = out, .f64 = r->f64};
    run_kernel(&c);
    if (!r->f64) {
        for (int64_t i = 0; i < m; i++) ((float *)r->data[id])[i] = (float)out[i];
        free(out);
        for (int k = 0; k < nin; k++) free((void *)in[k]);
    }
    free(arg);
    free(in);
}

void ref_eval_node(Graph *g, int id, const float *const *in, float *out)
{
    const Node *n = node_at(g, id);
    if (op_info[n->op].cls == OC_LEAF) ice("ref_eval_node: %%%d = %s is a leaf", id, op_info[n->op].spelling);
    int nin = n->nin;
    const Node **arg = xmalloc(sizeof *arg * (size_t)(nin ? nin : 1));
    const double **wide = xmalloc(sizeof *wide * (size_t)(nin ? nin : 1));
    for (int k = 0; k < nin; k++) {
        arg[k] = node_at(g, n->in[k]);
        wide[k] = widen(in[k], node_doubles(arg[k]));
    }
    int64_t m = node_doubles(n);
    double *result = xcalloc((size_t)(m ? m : 1), sizeof(double));
    RefCall c = {.id = id, .n = n, .arg = arg, .in = wide, .out = result, .f64 = false};
    run_kernel(&c);
    for (int64_t i = 0; i < m; i++) out[i] = (float)result[i];
    for (int k = 0; k < nin; k++) free((void *)wide[k]);
    free(result);
    free(arg);
    free(wide);
}

void ref_run(RefExec *r)
{
    if (r->g->nodes.len != r->nodes)
        ice("ref_run: the graph grew from %d to %d nodes after ref_new", r->nodes, r->g->nodes.len);
    for (int id = 0; id < r->nodes; id++) {
        if (op_info[node_at(r->g, id)->op].cls == OC_LEAF) fill_leaf(r, id);
        else run_node(r, id);
    }
}

/* ---- index spaces and the strided iterator ---- */

void space_add(Space *sp, const char *label, int64_t size)
{
    if (sp->rank == SPACE_RANK) ice("ref: index space of more than %d axes", SPACE_RANK);
    sp->label[sp->rank] = label;
    sp->size[sp->rank++] = size;
}

Space space_without(const Shape *s, uint32_t mask)
{
    Space sp = {0};
    for (int i = 0; i < s->rank; i++)
        if (!(mask & (1u << i))) space_add(&sp, s->label[i], s->size[i]);
    return sp;
}

Space space_of(const Shape *s) { return space_without(s, 0); }

int64_t space_numel(const Space *sp)
{
    int64_t n = 1;
    for (int i = 0; i < sp->rank; i++) n *= sp->size[i];
    return n;
}

void row_strides(const Shape *s, int width, int64_t *stride)
{
    shape_strides(s, stride);
    for (int i = 0; i < s->rank; i++) stride[i] *= width;
}

void match_labels(const RefCall *c, const Space *sp, const Shape *t, int width, int64_t *stride,
                  int matched)
{
    int64_t own[MAX_RANK];
    int found = 0;
    row_strides(t, width, own);
    for (int k = 0; k < sp->rank; k++) {
        stride[k] = 0;
        int j = shape_find(t, sp->label[k]);
        if (j < 0) continue;
        if (t->size[j] != sp->size[k])
            call_ice(c, "axis %s has size %lld in an operand but %lld in the result", sp->label[k],
                     (long long)t->size[j], (long long)sp->size[k]);
        stride[k] = own[j];
        found++;
    }
    if (found != matched)
        call_ice(c, "an operand has %d axes matching the result's labels, expected %d", found, matched);
}

void walk_init(Walk *w, const Space *sp)
{
    memset(w, 0, sizeof *w);
    w->rank = sp->rank;
    for (int k = 0; k < sp->rank; k++) w->size[k] = sp->size[k];
}

void walk_view(Walk *w, int view, int64_t offset, const int64_t *stride)
{
    if (view >= WALK_VIEWS) ice("ref: walk view %d out of range", view);
    if (view >= w->nview) w->nview = view + 1;
    w->off[view] = offset;
    for (int k = 0; k < w->rank; k++) w->stride[view][k] = stride[k];
}
