/* counters.c: the runtime's global work counters, printed by --stats.
 *
 * Each counter is one atomic integer, so kernels launched from several
 * threads (or compiles running in parallel) are counted exactly without a
 * lock. The list of counters and their labels is CSSM_COUNTERS in jit.h;
 * printing walks it, so a new counter needs no change here. */
#include "jit.h"
#include "base.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

static _Atomic uint64_t counters[CSSM_CTR_COUNT];

static const char *const counter_labels[CSSM_CTR_COUNT] = {
#define CSSM_COUNTER_LABEL(id, label) [id] = label,
    CSSM_COUNTERS(CSSM_COUNTER_LABEL)
#undef CSSM_COUNTER_LABEL
};

void cssm_counter_add(CssmCounter c, uint64_t n)
{
    atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

uint64_t cssm_counter_get(CssmCounter c)
{
    return atomic_load_explicit(&counters[c], memory_order_relaxed);
}

void cssm_counters_reset(void)
{
    for (int c = 0; c < CSSM_CTR_COUNT; c++)
        atomic_store_explicit(&counters[c], 0, memory_order_relaxed);
}

void cssm_counters_print(FILE *f)
{
    int width = 0;
    for (int c = 0; c < CSSM_CTR_COUNT; c++)
        width = MAX(width, (int)strlen(counter_labels[c]));
    for (int c = 0; c < CSSM_CTR_COUNT; c++)
        fprintf(f, "%-*s %12" PRIu64 "\n", width, counter_labels[c], cssm_counter_get(c));
}
