/* sched.c: the learning-rate schedule of the reference recipe.
 *
 * optax.warmup_cosine_decay_schedule(init 0, peak, W, D = total, end =
 * 0.01 peak) with W = min(500, total - 1) (spec/training.md §1.5):
 *   s <  W: peak * s / W
 *   s >= W: end + (peak - end) * (1 + cos(pi * min(s - W, D - W) / (D - W))) / 2
 * The step is the optimizer's count of applied updates, so the first update
 * runs at LR 0 whenever there is a warmup. Evaluated in double; the
 * reference evaluates the same expression in f32, so values agree to f32
 * rounding. total = 1 has no warmup and runs its single step at the peak;
 * total = 0 is refused, as optax refuses a cosine decay of zero steps. */
#include "train.h"

#include <math.h>

#include "base.h"

int sched_init(Schedule *s, double peak_lr, int64_t total_steps, char *err, size_t errlen)
{
    if (total_steps < 1) {
        snprintf(err, errlen, "training has no steps (total steps = %lld): the training set is "
                 "smaller than one batch, or epochs is 0", (long long)total_steps);
        return -1;
    }
    s->peak = peak_lr;
    s->end = 0.01 * peak_lr;
    s->total = total_steps;
    s->warmup = MIN((int64_t)SCHED_WARMUP_CAP, total_steps - 1);
    return 0;
}

double lr_at(const Schedule *s, int64_t step)
{
    if (step < 0) step = 0;
    if (step < s->warmup) return s->peak * (double)step / (double)s->warmup;
    int64_t decay_steps = s->total - s->warmup;
    double t = (double)MIN(step - s->warmup, decay_steps) / (double)decay_steps;
    return s->end + (s->peak - s->end) * 0.5 * (1.0 + cos(M_PI * t));
}
