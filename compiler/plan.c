/* plan.c: the static memory plan, and the -dL dump of the lowered program.
 *
 * Shapes are static, so every buffer's lifetime is known before anything
 * runs: from the step that first writes it to the step that last reads it.
 * Leaves and readable results are kept for the whole run (they are fed
 * before it and read after it). Buffers are placed largest first, each at
 * the lowest aligned offset that overlaps no placed buffer whose lifetime
 * meets its own, so a step never reads and writes overlapping memory (its
 * inputs are live at the step that writes its output), and the arena is one
 * allocation per executor. */
#define _GNU_SOURCE   /* qsort_r */
#include "kernel.h"

#include <limits.h>
#include <string.h>

static void touch(Lowered *p, int buf, int step)
{
    Buffer *b = &p->bufs.data[buf];
    b->first = MIN(b->first, step);
    b->last = MAX(b->last, step);
}

static void lifetimes(Lowered *p)
{
    for (int i = 0; i < p->bufs.len; i++) {
        Buffer *b = &p->bufs.data[i];
        b->first = b->keep ? 0 : INT_MAX;
        b->last = b->keep ? INT_MAX : -1;
    }
    for (int s = 0; s < p->steps.len; s++) {
        const Step *st = &p->steps.data[s];
        if (st->kind == STEP_KERNEL) {
            const Kernel *k = &p->kernels.data[st->kernel];
            touch(p, k->out_buf, s);
            for (int r = 0; r < k->stores.len; r++) touch(p, k->stores.data[r].buf, s);
            for (int r = 0; r < k->reads.len; r++) touch(p, k->reads.data[r], s);
        } else if (st->kind == STEP_FFT) {
            touch(p, st->fft.in_buf, s);
            touch(p, st->fft.out_buf, s);
        } else {
            const Node *n = node_at(p->g, st->node);
            touch(p, p->node_buf[st->node], s);
            for (int k = 0; k < n->nin; k++) touch(p, p->node_buf[n->in[k]], s);
        }
    }
    for (int i = 0; i < p->bufs.len; i++)
        if (p->bufs.data[i].first == INT_MAX) ice("plan: buffer %d is never written", i);
}

static int by_size_desc(const void *a, const void *b, void *ctx)
{
    const Buffer *bufs = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (bufs[x].bytes != bufs[y].bytes) return bufs[x].bytes > bufs[y].bytes ? -1 : 1;
    return x - y;
}

static int by_offset(const void *a, const void *b, void *ctx)
{
    const Buffer *bufs = ctx;
    int64_t x = bufs[*(const int *)a].offset, y = bufs[*(const int *)b].offset;
    return (x > y) - (x < y);
}

static bool meet(const Buffer *a, const Buffer *b) { return a->first <= b->last && b->first <= a->last; }

/* The lowest offset for buffer `b` clear of the placed buffers it meets. */
static int64_t lowest_fit(Lowered *p, int b, const int *placed, int nplaced, int *scratch)
{
    Buffer *bufs = p->bufs.data;
    int n = 0;
    for (int i = 0; i < nplaced; i++)
        if (meet(&bufs[b], &bufs[placed[i]])) scratch[n++] = placed[i];
    qsort_r(scratch, (size_t)n, sizeof *scratch, by_offset, bufs);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        const Buffer *o = &bufs[scratch[i]];
        if (at + bufs[b].bytes <= o->offset) break;
        at = MAX(at, o->offset + o->bytes);
    }
    return at;
}

void plan_memory(Lowered *p)
{
    int n = p->bufs.len;
    lifetimes(p);
    int *order = xmalloc(sizeof(int) * (size_t)(n ? n : 1)), *scratch = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, by_size_desc, p->bufs.data);
    p->arena_bytes = 0;
    for (int i = 0; i < n; i++) {
        Buffer *b = &p->bufs.data[order[i]];
        b->offset = lowest_fit(p, order[i], order, i, scratch);
        p->arena_bytes = MAX(p->arena_bytes, b->offset + b->bytes);
    }
    free(order);
    free(scratch);
}

/* ---- -dL ---- */

static const char *const fft_names[] = {"r2c", "c2r", "c2c forward", "c2c inverse"};

static void print_loc(FILE *f, const Node *n)
{
    if (!n->loc.file) return;
    const char *path = n->loc.file->path, *slash = strrchr(path, '/');
    fprintf(f, "   # %s:%d:%d", slash ? slash + 1 : path, n->loc.line, n->loc.col);
}

static void print_space(FILE *f, const KSpace *sp, uint64_t reduced)
{
    fputc('[', f);
    for (int i = 0; i < sp->rank; i++)
        fprintf(f, "%s%s%s=%lld", i ? "," : "", reduced >> i & 1 ? "+" : "", sp->label[i], (long long)sp->size[i]);
    fputc(']', f);
}

static void print_kernel_line(FILE *f, const Lowered *p, const Kernel *k)
{
    static const char *const kinds[] = {"map", "reduce", "scan", "solve"};
    fprintf(f, "%-24s %-6s ", k->name, kinds[k->kind]);
    print_space(f, &k->domain, k->kind == KK_REDUCE ? k->reduced : 0);
    if (k->kind == KK_REDUCE) fprintf(f, " %s%s", k->fold == IR_MAX ? "max" : "sum", k->wide ? " wide" : "");
    fputs(" reads", f);
    for (int r = 0; r < k->reads.len; r++) fprintf(f, " b%d", k->reads.data[r]);
    fprintf(f, " -> b%d", k->out_buf);
    for (int i = 0; i < k->stores.len; i++) fprintf(f, " b%d", k->stores.data[i].buf);
    fprintf(f, "  %d ops  grid %lldx%lld  nodes", k->vals.len, (long long)k->grid,
            (long long)k->block);
    for (int i = 0; i < k->fused.len; i++) fprintf(f, " %%%d", k->fused.data[i]);
    print_loc(f, node_at(p->g, k->node));
    fputc('\n', f);
}

void print_kernel_count(FILE *f, const Lowered *p)
{
    int generated = p->steps.len - p->nfft - p->nfallback;
    fprintf(f, "%d (%d generated, %d fft, %d fallback)", p->steps.len, generated, p->nfft, p->nfallback);
}

void print_step(FILE *f, const Lowered *p, int s)
{
    const Step *st = &p->steps.data[s];
    const Node *n = node_at(p->g, st->node);
    if (st->kind == STEP_KERNEL) {
        print_kernel_line(f, p, &p->kernels.data[st->kernel]);
        return;
    }
    if (st->kind == STEP_FFT) {
        const FftStep *x = &st->fft;
        fprintf(f, "%-24s %-6s %s rank %d n %lld", "fft", "lib", fft_names[x->kind], x->rank, (long long)x->n[0]);
        if (x->rank == 2) fprintf(f, "x%lld", (long long)x->n[1]);
        fprintf(f, " outer %lld inner %lld  b%d -> b%d  node %%%d", (long long)x->outer, (long long)x->inner,
                x->in_buf, x->out_buf, st->node);
    } else
        fprintf(f, "%-24s %-6s %%%d = %s (no kernel: the reference executor's)", "fallback", "ref", st->node,
                op_info[n->op].spelling);
    print_loc(f, n);
    fputc('\n', f);
}

static void add_buffer_once(const Lowered *p, int buf, IntVec *seen, int64_t *bytes)
{
    for (int i = 0; i < seen->len; i++)
        if (seen->data[i] == buf) return;
    vec_push(seen, buf);
    *bytes += p->bufs.data[buf].bytes;
}

int64_t step_bytes(const Lowered *p, int s)
{
    const Step *st = &p->steps.data[s];
    IntVec seen = {0};
    int64_t bytes = 0;
    if (st->kind == STEP_KERNEL) {
        const Kernel *k = &p->kernels.data[st->kernel];
        for (int r = 0; r < k->reads.len; r++) add_buffer_once(p, k->reads.data[r], &seen, &bytes);
        add_buffer_once(p, k->out_buf, &seen, &bytes);
        for (int i = 0; i < k->stores.len; i++) add_buffer_once(p, k->stores.data[i].buf, &seen, &bytes);
    } else if (st->kind == STEP_FFT) {
        add_buffer_once(p, st->fft.in_buf, &seen, &bytes);
        add_buffer_once(p, st->fft.out_buf, &seen, &bytes);
    } else {
        const Node *n = node_at(p->g, st->node);
        for (int k = 0; k < n->nin; k++) add_buffer_once(p, p->node_buf[n->in[k]], &seen, &bytes);
        add_buffer_once(p, p->node_buf[st->node], &seen, &bytes);
    }
    vec_free(&seen);
    return bytes;
}

void print_program(FILE *f, const Lowered *p)
{
    fprintf(f, "## kernels\n");
    for (int s = 0; s < p->steps.len; s++) print_step(f, p, s);
    int kept = 0;
    for (int i = 0; i < p->bufs.len; i++) kept += p->bufs.data[i].keep;
    fprintf(f, "## memory: %d buffers (%d kept), arena %lld bytes\n", p->bufs.len, kept, (long long)p->arena_bytes);
    fprintf(f, "## kernels: ");
    print_kernel_count(f, p);
    fputc('\n', f);
}
