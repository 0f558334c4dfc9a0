/* cuda.c: the CUDA driver API, loaded with dlopen, and the loader that
 * nvrtc.c and cufft.c share.
 *
 * Assumes nothing about the machine: libcuda.so.1 is looked up on first use,
 * and every entry point below reports a missing driver, a missing device or a
 * CUDA error as a message in cssm_cuda_error() ("cuda: what failed:
 * CUDA_ERROR_NAME (description)") rather than aborting. The CUDA headers are
 * not used: the few types and enum values needed are restated here, with
 * their cuda.h names, so the runtime builds where no toolkit is installed.
 *
 * One device per process, through its primary context, because that is the
 * context the CUDA runtime inside cuFFT uses; sharing it is what lets our
 * kernels and cuFFT's work on the same memory. All work goes to the legacy
 * default stream, so kernels and FFTs run in the order they were issued. */
#define _GNU_SOURCE
#include "jit.h"
#include "base.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- loading the CUDA libraries --------------------------------------- */

static bool is_not_found(const char *dlerr)
{
    return dlerr && strstr(dlerr, "No such file");
}

/* The loader's own path first (ldconfig, LD_LIBRARY_PATH), then the two
 * places a toolkit usually lives, since its lib64 is often not registered. */
static void *open_in_dirs(const char *name, char *other_err, size_t n)
{
    const char *home = getenv("CUDA_HOME");
    const char *dirs[] = {NULL, home && home[0] ? home : NULL, "/usr/local/cuda"};
    for (size_t d = 0; d < COUNT_OF(dirs); d++) {
        if (d > 0 && !dirs[d]) continue;
        char *path = d == 0 ? xstrdup(name) : xprintf("%s/lib64/%s", dirs[d], name);
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        const char *err = lib ? NULL : dlerror();
        if (!lib && !is_not_found(err) && !other_err[0]) snprintf(other_err, n, "%s", err);
        free(path);
        if (lib) return lib;
    }
    return NULL;
}

void *cssm_dl_open_first(const char *const *names, const char *hint, char *why, size_t n)
{
    char other_err[512] = "", tried[512] = "";
    for (int i = 0; names[i]; i++) {
        void *lib = open_in_dirs(names[i], other_err, sizeof other_err);
        if (lib) return lib;
        size_t len = strlen(tried);
        snprintf(tried + len, sizeof tried - len, "%s%s", i ? ", " : "", names[i]);
    }
    if (other_err[0])
        snprintf(why, n, "%s could not be loaded (%s): %s", names[0], hint, other_err);
    else snprintf(why, n, "%s not found (%s; looked for %s in the loader path, "
                  "$CUDA_HOME/lib64 and /usr/local/cuda/lib64)", names[0], hint, tried);
    return NULL;
}

int cssm_dl_bind(void *lib, const char *libname, const CssmDlSym *syms, int nsyms,
                 char *why, size_t n)
{
    for (int i = 0; i < nsyms; i++) {
        *syms[i].slot = dlsym(lib, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(why, n, "%s lacks %s (too old?)", libname, syms[i].name);
            return -1;
        }
    }
    return 0;
}

/* ---- errors ------------------------------------------------------------ */

static _Thread_local char last_error[2048];
static _Thread_local char last_kernel[128];

const char *cssm_cuda_error(void) { return last_error; }

int cssm_cuda_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the driver's entry points ---------------------------------------- */

/* cuda.h's types, restated. */
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
enum {
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
    CUDA_ERROR_STUB_LIBRARY = 34,
};
/* Without opting in, a block gets at most this much dynamic shared memory. */
#define DEFAULT_SHARED_LIMIT (48 * 1024)

static struct {
    CUresult (*Init)(unsigned flags);
    CUresult (*DriverGetVersion)(int *version);
    CUresult (*DeviceGetCount)(int *count);
    CUresult (*DeviceGet)(CUdevice *dev, int ordinal);
    CUresult (*DeviceGetName)(char *name, int len, CUdevice dev);
    CUresult (*DeviceGetAttribute)(int *value, int attrib, CUdevice dev);
    CUresult (*DeviceTotalMem)(size_t *bytes, CUdevice dev);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext *ctx, CUdevice dev);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice dev);
    CUresult (*CtxSetCurrent)(CUcontext ctx);
    CUresult (*CtxSynchronize)(void);
    CUresult (*ModuleLoadData)(CUmodule *mod, const void *image);
    CUresult (*ModuleUnload)(CUmodule mod);
    CUresult (*ModuleGetFunction)(CUfunction *fn, CUmodule mod, const char *name);
    CUresult (*FuncSetAttribute)(CUfunction fn, int attrib, int value);
    CUresult (*LaunchKernel)(CUfunction fn, unsigned gx, unsigned gy, unsigned gz,
                             unsigned bx, unsigned by, unsigned bz, unsigned shared,
                             CUstream stream, void **params, void **extra);
    CUresult (*MemAlloc)(CssmDevPtr *p, size_t bytes);
    CUresult (*MemFree)(CssmDevPtr p);
    CUresult (*MemcpyHtoD)(CssmDevPtr dst, const void *src, size_t bytes);
    CUresult (*MemcpyDtoH)(void *dst, CssmDevPtr src, size_t bytes);
    CUresult (*MemcpyDtoD)(CssmDevPtr dst, CssmDevPtr src, size_t bytes);
    CUresult (*MemsetD8)(CssmDevPtr dst, unsigned char value, size_t count);
    CUresult (*MemGetInfo)(size_t *free_bytes, size_t *total_bytes);
    CUresult (*GetErrorName)(CUresult r, const char **name);
    CUresult (*GetErrorString)(CUresult r, const char **desc);
} drv;

/* The _v2 names are what cuda.h's macros select for 64-bit device pointers. */
static const CssmDlSym driver_syms[] = {
    {"cuInit", (void **)&drv.Init},
    {"cuDriverGetVersion", (void **)&drv.DriverGetVersion},
    {"cuDeviceGetCount", (void **)&drv.DeviceGetCount},
    {"cuDeviceGet", (void **)&drv.DeviceGet},
    {"cuDeviceGetName", (void **)&drv.DeviceGetName},
    {"cuDeviceGetAttribute", (void **)&drv.DeviceGetAttribute},
    {"cuDeviceTotalMem_v2", (void **)&drv.DeviceTotalMem},
    {"cuDevicePrimaryCtxRetain", (void **)&drv.DevicePrimaryCtxRetain},
    {"cuDevicePrimaryCtxRelease_v2", (void **)&drv.DevicePrimaryCtxRelease},
    {"cuCtxSetCurrent", (void **)&drv.CtxSetCurrent},
    {"cuCtxSynchronize", (void **)&drv.CtxSynchronize},
    {"cuModuleLoadData", (void **)&drv.ModuleLoadData},
    {"cuModuleUnload", (void **)&drv.ModuleUnload},
    {"cuModuleGetFunction", (void **)&drv.ModuleGetFunction},
    {"cuFuncSetAttribute", (void **)&drv.FuncSetAttribute},
    {"cuLaunchKernel", (void **)&drv.LaunchKernel},
    {"cuMemAlloc_v2", (void **)&drv.MemAlloc},
    {"cuMemFree_v2", (void **)&drv.MemFree},
    {"cuMemcpyHtoD_v2", (void **)&drv.MemcpyHtoD},
    {"cuMemcpyDtoH_v2", (void **)&drv.MemcpyDtoH},
    {"cuMemcpyDtoD_v2", (void **)&drv.MemcpyDtoD},
    {"cuMemsetD8_v2", (void **)&drv.MemsetD8},
    {"cuMemGetInfo_v2", (void **)&drv.MemGetInfo},
    {"cuGetErrorName", (void **)&drv.GetErrorName},
    {"cuGetErrorString", (void **)&drv.GetErrorString},
};

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;
static bool driver_loaded;
static char driver_error[1024];

static void load_driver_once(void)
{
    static const char *const names[] = {"libcuda.so.1", "libcuda.so", NULL};
    char why[900];
    void *lib = cssm_dl_open_first(names, "no NVIDIA driver", why, sizeof why);
    if (!lib) {
        snprintf(driver_error, sizeof driver_error, "cuda: %s", why);
        return;
    }
    if (cssm_dl_bind(lib, "libcuda", driver_syms, (int)COUNT_OF(driver_syms), why,
                     sizeof why) < 0) {
        snprintf(driver_error, sizeof driver_error, "cuda: %s", why);
        return;
    }
    driver_loaded = true;
}

static int load_driver(void)
{
    pthread_once(&driver_once, load_driver_once);
    return driver_loaded ? 0 : cssm_cuda_fail("%s", driver_error);
}

/* 0 for CUDA_SUCCESS; otherwise records "cuda: <what>: NAME (description)". */
static int cu_check(CUresult r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cu_check(CUresult r, const char *fmt, ...)
{
    if (r == 0) return 0;
    const char *name = NULL, *desc = NULL;
    char code[32];
    snprintf(code, sizeof code, "CUDA error %d", r);
    if (drv.GetErrorName(r, &name) != 0 || !name) name = code;
    if (drv.GetErrorString(r, &desc) != 0 || !desc) desc = "no description";
    /* The toolkit's stub libcuda answers everything with this code and
     * cannot describe it; it is usually on LD_LIBRARY_PATH by mistake. */
    if (r == CUDA_ERROR_STUB_LIBRARY) {
        name = "CUDA_ERROR_STUB_LIBRARY";
        desc = "the libcuda found is the toolkit's stub, not a driver";
    }
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cssm_cuda_fail("cuda: %s: %s (%s)", what, name, desc);
}

/* ---- device and context ------------------------------------------------ */

static struct {
    pthread_mutex_t lock;
    bool ready;
    int ordinal;
    CUdevice dev;
    CUcontext ctx;
} device = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool cssm_cuda_ready(void) { return device.ready; }

static int count_devices(int *count)
{
    *count = 0;
    if (load_driver() < 0 || cu_check(drv.Init(0), "cuInit failed") < 0) return -1;
    return cu_check(drv.DeviceGetCount(count), "cuDeviceGetCount failed");
}

int cssm_cuda_probe(char *why, size_t n)
{
    int count;
    if (count_devices(&count) < 0) {
        snprintf(why, n, "%s", last_error);
        return 0;
    }
    if (count == 0) {
        snprintf(why, n, "cuda: the driver sees no CUDA device");
        return 0;
    }
    return 1;
}

static int open_device(int ordinal)
{
    int count;
    if (count_devices(&count) < 0) return -1;
    if (ordinal < 0 || ordinal >= count)
        return cssm_cuda_fail("cuda: device %d requested, but %d device%s present", ordinal,
                              count, count == 1 ? " is" : "s are");
    if (cu_check(drv.DeviceGet(&device.dev, ordinal), "cuDeviceGet(%d) failed", ordinal) < 0 ||
        cu_check(drv.DevicePrimaryCtxRetain(&device.ctx, device.dev),
                 "creating a context on device %d failed", ordinal) < 0)
        return -1;
    device.ordinal = ordinal;
    device.ready = true;
    return 0;
}

int cssm_cuda_init(int ordinal)
{
    pthread_mutex_lock(&device.lock);
    int rc = 0;
    if (!device.ready) rc = open_device(ordinal);
    else if (ordinal != device.ordinal)
        rc = cssm_cuda_fail("cuda: device %d requested, but this process already uses device %d",
                            ordinal, device.ordinal);
    if (rc == 0) rc = cu_check(drv.CtxSetCurrent(device.ctx), "making the context current failed");
    pthread_mutex_unlock(&device.lock);
    return rc;
}

static int need_device(void)
{
    return device.ready ? 0 : cssm_cuda_fail("cuda: no device opened (call cssm_cuda_init first)");
}

static int device_attribute(int attrib, int *value)
{
    return cu_check(drv.DeviceGetAttribute(value, attrib, device.dev),
                    "cuDeviceGetAttribute(%d) failed", attrib);
}

int cssm_cuda_device_info(CssmDeviceInfo *info)
{
    memset(info, 0, sizeof *info);
    if (need_device() < 0) return -1;
    info->ordinal = device.ordinal;
    if (cu_check(drv.DeviceGetName(info->name, (int)sizeof info->name, device.dev),
                 "cuDeviceGetName failed") < 0 ||
        device_attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &info->major) < 0 ||
        device_attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &info->minor) < 0 ||
        device_attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &info->sm_count) < 0 ||
        device_attribute(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                         &info->max_shared_optin) < 0 ||
        cu_check(drv.DeviceTotalMem(&info->total_mem, device.dev), "cuDeviceTotalMem failed") < 0 ||
        cu_check(drv.DriverGetVersion(&info->driver_version), "cuDriverGetVersion failed") < 0)
        return -1;
    snprintf(info->arch, sizeof info->arch, "sm_%d%d", info->major, info->minor);
    return 0;
}

void cssm_cuda_release(void)
{
    pthread_mutex_lock(&device.lock);
    if (device.ready) drv.DevicePrimaryCtxRelease(device.dev);
    device.ready = false;
    pthread_mutex_unlock(&device.lock);
}

/* ---- modules and launches --------------------------------------------- */

struct CssmKernel {
    CUfunction fn;
    char *name;
    unsigned shared_optin;   /* dynamic shared memory already opted into */
};

struct CssmModule {
    CUmodule mod;
    char *name;
    Vec(CssmKernel *) kernels;
};

int cssm_cuda_module_load(const CssmBinary *bin, CssmModule **out)
{
    *out = NULL;
    CUmodule mod;
    if (need_device() < 0 ||
        cu_check(drv.ModuleLoadData(&mod, bin->data), "loading module '%s' failed",
                 bin->name ? bin->name : "?") < 0)
        return -1;
    CssmModule *m = xcalloc(1, sizeof *m);
    m->mod = mod;
    m->name = xstrdup(bin->name ? bin->name : "?");
    *out = m;
    return 0;
}

void cssm_cuda_module_unload(CssmModule *m)
{
    if (!m) return;
    drv.ModuleUnload(m->mod);
    for (int i = 0; i < m->kernels.len; i++) {
        free(m->kernels.data[i]->name);
        free(m->kernels.data[i]);
    }
    vec_free(&m->kernels);
    free(m->name);
    free(m);
}

int cssm_cuda_kernel(CssmModule *m, const char *name, CssmKernel **out)
{
    *out = NULL;
    for (int i = 0; i < m->kernels.len; i++)
        if (strcmp(m->kernels.data[i]->name, name) == 0) {
            *out = m->kernels.data[i];
            return 0;
        }
    CUfunction fn;
    if (cu_check(drv.ModuleGetFunction(&fn, m->mod, name),
                 "kernel '%s' not found in module '%s' (is it declared extern \"C\"?)", name,
                 m->name) < 0)
        return -1;
    CssmKernel *k = xcalloc(1, sizeof *k);
    k->fn = fn;
    k->name = xstrdup(name);
    vec_push(&m->kernels, k);
    *out = k;
    return 0;
}

static int opt_into_shared(CssmKernel *k, unsigned bytes)
{
    if (bytes <= DEFAULT_SHARED_LIMIT || bytes <= k->shared_optin) return 0;
    if (cu_check(drv.FuncSetAttribute(k->fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                      (int)bytes),
                 "kernel '%s' cannot have %u bytes of dynamic shared memory", k->name, bytes) < 0)
        return -1;
    k->shared_optin = bytes;
    return 0;
}

int cssm_cuda_launch(CssmKernel *k, CssmDim3 grid, CssmDim3 block, unsigned shared_bytes,
                     void **args)
{
    if (opt_into_shared(k, shared_bytes) < 0) return -1;
    snprintf(last_kernel, sizeof last_kernel, "%s", k->name);
    if (cu_check(drv.LaunchKernel(k->fn, grid.x, grid.y, grid.z, block.x, block.y, block.z,
                                  shared_bytes, NULL, args, NULL),
                 "launching kernel '%s' (grid %ux%ux%u, block %ux%ux%u, %u shared bytes) failed",
                 k->name, grid.x, grid.y, grid.z, block.x, block.y, block.z, shared_bytes) < 0)
        return -1;
    cssm_counter_add(CSSM_CTR_KERNEL_LAUNCHES, 1);
    return 0;
}

int cssm_cuda_sync(void)
{
    if (need_device() < 0) return -1;
    return cu_check(drv.CtxSynchronize(), "synchronizing failed (last kernel launched: %s)",
                    last_kernel[0] ? last_kernel : "none");
}

/* ---- memory ------------------------------------------------------------ */

int cssm_cuda_alloc(size_t bytes, CssmDevPtr *out)
{
    *out = 0;
    if (need_device() < 0 ||
        cu_check(drv.MemAlloc(out, bytes), "allocating %zu device bytes failed", bytes) < 0)
        return -1;
    cssm_counter_add(CSSM_CTR_BYTES_ALLOCATED, bytes);
    return 0;
}

int cssm_cuda_free(CssmDevPtr p)
{
    if (!p) return 0;
    return need_device() < 0 ? -1 : cu_check(drv.MemFree(p), "freeing device memory failed");
}

int cssm_cuda_upload(CssmDevPtr dst, const void *src, size_t bytes)
{
    if (need_device() < 0) return -1;
    return cu_check(drv.MemcpyHtoD(dst, src, bytes), "copying %zu bytes to the device failed",
                    bytes);
}

int cssm_cuda_download(void *dst, CssmDevPtr src, size_t bytes)
{
    if (need_device() < 0) return -1;
    return cu_check(drv.MemcpyDtoH(dst, src, bytes), "copying %zu bytes from the device failed",
                    bytes);
}

int cssm_cuda_copy(CssmDevPtr dst, CssmDevPtr src, size_t bytes)
{
    if (need_device() < 0) return -1;
    return cu_check(drv.MemcpyDtoD(dst, src, bytes),
                    "copying %zu bytes within the device failed", bytes);
}

int cssm_cuda_memset(CssmDevPtr dst, unsigned char byte, size_t bytes)
{
    if (need_device() < 0) return -1;
    return cu_check(drv.MemsetD8(dst, byte, bytes), "setting %zu device bytes failed", bytes);
}

int cssm_cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    if (need_device() < 0) return -1;
    return cu_check(drv.MemGetInfo(free_bytes, total_bytes), "cuMemGetInfo failed");
}
