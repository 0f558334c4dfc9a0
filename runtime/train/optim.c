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
                excluded++;
            }
        }
    }
    return excluded;
}

/* The f32 constants of one applied update. */
typedef struct UpdateConsts {
    bool clip;
    float gnorm, max_norm;
    float b1, one_minus_b1, b2, one_minus_b2;
    float bias1, bias2, eps, wd, neg_lr;
} UpdateConsts;

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

static UpdateConsts update_consts(const AdamW *opt, double gnorm, double lr)
{
    const AdamWConfig *c = &opt->cfg;
    double t = (double)(opt->count + 1);
    UpdateConsts k = {
        .gnorm = (float)gnorm, .max_norm = (float)c->grad_clip,
        .b1 = (float)c->b1, .one_minus_b1 = (float)(1 - c->b1),
        .b2 = (float)c->b2, .one_minus_b2 = (float)(1 - c->b2),
        .bias1 = (float)(1 - pow(c->b1, t)), .bias2 = (float)(1 - pow(c->b2, t)),
        .eps = (float)c->eps, .wd = (float)c->weight_decay, .neg_lr = (float)-lr,
    };
    /* optax keeps g only when n < c; a NaN norm (forced update) clips to NaN. */
    k.clip = c->grad_clip > 0 && !(k.gnorm < k.max_norm);
    return k;
}

static void update_param(AdamW *opt, int i, float *p, const float *g, const UpdateConsts *k)
{
    int64_t base = opt->offset[i], n = opt->offset[i + 1] - base;
    float *m = opt->m + base, *v = opt->v + base;
    bool decay = opt->decay[i];
    for (int64_t j = 0; j < n; j++) {
        float gj = k->clip ? (g[j] / k->gnorm) * k->max_norm : g[j];
        m[j] = k->one_minus_b1 * gj + k->b1 * m[j];
        v[j] = k->one_minus_b2 * (gj * gj) + k->b2 * v[j];
        float u = (m[j] / k->bias1) / (sqrtf(v[j] / k->bias2) + k->eps);
        if (decay) u = u + k->wd * p[j];
        p[j] = p[j] + k->neg_lr * u;
    }
}

static void check_shapes(const AdamW *opt, const TensorRef *params)
{
    for (int i = 0; i < opt->nparams; i++)
        if (tensor_numel(&params[i]) != opt->offset[i + 1] - opt->offset[i])
            ice("adamw_step: parameter %d (%s) changed size since adamw_new", i, params[i].name);
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
    UpdateConsts k = update_consts(opt, info.grad_norm, info.lr);
    for (int i = 0; i < opt->nparams; i++) update_param(opt, i, params[i].data, grads[i], &k);
    opt->count++;
    return info;
}
