/* ref_fft.c: the 2-D real FFTs and their exact transposes, through FFTW.
 *
 * With H, W the real-side sizes at positions attr.ax[0], attr.ax[1] (the same
 * positions on the spectral side, where W becomes Wf = W/2+1), any other axes
 * batched, theta(k,n) = 2 pi (u h / H + v w / W), and w_v = 1 on the DC
 * (v = 0) and, for even W, Nyquist (v = W/2) columns and 2 elsewhere:
 *   RFFT2     X[k] = sum_n x[n] e^{-i theta}
 *   IRFFT2    x[n] = 1/(HW) sum_k w_v Re(X[k] e^{+i theta})
 *             = numpy's irfft2(X, s=(H,W)): complex inverse along H, then
 *             C2R along W ignoring Im of the DC and Nyquist columns
 *   RFFT2_T   y[n] = Re sum_k g[k] e^{-i theta}
 *   IRFFT2_T  G[k] = w_v/(HW) sum_n g[n] e^{+i theta}
 * The transposes are those of JAX's cotangent convention: with the pairing
 * <u, v> = Re sum u v (no conjugation), <A x, g> = <x, A_T g>.
 *
 * IRFFT2 never hands FFTW a 2-D C2R: FFTW documents C2R only for Hermitian
 * input, so the inverse along H runs as a C2C on a copy, the imaginary parts
 * of the DC and Nyquist columns are then zeroed explicitly (numpy's
 * projection), and only then does a 1-D C2R along W run (it may overwrite its
 * input: the copy). FFTW 3.3.10's C2R, 1-D and 2-D, was measured to ignore
 * those imaginary parts already, as numpy does; the projection makes the
 * result independent of that undocumented behaviour.
 * RFFT2_T follows the same path with conj(.)/w_v in place of the projection,
 * IRFFT2_T is an R2C followed by conj(.) w_v/(HW).
 *
 * Plans use FFTW's guru64 interface on the tensors' own strides, so H and W
 * may sit anywhere; they are made with FFTW_ESTIMATE (which never touches the
 * arrays) and used once. FFTW runs in double in f64 mode and in single
 * precision (fftwf_) in f32 mode. */
#include "ref_ops.h"

#include <fftw3.h>
#include <stdlib.h>

typedef struct Fft {
    const Shape *re, *sp;            /* real-side and spectral-side shapes */
    int h, w;                        /* positions of H and W */
    int64_t H, W, Wf;
    int64_t rs[MAX_RANK], ss[MAX_RANK]; /* element strides of re and sp */
} Fft;

static void fft_geometry(const RefCall *c, Fft *f)
{
    bool real_in = c->n->op == IR_RFFT2 || c->n->op == IR_IRFFT2_T;
    const Node *re = real_in ? c->arg[0] : c->n, *sp = real_in ? c->n : c->arg[0];
    f->re = &re->shape, f->sp = &sp->shape;
    f->h = c->n->attr.ax[0], f->w = c->n->attr.ax[1];
    if (re->dtype != DT_F32 || sp->dtype != DT_C64) call_ice(c, "needs one f32 and one c64 side");
    if (f->re->rank != f->sp->rank || f->h == f->w || f->h < 0 || f->w < 0 || f->h >= f->re->rank ||
        f->w >= f->re->rank)
        call_ice(c, "bad ranks or transformed axes");
    f->H = f->re->size[f->h], f->W = f->re->size[f->w], f->Wf = f->sp->size[f->w];
    if (f->Wf != f->W / 2 + 1) call_ice(c, "spectral W is %lld, expected %lld", (long long)f->Wf,
                                        (long long)(f->W / 2 + 1));
    for (int i = 0; i < f->re->rank; i++)
        if (i != f->w && (f->re->label[i] != f->sp->label[i] || f->re->size[i] != f->sp->size[i]))
            call_ice(c, "real and spectral sides differ on axis %d", i);
    shape_strides(f->re, f->rs);
    shape_strides(f->sp, f->ss);
}

/* ---- buffers in FFTW's precision ---- */

typedef struct Buf {
    void *p;
    bool f64;
} Buf;

static Buf buf_new(int64_t n, bool f64)
{
    return (Buf){xmalloc((size_t)n * (f64 ? sizeof(double) : sizeof(float))), f64};
}

static double buf_get(Buf b, int64_t i) { return b.f64 ? ((double *)b.p)[i] : ((float *)b.p)[i]; }

static void buf_set(Buf b, int64_t i, double v)
{
    if (b.f64) ((double *)b.p)[i] = v;
    else ((float *)b.p)[i] = (float)v;
}

static Buf buf_from(const double *v, int64_t n, bool f64)
{
    Buf b = buf_new(n, f64);
    for (int64_t i = 0; i < n; i++) buf_set(b, i, v[i]);
    return b;
}

static void buf_to(Buf b, int64_t n, double scale, double *out)
{
    for (int64_t i = 0; i < n; i++) out[i] = buf_get(b, i) * scale;
}

/* ---- FFTW plans ---- */

typedef struct Dims {
    int rank, howmany;
    fftw_iodim64 dim[2], hm[MAX_RANK];   /* fftwf_iodim64 is the same struct */
} Dims;

/* Transforms along `axes` (sizes H or W: the logical real sizes), every other
 * axis batched; strides `is` and `os` are the input's and output's. */
static Dims fft_dims(const Fft *f, int naxes, const int *axes, const int64_t *is, const int64_t *os)
{
    Dims d = {.rank = naxes};
    for (int i = 0; i < naxes; i++)
        d.dim[i] = (fftw_iodim64){axes[i] == f->h ? f->H : f->W, is[axes[i]], os[axes[i]]};
    for (int i = 0; i < f->sp->rank; i++) {
        bool transformed = false;
        for (int a = 0; a < naxes; a++) transformed |= axes[a] == i;
        if (!transformed) d.hm[d.howmany++] = (fftw_iodim64){f->sp->size[i], is[i], os[i]};
    }
    return d;
}

static _Noreturn void plan_failed(const char *kind) { ice("ref: FFTW could not plan a %s transform", kind); }

static void fft_r2c(const Dims *d, Buf in, Buf out)
{
    if (in.f64) {
        fftw_plan p = fftw_plan_guru64_dft_r2c(d->rank, d->dim, d->howmany, d->hm, in.p, out.p, FFTW_ESTIMATE);
        if (!p) plan_failed("r2c");
        fftw_execute(p);
        fftw_destroy_plan(p);
    } else {
        fftwf_plan p =
            fftwf_plan_guru64_dft_r2c(d->rank, d->dim, d->howmany, d->hm, in.p, out.p, FFTW_ESTIMATE);
        if (!p) plan_failed("r2c");
        fftwf_execute(p);
        fftwf_destroy_plan(p);
    }
}

/* Overwrites `in`. */
static void fft_c2r(const Dims *d, Buf in, Buf out)
{
    if (in.f64) {
        fftw_plan p = fftw_plan_guru64_dft_c2r(d->rank, d->dim, d->howmany, d->hm, in.p, out.p, FFTW_ESTIMATE);
        if (!p) plan_failed("c2r");
        fftw_execute(p);
        fftw_destroy_plan(p);
    } else {
        fftwf_plan p =
            fftwf_plan_guru64_dft_c2r(d->rank, d->dim, d->howmany, d->hm, in.p, out.p, FFTW_ESTIMATE);
        if (!p) plan_failed("c2r");
        fftwf_execute(p);
        fftwf_destroy_plan(p);
    }
}

/* In place; sign FFTW_FORWARD (e^{-i}) or FFTW_BACKWARD (e^{+i}). */
static void fft_c2c(const Dims *d, Buf z, int sign)
{
    if (z.f64) {
        fftw_plan p = fftw_plan_guru64_dft(d->rank, d->dim, d->howmany, d->hm, z.p, z.p, sign, FFTW_ESTIMATE);
        if (!p) plan_failed("c2c");
        fftw_execute(p);
        fftw_destroy_plan(p);
    } else {
        fftwf_plan p = fftwf_plan_guru64_dft(d->rank, d->dim, d->howmany, d->hm, z.p, z.p, sign, FFTW_ESTIMATE);
        if (!p) plan_failed("c2c");
        fftwf_execute(p);
        fftwf_destroy_plan(p);
    }
}

/* ---- the four ops ---- */

/* Multiplies (re, im) of each spectral element by edge[] on the DC and
 * Nyquist columns and by inner[] elsewhere. */
static void scale_columns(const Fft *f, Buf z, const double edge[2], const double inner[2])
{
    int64_t n = shape_numel(f->sp);
    for (int64_t e = 0; e < n; e++) {
        int64_t v = e / f->ss[f->w] % f->Wf;
        const double *s = v == 0 || (f->W % 2 == 0 && v == f->W / 2) ? edge : inner;
        buf_set(z, 2 * e, buf_get(z, 2 * e) * s[0]);
        buf_set(z, 2 * e + 1, buf_get(z, 2 * e + 1) * s[1]);
    }
}

/* RFFT2, and IRFFT2_T = conj(RFFT2(g)) w_v/(HW). */
static void forward_r2c(const RefCall *c, const Fft *f)
{
    int64_t nre = shape_numel(f->re), nsp = shape_numel(f->sp);
    Buf x = buf_from(c->in[0], nre, c->f64), z = buf_new(2 * nsp, c->f64);
    int axes[2] = {f->h, f->w};
    Dims d = fft_dims(f, 2, axes, f->rs, f->ss);
    fft_r2c(&d, x, z);
    if (c->n->op == IR_IRFFT2_T) {
        double s = 1.0 / (double)(f->H * f->W);
        scale_columns(f, z, (double[2]){s, -s}, (double[2]){2 * s, -2 * s});
    }
    buf_to(z, 2 * nsp, 1, c->out);
    free(x.p);
    free(z.p);
}

/* IRFFT2 (inverse along H, project, C2R along W, 1/(HW)), and RFFT2_T
 * (forward along H, conj(.)/w_v, C2R along W). */
static void inverse_c2r(const RefCall *c, const Fft *f)
{
    int64_t nre = shape_numel(f->re), nsp = shape_numel(f->sp);
    Buf z = buf_from(c->in[0], 2 * nsp, c->f64), x = buf_new(nre, c->f64);
    bool irfft = c->n->op == IR_IRFFT2;
    Dims along_h = fft_dims(f, 1, &f->h, f->ss, f->ss), along_w = fft_dims(f, 1, &f->w, f->ss, f->rs);
    fft_c2c(&along_h, z, irfft ? FFTW_BACKWARD : FFTW_FORWARD);
    if (irfft) scale_columns(f, z, (double[2]){1, 0}, (double[2]){1, 1});
    else scale_columns(f, z, (double[2]){1, -1}, (double[2]){0.5, -0.5});
    fft_c2r(&along_w, z, x);
    buf_to(x, nre, irfft ? 1.0 / (double)(f->H * f->W) : 1, c->out);
    free(x.p);
    free(z.p);
}

void ref_fft(const RefCall *c)
{
    Fft f;
    fft_geometry(c, &f);
    if (shape_numel(f.re) == 0) return;
    if (c->n->op == IR_RFFT2 || c->n->op == IR_IRFFT2_T) forward_r2c(c, &f);
    else inverse_c2r(c, &f);
}
