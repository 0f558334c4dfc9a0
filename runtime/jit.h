/* jit.h: the runtime's JIT layer, turning rendered source into running code.
 *
 * The compiler renders every kernel twice: as CUDA C and as plain C. This
 * layer compiles the first with NVRTC to a cubin and runs it through the CUDA
 * driver API (with cuFFT for the FFT barriers), and compiles the second with
 * the host C compiler into a shared object that it dlopens. Both compilers go
 * through an on-disk cache, so a process that meets source it has seen before
 * (in this run or an earlier one) compiles nothing.
 *
 * Nothing here links against CUDA: libnvrtc, libcuda and libcufft are loaded
 * with dlopen on first use, so one binary runs with or without a GPU, and the
 * functions report which library or device is missing instead of failing to
 * start. The API, in the order of the files that implement it:
 *
 *   counters.c  cssm_counter_*: global counts for --stats
 *   cache.c     cssm_hash_*, cssm_cache_*: SHA-256 keys and atomic cache files
 *   nvrtc.c     cssm_nvrtc_*: CUDA C -> cubin (cached)
 *   cuda.c      cssm_cuda_*: device, modules, launches, memory; the dlopen loader
 *   cufft.c     cssm_cufft_*: batched 1-D/2-D FFT plans, created once per layout
 *   hostcc.c    cssm_hostcc_*: C -> shared object -> function pointers (cached)
 *
 * Conventions: functions returning int give 0 on success and -1 on failure.
 * The compilers put their message (naming the kernel, with the compiler's log)
 * in *log; the cssm_cuda_* and cssm_cufft_* calls leave theirs, with the CUDA
 * or cuFFT error name and description, in cssm_cuda_error(). Every message is
 * prefixed by its library ("nvrtc: ", "cuda: ", "cufft: ", "hostcc: "). */
#ifndef CSSM_JIT_H
#define CSSM_JIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- counters.c ------------------------------------------------------- */

#define CSSM_COUNTERS(X)                                  \
    X(CSSM_CTR_KERNEL_LAUNCHES, "kernels launched")       \
    X(CSSM_CTR_NVRTC_COMPILES, "nvrtc compiles")          \
    X(CSSM_CTR_HOST_COMPILES, "host compiles")            \
    X(CSSM_CTR_CACHE_HITS, "kernel cache hits")           \
    X(CSSM_CTR_FFT_PLANS, "fft plans created")            \
    X(CSSM_CTR_FFT_EXECS, "fft executions")               \
    X(CSSM_CTR_BYTES_ALLOCATED, "device bytes allocated")

typedef enum CssmCounter {
#define CSSM_COUNTER_ENUM(id, label) id,
    CSSM_COUNTERS(CSSM_COUNTER_ENUM)
#undef CSSM_COUNTER_ENUM
    CSSM_CTR_COUNT
} CssmCounter;

/* Thread-safe; counts from process start (or the last reset). */
void cssm_counter_add(CssmCounter c, uint64_t n);
uint64_t cssm_counter_get(CssmCounter c);
void cssm_counters_reset(void);
/* One "label  value" line per counter, aligned, for --stats. */
void cssm_counters_print(FILE *f);

/* ---- cache.c ---------------------------------------------------------- */

/* SHA-256, incremental. A cache key is the hex digest of a sequence of
 * fields; cssm_hash_field length-prefixes each one so that no two different
 * field lists hash the same bytes. */
#define CSSM_KEY_LEN 64
typedef struct CssmHash {
    uint32_t state[8];
    uint64_t total;          /* bytes hashed so far */
    unsigned char block[64];
    size_t fill;             /* bytes waiting in block */
} CssmHash;

void cssm_hash_init(CssmHash *h);
void cssm_hash_update(CssmHash *h, const void *data, size_t n);
void cssm_hash_field(CssmHash *h, const char *s);
void cssm_hash_final(CssmHash *h, unsigned char digest[32]);
void cssm_hash_hex(CssmHash *h, char hex[CSSM_KEY_LEN + 1]);
/* Starts a cache key: init, then the artifact kind ("cubin", "so") and the
 * cssmc version, so every key of every kind changes with the version. */
void cssm_cache_key_begin(CssmHash *h, const char *kind);

/* The cache directory, $XDG_CACHE_HOME/cssmc or else ~/.cache/cssmc, created
 * (mode 0700: it holds code this process will execute) if missing. Read from
 * the environment on every call. NULL, with the reason in why, if unusable.
 * Caller frees. */
char *cssm_cache_dir(char *why, size_t n);
/* DIR/KEY.EXT, or NULL if there is no usable directory. Caller frees. */
char *cssm_cache_path(const char *key, const char *ext);
/* Whole file DIR/KEY.EXT into a fresh buffer. false when absent or empty. */
bool cssm_cache_read(const char *key, const char *ext, void **data, size_t *size);
/* Writes DIR/KEY.EXT atomically: a unique temp file in DIR, fsync, rename,
 * so concurrent readers see the old file, no file, or the whole new one. */
int cssm_cache_write(const char *key, const char *ext, const void *data, size_t size,
                     char *why, size_t n);
/* For artifacts a tool writes itself (a linked .so): a fresh temp path in the
 * cache directory, then cssm_cache_install to fsync and rename it into
 * DIR/KEY.EXT. cssm_cache_temp returns NULL, with why, without a directory. */
char *cssm_cache_temp(const char *key, const char *ext, char *why, size_t n);
int cssm_cache_install(const char *tmp, const char *key, const char *ext,
                       char *why, size_t n);

/* ---- nvrtc.c ---------------------------------------------------------- */

/* A compiled device image: a cubin (ELF) for one architecture. */
typedef struct CssmBinary {
    void *data;
    size_t size;
    char *name;                   /* program/kernel name, for messages */
    char key[CSSM_KEY_LEN + 1];   /* its cache key */
    bool cached;                  /* read from the disk cache, not compiled */
} CssmBinary;

/* 1 if libnvrtc loads (no GPU or driver needed), else 0 and the reason. */
int cssm_nvrtc_probe(char *why, size_t n);
/* NVRTC's version, e.g. 13 and 0. -1 if libnvrtc is missing. */
int cssm_nvrtc_version(int *major, int *minor);
/* Compiles src (CUDA C++; kernels declared extern "C" __global__) to a cubin
 * for arch ("sm_80", "sm_90", "sm_90a"), with opts passed on to NVRTC after
 * --gpu-architecture. Looks in the disk cache first, keyed by (source, name,
 * arch, options, NVRTC version, cssmc version); stores the cubin there with
 * the source beside it as KEY.cu. *log (if log is not NULL) gets NVRTC's log
 * on success (NULL when empty) and, on failure, a message naming the kernel
 * and arch followed by the log, in which errors read "NAME.cu(LINE): error".
 * Caller frees *log and, with cssm_binary_free, *out. */
int cssm_nvrtc_compile(const char *src, const char *name, const char *arch,
                       const char *const *opts, int nopts, CssmBinary *out, char **log);
void cssm_binary_free(CssmBinary *b);

/* ---- cuda.c ----------------------------------------------------------- */

typedef uint64_t CssmDevPtr;             /* a device address (CUdeviceptr) */
typedef struct CssmModule CssmModule;    /* a loaded cubin and its kernels */
typedef struct CssmKernel CssmKernel;    /* owned by its module */
typedef struct CssmDim3 { unsigned x, y, z; } CssmDim3;

typedef struct CssmDeviceInfo {
    int ordinal;
    char name[256];
    int major, minor;        /* compute capability */
    char arch[16];           /* "sm_<major><minor>", what NVRTC should target */
    int sm_count;
    int max_shared_optin;    /* bytes of shared memory a block may opt into */
    size_t total_mem;
    int driver_version;      /* e.g. 13000 */
} CssmDeviceInfo;

/* The message of this thread's last failed cssm_cuda_* / cssm_cufft_* call. */
const char *cssm_cuda_error(void);
/* 1 if libcuda loads, initializes and sees at least one device; else 0 with
 * the reason, e.g. "cuda: libcuda.so.1 not found (no NVIDIA driver)". Cheap
 * enough to decide the default device; creates no context. */
int cssm_cuda_probe(char *why, size_t n);
/* Makes device `ordinal`'s primary context (the one cuFFT and the CUDA runtime
 * use) current in the calling thread. Idempotent; every thread that calls the
 * functions below calls this first. Only one device per process. */
int cssm_cuda_init(int ordinal);
int cssm_cuda_device_info(CssmDeviceInfo *info);
/* Releases the primary context; destroy FFT plans (cssm_cufft_release_all)
 * and free device memory before. */
void cssm_cuda_release(void);

int cssm_cuda_module_load(const CssmBinary *bin, CssmModule **out);
void cssm_cuda_module_unload(CssmModule *m);
/* Finds an extern "C" kernel by name; the pointer lives as long as m. */
int cssm_cuda_kernel(CssmModule *m, const char *name, CssmKernel **out);
/* Launches on the default stream (the one cuFFT uses too, so launches and
 * FFTs are ordered). args[i] points at the i-th kernel parameter's value.
 * Dynamic shared memory above 48 KiB is opted into automatically. */
int cssm_cuda_launch(CssmKernel *k, CssmDim3 grid, CssmDim3 block, unsigned shared_bytes,
                     void **args);
/* Waits for all queued work; an asynchronous fault is reported here, naming
 * the last kernel launched. */
int cssm_cuda_sync(void);

int cssm_cuda_alloc(size_t bytes, CssmDevPtr *out);
int cssm_cuda_free(CssmDevPtr p);
int cssm_cuda_upload(CssmDevPtr dst, const void *src, size_t bytes);
int cssm_cuda_download(void *dst, CssmDevPtr src, size_t bytes);
int cssm_cuda_copy(CssmDevPtr dst, CssmDevPtr src, size_t bytes);
int cssm_cuda_memset(CssmDevPtr dst, unsigned char byte, size_t bytes);
int cssm_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);

/* For the runtime's own files: load the first of `names` (NULL-terminated)
 * that dlopen finds, searching the loader's path, then $CUDA_HOME/lib64, then
 * /usr/local/cuda/lib64. NULL when none loads, with why = "NAME not found
 * (HINT; looked for ...)". */
void *cssm_dl_open_first(const char *const *names, const char *hint, char *why, size_t n);
/* Resolves each symbol into its slot; -1, naming the first missing one. */
typedef struct CssmDlSym { const char *name; void **slot; } CssmDlSym;
int cssm_dl_bind(void *lib, const char *libname, const CssmDlSym *syms, int nsyms,
                 char *why, size_t n);
/* Records a cssm_cuda_error() message (printf-style). Always returns -1. */
int cssm_cuda_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool cssm_cuda_ready(void);   /* cssm_cuda_init has succeeded */

/* ---- cufft.c ---------------------------------------------------------- */

typedef enum CssmFftKind {
    CSSM_FFT_R2C,            /* f32 [.., n] -> c64 [.., n/2+1], forward */
    CSSM_FFT_C2R,            /* c64 [.., n/2+1] -> f32 [.., n], inverse */
    CSSM_FFT_C2C_FORWARD,    /* exponent sign -1 */
    CSSM_FFT_C2C_INVERSE,    /* exponent sign +1 */
} CssmFftKind;

/* A batch of transforms over a row-major tensor viewed as
 *     rank 2: [outer][n0][n1][inner]      rank 1: [outer][n0][inner]
 * on both sides, except that the last transformed axis of the complex side
 * of R2C/C2R holds n/2+1 bins. The transform runs over the n axes for every
 * (outer, inner) pair: a channels-last activation [B,T,H,W,C] is outer = B*T,
 * n = {H, W}, inner = C; a channels-first one [B,T,C,H,W] is outer = B*T*C,
 * inner = 1. Sizes are logical (real-side) sizes. Unnormalized, as FFTW:
 * an inverse after a forward multiplies by n0*n1. */
typedef struct CssmFftLayout {
    CssmFftKind kind;
    int rank;                /* 1 or 2 */
    long long n[2];
    long long outer, inner;
} CssmFftLayout;

/* How a layout maps onto cuFFT's advanced data layout: one plan of `batch`
 * transforms over n, with embeddings, strides and distances in elements
 * (cufftPlanMany's meaning, which is also fftw_plan_many_dft's), issued
 * `loops` times with the pointers advanced by in_step / out_step elements.
 * -1 (and cssm_cuda_error) for an invalid layout. Needs no GPU. */
typedef struct CssmFftGeometry {
    int rank;
    long long n[2], inembed[2], onembed[2];
    long long istride, idist, ostride, odist, batch;
    long long loops, in_step, out_step;
} CssmFftGeometry;
int cssm_cufft_geometry(const CssmFftLayout *layout, CssmFftGeometry *g);

typedef struct CssmFftPlan CssmFftPlan;

/* The plan for a layout, created on first request and cached (keyed by the
 * cuFFT shape, type, batch, embeddings and strides it maps to); owned by the
 * cache. Needs cssm_cuda_init. */
int cssm_cufft_plan(const CssmFftLayout *layout, CssmFftPlan **out);
/* Runs the whole layout out of place on the default stream: in and out must
 * not overlap, and C2R may overwrite its input (cuFFT does for rank 2). */
int cssm_cufft_exec(CssmFftPlan *p, CssmDevPtr in, CssmDevPtr out);
/* Device bytes the plan's work area holds (cuFFT allocates it). */
size_t cssm_cufft_work_bytes(const CssmFftPlan *p);
/* Destroys every cached plan (before cssm_cuda_release). */
void cssm_cufft_release_all(void);

/* ---- hostcc.c --------------------------------------------------------- */

typedef struct CssmHostLib CssmHostLib;

/* Compiles C source to a shared object with the host compiler ($CSSMC_CC, or
 * cc) and `-O3 -march=native -fopenmp -fno-math-errno -shared -fPIC` (and
 * -lmvec where cssm_hostcc_vector_math()), and dlopens it. Cached
 * by a key over (source, name, compiler version, flags, host CPU, cssmc
 * version): DIR/KEY.so with the source as DIR/KEY.c, so a second process
 * loading the same source compiles nothing. NULL on failure, with *log naming
 * `name` and holding the compiler's output ("DIR/KEY.c:LINE:COL: error: ...").
 * On success *log holds any warnings (NULL when none). Caller frees *log. */
CssmHostLib *cssm_hostcc_load(const char *src, const char *name, char **log);
/* Whether glibc's vector math library (libmvec, x86-64, glibc 2.35 or
 * later) is linked in, so that source may declare the vector variants of
 * exp, log, log1p, pow, sin, cos and tanh (`#pragma omp declare simd`) and
 * loops calling them vectorise. */
bool cssm_hostcc_vector_math(void);
/* The address of a function or object, or NULL if the library lacks it. */
void *cssm_hostcc_sym(CssmHostLib *lib, const char *sym);
const char *cssm_hostcc_path(const CssmHostLib *lib);   /* the .so file */
/* Frees the handle. The code stays mapped (OpenMP's worker threads may still
 * sit in the runtime it loaded), so closing is cheap and reloading free. */
void cssm_hostcc_close(CssmHostLib *lib);

#endif
