/* init.c: parameter initialisation with Flax's initializers.
 *
 *   zeros, ones, constant(c)
 *   normal(s)          s * N(0, 1), untruncated
 *   trunc_normal(s)    s * N(0, 1) truncated to [-2, 2] (Flax truncated_normal)
 *   uniform(a, b)      U[a, b)
 *   lecun_normal       N(0, 1) truncated to [-2, 2], times sqrt(1/fan_in)/0.8796...
 *   xavier_normal      the same with fan_avg = (fan_in + fan_out)/2
 *   xavier_uniform     U(-l, l), l = sqrt(6/(fan_in + fan_out))
 *   ramp(a, b)         a + b i for row-major element i (fixed, e.g. S4's pi n)
 *   sqrt_ramp(a, b)    sqrt(a + b i) (S4-LegS's sqrt(n + 1/2), sqrt(2n + 1))
 * 0.87962566103423978 is the standard deviation of a standard normal truncated
 * to [-2, 2]; dividing by it makes the variance exactly 1/fan (Flax's
 * variance_scaling). Values are drawn in row-major order of the shape. */
#include "init.h"

#include "rng.h"

#include <math.h>

/* Standard deviation of N(0, 1) truncated to [-2, 2]. */
static const double TRUNC2_STD = 0.87962566103423978;

void param_fans(const Shape *s, double *fan_in, double *fan_out)
{
    if (s->rank == 0) {
        *fan_in = *fan_out = 1;
        return;
    }
    if (s->rank == 1) {
        *fan_in = *fan_out = (double)s->size[0];
        return;
    }
    double receptive = 1;
    for (int i = 0; i < s->rank - 2; i++) receptive *= (double)s->size[i];
    *fan_in = (double)s->size[s->rank - 2] * receptive;
    *fan_out = (double)s->size[s->rank - 1] * receptive;
}

static double draw(const Init *init, int64_t i, double fan_in, double fan_out, Rng *r)
{
    switch (init->kind) {
    case INIT_RAMP: return init->a + init->b * (double)i;
    case INIT_SQRT_RAMP: return sqrt(init->a + init->b * (double)i);
    case INIT_ZEROS: return 0;
    case INIT_ONES: return 1;
    case INIT_CONSTANT: return init->a;
    case INIT_NORMAL: return init->a * rng_normal(r);
    case INIT_TRUNC_NORMAL: return init->a * rng_trunc_normal(r, -2, 2);
    case INIT_UNIFORM: return init->a + (init->b - init->a) * rng_uniform(r);
    case INIT_LECUN_NORMAL: return rng_trunc_normal(r, -2, 2) * sqrt(1 / fan_in) / TRUNC2_STD;
    case INIT_XAVIER_NORMAL:
        return rng_trunc_normal(r, -2, 2) * sqrt(2 / (fan_in + fan_out)) / TRUNC2_STD;
    case INIT_XAVIER_UNIFORM: {
        double limit = sqrt(6 / (fan_in + fan_out));
        return -limit + 2 * limit * rng_uniform(r);
    }
    }
    ice("init: unknown initializer kind %d", (int)init->kind);
}

void init_params(Graph *g, uint64_t seed, double **values)
{
    Rng root = rng_new(seed);
    for (int p = 0; p < g->params.len; p++) {
        const Param *param = &g->params.data[p];
        int64_t n = shape_numel(&param->shape);
        double fan_in, fan_out;
        Rng r = rng_fold(root, (uint64_t)p);
        param_fans(&param->shape, &fan_in, &fan_out);
        values[p] = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int64_t i = 0; i < n; i++) values[p][i] = draw(&param->init, i, fan_in, fan_out, &r);
    }
}
