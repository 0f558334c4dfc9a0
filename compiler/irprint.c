/* irprint.c: the one text format of the IR dumps (-dS, -dA, -dO, -dF).
 *
 *   %12 = mul %3, %11 : c64[B=2,T=8,C=32]                  # no_gate.cssm:10:9
 *   %13 = sum{H,W} %12 : f32[B=2,T=8,C=32]
 *
 * Op-specific attributes sit in braces after the op name. The format is
 * stable: golden tests compare it byte for byte. */
#include "ir.h"

#include <string.h>

static void print_axes_mask(FILE *out, const Shape *s, uint32_t mask)
{
    const char *sep = "";
    fputc('{', out);
    for (int i = 0; i < s->rank; i++)
        if (mask & (1u << i)) {
            fprintf(out, "%s%s", sep, s->label[i]);
            sep = ",";
        }
    fputc('}', out);
}

static const Shape *operand_shape(Graph *g, const Node *n, int k)
{
    return &node_at(g, n->in[k])->shape;
}

static void print_attr(FILE *out, Graph *g, const Node *n)
{
    const Attr *a = &n->attr;
    switch (n->op) {
    case IR_PARAM: fprintf(out, "{%s}", g->params.data[a->index].path); break;
    case IR_INPUT: fprintf(out, "{%s}", g->inputs.data[a->index].name); break;
    case IR_CONST:
        if (n->dtype == DT_C64) fprintf(out, "{%.9g%+.9gi}", a->c[0], a->c[1]);
        else fprintf(out, "{%.9g}", a->c[0]);
        break;
    case IR_SUM: case IR_MAX: print_axes_mask(out, operand_shape(g, n, 0), a->mask); break;
    case IR_SLICE:
        fprintf(out, "{%s:%lld:%lld%s}", operand_shape(g, n, 0)->label[a->axis], (long long)a->start,
                (long long)a->step, a->drop ? ",drop" : "");
        break;
    case IR_PAD: fprintf(out, "{%s:%lld}", operand_shape(g, n, 0)->label[a->axis], (long long)a->lo); break;
    case IR_FLIP: fprintf(out, "{%s}", operand_shape(g, n, 0)->label[a->axis]); break;
    case IR_CONCAT: case IR_STACK: fprintf(out, "{%s}", n->shape.label[a->axis]); break;
    case IR_RFFT2: case IR_IRFFT2: case IR_RFFT2_T: case IR_IRFFT2_T: case IR_MAXPOOL2:
        fprintf(out, "{%s,%s}", operand_shape(g, n, 0)->label[a->ax[0]], operand_shape(g, n, 0)->label[a->ax[1]]);
        break;
    case IR_MAXPOOL2_DX:
        fprintf(out, "{%s,%s}", operand_shape(g, n, 0)->label[a->ax[0]], operand_shape(g, n, 0)->label[a->ax[1]]);
        break;
    case IR_CONV2D: case IR_CONV2D_DX: case IR_CONV2D_DK: {
        const Shape *x = operand_shape(g, n, 0);
        fprintf(out, "{%s,%s,%s,groups=%d}", x->label[a->ax[0]], x->label[a->ax[1]], x->label[a->ax[2]],
                a->groups);
        break;
    }
    case IR_CIRC:
        fprintf(out, "{%s,%s%s}", n->shape.label[a->ax[0]], n->shape.label[a->ax[1]], a->reverse ? ",reverse" : "");
        break;
    case IR_SOLVE: fprintf(out, "{state=%s,col=%s}", a->state, a->col); break;
    case IR_SCAN:
        fprintf(out, "{%s%s%s%s%s}", operand_shape(g, n, 1)->label[a->axis], a->state ? ",state=" : "",
                a->state ? a->state : "", a->col ? ",col=" : "", a->col ? a->col : "");
        if (a->reverse) fputs("{reverse}", out);
        if (a->assoc) fputs("{assoc}", out);
        break;
    default: break;
    }
}

void print_node(FILE *out, Graph *g, int id)
{
    const Node *n = node_at(g, id);
    char buf[512];
    fprintf(out, "%%%d = %s", id, op_info[n->op].spelling);
    print_attr(out, g, n);
    for (int k = 0; k < n->nin; k++) fprintf(out, "%s%%%d", k ? ", " : " ", n->in[k]);
    fprintf(out, " : %s", shape_str(n->dtype, &n->shape, buf, sizeof buf));
    if (n->group >= 0) fprintf(out, "  [g%d]", n->group);
    if (n->loc.file) {
        const char *path = n->loc.file->path, *slash = strrchr(path, '/');
        fprintf(out, "   # %s:%d:%d", slash ? slash + 1 : path, n->loc.line, n->loc.col);
    }
    fputc('\n', out);
}

void print_graph(FILE *out, Graph *g)
{
    char buf[512];
    for (int i = 0; i < g->params.len; i++) {
        const Param *p = &g->params.data[i];
        fprintf(out, "%s %s : %s\n", p->state ? "state" : "param", p->path, shape_str(DT_F32, &p->shape, buf, sizeof buf));
    }
    for (int i = 0; i < g->nodes.len; i++) print_node(out, g, i);
    if (g->output >= 0) fprintf(out, "output %%%d\n", g->output);
    for (int i = 0; i < g->probes.len; i++)
        fprintf(out, "probe %s = %%%d\n", g->probes.data[i].name, g->probes.data[i].node);
    for (int i = 0; i < g->grads.len; i++)
        if (g->grads.data[i] >= 0) fprintf(out, "grad %s = %%%d\n", g->params.data[i].path, g->grads.data[i]);
}
