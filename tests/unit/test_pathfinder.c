/* test_pathfinder.c: the Pathfinder generator against spec/datasets.md §1.
 *
 * Checks the presets of §1.2 and the distractor rule of §1.6, the Pillow-
 * style resampler, and then generated images: on the generator's trace, the
 * contour length, paddle length and gap (L and 2m along the curve), the seed
 * distance, and the marker rule (positive: both markers on one snake's two
 * tips; negative: on tips of different snakes); on the pixels, the marker
 * radius, paddle length and gap measured at half the peak, the min-max
 * rescale quirk, label balance, the size option (whose resize must agree
 * with the dataset layer's own Pillow-bilinear resize, written separately),
 * and determinism. */
#include "generate.h"
#include "dataset.h"
#include "base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static void test_presets(void)
{
    PathfinderOptions o;
    char err[256];
    for (const char *const *p = pathfinder_preset_names(); *p; p++) {
        CHECK(pathfinder_preset(&o, *p) == 0);
        CHECK(pathfinder_check(&o, err, sizeof err) == 0);
        CHECK(!strcmp(o.preset, *p));
    }
    CHECK(pathfinder_preset(&o, "pf300-cl7") == -1 && pathfinder_preset(&o, "lra48-easy") == -1);
    CHECK(pathfinder_preset(&o, "lra32-hard") == 0);
    CHECK(o.window == 32 && o.paddle_length == 2 && o.paddle_thickness == 0.5 && o.marker_radius == 1.5 &&
          o.seed_distance == 7 && o.continuity == 1.0 && o.snake_contrasts[0] == 2 && o.paddle_contrasts[0] == 0.75 &&
          o.contour_length == 14 && o.padding == 1 && o.margins[0] == 1);
    CHECK(pathfinder_preset(&o, "lra128-easy") == 0 && o.n_margins == 2 && o.margins[0] == 2 && o.margins[1] == 3 &&
          o.contour_length == 6 && o.distractor_budget == 35 && o.snake_contrasts[0] == 0.9);
    /* §1.6: the wrapper keeps budget/2 snakes; per-level divides by cl/3 with floor. */
    int cls[] = {6, 9, 14, 20, 25}, lengths[] = {2, 3, 4, 6, 8}, per_level[] = {15, 10, 7, 5, 3};
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "pf300-cl%d", cls[i]);
        CHECK(pathfinder_preset(&o, name) == 0);
        CHECK(pathfinder_distractor_length(&o) == lengths[i] && pathfinder_distractor_snakes(&o) == 15);
        o.distractor_rule = PF_RULE_PER_LEVEL;
        CHECK(pathfinder_distractor_snakes(&o) == per_level[i]);
        o.distractor_snakes = 4;
        CHECK(pathfinder_distractor_snakes(&o) == 4);
    }
    pathfinder_defaults(&o);
    o.paddle_thickness = 1.25;           /* 2.5 hi-res pixels */
    CHECK(pathfinder_check(&o, err, sizeof err) == -1 && strstr(err, "break even"));
}

static void test_resample(void)
{
    uint8_t in[41 * 41], out[21 * 21], big[300 * 300], small[128 * 128];
    memset(in, 200, sizeof in);
    resample_gray8(in, 41, 41, out, 21, 21, RESAMPLE_LANCZOS);
    for (int i = 0; i < 21 * 21; i++) CHECK(out[i] == 200);
    memset(in, 0, sizeof in);
    in[20 * 41 + 20] = 255;              /* a centred impulse stays centred and symmetric */
    resample_gray8(in, 41, 41, out, 21, 21, RESAMPLE_LANCZOS);
    CHECK(out[10 * 21 + 10] > 0);
    for (int r = 0; r < 21; r++)
        for (int c = 0; c < 21; c++) CHECK(out[r * 21 + c] == out[(20 - r) * 21 + (20 - c)] && out[r * 21 + c] == out[c * 21 + r]);
    for (int i = 0; i < 300 * 300; i++) big[i] = (uint8_t)(i % 300 < 150 ? 0 : 255);
    resample_gray8(big, 300, 300, small, 128, 128, RESAMPLE_BILINEAR);
    for (int c = 1; c < 128; c++) CHECK(small[c] >= small[c - 1]);   /* an edge stays monotone */
    CHECK(small[0] == 0 && small[127] == 255 && small[63] < 128 && small[64] > 128);
    resample_gray8(big, 300, 300, big, 300, 300, RESAMPLE_BILINEAR);  /* same size: a copy */
    CHECK(big[149] == 0 && big[150] == 255);
}

static double dist(const int a[2], const int b[2]) { return hypot(a[0] - b[0], a[1] - b[1]); }

/* The trace of §1.4-1.5: every paddle spans L, consecutive paddles are 2m
 * apart along the curve (rounding each end to a pixel costs up to ~1.5 px),
 * seeds are seed_distance apart, and markers follow the label. */
static void check_trace(const PathfinderOptions *o, const PathfinderTrace *t, StatValues *lengths, StatValues *gaps)
{
    CHECK(t->attempts >= 1);
    for (int k = 0; k < 2; k++) {
        CHECK(t->paddles[k] == o->contour_length);
        CHECK(!memcmp(t->target[k][0].near, t->origin_tip[k], sizeof t->origin_tip[k]));
        CHECK(!memcmp(t->target[k][t->paddles[k] - 1].far, t->terminal_tip[k], sizeof t->terminal_tip[k]));
        for (int i = 0; i < t->paddles[k]; i++) {
            vec_push(lengths, dist(t->target[k][i].near, t->target[k][i].far));
            if (i) vec_push(gaps, dist(t->target[k][i - 1].far, t->target[k][i].near));
        }
    }
    CHECK(fabs(dist(t->origin_tip[0], t->origin_tip[1]) - o->seed_distance) <= 1.0);
    CHECK(t->terminal_snake == (t->label ? t->origin_snake : 1 - t->origin_snake));
    CHECK(t->distractor_snakes == pathfinder_distractor_snakes(o) && t->distractor_snakes_placed <= t->distractor_snakes);
}

/* Peak brightness inside a disk of radius r around a pixel. */
static int peak_near(const uint8_t *img, int side, const int at[2], int r)
{
    int peak = 0;
    for (int dr = -r; dr <= r; dr++)
        for (int dc = -r; dc <= r; dc++) {
            int y = at[0] + dr, x = at[1] + dc;
            if (y >= 0 && y < side && x >= 0 && x < side && dr * dr + dc * dc <= r * r) peak = MAX(peak, img[y * side + x]);
        }
    return peak;
}

static void test_images_300(void)
{
    PathfinderOptions o;
    CHECK(pathfinder_preset(&o, "pf300-cl14") == 0);
    int side = pathfinder_side(&o), labels[2] = {0};
    uint8_t *img = xmalloc((size_t)side * side);
    StatValues lengths = {0}, gaps = {0}, radii = {0};
    PathfinderStats s;
    pathfinder_stats_init(&s);
    for (int i = 0; i < 60; i++) {
        int label;
        PathfinderTrace t;
        CHECK(pathfinder_sample_traced(&o, 3, i, img, &label, &t) == 0);
        CHECK(label == t.label && t.margin == 3);
        labels[label]++;
        check_trace(&o, &t, &lengths, &gaps);
        vec_push(&radii, pathfinder_marker_radius_at(img, side, side, t.origin_tip[t.origin_snake][0], t.origin_tip[t.origin_snake][1]));
        vec_push(&radii, pathfinder_marker_radius_at(img, side, side, t.terminal_tip[t.terminal_snake][0], t.terminal_tip[t.terminal_snake][1]));
        CHECK(peak_near(img, side, t.origin_tip[t.origin_snake], 1) == 255);
        pathfinder_stats_add(&s, img, side, side, label);
    }
    double len = stat_median(&lengths), gap = stat_median(&gaps), radius = stat_median(&radii);
    double img_len = stat_median(&s.paddle_length), img_gap = stat_median(&s.paddle_gap), img_radius = stat_median(&s.marker_radius);
    printf("pf300-cl14 trace: paddle %.2f px, gap %.2f px; image: paddle %.2f px, gap %.2f px, marker %.2f px (at tips %.2f)\n",
           len, gap, img_len, img_gap, img_radius, radius);
    printf("labels: %d negative, %d positive\n", labels[0], labels[1]);
    /* L = 5 and 2m = 6 on the trace: each end is rounded up to a pixel. */
    CHECK(fabs(len - 5) <= 1.0 && fabs(gap - 6) <= 1.5);
    /* The marker is a disk of radius 5: its half-peak contour is at r. */
    CHECK(fabs(radius - 5) <= 0.5 && fabs(img_radius - 5) <= 0.5 && s.images_with_two_markers >= 55);
    /* On the pixels a paddle drawn from end to end covers L + 1/aa, and
     * antialiasing adds up to half a pixel at each end at half-peak; the
     * gap loses the same. */
    CHECK(img_len >= 5 && img_len <= 6.5 && img_gap >= 5 && img_gap <= 7);
    /* Label balance: 60 fair draws, 4 standard deviations. */
    CHECK(labels[0] >= 15 && labels[1] >= 15);
    vec_free(&lengths), vec_free(&gaps), vec_free(&radii);
    pathfinder_stats_free(&s);
    free(img);
}

/* Every preset produces images with its contour length, marker radius and
 * margin; Path-X (lra128-hard) is slow, so its easy level stands in. */
static void test_presets_generate(void)
{
    static const char *const names[] = {"pf300-cl6", "pf300-cl25", "lra32-hard", "lra64-hard", "lra128-easy",
                                        "lra256-intermediate"};
    for (size_t k = 0; k < COUNT_OF(names); k++) {
        PathfinderOptions o;
        CHECK(pathfinder_preset(&o, names[k]) == 0);
        int side = pathfinder_side(&o);
        uint8_t *img = xmalloc((size_t)side * side);
        StatValues lengths = {0}, gaps = {0};
        for (int i = 0; i < 3; i++) {
            int label;
            PathfinderTrace t;
            CHECK(pathfinder_sample_traced(&o, 8, i, img, &label, &t) == 0);
            check_trace(&o, &t, &lengths, &gaps);
            CHECK(t.margin == o.margins[0] || (o.n_margins == 2 && t.margin == o.margins[1]));
            int max = 0;
            for (int p = 0; p < side * side; p++) max = MAX(max, img[p]);
            CHECK(max == 255);           /* min-max rescaled */
        }
        double len = stat_median(&lengths);
        printf("%s: paddle %.2f px (L %d), gap %.2f px\n", names[k], len, o.paddle_length, stat_median(&gaps));
        CHECK(fabs(len - o.paddle_length) <= 1.0);
        vec_free(&lengths), vec_free(&gaps);
        free(img);
    }
}

/* LRA-32 gives distractors contrast 2, targets 1.5 and markers 1. Its
 * one-pixel lines peak well below their nominal contrast, but distractors
 * still outshine the markers, so with the min-max quirk the image peaks at
 * 255 on a distractor and the markers stay below; without it the markers
 * are clipped at 255. */
static void test_quirks(void)
{
    PathfinderOptions o;
    CHECK(pathfinder_preset(&o, "lra32-hard") == 0);
    uint8_t a[32 * 32], b[32 * 32];
    int label;
    PathfinderTrace t;
    CHECK(pathfinder_sample_traced(&o, 4, 1, a, &label, &t) == 0);
    int marker_on = peak_near(a, 32, t.origin_tip[t.origin_snake], 0);
    o.quirks = 0;
    CHECK(pathfinder_sample_traced(&o, 4, 1, b, &label, &t) == 0);
    int marker_off = peak_near(b, 32, t.origin_tip[t.origin_snake], 0);
    printf("lra32 marker centre: %d with quirks, %d without\n", marker_on, marker_off);
    int peak = 0;
    for (int p = 0; p < 32 * 32; p++) peak = MAX(peak, a[p]);
    CHECK(peak == 255 && marker_on < 245 && marker_off == 255);
    CHECK(memcmp(a, b, sizeof a));
}

static void test_determinism_and_size(void)
{
    PathfinderOptions o;
    pathfinder_defaults(&o);
    size_t n = 300 * 300;
    uint8_t *a = xmalloc(n), *b = xmalloc(n), *c = xmalloc(n), *small = xmalloc(128 * 128), *sized = xmalloc(128 * 128);
    int la, lb, lc;
    CHECK(pathfinder_sample(&o, 12, 2, a, &la) == 0);
    CHECK(pathfinder_sample(&o, 12, 1, c, &lc) == 0 && memcmp(a, c, n));
    CHECK(pathfinder_sample(&o, 12, 2, b, &lb) == 0 && !memcmp(a, b, n) && la == lb);
    CHECK(pathfinder_sample(&o, 13, 2, c, &lc) == 0 && memcmp(a, c, n));
    o.size = 128;
    CHECK(pathfinder_side(&o) == 128);
    CHECK(pathfinder_sample(&o, 12, 2, sized, &lb) == 0);
    resample_gray8(a, 300, 300, small, 128, 128, RESAMPLE_BILINEAR);
    CHECK(!memcmp(small, sized, 128 * 128));
    resize_pillow_bilinear(a, 300, 300, 1, small, 128, 128);
    CHECK(!memcmp(small, sized, 128 * 128));
    o.size = 0, o.label = 1;
    CHECK(pathfinder_sample(&o, 12, 2, a, &la) == 0 && la == 1);
    o.label = -1, o.contour_length = 60, o.max_attempts = 3;   /* cannot fit: fails cleanly */
    CHECK(pathfinder_sample(&o, 12, 2, a, &la) == -1);
    free(a), free(b), free(c), free(small), free(sized);
}

static void test_specs(void)
{
    GenSpec g;
    char err[256];
    CHECK(generate_parse_spec("pathfinder:gen,size=128,preset=lra64-hard,n=50,cl=9,quirks=off,margin=1/2", &g, err, sizeof err) == 0);
    CHECK(g.kind == GEN_PATHFINDER && g.n == 50 && g.pf.window == 64 && g.pf.size == 128 && g.pf.contour_length == 9 &&
          g.pf.quirks == 0 && g.pf.n_margins == 2 && g.pf.margins[1] == 2);
    CHECK(generate_sample_bytes(&g) == 128 * 128);
    CHECK(generate_parse_spec("pathfinder:gen,distractor_rule=per-level", &g, err, sizeof err) == 0 &&
          g.pf.distractor_rule == PF_RULE_PER_LEVEL && pathfinder_distractor_snakes(&g.pf) == 7);
    CHECK(generate_parse_spec("pathfinder:gen,preset=pf300-cl13", &g, err, sizeof err) == -1 && strstr(err, "pf300-cl13"));
    CHECK(generate_parse_spec("pathfinder:gen,margin=1/2/3/4/5", &g, err, sizeof err) == -1 && strstr(err, "margin"));
    CHECK(generate_parse_spec("pathfinder:gen,thickness=1.25", &g, err, sizeof err) == -1 && strstr(err, "break even"));
    CHECK(generate_parse_spec("pathfinder:gen,quirks=maybe", &g, err, sizeof err) == -1 && strstr(err, "quirks"));
    CHECK(generate_parse_spec("pathfinder:gen,frames=3", &g, err, sizeof err) == -1 && strstr(err, "frames"));
    CHECK(generate_bench("pathfinder:gen,preset=lra32-easy", 0) > 0);
}

int main(void)
{
    test_presets();
    test_resample();
    test_images_300();
    test_presets_generate();
    test_quirks();
    test_determinism_and_size();
    test_specs();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    return 0;
}
