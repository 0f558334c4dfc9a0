/* pathfinder.c: the Pathfinder image generator (spec/datasets.md §1).
 *
 * A port of the original algorithm (drewlinsley/pathfinder@ab9c130): every
 * paddle is a thick line drawn at `antialias` times the resolution, grey-
 * dilated by a disk of radius margin*antialias for its exclusion mask, and
 * Lanczos-downsampled to 8 bits; snakes grow by sampling the next paddle's
 * head on a circle around a pivot, weighted by cos^2(continuity * turn) and by
 * the free space of the occupancy mask dilated by a margin disk, and keep a
 * paddle only if occupancy + its mask stays below 1.8. Two target snakes grow
 * in lockstep from seeds `seed_distance` apart; distractor snakes (and, if
 * asked, single paddles) fill the rest; two disk markers sit on the origin
 * tip of one target and on the far tip of the same (label 1) or the other
 * (label 0) target. The image is the max-composite of all layers, min-max
 * rescaled to 8 bits as scipy's imsave did, then optionally resized with
 * Pillow's antialiased bilinear filter to the training size.
 *
 * With `quirks` on (the default) the original's oddities of §1.7 are kept:
 * snake 0's last paddle never enters the occupancy, seed 2 is not checked
 * against occupancy, the seed footprint is off by one pixel, and the image is
 * min-max rescaled. With quirks off, both last paddles are protected, seed 2
 * must pass the overlap test, the footprint is centred and the image is
 * clipped instead of rescaled.
 *
 * Exact pixel identity with the released PNGs is impossible (NumPy's RNG,
 * PIL internals); the geometry, rejection rules and rendering filters are the
 * original's, so the statistics match. Assumes options passed
 * pathfinder_check; guarantees output that depends only on
 * (options, seed, index). */
#include "generate.h"

#include "base.h"
#include "rng.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Resampling ---- */

enum { PRECISION_BITS = 22 };

static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double filter_value(ResampleFilter f, double x)
{
    if (f == RESAMPLE_BILINEAR) {
        x = fabs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }
    return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
}

static double filter_support(ResampleFilter f) { return f == RESAMPLE_BILINEAR ? 1.0 : 3.0; }

/* Fixed-point taps of one output index along one axis. */
typedef struct Taps {
    int first, count;
    int32_t *k;
} Taps;

/* Taps for outputs out0 .. out0+n-1 of an in_size -> out_size resize. */
static Taps *taps_new(int in_size, int out_size, int out0, int n, ResampleFilter f)
{
    double scale = (double)in_size / out_size, filterscale = MAX(scale, 1.0);
    double support = filter_support(f) * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    Taps *t = xcalloc((size_t)n, sizeof(Taps));
    double *w = xmalloc(sizeof(double) * (size_t)ksize);
    for (int i = 0; i < n; i++) {
        double center = (out0 + i + 0.5) * scale, total = 0;
        int lo = MAX((int)(center - support + 0.5), 0), hi = MIN((int)(center + support + 0.5), in_size);
        t[i].first = lo, t[i].count = MAX(hi - lo, 0);
        t[i].k = xmalloc(sizeof(int32_t) * (size_t)ksize);
        for (int x = 0; x < t[i].count; x++)
            total += w[x] = filter_value(f, (x + lo - center + 0.5) / filterscale);
        for (int x = 0; x < t[i].count; x++) {
            double v = total != 0.0 ? w[x] / total : 0.0;
            t[i].k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
    }
    free(w);
    return t;
}

static void taps_free(Taps *t, int n)
{
    for (int i = 0; i < n; i++) free(t[i].k);
    free(t);
}

static uint8_t clip8(int64_t acc)
{
    if (acc <= 0) return 0;
    return (uint8_t)MIN(acc >> PRECISION_BITS, 255);
}

/* The stored part of a virtual image: rows [r0, r0+h) x cols [c0, c0+w);
 * every other pixel is 0. Lets a marker be resampled without building the
 * whole hi-res canvas. */
typedef struct HiWindow {
    const uint8_t *data;
    int r0, c0, h, w;
} HiWindow;

/* One output value of the horizontal pass over virtual row `r`. */
static uint8_t taps_on_row(const Taps *t, const HiWindow *in, int r)
{
    int64_t acc = (int64_t)1 << (PRECISION_BITS - 1);
    if (r >= in->r0 && r < in->r0 + in->h) {
        const uint8_t *row = in->data + (size_t)(r - in->r0) * in->w;
        for (int x = 0; x < t->count; x++) {
            int c = t->first + x - in->c0;
            if (c >= 0 && c < in->w) acc += (int64_t)row[c] * t->k[x];
        }
    }
    return clip8(acc);
}

/* One output value of the vertical pass over a column of `tmp`. */
static uint8_t taps_on_column(const Taps *t, const uint8_t *column, int first_row, int stride)
{
    int64_t acc = (int64_t)1 << (PRECISION_BITS - 1);
    for (int y = 0; y < t->count; y++) acc += (int64_t)column[(size_t)(t->first + y - first_row) * stride] * t->k[y];
    return clip8(acc);
}

/* Resizes the virtual image `in` with precomputed taps (Pillow's two
 * passes, horizontal first, 8-bit intermediate): `cn` output columns from
 * tx, `on` output rows from ty, into `out` (row stride cn). */
static void resample_taps(const HiWindow *in, const Taps *tx, int cn, const Taps *ty, int on, uint8_t *out)
{
    int rlo = INT_MAX, rhi = 0;
    for (int i = 0; i < on; i++) {
        rlo = MIN(rlo, ty[i].first);
        rhi = MAX(rhi, ty[i].first + ty[i].count);
    }
    int rows = MAX(rhi - rlo, 0);
    uint8_t *tmp = xmalloc((size_t)MAX(rows, 1) * (size_t)cn);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cn; c++) tmp[(size_t)r * cn + c] = taps_on_row(&tx[c], in, rlo + r);
    for (int i = 0; i < on; i++)
        for (int c = 0; c < cn; c++) out[(size_t)i * cn + c] = taps_on_column(&ty[i], tmp + c, rlo, cn);
    free(tmp);
}

/* Resizes the virtual ih x iw image `in` to oh x ow, computing only the
 * output window rows [or0, or0+on) x cols [oc0, oc0+cn). */
static void resample_window(const HiWindow *in, int ih, int iw, int oh, int ow,
                            int or0, int on, int oc0, int cn, uint8_t *out, ResampleFilter f)
{
    Taps *tx = taps_new(iw, ow, oc0, cn, f), *ty = taps_new(ih, oh, or0, on, f);
    resample_taps(in, tx, cn, ty, on, out);
    taps_free(tx, cn), taps_free(ty, on);
}

void resample_gray8(const uint8_t *in, int ih, int iw, uint8_t *out, int oh, int ow, ResampleFilter filter)
{
    if (ih == oh && iw == ow) {
        memmove(out, in, (size_t)ih * iw);
        return;
    }
    HiWindow whole = {in, 0, 0, ih, iw};
    resample_window(&whole, ih, iw, oh, ow, 0, oh, 0, ow, out, filter);
}

/* ---- Options and presets ---- */

static const char *const PRESET_NAMES[] = {
    "pf300-cl6", "pf300-cl9", "pf300-cl14", "pf300-cl20", "pf300-cl25",
    "lra32-easy", "lra32-intermediate", "lra32-hard",
    "lra64-easy", "lra64-intermediate", "lra64-hard",
    "lra128-easy", "lra128-intermediate", "lra128-hard",
    "lra256-easy", "lra256-intermediate", "lra256-hard",
    NULL,
};

const char *const *pathfinder_preset_names(void) { return PRESET_NAMES; }

/* The 300-px wrapper (snakes2_wrapper.py) on top of the Args defaults. */
static void preset_300(PathfinderOptions *o, int window)
{
    *o = (PathfinderOptions){
        .window = window, .padding = 22, .antialias = 2, .margins = {3}, .n_margins = 1,
        .paddle_length = 5, .paddle_thickness = 2, .marker_radius = 5, .seed_distance = 27,
        .continuity = 1.8, .snake_contrasts = {1.0}, .n_snake_contrasts = 1,
        .paddle_contrasts = {1.0}, .n_paddle_contrasts = 1, .contour_length = 14,
        .distractor_budget = 30, .distractor_rule = PF_RULE_WRAPPER, .distractor_snakes = -1,
        .quirks = 1, .label = -1, .max_paddle_retrial = 2, .max_distractor_retrial = 4,
        .max_attempts = 10000,
    };
}

/* The LRA builders' customised arguments (lra_benchmarks/data/pathfinder.py). */
static void preset_lra(PathfinderOptions *o, int window)
{
    preset_300(o, window);
    if (window == 256) return;
    o->padding = 1;
    o->seed_distance = window == 128 ? 20 : window == 64 ? 12 : 7;
    o->marker_radius = window == 128 ? 3 : window == 64 ? 2.5 : 1.5;
    o->paddle_thickness = window == 128 ? 1.5 : window == 64 ? 1 : 0.5;
    o->distractor_budget = window == 128 ? 35 : window == 64 ? 22 : 20;
    o->snake_contrasts[0] = window == 128 ? 0.9 : window == 64 ? 0.8 : 2.0;
    o->margins[0] = window == 128 ? 2 : 1;
    if (window == 128) o->margins[1] = 3, o->n_margins = 2;
    if (window == 32) o->paddle_length = 2, o->continuity = 1.0, o->paddle_contrasts[0] = 0.75;
}

int pathfinder_preset(PathfinderOptions *o, const char *name)
{
    int window, cl;
    char level[16];
    if (sscanf(name, "pf300-cl%d", &cl) == 1 && (cl == 6 || cl == 9 || cl == 14 || cl == 20 || cl == 25)) {
        preset_300(o, 300);
    } else if (sscanf(name, "lra%d-%15s", &window, level) == 2 &&
               (window == 32 || window == 64 || window == 128 || window == 256)) {
        cl = !strcmp(level, "easy") ? 6 : !strcmp(level, "intermediate") ? 9 : !strcmp(level, "hard") ? 14 : 0;
        if (!cl) return -1;
        preset_lra(o, window);
    } else {
        return -1;
    }
    o->contour_length = cl;
    snprintf(o->preset, sizeof o->preset, "%s", name);
    return 0;
}

void pathfinder_defaults(PathfinderOptions *o) { pathfinder_preset(o, "pf300-cl14"); }

int pathfinder_distractor_length(const PathfinderOptions *o)
{
    return o->distractor_length > 0 ? o->distractor_length : o->contour_length / 3;
}

/* §1.6: the wrapper computes the count once at contour 6 (budget / 2) and
 * keeps it; the LRA docstrings' reading divides by each level's length. */
int pathfinder_distractor_snakes(const PathfinderOptions *o)
{
    if (o->distractor_snakes >= 0) return o->distractor_snakes;
    int per_snake = o->distractor_rule == PF_RULE_WRAPPER ? 2 : MAX(o->contour_length / 3, 1);
    return o->distractor_budget / per_snake;
}

int pathfinder_side(const PathfinderOptions *o) { return o->size > 0 ? o->size : o->window; }

static int check_lists(const PathfinderOptions *o, char *err, size_t errlen)
{
    if (o->n_margins < 1 || o->n_margins > PF_MAX_LIST || o->n_snake_contrasts < 1 ||
        o->n_snake_contrasts > PF_MAX_LIST || o->n_paddle_contrasts < 1 || o->n_paddle_contrasts > PF_MAX_LIST)
        return snprintf(err, errlen, "pathfinder: margin and contrast lists need 1..%d values", PF_MAX_LIST), -1;
    for (int i = 0; i < o->n_margins; i++)
        if (o->margins[i] < 0 || o->margins[i] > 32)
            return snprintf(err, errlen, "pathfinder: margin must be 0..32 (got %d)", o->margins[i]), -1;
    return 0;
}

int pathfinder_check(const PathfinderOptions *o, char *err, size_t errlen)
{
    double w_aa = o->paddle_thickness * o->antialias;
    if (o->window < 8 || o->window > 4096)
        return snprintf(err, errlen, "pathfinder: window must be 8..4096 px (got %d)", o->window), -1;
    if (o->antialias < 1 || o->antialias > 16)
        return snprintf(err, errlen, "pathfinder: aa must be 1..16 (got %d)", o->antialias), -1;
    if (w_aa < 1 || fabs(w_aa - nearbyint(w_aa)) > 1e-9)
        return snprintf(err, errlen, "pathfinder: thickness x aa must be a positive integer "
                        "(thickness does not break even: %g x %d)", o->paddle_thickness, o->antialias), -1;
    if (o->paddle_length < 1 || o->paddle_length > 64)
        return snprintf(err, errlen, "pathfinder: paddle_length must be 1..64"), -1;
    if (o->contour_length < 2 || o->contour_length > PF_MAX_PADDLES)
        return snprintf(err, errlen, "pathfinder: contour_length must be 2..%d (got %d)",
                        PF_MAX_PADDLES, o->contour_length), -1;
    if (o->padding < 1 || 2 * o->seed_distance * 2 >= o->window || o->seed_distance < 1)
        return snprintf(err, errlen, "pathfinder: need padding >= 1 and 1 <= seed_distance < window/4"), -1;
    if (o->marker_radius <= 0 || o->continuity <= 0)
        return snprintf(err, errlen, "pathfinder: marker_radius and continuity must be positive"), -1;
    if (o->size < 0 || o->size > 4096)
        return snprintf(err, errlen, "pathfinder: size must be 0..4096 (got %d)", o->size), -1;
    if (o->label < -1 || o->label > 1 || o->max_attempts < 1 || o->max_paddle_retrial < 0 ||
        o->max_distractor_retrial < 0 || o->distractor_budget < 0 || o->distractor_snakes < -1)
        return snprintf(err, errlen, "pathfinder: label must be -1/0/1, retrials >= 0, max_attempts >= 1"), -1;
    return check_lists(o, err, errlen);
}

/* ---- Generation state ---- */

/* A paddle's line image and exclusion mask: square patches of side
 * 2K+1 whose centre pixel is the line's start. */
typedef struct Paddle {
    int r0, c0;                 /* image position of patch pixel (0, 0) */
    double *line, *mask;
} Paddle;

/* Saved image regions, so a failed distractor snake can be undone. */
typedef struct Saved { double *canvas; int r0, c0, side; double *values; } Saved;
typedef Vec(Saved) SavedVec;

typedef struct Offset { int dr, dc; } Offset;
typedef Vec(Offset) OffsetVec;

typedef struct Gen {
    const PathfinderOptions *o;
    Rng rng;
    int H, W, margin, K, aa, hi_side, lo_side, line_width;
    double *image, *mask;
    uint8_t *hi_line, *hi_mask, *lo;   /* scratch for drawing */
    Taps *paddle_taps;                 /* hi_side -> lo_side Lanczos, both axes */
    OffsetVec disk_hi, disk_lo;
    SavedVec journal;
    int journaling;
    uint64_t *blocked, *dilated;       /* bit rows for seed availability */
    int words;
    PathfinderTrace *trace;
} Gen;

typedef struct Snake {
    int pivot[2];
    double theta;
    Paddle last;                       /* the newest paddle, not yet in the occupancy */
    int tip[2];                        /* far end of the newest paddle */
} Snake;

static void disk_offsets(OffsetVec *v, int radius)
{
    v->len = 0;
    for (int dr = -radius; dr <= radius; dr++)
        for (int dc = -radius; dc <= radius; dc++)
            if (dr * dr + dc * dc <= radius * radius) vec_push(v, ((Offset){dr, dc}));
}

static Paddle paddle_new(const Gen *g)
{
    size_t n = (size_t)g->lo_side * g->lo_side;
    return (Paddle){0, 0, xcalloc(n, sizeof(double)), xcalloc(n, sizeof(double))};
}

static void paddle_free(Paddle *p) { free(p->line), free(p->mask); }

static void paddle_swap(Paddle *a, Paddle *b)
{
    Paddle t = *a;
    *a = *b, *b = t;
}

/* Sizes that depend on the image's margin; called once per image. */
static void gen_setup_margin(Gen *g, int margin)
{
    const PathfinderOptions *o = g->o;
    g->margin = margin;
    g->K = o->paddle_length + (int)ceil(o->paddle_thickness) + margin;
    g->hi_side = 2 * g->K * g->aa + 1, g->lo_side = 2 * g->K + 1;
    g->hi_line = xmalloc((size_t)g->hi_side * g->hi_side);
    g->hi_mask = xmalloc((size_t)g->hi_side * g->hi_side);
    g->lo = xmalloc((size_t)g->lo_side * g->lo_side);
    g->paddle_taps = taps_new(g->hi_side, g->lo_side, 0, g->lo_side, RESAMPLE_LANCZOS);
    disk_offsets(&g->disk_hi, margin * g->aa);
    disk_offsets(&g->disk_lo, margin);
}

static void gen_init(Gen *g, const PathfinderOptions *o, Rng rng, PathfinderTrace *trace)
{
    memset(g, 0, sizeof *g);
    g->o = o, g->rng = rng, g->trace = trace;
    g->H = g->W = o->window, g->aa = o->antialias;
    g->line_width = (int)nearbyint(o->paddle_thickness * o->antialias);
    g->image = xcalloc((size_t)g->H * g->W, sizeof(double));
    g->mask = xcalloc((size_t)g->H * g->W, sizeof(double));
    g->words = (g->W + 63) / 64;
    g->blocked = xcalloc((size_t)g->H * g->words, sizeof(uint64_t));
    g->dilated = xcalloc((size_t)g->H * g->words, sizeof(uint64_t));
}

static void journal_clear(Gen *g)
{
    for (int i = 0; i < g->journal.len; i++) free(g->journal.data[i].values);
    g->journal.len = 0;
}

static void gen_free(Gen *g)
{
    journal_clear(g);
    vec_free(&g->journal), vec_free(&g->disk_hi), vec_free(&g->disk_lo);
    free(g->image), free(g->mask), free(g->hi_line), free(g->hi_mask), free(g->lo);
    free(g->blocked), free(g->dilated);
    if (g->paddle_taps) taps_free(g->paddle_taps, g->lo_side);
}

/* ---- Drawing one paddle (snakes.draw_line_n_mask) ---- */

/* translate_coord: move by dist along theta (row = sin, col = cos), ceil. */
static void translate(const int from[2], double theta, double dist, int to[2])
{
    to[0] = (int)ceil(from[0] + dist * sin(theta));
    to[1] = (int)ceil(from[1] + dist * cos(theta));
}

static double flip_by_pi(double theta) { return theta < 0 ? theta + M_PI : theta - M_PI; }

/* Pillow's rounding of the wide-line half widths. */
static int round_up(double f) { return (int)(f >= 0 ? floor(f + 0.5) : -floor(fabs(f) + 0.5)); }
static int round_down(double f) { return (int)(f >= 0 ? ceil(f - 0.5) : -ceil(fabs(f) - 0.5)); }

static void hi_set(Gen *g, int r, int c)
{
    if (r >= 0 && r < g->hi_side && c >= 0 && c < g->hi_side) g->hi_line[r * g->hi_side + c] = 255;
}

/* A 1-pixel line, both ends included (Pillow's width-1 line). */
static void raster_thin(Gen *g, int r0, int c0, int r1, int c1)
{
    int dr = abs(r1 - r0), dc = abs(c1 - c0), sr = r0 < r1 ? 1 : -1, sc = c0 < c1 ? 1 : -1;
    int e = dc - dr;
    for (;;) {
        hi_set(g, r0, c0);
        if (r0 == r1 && c0 == c1) break;
        int e2 = 2 * e;
        if (e2 > -dr) e -= dr, c0 += sc;
        if (e2 < dc) e += dc, r0 += sr;
    }
}

/* Is (x, y) inside or on the convex quadrilateral q (x, y pairs, either winding)? */
static int in_quad(const int q[4][2], double x, double y)
{
    int pos = 0, neg = 0;
    for (int i = 0; i < 4; i++) {
        const int *a = q[i], *b = q[(i + 1) % 4];
        double cross = (double)(b[0] - a[0]) * (y - a[1]) - (double)(b[1] - a[1]) * (x - a[0]);
        pos += cross > 1e-9, neg += cross < -1e-9;
    }
    return !(pos && neg);
}

/* A wide line built as Pillow builds one: a filled quadrilateral whose
 * integer corners are offset from the ends by the rounded half widths
 * (Pillow's ROUND_UP / ROUND_DOWN split), flat caps. x = col, y = row. */
static void raster_wide(Gen *g, int y0, int x0, int y1, int x1, int width)
{
    int dx = x1 - x0, dy = y1 - y0;
    if (!dx && !dy) {
        hi_set(g, y0, x0);
        return;
    }
    double big = sqrt((double)dx * dx + (double)dy * dy), half = (width - 1) / 2.0;
    double rmax = round_up(half) / big, rmin = round_down(half) / big;
    int dxmin = round_down(rmin * dy), dxmax = round_down(rmax * dy);
    int dymin = round_down(rmin * dx), dymax = round_down(rmax * dx);
    int q[4][2] = {{x0 - dxmin, y0 + dymax}, {x1 - dxmin, y1 + dymax},
                   {x1 + dxmax, y1 - dymin}, {x0 + dxmax, y0 - dymin}};
    int xlo = g->hi_side, xhi = -1, ylo = g->hi_side, yhi = -1;
    for (int i = 0; i < 4; i++) {
        xlo = MIN(xlo, q[i][0]), xhi = MAX(xhi, q[i][0]);
        ylo = MIN(ylo, q[i][1]), yhi = MAX(yhi, q[i][1]);
    }
    for (int y = MAX(ylo, 0); y <= MIN(yhi, g->hi_side - 1); y++)
        for (int x = MAX(xlo, 0); x <= MIN(xhi, g->hi_side - 1); x++)
            if (in_quad(q, x, y)) hi_set(g, y, x);
}

/* The hi-res line from the patch centre along theta, and its dilation. */
static void draw_hires(Gen *g, double theta)
{
    int n = g->hi_side, centre[2] = {g->K * g->aa, g->K * g->aa}, head[2];
    translate(centre, theta, (double)g->o->paddle_length * g->aa, head);
    memset(g->hi_line, 0, (size_t)n * n);
    if (g->line_width <= 1) raster_thin(g, centre[0], centre[1], head[0], head[1]);
    else raster_wide(g, centre[0], centre[1], head[0], head[1], g->line_width);
    memset(g->hi_mask, 0, (size_t)n * n);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) {
            if (!g->hi_line[r * n + c]) continue;
            for (int i = 0; i < g->disk_hi.len; i++) {
                int rr = r + g->disk_hi.data[i].dr, cc = c + g->disk_hi.data[i].dc;
                if (rr >= 0 && rr < n && cc >= 0 && cc < n) g->hi_mask[rr * n + cc] = 255;
            }
        }
}

/* The Lanczos downsample of a hi-res patch (scipy imresize's). */
static void downsample_hi(Gen *g, const uint8_t *hi)
{
    HiWindow whole = {hi, 0, 0, g->hi_side, g->hi_side};
    resample_taps(&whole, g->paddle_taps, g->lo_side, g->paddle_taps, g->lo_side, g->lo);
}

static void downsample(Gen *g, const uint8_t *hi, double *out, double scale)
{
    int n = g->lo_side;
    downsample_hi(g, hi);
    for (int i = 0; i < n * n; i++) out[i] = g->lo[i] / 255.0 * scale;
}

/* A paddle starting at pixel (r, c) along theta, with line contrast `contrast`. */
static void draw_paddle(Gen *g, const int start[2], double theta, double contrast, Paddle *p)
{
    draw_hires(g, theta);
    downsample(g, g->hi_line, p->line, contrast);
    downsample(g, g->hi_mask, p->mask, 1.0);
    p->r0 = start[0] - g->K, p->c0 = start[1] - g->K;
}

/* ---- Canvas operations on patches ---- */

static void save_region(Gen *g, double *canvas, int r0, int c0, int side)
{
    Saved s = {canvas, r0, c0, side, xmalloc(sizeof(double) * (size_t)side * side)};
    for (int i = 0; i < side; i++)
        for (int j = 0; j < side; j++) {
            int r = r0 + i, c = c0 + j;
            s.values[i * side + j] = (r >= 0 && r < g->H && c >= 0 && c < g->W) ? canvas[r * g->W + c] : 0;
        }
    vec_push(&g->journal, s);
}

static void undo_journal(Gen *g)
{
    for (int k = g->journal.len - 1; k >= 0; k--) {
        Saved *s = &g->journal.data[k];
        for (int i = 0; i < s->side; i++)
            for (int j = 0; j < s->side; j++) {
                int r = s->r0 + i, c = s->c0 + j;
                if (r >= 0 && r < g->H && c >= 0 && c < g->W) s->canvas[r * g->W + c] = s->values[i * s->side + j];
            }
    }
    journal_clear(g);
}

/* canvas = max(canvas, patch), clipped to the image. */
static void max_into(Gen *g, double *canvas, const double *patch, int r0, int c0)
{
    int n = g->lo_side;
    if (g->journaling) save_region(g, canvas, r0, c0, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int r = r0 + i, c = c0 + j;
            if (r < 0 || r >= g->H || c < 0 || c >= g->W) continue;
            double *v = &canvas[r * g->W + c];
            if (patch[i * n + j] > *v) *v = patch[i * n + j];
        }
}

/* The overlap test: max(occupancy + mask) < 1.8 (occupancy never exceeds 1,
 * so only the patch can break it). */
static int overlap_ok(const Gen *g, const double *occupancy, const Paddle *p)
{
    int n = g->lo_side;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int r = p->r0 + i, c = p->c0 + j;
            if (r < 0 || r >= g->H || c < 0 || c >= g->W) continue;
            if (occupancy[r * g->W + c] + p->mask[i * n + j] >= 1.8) return 0;
        }
    return 1;
}

static int inside(const Gen *g, const int p[2]) { return p[0] >= 0 && p[0] < g->H && p[1] >= 0 && p[1] < g->W; }

/* ---- Seeding (seed_snake, initialize_two_seeds) ---- */

/* Offsets (relative to a candidate tail) of the pixels a theta paddle's mask
 * covers fully: the dilation footprint of the seed search. The original
 * draws it in a (2(L+m)+1)^2 canvas starting one pixel past the kernel
 * centre, so the footprint is clipped and shifted by one (a quirk). */
static void seed_footprint(Gen *g, double theta, OffsetVec *fp)
{
    int lm = g->o->paddle_length + g->margin, side = 2 * lm + 1, n = g->lo_side;
    draw_hires(g, theta);
    downsample_hi(g, g->hi_mask);
    fp->len = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (g->lo[i * n + j] != 255) continue;
            if (!g->o->quirks) {
                vec_push(fp, ((Offset){i - g->K, j - g->K}));
                continue;
            }
            int kr = lm + 1 - g->K + i, kc = lm + 1 - g->K + j;
            if (kr >= 0 && kr < side && kc >= 0 && kc < side) vec_push(fp, ((Offset){kr - lm, kc - lm}));
        }
}

/* Marks pixels whose occupancy exceeds 0.3, plus a band of `band` pixels
 * along every border. Returns how many pixels of the unbanded occupancy
 * are free. */
static long mark_blocked(Gen *g, int band)
{
    long free_pixels = 0;
    memset(g->blocked, 0, sizeof(uint64_t) * (size_t)g->H * g->words);
    for (int r = 0; r < g->H; r++) {
        uint64_t *row = g->blocked + (size_t)r * g->words;
        const double *m = g->mask + (size_t)r * g->W;
        int whole = r < band || r >= g->H - band;
        for (int c = 0; c < g->W; c++) {
            int occupied = m[c] > 0.3;
            free_pixels += !occupied;
            if (occupied || whole || c < band || c >= g->W - band) row[c / 64] |= 1ull << (c % 64);
        }
    }
    return free_pixels;
}

/* Bits of word w of a row that are inside the image. */
static uint64_t row_word_mask(const Gen *g, int w)
{
    int bits = g->W - w * 64;
    return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

/* Bits [c, c+64) of a bit row, zeros outside the row. */
static uint64_t bits_at(const uint64_t *row, int words, int c)
{
    if (c >= words * 64 || c <= -64) return 0;
    if (c < 0) return row[0] << -c;
    int w = c / 64, s = c % 64;
    uint64_t lo = row[w] >> s;
    if (s && w + 1 < words) lo |= row[w + 1] << (64 - s);
    return lo;
}

/* dilated(p) = any blocked pixel at p + offset; returns the free count. */
static long dilate_blocked(Gen *g, const OffsetVec *fp)
{
    memset(g->dilated, 0, sizeof(uint64_t) * (size_t)g->H * g->words);
    for (int k = 0; k < fp->len; k++) {
        Offset o = fp->data[k];
        for (int r = MAX(0, -o.dr); r < MIN(g->H, g->H - o.dr); r++) {
            const uint64_t *src = g->blocked + (size_t)(r + o.dr) * g->words;
            uint64_t *dst = g->dilated + (size_t)r * g->words;
            for (int w = 0; w < g->words; w++) dst[w] |= bits_at(src, g->words, w * 64 + o.dc);
        }
    }
    long n = 0;
    for (int r = 0; r < g->H; r++)
        for (int w = 0; w < g->words; w++)
            n += __builtin_popcountll(~g->dilated[(size_t)r * g->words + w] & row_word_mask(g, w));
    return n;
}

/* The k-th free pixel in row-major order (np.nonzero's order). */
static void nth_free(const Gen *g, long k, int out[2])
{
    for (int r = 0; r < g->H; r++)
        for (int w = 0; w < g->words; w++) {
            uint64_t bits = ~g->dilated[(size_t)r * g->words + w] & row_word_mask(g, w);
            long n = __builtin_popcountll(bits);
            if (k >= n) {
                k -= n;
                continue;
            }
            while (k--) bits &= bits - 1;
            out[0] = r, out[1] = w * 64 + __builtin_ctzll(bits);
            return;
        }
    ice("nth_free: index past the free pixels");
}

static double random_degree(Gen *g) { return ((double)rng_below(&g->rng, 360) - 180) * M_PI / 180; }

/* The head and pivot of a seed paddle at `tail`; 0 if either leaves the image. */
static int seed_geometry(Gen *g, const int tail[2], double theta, int pivot[2])
{
    int head[2];
    translate(tail, theta, g->o->paddle_length, head);
    translate(head, flip_by_pi(theta), g->o->paddle_length + g->margin, pivot);
    return inside(g, head) && inside(g, pivot);
}

static int pick_index(Gen *g, int n) { return n > 1 ? (int)rng_below(&g->rng, (uint64_t)n) : 0; }

static void record_paddle(Gen *g, int snake, const int near[2], const int far[2])
{
    PathfinderTrace *t = g->trace;
    if (!t || snake < 0 || t->paddles[snake] >= PF_MAX_PADDLES) return;
    PfPaddle *p = &t->target[snake][t->paddles[snake]++];
    memcpy(p->near, near, sizeof p->near), memcpy(p->far, far, sizeof p->far);
}

/* seed_snake: a first paddle at a pixel where a theta paddle would touch
 * nothing (occupancy <= 0.3 under its footprint, border band `band` px
 * counted as occupied). For distractors `stop` gives up when fewer than that
 * fraction of all pixels is free. The paddle is drawn into the image; its
 * mask becomes s->last, outside the occupancy. */
static int seed_snake(Gen *g, int band, double stop, double contrast, Snake *s, int tail[2])
{
    OffsetVec fp = {0};
    int ok = 0;
    long raw_free = mark_blocked(g, band);     /* the occupancy does not change between trials */
    for (int trial = 0; trial <= g->o->max_paddle_retrial; trial++) {
        double theta = random_degree(g);
        seed_footprint(g, theta, &fp);
        long n = dilate_blocked(g, &fp);
        if ((stop > 0 && (double)raw_free / ((double)g->H * g->W) < stop) || n == 0) break;
        nth_free(g, (long)rng_below(&g->rng, (uint64_t)n), tail);
        if (!seed_geometry(g, tail, theta, s->pivot)) continue;
        draw_paddle(g, tail, theta, contrast, &s->last);
        max_into(g, g->image, s->last.line, s->last.r0, s->last.c0);
        s->theta = theta;
        translate(tail, theta, g->o->paddle_length, s->tip);
        ok = 1;
        break;
    }
    vec_free(&fp);
    return ok;
}

/* Candidate heads of the next paddle (get_coords_cmf): the distinct integer
 * pixels of a circle of radius L+m around the pivot, in np.unique's order. */
typedef struct Candidate { int r, c; double phi, cmf; } Candidate;
typedef Vec(Candidate) CandidateVec;

static int cmp_candidate(const void *a, const void *b)
{
    const Candidate *x = a, *y = b;
    return x->r != y->r ? (x->r > y->r) - (x->r < y->r) : (x->c > y->c) - (x->c < y->c);
}

static int circle_candidates(const Gen *g, const int pivot[2], CandidateVec *out)
{
    double radius = g->o->paddle_length + g->margin, step = 360.0 / (2 * radius * M_PI);
    int count = (int)ceil(360.0 / step);
    out->len = 0;
    for (int i = 0; i < count; i++) {
        double a = i * step * M_PI / 180, y = pivot[0] + radius * sin(a), x = pivot[1] + radius * cos(a);
        if (y >= g->H || y < 0 || x >= g->W || x < 0) continue;
        vec_push(out, ((Candidate){(int)y, (int)x, 0, 0}));
    }
    qsort(out->data, (size_t)out->len, sizeof(Candidate), cmp_candidate);
    int n = 0;
    for (int i = 0; i < out->len; i++)
        if (!n || cmp_candidate(&out->data[n - 1], &out->data[i])) out->data[n++] = out->data[i];
    out->len = n;
    return n;
}

/* The occupancy grey-dilated by the margin disk, at one pixel. */
static double dilated_at(const Gen *g, int r, int c)
{
    double m = 0;
    for (int i = 0; i < g->disk_lo.len; i++) {
        int rr = r + g->disk_lo.data[i].dr, cc = c + g->disk_lo.data[i].dc;
        if (rr >= 0 && rr < g->H && cc >= 0 && cc < g->W) m = MAX(m, g->mask[rr * g->W + cc]);
    }
    return m;
}

/* Weights each candidate by free space and cos^2(continuity * turn) and
 * turns them into a CMF; 0 if the snake is at a dead end. */
static int candidate_cmf(const Gen *g, const int pivot[2], double theta, CandidateVec *cs)
{
    if (!circle_candidates(g, pivot, cs)) return 0;
    double total = 0;
    for (int i = 0; i < cs->len; i++) {
        Candidate *k = &cs->data[i];
        k->phi = atan2((double)(k->r - pivot[0]), (double)(k->c - pivot[1]));
        double turn = fabs(k->phi - theta);
        turn = MIN(MIN(turn, 2 * M_PI - turn) * g->o->continuity, 0.5 * M_PI);
        double w = MAX(cos(turn), 0.0);
        total += k->cmf = (1 - dilated_at(g, k->r, k->c)) * w * w;
    }
    if (total < 1e-4) return 0;
    double run = 0;
    for (int i = 0; i < cs->len; i++) cs->data[i].cmf = run += cs->data[i].cmf / total;
    return 1;
}

static const Candidate *draw_candidate(Gen *g, const CandidateVec *cs)
{
    double u = rng_uniform(&g->rng);
    for (int i = 0; i < cs->len; i++)
        if (cs->data[i].cmf - u > 0) return &cs->data[i];
    return &cs->data[0];     /* np.argmax of all-False is 0 */
}

/* extend_snake: one more paddle, drawn from a sampled head back toward the
 * new pivot, kept if it passes the overlap test against the occupancy
 * (which excludes this snake's newest paddle; that one enters now). */
static int extend_snake(Gen *g, Snake *s, double contrast, Paddle *cand, int snake_id)
{
    int pivot[2];
    CandidateVec cs = {0};
    translate(s->pivot, s->theta, g->o->paddle_length + 2 * g->margin, pivot);
    int ok = 0;
    if (candidate_cmf(g, pivot, s->theta, &cs))
        for (int trial = 0; trial <= g->o->max_paddle_retrial && !ok; trial++) {
            const Candidate *k = draw_candidate(g, &cs);
            int head[2] = {k->r, k->c}, near[2];
            double back = flip_by_pi(k->phi);
            draw_paddle(g, head, back, contrast, cand);
            if (!overlap_ok(g, g->mask, cand)) continue;
            max_into(g, g->image, cand->line, cand->r0, cand->c0);
            max_into(g, g->mask, s->last.mask, s->last.r0, s->last.c0);
            paddle_swap(&s->last, cand);
            memcpy(s->pivot, pivot, sizeof pivot), memcpy(s->tip, head, sizeof head);
            s->theta = k->phi;
            translate(head, back, g->o->paddle_length, near);
            record_paddle(g, snake_id, near, head);
            ok = 1;
        }
    vec_free(&cs);
    return ok;
}

/* ---- The two target snakes (two_snakes, initialize_two_seeds) ---- */

static void reset_canvas(Gen *g)
{
    int p = g->o->padding;
    memset(g->image, 0, sizeof(double) * (size_t)g->H * g->W);
    for (int r = 0; r < g->H; r++)
        for (int c = 0; c < g->W; c++)
            g->mask[r * g->W + c] = (r < p || c < p || r >= g->H - p || c >= g->W - p) ? 1.0 : 0.0;
    if (g->trace) g->trace->paddles[0] = g->trace->paddles[1] = 0;
}

/* Without quirks seed 2 must clear the occupancy and seed 1's mask. */
static int seed2_clear(const Gen *g, const Paddle *first, const Paddle *second)
{
    int n = g->lo_side;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int r = second->r0 + i, c = second->c0 + j;
            if (r < 0 || r >= g->H || c < 0 || c >= g->W) continue;
            int fi = r - first->r0, fj = c - first->c0;
            double occ = g->mask[r * g->W + c];
            if (fi >= 0 && fi < n && fj >= 0 && fj < n) occ = MAX(occ, first->mask[fi * n + fj]);
            if (occ + second->mask[i * n + j] >= 1.8) return 0;
        }
    return 1;
}

/* Seed 2: its tail `seed_distance` px from tail 1 at a uniform integer
 * bearing, checked only for head and pivot inside the image (and, without
 * quirks, against the occupancy). */
static int seed_second(Gen *g, const int tail1[2], const Snake *first, double contrast, Snake *s, int tail[2])
{
    double sd = g->o->seed_distance;
    for (int trial = 0; trial <= g->o->max_paddle_retrial; trial++) {
        double theta = random_degree(g), bearing = (double)rng_below(&g->rng, 360) * M_PI / 180;
        tail[0] = (int)nearbyint(tail1[0] + sd * sin(bearing));
        tail[1] = (int)nearbyint(tail1[1] + sd * cos(bearing));
        if (!seed_geometry(g, tail, theta, s->pivot)) continue;
        draw_paddle(g, tail, theta, contrast, &s->last);
        if (!g->o->quirks && (!inside(g, tail) || !seed2_clear(g, &first->last, &s->last))) continue;
        max_into(g, g->image, s->last.line, s->last.r0, s->last.c0);
        s->theta = theta;
        translate(tail, theta, g->o->paddle_length, s->tip);
        return 1;
    }
    return 0;
}

/* Two snake contrasts: the list doubled, shuffled, first two. */
static void target_contrasts(Gen *g, double mu[2])
{
    int n = g->o->n_snake_contrasts, i = (int)rng_below(&g->rng, (uint64_t)(2 * n));
    int j = (int)rng_below(&g->rng, (uint64_t)(2 * n - 1));
    j += j >= i;
    mu[0] = g->o->snake_contrasts[i % n], mu[1] = g->o->snake_contrasts[j % n];
}

/* One attempt at both target snakes. */
static int place_targets(Gen *g, Snake s[2], int origin[2][2])
{
    const PathfinderOptions *o = g->o;
    double mu[2];
    Paddle cand = paddle_new(g);
    int ok = 0;
    reset_canvas(g);
    target_contrasts(g, mu);
    double c1 = o->paddle_contrasts[pick_index(g, o->n_paddle_contrasts)] * mu[0];
    if (!seed_snake(g, 2 * o->seed_distance, 0, c1, &s[0], origin[0])) goto done;
    record_paddle(g, 0, origin[0], s[0].tip);
    double c2 = o->paddle_contrasts[pick_index(g, o->n_paddle_contrasts)] * mu[1];
    if (!seed_second(g, origin[0], &s[0], c2, &s[1], origin[1])) goto done;
    record_paddle(g, 1, origin[1], s[1].tip);
    for (int seg = 1; seg < o->contour_length; seg++) {
        double c = o->paddle_contrasts[(int)rng_below(&g->rng, (uint64_t)o->n_paddle_contrasts)];
        for (int k = 0; k < 2; k++)
            if (!extend_snake(g, &s[k], c * mu[k], &cand, k)) goto done;
    }
    max_into(g, g->mask, s[1].last.mask, s[1].last.r0, s[1].last.c0);
    if (!o->quirks) max_into(g, g->mask, s[0].last.mask, s[0].last.r0, s[0].last.c0);
    ok = 1;
done:
    paddle_free(&cand);
    return ok;
}

/* ---- Distractors (make_many_snakes, make_snake) ---- */

/* One distractor snake of `paddles` paddles; on any failure the image and
 * occupancy are restored, as the original returns its copies. */
static int make_snake(Gen *g, int paddles, Snake *s, Paddle *cand)
{
    const PathfinderOptions *o = g->o;
    int tail[2], ok = 1;
    journal_clear(g);
    g->journaling = 1;
    double c = o->snake_contrasts[(int)rng_below(&g->rng, (uint64_t)o->n_snake_contrasts)];
    if (!seed_snake(g, 1, 0.01, c, s, tail)) ok = 0;
    for (int i = 1; ok && i < paddles; i++) {
        c = o->snake_contrasts[(int)rng_below(&g->rng, (uint64_t)o->n_snake_contrasts)];
        ok = extend_snake(g, s, c, cand, -1);
    }
    if (ok) max_into(g, g->mask, s->last.mask, s->last.r0, s->last.c0);
    else undo_journal(g);
    g->journaling = 0;
    journal_clear(g);
    return ok;
}

/* Up to `count` snakes, each retried max_trial more times, skipped if it
 * keeps failing. Returns how many were placed. */
static int make_many_snakes(Gen *g, int count, int max_trial, int paddles)
{
    Snake s = {.last = paddle_new(g)};
    Paddle cand = paddle_new(g);
    int placed = 0;
    for (int i = 0; i < count; i++)
        for (int t = 0; t <= max_trial; t++)
            if (make_snake(g, paddles, &s, &cand)) {
                placed++;
                break;
            }
    paddle_free(&s.last), paddle_free(&cand);
    return placed;
}

/* The filler's paddle count: int(150 * 123.5 / (7.5 + 13m + 4m^2)) minus
 * the paddles already asked for. */
static int single_paddle_count(const Gen *g, int distractors, int distractor_length)
{
    int m = g->margin;
    int total = (int)(150 * (1.0 / ((7.5 + 13 * m + 4 * m * m) / 123.5)));
    return total - 2 * g->o->contour_length - distractors * distractor_length;
}

/* ---- Markers and the final image ---- */

/* draw_circle: a disk of radius r*aa at tip*aa on the hi-res canvas,
 * Lanczos-downsampled by aa, max-composited into the image at 0..1. */
static void draw_marker(Gen *g, const int tip[2])
{
    double R = g->o->marker_radius * g->aa;
    int span = (int)ceil(R), cy = tip[0] * g->aa, cx = tip[1] * g->aa, n = 2 * span + 1;
    uint8_t *disk = xmalloc((size_t)n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            disk[i * n + j] = (double)(i - span) * (i - span) + (double)(j - span) * (j - span) <= R * R ? 255 : 0;
    int reach = (int)ceil(g->o->marker_radius) + 4;
    int r0 = MAX(tip[0] - reach, 0), r1 = MIN(tip[0] + reach + 1, g->H);
    int c0 = MAX(tip[1] - reach, 0), c1 = MIN(tip[1] + reach + 1, g->W);
    if (r1 > r0 && c1 > c0) {
        uint8_t *out = xmalloc((size_t)(r1 - r0) * (c1 - c0));
        HiWindow win = {disk, cy - span, cx - span, n, n};
        resample_window(&win, g->H * g->aa, g->W * g->aa, g->H, g->W, r0, r1 - r0, c0, c1 - c0, out,
                        RESAMPLE_LANCZOS);
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++)
                g->image[r * g->W + c] = MAX(g->image[r * g->W + c], out[(r - r0) * (c1 - c0) + c - c0] / 255.0);
        free(out);
    }
    free(disk);
}

/* scipy's imsave of a float image: min-max rescaled to 0..255 (quirk);
 * without quirks the 0..1 values are clipped instead. */
static void quantise(const Gen *g, uint8_t *out)
{
    size_t n = (size_t)g->H * g->W;
    double lo = 0, hi = 1;
    if (g->o->quirks) {
        lo = hi = g->image[0];
        for (size_t i = 1; i < n; i++) lo = MIN(lo, g->image[i]), hi = MAX(hi, g->image[i]);
        if (hi == lo) hi = lo + 1;
    }
    double scale = 255.0 / (hi - lo);
    for (size_t i = 0; i < n; i++) {
        double v = (g->image[i] - lo) * scale;
        out[i] = (uint8_t)(MIN(MAX(v, 0.0), 255.0) + 0.5);
    }
}

/* Target snakes, retried from scratch until both grow fully. */
static int grow_targets(Gen *g, int origin[2][2], int terminal[2][2])
{
    Snake s[2] = {{.last = paddle_new(g)}, {.last = paddle_new(g)}};
    int attempts = 0, ok = 0;
    while (!ok && attempts < g->o->max_attempts) {
        attempts++;
        ok = place_targets(g, s, origin);
    }
    for (int k = 0; k < 2; k++) {
        memcpy(terminal[k], s[k].tip, sizeof s[k].tip);
        paddle_free(&s[k].last);
    }
    if (g->trace) g->trace->attempts = attempts;
    return ok;
}

static void fill_trace(Gen *g, int label, int origin[2][2], int terminal[2][2], int o_snake)
{
    PathfinderTrace *t = g->trace;
    if (!t) return;
    t->label = label, t->margin = g->margin;
    memcpy(t->origin_tip, origin, sizeof t->origin_tip);
    memcpy(t->terminal_tip, terminal, sizeof t->terminal_tip);
    t->origin_snake = o_snake, t->terminal_snake = label ? o_snake : 1 - o_snake;
}

static void draw_scene(Gen *g, int label, int origin[2][2], int terminal[2][2])
{
    const PathfinderOptions *o = g->o;
    int distractors = pathfinder_distractor_snakes(o), length = pathfinder_distractor_length(o);
    int placed = length > 0 ? make_many_snakes(g, distractors, o->max_distractor_retrial, length) : 0;
    int singles = 0;
    if (o->single_paddles) {
        int want = single_paddle_count(g, distractors, length);
        singles = want > 0 ? make_many_snakes(g, want, o->max_paddle_retrial, 1) : 0;
    }
    int o_snake = (int)rng_below(&g->rng, 2), t_snake = label ? o_snake : 1 - o_snake;
    draw_marker(g, origin[o_snake]);
    draw_marker(g, terminal[t_snake]);
    fill_trace(g, label, origin, terminal, o_snake);
    if (g->trace) {
        g->trace->distractor_snakes = distractors;
        g->trace->distractor_snakes_placed = placed;
        g->trace->single_paddles_placed = singles;
    }
}

int pathfinder_sample_traced(const PathfinderOptions *o, uint64_t seed, int64_t index,
                             uint8_t *image, int *label, PathfinderTrace *trace)
{
    char err[256];
    if (pathfinder_check(o, err, sizeof err)) return -1;
    Gen g;
    gen_init(&g, o, rng_fold(rng_new(seed), (uint64_t)index), trace);
    if (trace) memset(trace, 0, sizeof *trace);
    int lab = o->label >= 0 ? o->label : (int)rng_below(&g.rng, 2);
    gen_setup_margin(&g, o->margins[pick_index(&g, o->n_margins)]);
    int origin[2][2], terminal[2][2], rc = -1;
    if (grow_targets(&g, origin, terminal)) {
        draw_scene(&g, lab, origin, terminal);
        uint8_t *native = xmalloc((size_t)g.H * g.W);
        quantise(&g, native);
        int side = pathfinder_side(o);
        resample_gray8(native, g.H, g.W, image, side, side, RESAMPLE_BILINEAR);
        free(native);
        if (label) *label = lab;
        rc = 0;
    }
    gen_free(&g);
    return rc;
}

int pathfinder_sample(const PathfinderOptions *o, uint64_t seed, int64_t index, uint8_t *image, int *label)
{
    return pathfinder_sample_traced(o, seed, index, image, label, NULL);
}
