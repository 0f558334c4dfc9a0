/* test_pathtracker.c: the PathTracker generator against spec/datasets.md §2.
 *
 * Checks, on the generator's own trajectories (the trace): the label rule
 * (a positive's end ring sits on the target's last position, a negative's on
 * the decoy's, with the target elsewhere), the rendering rules (1-pixel dots
 * at ceil / floor+1, hollow 3x3 rings, paint order), the motion statistics
 * the spec derives from a replay of the original sampler, the frame, speed
 * and distractor knobs, the restyled variant, determinism, and spec-string
 * parsing. Then it compares generated videos with the real samples in
 * $CSSM_ROOT/../shared/data/pathtracker-real on every statistic the spec
 * names; it exits 77 after the other checks pass if that data is absent. */
#include "generate.h"
#include "formats.h"
#include "base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

enum { FRAME_BYTES = PT_SIDE * PT_SIDE * 3 };

static const uint8_t GREEN[3] = {0, 255, 0}, RED[3] = {255, 0, 0}, BLUE[3] = {0, 0, 255};

static const uint8_t *pixel(const uint8_t *video, int t, int r, int c)
{
    return video + (size_t)t * FRAME_BYTES + ((size_t)r * PT_SIDE + c) * 3;
}

static double dot_row(const PathTrackerTrace *tr, int d, int t) { return tr->row[(size_t)d * tr->frames + t]; }
static double dot_col(const PathTrackerTrace *tr, int d, int t) { return tr->col[(size_t)d * tr->frames + t]; }

static uint8_t *generate(const PathTrackerOptions *o, uint64_t seed, int64_t i, int *label, PathTrackerTrace *tr)
{
    uint8_t *v = xmalloc((size_t)o->frames * FRAME_BYTES);
    CHECK(pathtracker_sample_traced(o, seed, i, v, label, tr) == 0);
    return v;
}

/* Label rule (§2.3): the blue ring is on the target's last position exactly
 * when the label is 1, else on the decoy's; the red ring is on the target's
 * first position; the target/decoy dot is painted over its ring. */
static void test_labels(void)
{
    PathTrackerOptions o;
    pathtracker_defaults(&o);
    int count[2] = {0}, coincide = 0;
    for (int i = 0; i < 400; i++) {
        int label;
        PathTrackerTrace tr;
        uint8_t *v = generate(&o, 11, i, &label, &tr);
        int T = tr.frames, tgt_r = (int)floor(dot_row(&tr, 0, T - 1)), tgt_c = (int)floor(dot_col(&tr, 0, T - 1));
        int dec_r = (int)floor(dot_row(&tr, 1, T - 1)), dec_c = (int)floor(dot_col(&tr, 1, T - 1));
        count[label]++;
        CHECK(label == tr.label && label == (i % 2 == 0));
        CHECK(tr.start_marker[0] == (int)floor(dot_row(&tr, 0, 0)) && tr.start_marker[1] == (int)floor(dot_col(&tr, 0, 0)));
        if (label) CHECK(tr.end_dot == 0 && tr.end_marker[0] == tgt_r && tr.end_marker[1] == tgt_c);
        else CHECK(tr.end_dot == 1 && tr.end_marker[0] == dec_r && tr.end_marker[1] == dec_c);
        /* a negative's target ending in the blue ring is a coincidence the
         * original allows; it must stay rare */
        if (!label) coincide += abs(tgt_r - tr.end_marker[0]) <= 1 && abs(tgt_c - tr.end_marker[1]) <= 1;
        CHECK(!memcmp(pixel(v, T - 1, tr.end_marker[0] + 1, tr.end_marker[1] + 1), GREEN, 3));
        CHECK(!memcmp(pixel(v, 0, tr.start_marker[0] + 1, tr.start_marker[1] + 1), GREEN, 3));
        pathtracker_trace_free(&tr);
        free(v);
    }
    CHECK(count[0] == 200 && count[1] == 200);
    CHECK(coincide < 8);            /* < 4 % of negatives (chance is about 9/900 per video) */
    o.label = 0;
    int label;
    PathTrackerTrace tr;
    free(generate(&o, 11, 0, &label, &tr));
    CHECK(label == 0 && tr.end_dot == 1);
    pathtracker_trace_free(&tr);
}

/* Rebuilds a frame from the trace with the rules of §2.3 and compares. */
static void expect_pixel(uint8_t *frame, int r, int c, const uint8_t rgb[3])
{
    if (r >= 0 && r < PT_SIDE && c >= 0 && c < PT_SIDE) memcpy(frame + ((size_t)r * PT_SIDE + c) * 3, rgb, 3);
}

static void expect_ring(uint8_t *frame, const int tl[2], const uint8_t rgb[3])
{
    for (int dr = 0; dr < 3; dr++)
        for (int dc = 0; dc < 3; dc++)
            if (dr != 1 || dc != 1) expect_pixel(frame, tl[0] + dr, tl[1] + dc, rgb);
}

static void test_rendering(void)
{
    PathTrackerOptions o;
    pathtracker_defaults(&o);
    for (int i = 0; i < 20; i++) {
        int label;
        PathTrackerTrace tr;
        uint8_t *v = generate(&o, 5, i, &label, &tr), frame[FRAME_BYTES];
        CHECK(tr.dots == 16);
        for (int t = 0; t < tr.frames; t++) {
            memset(frame, 0, sizeof frame);
            for (int d = 2; d < tr.dots; d++) {
                int r = (int)ceil(dot_row(&tr, d, t)), c = (int)ceil(dot_col(&tr, d, t));
                CHECK(r >= 0 && r <= 27 && c >= 0 && c <= 27);
                expect_pixel(frame, r, c, GREEN);
            }
            expect_ring(frame, tr.start_marker, RED);
            expect_ring(frame, tr.end_marker, BLUE);
            for (int d = 0; d < 2; d++) {
                int r = (int)floor(dot_row(&tr, d, t)) + 1, c = (int)floor(dot_col(&tr, d, t)) + 1;
                CHECK(r >= 1 && r <= 28 && c >= 1 && c <= 28);
                expect_pixel(frame, r, c, GREEN);
            }
            CHECK(!memcmp(frame, v + (size_t)t * FRAME_BYTES, FRAME_BYTES));
        }
        pathtracker_trace_free(&tr);
        free(v);
    }
}

/* §2.2, from 2000 simulated windows at skip 1, T 64: mean step 0.30
 * px/frame, pixel changes on about 35 % of frames, start-to-end
 * displacement median 12.5 px. Tolerances: a few standard errors of 2000
 * windows, plus the spec's own rounding. */
static double motion(const PathTrackerOptions *o, int videos, double *moved, double *median_disp)
{
    StatValues disp = {0};
    double steps = 0, n = 0, changes = 0;
    for (int i = 0; i < videos; i++) {
        int label;
        PathTrackerTrace tr;
        free(generate(o, 21, i, &label, &tr));
        for (int d = 0; d < tr.dots; d++) {
            for (int t = 1; t < tr.frames; t++) {
                double dr = dot_row(&tr, d, t) - dot_row(&tr, d, t - 1), dc = dot_col(&tr, d, t) - dot_col(&tr, d, t - 1);
                steps += sqrt(dr * dr + dc * dc), n++;
                changes += floor(dot_row(&tr, d, t)) != floor(dot_row(&tr, d, t - 1)) ||
                           floor(dot_col(&tr, d, t)) != floor(dot_col(&tr, d, t - 1));
            }
            double dr = dot_row(&tr, d, tr.frames - 1) - dot_row(&tr, d, 0), dc = dot_col(&tr, d, tr.frames - 1) - dot_col(&tr, d, 0);
            vec_push(&disp, sqrt(dr * dr + dc * dc));
        }
        pathtracker_trace_free(&tr);
    }
    *moved = changes / n;
    *median_disp = stat_median(&disp);
    vec_free(&disp);
    return steps / n;
}

static void test_motion(void)
{
    PathTrackerOptions o;
    pathtracker_defaults(&o);
    o.distractors = 0;                  /* 2 dots per video: 2000 windows in 1000 videos */
    double moved, disp, step = motion(&o, 1000, &moved, &disp);
    printf("skip 1: mean step %.3f px/frame, pixel changes %.3f, median displacement %.2f px\n", step, moved, disp);
    CHECK(step > 0.28 && step < 0.32);
    CHECK(moved > 0.31 && moved < 0.39);
    CHECK(disp > 11.5 && disp < 13.5);
    o.skip = 2;
    double step2 = motion(&o, 300, &moved, &disp);
    o.skip = 4;
    double step4 = motion(&o, 300, &moved, &disp);
    printf("skip 2: %.3f, skip 4: %.3f px/frame\n", step2, step4);
    CHECK(step2 / step > 1.8 && step2 / step < 2.2);
    CHECK(step4 / step > 3.6 && step4 / step < 4.4);
}

static void test_knobs(void)
{
    PathTrackerOptions o;
    char err[256];
    int frames[] = {32, 64, 128}, dists[] = {0, 5, 14, 25};
    for (int k = 0; k < 3; k++) {
        pathtracker_defaults(&o);
        o.frames = frames[k];
        int label;
        PathTrackerTrace tr;
        free(generate(&o, 1, 0, &label, &tr));
        CHECK(tr.frames == frames[k] && tr.kept_frames == frames[k]);
        pathtracker_trace_free(&tr);
    }
    for (int k = 0; k < 4; k++) {
        pathtracker_defaults(&o);
        o.distractors = dists[k];
        int label;
        PathTrackerTrace tr;
        free(generate(&o, 1, 0, &label, &tr));
        CHECK(tr.dots == dists[k] + 2);
        pathtracker_trace_free(&tr);
    }
    pathtracker_defaults(&o);
    o.frames = 128, o.skip = 4;          /* 512 points of a 326-point curve */
    CHECK(pathtracker_check(&o, err, sizeof err) == -1 && strstr(err, "326"));
    uint8_t v[1];
    CHECK(pathtracker_sample(&o, 0, 0, v, NULL) == -1);
    o.frames = 64, o.skip = 0;
    CHECK(pathtracker_check(&o, err, sizeof err) == -1 && strstr(err, "skip"));
}

/* §2.5: 64 frames rendered, kept at linspace(0, 63, 32) truncated; dots
 * reduced to the top-left pixel of 2x2 blocks; rings redrawn on top. */
static void test_restyle(void)
{
    PathTrackerOptions o;
    pathtracker_defaults(&o);
    o.restyle = 1, o.frames = 32;
    static const int expect_index[32] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                                         32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 63};
    for (int i = 0; i < 10; i++) {
        int label;
        PathTrackerTrace tr;
        uint8_t *v = generate(&o, 9, i, &label, &tr);
        CHECK(tr.frames == 64 && tr.kept_frames == 32);
        CHECK(!memcmp(tr.frame_index, expect_index, sizeof expect_index));
        for (int t = 0; t < 32; t++) {
            int greens = 0, rings = 0;
            for (int r = 0; r < PT_SIDE; r++)
                for (int c = 0; c < PT_SIDE; c++) {
                    greens += !memcmp(pixel(v, t, r, c), GREEN, 3);
                    rings += !memcmp(pixel(v, t, r, c), RED, 3) || !memcmp(pixel(v, t, r, c), BLUE, 3);
                }
            CHECK(greens >= 1 && greens <= tr.dots);
            CHECK(rings >= 8 && rings <= 16);    /* both rings intact on top (they may overlap) */
        }
        pathtracker_trace_free(&tr);
        free(v);
    }
    o.frames = 65;
    char err[256];
    CHECK(pathtracker_check(&o, err, sizeof err) == -1);
}

static void test_determinism(void)
{
    PathTrackerOptions o;
    pathtracker_defaults(&o);
    size_t n = (size_t)o.frames * FRAME_BYTES;
    uint8_t *a = xmalloc(n), *b = xmalloc(n), *c = xmalloc(n);
    int la, lb, lc;
    CHECK(pathtracker_sample(&o, 77, 5, a, &la) == 0);
    for (int i = 0; i < 5; i++) CHECK(pathtracker_sample(&o, 77, i, c, &lc) == 0);
    CHECK(pathtracker_sample(&o, 77, 5, b, &lb) == 0);
    CHECK(!memcmp(a, b, n) && la == lb);
    CHECK(pathtracker_sample(&o, 77, 7, c, &lc) == 0 && memcmp(a, c, n));
    CHECK(pathtracker_sample(&o, 78, 5, c, &lc) == 0 && memcmp(a, c, n));
    free(a), free(b), free(c);
}

static void test_specs(void)
{
    GenSpec g;
    char err[256];
    CHECK(generate_parse_spec("pathtracker:gen,n=2000,frames=32,dist=25,skip=2,seed=9", &g, err, sizeof err) == 0);
    CHECK(g.kind == GEN_PATHTRACKER && g.n == 2000 && g.pt.frames == 32 && g.pt.distractors == 25 &&
          g.pt.skip == 2 && g.seed == 9);
    CHECK(generate_sample_bytes(&g) == (size_t)32 * FRAME_BYTES);
    CHECK(generate_parse_spec("pathtracker:gen", &g, err, sizeof err) == 0 && g.pt.frames == 64 && g.n == 10000);
    CHECK(generate_parse_spec("pathtracker:gen,restyle=on,frames=32", &g, err, sizeof err) == 0 && g.pt.restyle == 1);
    CHECK(generate_parse_spec("pathtracker:gen,frames=abc", &g, err, sizeof err) == -1 && strstr(err, "frames"));
    CHECK(generate_parse_spec("pathtracker:gen,speed=9", &g, err, sizeof err) == -1 && strstr(err, "skip"));
    CHECK(generate_parse_spec("pathtracker:gen,colour=red", &g, err, sizeof err) == -1 && strstr(err, "colour"));
    CHECK(generate_parse_spec("pathtracker:gen,frames", &g, err, sizeof err) == -1 && strstr(err, "key=value"));
    CHECK(generate_parse_spec("pathtracker", &g, err, sizeof err) == -1 && strstr(err, "NAME:gen"));
    CHECK(generate_parse_spec("movies:gen", &g, err, sizeof err) == -1 && strstr(err, "movies"));
    CHECK(generate_parse_spec("pathtracker:read", &g, err, sizeof err) == -1 && strstr(err, "gen"));
    CHECK(generate_parse_spec("pathtracker:gen,frames=128,skip=4", &g, err, sizeof err) == -1 && strstr(err, "326"));
    uint8_t *v = xmalloc(generate_sample_bytes(&g));
    CHECK(generate_parse_spec("pathtracker:gen,frames=8", &g, err, sizeof err) == 0);
    int label;
    CHECK(generate_sample(&g, 3, v, &label, err, sizeof err) == 0 && label == 0);
    free(v);
    CHECK(generate_bench("pathtracker:gen,frames=16", 0) > 0);
}

/* ---- real samples ---- */

static int load_real(const char *root, PathTrackerStats *s)
{
    char err[256];
    pathtracker_stats_init(s);
    if (pathtracker_stats_dir(root, 0, s, err, sizeof err)) {
        printf("%s\n", err);
        return -1;
    }
    return 0;
}

static void generated_stats(int distractors, int videos, PathTrackerStats *s)
{
    PathTrackerOptions o;
    pathtracker_defaults(&o);
    o.distractors = distractors;
    uint8_t *v = xmalloc((size_t)o.frames * FRAME_BYTES);
    pathtracker_stats_init(s);
    for (int i = 0; i < videos; i++) {
        int label;
        CHECK(pathtracker_sample(&o, 31, i, v, &label) == 0);
        CHECK(pathtracker_stats_add(s, v, o.frames, PT_SIDE, PT_SIDE, label) == 0);
    }
    free(v);
}

static double ring_intact(const PathTrackerStats *s) { return s->rings_hollow ? (double)s->ring_pixels[8] / s->rings_hollow : 0; }

static int has_colour(const PathTrackerStats *s, const uint8_t rgb[3])
{
    for (int k = 0; k < s->n_colours; k++)
        if (!memcmp(s->colours[k].rgb, rgb, 3)) return 1;
    return 0;
}

/* The real files come from the psychophysics fork (SOURCE.md): standard
 * dots, rings and sampler, but 13 dots in the positives (8 distractors,
 * 4 candidates, 1 decoy, per its gen_stim.sh) and extra candidate rings.
 * So dot, ring-shape, motion and colour statistics are compared directly,
 * and the dot count against a generated set of 13 dots (11 distractors). */
static void compare_real(const PathTrackerStats *real, const PathTrackerStats *gen)
{
    double r1 = pathtracker_stats_single_pixel_fraction(real), g1 = pathtracker_stats_single_pixel_fraction(gen);
    double rm = pathtracker_stats_moved_fraction(real), gm = pathtracker_stats_moved_fraction(gen);
    printf("single-pixel dot blobs: real %.3f, generated %.3f\n", r1, g1);
    printf("dot pixels moved per frame: real %.3f, generated %.3f\n", rm, gm);
    printf("intact 8-pixel rings: real %.3f, generated %.3f\n", ring_intact(real), ring_intact(gen));
    printf("most visible dots: real %g, generated %g\n", pathtracker_stats_median_max_visible(real),
           pathtracker_stats_median_max_visible(gen));
    /* Dots are single pixels; larger blobs only where dots touch, whose rate
     * depends on the dot density (+-0.03 covers 13 vs 16 dots). */
    CHECK(fabs(r1 - g1) < 0.03 && g1 > 0.9);
    /* Displacement: binomial standard error over ~6000 real dot-frames is
     * ~0.006; 0.03 is five of them. Jumps of 2+ px are rare in both. */
    CHECK(fabs(rm - gm) < 0.03);
    CHECK((double)(gen->steps[2] + gen->steps[3]) / (double)gen->steps[0] < 0.02);
    CHECK((double)(real->steps[2] + real->steps[3]) / (double)real->steps[0] < 0.02);
    /* Rings: hollow 3x3, 8 pixels when intact; the fork's extra rings are
     * occluded more often, hence 0.1. */
    CHECK(gen->rings_hollow > 0 && real->rings_hollow > 0);
    CHECK(fabs(ring_intact(real) - ring_intact(gen)) < 0.1 && ring_intact(gen) > 0.75);
    /* Colours: everything generated also occurs in the real files. */
    for (int k = 0; k < gen->n_colours; k++) CHECK(has_colour(real, gen->colours[k].rgb));
    CHECK(gen->n_colours == 4 && has_colour(real, GREEN) && has_colour(real, RED) && has_colour(real, BLUE));
    /* Moving dots: the most visible in any frame, median over videos. */
    CHECK(fabs(pathtracker_stats_median_max_visible(real) - pathtracker_stats_median_max_visible(gen)) <= 1);
}

static int test_real(void)
{
    const char *root = getenv("CSSM_ROOT");
    char *dir = xprintf("%s/../shared/data/pathtracker-real", root ? root : ".");
    char *pos = xprintf("%s/1", dir);
    PathTrackerStats real, gen;
    int rc = 0;
    if (load_real(pos, &real)) {
        printf("real PathTracker samples not found in %s\n", dir);
        rc = 77;
    } else {
        CHECK(real.videos == 10 && real.height == 32 && real.width == 32);
        generated_stats(11, 100, &gen);
        compare_real(&real, &gen);
        PathTrackerStats all;
        CHECK(load_real(dir, &all) == 0 && all.videos == 13 && all.labels[0] == 3 && all.labels[1] == 10);
        double moved = pathtracker_stats_moved_fraction(&all);
        CHECK(fabs(moved - 0.35) < 0.04);        /* §2.2: the pixel changes on ~35 % of frames */
    }
    free(dir), free(pos);
    return rc;
}

int main(void)
{
    test_labels();
    test_rendering();
    test_motion();
    test_knobs();
    test_restyle();
    test_determinism();
    test_specs();
    int rc = test_real();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    if (rc == 77) printf("skipped the comparison with real samples: data absent\n");
    return rc;
}
