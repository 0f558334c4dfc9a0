/* test_jit_nvrtc.c: CUDA C to cubin with NVRTC, and the cubin cache.
 *
 * Needs libnvrtc but no GPU; exits 77 where NVRTC cannot be loaded. Compiles
 * an elementwise kernel and a complex-arithmetic kernel (a {re, im} struct,
 * as the renderer emits c64) for sm_80 and sm_90 and checks that each result
 * is a CUDA ELF image (magic, 64-bit, e_machine EM_CUDA) and that the two
 * targets differ. Then: a compile error comes back with the kernel's name
 * and the failing line; a bad or unsupported architecture is refused by
 * name; a repeated compile is a cache hit that runs no NVRTC and returns the
 * same bytes, with the source saved beside the cubin; other options miss;
 * a corrupt entry is recompiled; and the counters and --stats lines agree. */
#include "jit.h"
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

enum { EM_CUDA = 190 };

static const char *vadd_src =
    "extern \"C\" __global__ void vadd(const float *a, const float *b, float *c, int n)\n"
    "{\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) c[i] = a[i] + b[i];\n"
    "}\n";

static const char *cmul_src =
    "typedef struct { float re, im; } c64;\n"
    "__device__ c64 cmul(c64 a, c64 b)\n"
    "{\n"
    "    c64 r = {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};\n"
    "    return r;\n"
    "}\n"
    "/* s = A * s + u over t, one thread per frequency bin */\n"
    "extern \"C\" __global__ void scan(const c64 *A, const c64 *u, c64 *s, int bins, int T)\n"
    "{\n"
    "    int k = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (k >= bins) return;\n"
    "    c64 h = {0.0f, 0.0f};\n"
    "    for (int t = 0; t < T; t++) {\n"
    "        c64 p = cmul(A[k], h);\n"
    "        h.re = p.re + u[t * bins + k].re;\n"
    "        h.im = p.im + u[t * bins + k].im;\n"
    "        s[t * bins + k] = h;\n"
    "    }\n"
    "}\n";

static const char *bad_src =
    "extern \"C\" __global__ void broken(float *x)\n"
    "{\n"
    "    x[threadIdx.x] = undeclared_variable;\n"
    "}\n";

static bool is_cuda_elf(const CssmBinary *b)
{
    const unsigned char *p = b->data;
    if (b->size < 20 || memcmp(p, "\177ELF", 4) != 0 || p[4] != 2 /* ELFCLASS64 */) return false;
    unsigned machine = p[18] | (unsigned)p[19] << 8;   /* e_machine, little-endian */
    return machine == EM_CUDA;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *buf = xcalloc(1, *n + 1);
    *n = fread(buf, 1, *n, f);
    fclose(f);
    return buf;
}

static int compile(const char *src, const char *name, const char *arch, CssmBinary *out)
{
    char *log = NULL;
    int rc = cssm_nvrtc_compile(src, name, arch, NULL, 0, out, &log);
    if (rc < 0) fprintf(stderr, "%s\n", log);
    free(log);
    return rc;
}

static void test_targets(void)
{
    const char *srcs[] = {vadd_src, cmul_src}, *names[] = {"vadd", "scan"};
    for (int s = 0; s < 2; s++) {
        CssmBinary b80, b90;
        bool ok80 = compile(srcs[s], names[s], "sm_80", &b80) == 0;
        bool ok90 = compile(srcs[s], names[s], "sm_90", &b90) == 0;
        CHECK(ok80 && ok90);
        if (!ok80 || !ok90) continue;
        CHECK(is_cuda_elf(&b80) && is_cuda_elf(&b90));
        CHECK(!b80.cached && !b90.cached);
        CHECK(strcmp(b80.name, names[s]) == 0);
        CHECK(strcmp(b80.key, b90.key) != 0);
        CHECK(b80.size != b90.size || memcmp(b80.data, b90.data, b80.size) != 0);
        cssm_binary_free(&b80);
        cssm_binary_free(&b90);
    }
    CHECK(cssm_counter_get(CSSM_CTR_NVRTC_COMPILES) == 4);
    CHECK(cssm_counter_get(CSSM_CTR_CACHE_HITS) == 0);
}

static void test_compile_error(void)
{
    CssmBinary b;
    char *log = NULL;
    CHECK(cssm_nvrtc_compile(bad_src, "broken", "sm_90", NULL, 0, &b, &log) == -1);
    CHECK(log && strstr(log, "kernel 'broken'") && strstr(log, "sm_90"));
    CHECK(log && strstr(log, "broken.cu(3): error") && strstr(log, "undeclared_variable"));
    CHECK(b.data == NULL && b.size == 0);
    printf("compile error reported as:\n%s\n", log ? log : "(null)");
    free(log);
    /* A failed compile is not cached: it fails the same way again. */
    CHECK(cssm_nvrtc_compile(bad_src, "broken", "sm_90", NULL, 0, &b, &log) == -1);
    CHECK(log && strstr(log, "broken.cu(3): error"));
    free(log);
}

static void test_bad_arch(void)
{
    CssmBinary b;
    char *log = NULL;
    CHECK(cssm_nvrtc_compile(vadd_src, "vadd", "compute_90", NULL, 0, &b, &log) == -1);
    CHECK(log && strstr(log, "bad architecture 'compute_90'"));
    free(log);
    CHECK(cssm_nvrtc_compile(vadd_src, "vadd", "sm_10", NULL, 0, &b, &log) == -1);
    CHECK(log && strstr(log, "cannot target sm_10") && strstr(log, "kernel 'vadd'"));
    free(log);
}

static void test_cache_hit(void)
{
    CssmBinary first, again;
    CHECK(compile(vadd_src, "vadd", "sm_90", &first) == 0);   /* compiled in test_targets */
    uint64_t compiles = cssm_counter_get(CSSM_CTR_NVRTC_COMPILES);
    uint64_t hits = cssm_counter_get(CSSM_CTR_CACHE_HITS);
    CHECK(first.cached);
    CHECK(compile(vadd_src, "vadd", "sm_90", &again) == 0);
    CHECK(again.cached && strcmp(first.key, again.key) == 0);
    CHECK(again.size == first.size && memcmp(again.data, first.data, first.size) == 0);
    CHECK(cssm_counter_get(CSSM_CTR_NVRTC_COMPILES) == compiles);
    CHECK(cssm_counter_get(CSSM_CTR_CACHE_HITS) == hits + 1);
    char *cu_path = cssm_cache_path(first.key, "cu");
    size_t n = 0;
    char *saved = slurp(cu_path, &n);
    CHECK(saved && strcmp(saved, vadd_src) == 0);
    free(saved), free(cu_path);
    cssm_binary_free(&first);
    cssm_binary_free(&again);
}

static void test_options_change_key(void)
{
    const char *opts[] = {"-lineinfo"};
    CssmBinary plain, lined;
    char *log = NULL;
    uint64_t compiles = cssm_counter_get(CSSM_CTR_NVRTC_COMPILES);
    CHECK(compile(vadd_src, "vadd", "sm_90", &plain) == 0 && plain.cached);
    CHECK(cssm_nvrtc_compile(vadd_src, "vadd", "sm_90", opts, 1, &lined, &log) == 0);
    CHECK(!lined.cached && strcmp(plain.key, lined.key) != 0 && is_cuda_elf(&lined));
    CHECK(cssm_counter_get(CSSM_CTR_NVRTC_COMPILES) == compiles + 1);
    free(log);
    cssm_binary_free(&plain);
    cssm_binary_free(&lined);
}

static void test_corrupt_entry(void)
{
    CssmBinary b;
    CHECK(compile(cmul_src, "scan", "sm_80", &b) == 0 && b.cached);
    char *path = cssm_cache_path(b.key, "cubin");
    FILE *f = fopen(path, "wb");
    fputs("not an ELF image", f);
    fclose(f);
    uint64_t compiles = cssm_counter_get(CSSM_CTR_NVRTC_COMPILES);
    cssm_binary_free(&b);
    CHECK(compile(cmul_src, "scan", "sm_80", &b) == 0);
    CHECK(!b.cached && is_cuda_elf(&b));
    CHECK(cssm_counter_get(CSSM_CTR_NVRTC_COMPILES) == compiles + 1);
    cssm_binary_free(&b);
    CHECK(compile(cmul_src, "scan", "sm_80", &b) == 0 && b.cached);   /* repaired */
    cssm_binary_free(&b);
    free(path);
}

static void test_stats_lines(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cssm_counters_print(f);
    fclose(f);
    char want[128];
    snprintf(want, sizeof want, "nvrtc compiles %12llu\n",
             (unsigned long long)cssm_counter_get(CSSM_CTR_NVRTC_COMPILES));
    CHECK(strstr(text, "nvrtc compiles") && strstr(text, "kernel cache hits"));
    CHECK(strstr(text, want + strlen("nvrtc compiles")));
    printf("%s", text);
    free(text);
}

int main(void)
{
    char why[1024];
    if (!cssm_nvrtc_probe(why, sizeof why)) {
        printf("%s\n", why);
        CHECK(strncmp(why, "nvrtc: ", 7) == 0);
        printf("skipped: NVRTC is not available\n");
        return failures ? 1 : 77;
    }
    int major, minor;
    CHECK(cssm_nvrtc_version(&major, &minor) == 0 && major >= 11);
    printf("NVRTC %d.%d\n", major, minor);
    char root[] = "/tmp/cssm-test-nvrtc-XXXXXX";
    if (!mkdtemp(root)) die("mkdtemp failed");
    setenv("XDG_CACHE_HOME", root, 1);
    cssm_counters_reset();
    test_targets();
    test_compile_error();
    test_bad_arch();
    test_cache_hit();
    test_options_change_key();
    test_corrupt_entry();
    test_stats_lines();
    char *rm = xprintf("rm -rf '%s'", root);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", root);
    free(rm);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("nvrtc: all checks passed\n");
    return failures ? 1 : 0;
}
