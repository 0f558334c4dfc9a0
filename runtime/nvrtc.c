/* nvrtc.c: CUDA C source to cubin with NVRTC, through the disk cache.
 *
 * libnvrtc is loaded with dlopen on first use; it needs neither a GPU nor a
 * driver, so kernels are compiled (and tested) on any machine with a CUDA
 * toolkit. A compile is keyed by everything that determines its cubin: the
 * source, the program name (it appears in the image's debug sections and
 * the log), the target architecture, the options, NVRTC's version and the
 * size of the loaded library file (which tells patch releases of one
 * version apart), and the cssmc version. A key found in the cache is
 * trusted once its ELF magic checks out, so a repeated compile costs one
 * file read and runs no NVRTC. */
#define _GNU_SOURCE
#include "jit.h"
#include "base.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

static struct {
    nvrtcResult (*Version)(int *major, int *minor);
    nvrtcResult (*GetNumSupportedArchs)(int *count);
    nvrtcResult (*GetSupportedArchs)(int *archs);
    nvrtcResult (*CreateProgram)(nvrtcProgram *prog, const char *src, const char *name,
                                 int nheaders, const char *const *headers,
                                 const char *const *include_names);
    nvrtcResult (*DestroyProgram)(nvrtcProgram *prog);
    nvrtcResult (*CompileProgram)(nvrtcProgram prog, int nopts, const char *const *opts);
    nvrtcResult (*GetProgramLogSize)(nvrtcProgram prog, size_t *size);
    nvrtcResult (*GetProgramLog)(nvrtcProgram prog, char *log);
    nvrtcResult (*GetCUBINSize)(nvrtcProgram prog, size_t *size);
    nvrtcResult (*GetCUBIN)(nvrtcProgram prog, char *cubin);
    const char *(*GetErrorString)(nvrtcResult r);
} nv;

static const CssmDlSym nvrtc_syms[] = {
    {"nvrtcVersion", (void **)&nv.Version},
    {"nvrtcGetNumSupportedArchs", (void **)&nv.GetNumSupportedArchs},
    {"nvrtcGetSupportedArchs", (void **)&nv.GetSupportedArchs},
    {"nvrtcCreateProgram", (void **)&nv.CreateProgram},
    {"nvrtcDestroyProgram", (void **)&nv.DestroyProgram},
    {"nvrtcCompileProgram", (void **)&nv.CompileProgram},
    {"nvrtcGetProgramLogSize", (void **)&nv.GetProgramLogSize},
    {"nvrtcGetProgramLog", (void **)&nv.GetProgramLog},
    {"nvrtcGetCUBINSize", (void **)&nv.GetCUBINSize},
    {"nvrtcGetCUBIN", (void **)&nv.GetCUBIN},
    {"nvrtcGetErrorString", (void **)&nv.GetErrorString},
};

/* What the one-time load learned. */
static struct {
    pthread_once_t once;
    bool ok;
    char error[1024];
    int major, minor;
    char identity[128];      /* version and library size, for cache keys */
    Vec(int) archs;          /* supported compute capabilities, e.g. 75, 80, 90 */
} lib = {.once = PTHREAD_ONCE_INIT};

static long long library_file_size(void *any_symbol)
{
    Dl_info info;
    struct stat st;
    if (!dladdr(any_symbol, &info) || !info.dli_fname || stat(info.dli_fname, &st) < 0) return -1;
    return (long long)st.st_size;
}

/* NVRTC dlopens libnvrtc-builtins.so.MAJOR.MINOR by name when it compiles.
 * Where the toolkit's lib64 is not on the loader's path (we found libnvrtc
 * through $CUDA_HOME or /usr/local/cuda), that lookup would fail; loading the
 * builtins from libnvrtc's own directory first makes it find them loaded. */
static void preload_builtins(void *any_symbol)
{
    Dl_info info;
    if (!dladdr(any_symbol, &info) || !info.dli_fname || !strchr(info.dli_fname, '/')) return;
    const char *slash = strrchr(info.dli_fname, '/');
    char *path = xprintf("%.*s/libnvrtc-builtins.so.%d.%d", (int)(slash - info.dli_fname),
                         info.dli_fname, lib.major, lib.minor);
    dlopen(path, RTLD_NOW | RTLD_GLOBAL);   /* a miss leaves NVRTC's own search */
    free(path);
}

static void query_archs(void)
{
    int count = 0;
    if (nv.GetNumSupportedArchs(&count) != 0 || count <= 0) return;
    int *archs = xcalloc((size_t)count, sizeof *archs);
    if (nv.GetSupportedArchs(archs) == 0)
        for (int i = 0; i < count; i++) vec_push(&lib.archs, archs[i]);
    free(archs);
}

static void load_nvrtc_once(void)
{
    static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2",
                                        "libnvrtc.so", NULL};
    char why[900];
    void *h = cssm_dl_open_first(names, "install the CUDA toolkit or set CUDA_HOME", why,
                                   sizeof why);
    if (!h || cssm_dl_bind(h, "libnvrtc", nvrtc_syms, (int)COUNT_OF(nvrtc_syms), why,
                           sizeof why) < 0) {
        snprintf(lib.error, sizeof lib.error, "nvrtc: %s", why);
        return;
    }
    if (nv.Version(&lib.major, &lib.minor) != 0) {
        snprintf(lib.error, sizeof lib.error, "nvrtc: nvrtcVersion failed");
        return;
    }
    snprintf(lib.identity, sizeof lib.identity, "nvrtc %d.%d, %lld bytes", lib.major, lib.minor,
             library_file_size((void *)nv.Version));
    preload_builtins((void *)nv.Version);
    query_archs();
    lib.ok = true;
}

static bool load_nvrtc(void)
{
    pthread_once(&lib.once, load_nvrtc_once);
    return lib.ok;
}

int cssm_nvrtc_probe(char *why, size_t n)
{
    if (load_nvrtc()) return 1;
    snprintf(why, n, "%s", lib.error);
    return 0;
}

int cssm_nvrtc_version(int *major, int *minor)
{
    if (!load_nvrtc()) return -1;
    *major = lib.major;
    *minor = lib.minor;
    return 0;
}

/* Hands msg to the caller through *log (or drops it if log is NULL). */
static int fail_log(char **log, char *msg)
{
    if (log) {
        free(*log);
        *log = msg;
    } else free(msg);
    return -1;
}

/* "sm_90", "sm_90a", "sm_100f": a supported number, any feature suffix. */
static int check_arch(const char *arch, const char *name, char **log)
{
    int cc = 0, used = 0;
    if (!arch || sscanf(arch, "sm_%d%n", &cc, &used) != 1 || used < 5)
        return fail_log(log, xprintf("nvrtc: kernel '%s': bad architecture '%s' (expected e.g. "
                                     "sm_90)", name, arch ? arch : "(null)"));
    for (int i = 0; i < lib.archs.len; i++)
        if (lib.archs.data[i] == cc) return 0;
    return fail_log(log, xprintf("nvrtc: kernel '%s': NVRTC %d.%d cannot target %s (it supports "
                                 "sm_%d to sm_%d)", name, lib.major, lib.minor, arch,
                                 lib.archs.len ? lib.archs.data[0] : 0,
                                 lib.archs.len ? lib.archs.data[lib.archs.len - 1] : 0));
}

static void cubin_key(const char *src, const char *name, const char *arch,
                      const char *const *opts, int nopts, char key[CSSM_KEY_LEN + 1])
{
    CssmHash h;
    cssm_cache_key_begin(&h, "cubin");
    cssm_hash_field(&h, lib.identity);
    cssm_hash_field(&h, arch);
    for (int i = 0; i < nopts; i++) cssm_hash_field(&h, opts[i]);
    cssm_hash_field(&h, name);
    cssm_hash_field(&h, src);
    cssm_hash_hex(&h, key);
}

static bool is_elf(const void *data, size_t size)
{
    return size >= 4 && memcmp(data, "\177ELF", 4) == 0;
}

static bool read_cached_cubin(CssmBinary *out)
{
    void *data;
    size_t size;
    if (!cssm_cache_read(out->key, "cubin", &data, &size)) return false;
    if (!is_elf(data, size)) {
        free(data);
        return false;
    }
    out->data = data;
    out->size = size;
    out->cached = true;
    return true;
}

static char *program_log(nvrtcProgram prog)
{
    size_t size = 0;
    if (nv.GetProgramLogSize(prog, &size) != 0 || size <= 1) return NULL;
    char *text = xcalloc(1, size);
    if (nv.GetProgramLog(prog, text) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static int extract_cubin(nvrtcProgram prog, CssmBinary *out, char **log)
{
    nvrtcResult r = nv.GetCUBINSize(prog, &out->size);
    if (r == 0) {
        out->data = xmalloc(out->size);
        r = nv.GetCUBIN(prog, out->data);
    }
    if (r == 0 && is_elf(out->data, out->size)) return 0;
    free(out->data);
    out->data = NULL;
    return fail_log(log, xprintf("nvrtc: kernel '%s': no cubin produced: %s", out->name,
                                 r ? nv.GetErrorString(r) : "not an ELF image"));
}

/* NVRTC proper: one program, compiled, its cubin copied out. */
static int run_nvrtc(const char *src, const char *arch, const char *const *opts, int nopts,
                     CssmBinary *out, char **log)
{
    char *file = xprintf("%s.cu", out->name);
    nvrtcProgram prog;
    nvrtcResult r = nv.CreateProgram(&prog, src, file, 0, NULL, NULL);
    free(file);
    if (r != 0)
        return fail_log(log, xprintf("nvrtc: kernel '%s': %s", out->name, nv.GetErrorString(r)));
    const char **argv = xcalloc((size_t)nopts + 1, sizeof *argv);
    char *arch_opt = xprintf("--gpu-architecture=%s", arch);
    argv[0] = arch_opt;
    for (int i = 0; i < nopts; i++) argv[i + 1] = opts[i];
    cssm_counter_add(CSSM_CTR_NVRTC_COMPILES, 1);
    r = nv.CompileProgram(prog, nopts + 1, argv);
    char *text = program_log(prog);
    int rc = r != 0 ? fail_log(log, xprintf("nvrtc: kernel '%s' failed to compile for %s: %s\n%s",
                                            out->name, arch, nv.GetErrorString(r),
                                            text ? text : ""))
                    : extract_cubin(prog, out, log);
    if (rc == 0 && log) *log = text, text = NULL;
    free(text);
    free(arch_opt);
    free(argv);
    nv.DestroyProgram(&prog);
    return rc;
}

/* Source first, so that a cubin in the cache always has its source beside it.
 * A cache that cannot be written only costs a recompile next time. */
static void store_cubin(const CssmBinary *bin, const char *src)
{
    if (cssm_cache_write(bin->key, "cu", src, strlen(src), NULL, 0) == 0)
        cssm_cache_write(bin->key, "cubin", bin->data, bin->size, NULL, 0);
}

int cssm_nvrtc_compile(const char *src, const char *name, const char *arch,
                       const char *const *opts, int nopts, CssmBinary *out, char **log)
{
    memset(out, 0, sizeof *out);
    if (log) *log = NULL;
    if (!load_nvrtc()) return fail_log(log, xstrdup(lib.error));
    if (check_arch(arch, name, log) < 0) return -1;
    out->name = xstrdup(name);
    cubin_key(src, name, arch, opts, nopts, out->key);
    if (read_cached_cubin(out)) {
        cssm_counter_add(CSSM_CTR_CACHE_HITS, 1);
        return 0;
    }
    if (run_nvrtc(src, arch, opts, nopts, out, log) < 0) {
        cssm_binary_free(out);
        return -1;
    }
    store_cubin(out, src);
    return 0;
}

void cssm_binary_free(CssmBinary *b)
{
    free(b->data);
    free(b->name);
    memset(b, 0, sizeof *b);
}
