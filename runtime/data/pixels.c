/* pixels.c: the pixel arithmetic the reference's loaders do, reproduced.
 *
 * Normalisations (ImageNet mean/std and [-1, 1]) in float32 exactly as
 * numpy and TensorFlow evaluate them; frame subsampling with numpy's
 * linspace and half-to-even rounding; Pillow's BILINEAR resize on uint8
 * (the PNG and .npy paths: antialiased when shrinking, fixed-point weights
 * with 22 fraction bits, an 8-bit intermediate image between the horizontal
 * and the vertical pass) and Pillow's RGB-to-L conversion; TensorFlow's
 * tf.image.resize bilinear and nearest (half-pixel centres, no antialias)
 * on float32 (the TFRecord paths); and numpy's legacy RandomState shuffle
 * (MT19937), which the reference uses for every split.
 *
 * Each follows the published source of the library it mirrors, so results
 * match bit for bit on IEEE hardware (assuming the compiler does not fuse
 * multiply-adds, which GCC does not for the default x86-64 target). */
#include "dataset.h"
#include "base.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
const float IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

/* Every normalisation maps a byte to a float, so each is a 256-entry table
 * per channel, filled once with the exact float32 expression: the same
 * values at a fraction of the cost of two divisions per element. */
static float imagenet_table[3][256], signed_table[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_tables(void)
{
    for (int v = 0; v < 256; v++) {
        for (int c = 0; c < 3; c++) imagenet_table[c][v] = ((float)v / 255.0f - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        signed_table[v] = (float)v / 127.5f - 1.0f;
    }
}

void normalize_imagenet_u8(const uint8_t *rgb, size_t pixels, float *out)
{
    pthread_once(&tables_once, fill_tables);
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++) out[3 * i + c] = imagenet_table[c][rgb[3 * i + c]];
}

void normalize_imagenet_gray(const uint8_t *gray, size_t pixels, float *out)
{
    pthread_once(&tables_once, fill_tables);
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++) out[3 * i + c] = imagenet_table[c][gray[i]];
}

void normalize_signed_u8(const uint8_t *v, size_t n, float *out)
{
    pthread_once(&tables_once, fill_tables);
    for (size_t i = 0; i < n; i++) out[i] = signed_table[v[i]];
}

/* numpy: step = (F-1)/(T-1); y[i] = i*step; y[T-1] = F-1; then np.round. */
void frame_indices(int F, int T, int *idx)
{
    if (T == 1) {
        idx[0] = 0;
        return;
    }
    double step = (double)(F - 1) / (T - 1);
    for (int i = 0; i < T - 1; i++) idx[i] = (int)nearbyint(i * step);
    idx[T - 1] = F - 1;
}

void rgb_to_gray_pillow(const uint8_t *rgb, size_t pixels, uint8_t *gray)
{
    for (size_t i = 0; i < pixels; i++)
        gray[i] = (uint8_t)((rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >> 16);
}

/* ---- Pillow BILINEAR (libImaging/Resample.c) ---- */

enum { PRECISION_BITS = 32 - 8 - 2 };

typedef struct Coeffs {
    int ksize;
    int *bounds;    /* per output: first input index, count */
    int *k;         /* per output: ksize fixed-point weights */
} Coeffs;

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static Coeffs pillow_coeffs(int in_size, int out_size)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    Coeffs c = {(int)ceil(support) * 2 + 1, xmalloc(2 * sizeof(int) * (size_t)out_size), NULL};
    c.k = xcalloc((size_t)out_size * (size_t)c.ksize, sizeof(int));
    double *w = xmalloc(sizeof(double) * (size_t)c.ksize);
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) ww += w[x] = triangle((x + xmin - center + 0.5) * ss);
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            c.k[xx * c.ksize + x] = (int)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c.bounds[2 * xx] = xmin;
        c.bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return c;
}

static uint8_t clip8(int v)
{
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* One pass along an axis: `n` lines of `in_len` samples spaced `step`
 * apart, lines `line` apart, channels interleaved. */
static void pillow_pass(const uint8_t *in, uint8_t *out, const Coeffs *co, int out_len, int lines, int c,
                        size_t in_step, size_t in_line, size_t out_step, size_t out_line)
{
    for (int l = 0; l < lines; l++)
        for (int o = 0; o < out_len; o++) {
            const int *k = co->k + o * co->ksize;
            int lo = co->bounds[2 * o], n = co->bounds[2 * o + 1];
            for (int ch = 0; ch < c; ch++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < n; x++) ss += in[l * in_line + (size_t)(lo + x) * in_step + ch] * k[x];
                out[l * out_line + (size_t)o * out_step + ch] = clip8(ss);
            }
        }
}

void resize_pillow_bilinear(const uint8_t *in, int h, int w, int c, uint8_t *out, int oh, int ow)
{
    uint8_t *tmp = xmalloc((size_t)h * (size_t)ow * (size_t)c);
    if (ow != w) {
        Coeffs co = pillow_coeffs(w, ow);
        pillow_pass(in, tmp, &co, ow, h, c, (size_t)c, (size_t)w * c, (size_t)c, (size_t)ow * c);
        free(co.bounds);
        free(co.k);
    } else {
        memcpy(tmp, in, (size_t)h * w * c);
    }
    if (oh != h) {
        Coeffs co = pillow_coeffs(h, oh);
        pillow_pass(tmp, out, &co, oh, ow, c, (size_t)ow * c, (size_t)c, (size_t)ow * c, (size_t)c);
        free(co.bounds);
        free(co.k);
    } else {
        memcpy(out, tmp, (size_t)h * ow * c);
    }
    free(tmp);
}

/* ---- TensorFlow resize (kernels/image/resize_bilinear_op.cc, resize_nearest_neighbor_op.cc) ---- */

typedef struct Lerp {
    int lower, upper;
    float lerp;
} Lerp;

static Lerp *tf_weights(int in_size, int out_size)
{
    float scale = (float)in_size / (float)out_size;
    Lerp *l = xmalloc(sizeof(Lerp) * (size_t)out_size);
    for (int i = 0; i < out_size; i++) {
        float in = ((float)i + 0.5f) * scale - 0.5f, in_f = floorf(in);
        l[i].lower = in_f > 0 ? (int)in_f : 0;
        l[i].upper = MIN((int)ceilf(in), in_size - 1);
        l[i].lerp = in - in_f;
    }
    return l;
}

void resize_tf_bilinear(const float *in, int h, int w, int c, float *out, int oh, int ow)
{
    Lerp *ys = tf_weights(h, oh), *xs = tf_weights(w, ow);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int ch = 0; ch < c; ch++) {
                float tl = in[((size_t)ys[y].lower * w + xs[x].lower) * c + ch];
                float tr = in[((size_t)ys[y].lower * w + xs[x].upper) * c + ch];
                float bl = in[((size_t)ys[y].upper * w + xs[x].lower) * c + ch];
                float br = in[((size_t)ys[y].upper * w + xs[x].upper) * c + ch];
                float top = tl + (tr - tl) * xs[x].lerp, bottom = bl + (br - bl) * xs[x].lerp;
                out[((size_t)y * ow + x) * c + ch] = top + (bottom - top) * ys[y].lerp;
            }
    free(ys);
    free(xs);
}

static int tf_nearest(int i, int in_size, int out_size)
{
    float scale = (float)in_size / (float)out_size;
    int v = (int)floorf(((float)i + 0.5f) * scale);
    return MAX(0, MIN(v, in_size - 1));
}

void resize_tf_nearest(const float *in, int h, int w, int c, float *out, int oh, int ow)
{
    for (int y = 0; y < oh; y++) {
        int sy = tf_nearest(y, h, oh);
        for (int x = 0; x < ow; x++)
            memcpy(out + ((size_t)y * ow + x) * c, in + ((size_t)sy * w + tf_nearest(x, w, ow)) * c,
                   sizeof(float) * (size_t)c);
    }
}

/* ---- numpy legacy RandomState: MT19937 (init_genrand) + shuffle ---- */

typedef struct Mt {
    uint32_t s[624];
    int i;
} Mt;

static void mt_seed(Mt *m, uint32_t seed)
{
    m->s[0] = seed;
    for (int i = 1; i < 624; i++) m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

static uint32_t mt_next(Mt *m)
{
    if (m->i == 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* numpy's random_interval: uniform in [0, max] by masked rejection. */
static uint64_t mt_interval(Mt *m, uint64_t max)
{
    if (max == 0) return 0;
    uint64_t mask = max, v;
    for (int s = 1; s < 64; s <<= 1) mask |= mask >> s;
    if (max <= 0xffffffffu) {
        while ((v = (mt_next(m) & mask)) > max) {}
    } else {
        do {
            uint64_t hi = mt_next(m);
            v = ((hi << 32) | mt_next(m)) & mask;
        } while (v > max);
    }
    return v;
}

void np_legacy_permutation(uint32_t seed, int64_t n, int64_t *out)
{
    Mt m;
    mt_seed(&m, seed);
    for (int64_t i = 0; i < n; i++) out[i] = i;
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)mt_interval(&m, (uint64_t)i);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}
