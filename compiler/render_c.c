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
 *           reference's order for each output element (few outputs over
 *           many points: chunks of partial sums, added in chunk order);
 *   scan    the batch points outside, time inside, the trailing batch axes
 *           as a vector of states; states are double, as the reference's;
 *   solve   the batch points outside, Gaussian elimination inside.
 * Small operands a contraction reads in its innermost loop are first copied
 * into a local array of doubles (cplx for c64), transposed where the loop
 * would stride through them (Kernel.stages).
 * The unit ends with the table cssm_kernels[] in kernel order, which is how
 * runtime/cpu.c finds them. The text is a pure function of the lowered
 * program, so the same model always gives the same source (and hits the
 * same cache entry). */
#include "kernel.h"

/* Accumulator vectors of up to INNER_MAX; threads for PARALLEL_MIN points
 * and more; kernels of fewer than SMALL_KERNEL points are compiled at -O1,
 * which takes the host compiler a quarter of the time and costs them
 * nothing that matters. */
enum { INNER_MAX = 4096, PARALLEL_MIN = 16384, SMALL_KERNEL = 1 << 18 };

static const char *ctype(DType dt) { return dt == DT_C64 ? "c64" : "float"; }

static void declare_buffers(FILE *f, const Lowered *p, const Kernel *k)
{
    print_buffer_pointers(f, p, k);
    for (int i = 0; i < k->stages.len; i++) {
        const Stage *s = &k->stages.data[i];
        bool complex = p->bufs.data[s->buf].dtype == DT_C64;
        fprintf(f, "    %s s%d[%lld];\n", complex ? "cplx" : "double", i, (long long)s->numel);
        for (int a = 0; a < s->rank; a++)
            fprintf(f, "    for (i64 t%d = 0; t%d < %lld; t%d++)\n", a, a, (long long)s->size[a], a);
        fprintf(f, "        s%d[", i);
        for (int a = 0; a < s->rank; a++) fprintf(f, "%s%lld*t%d", a ? " + " : "", (long long)s->to[a], a);
        fprintf(f, "%s] = %sb%d[", s->rank ? "" : "0", complex ? "c_load(" : "", s->buf);
        for (int a = 0; a < s->rank; a++) fprintf(f, "%s%lld*t%d", a ? " + " : "", (long long)s->from[a], a);
        fprintf(f, "%s]%s;\n", s->rank ? "" : "0", complex ? ")" : "");
    }
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
        ew_print_val(f, p, k, v, true);
    }
}

static void render_map(FILE *f, const Lowered *p, const Kernel *k)
{
    int r = k->domain.rank;
    parallel(f, r > 1 ? r - 1 : r, k->work);
    for (int i = 0; i < r; i++) loop(f, i, k->domain.size[i]);
    fputs("    {\n", f);
    body_vals(f, p, k);
    print_map_stores(f, k, "        ");
    fputs("    }\n", f);
}

static uint64_t axis_bits(int from, int to)
{
    uint64_t m = 0;
    for (int i = from; i < to; i++) m |= 1ull << i;
    return m;
}

static int64_t points_of(const KSpace *d, uint64_t axes)
{
    int64_t n = 1;
    for (int i = 0; i < d->rank; i++)
        if (axes >> i & 1) n *= d->size[i];
    return n;
}

/* j, the flat index over the domain axes in `axes` (domain order). */
static void index_over(FILE *f, const KSpace *d, uint64_t axes, const char *indent)
{
    fprintf(f, "%si64 j = 0", indent);
    for (int i = 0; i < d->rank; i++) {
        if (!(axes >> i & 1)) continue;
        int64_t st = points_of(d, axes & ~axis_bits(0, i + 1));
        fprintf(f, " + i%d * %lld", i, (long long)st);
    }
    fputs(";\n", f);
}

static void loops_over(FILE *f, const KSpace *d, uint64_t axes)
{
    for (int i = 0; i < d->rank; i++)
        if (axes >> i & 1) loop(f, i, d->size[i]);
}

/* How a reduce kernel's loops nest (see the file comment): the kept axes
 * run as a vector of accumulators (`inner`), the others (`outer`) outside,
 * shared among threads; with few outputs and many points, every kept axis
 * is inner and threads share out chunks of the first reduced axis instead,
 * each with its own partial sums, combined in chunk order afterwards. */
typedef struct ReduceNest {
    uint64_t kept, inner, outer;
    int64_t ni;
    int chunk_axis;            /* -1: no chunks */
    int64_t chunks;
} ReduceNest;

static ReduceNest reduce_nest(const Kernel *k)
{
    const KSpace *d = &k->domain;
    ReduceNest n = {.kept = axis_bits(0, d->rank) & ~k->reduced, .chunk_axis = -1, .chunks = 1};
    int64_t points = points_of(d, k->reduced);
    if (k->work < PARALLEL_MIN && points_of(d, n.kept) <= INNER_MAX && points * k->work >= PARALLEL_MIN) {
        n.inner = n.kept;
        for (int i = 0; i < d->rank && n.chunk_axis < 0; i++)
            if (k->reduced >> i & 1) n.chunk_axis = i;
        n.chunks = MIN(d->size[n.chunk_axis], 16);
    } else
        for (int i = d->rank - 1; i >= 0 && !(k->reduced >> i & 1); i--)
            if (points_of(d, n.inner | 1ull << i) <= INNER_MAX) n.inner |= 1ull << i;
    n.outer = n.kept & ~n.inner;
    n.ni = points_of(d, n.inner);
    return n;
}

static void declare_accumulators(FILE *f, const Kernel *k, const ReduceNest *n)
{
    bool cplx = k->vals.data[k->result].dtype == DT_C64, is_max = k->fold == IR_MAX;
    long long ni = (long long)n->ni;
    if (is_max) fprintf(f, "    double acc[%lld];\n    for (i64 j = 0; j < %lld; j++) acc[j] = -CSSM_INF;\n", ni, ni);
    else if (cplx)
        fprintf(f, "    double acc[%lld], acc_im[%lld];\n"
                   "    for (i64 j = 0; j < %lld; j++) acc[j] = acc_im[j] = 0;\n", ni, ni, ni);
    else fprintf(f, "    double acc[%lld];\n    for (i64 j = 0; j < %lld; j++) acc[j] = 0;\n", ni, ni);
}

/* The reduced loops; in chunked nests the chunk axis runs over chunk c's share. */
static void reduced_loops(FILE *f, const Kernel *k, const ReduceNest *n)
{
    const KSpace *d = &k->domain;
    for (int i = 0; i < d->rank; i++) {
        if (!(k->reduced >> i & 1)) continue;
        if (i != n->chunk_axis) loop(f, i, d->size[i]);
        else fprintf(f, "    for (i64 i%d = c * %lld / %lld; i%d < (c + 1) * %lld / %lld; i%d++)\n", i,
                     (long long)d->size[i], (long long)n->chunks, i, (long long)d->size[i], (long long)n->chunks, i);
    }
}

static void store_result(FILE *f, const Kernel *k, const char *re, const char *im)
{
    fputs("        o[", f);
    ix_print(f, k->out_ix);
    fputs("] = ", f);
    ew_print_store(f, k->vals.data[k->result].dtype, re, im);
    fputs(";\n", f);
}

/* After a chunked nest: each output is its chunks' partial sums, in order. */
static void combine_chunks(FILE *f, const Kernel *k, const ReduceNest *n)
{
    bool cplx = k->vals.data[k->result].dtype == DT_C64, is_max = k->fold == IR_MAX;
    loops_over(f, &k->domain, n->inner);
    fputs("    {\n", f);
    index_over(f, &k->domain, n->inner, "        ");
    fprintf(f, "        double s = part[0][j]%s;\n", cplx ? ", s_im = part_im[0][j]" : "");
    fprintf(f, "        for (int c = 1; c < %lld; c++) ", (long long)n->chunks);
    if (is_max) fputs("s = f_max_first(s, part[c][j]);\n", f);
    else fputs(cplx ? "s += part[c][j], s_im += part_im[c][j];\n" : "s += part[c][j];\n", f);
    store_result(f, k, "s", "s_im");
    fputs("    }\n", f);
}

static void render_reduce(FILE *f, const Lowered *p, const Kernel *k)
{
    const KSpace *d = &k->domain;
    ReduceNest n = reduce_nest(k);
    bool cplx = k->vals.data[k->result].dtype == DT_C64, chunked = n.chunk_axis >= 0;
    if (chunked) {
        fprintf(f, "    double part[%lld][%lld];\n", (long long)n.chunks, (long long)n.ni);
        if (cplx) fprintf(f, "    double part_im[%lld][%lld];\n", (long long)n.chunks, (long long)n.ni);
        fputs("    #pragma omp parallel for schedule(static)\n", f);
        fprintf(f, "    for (i64 c = 0; c < %lld; c++)\n", (long long)n.chunks);
    } else {
        int outer = 0;
        for (int i = 0; i < d->rank; i++) outer += n.outer >> i & 1;
        parallel(f, outer, points_of(d, axis_bits(0, d->rank)));
        loops_over(f, d, n.outer);
    }
    fputs("    {\n", f);
    declare_accumulators(f, k, &n);
    reduced_loops(f, k, &n);
    loops_over(f, d, n.inner);
    fputs("    {\n", f);
    index_over(f, d, n.inner, "        ");
    body_vals(f, p, k);
    ew_print_fold(f, k, "acc[j]", "acc_im[j]", "        ");
    fputs("    }\n", f);
    if (chunked) {
        fprintf(f, "    for (i64 j = 0; j < %lld; j++) part[c][j] = acc[j]%s;\n    }\n", (long long)n.ni,
                cplx ? ", part_im[c][j] = acc_im[j]" : "");
        combine_chunks(f, k, &n);
        return;
    }
    loops_over(f, d, n.inner);
    fputs("    {\n", f);
    index_over(f, d, n.inner, "        ");
    store_result(f, k, "acc[j]", "acc_im[j]");
    fputs("    }\n    }\n", f);
}

/* A constant in time (at = 0): its coefficients are loaded once per batch
 * point into ahr/ahi, indexed like the state, not at every step. */
static void hoist_constant_a(FILE *f, const KSpace *d, int first, const ScanKernel *s, int64_t ni)
{
    fprintf(f, "    double ahr[%lld], ahi[%lld];\n", (long long)ni, (long long)ni);
    for (int i = first; i < d->rank; i++) loop(f, i, d->size[i]);
    fputs("    {\n", f);
    index_over(f, d, axis_bits(first, d->rank), "        ");
    fputs("        i64 ao = ", f);
    scan_print_offset(f, s->a_off, "t", 0);
    fputs(";\n", f);
    scan_print_load_a(f, s, "        ");
    fputs("        ahr[j] = ar, ahi[j] = ai;\n    }\n", f);
}

static void scan_step_scalar(FILE *f, const ScanKernel *s)
{
    bool cy = s->y_dt == DT_C64;
    if (s->at) {
        fputs("            i64 ao = ", f);
        scan_print_offset(f, s->a_off, "t", s->at);
        fputs(";\n", f);
        scan_print_load_a(f, s, "            ");
    } else {
        fputs("            double ar = ahr[j], ai = ahi[j];\n", f);
    }
    fputs("            i64 bo = ", f);
    scan_print_offset(f, s->b_off, "t", s->bt);
    fputs(";\n", f);
    fprintf(f, "            double br = %s, bi = %s;\n", s->b_dt == DT_C64 ? "b[bo].re" : "b[bo]",
            s->b_dt == DT_C64 ? "b[bo].im" : "0");
    if (!cy) {
        fputs("            hr[j] = ar * hr[j] + br;\n            o[bo] = (float)hr[j];\n", f);
        return;
    }
    fputs("            double nr = ar * hr[j] - ai * hi[j] + br, ni = ar * hi[j] + ai * hr[j] + bi;\n"
          "            hr[j] = nr, hi[j] = ni;\n"
          "            o[bo] = c_pack(nr, ni);\n", f);
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
    if (!s->at) hoist_constant_a(f, d, first, s, ni);
    scan_print_time_loop(f, s);
    for (int i = first; i < d->rank; i++) fprintf(f, "    "), loop(f, i, d->size[i]);
    fputs("        {\n", f);
    index_over(f, d, axis_bits(first, d->rank), "            ");
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
    scan_print_time_loop(f, s);
    fprintf(f, "        for (i64 i = 0; i < %lld; i++) {\n            i64 bo = ", D);
    scan_print_offset(f, s->b_off, "t", s->bt);
    fprintf(f, " + i * %lld;\n            nr[i] = %s, ni[i] = %s;\n", (long long)s->bi,
            s->b_dt == DT_C64 ? "b[bo].re" : "b[bo]", s->b_dt == DT_C64 ? "b[bo].im" : "0");
    fprintf(f, "            for (i64 c = 0; c < %lld; c++) {\n                i64 ao = ", D);
    scan_print_offset(f, s->a_off, "t", s->at);
    fprintf(f, " + i * %lld + c * %lld;\n", (long long)s->ai, (long long)s->aj);
    scan_print_load_a(f, s, "                ");
    fputs(cy ? "                nr[i] += ar * hr[c] - ai * hi[c];\n                ni[i] += ar * hi[c] + ai * hr[c];\n"
             : "                nr[i] += ar * hr[c];\n", f);
    fputs("            }\n        }\n", f);
    fprintf(f, "        for (i64 i = 0; i < %lld; i++) {\n            i64 bo = ", D);
    scan_print_offset(f, s->b_off, "t", s->bt);
    fprintf(f, " + i * %lld;\n            hr[i] = nr[i], hi[i] = ni[i];\n", (long long)s->bi);
    fputs(cy ? "            o[bo] = c_pack(hr[i], hi[i]);\n" : "            o[bo] = (float)hr[i];\n", f);
    fputs("        }\n    }\n    }\n", f);
}

/* A SOLVE node's systems, one per batch point, as the reference solves them
 * (in double _Complex, with its elimination). */
static void render_solve(FILE *f, const Kernel *k)
{
    const ScanKernel *s = &k->scan;
    const KSpace *d = &k->domain;
    long long n = (long long)s->d;
    parallel(f, d->rank, k->work * s->d * s->d * s->d);
    for (int i = 0; i < d->rank; i++) loop(f, i, d->size[i]);
    fprintf(f, "    {\n    double _Complex m[%lld], r[%lld];\n"
               "    for (i64 i = 0; i < %lld; i++) {\n        i64 bo = ", n * n, n, n);
    scan_print_offset(f, s->b_off, "i", s->bi);
    bool cb = s->b_dt == DT_C64;
    fprintf(f, ";\n        r[i] = CMPLX(%s, %s);\n", cb ? "b[bo].re" : "b[bo]", cb ? "b[bo].im" : "0.0");
    fprintf(f, "        for (i64 j = 0; j < %lld; j++) {\n            i64 ao = ", n);
    scan_print_offset(f, s->a_off, "i", s->ai);
    fprintf(f, " + j * %lld;\n            m[i * %lld + j] = CMPLX(%s, %s);\n        }\n    }\n", (long long)s->aj, n,
            s->a_dt == DT_C64 ? "a[ao].re" : "a[ao]", s->a_dt == DT_C64 ? "a[ao].im" : "0.0");
    fprintf(f, "    c_gauss(m, r, %lld);\n    for (i64 i = 0; i < %lld; i++) {\n        i64 bo = ", n, n);
    scan_print_offset(f, s->b_off, "i", s->bi);
    fputs(s->y_dt == DT_C64 ? ";\n        o[bo] = c_pack(creal(r[i]), cimag(r[i]));\n"
                            : ";\n        o[bo] = (float)creal(r[i]);\n", f);
    fputs("    }\n    }\n", f);
}

static void render_scan(FILE *f, const Lowered *p, const Kernel *k)
{
    const ScanKernel *s = &k->scan;
    const Buffer *a = &p->bufs.data[s->a_buf], *b = &p->bufs.data[s->b_buf];
    fprintf(f, "    const %s *a = (const %s *)(A + %lld);\n", ctype(a->dtype), ctype(a->dtype), (long long)a->offset);
    fprintf(f, "    const %s *b = (const %s *)(A + %lld);\n", ctype(b->dtype), ctype(b->dtype), (long long)b->offset);
    if (k->kind == KK_SOLVE) render_solve(f, k);
    else if (s->matrix) render_scan_matrix(f, k);
    else render_scan_scalar(f, k);
}

/* The loop iterations a kernel runs. */
static int64_t kernel_points(const Kernel *k)
{
    const ScanKernel *s = &k->scan;
    if (k->kind == KK_SCAN) return k->work * s->T * s->d * s->d;
    if (k->kind == KK_SOLVE) return k->work * s->d * s->d * s->d;
    return points_of(&k->domain, axis_bits(0, k->domain.rank));
}

static void render_kernel(FILE *f, const Lowered *p, const Kernel *k)
{
    print_kernel_comment(f, p, k);
    if (kernel_points(k) < SMALL_KERNEL) fputs("__attribute__((optimize(\"O1\", \"fp-contract=off\")))\n", f);
    fprintf(f, "void %s(char *A)\n{\n", k->name);
    if (k->kind == KK_SCAN || k->kind == KK_SOLVE) {
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
