/* pathtracker.c: the PathTracker video generator (spec/datasets.md §2).
 *
 * Every moving dot follows its own trajectory from the original sampler
 * (GenCoord.get_coordinates): a 326-point curve whose heading recursion
 * h <- 0.95 (h +/- d) treats its radian start as degrees, min-max normalised
 * per axis into [0, 27], possibly reversed, then cut to a window of T points
 * taken every `skip`. A frame is black, then green distractor dots (lighting
 * pixel ceil(x), ceil(y)), the red start ring, the blue end ring (on the
 * target's last position if positive, the decoy's if negative), then the
 * target and decoy dots at floor(x)+1, floor(y)+1: every dot one pixel, as the
 * original scikit-image 0.14 environment draws them. The restyled variant
 * (§2.5) renders 64 frames, keeps T of them at linspace(0, 63, T) truncated,
 * reduces dots to the top-left pixel of each 2x2 block and redraws both rings
 * on top, centred on the mean of their pixels.
 *
 * Assumes options passed pathtracker_check. Guarantees: the output depends
 * only on (options, seed, index); labels are 1 exactly when the end ring sits
 * on the target's last position. */
#include "generate.h"

#include "base.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PT_BOX = PT_SIDE - 5, PT_TURNS = 65, PT_RUN = 5, PT_TURN_CHOICES = 95 };

static const uint8_t GREEN[3] = {0, 255, 0}, RED[3] = {255, 0, 0}, BLUE[3] = {0, 0, 255};

void pathtracker_defaults(PathTrackerOptions *o)
{
    *o = (PathTrackerOptions){.frames = 64, .distractors = 14, .extra_distractors = 0,
                              .skip = 1, .restyle = 0, .label = -1};
}

/* Frames the trajectories are sampled for: the output's, or the restyled
 * variant's 64-frame source. */
static int source_frames(const PathTrackerOptions *o)
{
    return o->restyle ? PT_RESTYLE_SOURCE_FRAMES : o->frames;
}

int pathtracker_check(const PathTrackerOptions *o, char *err, size_t errlen)
{
    if (o->skip < 1 || o->skip > 5)
        return snprintf(err, errlen, "pathtracker: skip must be 1..5 (got %d)", o->skip), -1;
    if (o->frames < 1 || source_frames(o) * o->skip > PT_CURVE_POINTS)
        return snprintf(err, errlen,
                        "pathtracker: frames x skip must be at most %d points of the curve "
                        "(got frames=%d, skip=%d)", PT_CURVE_POINTS, source_frames(o), o->skip), -1;
    if (o->restyle && o->frames > PT_RESTYLE_SOURCE_FRAMES)
        return snprintf(err, errlen, "pathtracker: restyle keeps at most %d frames (got %d)",
                        PT_RESTYLE_SOURCE_FRAMES, o->frames), -1;
    if (o->distractors < 0 || o->distractors > 1000 || o->extra_distractors < 0 ||
        o->extra_distractors > 1000)
        return snprintf(err, errlen, "pathtracker: dist and extra must be 0..1000"), -1;
    if (o->label < -1 || o->label > 1)
        return snprintf(err, errlen, "pathtracker: label must be -1, 0 or 1"), -1;
    return 0;
}

/* The 326-point curve of GenCoord.get_coordinates, already normalised and
 * possibly reversed. The step length (0.002) cancels in the normalisation
 * but is kept so the arithmetic matches. */
static void sample_curve(Rng *r, double *xs, double *ys)
{
    double x = rng_uniform(r) * 200, y = rng_uniform(r) * 200;
    double heading = atan2(y, x);        /* radians, used as degrees below (the original's quirk) */
    int add = (int)rng_below(r, 2);
    int k = 0;
    xs[k] = x, ys[k] = y;
    for (int i = 0; i < PT_TURNS; i++) {
        double d = 0.95 * (double)rng_below(r, PT_TURN_CHOICES);
        heading = 0.95 * (add ? heading + d : heading - d);
        double rad = heading * M_PI / 180;
        for (int j = 0; j < PT_RUN; j++, k++) {
            xs[k + 1] = cos(rad) * 0.002 + xs[k];
            ys[k + 1] = sin(rad) * 0.002 + ys[k];
        }
    }
    double xmin = xs[0], xmax = xs[0], ymin = ys[0], ymax = ys[0];
    for (int i = 1; i < PT_CURVE_POINTS; i++) {
        xmin = MIN(xmin, xs[i]), xmax = MAX(xmax, xs[i]);
        ymin = MIN(ymin, ys[i]), ymax = MAX(ymax, ys[i]);
    }
    /* In the original's order of operations, so the extremes land exactly
     * on 0 and 27. A curve can be straight along one axis only with measure
     * zero; guard the division all the same. */
    double rx = xmax > xmin ? xmax - xmin : 1, ry = ymax > ymin ? ymax - ymin : 1;
    for (int i = 0; i < PT_CURVE_POINTS; i++)
        xs[i] = (xs[i] - xmin) / rx * PT_BOX, ys[i] = (ys[i] - ymin) / ry * PT_BOX;
    if (rng_below(r, 2) == 0)
        for (int i = 0, j = PT_CURVE_POINTS - 1; i < j; i++, j--) {
            double tx = xs[i], ty = ys[i];
            xs[i] = xs[j], ys[i] = ys[j], xs[j] = tx, ys[j] = ty;
        }
}

/* One dot's trajectory: a window of `frames` points, every `skip`-th. */
static void sample_trajectory(Rng *r, int frames, int skip, double *row, double *col)
{
    double xs[PT_CURVE_POINTS], ys[PT_CURVE_POINTS];
    sample_curve(r, xs, ys);
    int start = (int)rng_below(r, (uint64_t)(PT_CURVE_POINTS - frames * skip + 1));
    for (int t = 0; t < frames; t++)
        row[t] = xs[start + t * skip], col[t] = ys[start + t * skip];
}

static void paint(uint8_t *frame, int r, int c, const uint8_t rgb[3])
{
    if (r < 0 || r >= PT_SIDE || c < 0 || c >= PT_SIDE) return;
    memcpy(frame + ((size_t)r * PT_SIDE + c) * 3, rgb, 3);
}

/* The 8-pixel perimeter of the 3x3 square with top-left (r, c). */
static void paint_ring(uint8_t *frame, int r, int c, const uint8_t rgb[3])
{
    for (int dr = 0; dr < 3; dr++)
        for (int dc = 0; dc < 3; dc++)
            if (dr != 1 || dc != 1) paint(frame, r + dr, c + dc, rgb);
}

static void render_frame(const PathTrackerTrace *tr, int t, uint8_t *frame)
{
    memset(frame, 0, PT_SIDE * PT_SIDE * 3);
    for (int d = 2; d < tr->dots; d++) {
        const double *row = tr->row + (size_t)d * tr->frames, *col = tr->col + (size_t)d * tr->frames;
        paint(frame, (int)ceil(row[t]), (int)ceil(col[t]), GREEN);
    }
    paint_ring(frame, tr->start_marker[0], tr->start_marker[1], RED);
    paint_ring(frame, tr->end_marker[0], tr->end_marker[1], BLUE);
    for (int d = 0; d < 2; d++) {
        const double *row = tr->row + (size_t)d * tr->frames, *col = tr->col + (size_t)d * tr->frames;
        paint(frame, (int)floor(row[t]) + 1, (int)floor(col[t]) + 1, GREEN);
    }
}

/* Mean position of the pixels of one colour, truncated as int() does. */
static int colour_centre(const uint8_t *frame, const uint8_t rgb[3], int *cr, int *cc)
{
    long n = 0, sr = 0, sc = 0;
    for (int r = 0; r < PT_SIDE; r++)
        for (int c = 0; c < PT_SIDE; c++)
            if (!memcmp(frame + ((size_t)r * PT_SIDE + c) * 3, rgb, 3)) n++, sr += r, sc += c;
    if (!n) return 0;
    *cr = (int)((double)sr / n), *cc = (int)((double)sc / n);
    return 1;
}

/* The restyle of §2.5 applied to one rendered frame. */
static void restyle_frame(const uint8_t *in, uint8_t *out)
{
    uint8_t visited[PT_SIDE * PT_SIDE] = {0};
    memset(out, 0, PT_SIDE * PT_SIDE * 3);
    for (int r = 0; r < PT_SIDE; r++)
        for (int c = 0; c < PT_SIDE; c++) {
            if (visited[r * PT_SIDE + c] || memcmp(in + (r * PT_SIDE + c) * 3, GREEN, 3)) continue;
            for (int dr = 0; dr < 2 && r + dr < PT_SIDE; dr++)
                for (int dc = 0; dc < 2 && c + dc < PT_SIDE; dc++)
                    if (!memcmp(in + ((r + dr) * PT_SIDE + c + dc) * 3, GREEN, 3))
                        visited[(r + dr) * PT_SIDE + c + dc] = 1;
            paint(out, r, c, GREEN);
        }
    int cr, cc;
    if (colour_centre(in, RED, &cr, &cc)) paint_ring(out, cr - 1, cc - 1, RED);
    if (colour_centre(in, BLUE, &cr, &cc)) paint_ring(out, cr - 1, cc - 1, BLUE);
}

static int sample_label(const PathTrackerOptions *o, int64_t index)
{
    return o->label >= 0 ? o->label : (index % 2 == 0);
}

/* Samples every trajectory and places the rings. */
static void sample_scene(const PathTrackerOptions *o, Rng *r, int label, PathTrackerTrace *tr)
{
    int frames = source_frames(o);
    tr->frames = frames;
    tr->dots = 2 + o->distractors + o->extra_distractors;
    tr->label = label;
    tr->row = xmalloc(sizeof(double) * (size_t)tr->dots * frames);
    tr->col = xmalloc(sizeof(double) * (size_t)tr->dots * frames);
    for (int d = 0; d < tr->dots; d++)
        sample_trajectory(r, frames, o->skip, tr->row + (size_t)d * frames, tr->col + (size_t)d * frames);
    tr->end_dot = label ? 0 : 1;
    const double *end_row = tr->row + (size_t)tr->end_dot * frames, *end_col = tr->col + (size_t)tr->end_dot * frames;
    tr->start_marker[0] = (int)floor(tr->row[0]), tr->start_marker[1] = (int)floor(tr->col[0]);
    tr->end_marker[0] = (int)floor(end_row[frames - 1]), tr->end_marker[1] = (int)floor(end_col[frames - 1]);
    tr->kept_frames = o->frames;
    tr->frame_index = xmalloc(sizeof(int) * (size_t)o->frames);
    for (int t = 0; t < o->frames; t++)
        tr->frame_index[t] = !o->restyle ? t
                           : o->frames == 1 ? 0
                           : (int)((double)t * (frames - 1) / (o->frames - 1));
}

void pathtracker_trace_free(PathTrackerTrace *t)
{
    free(t->row), free(t->col), free(t->frame_index);
    t->row = t->col = NULL, t->frame_index = NULL;
}

int pathtracker_sample_traced(const PathTrackerOptions *o, uint64_t seed, int64_t index,
                              uint8_t *video, int *label, PathTrackerTrace *trace)
{
    char err[256];
    if (pathtracker_check(o, err, sizeof err)) return -1;
    Rng r = rng_fold(rng_new(seed), (uint64_t)index);
    PathTrackerTrace tr = {0};
    sample_scene(o, &r, sample_label(o, index), &tr);
    size_t frame_bytes = PT_SIDE * PT_SIDE * 3;
    uint8_t rendered[PT_SIDE * PT_SIDE * 3];
    for (int t = 0; t < o->frames; t++) {
        uint8_t *out = video + (size_t)t * frame_bytes;
        render_frame(&tr, tr.frame_index[t], o->restyle ? rendered : out);
        if (o->restyle) restyle_frame(rendered, out);
    }
    if (label) *label = tr.label;
    if (trace) *trace = tr;
    else pathtracker_trace_free(&tr);
    return 0;
}

int pathtracker_sample(const PathTrackerOptions *o, uint64_t seed, int64_t index,
                       uint8_t *video, int *label)
{
    return pathtracker_sample_traced(o, seed, index, video, label, NULL);
}
