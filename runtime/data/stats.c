/* stats.c: measurable properties of Pathfinder images and PathTracker videos.
 *
 * The statistics are those spec/datasets.md names as checkable without the
 * original generator. PathTracker (§2.1-2.3, R6): the size of green dot
 * blobs, the shape and size of the red/blue marker rings, the per-frame
 * displacement of dots (nearest green pixel of the previous frame), the
 * colours used, and how many dots are visible. Pathfinder (§1.2-1.5, R6):
 * marker radius, paddle length and the gap between paddles, measured on the
 * image at half its peak brightness, plus label balance and contour length
 * from the folder layout or the metadata rows.
 *
 * Measurements assume the native rendering (black background, the dataset's
 * own colours); they are robust summaries (medians, histograms), not exact
 * reconstructions. Directory readers report unreadable files as errors that
 * name the file. */
#include "generate.h"

#include "base.h"
#include "formats.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double stat_median(const StatValues *v)
{
    if (!v->len) return NAN;
    double *s = xmalloc(sizeof(double) * (size_t)v->len);
    memcpy(s, v->data, sizeof(double) * (size_t)v->len);
    qsort(s, (size_t)v->len, sizeof(double), cmp_double);
    double m = v->len % 2 ? s[v->len / 2] : 0.5 * (s[v->len / 2 - 1] + s[v->len / 2]);
    free(s);
    return m;
}

static double fraction(int64_t part, int64_t whole) { return whole ? (double)part / (double)whole : NAN; }

/* ---- Connected components (8-connected) over a predicate mask ---- */

typedef struct Blob {
    int n, rmin, rmax, cmin, cmax;
    int first;                 /* index into the pixel list */
} Blob;

typedef Vec(Blob) BlobVec;
typedef Vec(int) IntVec;

/* Labels the set pixels of `on` (h*w bytes); `pixels` gets every blob's
 * pixel indices, blob by blob. */
static void find_blobs(const uint8_t *on, int h, int w, BlobVec *blobs, IntVec *pixels)
{
    uint8_t *seen = xcalloc((size_t)h * w, 1);
    blobs->len = pixels->len = 0;
    for (int start = 0; start < h * w; start++) {
        if (!on[start] || seen[start]) continue;
        Blob b = {0, h, -1, w, -1, pixels->len};
        seen[start] = 1;
        vec_push(pixels, start);
        for (int k = b.first; k < pixels->len; k++) {
            int p = pixels->data[k], r = p / w, c = p % w;
            b.rmin = MIN(b.rmin, r), b.rmax = MAX(b.rmax, r), b.cmin = MIN(b.cmin, c), b.cmax = MAX(b.cmax, c);
            for (int dr = -1; dr <= 1; dr++)
                for (int dc = -1; dc <= 1; dc++) {
                    int rr = r + dr, cc = c + dc;
                    if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
                    int q = rr * w + cc;
                    if (on[q] && !seen[q]) {
                        seen[q] = 1;
                        vec_push(pixels, q);
                    }
                }
        }
        b.n = pixels->len - b.first;
        vec_push(blobs, b);
    }
    free(seen);
}

/* ---- PathTracker ---- */

static const uint8_t GREEN[3] = {0, 255, 0}, RED[3] = {255, 0, 0}, BLUE[3] = {0, 0, 255};

void pathtracker_stats_init(PathTrackerStats *s) { memset(s, 0, sizeof *s); }

static void count_colours(PathTrackerStats *s, const uint8_t *px, size_t n)
{
    for (size_t i = 0; i < n; i++, px += 3) {
        int k = 0;
        while (k < s->n_colours && memcmp(s->colours[k].rgb, px, 3)) k++;
        if (k == s->n_colours) {
            if (k == PT_STATS_MAX_COLOURS) {
                s->other_colour_pixels++;
                continue;
            }
            memcpy(s->colours[k].rgb, px, 3);
            s->n_colours++;
        }
        s->colours[k].pixels++;
    }
}

static void colour_mask(const uint8_t *frame, int n, const uint8_t rgb[3], uint8_t *mask)
{
    for (int i = 0; i < n; i++) mask[i] = !memcmp(frame + 3 * i, rgb, 3);
}

/* Red or blue blobs: intact hollow rings have a 3x3 box and an empty centre. */
static void count_rings(PathTrackerStats *s, const uint8_t *mask, int h, int w, BlobVec *b, IntVec *px)
{
    find_blobs(mask, h, w, b, px);
    for (int i = 0; i < b->len; i++) {
        const Blob *k = &b->data[i];
        int ring = k->rmax - k->rmin == 2 && k->cmax - k->cmin == 2 && k->n <= 8;
        if (ring && !mask[(k->rmin + 1) * w + k->cmin + 1]) {
            s->rings_hollow++;
            s->ring_pixels[k->n]++;
        } else {
            s->other_marker_blobs++;
        }
    }
}

/* Chebyshev distance from each green pixel of `now` to the nearest green
 * pixel of `before`. */
static void count_steps(PathTrackerStats *s, const IntVec *now, const IntVec *before, int w)
{
    for (int i = 0; i < now->len; i++) {
        int r = now->data[i] / w, c = now->data[i] % w, best = PT_STATS_MAX_STEP + 1;
        for (int j = 0; j < before->len && best; j++) {
            int d = MAX(abs(before->data[j] / w - r), abs(before->data[j] % w - c));
            best = MIN(best, d);
        }
        s->steps[best]++;
    }
}

int pathtracker_stats_add(PathTrackerStats *s, const uint8_t *video, int frames, int h, int w, int label)
{
    if (!s->videos) s->height = h, s->width = w;
    if (h != s->height || w != s->width) return -1;
    s->videos++, s->frames += frames;
    if (label == 0 || label == 1) s->labels[label]++;
    else s->unlabelled++;
    uint8_t *mask = xmalloc((size_t)h * w);
    BlobVec blobs = {0};
    IntVec pixels = {0}, green = {0}, prev = {0};
    int most = 0;
    for (int t = 0; t < frames; t++) {
        const uint8_t *frame = video + (size_t)t * h * w * 3;
        count_colours(s, frame, (size_t)h * w);
        colour_mask(frame, h * w, GREEN, mask);
        find_blobs(mask, h, w, &blobs, &pixels);
        for (int i = 0; i < blobs.len; i++) s->dot_blobs[MIN(blobs.data[i].n, PT_STATS_MAX_BLOB)]++;
        green.len = 0;
        for (int i = 0; i < pixels.len; i++) vec_push(&green, pixels.data[i]);
        s->visible_dots += green.len;
        most = MAX(most, green.len);
        if (t > 0) count_steps(s, &green, &prev, w);
        IntVec swap = prev;
        prev = green, green = swap;
        colour_mask(frame, h * w, RED, mask);
        count_rings(s, mask, h, w, &blobs, &pixels);
        colour_mask(frame, h * w, BLUE, mask);
        count_rings(s, mask, h, w, &blobs, &pixels);
    }
    s->max_visible[MIN(most, PT_STATS_MAX_DOTS)]++;
    free(mask);
    vec_free(&blobs), vec_free(&pixels), vec_free(&green), vec_free(&prev);
    return 0;
}

static int64_t sum64(const int64_t *v, int n)
{
    int64_t t = 0;
    for (int i = 0; i < n; i++) t += v[i];
    return t;
}

double pathtracker_stats_moved_fraction(const PathTrackerStats *s)
{
    int64_t all = sum64(s->steps, PT_STATS_MAX_STEP + 2);
    return fraction(all - s->steps[0], all);
}

double pathtracker_stats_single_pixel_fraction(const PathTrackerStats *s)
{
    return fraction(s->dot_blobs[1], sum64(s->dot_blobs, PT_STATS_MAX_BLOB + 1));
}

double pathtracker_stats_median_max_visible(const PathTrackerStats *s)
{
    int64_t half = 0, n = sum64(s->max_visible, PT_STATS_MAX_DOTS + 1);
    if (!n) return NAN;
    for (int k = 0; k <= PT_STATS_MAX_DOTS; k++)
        if ((half += s->max_visible[k]) * 2 >= n) return k;
    return PT_STATS_MAX_DOTS;
}

/* ---- Directory listing ---- */

typedef Vec(char *) PathVec;

static int cmp_path(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Files of `dir` ending in `suffix`, sorted; 0 if the folder is absent. */
static int list_files(const char *dir, const char *suffix, PathVec *out)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int first = out->len;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && has_suffix(e->d_name, suffix)) vec_push(out, xprintf("%s/%s", dir, e->d_name));
    closedir(d);
    qsort(out->data + first, (size_t)(out->len - first), sizeof(char *), cmp_path);
    return 1;
}

static void free_paths(PathVec *v)
{
    for (int i = 0; i < v->len; i++) free(v->data[i]);
    vec_free(v);
}

static int add_npy(PathTrackerStats *s, const char *path, int label, char *err, size_t errlen)
{
    NpyArray a;
    if (npy_read(path, &a, err, errlen)) return -1;
    int ok = strcmp(a.dtype, "|u1") == 0 && a.ndim == 4 && a.shape[3] == 3;
    if (ok) ok = pathtracker_stats_add(s, a.data, (int)a.shape[0], (int)a.shape[1], (int)a.shape[2], label) == 0;
    else snprintf(err, errlen, "%s: expected a uint8 video [frames, height, width, 3]", path);
    if (!ok && !err[0]) snprintf(err, errlen, "%s: frame size differs from the first video's", path);
    npy_free(&a);
    return ok ? 0 : -1;
}

int pathtracker_stats_dir(const char *dir, int64_t limit, PathTrackerStats *s, char *err, size_t errlen)
{
    PathVec files[3] = {{0}};
    int classed = 0;
    for (int label = 0; label < 2; label++) {
        char *sub = xprintf("%s/%d", dir, label);
        classed |= list_files(sub, ".npy", &files[label]);
        free(sub);
    }
    if (!classed && !list_files(dir, ".npy", &files[2])) return errf(err, errlen, "%s: cannot open the folder", dir);
    int rc = 0;
    int64_t done = 0;
    for (int k = 0; k < 3 && !rc; k++)
        for (int i = 0; i < files[k].len && !rc && (limit <= 0 || done < limit); i++, done++) {
            err[0] = 0;
            rc = add_npy(s, files[k].data[i], k < 2 ? k : -1, err, errlen);
        }
    for (int k = 0; k < 3; k++) free_paths(&files[k]);
    if (!rc && !s->videos) return errf(err, errlen, "%s: no .npy videos (expected 0/ and 1/ folders)", dir);
    return rc;
}

/* ---- Printing ---- */

/* A histogram as fractions; text labels bins first, first+1, ... and the
 * last one "N+" when it counts everything larger. */
static void print_pct_list(FILE *out, const int64_t *v, int n, int first, int open_ended, int json)
{
    int64_t all = sum64(v, n);
    for (int i = 0; i < n; i++) {
        if (json) fprintf(out, "%s%.6f", i ? ", " : "", fraction(v[i], all));
        else
            fprintf(out, "%s%d%s px %.1f%%", i ? ", " : "", first + i, open_ended && i == n - 1 ? "+" : "",
                    100 * fraction(v[i], all));
    }
}

static void print_colours(const PathTrackerStats *s, FILE *out, int json)
{
    int64_t all = s->other_colour_pixels;
    for (int k = 0; k < s->n_colours; k++) all += s->colours[k].pixels;
    for (int k = 0; k < s->n_colours; k++) {
        const PtColour *c = &s->colours[k];
        if (json)
            fprintf(out, "%s{\"rgb\": [%d, %d, %d], \"fraction\": %.6f}", k ? ", " : "", c->rgb[0], c->rgb[1],
                    c->rgb[2], fraction(c->pixels, all));
        else
            fprintf(out, "%s(%d,%d,%d) %.2f%%", k ? ", " : "", c->rgb[0], c->rgb[1], c->rgb[2],
                    100 * fraction(c->pixels, all));
    }
}

static void print_pt_text(const PathTrackerStats *s, FILE *out)
{
    fprintf(out, "videos          %lld (label 0: %lld, label 1: %lld, unlabelled: %lld), %lld frames of %dx%d\n",
            (long long)s->videos, (long long)s->labels[0], (long long)s->labels[1], (long long)s->unlabelled,
            (long long)s->frames, s->height, s->width);
    fprintf(out, "dot blobs       ");
    print_pct_list(out, s->dot_blobs + 1, PT_STATS_MAX_BLOB, 1, 1, 0);
    fprintf(out, "\nmarker rings    %lld hollow 3x3 rings by pixels (", (long long)s->rings_hollow);
    print_pct_list(out, s->ring_pixels + 1, 8, 1, 0, 0);
    fprintf(out, "); %lld other red/blue blobs\n", (long long)s->other_marker_blobs);
    fprintf(out, "step per frame  ");
    print_pct_list(out, s->steps, PT_STATS_MAX_STEP + 2, 0, 1, 0);
    fprintf(out, " (moved: %.1f%%)\ncolours         ", 100 * pathtracker_stats_moved_fraction(s));
    print_colours(s, out, 0);
    fprintf(out, "\nmoving dots     most visible in one frame: median %g; visible per frame: mean %.2f\n",
            pathtracker_stats_median_max_visible(s), fraction(s->visible_dots, s->frames));
}

static void print_pt_json(const PathTrackerStats *s, FILE *out)
{
    fprintf(out, "{\"kind\": \"pathtracker\", \"videos\": %lld, \"labels\": [%lld, %lld], \"unlabelled\": %lld, "
            "\"frames\": %lld, \"height\": %d, \"width\": %d,\n",
            (long long)s->videos, (long long)s->labels[0], (long long)s->labels[1], (long long)s->unlabelled,
            (long long)s->frames, s->height, s->width);
    fprintf(out, " \"single_pixel_dot_fraction\": %.6f, \"dot_blob_fractions_by_size\": [",
            pathtracker_stats_single_pixel_fraction(s));
    print_pct_list(out, s->dot_blobs + 1, PT_STATS_MAX_BLOB, 1, 1, 1);
    fprintf(out, "],\n \"hollow_rings\": %lld, \"ring_pixel_fractions\": [", (long long)s->rings_hollow);
    print_pct_list(out, s->ring_pixels, 9, 0, 0, 1);
    fprintf(out, "], \"other_marker_blobs\": %lld,\n \"step_fractions\": [", (long long)s->other_marker_blobs);
    print_pct_list(out, s->steps, PT_STATS_MAX_STEP + 2, 0, 1, 1);
    fprintf(out, "], \"moved_fraction\": %.6f,\n \"colours\": [", pathtracker_stats_moved_fraction(s));
    print_colours(s, out, 1);
    fprintf(out, "],\n \"median_max_visible_dots\": %g, \"mean_visible_dots\": %.4f}\n",
            pathtracker_stats_median_max_visible(s), fraction(s->visible_dots, s->frames));
}

void pathtracker_stats_print(const PathTrackerStats *s, FILE *out, int json)
{
    if (json) print_pt_json(s, out);
    else print_pt_text(s, out);
}

/* ---- Pathfinder: measurements on one image ---- */

void pathfinder_stats_init(PathfinderStats *s) { memset(s, 0, sizeof *s); }

void pathfinder_stats_free(PathfinderStats *s)
{
    vec_free(&s->marker_radius), vec_free(&s->paddle_length), vec_free(&s->paddle_gap);
}

static double bilinear(const uint8_t *img, int h, int w, double r, double c)
{
    if (r < 0 || c < 0 || r > h - 1 || c > w - 1) return 0;
    int r0 = (int)r, c0 = (int)c, r1 = MIN(r0 + 1, h - 1), c1 = MIN(c0 + 1, w - 1);
    double fr = r - r0, fc = c - c0;
    return (1 - fr) * ((1 - fc) * img[r0 * w + c0] + fc * img[r0 * w + c1]) +
           fr * ((1 - fc) * img[r1 * w + c0] + fc * img[r1 * w + c1]);
}

double pathfinder_marker_radius_at(const uint8_t *image, int h, int w, double r, double c)
{
    int peak = 0;
    for (int i = 0; i < h * w; i++) peak = MAX(peak, image[i]);
    StatValues radii = {0};
    for (int k = 0; k < 64; k++) {
        double a = 2 * M_PI * k / 64, d = 0;
        while (d < 4 * MAX(h, w) && bilinear(image, h, w, r + d * sin(a), c + d * cos(a)) >= peak / 2.0) d += 0.125;
        vec_push(&radii, d);
    }
    double m = stat_median(&radii);
    vec_free(&radii);
    return m;
}

/* Distance from pixel p of a blob to the nearest pixel outside it, and the
 * blob's deepest pixel. */
static double inscribed(const uint8_t *on, int h, int w, const Blob *b, const IntVec *px, int *deepest)
{
    double best = 0;
    *deepest = px->data[b->first];
    for (int k = b->first; k < b->first + b->n; k++) {
        int p = px->data[k], r = p / w, c = p % w, d2 = INT32_MAX;
        for (int ring = 1; ring * ring < d2 && ring < 64; ring++)
            for (int dr = -ring; dr <= ring; dr++)
                for (int dc = -ring; dc <= ring; dc++) {
                    if (MAX(abs(dr), abs(dc)) != ring) continue;
                    int rr = r + dr, cc = c + dc;
                    int outside = rr < 0 || rr >= h || cc < 0 || cc >= w || !on[rr * w + cc];
                    if (outside) d2 = MIN(d2, dr * dr + dc * dc);
                }
        if (sqrt(d2) > best) best = sqrt(d2), *deepest = p;
    }
    return best;
}

/* Extent of a blob along its principal axis, and its two end pixels. */
static double principal_extent(const Blob *b, const IntVec *px, int w, int ends[2])
{
    double mr = 0, mc = 0, srr = 0, scc = 0, src = 0;
    for (int k = b->first; k < b->first + b->n; k++) mr += px->data[k] / w, mc += px->data[k] % w;
    mr /= b->n, mc /= b->n;
    for (int k = b->first; k < b->first + b->n; k++) {
        double dr = px->data[k] / w - mr, dc = px->data[k] % w - mc;
        srr += dr * dr, scc += dc * dc, src += dr * dc;
    }
    double angle = 0.5 * atan2(2 * src, scc - srr), ur = sin(angle), uc = cos(angle);
    double lo = INFINITY, hi = -INFINITY;
    for (int k = b->first; k < b->first + b->n; k++) {
        double t = (px->data[k] / w - mr) * ur + (px->data[k] % w - mc) * uc;
        if (t < lo) lo = t, ends[0] = px->data[k];
        if (t > hi) hi = t, ends[1] = px->data[k];
    }
    return hi - lo + 1;
}

/* The gap from an end pixel of blob `self` to the nearest pixel of any
 * other paddle blob: background pixels in between, i.e. distance - 1. */
static double gap_from(int end, int self, const BlobVec *b, const IntVec *px, const uint8_t *is_paddle, int w)
{
    double best = INFINITY;
    int r = end / w, c = end % w;
    for (int i = 0; i < b->len; i++) {
        if (i == self || !is_paddle[i]) continue;
        const Blob *k = &b->data[i];
        for (int j = k->first; j < k->first + k->n; j++) {
            double dr = px->data[j] / w - r, dc = px->data[j] % w - c;
            best = MIN(best, dr * dr + dc * dc);
        }
    }
    return sqrt(best) - 1;
}

/* Markers are the blobs much thicker than the rest (the paddles). */
static int count_markers(PathfinderStats *s, const uint8_t *image, const uint8_t *on, int h, int w,
                         const BlobVec *b, const IntVec *px, uint8_t *is_paddle)
{
    StatValues depth = {0};
    int *deepest = xmalloc(sizeof(int) * (size_t)MAX(b->len, 1)), markers = 0;
    for (int i = 0; i < b->len; i++) vec_push(&depth, inscribed(on, h, w, &b->data[i], px, &deepest[i]));
    double typical = stat_median(&depth);
    for (int i = 0; i < b->len; i++) {
        is_paddle[i] = !(depth.data[i] >= 2.0 && depth.data[i] >= 1.5 * typical);
        if (is_paddle[i]) continue;
        markers++;
        vec_push(&s->marker_radius, pathfinder_marker_radius_at(image, h, w, deepest[i] / w, deepest[i] % w));
    }
    vec_free(&depth);
    free(deepest);
    return markers;
}

void pathfinder_stats_add(PathfinderStats *s, const uint8_t *image, int h, int w, int label)
{
    if (!s->images) s->height = h, s->width = w;
    s->images++;
    if (label == 0 || label == 1) s->labels[label]++;
    else s->unlabelled++;
    int peak = 0;
    for (int i = 0; i < h * w; i++) peak = MAX(peak, image[i]);
    uint8_t *on = xmalloc((size_t)h * w);
    for (int i = 0; i < h * w; i++) on[i] = peak > 0 && image[i] >= peak / 2.0;
    BlobVec b = {0};
    IntVec px = {0};
    find_blobs(on, h, w, &b, &px);
    uint8_t *is_paddle = xcalloc((size_t)MAX(b.len, 1), 1);
    int markers = count_markers(s, image, on, h, w, &b, &px, is_paddle);
    s->markers += markers;
    s->images_with_two_markers += markers == 2;
    for (int i = 0; i < b.len; i++) {
        if (!is_paddle[i] || b.data[i].n < 2) continue;
        int ends[2];
        s->paddles++;
        vec_push(&s->paddle_length, principal_extent(&b.data[i], &px, w, ends));
        for (int e = 0; e < 2; e++) vec_push(&s->paddle_gap, gap_from(ends[e], i, &b, &px, is_paddle, w));
    }
    free(on), free(is_paddle);
    vec_free(&b), vec_free(&px);
}

/* ---- Pathfinder: directories ---- */

/* One metadata row: subpath filename index label continuity contour_length
 * distractor_length paddle_length paddle_thickness margin n_contrasts. */
static int parse_meta_row(const char *line, char *sub, char *file, int *label, int *cl, int *margin)
{
    double cont, thick;
    int idx, dl, pl, nc;
    return sscanf(line, "%255s %255s %d %d %lf %d %d %d %lf %d %d", sub, file, &idx, label, &cont, cl, &dl, &pl,
                  &thick, margin, &nc) == 11;
}

static int add_png(PathfinderStats *s, const char *path, int label, char *err, size_t errlen)
{
    int w, h, ch;
    uint8_t *px;
    if (png_read8(path, &w, &h, &ch, &px, err, errlen)) return -1;
    if (ch != 1) {
        for (int i = 0; i < w * h; i++) px[i] = px[3 * i + 1];   /* gray stored as RGB: take one channel */
    }
    pathfinder_stats_add(s, px, h, w, label);
    free(px);
    return 0;
}

static int stats_from_metadata(const char *dir, const PathVec *metas, int64_t limit, PathfinderStats *s, char *err,
                               size_t errlen)
{
    char line[1024], sub[256], file[256];
    for (int m = 0; m < metas->len; m++) {
        FILE *f = fopen(metas->data[m], "r");
        if (!f) return errf(err, errlen, "%s: cannot open", metas->data[m]);
        for (int row = 1; fgets(line, sizeof line, f); row++) {
            int label, cl, margin;
            if (line[0] == '\n') continue;
            if (!parse_meta_row(line, sub, file, &label, &cl, &margin)) {
                fclose(f);
                return errf(err, errlen, "%s: row %d: expected 11 fields (subpath filename index label ...)",
                            metas->data[m], row);
            }
            s->rows++;
            s->contour_lengths[MIN(MAX(cl, 0), PF_MAX_PADDLES)]++;
            s->margins[MIN(MAX(margin, 0), 32)]++;
            if (limit > 0 && s->images >= limit) continue;
            char *path = xprintf("%s/%s/%s", dir, sub, file);
            int rc = add_png(s, path, label, err, errlen);
            free(path);
            if (rc) return fclose(f), -1;
        }
        fclose(f);
    }
    return 0;
}

static int stats_from_class_folders(const char *dir, int64_t limit, PathfinderStats *s, char *err, size_t errlen)
{
    static const char *const names[2] = {"neg", "pos"};
    int found = 0;
    for (int label = 0; label < 2; label++) {
        PathVec files = {0};
        char *a = xprintf("%s/imgs/%s", dir, names[label]), *b = xprintf("%s/%s", dir, names[label]);
        found |= list_files(is_dir(a) ? a : b, ".png", &files);
        free(a), free(b);
        int rc = 0;
        for (int i = 0; i < files.len && !rc && (limit <= 0 || s->images < limit); i++)
            rc = add_png(s, files.data[i], label, err, errlen);
        free_paths(&files);
        if (rc) return -1;
    }
    return found ? 0 : errf(err, errlen, "%s: no metadata/ rows and no imgs/pos, imgs/neg folders", dir);
}

int pathfinder_stats_dir(const char *dir, int64_t limit, PathfinderStats *s, char *err, size_t errlen)
{
    PathVec metas = {0};
    char *meta_dir = xprintf("%s/metadata", dir);
    list_files(meta_dir, ".npy", &metas);
    free(meta_dir);
    int rc = metas.len ? stats_from_metadata(dir, &metas, limit, s, err, errlen)
                       : stats_from_class_folders(dir, limit, s, err, errlen);
    free_paths(&metas);
    if (!rc && !s->images) return errf(err, errlen, "%s: no images", dir);
    return rc;
}

static void print_counts(FILE *out, const int64_t *v, int n, int json)
{
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!v[i]) continue;
        fprintf(out, json ? "%s\"%d\": %lld" : "%s%d: %lld", first ? "" : ", ", i, (long long)v[i]);
        first = 0;
    }
}

void pathfinder_stats_print(const PathfinderStats *s, FILE *out, int json)
{
    double mr = stat_median(&s->marker_radius), pl = stat_median(&s->paddle_length), gap = stat_median(&s->paddle_gap);
    if (json) {
        fprintf(out, "{\"kind\": \"pathfinder\", \"images\": %lld, \"labels\": [%lld, %lld], \"unlabelled\": %lld, "
                "\"height\": %d, \"width\": %d,\n \"marker_radius\": %.3f, \"markers\": %lld, "
                "\"images_with_two_markers\": %lld, \"paddle_length\": %.3f, \"paddle_gap\": %.3f, \"paddles\": %lld,\n"
                " \"metadata_rows\": %lld, \"contour_lengths\": {",
                (long long)s->images, (long long)s->labels[0], (long long)s->labels[1], (long long)s->unlabelled,
                s->height, s->width, mr, (long long)s->markers, (long long)s->images_with_two_markers, pl, gap,
                (long long)s->paddles, (long long)s->rows);
        print_counts(out, s->contour_lengths, PF_MAX_PADDLES + 1, 1);
        fprintf(out, "}, \"margins\": {");
        print_counts(out, s->margins, 33, 1);
        fprintf(out, "}}\n");
        return;
    }
    fprintf(out, "images          %lld (label 0: %lld, label 1: %lld, unlabelled: %lld), %dx%d\n",
            (long long)s->images, (long long)s->labels[0], (long long)s->labels[1], (long long)s->unlabelled,
            s->width, s->height);
    fprintf(out, "markers         radius %.2f px (median of %lld); images with exactly two: %lld\n", mr,
            (long long)s->markers, (long long)s->images_with_two_markers);
    fprintf(out, "paddles         length %.2f px, gap %.2f px (medians over %lld paddles)\n", pl, gap,
            (long long)s->paddles);
    if (s->rows) {
        fprintf(out, "contour length  ");
        print_counts(out, s->contour_lengths, PF_MAX_PADDLES + 1, 0);
        fprintf(out, " (metadata rows: %lld)\nmargin          ", (long long)s->rows);
        print_counts(out, s->margins, 33, 0);
        fprintf(out, "\n");
    }
}
