/* cpu.c: `--device cpu`, the fused kernels as compiled C.
 *
 * Opening a graph lowers it (compiler/kernel.h), renders the kernels as C,
 * and has runtime/hostcc.c compile and dlopen them (cached on disk, so a
 * model seen before compiles nothing); it allocates the arena the memory
 * plan sized, and makes every FFTW plan the program needs, once, for the
 * arena's own addresses. A run then walks the steps in order: a kernel is
 * one call into the shared object (OpenMP inside), an FFT step executes its
 * plan over the batch's outer slices in parallel (FFTW's new-array execute
 * is thread-safe), and a fallback step evaluates that one node with the
 * reference executor's kernel (ref_eval_node) on arena memory. In steady
 * state a run compiles nothing and plans nothing.
 *
 * Plans are made with FFTW_ESTIMATE, which never touches the arrays and
 * chooses the same algorithm every time (results do not depend on timing).
 * A plan runs on every outer slice through the new-array interface, which
 * needs each slice aligned as the planned one is; when the slice step breaks
 * that (odd sizes), the plan is made FFTW_UNALIGNED, which costs FFTW its
 * SIMD codelets, so only those plans pay for it. */
#include "exec.h"
#include "jit.h"
#include "kernel.h"
#include "ref.h"

#include <fftw3.h>
#include <stdio.h>
#include <string.h>

typedef struct CpuFft {
    fftwf_plan plan;          /* one outer slice */
    int64_t in_step, out_step;/* floats between slices */
} CpuFft;

typedef struct CpuExec {
    Graph *g;
    Lowered *p;
    CssmHostLib *lib;
    void (*const *kernels)(char *);
    char *arena;
    CpuFft *fft;              /* per step; used by STEP_FFT */
} CpuExec;

/* ---- FFT plans ---- */

/* Element strides of one side of an FFT slice: the last transformed axis
 * holds n/2+1 bins on the complex side of a real transform. Returns the
 * slice's element count. */
static int64_t fft_side(const FftStep *s, bool half, fftwf_iodim64 *dims, bool out_side)
{
    int64_t size[2], stride = s->inner;
    for (int r = 0; r < s->rank; r++) size[r] = s->n[r];
    if (half) size[s->rank - 1] = s->n[s->rank - 1] / 2 + 1;
    for (int r = s->rank - 1; r >= 0; r--) {
        dims[r].n = s->n[r];
        if (out_side) dims[r].os = stride;
        else dims[r].is = stride;
        stride *= size[r];
    }
    return stride;
}

/* Every slice x + o * step has x's SIMD alignment iff the second one does. */
static bool slices_keep_alignment(float *x, int64_t step)
{
    return fftwf_alignment_of(x) == fftwf_alignment_of(x + step);
}

static fftwf_plan make_plan(const FftStep *s, float *in, float *out, CpuFft *f)
{
    fftwf_iodim64 dims[2], hm = {s->inner, 1, 1};
    bool r2c = s->kind == FFT_R2C, c2r = s->kind == FFT_C2R;
    int64_t in_elems = fft_side(s, c2r, dims, false), out_elems = fft_side(s, r2c, dims, true);
    f->in_step = in_elems * (r2c ? 1 : 2), f->out_step = out_elems * (c2r ? 1 : 2);
    bool aligned = s->outer == 1 || (slices_keep_alignment(in, f->in_step) && slices_keep_alignment(out, f->out_step));
    unsigned flags = FFTW_ESTIMATE | (aligned ? 0 : FFTW_UNALIGNED);
    cssm_counter_add(CSSM_CTR_FFT_PLANS, 1);
    if (r2c) return fftwf_plan_guru64_dft_r2c(s->rank, dims, 1, &hm, in, (fftwf_complex *)out, flags);
    if (c2r) return fftwf_plan_guru64_dft_c2r(s->rank, dims, 1, &hm, (fftwf_complex *)in, out, flags);
    int sign = s->kind == FFT_C2C_FORWARD ? FFTW_FORWARD : FFTW_BACKWARD;
    return fftwf_plan_guru64_dft(s->rank, dims, 1, &hm, (fftwf_complex *)in, (fftwf_complex *)out, sign, flags);
}

static bool fft_empty(const FftStep *s)
{
    return s->outer == 0 || s->inner == 0 || s->n[0] == 0 || (s->rank == 2 && s->n[1] == 0);
}

static float *buf_at(CpuExec *c, int buf) { return (float *)(c->arena + c->p->bufs.data[buf].offset); }

static bool plan_all(CpuExec *c, char *err, size_t errlen)
{
    c->fft = xcalloc((size_t)c->p->steps.len + 1, sizeof *c->fft);
    for (int i = 0; i < c->p->steps.len; i++) {
        const Step *st = &c->p->steps.data[i];
        if (st->kind != STEP_FFT || fft_empty(&st->fft)) continue;
        c->fft[i].plan = make_plan(&st->fft, buf_at(c, st->fft.in_buf), buf_at(c, st->fft.out_buf), &c->fft[i]);
        if (!c->fft[i].plan) {
            snprintf(err, errlen, "cpu: FFTW could not plan the transform of node %%%d", st->node);
            return false;
        }
    }
    return true;
}

static void run_fft(CpuExec *c, int i)
{
    const FftStep *s = &c->p->steps.data[i].fft;
    const CpuFft *f = &c->fft[i];
    if (!f->plan) return;
    float *in = buf_at(c, s->in_buf), *out = buf_at(c, s->out_buf);
    cssm_counter_add(CSSM_CTR_FFT_EXECS, 1);
#pragma omp parallel for schedule(static) if (s->outer > 1)
    for (int64_t o = 0; o < s->outer; o++) {
        float *x = in + o * f->in_step, *y = out + o * f->out_step;
        if (s->kind == FFT_R2C) fftwf_execute_dft_r2c(f->plan, x, (fftwf_complex *)y);
        else if (s->kind == FFT_C2R) fftwf_execute_dft_c2r(f->plan, (fftwf_complex *)x, y);
        else fftwf_execute_dft(f->plan, (fftwf_complex *)x, (fftwf_complex *)y);
    }
}

/* ---- steps ---- */

static void run_fallback(CpuExec *c, int node)
{
    const Node *n = node_at(c->g, node);
    const float **in = xmalloc(sizeof *in * (size_t)(n->nin ? n->nin : 1));
    for (int k = 0; k < n->nin; k++) in[k] = buf_at(c, c->p->node_buf[n->in[k]]);
    ref_eval_node(c->g, node, in, buf_at(c, c->p->node_buf[node]));
    free(in);
}

static void run_step(CpuExec *c, int i)
{
    const Step *st = &c->p->steps.data[i];
    if (st->kind == STEP_KERNEL) {
        if (c->p->kernels.data[st->kernel].work == 0) return;
        cssm_counter_add(CSSM_CTR_KERNEL_LAUNCHES, 1);
        c->kernels[st->kernel](c->arena);
    } else if (st->kind == STEP_FFT) run_fft(c, i);
    else run_fallback(c, st->node);
}

static void cpu_run(void *dev, double *step_ms)
{
    CpuExec *c = dev;
    for (int i = 0; i < c->p->steps.len; i++) {
        double t0 = step_ms ? 1e3 * monotonic_seconds() : 0;
        run_step(c, i);
        if (step_ms) step_ms[i] = 1e3 * monotonic_seconds() - t0;
    }
}

/* ---- the device ---- */

static void cpu_close(void *dev)
{
    CpuExec *c = dev;
    if (!c) return;
    for (int i = 0; c->fft && i < c->p->steps.len; i++)
        if (c->fft[i].plan) fftwf_destroy_plan(c->fft[i].plan);
    free(c->fft);
    free(c->arena);
    cssm_hostcc_close(c->lib);
    program_free(c->p);
    free(c);
}

static bool load_kernels(CpuExec *c, char *err, size_t errlen)
{
    char *log = NULL, *src = render_c(c->p);
    c->lib = cssm_hostcc_load(src, "cssmc_kernels", &log);
    free(src);
    if (!c->lib) {
        snprintf(err, errlen, "cpu: %s", log ? log : "the generated C did not compile");
        free(log);
        return false;
    }
    free(log);
    const int *count = cssm_hostcc_sym(c->lib, "cssm_kernel_count");
    c->kernels = cssm_hostcc_sym(c->lib, "cssm_kernels");
    if (!count || !c->kernels || *count != c->p->kernels.len) {
        snprintf(err, errlen, "cpu: %s does not hold the %d kernels expected", cssm_hostcc_path(c->lib),
                 c->p->kernels.len);
        return false;
    }
    return true;
}

static void *cpu_open(Graph *g, bool fuse, char *err, size_t errlen)
{
    CpuExec *c = xcalloc(1, sizeof *c);
    c->g = g;
    c->p = lower(g, &(LowerOptions){.fuse = fuse});
    size_t bytes = (size_t)c->p->arena_bytes ? (size_t)c->p->arena_bytes : BUFFER_ALIGN;
    c->arena = aligned_alloc(BUFFER_ALIGN, bytes);
    if (!c->arena) {
        snprintf(err, errlen, "cpu: cannot allocate the %zu-byte arena", bytes);
        cpu_close(c);
        return NULL;
    }
    memset(c->arena, 0, bytes);
    cssm_counter_add(CSSM_CTR_BYTES_ALLOCATED, bytes);
    if (!load_kernels(c, err, errlen) || !plan_all(c, err, errlen)) {
        cpu_close(c);
        return NULL;
    }
    return c;
}

static int64_t node_floats(const Node *n) { return shape_numel(&n->shape) * (n->dtype == DT_C64 ? 2 : 1); }

static void cpu_set(void *dev, int node, const float *values)
{
    CpuExec *c = dev;
    const Node *n = node_at(c->g, node);
    if (n->op != IR_INPUT && n->op != IR_PARAM) ice("exec_set: %%%d = %s is not a leaf", node, op_info[n->op].spelling);
    memcpy(buf_at(c, c->p->node_buf[node]), values, sizeof(float) * (size_t)node_floats(n));
}

static void cpu_get(void *dev, int node, float *out)
{
    CpuExec *c = dev;
    int b = c->p->node_buf[node];
    if (b < 0 || !c->p->bufs.data[b].keep) ice("exec_get: %%%d is not a readable node", node);
    memcpy(out, buf_at(c, b), sizeof(float) * (size_t)node_floats(node_at(c->g, node)));
}

static const Lowered *cpu_program(void *dev) { return ((CpuExec *)dev)->p; }

const ExecOps cpu_exec_ops = {cpu_open, cpu_close, cpu_set, cpu_run, cpu_get, cpu_program};
