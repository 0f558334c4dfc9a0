/* loss.c: softmax cross-entropy with label smoothing, its gradient, accuracy.
 *
 * optax.softmax_cross_entropy against targets t = (1-a) onehot(y) + a/K,
 * averaged over the batch (spec/training.md §1.6):
 *   loss_b = sum_k t_k ((m - z_bk) + log sum_j exp(z_bj - m)),  m = max_j z_bj
 *   d(mean loss)/d z_bk = (softmax(z_b)_k - t_k) / B     (since sum_k t_k = 1)
 * Work is in double from f32 logits, with the max subtracted before exp, so
 * large logits neither overflow nor lose the small probabilities. A term
 * whose target weight is exactly 0 contributes nothing, so a -inf logit on a
 * wrong class costs 0 rather than 0 * inf = NaN. NaN logits give a NaN loss,
 * which the optimizer's non-finite check then catches. */
#include "train.h"

#include <math.h>

#include "base.h"

static double max_logit(const float *z, int k)
{
    double mx = z[0];
    for (int i = 1; i < k; i++)
        if (z[i] > mx || isnan(z[i])) mx = z[i];
    return mx;
}

/* log sum exp(z - mx), kept apart from mx: adding it back to a huge mx
 * would round the small term away. */
static double log_sum_exp_shifted(const float *z, int k, double mx)
{
    double sum = 0;
    for (int i = 0; i < k; i++) sum += exp(z[i] - mx);
    return log(sum);
}

/* jnp.argmax: the first maximum, and a NaN counts as the maximum. */
static int argmax(const float *z, int k)
{
    int best = 0;
    for (int i = 1; i < k && !isnan(z[best]); i++)
        if (z[i] > z[best] || isnan(z[i])) best = i;
    return best;
}

/* One example: adds d(mean loss)/dz to dz when it is not NULL. */
static double row_loss(const float *z, int k, int label, double smoothing, double inv_batch, float *dz)
{
    double mx = max_logit(z, k), lse = log_sum_exp_shifted(z, k, mx);
    double off = smoothing / k, on = 1 - smoothing + off, loss = 0;
    for (int i = 0; i < k; i++) {
        double t = i == label ? on : off, neg_log_p = (mx - z[i]) + lse;
        if (t != 0) loss += t * neg_log_p;
        if (dz) dz[i] = (float)((exp(-neg_log_p) - t) * inv_batch);
    }
    return loss;
}

double xent_loss(const float *logits, const int32_t *labels, int64_t batch, int classes,
                 double smoothing, float *dlogits, int64_t *correct)
{
    if (batch < 1 || classes < 1) ice("xent_loss: batch %lld, classes %d", (long long)batch, classes);
    double total = 0, inv_batch = 1.0 / (double)batch;
    int64_t hits = 0;
    for (int64_t b = 0; b < batch; b++) {
        const float *z = logits + b * classes;
        int y = labels[b];
        if (y < 0 || y >= classes)
            ice("xent_loss: label %d of example %lld outside [0, %d)", y, (long long)b, classes);
        total += row_loss(z, classes, y, smoothing, inv_batch, dlogits ? dlogits + b * classes : NULL);
        hits += argmax(z, classes) == y;
    }
    if (correct) *correct = hits;
    return total * inv_batch;
}
