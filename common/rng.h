/* rng.h: the one random number generator of cssmc.
 *
 * Counter-based (SplitMix64 over key + counter), so a stream is fully
 * described by two integers: checkpoints store them and a resumed run draws
 * the same numbers. rng_fold derives an independent stream from a parent and
 * a label (a parameter index, an epoch), so adding a consumer never shifts
 * another consumer's numbers. */
#ifndef CSSM_RNG_H
#define CSSM_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t key;
    uint64_t counter;
} Rng;

Rng rng_new(uint64_t seed);
Rng rng_fold(Rng parent, uint64_t label);
uint64_t rng_u64(Rng *r);
double rng_uniform(Rng *r);                /* [0, 1) with 53 random bits */
double rng_normal(Rng *r);                 /* standard normal (Box-Muller) */
/* Standard normal conditioned on [lo, hi] (inverse-CDF, exact). */
double rng_trunc_normal(Rng *r, double lo, double hi);
uint64_t rng_below(Rng *r, uint64_t n);   /* uniform in [0, n), unbiased */

#endif
