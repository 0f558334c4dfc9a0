/* render_cuda.c: the lowered program as one CUDA C unit, for NVRTC and the cuda device.
 *
 * Every kernel becomes `extern "C" __global__ void NAME(char *A)`, A being
 * the device arena; buffers are constant offsets into it. Threads map onto
 * the kernel's work items, the last axis fastest, so neighbouring threads
 * touch neighbouring elements:
 *   map     one thread per output element;
 *   reduce  one thread per output element looping over the reduced points
 *           in the reference's order, or, for wide reductions (Kernel.wide),
 *           one block of BLOCK threads per output element, each summing a
 *           strided share of the points, then a fixed shared-memory tree,
 *           so results never depend on scheduling;
 *   scan    one thread per batch point, sequential in time, double state;
 *   solve   one thread per batch point, Gaussian elimination in double.
 * Values are double inside a kernel, as in the C rendering (ewexpr.c).
 * Launch geometry is the lowered program's (grid x block). Values are computed by
 * the same statements as the C rendering (ewexpr.c); only the scaffolding
 * differs. The text is a pure function of the lowered program, so it keys the
 * kernel cache exactly; render_cuda records each kernel's first line so a
 * compiler error can be traced to its kernel and its .cssm line. */
#include "kernel.h"

#include <stdlib.h>
#include <string.h>

const char *const cuda_nvrtc_options[] = {"--std=c++17", "--fmad=false"};
const int cuda_nvrtc_noptions = 2;

static const char *ctype(DType dt) { return dt == DT_C64 ? "c64" : "float"; }

/* Splits the flat index in variable `from` into the domain variables whose
 * bit is set in `axes` (the last one fastest). */
static void decompose(FILE *f, const KSpace *d, uint64_t axes, const char *from)
{
    for (int i = d->rank - 1; i >= 0; i--) {
        if (!(axes >> i & 1)) continue;
        bool first = true;
        for (int m = 0; m < i; m++) first &= !(axes >> m & 1);
        if (first) fprintf(f, "    i64 i%d = %s;\n", i, from);
        else fprintf(f, "    i64 i%d = %s %% %lld; %s /= %lld;\n", i, from, (long long)d->size[i], from,
                     (long long)d->size[i]);
    }
}

static uint64_t all_axes(int rank) { return rank >= 64 ? ~0ull : (1ull << rank) - 1; }

static void body_vals(FILE *f, const Lowered *p, const Kernel *k, const char *indent)
{
    for (int v = 0; v < k->vals.len; v++) {
        if (!ew_val_printed(k, v)) continue;
        fputs(indent, f);
        ew_print_val(f, p, k, v, false);
    }
}

static void thread_index(FILE *f, int64_t work)
{
    fprintf(f, "    i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;\n    if (e >= %lld) return;\n", (long long)work);
}

static void render_map(FILE *f, const Lowered *p, const Kernel *k)
{
    thread_index(f, k->work);
    print_buffer_pointers(f, p, k);
    decompose(f, &k->domain, all_axes(k->domain.rank), "e");
    body_vals(f, p, k, "    ");
    print_map_stores(f, k, "    ");
}

static void declare_acc(FILE *f, const Kernel *k, const char *acc)
{
    bool cplx = k->vals.data[k->result].dtype == DT_C64;
    if (k->fold == IR_MAX) fprintf(f, "    double %s = -CSSM_INF;\n", acc);
    else if (cplx) fprintf(f, "    double %s = 0, %s_im = 0;\n", acc, acc);
    else fprintf(f, "    double %s = 0;\n", acc);
}

static void store_acc(FILE *f, const Kernel *k, const char *acc, const char *indent)
{
    char im[32];
    snprintf(im, sizeof im, "%s_im", acc);
    fprintf(f, "%so[", indent);
    ix_print(f, k->out_ix);
    fputs("] = ", f);
    ew_print_store(f, k->vals.data[k->result].dtype, acc, im);
    fputs(";\n", f);
}

static void render_reduce_thread(FILE *f, const Lowered *p, const Kernel *k)
{
    const KSpace *d = &k->domain;
    thread_index(f, k->work);
    print_buffer_pointers(f, p, k);
    decompose(f, d, all_axes(d->rank) & ~k->reduced, "e");
    declare_acc(f, k, "acc");
    for (int i = 0; i < d->rank; i++)
        if (k->reduced >> i & 1)
            fprintf(f, "    for (i64 i%d = 0; i%d < %lld; i%d++)\n", i, i, (long long)d->size[i], i);
    fputs("    {\n", f);
    body_vals(f, p, k, "        ");
    ew_print_fold(f, k, "acc", "acc_im", "        ");
    fputs("    }\n", f);
    store_acc(f, k, "acc", "    ");
}

/* One block per output element; blockDim.x is k->block, a power of two. */
static void render_reduce_wide(FILE *f, const Lowered *p, const Kernel *k)
{
    const KSpace *d = &k->domain;
    bool cplx = k->vals.data[k->result].dtype == DT_C64, is_max = k->fold == IR_MAX;
    int64_t points = 1;
    for (int i = 0; i < d->rank; i++)
        if (k->reduced >> i & 1) points *= d->size[i];
    fputs("    i64 e = blockIdx.x;\n", f);
    print_buffer_pointers(f, p, k);
    decompose(f, d, all_axes(d->rank) & ~k->reduced, "e");
    declare_acc(f, k, "acc");
    fprintf(f, "    for (i64 r = threadIdx.x; r < %lld; r += %lld) {\n", (long long)points, (long long)k->block);
    fputs("    i64 q = r;\n", f);
    decompose(f, d, k->reduced, "q");
    body_vals(f, p, k, "        ");
    ew_print_fold(f, k, "acc", "acc_im", "        ");
    fputs("    }\n", f);
    fprintf(f, "    __shared__ double sh[%lld];\n", (long long)k->block);
    if (cplx) fprintf(f, "    __shared__ double sh_im[%lld];\n    sh_im[threadIdx.x] = acc_im;\n", (long long)k->block);
    fputs("    sh[threadIdx.x] = acc;\n    __syncthreads();\n", f);
    fprintf(f, "    for (int s = %lld; s > 0; s >>= 1) {\n        if (threadIdx.x < s) {\n", (long long)k->block / 2);
    if (is_max) fputs("            sh[threadIdx.x] = f_max_first(sh[threadIdx.x], sh[threadIdx.x + s]);\n", f);
    else fputs("            sh[threadIdx.x] += sh[threadIdx.x + s];\n", f);
    if (cplx) fputs("            sh_im[threadIdx.x] += sh_im[threadIdx.x + s];\n", f);
    fputs("        }\n        __syncthreads();\n    }\n    if (threadIdx.x != 0) return;\n    acc = sh[0];\n", f);
    if (cplx) fputs("    acc_im = sh_im[0];\n", f);
    store_acc(f, k, "acc", "    ");
}

static void load_b(FILE *f, const ScanKernel *s, const char *re, const char *im, const char *indent)
{
    fprintf(f, "%s%s = %s, %s = %s;\n", indent, re, s->b_dt == DT_C64 ? "b[bo].re" : "b[bo]", im,
            s->b_dt == DT_C64 ? "b[bo].im" : "0");
}

static void scan_scalar(FILE *f, const ScanKernel *s)
{
    fputs("    double hr = 0, hi = 0;\n", f);
    scan_print_time_loop(f, s);
    fputs("        i64 ao = ", f);
    scan_print_offset(f, s->a_off, "t", s->at);
    fputs(", bo = ", f);
    scan_print_offset(f, s->b_off, "t", s->bt);
    fputs(";\n", f);
    scan_print_load_a(f, s, "        ");
    load_b(f, s, "double br", "bi", "        ");
    if (s->y_dt == DT_C64)
        fputs("        double nr = ar * hr - ai * hi + br, ni = ar * hi + ai * hr + bi;\n"
              "        hr = nr, hi = ni;\n        o[bo] = c_pack(nr, ni);\n", f);
    else fputs("        hr = ar * hr + br;\n        o[bo] = (float)hr;\n", f);
    fputs("    }\n", f);
}

static void scan_matrix(FILE *f, const ScanKernel *s)
{
    bool cy = s->y_dt == DT_C64;
    long long D = (long long)s->d;
    fprintf(f, "    double hr[%lld], hi[%lld], nr[%lld], ni[%lld];\n", D, D, D, D);
    fprintf(f, "    for (i64 i = 0; i < %lld; i++) hr[i] = hi[i] = 0;\n", D);
    scan_print_time_loop(f, s);
    fprintf(f, "        for (i64 i = 0; i < %lld; i++) {\n            i64 bo = ", D);
    scan_print_offset(f, s->b_off, "t", s->bt);
    fprintf(f, " + i * %lld;\n", (long long)s->bi);
    load_b(f, s, "nr[i]", "ni[i]", "            ");
    fprintf(f, "            for (i64 c = 0; c < %lld; c++) {\n                i64 ao = ", D);
    scan_print_offset(f, s->a_off, "t", s->at);
    fprintf(f, " + i * %lld + c * %lld;\n", (long long)s->ai, (long long)s->aj);
    scan_print_load_a(f, s, "                ");
    fputs(cy ? "                nr[i] += ar * hr[c] - ai * hi[c];\n                ni[i] += ar * hi[c] + ai * hr[c];\n"
             : "                nr[i] += ar * hr[c];\n", f);
    fprintf(f, "            }\n        }\n        for (i64 i = 0; i < %lld; i++) {\n            i64 bo = ", D);
    scan_print_offset(f, s->b_off, "t", s->bt);
    fprintf(f, " + i * %lld;\n            hr[i] = nr[i], hi[i] = ni[i];\n", (long long)s->bi);
    fputs(cy ? "            o[bo] = c_pack(hr[i], hi[i]);\n" : "            o[bo] = (float)hr[i];\n", f);
    fputs("        }\n    }\n", f);
}

static void render_solve(FILE *f, const ScanKernel *s)
{
    long long n = (long long)s->d;
    fprintf(f, "    cplx m[%lld], r[%lld];\n    for (i64 i = 0; i < %lld; i++) {\n        i64 bo = ", n * n, n, n);
    scan_print_offset(f, s->b_off, "i", s->bi);
    bool cb = s->b_dt == DT_C64;
    fprintf(f, ";\n        r[i] = c_make(%s, %s);\n", cb ? "b[bo].re" : "b[bo]", cb ? "b[bo].im" : "0.0");
    fprintf(f, "        for (i64 j = 0; j < %lld; j++) {\n            i64 ao = ", n);
    scan_print_offset(f, s->a_off, "i", s->ai);
    fprintf(f, " + j * %lld;\n            m[i * %lld + j] = c_make(%s, %s);\n        }\n    }\n", (long long)s->aj, n,
            s->a_dt == DT_C64 ? "a[ao].re" : "a[ao]", s->a_dt == DT_C64 ? "a[ao].im" : "0.0");
    fprintf(f, "    c_gauss(m, r, %lld);\n    for (i64 i = 0; i < %lld; i++) {\n        i64 bo = ", n, n);
    scan_print_offset(f, s->b_off, "i", s->bi);
    fputs(s->y_dt == DT_C64 ? ";\n        o[bo] = c_pack(r[i].re, r[i].im);\n" : ";\n        o[bo] = (float)r[i].re;\n", f);
    fputs("    }\n", f);
}

static void render_scan(FILE *f, const Lowered *p, const Kernel *k)
{
    const ScanKernel *s = &k->scan;
    const Buffer *a = &p->bufs.data[s->a_buf], *b = &p->bufs.data[s->b_buf], *o = &p->bufs.data[k->out_buf];
    thread_index(f, k->work);
    fprintf(f, "    const %s *a = (const %s *)(A + %lld);\n", ctype(a->dtype), ctype(a->dtype), (long long)a->offset);
    fprintf(f, "    const %s *b = (const %s *)(A + %lld);\n", ctype(b->dtype), ctype(b->dtype), (long long)b->offset);
    fprintf(f, "    %s *o = (%s *)(A + %lld);\n", ctype(o->dtype), ctype(o->dtype), (long long)o->offset);
    decompose(f, &k->domain, all_axes(k->domain.rank), "e");
    if (k->kind == KK_SOLVE) render_solve(f, s);
    else if (s->matrix) scan_matrix(f, s);
    else scan_scalar(f, s);
}

static void render_kernel(FILE *f, const Lowered *p, const Kernel *k)
{
    print_kernel_comment(f, p, k);
    fprintf(f, "extern \"C\" __global__ void __launch_bounds__(%lld) %s(char *A)\n{\n", (long long)k->block, k->name);
    if (k->kind == KK_MAP) render_map(f, p, k);
    else if (k->kind == KK_SCAN || k->kind == KK_SOLVE) render_scan(f, p, k);
    else if (k->wide) render_reduce_wide(f, p, k);
    else render_reduce_thread(f, p, k);
    fputs("}\n\n", f);
}

static int count_lines(const char *s, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++) n += s[i] == '\n';
    return n;
}

char *render_cuda(const Lowered *p, int *lines)
{
    char *src = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&src, &len);
    fprintf(f, "/* Generated by cssmc %s for the cuda device: %d kernels over one arena of %lld bytes.\n"
               " * Each kernel's comment lists the IR nodes it computes and their .cssm lines. */\n",
            CSSM_VERSION, p->kernels.len, (long long)p->arena_bytes);
    ew_print_prelude(f, true);
    fputc('\n', f);
    for (int i = 0; i < p->kernels.len; i++) {
        fflush(f);
        if (lines) lines[i] = count_lines(src, len) + 1;
        render_kernel(f, p, &p->kernels.data[i]);
    }
    fclose(f);
    return src;
}

int kernel_at_line(const Lowered *p, const int *lines, int line)
{
    int k = -1;
    for (int i = 0; i < p->kernels.len; i++)
        if (lines[i] <= line) k = i;
    return k;
}

char *cuda_log_with_kernel(const Lowered *p, const int *lines, const char *log)
{
    const char *at = log ? strstr(log, ".cu(") : NULL;
    int k = at ? kernel_at_line(p, lines, atoi(at + 4)) : -1;
    if (k < 0) return xstrdup(log ? log : "");
    const Kernel *kn = &p->kernels.data[k];
    const Node *n = node_at(p->g, kn->node);
    char where[512] = "";
    if (n->loc.file) snprintf(where, sizeof where, " at %s:%d:%d", n->loc.file->path, n->loc.line, n->loc.col);
    return xprintf("%s\nthe first error is in kernel %s, which computes %%%d = %s%s", log, kn->name, kn->node,
                   op_info[n->op].spelling, where);
}
