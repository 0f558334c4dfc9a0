/* optim.c: AdamW with global-norm clipping, skipping non-finite updates.
 *
 * This is the host reference of the reference recipe's optimizer
 * (spec/training.md §1.4), in optax's semantics and update order:
 *
 *   apply_if_finite: if any raw gradient element is NaN/Inf, notfinite_count
 *     += 1 and total_notfinite += 1; the update is skipped (params, moments
 *     and count untouched) unless notfinite_count > max_consecutive_skips,
 *     in which case it is applied as is: the 6th non-finite step in a row
 *     (and every one after it) goes through, poisoning the parameters, just
 *     as optax gives up and accepts. A finite step resets notfinite_count.
 *   clip_by_global_norm(c): n = sqrt(sum g^2) over all parameters; if
 *     n < c, g is kept, else g <- (g / n) * c.
 *   scale_by_adam: m <- (1-b1) g + b1 m;  v <- (1-b2) g^2 + b2 v;
 *     t = count + 1;  u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
 *   add_decayed_weights (masked): u <- u + wd * p where decay is on.
 *   scale_by_learning_rate: u <- -lr(count) * u;  p <- p + u;  count += 1.
 *
 * The elementwise part runs on opt->kernel when one is set (the compiled
 * update of compiler/optimizer.c, on the training device), else on the host
 * loop here, which is the oracle the compiled one is tested against.
 * Elementwise arithmetic is f32 in exactly that order, with the constants
 * rounded to f32 as JAX rounds weakly typed Python floats, so a compiled
 * kernel can be checked against this bit for bit. The global norm is summed
 * in double (XLA's f32 reduction order is unspecified anyway), and the bias
 * corrections 1 - b^t are computed in double and rounded once. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

int64_t tensor_numel(const TensorRef *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

AdamWConfig adamw_defaults(void)
{
    return (AdamWConfig){.b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .weight_decay = 1e-4,
                         .grad_clip = 1.0, .max_consecutive_skips = 5};
}

/* Parameter i's elements of the per-element weight decay. */
static void fill_decay(AdamW *opt, int i)
{
    float wd = opt->decay[i] ? (float)opt->cfg.weight_decay : 0.0f;
    for (int64_t j = opt->offset[i]; j < opt->offset[i + 1]; j++) opt->wd[j] = wd;
}

AdamW *adamw_new(const TensorRef *params, int nparams, const AdamWConfig *cfg,
                 const Schedule *sched)
{
    AdamW *opt = xcalloc(1, sizeof *opt);
    opt->cfg = *cfg;
    opt->sched = *sched;
    opt->nparams = nparams;
    opt->offset = xmalloc(sizeof(int64_t) * (size_t)(nparams + 1));
    opt->decay = xmalloc(sizeof(bool) * (size_t)(nparams ? nparams : 1));
    opt->offset[0] = 0;
    for (int i = 0; i < nparams; i++) {
        opt->offset[i + 1] = opt->offset[i] + tensor_numel(&params[i]);
        opt->decay[i] = true;
    }
    size_t total = (size_t)opt->offset[nparams];
    opt->wd = xmalloc(sizeof(float) * (total ? total : 1));
    for (int i = 0; i < nparams; i++) fill_decay(opt, i);
    opt->m = xcalloc(total, sizeof(float));
    opt->v = xcalloc(total, sizeof(float));
    opt->last_finite = true;
    return opt;
}

void adamw_free(AdamW *opt)
{
    if (!opt) return;
    free(opt->offset);
    free(opt->decay);
    free(opt->wd);
    free(opt->m);
    free(opt->v);
    free(opt);
}

/* Whether a '.'- or '/'-separated component of `path` equals `word`. */
static bool has_component(const char *path, const char *word)
{
    size_t n = strlen(word);
    for (const char *s = path; *s;) {
        size_t len = strcspn(s, "./");
        if (len == n && memcmp(s, word, n) == 0) return true;
        s += len;
        if (*s) s++;
    }
    return false;
}

int adamw_exclude_from_decay(AdamW *opt, const TensorRef *params,
                             const char *const *names, int nnames)
{
    int excluded = 0;
    for (int i = 0; i < opt->nparams; i++) {
        for (int k = 0; k < nnames && opt->decay[i]; k++) {
            if (has_component(params[i].name, names[k])) {
                opt->decay[i] = false;
                fill_decay(opt, i);
                excluded++;
            }
        }
    }
    return excluded;
}

static bool all_finite(const AdamW *opt, const float *const *grads)
{
    for (int i = 0; i < opt->nparams; i++) {
        int64_t n = opt->offset[i + 1] - opt->offset[i];
        for (int64_t j = 0; j < n; j++)
            if (!isfinite(grads[i][j])) return false;
    }
    return true;
}

static double global_norm(const AdamW *opt, const float *const *grads)
{
    double sum = 0;
    for (int i = 0; i < opt->nparams; i++) {
        int64_t n = opt->offset[i + 1] - opt->offset[i];
        for (int64_t j = 0; j < n; j++) sum += (double)grads[i][j] * grads[i][j];
    }
    return sqrt(sum);
}

static AdamWUpdate update_consts(const AdamW *opt, double gnorm, double lr)
{
    const AdamWConfig *c = &opt->cfg;
    double t = (double)(opt->count + 1);
    AdamWUpdate k = {
        .gnorm = (float)gnorm, .max_norm = (float)c->grad_clip,
        .b1 = (float)c->b1, .one_minus_b1 = (float)(1 - c->b1),
        .b2 = (float)c->b2, .one_minus_b2 = (float)(1 - c->b2),
        .bias1 = (float)(1 - pow(c->b1, t)), .bias2 = (float)(1 - pow(c->b2, t)),
        .eps = (float)c->eps, .neg_lr = (float)-lr,
    };
    /* optax keeps g only when n < c, and (g / 1) * 1 is g exactly; a NaN
     * norm (a forced update) clips to NaN. */
    bool clip = c->grad_clip > 0 && !(k.gnorm < k.max_norm);
    if (!clip) k.gnorm = k.max_norm = 1;
    return k;
}

/* The host loop: the update of n elements. */
static void apply_host(const AdamWUpdate *k, float *p, const float *g, float *m, float *v, const float *wd,
                       int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        float gj = (g[j] / k->gnorm) * k->max_norm;
        m[j] = k->one_minus_b1 * gj + k->b1 * m[j];
        v[j] = k->one_minus_b2 * (gj * gj) + k->b2 * v[j];
        float u = (m[j] / k->bias1) / (sqrtf(v[j] / k->bias2) + k->eps) + wd[j] * p[j];
        p[j] = p[j] + k->neg_lr * u;
    }
}

static void check_shapes(const AdamW *opt, const TensorRef *params)
{
    for (int i = 0; i < opt->nparams; i++)
        if (tensor_numel(&params[i]) != opt->offset[i + 1] - opt->offset[i])
            ice("adamw_step: parameter %d (%s) changed size since adamw_new", i, params[i].name);
}

/* A compiled kernel sees one flat buffer each of parameters and gradients. */
static void check_flat(const AdamW *opt, const TensorRef *params, const float *const *grads)
{
    for (int i = 0; i < opt->nparams; i++)
        if (params[i].data != params[0].data + opt->offset[i] || grads[i] != grads[0] + opt->offset[i])
            ice("adamw_step: parameter %d (%s) is not laid out flat, as the compiled update needs", i,
                params[i].name);
}

static void apply_update(AdamW *opt, const TensorRef *params, const float *const *grads, const AdamWUpdate *k)
{
    if (opt->nparams == 0) return;
    if (opt->kernel.apply) {
        check_flat(opt, params, grads);
        opt->kernel.apply(opt->kernel.ctx, k, params[0].data, grads[0], opt->m, opt->v, opt->wd);
        return;
    }
    for (int i = 0; i < opt->nparams; i++) {
        int64_t base = opt->offset[i];
        apply_host(k, params[i].data, grads[i], opt->m + base, opt->v + base, opt->wd + base,
                   opt->offset[i + 1] - base);
    }
}

StepInfo adamw_step(AdamW *opt, const TensorRef *params, const float *const *grads)
{
    check_shapes(opt, params);
    StepInfo info = {.finite = all_finite(opt, grads), .grad_norm = global_norm(opt, grads)};
    opt->last_finite = info.finite;
    if (info.finite) {
        opt->notfinite_count = 0;
    } else {
        opt->notfinite_count++;
        opt->total_notfinite++;
    }
    info.applied = info.finite || opt->notfinite_count > opt->cfg.max_consecutive_skips;
    if (!info.applied) return info;
    info.lr = lr_at(&opt->sched, opt->count);
    AdamWUpdate k = update_consts(opt, info.grad_norm, info.lr);
    apply_update(opt, params, grads, &k);
    opt->count++;
    return info;
}
