/* test_optimizer.c: the compiled AdamW update (compiler/optimizer.c).
 *
 *   - fusion: the whole update over every parameter is one map kernel that
 *     also stores the new moments (multi-output fusion), and its CUDA source
 *     has the same shape;
 *   - on every device this machine can run (ref and cpu here, cuda where a
 *     GPU is usable), a trainer's AdamW with the compiled update gives the
 *     host loop's parameters and moments bit for bit over a run that
 *     clips some steps and not others, decays some parameters and not
 *     others, and skips an injected NaN gradient. */
#include "exec.h"
#include "kernel.h"
#include "optimizer.h"
#include "rng.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NPARAMS = 3, STEPS = 8 };
static const int64_t sizes[NPARAMS] = {5, 1, 7};
static const char *const names[NPARAMS] = {"blk.kernel", "blk.norm.scale", "head.w"};

static void test_one_kernel(void)
{
    Graph *g = adamw_graph(1000);
    Lowered *p = lower(g, &(LowerOptions){.fuse = true});
    CHECK(p->kernels.len == 1 && p->steps.len == 1);
    CHECK(p->kernels.data[0].kind == KK_MAP && p->kernels.data[0].stores.len == 2);
    char *cu = render_cuda(p, NULL);
    CHECK(strstr(cu, "also stores") != NULL);
    free(cu);
    program_free(p);
    graph_free(g);
}

/* Parameters over one flat buffer, as TrainModel lays them out. */
typedef struct Flat {
    float p[13], g[13];
    TensorRef params[NPARAMS];
    const float *grads[NPARAMS];
} Flat;

static void flat_init(Flat *f)
{
    Rng r = rng_new(3);
    int64_t off = 0;
    for (int i = 0; i < NPARAMS; i++) {
        f->params[i] = (TensorRef){.name = names[i], .ndim = 1, .shape = {sizes[i]}, .data = f->p + off};
        f->grads[i] = f->g + off;
        off += sizes[i];
    }
    for (int j = 0; j < 13; j++) f->p[j] = (float)rng_normal(&r);
}

/* Step s's gradient: small (kept), large (clipped), or with a NaN (skipped). */
static void gradient(Flat *f, int s)
{
    Rng r = rng_new(100 + (uint64_t)s);
    double scale = s % 3 == 1 ? 10.0 : 0.05;
    for (int j = 0; j < 13; j++) f->g[j] = (float)(scale * rng_normal(&r));
    if (s == 5) f->g[6] = NAN;
}

static AdamW *optimizer(Flat *f)
{
    AdamWConfig cfg = adamw_defaults();
    cfg.weight_decay = 0.05;
    Schedule sched;
    char err[256];
    sched_init(&sched, 0.01, STEPS, err, sizeof err);
    sched.warmup = 2;
    AdamW *opt = adamw_new(f->params, NPARAMS, &cfg, &sched);
    const char *no_decay[] = {"norm"};
    adamw_exclude_from_decay(opt, f->params, no_decay, 1);
    return opt;
}

static bool same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

static void test_matches_host(Device d)
{
    char err[512];
    CompiledAdamW *c = compiled_adamw_new(13, d, err, sizeof err);
    if (!c) {
        printf("test_optimizer: %s device not run here: %s\n", device_name(d), err);
        return;
    }
    Flat host, dev;
    flat_init(&host), flat_init(&dev);
    AdamW *a = optimizer(&host), *b = optimizer(&dev);
    b->kernel = (AdamWKernel){.apply = compiled_adamw_apply, .ctx = c};
    int clipped = 0, skipped = 0;
    for (int s = 0; s < STEPS; s++) {
        gradient(&host, s), gradient(&dev, s);
        StepInfo x = adamw_step(a, host.params, host.grads), y = adamw_step(b, dev.params, dev.grads);
        CHECK(x.applied == y.applied);
        CHECK(x.grad_norm == y.grad_norm || (isnan(x.grad_norm) && isnan(y.grad_norm)));
        clipped += x.applied && x.grad_norm > 1, skipped += !x.applied;
        CHECK(same_bits(host.p, dev.p, 13));
        CHECK(same_bits(a->m, b->m, 13) && same_bits(a->v, b->v, 13));
    }
    CHECK(clipped >= 2 && skipped == 1 && a->count == STEPS - 1);
    printf("test_optimizer: %s device: %d steps (%d clipped, %d skipped), parameters and moments bit-identical "
           "to the host loop\n", device_name(d), STEPS, clipped, skipped);
    adamw_free(a), adamw_free(b);
    compiled_adamw_free(c);
}

int main(void)
{
    test_one_kernel();
    test_matches_host(DEV_REF);
    test_matches_host(DEV_CPU);
    if (device_default() == DEV_CUDA) test_matches_host(DEV_CUDA);
    else printf("test_optimizer: no usable GPU here: the cuda device not compared\n");
    return failures ? 1 : 0;
}
