/* render_c.c: the lowered program as one C translation unit, for the cpu device.
 *
 * Every kernel becomes `void NAME(char *A)`, A being the arena: buffers are
 * constant offsets into it (the memory plan is static), so the compiler sees
 * every stride and size as a constant. Loops run over the kernel's domain,
 * the outer ones shared among OpenMP threads when there is enough work:
 *   map     all axes nested, the innermost left to the vectorizer;
 *   reduce  the kept axes outside; inside, the reduced axes in domain order,
 *           then the trailing kept axes (up to INNER_MAX points) with an
 *           array of accumulators, so a reduction over leading axes still
 *           walks memory contiguously; sums accumulate in double, in the
 *           reference's order for each output element;
 *   scan    the batch points outside, time inside, the trailing batch axes
 *           as a vector of states; states are double, as the reference's.
 * The unit ends with the table cssm_kernels[] in kernel order, which is how
 * runtime/cpu.c finds them. The text is a pure function of the lowered program, so
 * the same model always gives the same source (and hits the same cache
 * entry). */
#include "kernel.h"

enum { INNER_MAX = 4096, PARALLEL_MIN = 16384 };

static const char *ctype(DType dt) { return dt == DT_C64 ? "c64" : "float"; }

static void declare_buffers(FILE *f, const Lowered *p, const Kernel *k)
{
    for (int r = 0; r < k->reads.len; r++) {
        const Buffer *b = &p->bufs.data[k->reads.data[r]];
        fprintf(f, "    const %s *b%d = (const %s *)(A + %lld);\n", ctype(b->dtype), k->reads.data[r],
                ctype(b->dtype), (long long)b->offset);
    }
    const Buffer *o = &p->bufs.data[k->out_buf];
    fprintf(f, "    %s *o = (%s *)(A + %lld);\n", ctype(o->dtype), ctype(o->dtype), (long long)o->offset);
}

static void loop(FILE *f, int var, int64_t size)
{
    fprintf(f, "    for (i64 i%d = 0; i%d < %lld; i%d++)\n", var, var, (long long)size, var);
}

static void parallel(FILE *f, int loops, int64_t work)
{
    if (loops > 0 && work >= PARALLEL_MIN) fprintf(f, "    #pragma omp parallel for collapse(%d) schedule(static)\n", loops);
}

static void body_vals(FILE *f, const Lowered *p, const Kernel *k)
{
    for (int v = 0; v < k->vals.len; v++) {
        if (!ew_val_printed(k, v)) continue;
        fputs("        ", f);
        ew_print_val(f, p, k, v);
    }
}

static void render_map(FILE *f, const Lowered *p, const Kernel *k)
{
    int r = k->domain.rank;
    parallel(f, r > 1 ? r - 1 : r, k->work);
    for (int i = 0; i < r; i++) loop(f, i, k->domain.size[i]);
    fputs("    {\n", f);
    body_vals(f, p, k);
    fputs("        o[", f);
    ix_print(f, k->out_ix);
    fprintf(f, "] = v%d;\n    }\n", k->result);
}

/* The trailing kept axes after the last reduced one, up to INNER_MAX points:
 * returns the first of them and their point count. */
static int inner_block(const KSpace *d, uint64_t reduced, int64_t *points)
{
    int first = d->rank;
    *points = 1;
    while (first > 0 && !(reduced >> (first - 1) & 1) && *points * d->size[first - 1] <= INNER_MAX)
        *points *= d->size[--first];
    return first;
}

static void inner_index(FILE *f, const KSpace *d, int first, const char *indent)
{
    fprintf(f, "%si64 j = 0", indent);
    for (int i = first; i < d->rank; i++) {
        int64_t st = 1;
        for (int m = i + 1; m < d->rank; m++) st *= d->size[m];
        fprintf(f, " + i%d * %lld", i, (long long)st);
    }
    fputs(";\n", f);
}

static void render_reduce(FILE *f, const Lowered *p, const Kernel *k)
{
    const KSpace *d = &k->domain;
    int64_t ni;
    int first = inner_block(d, k->reduced, &ni), outer = 0;
    bool cplx = k->vals.data[k->result].dtype == DT_C64, is_max = k->fold == IR_MAX;
    for (int i = 0; i < first; i++) outer += !(k->reduced >> i & 1);
    parallel(f, outer, k->work);
    for (int i = 0; i < first; i++)
        if (!(k->reduced >> i & 1)) loop(f, i, d->size[i]);
    fputs("    {\n", f);
    if (is_max) fprintf(f, "    float acc[%lld];\n    for (i64 j = 0; j < %lld; j++) acc[j] = -CSSM_INF;\n", (long long)ni, (long long)ni);
    else if (cplx) fprintf(f, "    double acc[%lld], acc_im[%lld];\n    for (i64 j = 0; j < %lld; j++) acc[j] = acc_im[j] = 0;\n",
                           (long long)ni, (long long)ni, (long long)ni);
    else fprintf(f, "    double acc[%lld];\n    for (i64 j = 0; j < %lld; j++) acc[j] = 0;\n", (long long)ni, (long long)ni);
    for (int i = 0; i < first; i++)
        if (k->reduced >> i & 1) loop(f, i, d->size[i]);
    for (int i = first; i < d->rank; i++) loop(f, i, d->size[i]);
    fputs("    {\n", f);
    inner_index(f, d, first, "        ");
    body_vals(f, p, k);
    ew_print_fold(f, k, "acc[j]", "acc_im[j]", "        ");
    fputs("    }\n", f);
    for (int i = first; i < d->rank; i++) loop(f, i, d->size[i]);
    fputs("    {\n", f);
    inner_index(f, d, first, "        ");
    fputs("        o[", f);
    ix_print(f, k->out_ix);
    fputs(cplx ? "] = c_make((float)acc[j], (float)acc_im[j]);\n" : is_max ? "] = acc[j];\n" : "] = (float)acc[j];\n", f);
    fputs("    }\n    }\n", f);
}

static void print_offset(FILE *f, const Ix *base, const char *var, int64_t stride)
{
    ix_print(f, base);
    if (stride) fprintf(f, " + %s * %lld", var, (long long)stride);
}

/* The coefficient (re, im) of A at offset expression `at`, as doubles. */
static void load_a(FILE *f, const ScanKernel *s, const char *indent)
{
    fprintf(f, "%sdouble ar = %s, ai = %s;\n", indent, s->a_dt == DT_C64 ? "a[ao].re" : "a[ao]",
            s->a_dt == DT_C64 ? "a[ao].im" : "0");
}

/* Opens the time loop: t counts down for a reverse scan. */
static void time_loop(FILE *f, const ScanKernel *s)
{
    fprintf(f, "    for (i64 s = 0; s < %lld; s++) {\n", (long long)s->T);
    if (s->reverse) fprintf(f, "        i64 t = %lld - s;\n", (long long)(s->T - 1));
    else fputs("        i64 t = s;\n", f);
}

static void scan_step_scalar(FILE *f, const ScanKernel *s)
{
    bool cy = s->y_dt == DT_C64;
    fputs("            i64 ao = ", f);
    print_offset(f, s->a_off, "t", s->at);
    fputs(", bo = ", f);
    print_offset(f, s->b_off, "t", s->bt);
    fputs(";\n", f);
    load_a(f, s, "            ");
    fprintf(f, "            double br = %s, bi = %s;\n", s->b_dt == DT_C64 ? "b[bo].re" : "b[bo]",
            s->b_dt == DT_C64 ? "b[bo].im" : "0");
    if (!cy) {
        fputs("            hr[j] = ar * hr[j] + br;\n            o[bo] = (float)hr[j];\n", f);
        return;
    }
    fputs("            double nr = ar * hr[j] - ai * hi[j] + br, ni = ar * hi[j] + ai * hr[j] + bi;\n"
          "            hr[j] = nr, hi[j] = ni;\n"
          "            o[bo] = c_make((float)nr, (float)ni);\n", f);
}

static void render_scan_scalar(FILE *f, const Kernel *k)
{
    const ScanKernel *s = &k->scan;
    const KSpace *d = &k->domain;
    int first = d->rank - s->inner;
    int64_t ni = 1;
    for (int i = first; i < d->rank; i++) ni *= d->size[i];
    parallel(f, first, k->work * s->T);
    for (int i = 0; i < first; i++) loop(f, i, d->size[i]);
    fprintf(f, "    {\n    double hr[%lld], hi[%lld];\n    for (i64 j = 0; j < %lld; j++) hr[j] = hi[j] = 0;\n",
            (long long)ni, (long long)ni, (long long)ni);
    time_loop(f, s);
    for (int i = first; i < d->rank; i++) fprintf(f, "    "), loop(f, i, d->size[i]);
    fputs("        {\n", f);
    inner_index(f, d, first, "            ");
    scan_step_scalar(f, s);
    fputs("        }\n    }\n    }\n", f);
}

static void render_scan_matrix(FILE *f, const Kernel *k)
{
    const ScanKernel *s = &k->scan;
    const KSpace *d = &k->domain;
    bool cy = s->y_dt == DT_C64;
    long long D = (long long)s->d;
    parallel(f, d->rank, k->work * s->T);
    for (int i = 0; i < d->rank; i++) loop(f, i, d->size[i]);
    fprintf(f, "    {\n    double hr[%lld], hi[%lld], nr[%lld], ni[%lld];\n", D, D, D, D);
    fprintf(f, "    for (i64 i = 0; i < %lld; i++) hr[i] = hi[i] = 0;\n", D);
    time_loop(f, s);
    fprintf(f, "        for (i64 i = 0; i < %lld; i++) {\n            i64 bo = ", D);
    print_offset(f, s->b_off, "t", s->bt);
    fprintf(f, " + i * %lld;\n            nr[i] = %s, ni[i] = %s;\n", (long long)s->bi,
            s->b_dt == DT_C64 ? "b[bo].re" : "b[bo]", s->b_dt == DT_C64 ? "b[bo].im" : "0");
    fprintf(f, "            for (i64 c = 0; c < %lld; c++) {\n                i64 ao = ", D);
    print_offset(f, s->a_off, "t", s->at);
    fprintf(f, " + i * %lld + c * %lld;\n", (long long)s->ai, (long long)s->aj);
    load_a(f, s, "                ");
    fputs(cy ? "                nr[i] += ar * hr[c] - ai * hi[c];\n                ni[i] += ar * hi[c] + ai * hr[c];\n"
             : "                nr[i] += ar * hr[c];\n", f);
    fputs("            }\n        }\n", f);
    fprintf(f, "        for (i64 i = 0; i < %lld; i++) {\n            i64 bo = ", D);
    print_offset(f, s->b_off, "t", s->bt);
    fprintf(f, " + i * %lld;\n            hr[i] = nr[i], hi[i] = ni[i];\n", (long long)s->bi);
    fputs(cy ? "            o[bo] = c_make((float)hr[i], (float)hi[i]);\n" : "            o[bo] = (float)hr[i];\n", f);
    fputs("        }\n    }\n    }\n", f);
}

static void render_scan(FILE *f, const Lowered *p, const Kernel *k)
{
    const ScanKernel *s = &k->scan;
    const Buffer *a = &p->bufs.data[s->a_buf], *b = &p->bufs.data[s->b_buf];
    fprintf(f, "    const %s *a = (const %s *)(A + %lld);\n", ctype(a->dtype), ctype(a->dtype), (long long)a->offset);
    fprintf(f, "    const %s *b = (const %s *)(A + %lld);\n", ctype(b->dtype), ctype(b->dtype), (long long)b->offset);
    if (s->matrix) render_scan_matrix(f, k);
    else render_scan_scalar(f, k);
}

static void render_kernel(FILE *f, const Lowered *p, const Kernel *k)
{
    print_kernel_comment(f, p, k);
    fprintf(f, "void %s(char *A)\n{\n", k->name);
    if (k->kind == KK_SCAN) {
        const Buffer *o = &p->bufs.data[k->out_buf];
        fprintf(f, "    %s *o = (%s *)(A + %lld);\n", ctype(o->dtype), ctype(o->dtype), (long long)o->offset);
        render_scan(f, p, k);
    } else {
        declare_buffers(f, p, k);
        if (k->kind == KK_MAP) render_map(f, p, k);
        else render_reduce(f, p, k);
    }
    fputs("}\n\n", f);
}

char *render_c(const Lowered *p)
{
    char *src = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&src, &len);
    fprintf(f, "/* Generated by cssmc %s for the cpu device: %d kernels over one arena of %lld bytes.\n"
               " * Each kernel's comment lists the IR nodes it computes and their .cssm lines. */\n",
            CSSM_VERSION, p->kernels.len, (long long)p->arena_bytes);
    ew_print_prelude(f, false);
    fputc('\n', f);
    for (int i = 0; i < p->kernels.len; i++) render_kernel(f, p, &p->kernels.data[i]);
    fprintf(f, "void (*const cssm_kernels[%d])(char *) = {", p->kernels.len ? p->kernels.len : 1);
    for (int i = 0; i < p->kernels.len; i++) fprintf(f, "%s\n    %s", i ? "," : "", p->kernels.data[i].name);
    fprintf(f, "%s};\nconst int cssm_kernel_count = %d;\n", p->kernels.len ? "\n" : "0", p->kernels.len);
    fclose(f);
    return src;
}
