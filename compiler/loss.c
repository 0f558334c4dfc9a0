/* loss.c: the training objective, appended to a model's graph as IR.
 *
 * Softmax cross-entropy against given target distributions (one-hot, or
 * smoothed by the trainer as optax does), averaged over the batch:
 *   L = mean_b( -sum_k t[b,k] * (x[b,k] - m[b] - log sum_j exp(x[b,j] - m[b])) )
 * with m the row maximum for stability. Keeping the loss in the graph makes
 * forward, loss and backward one graph, so every device runs a training step
 * as one unit and fusion sees the whole step. */
#include "driver.h"

int append_xent_loss(Graph *g)
{
    int logits = g->output;
    Node *n = node_at(g, logits);
    if (n->shape.rank != 2 || n->dtype != DT_F32) ice("the training loss needs f32[B, classes] logits");
    Shape ls = n->shape;
    Loc l = n->loc;
    Attr a = {.index = g->inputs.len};
    int targets = ir_add(g, IR_INPUT, DT_F32, &ls, NULL, 0, &a, l);
    Input in = {"targets", targets};
    vec_push(&g->inputs, in);
    uint32_t classes = 1u << 1;
    int m = ir_broadcast(g, ir_reduce(g, IR_MAX, logits, classes, l), &ls, l);
    int shifted = ir_binary(g, IR_SUB, logits, m, l);
    int lse = ir_unary(g, IR_LOG, ir_reduce(g, IR_SUM, ir_unary(g, IR_EXP, shifted, l), classes, l), l);
    int logp = ir_binary(g, IR_SUB, shifted, lse, l);
    int per_sample = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, targets, logp, l), classes, l);
    int loss = ir_binary(g, IR_MUL, ir_reduce(g, IR_SUM, per_sample, 1u, l), ir_scalar(g, -1.0 / (double)ls.size[0], l), l);
    Probe p = {"logits", logits, l};
    vec_push(&g->probes, p);
    g->output = loss;
    return targets;
}
