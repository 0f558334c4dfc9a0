/* cudaexec.c: `--device cuda`, the fused kernels as CUDA on the GPU.
 *
 * Opening a graph lowers it (compiler/kernel.h), renders the kernels as one
 * CUDA unit, compiles it with NVRTC to a cubin for the device's compute
 * capability (runtime/nvrtc.c: cached on disk, keyed by source, NVRTC
 * version, architecture, options and cssmc version), loads the module, looks
 * up every kernel, allocates the arena in device memory and obtains a cuFFT
 * plan for every FFT step (runtime/cufft.c creates each layout's plan once
 * per process). A run launches the steps in order on the default stream,
 * which cuFFT shares, and synchronizes once at the end; transfers in and out
 * are synchronous copies.
 *
 * The device refuses graphs with ops it has no kernel for (the cpu device
 * falls back to the reference executor instead): the message names the node
 * and its .cssm line. Every error names the kernel (and, for a compile
 * error, carries NVRTC's log) or the CUDA / cuFFT error. */
#include "exec.h"
#include "jit.h"
#include "kernel.h"

#include <stdio.h>
#include <string.h>

typedef struct CudaExec {
    Graph *g;
    Lowered *p;
    CssmModule *module;
    CssmKernel **kernels;
    CssmFftPlan **plans;      /* per step; used by STEP_FFT */
    CssmDevPtr arena;
} CudaExec;

static void cuda_close(void *dev)
{
    CudaExec *c = dev;
    if (!c) return;
    if (c->arena) cssm_cuda_free(c->arena);
    if (c->module) cssm_cuda_module_unload(c->module);
    free(c->kernels);
    free(c->plans);
    program_free(c->p);
    free(c);
}

static bool refuse_fallbacks(const Lowered *p, char *err, size_t errlen)
{
    for (int i = 0; i < p->steps.len; i++) {
        if (p->steps.data[i].kind != STEP_FALLBACK) continue;
        const Node *n = node_at(p->g, p->steps.data[i].node);
        char where[512] = "";
        if (n->loc.file) snprintf(where, sizeof where, " (%s:%d:%d)", n->loc.file->path, n->loc.line, n->loc.col);
        snprintf(err, errlen, "cuda: no CUDA kernel for %%%d = %s%s; run it with --device cpu", p->steps.data[i].node,
                 op_info[n->op].spelling, where);
        return false;
    }
    return true;
}

static bool compile_and_load(CudaExec *c, const char *arch, char *err, size_t errlen)
{
    int *lines = xcalloc((size_t)c->p->kernels.len + 1, sizeof *lines);
    char *src = render_cuda(c->p, lines), *log = NULL;
    CssmBinary bin;
    int rc = cssm_nvrtc_compile(src, "cssmc_kernels", arch, cuda_nvrtc_options, cuda_nvrtc_noptions, &bin, &log);
    if (rc < 0) {
        char *msg = cuda_log_with_kernel(c->p, lines, log);
        snprintf(err, errlen, "%s", msg);
        free(msg);
    } else {
        if (cssm_cuda_module_load(&bin, &c->module) < 0) {
            snprintf(err, errlen, "%s", cssm_cuda_error());
            rc = -1;
        }
        cssm_binary_free(&bin);
    }
    free(log);
    free(src);
    free(lines);
    return rc == 0;
}

static bool find_kernels(CudaExec *c, char *err, size_t errlen)
{
    c->kernels = xcalloc((size_t)c->p->kernels.len + 1, sizeof *c->kernels);
    for (int i = 0; i < c->p->kernels.len; i++)
        if (cssm_cuda_kernel(c->module, c->p->kernels.data[i].name, &c->kernels[i]) < 0) {
            snprintf(err, errlen, "%s", cssm_cuda_error());
            return false;
        }
    return true;
}

static bool plan_ffts(CudaExec *c, char *err, size_t errlen)
{
    c->plans = xcalloc((size_t)c->p->steps.len + 1, sizeof *c->plans);
    for (int i = 0; i < c->p->steps.len; i++) {
        const Step *st = &c->p->steps.data[i];
        if (st->kind != STEP_FFT || st->fft.outer * st->fft.inner == 0) continue;
        const FftStep *s = &st->fft;
        CssmFftLayout l = {(CssmFftKind)s->kind, s->rank, {s->n[0], s->n[1]}, s->outer, s->inner};
        if (cssm_cufft_plan(&l, &c->plans[i]) < 0) {
            snprintf(err, errlen, "%s (the FFT of node %%%d)", cssm_cuda_error(), st->node);
            return false;
        }
    }
    return true;
}

static bool allocate(CudaExec *c, char *err, size_t errlen)
{
    size_t bytes = (size_t)(c->p->arena_bytes ? c->p->arena_bytes : BUFFER_ALIGN);
    if (cssm_cuda_alloc(bytes, &c->arena) < 0 || cssm_cuda_memset(c->arena, 0, bytes) < 0) {
        snprintf(err, errlen, "%s", cssm_cuda_error());
        return false;
    }
    return true;
}

static void *cuda_open(Graph *g, bool fuse, char *err, size_t errlen)
{
    char why[1024];
    if (cssm_cuda_probe(why, sizeof why) != 1) {
        snprintf(err, errlen, "%s", why);
        return NULL;
    }
    CssmDeviceInfo info;
    if (cssm_cuda_init(0) < 0 || cssm_cuda_device_info(&info) < 0) {
        snprintf(err, errlen, "%s", cssm_cuda_error());
        return NULL;
    }
    CudaExec *c = xcalloc(1, sizeof *c);
    c->g = g;
    c->p = lower(g, &(LowerOptions){.fuse = fuse});
    if (!refuse_fallbacks(c->p, err, errlen) || !compile_and_load(c, info.arch, err, errlen) ||
        !find_kernels(c, err, errlen) || !plan_ffts(c, err, errlen) || !allocate(c, err, errlen)) {
        cuda_close(c);
        return NULL;
    }
    return c;
}

static void run_step(CudaExec *c, int i)
{
    const Step *st = &c->p->steps.data[i];
    CssmDevPtr base = c->arena;
    if (st->kind == STEP_KERNEL) {
        const Kernel *k = &c->p->kernels.data[st->kernel];
        if (k->work == 0) return;
        void *args[] = {&base};
        CssmDim3 grid = {(unsigned)k->grid, 1, 1}, block = {(unsigned)k->block, 1, 1};
        if (cssm_cuda_launch(c->kernels[st->kernel], grid, block, 0, args) < 0)
            die("cuda: kernel %s: %s", k->name, cssm_cuda_error());
    } else if (c->plans[i]) {
        const FftStep *s = &st->fft;
        CssmDevPtr in = base + (CssmDevPtr)c->p->bufs.data[s->in_buf].offset;
        CssmDevPtr out = base + (CssmDevPtr)c->p->bufs.data[s->out_buf].offset;
        if (cssm_cufft_exec(c->plans[i], in, out) < 0) die("cuda: the FFT of node %%%d: %s", st->node, cssm_cuda_error());
    }
}

/* Timed runs synchronize after every step, so each step's time is its own
 * (launch and all); an untimed run synchronizes once, at the end. */
static void cuda_run(void *dev, double *step_ms)
{
    CudaExec *c = dev;
    for (int i = 0; i < c->p->steps.len; i++) {
        double t0 = step_ms ? 1e3 * monotonic_seconds() : 0;
        run_step(c, i);
        if (!step_ms) continue;
        if (cssm_cuda_sync() < 0) die("%s", cssm_cuda_error());
        step_ms[i] = 1e3 * monotonic_seconds() - t0;
    }
    if (cssm_cuda_sync() < 0) die("%s", cssm_cuda_error());
}

static size_t node_bytes(const Node *n)
{
    return sizeof(float) * (size_t)(shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1));
}

static void cuda_set(void *dev, int node, const float *values)
{
    CudaExec *c = dev;
    const Node *n = node_at(c->g, node);
    if (n->op != IR_INPUT && n->op != IR_PARAM) ice("exec_set: %%%d = %s is not a leaf", node, op_info[n->op].spelling);
    CssmDevPtr at = c->arena + (CssmDevPtr)c->p->bufs.data[c->p->node_buf[node]].offset;
    if (cssm_cuda_upload(at, values, node_bytes(n)) < 0) die("%s", cssm_cuda_error());
}

static void cuda_get(void *dev, int node, float *out)
{
    CudaExec *c = dev;
    int b = c->p->node_buf[node];
    if (b < 0 || !c->p->bufs.data[b].keep) ice("exec_get: %%%d is not a readable node", node);
    CssmDevPtr at = c->arena + (CssmDevPtr)c->p->bufs.data[b].offset;
    if (cssm_cuda_download(out, at, node_bytes(node_at(c->g, node))) < 0) die("%s", cssm_cuda_error());
}

static const Lowered *cuda_program(void *dev) { return ((CudaExec *)dev)->p; }

const ExecOps cuda_exec_ops = {cuda_open, cuda_close, cuda_set, cuda_run, cuda_get, cuda_program};
