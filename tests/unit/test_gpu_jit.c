/* test_gpu_jit.c: the JIT layer on a real GPU: NVRTC -> module -> launch,
 * device memory, and cuFFT against FFTW.
 *
 * First, on any machine: the mapping of each FFT layout onto cuFFT's
 * advanced layout (cssm_cufft_geometry) is run through FFTW's plan_many,
 * which reads the same parameters the same way, and compared with FFTW's
 * transform of each (outer, inner) slice; a wrong stride fails here.
 * Then it exits 77, saying why, when there is no usable GPU (no driver, no
 * device) or no NVRTC; the GPU part never passes without running. On a GPU:
 * compiles a vector add for the device's own architecture, runs it on a
 * length that is not a multiple of the block, and compares exactly; runs a
 * kernel that needs more than 48 KiB of dynamic shared memory; checks that
 * a missing kernel is reported by name. Then, for channels-first,
 * channels-last (both loop orders) and 1-D layouts, an R2C on the device is
 * compared with FFTW's double-precision transform of the same data, and C2R
 * brings it back to n0*n1 times the input; C2C forward then inverse does the
 * same; asking for a plan twice returns the cached one. */
#include "jit.h"
#include "base.h"
#include "rng.h"

/* fftw3.h first, so fftw_complex is double[2] rather than C99 complex. */
#include <fftw3.h>
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)
/* A failed CUDA call stops the test: what follows would only repeat it. */
#define MUST(call)                                                                   \
    do {                                                                             \
        if ((call) < 0) {                                                            \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cssm_cuda_error());   \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

static const char *kernels_src =
    "extern \"C\" __global__ void vadd(const float *a, const float *b, float *c, int n)\n"
    "{\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) c[i] = a[i] + b[i];\n"
    "}\n"
    "/* Reverses each block's slice through dynamic shared memory. */\n"
    "extern \"C\" __global__ void reverse_blocks(const float *in, float *out, int per_block)\n"
    "{\n"
    "    extern __shared__ float tile[];\n"
    "    const float *src = in + (long)blockIdx.x * per_block;\n"
    "    for (int i = threadIdx.x; i < per_block; i += blockDim.x) tile[i] = src[i];\n"
    "    __syncthreads();\n"
    "    float *dst = out + (long)blockIdx.x * per_block;\n"
    "    for (int i = threadIdx.x; i < per_block; i += blockDim.x)\n"
    "        dst[i] = tile[per_block - 1 - i];\n"
    "}\n";

static float *random_floats(size_t n, uint64_t seed)
{
    Rng r = rng_new(seed);
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r);
    return x;
}

static CssmDevPtr upload_new(const void *host, size_t bytes)
{
    CssmDevPtr p;
    MUST(cssm_cuda_alloc(bytes, &p));
    MUST(cssm_cuda_upload(p, host, bytes));
    return p;
}

static void test_vadd(CssmModule *m)
{
    const int n = (1 << 20) + 3;
    size_t bytes = (size_t)n * sizeof(float);
    float *a = random_floats((size_t)n, 1), *b = random_floats((size_t)n, 2);
    float *c = xcalloc((size_t)n, sizeof *c);
    CssmDevPtr da = upload_new(a, bytes), db = upload_new(b, bytes), dc;
    MUST(cssm_cuda_alloc(bytes, &dc));
    MUST(cssm_cuda_memset(dc, 0xff, bytes));
    CssmKernel *k;
    MUST(cssm_cuda_kernel(m, "vadd", &k));
    int nn = n;
    void *args[] = {&da, &db, &dc, &nn};
    uint64_t launches = cssm_counter_get(CSSM_CTR_KERNEL_LAUNCHES);
    MUST(cssm_cuda_launch(k, (CssmDim3){(unsigned)(n + 255) / 256, 1, 1}, (CssmDim3){256, 1, 1}, 0,
                          args));
    MUST(cssm_cuda_sync());
    MUST(cssm_cuda_download(c, dc, bytes));
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += c[i] != a[i] + b[i];
    CHECK(wrong == 0);
    CHECK(cssm_counter_get(CSSM_CTR_KERNEL_LAUNCHES) == launches + 1);
    MUST(cssm_cuda_free(da)); MUST(cssm_cuda_free(db)); MUST(cssm_cuda_free(dc));
    free(a), free(b), free(c);
}

static void test_big_shared(CssmModule *m, const CssmDeviceInfo *info)
{
    const int per_block = 24 * 1024, blocks = 3;   /* 96 KiB of floats per block */
    unsigned shared = per_block * sizeof(float);
    if (info->max_shared_optin < (int)shared) {
        printf("shared-memory opt-in not tested: the device allows %d bytes\n",
               info->max_shared_optin);
        return;
    }
    size_t n = (size_t)per_block * blocks, bytes = n * sizeof(float);
    float *x = random_floats(n, 3), *y = xmalloc(bytes);
    CssmDevPtr dx = upload_new(x, bytes), dy;
    MUST(cssm_cuda_alloc(bytes, &dy));
    CssmKernel *k;
    MUST(cssm_cuda_kernel(m, "reverse_blocks", &k));
    int pb = per_block;
    void *args[] = {&dx, &dy, &pb};
    MUST(cssm_cuda_launch(k, (CssmDim3){blocks, 1, 1}, (CssmDim3){256, 1, 1}, shared, args));
    MUST(cssm_cuda_sync());
    MUST(cssm_cuda_download(y, dy, bytes));
    int wrong = 0;
    for (int b = 0; b < blocks; b++)
        for (int i = 0; i < per_block; i++)
            wrong += y[b * per_block + i] != x[b * per_block + per_block - 1 - i];
    CHECK(wrong == 0);
    MUST(cssm_cuda_free(dx)); MUST(cssm_cuda_free(dy));
    free(x), free(y);
}

static void test_missing_kernel(CssmModule *m)
{
    CssmKernel *k;
    CHECK(cssm_cuda_kernel(m, "no_such_kernel", &k) == -1 && k == NULL);
    CHECK(strstr(cssm_cuda_error(), "kernel 'no_such_kernel' not found") != NULL);
    CHECK(strstr(cssm_cuda_error(), "CUDA_ERROR_NOT_FOUND") != NULL);
}

/* ---- FFTs ---------------------------------------------------------------- */

/* Channels-first; channels-last batching inner; channels-last batching
 * outer; odd sizes; 1-D channels-last; 1-D, odd, batching outer. With the
 * number of plan executions each needs (the smaller of outer and inner). */
static const CssmFftLayout layouts[] = {
    {.rank = 2, .n = {16, 20}, .outer = 6, .inner = 1},
    {.rank = 2, .n = {32, 32}, .outer = 2, .inner = 5},
    {.rank = 2, .n = {12, 18}, .outer = 5, .inner = 3},
    {.rank = 2, .n = {7, 9}, .outer = 4, .inner = 1},
    {.rank = 1, .n = {64}, .outer = 3, .inner = 4},
    {.rank = 1, .n = {15}, .outer = 7, .inner = 2},
};
static const long long layout_loops[] = {1, 2, 3, 1, 3, 2};

/* Sizes of one layout, in elements, on the real and the half-spectrum side. */
typedef struct {
    long long n0, n1, half, outer, inner;   /* n1 = 1 and half = n0/2+1 for rank 1 */
} Shape;

static Shape shape_of(const CssmFftLayout *l)
{
    Shape s = {l->n[0], l->rank == 2 ? l->n[1] : 1, 0, l->outer, l->inner};
    s.half = (l->rank == 2 ? s.n1 : s.n0) / 2 + 1;
    return s;
}

/* FFTW, one (outer, inner) transform at a time, in double precision. */
static double complex *reference_r2c(const CssmFftLayout *l, const float *x)
{
    Shape s = shape_of(l);
    long long real_n = s.n0 * s.n1, cplx_n = l->rank == 2 ? s.n0 * s.half : s.half;
    double *in = fftw_malloc(sizeof(double) * (size_t)real_n);
    fftw_complex *out = fftw_malloc(sizeof(fftw_complex) * (size_t)cplx_n);
    fftw_plan p = l->rank == 2 ? fftw_plan_dft_r2c_2d((int)s.n0, (int)s.n1, in, out, FFTW_ESTIMATE)
                               : fftw_plan_dft_r2c_1d((int)s.n0, in, out, FFTW_ESTIMATE);
    double complex *ref = xmalloc(sizeof *ref * (size_t)(s.outer * cplx_n * s.inner));
    for (long long o = 0; o < s.outer; o++)
        for (long long c = 0; c < s.inner; c++) {
            for (long long i = 0; i < real_n; i++) in[i] = x[(o * real_n + i) * s.inner + c];
            fftw_execute(p);
            for (long long i = 0; i < cplx_n; i++)
                ref[(o * cplx_n + i) * s.inner + c] = out[i][0] + I * out[i][1];
        }
    fftw_destroy_plan(p);
    fftw_free(in), fftw_free(out);
    return ref;
}

static double max_abs_diff_c(const float *got, const double complex *want, size_t n, double *scale)
{
    double diff = 0;
    *scale = 0;
    for (size_t i = 0; i < n; i++) {
        double complex g = got[2 * i] + I * got[2 * i + 1];
        diff = fmax(diff, cabs(g - want[i]));
        *scale = fmax(*scale, cabs(want[i]));
    }
    return diff;
}

static void check_round_trip(const char *what, const float *x, const float *back, size_t n,
                             double gain)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(back[i] / gain - x[i]));
        scale = fmax(scale, fabs(x[i]));
    }
    printf("  %s: max |x - inverse(forward(x))/N| = %.2e (max |x| %.2f)\n", what, diff, scale);
    CHECK(diff <= 1e-5 * scale + 1e-6);
}

/* Runs a layout's geometry with FFTW on host memory, loop and all. */
static void host_exec(const CssmFftLayout *l, void *in, void *out)
{
    CssmFftGeometry g;
    MUST(cssm_cufft_geometry(l, &g));
    int n[2], ie[2], oe[2];
    for (int i = 0; i < g.rank; i++)
        n[i] = (int)g.n[i], ie[i] = (int)g.inembed[i], oe[i] = (int)g.onembed[i];
    unsigned flags = FFTW_ESTIMATE | FFTW_UNALIGNED;
    float *fi = in, *fo = out;
    size_t in_floats = l->kind == CSSM_FFT_R2C ? 1 : 2;
    size_t out_floats = l->kind == CSSM_FFT_C2R ? 1 : 2;
    fftwf_plan p = l->kind == CSSM_FFT_R2C
        ? fftwf_plan_many_dft_r2c(g.rank, n, (int)g.batch, fi, ie, (int)g.istride, (int)g.idist,
                                  (fftwf_complex *)fo, oe, (int)g.ostride, (int)g.odist, flags)
        : fftwf_plan_many_dft_c2r(g.rank, n, (int)g.batch, (fftwf_complex *)fi, ie, (int)g.istride,
                                  (int)g.idist, fo, oe, (int)g.ostride, (int)g.odist, flags);
    for (long long i = 0; i < g.loops; i++) {
        float *a = fi + (size_t)(i * g.in_step) * in_floats;
        float *b = fo + (size_t)(i * g.out_step) * out_floats;
        if (l->kind == CSSM_FFT_R2C) fftwf_execute_dft_r2c(p, a, (fftwf_complex *)b);
        else fftwf_execute_dft_c2r(p, (fftwf_complex *)a, b);
    }
    fftwf_destroy_plan(p);
}

static void test_geometry_on_host(void)
{
    for (size_t li = 0; li < COUNT_OF(layouts); li++) {
        CssmFftLayout l = layouts[li];
        Shape s = shape_of(&l);
        size_t real_n = (size_t)(s.outer * s.n0 * s.n1 * s.inner);
        size_t cplx_n = (size_t)(s.outer * (l.rank == 2 ? s.n0 : 1) * s.half * s.inner);
        float *x = random_floats(real_n, li);
        float *spec = xmalloc(8 * cplx_n), *back = xmalloc(4 * real_n);
        CssmFftGeometry g;
        l.kind = CSSM_FFT_R2C;
        CHECK(cssm_cufft_geometry(&l, &g) == 0 && g.loops == layout_loops[li]);
        host_exec(&l, x, spec);
        double complex *ref = reference_r2c(&l, x);
        double scale, diff = max_abs_diff_c(spec, ref, cplx_n, &scale);
        CHECK(diff <= 1e-5 * scale);
        l.kind = CSSM_FFT_C2R;
        host_exec(&l, spec, back);
        double rt = 0;
        for (size_t i = 0; i < real_n; i++)
            rt = fmax(rt, fabs(back[i] / (double)(s.n0 * s.n1) - x[i]));
        printf("host geometry %zu: %lld plan runs of batch %lld, r2c off by %.1e, "
               "round trip by %.1e\n",
               li, g.loops, g.batch, diff, rt);
        CHECK(rt <= 1e-5);
        free(x), free(spec), free(back), free(ref);
    }
    CssmFftLayout bad = {.rank = 3, .n = {4, 4}, .outer = 1, .inner = 1};
    CssmFftGeometry g;
    CHECK(cssm_cufft_geometry(&bad, &g) == -1);
    CHECK(strstr(cssm_cuda_error(), "cufft: invalid layout") != NULL);
}

static void test_r2c_c2r(CssmFftLayout l)
{
    Shape s = shape_of(&l);
    long long real_n = s.outer * s.n0 * s.n1 * s.inner;
    long long cplx_n = s.outer * (l.rank == 2 ? s.n0 : 1) * s.half * s.inner;
    printf("rank %d, n %lld x %lld, outer %lld, inner %lld\n", l.rank, s.n0, s.n1, s.outer,
           s.inner);
    float *x = random_floats((size_t)real_n, 10 + (uint64_t)real_n);
    float *spec = xmalloc(sizeof(float) * 2 * (size_t)cplx_n);
    float *back = xmalloc(sizeof(float) * (size_t)real_n);
    CssmDevPtr dx = upload_new(x, sizeof(float) * (size_t)real_n), dspec, dback;
    MUST(cssm_cuda_alloc(sizeof(float) * 2 * (size_t)cplx_n, &dspec));
    MUST(cssm_cuda_alloc(sizeof(float) * (size_t)real_n, &dback));
    CssmFftPlan *fwd, *inv, *fwd_again;
    l.kind = CSSM_FFT_R2C;
    MUST(cssm_cufft_plan(&l, &fwd));
    uint64_t plans = cssm_counter_get(CSSM_CTR_FFT_PLANS);
    MUST(cssm_cufft_plan(&l, &fwd_again));
    CHECK(fwd_again == fwd && cssm_counter_get(CSSM_CTR_FFT_PLANS) == plans);
    l.kind = CSSM_FFT_C2R;
    MUST(cssm_cufft_plan(&l, &inv));
    CHECK(inv != fwd);
    MUST(cssm_cufft_exec(fwd, dx, dspec));
    MUST(cssm_cuda_download(spec, dspec, sizeof(float) * 2 * (size_t)cplx_n));
    MUST(cssm_cufft_exec(inv, dspec, dback));
    MUST(cssm_cuda_download(back, dback, sizeof(float) * (size_t)real_n));
    double complex *ref = reference_r2c(&l, x);
    double scale, diff = max_abs_diff_c(spec, ref, (size_t)cplx_n, &scale);
    printf("  r2c: max |cufft - fftw| = %.2e (max |X| %.2f)\n", diff, scale);
    CHECK(diff <= 1e-5 * scale);
    check_round_trip("c2r", x, back, (size_t)real_n, (double)(s.n0 * s.n1));
    MUST(cssm_cuda_free(dx)); MUST(cssm_cuda_free(dspec)); MUST(cssm_cuda_free(dback));
    free(x), free(spec), free(back), free(ref);
}

static void test_c2c(CssmFftLayout l)
{
    Shape s = shape_of(&l);
    long long n = s.outer * s.n0 * s.n1 * s.inner;   /* complex elements */
    float *x = random_floats(2 * (size_t)n, 99), *back = xmalloc(sizeof(float) * 2 * (size_t)n);
    CssmDevPtr dx = upload_new(x, sizeof(float) * 2 * (size_t)n), dspec, dback;
    MUST(cssm_cuda_alloc(sizeof(float) * 2 * (size_t)n, &dspec));
    MUST(cssm_cuda_alloc(sizeof(float) * 2 * (size_t)n, &dback));
    CssmFftPlan *fwd, *inv;
    l.kind = CSSM_FFT_C2C_FORWARD;
    MUST(cssm_cufft_plan(&l, &fwd));
    l.kind = CSSM_FFT_C2C_INVERSE;
    MUST(cssm_cufft_plan(&l, &inv));
    MUST(cssm_cufft_exec(fwd, dx, dspec));
    MUST(cssm_cufft_exec(inv, dspec, dback));
    MUST(cssm_cuda_download(back, dback, sizeof(float) * 2 * (size_t)n));
    check_round_trip("c2c", x, back, 2 * (size_t)n, (double)(s.n0 * s.n1));
    MUST(cssm_cuda_free(dx)); MUST(cssm_cuda_free(dspec)); MUST(cssm_cuda_free(dback));
    free(x), free(back);
}

static void test_ffts(void)
{
    uint64_t execs = cssm_counter_get(CSSM_CTR_FFT_EXECS);
    long long steps = 0;
    for (size_t i = 0; i < COUNT_OF(layouts); i++) {
        test_r2c_c2r(layouts[i]);
        steps += layout_loops[i];
    }
    /* Each layout ran forward and inverse once. */
    CHECK(cssm_counter_get(CSSM_CTR_FFT_EXECS) == execs + 2 * (uint64_t)steps);
    test_c2c(layouts[1]);
    test_c2c(layouts[4]);
    CssmFftLayout bad = {.rank = 3, .n = {4, 4}, .outer = 1, .inner = 1};
    CssmFftPlan *p;
    CHECK(cssm_cufft_plan(&bad, &p) == -1 && strstr(cssm_cuda_error(), "cufft: invalid layout"));
}

int main(void)
{
    test_geometry_on_host();
    char why[1024];
    if (!cssm_cuda_probe(why, sizeof why)) {
        CHECK(strncmp(why, "cuda: ", 6) == 0);
        printf("skipped: no usable GPU: %s\n", why);
        return failures ? 1 : 77;
    }
    if (!cssm_nvrtc_probe(why, sizeof why)) {
        printf("skipped: a GPU is present but NVRTC is not: %s\n", why);
        return 77;
    }
    MUST(cssm_cuda_init(0));
    CssmDeviceInfo info;
    MUST(cssm_cuda_device_info(&info));
    printf("device %d: %s, %s, %d SMs, %.1f GiB, driver %d\n", info.ordinal, info.name,
           info.arch, info.sm_count, (double)info.total_mem / (1 << 30), info.driver_version);
    CssmBinary bin;
    char *log = NULL;
    if (cssm_nvrtc_compile(kernels_src, "jit_test", info.arch, NULL, 0, &bin, &log) < 0) {
        fprintf(stderr, "%s\n", log);
        return 1;
    }
    free(log);
    CssmModule *m;
    MUST(cssm_cuda_module_load(&bin, &m));
    test_vadd(m);
    test_big_shared(m, &info);
    test_missing_kernel(m);
    test_ffts();
    cssm_cuda_module_unload(m);
    cssm_binary_free(&bin);
    cssm_cufft_release_all();
    cssm_counters_print(stdout);
    cssm_cuda_release();
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("gpu jit: all checks passed\n");
    return failures ? 1 : 0;
}
