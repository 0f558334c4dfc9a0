/* generate.h: the Pathfinder and PathTracker generators, in memory.
 *
 * Both generators follow the original programs (spec/datasets.md §1 and §2):
 * Pathfinder grows paddle snakes with soft exclusion masks, anti-aliased
 * rendering and a Lanczos downsample; PathTracker samples the original
 * trajectory recursion and paints 1-pixel dots and hollow 3x3 markers.
 *
 * Determinism: sample `index` of a dataset with seed `seed` draws only from
 * rng_fold(rng_new(seed), index), so a sample never depends on how many
 * others were made, in which order, or on how many threads made them. The
 * same (options, seed, index) gives the same bytes on every machine.
 *
 * The functions here allocate nothing the caller must free except traces
 * (pathtracker_trace_free). They are safe to call from several threads at
 * once on shared, read-only options.
 *
 * On-the-fly generation for the training loader goes through a spec string,
 *
 *     NAME:gen[,key=value...]        NAME = pathfinder | pathtracker
 *
 * for example `pathtracker:gen,n=2000,frames=32,dist=14` or
 * `pathfinder:gen,preset=pf300-cl14,size=128,n=10000,seed=7`. Common keys:
 *   n=N (samples, default 10000), seed=S (default 0).
 * PathTracker keys:
 *   frames=T (1..326/skip, default 64), dist=N (distractor dots besides
 *   target and decoy, default 14; alias distractors), extra=K (the original's `extra_dist`,
 *   default 0), skip=s (speed, 1..5, default 1; alias speed),
 *   restyle=0|1 (the restyled variant, §2.5: needs frames <= 64),
 *   label=-1|0|1 (-1, the default, alternates 1,0,1,0 by index).
 * Pathfinder keys (a preset is applied first, wherever it appears):
 *   preset=NAME (see pathfinder_preset_names; default pf300-cl14),
 *   size=S (output side after an antialiased bilinear resize as the
 *   reference loader does; 0 = native), contour_length=n (alias cl),
 *   distractors=K (distractor snakes, explicit), distractor_budget=N,
 *   distractor_rule=wrapper|per-level (K from N when not explicit, §1.6),
 *   distractor_length=n (0 = contour_length/3), quirks=0|1,
 *   single_paddles=0|1, window, padding, aa, margin=m[/m...],
 *   paddle_length, thickness, marker_radius, seed_distance, continuity,
 *   snake_contrast=c[/c...], paddle_contrast=c[/c...], label=-1|0|1,
 *   max_attempts=A.
 * Booleans accept 0/1, on/off, true/false, yes/no. Errors name the key and
 * what was expected, in one line. */
#ifndef CSSM_GENERATE_H
#define CSSM_GENERATE_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Resampling (Pillow's convolution resize, 8-bit fixed point) ---- */

typedef enum ResampleFilter { RESAMPLE_BILINEAR, RESAMPLE_LANCZOS } ResampleFilter;

/* Resizes a gray image as Pillow's Image.resize does: separable filter with
 * the support widened by the reduction factor (so downscaling is
 * antialiased), horizontal pass then vertical, each rounded and clipped to
 * 8 bits. `out` holds oh*ow bytes. */
void resample_gray8(const uint8_t *in, int ih, int iw, uint8_t *out, int oh, int ow,
                    ResampleFilter filter);

/* ---- Pathfinder (spec/datasets.md §1) ---- */

enum { PF_MAX_LIST = 4, PF_MAX_PADDLES = 64 };

typedef enum PfDistractorRule {
    PF_RULE_WRAPPER,     /* budget / 2 snakes at every level (what the wrapper runs) */
    PF_RULE_PER_LEVEL,   /* budget / (contour_length / 3) snakes */
} PfDistractorRule;

typedef struct PathfinderOptions {
    char preset[32];                /* name of the preset these came from, or "" */
    int window;                     /* native canvas side, px */
    int padding;                    /* occupied border band for the targets, px */
    int antialias;                  /* supersampling factor of the primitives */
    int margins[PF_MAX_LIST], n_margins;          /* one drawn per image */
    int paddle_length;
    double paddle_thickness;        /* thickness * antialias must be an integer */
    double marker_radius;
    int seed_distance;              /* between the two target tails */
    double continuity;              /* turning-angle cut-off is 90 / continuity degrees */
    double snake_contrasts[PF_MAX_LIST];  int n_snake_contrasts;
    double paddle_contrasts[PF_MAX_LIST]; int n_paddle_contrasts;
    int contour_length;             /* paddles per target snake */
    int distractor_length;          /* paddles per distractor snake; 0 = contour_length / 3 */
    int distractor_budget;          /* N of §1.6 */
    PfDistractorRule distractor_rule;
    int distractor_snakes;          /* explicit count; -1 = from budget and rule */
    int single_paddles;             /* the one-paddle filler (off in the wrapper) */
    int quirks;                     /* 1 = the original's quirks (§1.7), the default */
    int size;                       /* output side; 0 = window */
    int label;                      /* -1 = uniform random as the original; 0/1 forced */
    int max_paddle_retrial;         /* 2 */
    int max_distractor_retrial;     /* 4 */
    int max_attempts;               /* target-pair attempts before a sample fails */
} PathfinderOptions;

/* One paddle of a target snake: `near` is the end closer to the snake's
 * origin, `far` the other; native pixels, (row, col). */
typedef struct PfPaddle { int near[2], far[2]; } PfPaddle;

/* What the generator placed, for tests and statistics. */
typedef struct PathfinderTrace {
    int label, margin;
    int paddles[2];                         /* placed per target snake (= contour_length) */
    PfPaddle target[2][PF_MAX_PADDLES];
    int origin_tip[2][2], terminal_tip[2][2];
    int origin_snake, terminal_snake;       /* which target snake carries each marker */
    int distractor_snakes, distractor_snakes_placed, single_paddles_placed;
    int attempts;                           /* target-pair attempts used (>= 1) */
} PathfinderTrace;

void pathfinder_defaults(PathfinderOptions *o);              /* preset pf300-cl14 */
/* Applies a preset by name: pf300-cl{6,9,14,20,25} or
 * lra{32,64,128,256}-{easy,intermediate,hard}. Returns -1 if unknown. */
int  pathfinder_preset(PathfinderOptions *o, const char *name);
const char *const *pathfinder_preset_names(void);             /* NULL-terminated */
int  pathfinder_check(const PathfinderOptions *o, char *err, size_t errlen);
int  pathfinder_side(const PathfinderOptions *o);             /* side of the output image */
int  pathfinder_distractor_snakes(const PathfinderOptions *o);
int  pathfinder_distractor_length(const PathfinderOptions *o);
/* Generates one gray image (pathfinder_side^2 bytes). Returns 0, or -1 if the
 * options are invalid (pathfinder_check says why) or the two target snakes
 * could not be placed in max_attempts attempts. `trace` may be NULL. */
int  pathfinder_sample(const PathfinderOptions *o, uint64_t seed, int64_t index,
                       uint8_t *image, int *label);
int  pathfinder_sample_traced(const PathfinderOptions *o, uint64_t seed, int64_t index,
                              uint8_t *image, int *label, PathfinderTrace *trace);

/* ---- PathTracker (spec/datasets.md §2) ---- */

enum { PT_SIDE = 32, PT_CURVE_POINTS = 326, PT_RESTYLE_SOURCE_FRAMES = 64 };

typedef struct PathTrackerOptions {
    int frames;              /* T, frames of the output video */
    int distractors;         /* N, distractor dots besides target and decoy */
    int extra_distractors;   /* the original's extra_dist (0 in every released set) */
    int skip;                /* speed: points skipped per frame */
    int restyle;             /* the restyled variant (§2.5) */
    int label;               /* -1 = 1 for even index, 0 for odd; 0/1 forced */
} PathTrackerOptions;

/* The dots' trajectories as sampled (before any rounding), dot-major:
 * dot 0 is the target, dot 1 the decoy, then the distractors. Rows are the
 * trajectory's x, columns its y, as in the original. `frames` are those of
 * the rendered video (64 for the restyled variant, which then keeps
 * `kept_frames` of them, listed in frame_index). */
typedef struct PathTrackerTrace {
    int frames, dots, label;
    double *row, *col;                 /* [dots * frames] */
    int start_marker[2], end_marker[2];  /* top-left (row, col) of the 3x3 rings */
    int end_dot;                       /* dot whose last position the end ring marks */
    int kept_frames;
    int *frame_index;                  /* [kept_frames] */
} PathTrackerTrace;

void pathtracker_defaults(PathTrackerOptions *o);   /* T 64, N 14, skip 1 */
int  pathtracker_check(const PathTrackerOptions *o, char *err, size_t errlen);
/* Generates one uint8 RGB video [frames, 32, 32, 3]. Returns 0, or -1 if the
 * options are invalid. `trace` may be NULL; otherwise free it with
 * pathtracker_trace_free. */
int  pathtracker_sample(const PathTrackerOptions *o, uint64_t seed, int64_t index,
                        uint8_t *video, int *label);
int  pathtracker_sample_traced(const PathTrackerOptions *o, uint64_t seed, int64_t index,
                               uint8_t *video, int *label, PathTrackerTrace *trace);
void pathtracker_trace_free(PathTrackerTrace *t);

/* ---- Generator specs (NAME:gen[,key=value...], see the top of this file) ---- */

typedef enum GenKind { GEN_PATHFINDER, GEN_PATHTRACKER } GenKind;

typedef struct GenSpec {
    GenKind kind;
    int64_t n;
    uint64_t seed;
    PathfinderOptions pf;
    PathTrackerOptions pt;
} GenSpec;

/* Defaults for a kind named "pathfinder" or "pathtracker"; -1 if unknown. */
int  generate_init(GenSpec *g, const char *name);
/* Parses a whole spec string. Returns 0, or -1 with a one-line message. */
int  generate_parse_spec(const char *spec, GenSpec *g, char *err, size_t errlen);
/* Sets one key (the keys above; '-' and '_' are interchangeable). */
int  generate_set_option(GenSpec *g, const char *key, const char *value, char *err, size_t errlen);
int  generate_check(const GenSpec *g, char *err, size_t errlen);
/* Sample layout: frames x height x width x channels uint8 (Pathfinder: 1
 * frame, 1 channel). */
void generate_shape(const GenSpec *g, int *frames, int *height, int *width, int *channels);
size_t generate_sample_bytes(const GenSpec *g);
int  generate_sample(const GenSpec *g, int64_t index, uint8_t *out, int *label,
                     char *err, size_t errlen);
/* Writes a one-line summary of the options ("pathtracker frames=64 ..."). */
void generate_describe(const GenSpec *g, char *buf, size_t len);

/* The commands `cssmc data gen ...` and `cssmc data stats ...` (gencli.c):
 * argv[0] is the subcommand ("gen", "stats"); they return the exit status
 * (0 done, 1 failed with a one-line message, 2 bad command line). */
int data_cmd_gen(int argc, char **argv);
int data_cmd_stats(int argc, char **argv);

/* Benchmark hook for `cssmc data bench`: generates samples of `name` (a spec
 * string, or just "pathfinder" / "pathtracker") on one thread for about
 * `seconds` seconds, at least one, and returns samples per second per core;
 * -1 after printing a one-line error. */
double generate_bench(const char *name, int seconds);

/* ---- Statistics (stats.c): the properties spec/datasets.md says can be measured ---- */

typedef Vec(double) StatValues;
double stat_median(const StatValues *v);      /* NAN if empty */

enum { PT_STATS_MAX_COLOURS = 16, PT_STATS_MAX_BLOB = 8, PT_STATS_MAX_STEP = 4, PT_STATS_MAX_DOTS = 64 };

typedef struct PtColour { uint8_t rgb[3]; int64_t pixels; } PtColour;

typedef struct PathTrackerStats {
    int64_t videos, frames, labels[2], unlabelled;
    int height, width;                      /* of the first video */
    /* green blobs (8-connected) by pixel count; the last bin counts larger ones */
    int64_t dot_blobs[PT_STATS_MAX_BLOB + 1];
    /* red and blue blobs: hollow 3x3 rings by pixel count (8 when intact),
     * and how many blobs are not a 3x3 ring */
    int64_t ring_pixels[9], rings_hollow, other_marker_blobs;
    /* per-frame displacement: each green pixel of frame t+1 against the
     * nearest green pixel of frame t, Chebyshev distance (last bin: more) */
    int64_t steps[PT_STATS_MAX_STEP + 2];
    PtColour colours[PT_STATS_MAX_COLOURS];
    int n_colours;
    int64_t other_colour_pixels;            /* beyond PT_STATS_MAX_COLOURS colours */
    /* moving dots: green pixels visible per frame, and per video the most
     * visible in any frame (by value; the last bin counts larger) */
    int64_t visible_dots;
    int64_t max_visible[PT_STATS_MAX_DOTS + 1];
} PathTrackerStats;

void pathtracker_stats_init(PathTrackerStats *s);
/* Adds one uint8 RGB video [frames, h, w, 3]; label -1 if unknown. Returns -1
 * if its frame size differs from the first video's. */
int  pathtracker_stats_add(PathTrackerStats *s, const uint8_t *video, int frames, int h, int w, int label);
double pathtracker_stats_moved_fraction(const PathTrackerStats *s);   /* steps >= 1 / all */
double pathtracker_stats_single_pixel_fraction(const PathTrackerStats *s);
double pathtracker_stats_median_max_visible(const PathTrackerStats *s);
/* Reads every .npy under dir/0 and dir/1 (labels from the folder) or, if
 * those are absent, directly under dir (label unknown); at most `limit`
 * files when limit > 0. */
int  pathtracker_stats_dir(const char *dir, int64_t limit, PathTrackerStats *s, char *err, size_t errlen);
void pathtracker_stats_print(const PathTrackerStats *s, FILE *out, int json);

typedef struct PathfinderStats {
    int64_t images, labels[2], unlabelled;
    int height, width;                      /* of the first image */
    /* from metadata rows, when present: values by count */
    int64_t contour_lengths[PF_MAX_PADDLES + 1], margins[33], rows;
    /* measured in the images: per marker, per paddle, per paddle end */
    StatValues marker_radius, paddle_length, paddle_gap;
    int64_t markers, paddles, images_with_two_markers;
} PathfinderStats;

void pathfinder_stats_init(PathfinderStats *s);
void pathfinder_stats_free(PathfinderStats *s);
/* Measures one gray image; label -1 if unknown. Images are analysed at
 * half their peak: blobs whose inscribed radius exceeds the thin paddles'
 * are markers; the rest are paddles, measured along their principal axis. */
void pathfinder_stats_add(PathfinderStats *s, const uint8_t *image, int h, int w, int label);
/* Radius of the bright disk centred near (r, c): the median, over 64 rays,
 * of the distance at which the image falls below half its peak. */
double pathfinder_marker_radius_at(const uint8_t *image, int h, int w, double r, double c);
/* Reads a Pathfinder PNG directory: the original layout (imgs/<batch>/sample_<i>.png
 * with metadata/<batch>.npy text rows giving label and contour length) or
 * PNGs under imgs/{pos,neg}/ (or pos/, neg/ directly); at most `limit` images. */
int  pathfinder_stats_dir(const char *dir, int64_t limit, PathfinderStats *s, char *err, size_t errlen);
void pathfinder_stats_print(const PathfinderStats *s, FILE *out, int json);

#endif
