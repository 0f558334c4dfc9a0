/* cufft.c: batched 1-D and 2-D FFTs on the device with cuFFT, loaded with
 * dlopen, and the cache of their plans.
 *
 * The compiler describes an FFT by the tensor it runs over, viewed as
 * [outer][n...][inner] (see CssmFftLayout in jit.h). cuFFT's advanced layout
 * has a single batch dimension, so when both outer and inner exceed 1 one
 * plan batches the larger of the two (strided when it is inner) and exec
 * issues it once per index of the smaller, at a fixed pointer step. That
 * mapping, cssm_cufft_geometry, needs no GPU (its test runs it with FFTW's
 * plan_many, which reads the same parameters). The plan is keyed by
 * everything that goes into it and into that loop: the cuFFT type and
 * direction, the sizes, embeddings, strides, distances and batch, the loop
 * count and step. Plans are created once per key and live until
 * cssm_cufft_release_all, because creating one costs far more than running
 * it. Assumes cssm_cuda_init has made the primary context current: cuFFT's
 * runtime then works in it, on the same default stream as our kernels. */
#include "jit.h"
#include "base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef int cufftHandle;
typedef int cufftResult;
enum { CUFFT_R2C = 0x2a, CUFFT_C2R = 0x2c, CUFFT_C2C = 0x29 };
enum { CUFFT_FORWARD = -1, CUFFT_INVERSE = 1 };

static struct {
    cufftResult (*Create)(cufftHandle *plan);
    cufftResult (*MakePlanMany64)(cufftHandle plan, int rank, long long *n, long long *inembed,
                                  long long istride, long long idist, long long *onembed,
                                  long long ostride, long long odist, int type, long long batch,
                                  size_t *work_bytes);
    cufftResult (*ExecR2C)(cufftHandle plan, void *in, void *out);
    cufftResult (*ExecC2R)(cufftHandle plan, void *in, void *out);
    cufftResult (*ExecC2C)(cufftHandle plan, void *in, void *out, int direction);
    cufftResult (*Destroy)(cufftHandle plan);
} fft;

static const CssmDlSym cufft_syms[] = {
    {"cufftCreate", (void **)&fft.Create},
    {"cufftMakePlanMany64", (void **)&fft.MakePlanMany64},
    {"cufftExecR2C", (void **)&fft.ExecR2C},
    {"cufftExecC2R", (void **)&fft.ExecC2R},
    {"cufftExecC2C", (void **)&fft.ExecC2C},
    {"cufftDestroy", (void **)&fft.Destroy},
};

static pthread_once_t cufft_once = PTHREAD_ONCE_INIT;
static bool cufft_loaded;
static char cufft_error[1024];

static void load_cufft_once(void)
{
    /* CUDA 13 ships libcufft.so.12, CUDA 12 libcufft.so.11. */
    static const char *const names[] = {"libcufft.so.12", "libcufft.so.11", "libcufft.so.13",
                                        "libcufft.so", NULL};
    char why[900];
    void *lib = cssm_dl_open_first(names, "install the CUDA toolkit or set CUDA_HOME", why,
                                   sizeof why);
    if (!lib || cssm_dl_bind(lib, "libcufft", cufft_syms, (int)COUNT_OF(cufft_syms), why,
                             sizeof why) < 0) {
        snprintf(cufft_error, sizeof cufft_error, "cufft: %s", why);
        return;
    }
    cufft_loaded = true;
}

static const char *cufft_result_name(cufftResult r)
{
    static const char *const names[] = {
        [0x0] = "CUFFT_SUCCESS", [0x1] = "CUFFT_INVALID_PLAN", [0x2] = "CUFFT_ALLOC_FAILED",
        [0x3] = "CUFFT_INVALID_TYPE", [0x4] = "CUFFT_INVALID_VALUE",
        [0x5] = "CUFFT_INTERNAL_ERROR", [0x6] = "CUFFT_EXEC_FAILED",
        [0x7] = "CUFFT_SETUP_FAILED", [0x8] = "CUFFT_INVALID_SIZE",
        [0x9] = "CUFFT_UNALIGNED_DATA", [0xB] = "CUFFT_INVALID_DEVICE",
        [0xD] = "CUFFT_NO_WORKSPACE", [0xE] = "CUFFT_NOT_IMPLEMENTED",
        [0x10] = "CUFFT_NOT_SUPPORTED", [0x11] = "CUFFT_MISSING_DEPENDENCY",
        [0x12] = "CUFFT_NVRTC_FAILURE", [0x13] = "CUFFT_NVJITLINK_FAILURE",
        [0x14] = "CUFFT_NVSHMEM_FAILURE",
    };
    if (r >= 0 && r < (int)COUNT_OF(names) && names[r]) return names[r];
    return "unknown cuFFT error";
}

/* ---- plans ------------------------------------------------------------- */

/* Everything a plan is made of and run with; compared bytewise. */
typedef struct PlanKey {
    int type, direction;
    CssmFftGeometry g;
} PlanKey;

struct CssmFftPlan {
    PlanKey key;
    cufftHandle handle;
    size_t work_bytes;
    size_t in_elem, out_elem;             /* bytes per element on each side */
};

static struct {
    pthread_mutex_t lock;
    Vec(CssmFftPlan *) plans;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int check_layout(const CssmFftLayout *l)
{
    bool ok = (l->rank == 1 || l->rank == 2) && l->outer >= 1 && l->inner >= 1 &&
              (unsigned)l->kind <= CSSM_FFT_C2C_INVERSE;
    for (int i = 0; ok && i < l->rank; i++) ok = l->n[i] >= 1;
    if (ok) return 0;
    return cssm_cuda_fail("cufft: invalid layout (kind %d, rank %d, n %lld x %lld, outer %lld, "
                          "inner %lld)", (int)l->kind, l->rank, l->n[0],
                          l->rank > 1 ? l->n[1] : 1, l->outer, l->inner);
}

/* Strides and the batch loop for [outer][n...][inner]; see the file comment. */
static void batch_geometry(const CssmFftLayout *l, CssmFftGeometry *g)
{
    long long in_elems = 1, out_elems = 1;   /* per transform, per side */
    for (int i = 0; i < l->rank; i++) in_elems *= g->inembed[i], out_elems *= g->onembed[i];
    g->loops = 1;
    if (l->inner == 1) {
        g->batch = l->outer;
        g->istride = g->ostride = 1;
        g->idist = in_elems, g->odist = out_elems;
    } else if (l->inner >= l->outer) {
        g->batch = l->inner, g->loops = l->outer;
        g->istride = g->ostride = l->inner;
        g->idist = g->odist = 1;
        g->in_step = in_elems * l->inner, g->out_step = out_elems * l->inner;
    } else {
        g->batch = l->outer, g->loops = l->inner;
        g->istride = g->ostride = l->inner;
        g->idist = in_elems * l->inner, g->odist = out_elems * l->inner;
        g->in_step = g->out_step = 1;
    }
}

int cssm_cufft_geometry(const CssmFftLayout *l, CssmFftGeometry *g)
{
    memset(g, 0, sizeof *g);   /* padding too: plan keys are compared with memcmp */
    if (check_layout(l) < 0) return -1;
    g->rank = l->rank;
    for (int i = 0; i < l->rank; i++) g->n[i] = g->inembed[i] = g->onembed[i] = l->n[i];
    long long half = l->n[l->rank - 1] / 2 + 1;
    if (l->kind == CSSM_FFT_R2C) g->onembed[l->rank - 1] = half;
    if (l->kind == CSSM_FFT_C2R) g->inembed[l->rank - 1] = half;
    batch_geometry(l, g);
    return 0;
}

static int plan_key(const CssmFftLayout *l, PlanKey *k)
{
    static const int types[] = {CUFFT_R2C, CUFFT_C2R, CUFFT_C2C, CUFFT_C2C};
    memset(k, 0, sizeof *k);
    if (cssm_cufft_geometry(l, &k->g) < 0) return -1;
    k->type = types[l->kind];
    k->direction = l->kind == CSSM_FFT_C2C_INVERSE || l->kind == CSSM_FFT_C2R ? CUFFT_INVERSE
                                                                              : CUFFT_FORWARD;
    return 0;
}

static int cufft_check(cufftResult r, const char *what, const CssmFftGeometry *g)
{
    if (r == 0) return 0;
    return cssm_cuda_fail("cufft: %s for rank %d, n %lld x %lld, batch %lld (strides %lld/%lld, "
                          "distances %lld/%lld) failed: %s", what, g->rank, g->n[0],
                          g->rank > 1 ? g->n[1] : 1, g->batch, g->istride, g->ostride, g->idist,
                          g->odist, cufft_result_name(r));
}

static CssmFftPlan *make_plan(const PlanKey *key)
{
    CssmFftPlan *p = xcalloc(1, sizeof *p);
    p->key = *key;
    CssmFftGeometry *g = &p->key.g;
    if (cufft_check(fft.Create(&p->handle), "creating a plan", g) < 0) {
        free(p);
        return NULL;
    }
    if (cufft_check(fft.MakePlanMany64(p->handle, g->rank, g->n, g->inembed, g->istride, g->idist,
                                       g->onembed, g->ostride, g->odist, key->type, g->batch,
                                       &p->work_bytes),
                    "making a plan", g) < 0) {
        fft.Destroy(p->handle);
        free(p);
        return NULL;
    }
    p->in_elem = key->type == CUFFT_R2C ? sizeof(float) : 2 * sizeof(float);
    p->out_elem = key->type == CUFFT_C2R ? sizeof(float) : 2 * sizeof(float);
    cssm_counter_add(CSSM_CTR_FFT_PLANS, 1);
    cssm_counter_add(CSSM_CTR_BYTES_ALLOCATED, p->work_bytes);   /* cuFFT's work area */
    return p;
}

static CssmFftPlan *find_plan(const PlanKey *key)
{
    for (int i = 0; i < cache.plans.len; i++)
        if (memcmp(&cache.plans.data[i]->key, key, sizeof *key) == 0) return cache.plans.data[i];
    return NULL;
}

int cssm_cufft_plan(const CssmFftLayout *layout, CssmFftPlan **out)
{
    *out = NULL;
    PlanKey key;
    if (plan_key(layout, &key) < 0) return -1;
    if (!cssm_cuda_ready())
        return cssm_cuda_fail("cufft: no device opened (call cssm_cuda_init first)");
    pthread_once(&cufft_once, load_cufft_once);
    if (!cufft_loaded) return cssm_cuda_fail("%s", cufft_error);
    pthread_mutex_lock(&cache.lock);
    CssmFftPlan *p = find_plan(&key);
    if (!p && (p = make_plan(&key))) vec_push(&cache.plans, p);
    pthread_mutex_unlock(&cache.lock);
    *out = p;
    return p ? 0 : -1;
}

static cufftResult exec_once(const CssmFftPlan *p, CssmDevPtr in, CssmDevPtr out)
{
    void *i = (void *)(uintptr_t)in, *o = (void *)(uintptr_t)out;
    switch (p->key.type) {
    case CUFFT_R2C: return fft.ExecR2C(p->handle, i, o);
    case CUFFT_C2R: return fft.ExecC2R(p->handle, i, o);
    default: return fft.ExecC2C(p->handle, i, o, p->key.direction);
    }
}

int cssm_cufft_exec(CssmFftPlan *p, CssmDevPtr in, CssmDevPtr out)
{
    const CssmFftGeometry *g = &p->key.g;
    for (long long i = 0; i < g->loops; i++) {
        CssmDevPtr src = in + (CssmDevPtr)(i * g->in_step) * p->in_elem;
        CssmDevPtr dst = out + (CssmDevPtr)(i * g->out_step) * p->out_elem;
        if (cufft_check(exec_once(p, src, dst), "executing a plan", g) < 0) return -1;
        cssm_counter_add(CSSM_CTR_FFT_EXECS, 1);
    }
    return 0;
}

size_t cssm_cufft_work_bytes(const CssmFftPlan *p) { return p->work_bytes; }

void cssm_cufft_release_all(void)
{
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < cache.plans.len; i++) {
        fft.Destroy(cache.plans.data[i]->handle);
        free(cache.plans.data[i]);
    }
    vec_free(&cache.plans);
    pthread_mutex_unlock(&cache.lock);
}
