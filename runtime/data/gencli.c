/* gencli.c: generator options, spec strings, and `cssmc data gen|stats`.
 *
 * One table lists every generator option with its type and range; spec
 * strings (`pathtracker:gen,frames=32,...`, for the training loader) and
 * command-line flags (`--frames 32`) both set options through it, so the two
 * never disagree. `data gen` generates samples on worker threads (one per
 * core) and writes them either in the originals' native layouts (Pathfinder:
 * imgs/<batch>/sample_<i>.png + metadata/<batch>.npy text rows, or
 * imgs/{pos,neg}/; PathTracker: 0/ and 1/ folders of <label>_sample_<n>.npy)
 * or in the released TFRecord schemas through the dataset writers, or a
 * contact sheet PNG. `data stats` prints the statistics of stats.c for a
 * folder.
 *
 * Assumes the dispatcher passes argv[0] = the subcommand name ("gen",
 * "stats"). Guarantees: bad flags exit 2 with one line, failures exit 1 with
 * one line naming the file; every file is written atomically; sample i of a
 * run is the same whatever the thread count. */
#include "generate.h"

#include "base.h"
#include "dataset.h"
#include "formats.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- The option table ---- */

typedef enum OptType { OPT_INT, OPT_DOUBLE, OPT_BOOL, OPT_INTS, OPT_DOUBLES, OPT_RULE, OPT_PRESET } OptType;

typedef struct OptSpec {
    GenKind kind;
    const char *name, *alias;
    OptType type;
    size_t offset, count_offset;      /* into PathfinderOptions / PathTrackerOptions */
    double lo, hi;
    const char *help;
} OptSpec;

#define PT(field) offsetof(PathTrackerOptions, field)
#define PF(field) offsetof(PathfinderOptions, field)

static const OptSpec OPTIONS[] = {
    {GEN_PATHTRACKER, "frames", NULL, OPT_INT, PT(frames), 0, 1, 326, "frames per video (32, 64, 128)"},
    {GEN_PATHTRACKER, "dist", "distractors", OPT_INT, PT(distractors), 0, 0, 1000, "distractor dots (0, 5, 14, 25)"},
    {GEN_PATHTRACKER, "extra", NULL, OPT_INT, PT(extra_distractors), 0, 0, 1000, "the original's extra_dist dots"},
    {GEN_PATHTRACKER, "skip", "speed", OPT_INT, PT(skip), 0, 1, 5, "curve points per frame (1, 2, 4)"},
    {GEN_PATHTRACKER, "restyle", NULL, OPT_BOOL, PT(restyle), 0, 0, 1, "restyled variant (64 frames kept at linspace)"},
    {GEN_PATHTRACKER, "label", NULL, OPT_INT, PT(label), 0, -1, 1, "-1 alternate 1,0,...; 0/1 forced"},
    {GEN_PATHFINDER, "preset", NULL, OPT_PRESET, 0, 0, 0, 0, "pf300-cl{6,9,14,20,25}, lra{32,64,128,256}-{easy,intermediate,hard}"},
    {GEN_PATHFINDER, "size", NULL, OPT_INT, PF(size), 0, 0, 4096, "output side (antialiased bilinear resize); 0 native"},
    {GEN_PATHFINDER, "contour_length", "cl", OPT_INT, PF(contour_length), 0, 2, PF_MAX_PADDLES, "paddles per target snake"},
    {GEN_PATHFINDER, "distractors", NULL, OPT_INT, PF(distractor_snakes), 0, -1, 10000, "distractor snakes (-1: from budget and rule)"},
    {GEN_PATHFINDER, "distractor_budget", NULL, OPT_INT, PF(distractor_budget), 0, 0, 10000, "N of the distractor rule"},
    {GEN_PATHFINDER, "distractor_rule", NULL, OPT_RULE, PF(distractor_rule), 0, 0, 0, "wrapper (N/2) or per-level (N/(cl/3))"},
    {GEN_PATHFINDER, "distractor_length", NULL, OPT_INT, PF(distractor_length), 0, 0, PF_MAX_PADDLES, "paddles per distractor (0: cl/3)"},
    {GEN_PATHFINDER, "quirks", NULL, OPT_BOOL, PF(quirks), 0, 0, 1, "keep the original's quirks (default on)"},
    {GEN_PATHFINDER, "single_paddles", NULL, OPT_BOOL, PF(single_paddles), 0, 0, 1, "one-paddle filler"},
    {GEN_PATHFINDER, "window", NULL, OPT_INT, PF(window), 0, 8, 4096, "native canvas side"},
    {GEN_PATHFINDER, "padding", NULL, OPT_INT, PF(padding), 0, 1, 4096, "occupied border band for the targets"},
    {GEN_PATHFINDER, "aa", "antialias", OPT_INT, PF(antialias), 0, 1, 16, "supersampling of the primitives"},
    {GEN_PATHFINDER, "margin", NULL, OPT_INTS, PF(margins), PF(n_margins), 0, 32, "paddle margin(s), one drawn per image: m[/m...]"},
    {GEN_PATHFINDER, "paddle_length", NULL, OPT_INT, PF(paddle_length), 0, 1, 64, "paddle length, px"},
    {GEN_PATHFINDER, "thickness", "paddle_thickness", OPT_DOUBLE, PF(paddle_thickness), 0, 0.01, 64, "paddle width, px"},
    {GEN_PATHFINDER, "marker_radius", NULL, OPT_DOUBLE, PF(marker_radius), 0, 0.01, 256, "marker disk radius, px"},
    {GEN_PATHFINDER, "seed_distance", NULL, OPT_INT, PF(seed_distance), 0, 1, 1024, "distance between the target tails"},
    {GEN_PATHFINDER, "continuity", NULL, OPT_DOUBLE, PF(continuity), 0, 0.01, 100, "turn cut-off 90/continuity degrees"},
    {GEN_PATHFINDER, "snake_contrast", NULL, OPT_DOUBLES, PF(snake_contrasts), PF(n_snake_contrasts), 0, 100, "c[/c...]"},
    {GEN_PATHFINDER, "paddle_contrast", NULL, OPT_DOUBLES, PF(paddle_contrasts), PF(n_paddle_contrasts), 0, 100, "c[/c...]"},
    {GEN_PATHFINDER, "label", NULL, OPT_INT, PF(label), 0, -1, 1, "-1 uniform random; 0/1 forced"},
    {GEN_PATHFINDER, "max_attempts", NULL, OPT_INT, PF(max_attempts), 0, 1, 10000000, "target-pair attempts per image"},
};

static const char *kind_name(GenKind k) { return k == GEN_PATHFINDER ? "pathfinder" : "pathtracker"; }

/* Option names compare with '-' and '_' as the same character. */
static int same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_'))) return 0;
    return *a == *b;
}

static const OptSpec *find_option(GenKind kind, const char *key)
{
    for (size_t i = 0; i < COUNT_OF(OPTIONS); i++)
        if (OPTIONS[i].kind == kind && (same_name(key, OPTIONS[i].name) || (OPTIONS[i].alias && same_name(key, OPTIONS[i].alias))))
            return &OPTIONS[i];
    return NULL;
}

static int parse_int(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end && !errno;
}

static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && !errno && isfinite(*v);
}

static int parse_bool(const char *s, int *v)
{
    static const char *const yes[] = {"1", "on", "true", "yes"}, *const no[] = {"0", "off", "false", "no"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) return *v = 1, 1;
        if (!strcasecmp(s, no[i])) return *v = 0, 1;
    }
    return 0;
}

static int bad_value(const OptSpec *o, const char *value, char *err, size_t errlen)
{
    const char *what = o->type == OPT_BOOL ? "0/1, on/off, true/false or yes/no"
                     : o->type == OPT_RULE ? "wrapper or per-level"
                     : o->type == OPT_INT ? "an integer"
                     : o->type == OPT_INTS ? "integers separated by '/'"
                     : o->type == OPT_DOUBLES ? "numbers separated by '/'" : "a number";
    if (o->type == OPT_INT || o->type == OPT_DOUBLE || o->type == OPT_INTS || o->type == OPT_DOUBLES)
        return errf(err, errlen, "%s option %s: expected %s in [%g, %g], got '%s'", kind_name(o->kind), o->name, what,
                    o->lo, o->hi, value);
    return errf(err, errlen, "%s option %s: expected %s, got '%s'", kind_name(o->kind), o->name, what, value);
}

/* A '/'-separated list of up to PF_MAX_LIST numbers in [lo, hi]. */
static int parse_list(const OptSpec *o, const char *value, double *out, int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", value);
    *n = 0;
    for (char *save, *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        long long iv = 0;
        double v = 0;
        if (*n == PF_MAX_LIST) return 0;
        if (o->type == OPT_INTS ? !parse_int(tok, &iv) : !parse_double(tok, &v)) return 0;
        if (o->type == OPT_INTS) v = (double)iv;
        if (v < o->lo || v > o->hi) return 0;
        out[(*n)++] = v;
    }
    return *n > 0;
}

static int set_list(const OptSpec *o, char *base, const char *value, char *err, size_t errlen)
{
    double v[PF_MAX_LIST];
    int n;
    if (!parse_list(o, value, v, &n)) return bad_value(o, value, err, errlen);
    for (int i = 0; i < n; i++) {
        if (o->type == OPT_INTS) ((int *)(base + o->offset))[i] = (int)v[i];
        else ((double *)(base + o->offset))[i] = v[i];
    }
    *(int *)(base + o->count_offset) = n;
    return 0;
}

static int set_scalar(const OptSpec *o, char *base, const char *value, char *err, size_t errlen)
{
    long long iv;
    double dv;
    int bv;
    switch (o->type) {
    case OPT_INT:
        if (!parse_int(value, &iv) || iv < o->lo || iv > o->hi) return bad_value(o, value, err, errlen);
        *(int *)(base + o->offset) = (int)iv;
        return 0;
    case OPT_DOUBLE:
        if (!parse_double(value, &dv) || dv < o->lo || dv > o->hi) return bad_value(o, value, err, errlen);
        *(double *)(base + o->offset) = dv;
        return 0;
    case OPT_BOOL:
        if (!parse_bool(value, &bv)) return bad_value(o, value, err, errlen);
        *(int *)(base + o->offset) = bv;
        return 0;
    case OPT_RULE:
        if (!strcmp(value, "wrapper")) *(PfDistractorRule *)(base + o->offset) = PF_RULE_WRAPPER;
        else if (same_name(value, "per-level")) *(PfDistractorRule *)(base + o->offset) = PF_RULE_PER_LEVEL;
        else return bad_value(o, value, err, errlen);
        return 0;
    default:
        return set_list(o, base, value, err, errlen);
    }
}

int generate_init(GenSpec *g, const char *name)
{
    memset(g, 0, sizeof *g);
    g->n = 10000;
    pathfinder_defaults(&g->pf);
    pathtracker_defaults(&g->pt);
    if (!strcmp(name, "pathfinder")) g->kind = GEN_PATHFINDER;
    else if (!strcmp(name, "pathtracker")) g->kind = GEN_PATHTRACKER;
    else return -1;
    return 0;
}

int generate_set_option(GenSpec *g, const char *key, const char *value, char *err, size_t errlen)
{
    long long v;
    if (same_name(key, "n")) {
        if (!parse_int(value, &v) || v < 1) return errf(err, errlen, "option n: expected a positive integer, got '%s'", value);
        g->n = v;
        return 0;
    }
    if (same_name(key, "seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(value, &end, 0);
        if (!*value || *end || errno || value[0] == '-')
            return errf(err, errlen, "option seed: expected a non-negative integer, got '%s'", value);
        g->seed = s;
        return 0;
    }
    const OptSpec *o = find_option(g->kind, key);
    if (!o)
        return errf(err, errlen, "unknown %s option '%s'", kind_name(g->kind), key);
    if (o->type == OPT_PRESET) {
        if (pathfinder_preset(&g->pf, value))
            return errf(err, errlen, "pathfinder option preset: unknown preset '%s' (pf300-cl14, lra128-hard, ...)", value);
        return 0;
    }
    return set_scalar(o, g->kind == GEN_PATHFINDER ? (char *)&g->pf : (char *)&g->pt, value, err, errlen);
}

int generate_check(const GenSpec *g, char *err, size_t errlen)
{
    return g->kind == GEN_PATHFINDER ? pathfinder_check(&g->pf, err, errlen) : pathtracker_check(&g->pt, err, errlen);
}

/* Applies every key=value of a comma list; only the preset if `preset_only`,
 * everything else otherwise, so a preset never undoes a later key. */
static int apply_pairs(GenSpec *g, const char *list, int preset_only, char *err, size_t errlen)
{
    char *buf = xstrdup(list);
    int rc = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            rc = errf(err, errlen, "generator spec: expected key=value, got '%s'", tok);
            break;
        }
        *eq = 0;
        if (same_name(tok, "preset") == preset_only) rc = generate_set_option(g, tok, eq + 1, err, errlen);
    }
    free(buf);
    return rc;
}

int generate_parse_spec(const char *spec, GenSpec *g, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    char name[32];
    if (!colon || colon - spec >= (ptrdiff_t)sizeof name)
        return errf(err, errlen, "generator spec '%s': expected NAME:gen[,key=value...]", spec);
    snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
    if (generate_init(g, name))
        return errf(err, errlen, "generator spec '%s': unknown dataset '%s' (pathfinder or pathtracker)", spec, name);
    const char *rest = colon + 1;
    if (strncmp(rest, "gen", 3) || (rest[3] && rest[3] != ','))
        return errf(err, errlen, "generator spec '%s': expected 'gen' after '%s:'", spec, name);
    rest += 3;
    if (*rest == ',') rest++;
    if (apply_pairs(g, rest, 1, err, errlen) || apply_pairs(g, rest, 0, err, errlen)) return -1;
    return generate_check(g, err, errlen);
}

void generate_shape(const GenSpec *g, int *frames, int *height, int *width, int *channels)
{
    if (g->kind == GEN_PATHFINDER) {
        *frames = 1, *height = *width = pathfinder_side(&g->pf), *channels = 1;
    } else {
        *frames = g->pt.frames, *height = *width = PT_SIDE, *channels = 3;
    }
}

size_t generate_sample_bytes(const GenSpec *g)
{
    int f, h, w, c;
    generate_shape(g, &f, &h, &w, &c);
    return (size_t)f * h * w * c;
}

int generate_sample(const GenSpec *g, int64_t index, uint8_t *out, int *label, char *err, size_t errlen)
{
    if (generate_check(g, err, errlen)) return -1;
    if (g->kind == GEN_PATHTRACKER) return pathtracker_sample(&g->pt, g->seed, index, out, label);
    if (pathfinder_sample(&g->pf, g->seed, index, out, label) == 0) return 0;
    return errf(err, errlen, "pathfinder sample %lld: the two target snakes did not fit in %d attempts "
                "(shorter contour_length or a larger window would)", (long long)index, g->pf.max_attempts);
}

static void describe_list(char *buf, size_t len, const char *key, const double *v, int n)
{
    size_t k = strlen(buf);
    k += (size_t)snprintf(buf + k, len > k ? len - k : 0, " %s=", key);
    for (int i = 0; i < n; i++) k += (size_t)snprintf(buf + k, len > k ? len - k : 0, "%s%g", i ? "/" : "", v[i]);
}

void generate_describe(const GenSpec *g, char *buf, size_t len)
{
    if (g->kind == GEN_PATHTRACKER) {
        const PathTrackerOptions *o = &g->pt;
        snprintf(buf, len, "pathtracker frames=%d dist=%d extra=%d skip=%d restyle=%d seed=%llu", o->frames,
                 o->distractors, o->extra_distractors, o->skip, o->restyle, (unsigned long long)g->seed);
        return;
    }
    const PathfinderOptions *o = &g->pf;
    double margins[PF_MAX_LIST];
    for (int i = 0; i < o->n_margins; i++) margins[i] = o->margins[i];
    snprintf(buf, len, "pathfinder preset=%s window=%d size=%d cl=%d distractors=%dx%d quirks=%d",
             o->preset[0] ? o->preset : "custom", o->window, pathfinder_side(o), o->contour_length,
             pathfinder_distractor_snakes(o), pathfinder_distractor_length(o), o->quirks);
    describe_list(buf, len, "margin", margins, o->n_margins);
    size_t k = strlen(buf);
    snprintf(buf + k, len > k ? len - k : 0, " L=%d w=%g marker=%g continuity=%g seed=%llu", o->paddle_length,
             o->paddle_thickness, o->marker_radius, o->continuity, (unsigned long long)g->seed);
}

double generate_bench(const char *name, int seconds)
{
    GenSpec g;
    char err[256];
    int rc = strchr(name, ':') ? generate_parse_spec(name, &g, err, sizeof err)
           : generate_init(&g, name) ? errf(err, sizeof err, "unknown generator '%s'", name) : 0;
    uint8_t *buf = rc ? NULL : xmalloc(generate_sample_bytes(&g));
    double start = monotonic_seconds(), elapsed = 0;
    int64_t done = 0;
    for (int label; !rc && (done == 0 || elapsed < seconds); done++, elapsed = monotonic_seconds() - start)
        rc = generate_sample(&g, done, buf, &label, err, sizeof err);
    free(buf);
    if (rc) fprintf(stderr, "cssmc: error: %s\n", err);
    return rc ? -1 : (double)done / MAX(elapsed, 1e-9);
}

/* ---- Parallel generation ---- */

/* What each sample reports back, by index. */
typedef struct SampleInfo {
    int8_t label, margin;
    int attempts, distractors_placed, distractors_wanted;
} SampleInfo;

typedef struct GenRun GenRun;
typedef int (*SampleSink)(GenRun *run, int64_t index, const uint8_t *pixels, char *err, size_t errlen);

struct GenRun {
    GenSpec spec;               /* the options samples are generated with */
    const char *out;
    int layout_pos_neg, batch;
    SampleInfo *info;           /* [n] */
    uint8_t *chunk;             /* TFRecord: samples of [chunk_begin, chunk_end) */
    int64_t chunk_begin, chunk_end, next;
    SampleSink sink;
    pthread_mutex_t lock;
    int failed;
    char err[256];
};

static int make_sample(GenRun *run, int64_t i, uint8_t *buf, char *err, size_t errlen)
{
    SampleInfo *info = &run->info[i];
    int label = 0;
    if (run->spec.kind == GEN_PATHTRACKER) {
        if (generate_sample(&run->spec, i, buf, &label, err, errlen)) return -1;
        info->label = (int8_t)label;
        return 0;
    }
    PathfinderTrace tr;
    if (pathfinder_sample_traced(&run->spec.pf, run->spec.seed, i, buf, &label, &tr))
        return generate_sample(&run->spec, i, buf, &label, err, errlen);
    *info = (SampleInfo){(int8_t)label, (int8_t)tr.margin, tr.attempts, tr.distractor_snakes_placed,
                         tr.distractor_snakes};
    return 0;
}

static void record_failure(GenRun *run, const char *err)
{
    pthread_mutex_lock(&run->lock);
    if (!run->failed) snprintf(run->err, sizeof run->err, "%s", err);
    run->failed = 1;
    pthread_mutex_unlock(&run->lock);
}

static void *gen_worker(void *arg)
{
    GenRun *run = arg;
    uint8_t *buf = xmalloc(generate_sample_bytes(&run->spec));
    char err[256];
    for (;;) {
        pthread_mutex_lock(&run->lock);
        int64_t i = run->next++;
        int stop = run->failed || i >= run->chunk_end;
        pthread_mutex_unlock(&run->lock);
        if (stop) break;
        uint8_t *dst = run->chunk ? run->chunk + (size_t)(i - run->chunk_begin) * generate_sample_bytes(&run->spec) : buf;
        err[0] = 0;
        if (make_sample(run, i, dst, err, sizeof err) || (run->sink && run->sink(run, i, dst, err, sizeof err)))
            record_failure(run, err);
    }
    free(buf);
    return NULL;
}

/* Generates indices [begin, end) on `threads` threads. */
static int run_range(GenRun *run, int64_t begin, int64_t end, int threads)
{
    pthread_t tid[64];
    threads = (int)MAX(1, MIN(MIN(threads, 64), end - begin));
    run->chunk_begin = run->next = begin, run->chunk_end = end;
    for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, gen_worker, run);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    return run->failed ? -1 : 0;
}

/* ---- Native layouts ---- */

/* Index of sample i within its class: the default label rule alternates. */
static int64_t class_index(const GenRun *run, int64_t i)
{
    int rule = run->spec.kind == GEN_PATHTRACKER ? run->spec.pt.label : run->spec.pf.label;
    return rule < 0 && run->spec.kind == GEN_PATHTRACKER ? i / 2 : i;
}

static char *native_path(const GenRun *run, int64_t i)
{
    int label = run->info[i].label;
    if (run->spec.kind == GEN_PATHTRACKER)
        return xprintf("%s/%d/%d_sample_%lld.npy", run->out, label, label, (long long)class_index(run, i));
    if (run->layout_pos_neg) return xprintf("%s/imgs/%s/sample_%lld.png", run->out, label ? "pos" : "neg", (long long)i);
    return xprintf("%s/imgs/%d/sample_%lld.png", run->out, run->batch, (long long)i);
}

static int write_native(GenRun *run, int64_t i, const uint8_t *pixels, char *err, size_t errlen)
{
    int f, h, w, c;
    generate_shape(&run->spec, &f, &h, &w, &c);
    char *path = native_path(run, i);
    int rc;
    if (run->spec.kind == GEN_PATHTRACKER) {
        int64_t shape[4] = {f, h, w, c};
        rc = npy_write(path, "|u1", 4, shape, pixels, err, errlen);
    } else {
        rc = png_write8(path, w, h, 1, pixels, err, errlen);
    }
    free(path);
    return rc;
}

static int make_native_dirs(const GenRun *run, char *err, size_t errlen)
{
    char *a, *b;
    if (run->spec.kind == GEN_PATHTRACKER) a = xprintf("%s/0", run->out), b = xprintf("%s/1", run->out);
    else if (run->layout_pos_neg) a = xprintf("%s/imgs/neg", run->out), b = xprintf("%s/imgs/pos", run->out);
    else a = xprintf("%s/imgs/%d", run->out, run->batch), b = xprintf("%s/metadata", run->out);
    int rc = make_dirs(a, err, errlen) || make_dirs(b, err, errlen) ? -1 : 0;
    free(a), free(b);
    return rc;
}

/* Python's str() of a float the wrapper set as a float: always a '.'. */
static void python_float(char *buf, size_t n, double v)
{
    snprintf(buf, n, "%g", v);
    if (!strpbrk(buf, ".e")) snprintf(buf + strlen(buf), n - strlen(buf), ".0");
}

/* metadata/<batch>.npy: the original's rows as plain text, as released. */
static int write_metadata(const GenRun *run, char *err, size_t errlen)
{
    const PathfinderOptions *o = &run->spec.pf;
    char cont[32];
    python_float(cont, sizeof cont, o->continuity);
    Vec(char) text = {0};
    for (int64_t i = 0; i < run->spec.n; i++) {
        char *row = xprintf("imgs/%d sample_%lld.png %lld %d %s %d %d %d %g %d %d\n", run->batch, (long long)i,
                            (long long)i, run->info[i].label, cont, o->contour_length, pathfinder_distractor_length(o),
                            o->paddle_length, o->paddle_thickness, run->info[i].margin, o->n_paddle_contrasts);
        for (char *p = row; *p; p++) vec_push(&text, *p);
        free(row);
    }
    char *path = xprintf("%s/metadata/%d.npy", run->out, run->batch);
    int rc = atomic_write_file(path, text.data, (size_t)text.len, err, errlen);
    free(path);
    vec_free(&text);
    return rc;
}

/* ---- TFRecord schemas ---- */

static int add_chunk(GenRun *run, DatasetWriter *w, const Split *plan, char *err, size_t errlen)
{
    size_t bytes = generate_sample_bytes(&run->spec);
    for (int64_t i = run->chunk_begin; i < run->chunk_end; i++) {
        if (plan[i] == SPLIT_COUNT) continue;
        const uint8_t *px = run->chunk + (size_t)(i - run->chunk_begin) * bytes;
        if (dataset_writer_add(w, plan[i], px, run->info[i].label, err, errlen)) return -1;
    }
    return 0;
}

/* The split plan and writer options of the reference's converters. */
static void plan_splits(const GenRun *run, DataSchema schema, int out_side, Split *plan, WriterOptions *wo)
{
    int64_t n = run->spec.n;
    if (run->spec.kind == GEN_PATHFINDER) {
        writer_options_init(wo, schema, 1, out_side, out_side);
        wo->source_height = wo->source_width = run->spec.pf.window;
        split_plan_ratio(n, 42, 0.8, 0.1, plan);
    } else {
        writer_options_init(wo, schema, run->spec.pt.frames, PT_SIDE, PT_SIDE);
        split_plan_sizes(n, 42, n - n / 10, n / 10, plan);
    }
    for (int s = 0; s < SPLIT_COUNT; s++) wo->count[s] = 0;
    for (int64_t i = 0; i < n; i++) {
        if (schema == SCHEMA_PATHTRACKER_PAPER && plan[i] == SPLIT_VAL) plan[i] = SPLIT_TRAIN;  /* val is read from train */
        if (plan[i] != SPLIT_COUNT) wo->count[plan[i]]++;
    }
}

static int write_tfrecords(GenRun *run, DataSchema schema, int threads, char *err, size_t errlen)
{
    int out_side = run->spec.kind == GEN_PATHFINDER ? pathfinder_side(&run->spec.pf) : PT_SIDE, size = run->spec.pf.size;
    run->spec.pf.size = 0;    /* the writer resizes, as the reference's converter does */
    Split *plan = xmalloc(sizeof(Split) * (size_t)run->spec.n);
    WriterOptions wo;
    char difficulty[16];
    plan_splits(run, schema, out_side, plan, &wo);
    snprintf(difficulty, sizeof difficulty, "%d", run->spec.pf.contour_length);
    wo.difficulty = difficulty;
    DatasetWriter *w = dataset_writer_open(run->out, &wo, err, errlen);
    int64_t step = 64 * MAX(threads, 1);
    int rc = w ? 0 : -1;
    run->chunk = xmalloc(generate_sample_bytes(&run->spec) * (size_t)step);
    for (int64_t b = 0; !rc && b < run->spec.n; b += step) {
        rc = run_range(run, b, MIN(b + step, run->spec.n), threads);
        if (rc) snprintf(err, errlen, "%s", run->err);
        else rc = add_chunk(run, w, plan, err, errlen);
    }
    if (w && (rc || dataset_writer_close(w, err, errlen))) {
        if (rc) dataset_writer_abort(w);
        rc = -1;
    }
    free(run->chunk), free(plan);
    run->chunk = NULL;
    run->spec.pf.size = size;
    return rc;
}

/* ---- Contact sheets ---- */

/* Cells sit on a grey ground so black frames stay apart. */
enum { SHEET_GAP = 2, SHEET_STRIP = 4, SHEET_FRAMES = 8, SHEET_ZOOM = 3, SHEET_CELL_MAX = 160, SHEET_GROUND = 48 };

/* One cell of a Pathfinder sheet: large images shrunk (bilinear) to
 * SHEET_CELL_MAX, small ones enlarged by whole pixels so they stay exact. */
static int sheet_cell_side(int side) { return side > SHEET_CELL_MAX ? SHEET_CELL_MAX : side * MAX(1, 128 / side); }

static void sheet_cell(const uint8_t *img, int side, uint8_t *cell)
{
    int n = sheet_cell_side(side);
    if (side > SHEET_CELL_MAX) {
        resample_gray8(img, side, side, cell, n, n, RESAMPLE_BILINEAR);
        return;
    }
    int zoom = n / side;
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) cell[r * n + c] = img[(r / zoom) * side + c / zoom];
}

/* Pathfinder: a grid of images, each above a strip that is white for label
 * 1 and black for label 0. */
static int sheet_pathfinder(GenRun *run, const uint8_t *samples, const char *path, char *err, size_t errlen)
{
    int side = pathfinder_side(&run->spec.pf), cell = sheet_cell_side(side);
    int n = (int)run->spec.n, cols = MIN(n, 4), rows = (n + cols - 1) / cols;
    int cw = cell + SHEET_GAP, ch = cell + SHEET_STRIP + SHEET_GAP, W = cols * cw - SHEET_GAP, H = rows * ch - SHEET_GAP;
    uint8_t *sheet = xmalloc((size_t)W * H), *small = xmalloc((size_t)cell * cell);
    memset(sheet, SHEET_GROUND, (size_t)W * H);
    for (int k = 0; k < n; k++) {
        int x0 = (k % cols) * cw, y0 = (k / cols) * ch;
        sheet_cell(samples + (size_t)k * side * side, side, small);
        for (int r = 0; r < cell; r++) memcpy(sheet + (size_t)(y0 + r) * W + x0, small + (size_t)r * cell, (size_t)cell);
        for (int r = cell; r < cell + SHEET_STRIP; r++)
            memset(sheet + (size_t)(y0 + r) * W + x0, run->info[k].label ? 255 : 0, (size_t)cell);
    }
    int rc = png_write8(path, W, H, 1, sheet, err, errlen);
    free(sheet), free(small);
    return rc;
}

/* PathTracker: one row per video, SHEET_FRAMES evenly spaced frames zoomed
 * SHEET_ZOOM times, after a strip that is white for label 1, black for 0. */
static int sheet_pathtracker(GenRun *run, const uint8_t *samples, const char *path, char *err, size_t errlen)
{
    int F = run->spec.pt.frames, n = (int)run->spec.n, shown = MIN(F, SHEET_FRAMES), cell = PT_SIDE * SHEET_ZOOM;
    int W = SHEET_STRIP + SHEET_GAP + shown * (cell + SHEET_GAP) - SHEET_GAP, H = n * (cell + SHEET_GAP) - SHEET_GAP;
    uint8_t *sheet = xmalloc((size_t)W * H * 3);
    memset(sheet, SHEET_GROUND, (size_t)W * H * 3);
    size_t frame_bytes = PT_SIDE * PT_SIDE * 3;
    for (int k = 0; k < n; k++) {
        int y0 = k * (cell + SHEET_GAP);
        for (int r = 0; r < cell; r++) memset(sheet + ((size_t)(y0 + r) * W) * 3, run->info[k].label ? 255 : 0, SHEET_STRIP * 3);
        for (int j = 0; j < shown; j++) {
            int t = shown == 1 ? 0 : j * (F - 1) / (shown - 1), x0 = SHEET_STRIP + SHEET_GAP + j * (cell + SHEET_GAP);
            const uint8_t *frame = samples + ((size_t)k * F + t) * frame_bytes;
            for (int r = 0; r < cell; r++)
                for (int c = 0; c < cell; c++)
                    memcpy(sheet + ((size_t)(y0 + r) * W + x0 + c) * 3,
                           frame + ((size_t)(r / SHEET_ZOOM) * PT_SIDE + c / SHEET_ZOOM) * 3, 3);
        }
    }
    int rc = png_write8(path, W, H, 3, sheet, err, errlen);
    free(sheet);
    return rc;
}

static int write_sheet(GenRun *run, const char *path, int threads, char *err, size_t errlen)
{
    size_t bytes = generate_sample_bytes(&run->spec);
    run->chunk = xmalloc(bytes * (size_t)run->spec.n);
    int rc = run_range(run, 0, run->spec.n, threads);
    if (rc) snprintf(err, errlen, "%s", run->err);
    else if (run->spec.kind == GEN_PATHFINDER) rc = sheet_pathfinder(run, run->chunk, path, err, errlen);
    else rc = sheet_pathtracker(run, run->chunk, path, err, errlen);
    free(run->chunk);
    run->chunk = NULL;
    return rc;
}

/* ---- cssmc data gen ---- */

static const char GEN_USAGE[] =
    "usage: cssmc data gen pathfinder|pathtracker [options] --n N --out DIR\n"
    "       cssmc data gen pathfinder|pathtracker [options] --n N --sheet FILE.png\n"
    "\n"
    "Generates N samples (sample i depends only on the options, --seed and i).\n"
    "  --n N                 samples to generate\n"
    "  --out DIR             output folder (created; must be empty if it exists)\n"
    "  --seed S              dataset seed (0)\n"
    "  --format native|tfrecord\n"
    "                        native (default): Pathfinder imgs/<batch>/sample_<i>.png and\n"
    "                        metadata/<batch>.npy rows (or --layout pos-neg: imgs/{pos,neg}/);\n"
    "                        PathTracker 0/ and 1/ folders of <label>_sample_<n>.npy.\n"
    "                        tfrecord: the released schemas; Pathfinder float32 images at --size\n"
    "                        (80/10/10 split), PathTracker --schema paper (GZIP uint8, default)\n"
    "                        or legacy (float32), 10% test and a tenth of train as val\n"
    "  --schema paper|legacy PathTracker TFRecord schema\n"
    "  --layout original|pos-neg   Pathfinder native layout\n"
    "  --batch B             batch folder of the original layout (0)\n"
    "  --threads K           worker threads (default: one per core)\n"
    "  --sheet FILE.png      write a contact sheet of the N samples instead of a dataset\n"
    "  --quiet               no summary line\n"
    "\n"
    "Generator options (also usable as key=value in `NAME:gen,...` specs):\n";

static void print_gen_usage(FILE *out)
{
    fputs(GEN_USAGE, out);
    for (size_t i = 0; i < COUNT_OF(OPTIONS); i++) {
        const OptSpec *o = &OPTIONS[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s%s", o->name, o->alias ? " | --" : "", o->alias ? o->alias : "");
        fprintf(out, "  %-12s %-30s %s\n", kind_name(o->kind), flag, o->help);
    }
    fputs("Booleans take 0/1 (or on/off); a bare --NAME means 1 and --no-NAME means 0.\n"
          "Defaults: pathtracker frames 64, dist 14, skip 1; pathfinder preset pf300-cl14.\n", out);
}

typedef struct GenArgs {
    const char *out, *sheet, *format, *schema, *layout;
    int threads, quiet, have_n;
} GenArgs;

static int usage_error(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "cssmc data gen: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see cssmc data gen --help)\n");
    return 2;
}

/* Flags of the command itself; 1 if `key` was one, -1 on a bad value. */
static int run_flag(GenArgs *a, GenRun *run, const char *key, const char *value)
{
    static const char *const names[] = {"out", "sheet", "format", "schema", "layout"};
    const char **slots[] = {&a->out, &a->sheet, &a->format, &a->schema, &a->layout};
    for (int i = 0; i < 5; i++)
        if (same_name(key, names[i])) return *slots[i] = value, 1;
    long long v;
    if (same_name(key, "threads") || same_name(key, "batch")) {
        if (!parse_int(value, &v) || v < (same_name(key, "batch") ? 0 : 1) || v > 1000000) return -1;
        if (same_name(key, "threads")) a->threads = (int)v;
        else run->batch = (int)v;
        return 1;
    }
    return 0;
}

/* The value of --key: after '=', the next argument, or implied for booleans. */
static const char *flag_value(GenRun *run, char *arg, int argc, char **argv, int *i, int *negated)
{
    char *eq = strchr(arg, '=');
    if (eq) return *eq = 0, eq + 1;
    const OptSpec *o = find_option(run->spec.kind, arg);
    *negated = !o && !strncmp(arg, "no-", 3) && (o = find_option(run->spec.kind, arg + 3)) && o->type == OPT_BOOL;
    if (*negated) return "0";
    if (o && o->type == OPT_BOOL && (*i + 1 >= argc || !strncmp(argv[*i + 1], "--", 2))) return "1";
    if (same_name(arg, "quiet")) return "1";
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static int parse_gen_args(int argc, char **argv, GenArgs *a, GenRun *run)
{
    char err[256];
    for (int pass = 0; pass < 2; pass++)        /* the preset first, so later flags refine it */
        for (int i = 2; i < argc; i++) {
            if (strncmp(argv[i], "--", 2)) return usage_error("unexpected argument '%s'%s", argv[i], "");
            char arg[128];
            int negated = 0;
            snprintf(arg, sizeof arg, "%s", argv[i] + 2);
            const char *value = flag_value(run, arg, argc, argv, &i, &negated);
            if (!value) return usage_error("option --%s needs a value%s", arg, "");
            if ((same_name(arg, "preset") && run->spec.kind == GEN_PATHFINDER) != (pass == 0)) continue;
            if (pass == 1 && same_name(arg, "quiet")) { a->quiet = 1; continue; }
            if (pass == 1 && same_name(arg, "n")) a->have_n = 1;
            int flag = pass == 1 ? run_flag(a, run, arg, value) : 0;
            if (flag < 0) return usage_error("option --%s: bad value '%s'", arg, value);
            if (!flag && generate_set_option(&run->spec, negated ? arg + 3 : arg, value, err, sizeof err))
                return usage_error("%s%s", err, "");
        }
    if (generate_check(&run->spec, err, sizeof err)) return usage_error("%s%s", err, "");
    if (!a->have_n) return usage_error("--n N is required%s%s", "", "");
    if (!a->out == !a->sheet) return usage_error("give exactly one of --out DIR and --sheet FILE%s%s", "", "");
    if (strcmp(a->format, "native") && strcmp(a->format, "tfrecord"))
        return usage_error("--format must be native or tfrecord, got '%s'%s", a->format, "");
    if (strcmp(a->schema, "paper") && strcmp(a->schema, "legacy"))
        return usage_error("--schema must be paper or legacy, got '%s'%s", a->schema, "");
    if (strcmp(a->layout, "original") && strcmp(a->layout, "pos-neg"))
        return usage_error("--layout must be original or pos-neg, got '%s'%s", a->layout, "");
    run->layout_pos_neg = !strcmp(a->layout, "pos-neg");
    return 0;
}

/* An output folder must not hold anything yet, so runs never mix. */
static int check_out_dir(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : errf(err, errlen, "%s: cannot open the folder (%s)", dir, strerror(errno));
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d));) empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty ? 0 : errf(err, errlen, "%s: folder is not empty (give a new folder)", dir);
}

static void print_summary(const GenRun *run, const GenArgs *a, double seconds)
{
    char what[512];
    generate_describe(&run->spec, what, sizeof what);
    int64_t pos = 0, attempts = 0, placed = 0, wanted = 0;
    for (int64_t i = 0; i < run->spec.n; i++) {
        pos += run->info[i].label == 1, attempts += run->info[i].attempts;
        placed += run->info[i].distractors_placed, wanted += run->info[i].distractors_wanted;
    }
    fprintf(stderr, "wrote %lld samples (%lld positive) to %s in %.1f s: %s\n", (long long)run->spec.n,
            (long long)pos, a->out ? a->out : a->sheet, seconds, what);
    if (run->spec.kind == GEN_PATHFINDER)
        fprintf(stderr, "  target snakes: %.2f attempts per image (%.1f%% of attempts failed); "
                "distractor snakes placed: %.1f%%\n", (double)attempts / run->spec.n,
                100.0 * (double)(attempts - run->spec.n) / (double)MAX(attempts, 1),
                100.0 * (double)placed / (double)MAX(wanted, 1));
}

static int generate_dataset(GenRun *run, GenArgs *a, char *err, size_t errlen)
{
    if (a->sheet) return write_sheet(run, a->sheet, a->threads, err, errlen);
    if (check_out_dir(a->out, err, errlen) || make_dirs(a->out, err, errlen)) return -1;
    if (!strcmp(a->format, "tfrecord")) {
        DataSchema schema = run->spec.kind == GEN_PATHFINDER ? SCHEMA_PATHFINDER
                          : !strcmp(a->schema, "legacy") ? SCHEMA_PATHTRACKER_LEGACY : SCHEMA_PATHTRACKER_PAPER;
        return write_tfrecords(run, schema, a->threads, err, errlen);
    }
    if (make_native_dirs(run, err, errlen)) return -1;
    run->sink = write_native;
    if (run_range(run, 0, run->spec.n, a->threads)) return errf(err, errlen, "%s", run->err);
    return run->spec.kind == GEN_PATHFINDER && !run->layout_pos_neg ? write_metadata(run, err, errlen) : 0;
}

int data_cmd_gen(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return print_gen_usage(stdout), 0;
    GenRun run = {.batch = 0};
    GenArgs a = {.format = "native", .schema = "paper", .layout = "original"};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a.threads = (int)MAX(1, MIN(cores, 64));
    if (argc < 2 || generate_init(&run.spec, argv[1]))
        return usage_error("expected pathfinder or pathtracker, got '%s'%s", argc < 2 ? "" : argv[1], "");
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return print_gen_usage(stdout), 0;
    int rc = parse_gen_args(argc, argv, &a, &run);
    if (rc) return rc;
    char err[256] = "";
    pthread_mutex_init(&run.lock, NULL);
    run.out = a.out;
    run.info = xcalloc((size_t)run.spec.n, sizeof(SampleInfo));
    double start = monotonic_seconds();
    rc = generate_dataset(&run, &a, err, sizeof err);
    if (rc) fprintf(stderr, "cssmc: error: %s\n", err);
    else if (!a.quiet) print_summary(&run, &a, monotonic_seconds() - start);
    free(run.info);
    pthread_mutex_destroy(&run.lock);
    return rc ? 1 : 0;
}

/* ---- cssmc data stats ---- */

static const char STATS_USAGE[] =
    "usage: cssmc data stats PATH [--json] [--limit N] [--kind pathfinder|pathtracker]\n"
    "\n"
    "Measures a folder of samples. PathTracker (.npy videos in 0/ and 1/): dot blob sizes,\n"
    "marker rings (shape and pixel count), per-frame displacement, colours, visible dots.\n"
    "Pathfinder (PNG, original or pos/neg layout): marker radius, paddle length and gap,\n"
    "label balance, contour length and margin from the metadata rows.\n"
    "  --json        one JSON object instead of text\n"
    "  --limit N     read at most N files\n"
    "  --kind K      do not guess the kind from the folder\n";

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int guess_kind(const char *dir, GenKind *kind)
{
    static const char *const pt[] = {"0", "1"}, *const pf[] = {"imgs", "metadata", "pos", "neg"};
    for (int i = 0; i < 2; i++) {
        char *p = xprintf("%s/%s", dir, pt[i]);
        int found = is_dir(p);
        free(p);
        if (found) return *kind = GEN_PATHTRACKER, 0;
    }
    for (int i = 0; i < 4; i++) {
        char *p = xprintf("%s/%s", dir, pf[i]);
        int found = is_dir(p);
        free(p);
        if (found) return *kind = GEN_PATHFINDER, 0;
    }
    return -1;
}

static int stats_usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "cssmc data stats: %s%s (see cssmc data stats --help)\n", what, arg);
    return 2;
}

/* Measures `path` as `kind_arg` (or the guessed kind) and prints. */
static int run_stats(const char *path, const char *kind_arg, int json, long long limit)
{
    GenKind kind;
    if (kind_arg) {
        if (!strcmp(kind_arg, "pathfinder")) kind = GEN_PATHFINDER;
        else if (!strcmp(kind_arg, "pathtracker")) kind = GEN_PATHTRACKER;
        else return stats_usage_error("--kind must be pathfinder or pathtracker, got ", kind_arg);
    } else if (guess_kind(path, &kind)) {
        fprintf(stderr, "cssmc: error: %s: neither a PathTracker folder (0/, 1/) nor a Pathfinder one "
                "(imgs/, metadata/, pos/, neg/); give --kind\n", path);
        return 1;
    }
    char err[256] = "";
    int rc;
    if (kind == GEN_PATHTRACKER) {
        PathTrackerStats s;
        pathtracker_stats_init(&s);
        if (!(rc = pathtracker_stats_dir(path, limit, &s, err, sizeof err))) pathtracker_stats_print(&s, stdout, json);
    } else {
        PathfinderStats s;
        pathfinder_stats_init(&s);
        if (!(rc = pathfinder_stats_dir(path, limit, &s, err, sizeof err))) pathfinder_stats_print(&s, stdout, json);
        pathfinder_stats_free(&s);
    }
    if (rc) fprintf(stderr, "cssmc: error: %s\n", err);
    return rc ? 1 : 0;
}

int data_cmd_stats(int argc, char **argv)
{
    const char *path = NULL, *kind_arg = NULL;
    int json = 0;
    long long limit = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return fputs(STATS_USAGE, stdout), 0;
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            if (!parse_int(argv[++i], &limit) || limit < 1) return stats_usage_error("--limit expects a positive integer, got ", argv[i]);
        } else if (!strcmp(argv[i], "--kind") && i + 1 < argc) kind_arg = argv[++i];
        else if (argv[i][0] == '-') return stats_usage_error("unknown option ", argv[i]);
        else if (path) return stats_usage_error("one PATH only, got another: ", argv[i]);
        else path = argv[i];
    }
    if (!path) return stats_usage_error("PATH is required", "");
    return run_stats(path, kind_arg, json, limit);
}
