/* rng.c: SplitMix64-based counter RNG and the distributions built on it.
 *
 * The truncated normal uses the inverse CDF between Phi(lo) and Phi(hi), as
 * JAX's truncated_normal does, so there is no rejection loop and each sample
 * costs exactly one uniform. */
#include "rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

Rng rng_new(uint64_t seed) { return (Rng){mix64(seed + 0x9e3779b97f4a7c15ull), 0}; }

Rng rng_fold(Rng parent, uint64_t label)
{
    return (Rng){mix64(parent.key ^ mix64(label + 0x632be59bd9b4e019ull)), 0};
}

uint64_t rng_u64(Rng *r)
{
    r->counter++;
    return mix64(r->key + r->counter * 0x9e3779b97f4a7c15ull);
}

double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

double rng_normal(Rng *r)
{
    double u1 = 1.0 - rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double std_cdf(double x) { return 0.5 * erfc(-x / M_SQRT2); }

/* Inverse of the standard normal CDF: Acklam's rational approximation
 * refined by one Halley step, accurate to double precision. */
static double std_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double q, x;
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        q = p - 0.5;
        double r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    double e = std_cdf(x) - p, u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

double rng_trunc_normal(Rng *r, double lo, double hi)
{
    double plo = std_cdf(lo), phi = std_cdf(hi);
    double x = std_quantile(plo + (phi - plo) * rng_uniform(r));
    return x < lo ? lo : x > hi ? hi : x;
}

uint64_t rng_below(Rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = rng_u64(r);
    while (x >= limit);
    return x % n;
}
