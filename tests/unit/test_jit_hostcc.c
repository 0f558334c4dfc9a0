/* test_jit_hostcc.c: C source to a loaded shared object, and its cache.
 *
 * Compiles and runs a plain function and an OpenMP reduction; loads the
 * same source again in this process and in a fresh process (this binary run
 * again with --child), neither of which may run the compiler; checks that a
 * compile error names the kernel and the failing line, that a missing
 * compiler is reported as such, that a missing symbol is NULL, and that a
 * corrupt cached object is compiled again; and that, where glibc's vector
 * math library is linked, map loops over the generated prelude's functions
 * vectorise and round to the scalar functions' f32 results (one f32 ulp
 * apart at most, for at most a few in a million inputs). Works in a private
 * cache directory, removed at the end. */
#include "jit.h"
#include "base.h"
#include "kernel.h"

#include <math.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static const char *kernel_src =
    "#include <omp.h>\n"
    "int add(int a, int b) { return a + b; }\n"
    "double sum_squares(const float *x, long n)\n"
    "{\n"
    "    double s = 0;\n"
    "    #pragma omp parallel for reduction(+ : s)\n"
    "    for (long i = 0; i < n; i++) s += (double)x[i] * x[i];\n"
    "    return s;\n"
    "}\n";

/* Loaded first by a child process only, so this process never has it open. */
static const char *other_src = "int triple(int x) { return 3 * x; }\n";

static const char *bad_src =
    "int ok(void) { return 1; }\n"
    "int broken(void) { return missing_name; }\n";

static CssmHostLib *load(const char *src, const char *name)
{
    char *log = NULL;
    CssmHostLib *lib = cssm_hostcc_load(src, name, &log);
    if (!lib) fprintf(stderr, "%s\n", log ? log : "(no log)");
    free(log);
    return lib;
}

static bool runs_kernel(CssmHostLib *lib)
{
    typedef double SumFn(const float *, long);
    int (*add)(int, int) = (int (*)(int, int))cssm_hostcc_sym(lib, "add");
    SumFn *sum = (SumFn *)cssm_hostcc_sym(lib, "sum_squares");
    if (!add || !sum) return false;
    float x[1000];
    for (int i = 0; i < 1000; i++) x[i] = (float)(i % 7) - 3.0f;
    double want = 0;
    for (int i = 0; i < 1000; i++) want += (double)x[i] * x[i];
    return add(40, 2) == 42 && sum(x, 1000) == want;
}

static int child_main(const char *which)
{
    cssm_counters_reset();
    bool triple = strcmp(which, "triple") == 0;
    CssmHostLib *lib = load(triple ? other_src : kernel_src, triple ? "triple" : "kernel");
    if (!lib) return 1;
    if (triple) {
        int (*fn)(int) = (int (*)(int))cssm_hostcc_sym(lib, "triple");
        CHECK(fn && fn(5) == 15);
    } else {
        CHECK(runs_kernel(lib));
        CHECK(cssm_counter_get(CSSM_CTR_HOST_COMPILES) == 0);
        CHECK(cssm_counter_get(CSSM_CTR_CACHE_HITS) == 1);
    }
    cssm_hostcc_close(lib);
    return failures ? 1 : 0;
}

static int run_child(const char *which)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "test_jit_hostcc", "--child", which, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_compile_and_run(void)
{
    CssmHostLib *lib = load(kernel_src, "kernel");
    CHECK(lib && runs_kernel(lib));
    CHECK(lib && cssm_hostcc_sym(lib, "no_such_function") == NULL);
    CHECK(cssm_counter_get(CSSM_CTR_HOST_COMPILES) == 1);
    CHECK(cssm_counter_get(CSSM_CTR_CACHE_HITS) == 0);
    const char *path = lib ? cssm_hostcc_path(lib) : "";
    size_t len = strlen(path);
    CHECK(strstr(path, "/cssmc/") && len > 3 && strcmp(path + len - 3, ".so") == 0);
    char *c_path = xprintf("%.*s.c", (int)len - 3, path);
    CHECK(access(c_path, R_OK) == 0);   /* the source sits beside the object */
    free(c_path);
    CssmHostLib *again = load(kernel_src, "kernel");
    CHECK(again && runs_kernel(again));
    CHECK(cssm_counter_get(CSSM_CTR_HOST_COMPILES) == 1);
    CHECK(cssm_counter_get(CSSM_CTR_CACHE_HITS) == 1);
    cssm_hostcc_close(again);
    cssm_hostcc_close(lib);
}

static void test_second_process(void)
{
    CHECK(run_child("kernel") == 0);
    CHECK(cssm_counter_get(CSSM_CTR_HOST_COMPILES) == 1);
}

static void test_compile_error(void)
{
    char *log = NULL;
    CssmHostLib *lib = cssm_hostcc_load(bad_src, "broken_kernel", &log);
    CHECK(lib == NULL);
    CHECK(log && strstr(log, "hostcc: 'broken_kernel' failed to compile"));
    CHECK(log && strstr(log, ".c:2:") && strstr(log, "error") && strstr(log, "missing_name"));
    printf("compile error reported as:\n%s\n", log ? log : "(null)");
    free(log);
}

static void test_missing_compiler(void)
{
    setenv("CSSMC_CC", "/nonexistent/cc", 1);
    char *log = NULL;
    CHECK(cssm_hostcc_load("int f(void) { return 0; }\n", "f", &log) == NULL);
    CHECK(log && strstr(log, "cannot run the C compiler '/nonexistent/cc'"));
    free(log);
    unsetenv("CSSMC_CC");
}

/* The one object in the cache that is not `keep`: the child's "triple". */
static char *find_other_object(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    char *found = NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        char *path = xprintf("%s/%s", dir, e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".so") == 0 && e->d_name[0] != '.' &&
            strcmp(path, keep) != 0 && !found)
            found = path;
        else free(path);
    }
    if (d) closedir(d);
    return found;
}

static void test_corrupt_object(const char *root)
{
    CssmHostLib *keep = load(kernel_src, "kernel");
    CHECK(run_child("triple") == 0);
    char *dir = xprintf("%s/cssmc", root);
    char *victim = keep ? find_other_object(dir, cssm_hostcc_path(keep)) : NULL;
    CHECK(victim != NULL);
    if (victim) {
        FILE *f = fopen(victim, "wb");
        fputs("not a shared object", f);
        fclose(f);
        uint64_t compiles = cssm_counter_get(CSSM_CTR_HOST_COMPILES);
        CssmHostLib *lib = load(other_src, "triple");
        int (*fn)(int) = lib ? (int (*)(int))cssm_hostcc_sym(lib, "triple") : NULL;
        CHECK(fn && fn(7) == 21);
        CHECK(cssm_counter_get(CSSM_CTR_HOST_COMPILES) == compiles + 1);
        cssm_hostcc_close(lib);
    }
    cssm_hostcc_close(keep);
    free(victim);
    free(dir);
}

/* ---- vector math ---- */

/* One f32 map loop per function, in the generated kernels' style. */
static const char vector_maps[] =
    "#define MAP(name, expr) void name(const float *x, float *o, i64 n) "
    "{ for (i64 i = 0; i < n; i++) { double v = x[i]; o[i] = (float)(expr); } }\n"
    "MAP(m_exp, exp(v)) MAP(m_log, log(v)) MAP(m_log1p, log1p(v)) MAP(m_pow, pow(v, 1.5))\n"
    "MAP(m_sin, sin(v)) MAP(m_cos, cos(v)) MAP(m_tanh, tanh(v))\n"
    "MAP(m_softplus, f_softplus(v)) MAP(m_sigmoid, f_sigmoid(v)) MAP(m_gelu, f_gelu(v))\n";

static double softplus(double v) { return fmax(v, 0) + log1p(exp(-fabs(v))); }
static double sigmoid(double v) { return v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v)); }
/* contraction off, as in the generated kernels */
__attribute__((optimize("fp-contract=off"))) static double gelu(double v) { return 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }
static double pow15(double v) { return pow(v, 1.5); }

/* atol 0: at most 4 of the inputs may round to the neighbouring f32. Else
 * the function cancels (gelu's left tail: 1 + tanh -> 0 turns the last double
 * bits into relative f32 ones) and each value may be atol away. */
typedef struct VectorMap {
    const char *sym;
    double (*scalar)(double);
    double lo, hi;          /* inputs spread over [lo, hi] */
    double atol;
} VectorMap;

/* Whether the file's bytes contain text. */
static bool mentions(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f), k = strlen(text);
    rewind(f);
    char *bytes = xmalloc(n + 1);
    bool found = false;
    if (fread(bytes, 1, n, f) == n)
        for (size_t i = 0; i + k <= n && !found; i++) found = !memcmp(bytes + i, text, k);
    free(bytes);
    fclose(f);
    return found;
}

static void test_vector_math(void)
{
    if (!cssm_hostcc_vector_math()) {
        printf("hostcc: no vector math library on this host; map loops stay scalar\n");
        return;
    }
    char *src = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&src, &len);
    ew_print_prelude(f, false);
    fputs(vector_maps, f);
    fclose(f);
    CssmHostLib *lib = load(src, "vector_math");
    free(src);
    CHECK(lib != NULL);
    if (!lib) return;
    CHECK(mentions(cssm_hostcc_path(lib), "_ZGV"));   /* the vector variants are called */
    static const VectorMap maps[] = {
        {"m_exp", exp, -80, 80, 0}, {"m_log", log, 1e-30, 1e6, 0}, {"m_log1p", log1p, -0.999, 1e4, 0},
        {"m_pow", pow15, 0, 1e5, 0}, {"m_sin", sin, -100, 100, 0}, {"m_cos", cos, -100, 100, 0},
        {"m_tanh", tanh, -20, 20, 0}, {"m_softplus", softplus, -90, 90, 0}, {"m_sigmoid", sigmoid, -90, 90, 0},
        {"m_gelu", gelu, -12, 12, 1e-12},
    };
    enum { N = 1 << 20 };
    float *x = xmalloc(sizeof(float) * N), *y = xmalloc(sizeof(float) * N);
    for (size_t m = 0; m < COUNT_OF(maps); m++) {
        void (*fn)(const float *, float *, long long) = (void (*)(const float *, float *, long long))cssm_hostcc_sym(lib, maps[m].sym);
        CHECK(fn != NULL);
        if (!fn) continue;
        for (int i = 0; i < N; i++) x[i] = (float)(maps[m].lo + (maps[m].hi - maps[m].lo) * (i + 0.5) / N);
        fn(x, y, N);
        int differ = 0, far = 0;
        for (int i = 0; i < N; i++) {
            float want = (float)maps[m].scalar(x[i]);
            if (y[i] == want) continue;
            differ++;
            double d = fabs((double)y[i] - want);
            far += maps[m].atol ? d > maps[m].atol : d > fabsf(nextafterf(want, INFINITY) - want);
        }
        bool ok = far == 0 && (maps[m].atol || differ <= 4);
        if (!ok) fprintf(stderr, "%s: %d of %d differ from the scalar function, %d by more than %s\n", maps[m].sym,
                         differ, N, far, maps[m].atol ? "atol" : "1 ulp");
        CHECK(ok);
    }
    free(x);
    free(y);
    cssm_hostcc_close(lib);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0) return child_main(argv[2]);
    char root[] = "/tmp/cssm-test-hostcc-XXXXXX";
    if (!mkdtemp(root)) die("mkdtemp failed");
    setenv("XDG_CACHE_HOME", root, 1);
    unsetenv("CSSMC_CC");
    cssm_counters_reset();
    test_compile_and_run();
    test_second_process();
    test_compile_error();
    test_missing_compiler();
    test_corrupt_object(root);
    test_vector_math();
    char *rm = xprintf("rm -rf '%s'", root);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", root);
    free(rm);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("hostcc: all checks passed\n");
    return failures ? 1 : 0;
}
