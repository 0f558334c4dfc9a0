/* cli.c: `cssmc data`: look at, check, generate and measure datasets.
 *
 *   cssmc data info PATH    schema, sizes, samples and label balance per split
 *   cssmc data show PATH    a contact sheet of samples (videos as frame strips)
 *   cssmc data check PATH   read and verify every record; exit 1 if any is bad
 *   cssmc data gen ...      generators (gencli.c)
 *   cssmc data stats ...    statistics of generated or real data (gencli.c)
 *   cssmc data bench        generator and loader throughput against a
 *                           training step's consumption (what `make bench` runs)
 *
 * Each subcommand answers --help; a bad flag says what was expected and
 * exits 2. Failures print one line naming the file (and record) and exit 1. */
#define _GNU_SOURCE   /* nftw */
#include "dataset.h"
#include "base.h"
#include "generate.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *DATA_USAGE =
    "usage: cssmc data COMMAND [options]\n\n"
    "commands:\n"
    "  info PATH    schema, stored and sample sizes, samples and labels per split\n"
    "  show PATH    write a contact sheet of samples as a PNG\n"
    "  check PATH   read and verify every record (checksums, decoding, sizes)\n"
    "  gen ...      generate Pathfinder or PathTracker data (cssmc data gen --help)\n"
    "  stats PATH   measure a dataset's statistics (cssmc data stats --help)\n"
    "  bench        generator and loader throughput against the training step\n\n"
    "PATH is a dataset folder in any schema cssmc reads: pathfinder (TFRecords in\n"
    "{train,val,test}/), pathfinder-png (imgs/), pathtracker-npy (0/ and 1/),\n"
    "pathtracker-legacy ({split}/shard_NNNN.tfrecord), pathtracker (GZIP\n"
    "train-*/test-* shards) or girik (the same shards, normalised to [-1, 1]).\n";

static const char *OPEN_FLAGS =
    "  --schema NAME       pathfinder, pathfinder-png, pathtracker-npy, pathtracker-legacy,\n"
    "                      pathtracker or girik (default: detected; girik must be named)\n"
    "  --difficulty D      which difficulty_D/ (or curv_contour_length_D/) under a root\n"
    "  --frames T          frames per sample (default: all stored; images: 1)\n"
    "  --image-size S      resize samples to SxS (default: as stored)\n"
    "  --skip-bad          leave out bad records instead of failing\n";

typedef struct Args {
    const char *cmd, *path, *out;
    DatasetOptions open;
    Split split;
    int n, scan;
} Args;

static int bad_usage(const char *cmd, const char *fmt, const char *what)
{
    fprintf(stderr, "cssmc data %s: ", cmd);
    fprintf(stderr, fmt, what);
    fprintf(stderr, " (try cssmc data %s --help)\n", cmd);
    return 2;
}

static int parse_int(const char *cmd, const char *flag, const char *v, int lo, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > 1 << 20) {
        fprintf(stderr, "cssmc data %s: %s expects an integer >= %d, got '%s'\n", cmd, flag, lo, v ? v : "");
        return 2;
    }
    *out = (int)x;
    return 0;
}

/* A flag every subcommand takes; 1 if not one of them, 2 on a bad value. */
static int open_flag(Args *a, const char *flag, const char *v)
{
    DatasetOptions *o = &a->open;
    if (!strcmp(flag, "--schema")) {
        if (v && !schema_parse(v, &o->schema)) return 0;
        return bad_usage(a->cmd, "--schema expects pathfinder, pathfinder-png, pathtracker-npy, "
                         "pathtracker-legacy, pathtracker or girik, got '%s'", v ? v : "");
    }
    if (!strcmp(flag, "--difficulty")) {
        if (!v) return bad_usage(a->cmd, "%s expects a value", flag);
        o->difficulty = v;
        return 0;
    }
    if (!strcmp(flag, "--frames")) return parse_int(a->cmd, flag, v, 1, &o->frames);
    if (!strcmp(flag, "--image-size")) return parse_int(a->cmd, flag, v, 1, &o->image_size);
    return 1;
}

/* Flags taking a value; the rest are switches. */
static int takes_value(const char *f)
{
    static const char *with[] = {"--schema", "--difficulty", "--frames", "--image-size", "--out", "--n", "--split"};
    for (size_t i = 0; i < COUNT_OF(with); i++)
        if (!strcmp(f, with[i])) return 1;
    return 0;
}

static int command_flag(Args *a, const char *flag, const char *v)
{
    if (!strcmp(flag, "--skip-bad")) return a->open.skip_bad = 1, 0;
    if (!strcmp(a->cmd, "info") && !strcmp(flag, "--scan")) return a->scan = 1, 0;
    if (strcmp(a->cmd, "show")) return 1;
    if (!strcmp(flag, "--out")) return a->out = v, 0;
    if (!strcmp(flag, "--n")) return parse_int(a->cmd, flag, v, 1, &a->n);
    if (!strcmp(flag, "--split")) {
        if (v && !split_parse(v, &a->split)) return 0;
        return bad_usage(a->cmd, "--split expects train, val or test, got '%s'", v ? v : "");
    }
    return 1;
}

static int parse_args(Args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (f[0] != '-') {
            if (a->path) return bad_usage(a->cmd, "unexpected argument '%s' (expected one PATH)", f);
            a->path = f;
            continue;
        }
        const char *v = takes_value(f) ? (i + 1 < argc ? argv[++i] : NULL) : NULL;
        if (takes_value(f) && !v) return bad_usage(a->cmd, "%s expects a value", f);
        int rc = open_flag(a, f, v);
        if (rc == 1) rc = command_flag(a, f, v);
        if (rc == 1) return bad_usage(a->cmd, "unknown option '%s'", f);
        if (rc) return rc;
    }
    if (!a->path) return bad_usage(a->cmd, "%s", "expected a dataset folder PATH");
    if (!strcmp(a->cmd, "show") && !a->out) return bad_usage(a->cmd, "%s", "expected --out FILE.png");
    return 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

static Dataset *open_or_report(const Args *a)
{
    char err[256];
    Dataset *d = dataset_open(a->path, &a->open, err, sizeof err);
    if (!d) fprintf(stderr, "cssmc: error: %s\n", err);
    return d;
}

/* ---- info ---- */

/* Labels of a split by reading every sample (TFRecords keep them inside). */
static int scan_labels(Dataset *d, Split s, int64_t counts[2])
{
    DatasetReader *r = dataset_reader_new(d);
    float *x = xmalloc(sizeof(float) * dataset_sample_floats(d));
    char err[256];
    int rc = 0;
    counts[0] = counts[1] = 0;
    for (int64_t i = 0; i < dataset_size(d, s) && !rc; i++) {
        int32_t y;
        rc = dataset_read(r, s, i, x, &y, err, sizeof err);
        if (!rc) counts[y]++;
    }
    if (rc) fprintf(stderr, "cssmc: error: %s\n", err);
    free(x);
    dataset_reader_free(r);
    return rc;
}

static void print_split(Dataset *d, Split s, int scan, int *failed)
{
    const DatasetInfo *in = dataset_info(d);
    int64_t c[2] = {in->label_count[s][0], in->label_count[s][1]};
    if (c[0] < 0 && scan && dataset_size(d, s) > 0) *failed |= scan_labels(d, s, c) != 0;
    printf("  %-5s %8lld samples", split_name(s), (long long)in->count[s]);
    if (c[0] >= 0 && in->count[s] > 0)
        printf("   label 0: %lld, label 1: %lld (%.1f%% positive)", (long long)c[0], (long long)c[1],
               100.0 * (double)c[1] / (double)in->count[s]);
    else if (in->count[s] > 0)
        printf("   labels: in the records (--scan reads them)");
    printf("%s\n", s == in->eval_split ? "   [evaluation split]" : "");
}

static int cmd_info(Args *a)
{
    Dataset *d = open_or_report(a);
    if (!d) return 1;
    const DatasetInfo *in = dataset_info(d);
    printf("%s\n  schema   %s%s\n", dataset_dir(d), schema_name(in->schema), in->compressed ? " (compressed)" : "");
    printf("  stored   %d x %d x %d x 3 (frames x height x width x channels)\n", in->stored_frames,
           in->stored_height, in->stored_width);
    printf("  sample   float32 [%d, %d, %d, 3]\n", in->frames, in->height, in->width);
    int failed = 0;
    for (int s = 0; s < SPLIT_COUNT; s++) print_split(d, (Split)s, a->scan, &failed);
    if (in->bad_records) printf("  bad      %lld records left out; first: %s\n", (long long)in->bad_records, in->first_bad);
    dataset_close(d);
    return failed;
}

/* ---- check ---- */

static int cmd_check(Args *a)
{
    a->open.skip_bad = 1;   /* verify every record, counting rather than stopping */
    Dataset *d = open_or_report(a);
    if (!d) return 1;
    const DatasetInfo *in = dataset_info(d);
    DatasetReader *r = dataset_reader_new(d);
    float *x = xmalloc(sizeof(float) * dataset_sample_floats(d));
    int64_t good = 0, bad = in->bad_records;
    char err[256], first[256];
    snprintf(first, sizeof first, "%s", in->first_bad);
    for (int s = 0; s < SPLIT_COUNT; s++)
        for (int64_t i = 0; i < dataset_size(d, (Split)s); i++) {
            int32_t y;
            if (!dataset_read(r, (Split)s, i, x, &y, err, sizeof err)) good++;
            else if (!bad++) snprintf(first, sizeof first, "%s", err);
        }
    printf("%s: %s, %lld samples read, %lld bad\n", dataset_dir(d), schema_name(in->schema), (long long)good,
           (long long)bad);
    if (bad) printf("first bad: %s\n", first);
    free(x);
    dataset_reader_free(r);
    dataset_close(d);
    return bad ? 1 : 0;
}

/* ---- show ---- */

enum { GAP = 2, BAR = 4, MAX_SHOWN_FRAMES = 16 };

typedef struct Sheet {
    int w, h;
    uint8_t *px;
} Sheet;

static void paste(Sheet *sh, const uint8_t *rgb, int w, int h, int x0, int y0)
{
    for (int y = 0; y < h; y++) memcpy(sh->px + ((size_t)(y0 + y) * sh->w + x0) * 3, rgb + (size_t)y * w * 3, (size_t)w * 3);
}

static void fill_rect(Sheet *sh, int x0, int y0, int w, int h, const uint8_t c[3])
{
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) memcpy(sh->px + ((size_t)y * sh->w + x) * 3, c, 3);
}

/* Rows of samples: a label bar (green 1, red 0), then up to 16 frames. */
static Sheet layout_sheet(const DatasetInfo *in, int n, int shown)
{
    Sheet sh;
    if (in->frames == 1) {
        int cols = (int)ceil(sqrt((double)n)), rows = (n + cols - 1) / cols;
        sh.w = cols * (in->width + GAP) + GAP;
        sh.h = rows * (in->height + BAR + GAP) + GAP;
    } else {
        sh.w = BAR + GAP + shown * (in->width + GAP);
        sh.h = n * (in->height + GAP) + GAP;
    }
    sh.px = xcalloc((size_t)sh.w * sh.h, 3);
    static const uint8_t gray[3] = {64, 64, 64};
    fill_rect(&sh, 0, 0, sh.w, sh.h, gray);
    return sh;
}

static void draw_sample(Sheet *sh, const Dataset *d, const float *x, int32_t y, int k, int n, int shown,
                        uint8_t *frame)
{
    const DatasetInfo *in = dataset_info(d);
    static const uint8_t colors[2][3] = {{220, 40, 40}, {40, 200, 60}};
    size_t fn = (size_t)in->height * in->width * 3;
    int idx[MAX_SHOWN_FRAMES];
    if (in->frames == 1) {
        int cols = (int)ceil(sqrt((double)n)), x0 = GAP + (k % cols) * (in->width + GAP);
        int y0 = GAP + (k / cols) * (in->height + BAR + GAP);
        fill_rect(sh, x0, y0, in->width, BAR - 1, colors[y]);
        dataset_denormalize(d, x, frame, fn);
        paste(sh, frame, in->width, in->height, x0, y0 + BAR);
        return;
    }
    frame_indices(in->frames, shown, idx);
    int y0 = GAP + k * (in->height + GAP);
    fill_rect(sh, 0, y0, BAR, in->height, colors[y]);
    for (int t = 0; t < shown; t++) {
        dataset_denormalize(d, x + (size_t)idx[t] * fn, frame, fn);
        paste(sh, frame, in->width, in->height, BAR + GAP + t * (in->width + GAP), y0);
    }
}

static int cmd_show(Args *a)
{
    Dataset *d = open_or_report(a);
    if (!d) return 1;
    const DatasetInfo *in = dataset_info(d);
    int n = (int)MIN((int64_t)a->n, dataset_size(d, a->split)), shown = MIN(in->frames, MAX_SHOWN_FRAMES), rc = 0;
    char err[256];
    if (n == 0) {
        fprintf(stderr, "cssmc: error: %s: the %s split is empty\n", dataset_dir(d), split_name(a->split));
        dataset_close(d);
        return 1;
    }
    Sheet sh = layout_sheet(in, n, shown);
    DatasetReader *r = dataset_reader_new(d);
    float *x = xmalloc(sizeof(float) * dataset_sample_floats(d));
    uint8_t *frame = xmalloc((size_t)in->height * in->width * 3);
    for (int k = 0; k < n && !rc; k++) {
        int32_t y;
        rc = dataset_read(r, a->split, k, x, &y, err, sizeof err);
        if (!rc) draw_sample(&sh, d, x, y, k, n, shown, frame);
    }
    if (!rc) rc = png_write8(a->out, sh.w, sh.h, 3, sh.px, err, sizeof err);
    if (rc) fprintf(stderr, "cssmc: error: %s\n", err);
    else printf("%s: %d %s samples of %s\n", a->out, n, split_name(a->split), dataset_dir(d));
    free(frame);
    free(x);
    free(sh.px);
    dataset_reader_free(r);
    dataset_close(d);
    return rc ? 1 : 0;
}

/* ---- bench ---- */

/* What feeds a training step, measured: each generator on one thread at the
 * configurations training uses, and the folder loader over small PathTracker
 * sets written in every format it reads to a temporary folder (read back from
 * the page cache, so this is decoding and batching, not the disk). Every
 * measurement takes at least one sample or batch, so --seconds 0 is a quick
 * smoke run. Given the step time, the rates are set against the step's
 * consumption, batch / step time. */
enum { BENCH_SAMPLES = 256, BENCH_MAX_BATCH = 64 };
#define BENCH_FRAMES "32"        /* tools/bench.sh's seq_len; PathTracker frames are always 32x32 */
#define BENCH_DISTRACTORS "14"   /* the released sets' */

typedef struct GeneratorCase { const char *label, *spec; } GeneratorCase;

/* The first is the input of the training bench (tools/bench.sh). */
static const GeneratorCase GENERATOR_CASES[] = {
    {"pathtracker, " BENCH_FRAMES " frames of 32x32, " BENCH_DISTRACTORS " distractors",
     "pathtracker:gen,frames=" BENCH_FRAMES ",dist=" BENCH_DISTRACTORS},
    {"pathfinder lra32-hard, 32x32", "pathfinder:gen,preset=lra32-hard"},
    {"pathfinder pf300-cl14, 300x300", "pathfinder:gen,preset=pf300-cl14"},
};

typedef struct LoaderCase { const char *label, *folder, *format, *schema; } LoaderCase;

static const LoaderCase LOADER_CASES[] = {
    {"pathtracker GZIP TFRecord (paper schema, uint8)", "paper", "tfrecord", "paper"},
    {"pathtracker TFRecord (legacy schema, float32)", "legacy", "tfrecord", "legacy"},
    {"pathtracker .npy class folders (uint8)", "npy", "native", "paper"},
};

typedef struct BenchArgs {
    int seconds, batch;
    double step_ms;           /* the training step's time; 0 = not given */
} BenchArgs;

static int parse_ms(const char *flag, const char *v, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x <= 0) {
        fprintf(stderr, "cssmc data bench: %s expects a positive number of milliseconds, got '%s'\n", flag, v);
        return 2;
    }
    *out = x;
    return 0;
}

static int parse_bench_args(BenchArgs *b, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[++i] : NULL;
        if (f[0] != '-') return bad_usage("bench", "unexpected argument '%s' (bench takes options only)", f);
        if (strcmp(f, "--seconds") && strcmp(f, "--batch") && strcmp(f, "--step-ms"))
            return bad_usage("bench", "unknown option '%s'", f);
        if (!v) return bad_usage("bench", "%s expects a value", f);
        int rc = !strcmp(f, "--seconds") ? parse_int("bench", f, v, 0, &b->seconds)
               : !strcmp(f, "--batch")   ? parse_int("bench", f, v, 1, &b->batch)
                                         : parse_ms(f, v, &b->step_ms);
        if (rc) return rc;
    }
    if (b->batch > BENCH_MAX_BATCH) {   /* the sets hold BENCH_SAMPLES samples */
        fprintf(stderr, "cssmc data bench: --batch expects an integer in [1, %d], got '%d'\n", BENCH_MAX_BATCH, b->batch);
        return 2;
    }
    return 0;
}

/* rates[i]: samples/s of GENERATOR_CASES[i] on one thread. */
static int bench_generators(const BenchArgs *b, double *rates)
{
    for (size_t i = 0; i < COUNT_OF(GENERATOR_CASES); i++) {
        if ((rates[i] = generate_bench(GENERATOR_CASES[i].spec, b->seconds)) < 0) return 1;
        printf("generator %-50s %10.1f samples/s per core\n", GENERATOR_CASES[i].label, rates[i]);
        fflush(stdout);
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static char *make_temp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xprintf("%s/cssmc-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir)) return dir;
    fprintf(stderr, "cssmc: error: %s: cannot create a temporary folder (%s)\n", dir, strerror(errno));
    free(dir);
    return NULL;
}

/* Writes BENCH_SAMPLES training-bench videos to `dir` as `data gen` does. */
static int write_bench_set(char *dir, const LoaderCase *c)
{
    char n[16];
    snprintf(n, sizeof n, "%d", BENCH_SAMPLES);
    char *argv[] = {"gen", "pathtracker", "--frames", BENCH_FRAMES, "--dist", BENCH_DISTRACTORS, "--n", n, "--out", dir,
                    "--format", (char *)c->format, "--schema", (char *)c->schema, "--quiet"};
    return data_cmd_gen((int)COUNT_OF(argv), argv);
}

/* rates[i]: samples/s of the loader over a set in LOADER_CASES[i]'s format. */
static int bench_loaders(const BenchArgs *b, double *rates)
{
    char *tmp = make_temp_dir();
    int rc = tmp ? 0 : 1;
    for (size_t i = 0; i < COUNT_OF(LOADER_CASES) && !rc; i++) {
        char *dir = xprintf("%s/%s", tmp, LOADER_CASES[i].folder);
        rc = write_bench_set(dir, &LOADER_CASES[i]) || (rates[i] = loader_bench(dir, b->batch, b->seconds)) < 0;
        if (!rc) printf("loader %-53s %10.1f samples/s at batch %d\n", LOADER_CASES[i].label, rates[i], b->batch);
        fflush(stdout);
        free(dir);
    }
    if (tmp) nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmp);
    return rc;
}

static void compare_with_training(const BenchArgs *b, const double *generated, const double *loaded)
{
    double consumed = b->batch / (b->step_ms / 1000);
    size_t slowest = 0;
    printf("training step: %g ms per batch of %d = %.1f samples/s\n", b->step_ms, b->batch, consumed);
    printf("ratio generator/training, %s (one core): %.2fx\n", GENERATOR_CASES[0].label, generated[0] / consumed);
    for (size_t i = 0; i < COUNT_OF(LOADER_CASES); i++) {
        printf("ratio loader/training, %s: %.2fx\n", LOADER_CASES[i].label, loaded[i] / consumed);
        if (loaded[i] < loaded[slowest]) slowest = i;
    }
    double r = loaded[slowest] / consumed;
    printf("loader %s: %.1fx the training step's consumption (%d samples per %g ms) in its slowest format, %s\n",
           r >= 1 ? "keeps up" : "does not keep up", r, b->batch, b->step_ms, LOADER_CASES[slowest].label);
}

static int cmd_bench(int argc, char **argv)
{
    BenchArgs b = {2, 8, 0};
    int rc = parse_bench_args(&b, argc, argv);
    if (rc) return rc;
    printf("data bench: %d s per measurement (at least one sample or batch), %d-sample loader sets, %ld cores\n",
           b.seconds, BENCH_SAMPLES, sysconf(_SC_NPROCESSORS_ONLN));
    double generated[COUNT_OF(GENERATOR_CASES)], loaded[COUNT_OF(LOADER_CASES)];
    if (bench_generators(&b, generated) || bench_loaders(&b, loaded)) return 1;
    if (b.step_ms > 0) compare_with_training(&b, generated, loaded);
    else printf("training step: not given (--step-ms MS sets the rates against it)\n");
    return 0;
}

/* ---- dispatch ---- */

static void sub_usage(const char *cmd)
{
    if (!strcmp(cmd, "info"))
        printf("usage: cssmc data info PATH [options]\n\nSchema, stored and sample sizes, samples and label "
               "balance per split.\n\noptions:\n%s  --scan              read every record to count labels "
               "where the records hold them\n", OPEN_FLAGS);
    else if (!strcmp(cmd, "show"))
        printf("usage: cssmc data show PATH --out FILE.png [options]\n\nA contact sheet: images in a grid "
               "under a label bar, videos one per row as frame strips (at most %d frames), green = label 1, "
               "red = label 0.\n\noptions:\n  --out FILE.png      where to write the sheet\n  --n N               "
               "samples to show (default 8)\n  --split NAME        train, val or test (default train)\n%s",
               MAX_SHOWN_FRAMES, OPEN_FLAGS);
    else if (!strcmp(cmd, "check"))
        printf("usage: cssmc data check PATH [options]\n\nReads every record and verifies checksums, "
               "decoding and sizes; exits 1 if any is bad.\n\noptions:\n%s", OPEN_FLAGS);
    else
        printf("usage: cssmc data bench [--seconds N] [--batch N] [--step-ms MS]\n\n"
               "What feeds a training step, measured:\n"
               "  generators  samples/s on one core: PathTracker at the training bench's %s\n"
               "              frames, Pathfinder at lra32-hard and pf300-cl14\n"
               "  loaders     samples/s of the shuffled training loader (its own worker threads,\n"
               "              nothing else running) over %d-sample PathTracker sets written to a\n"
               "              temporary folder in each format it reads\n"
               "  training    given --step-ms, each rate as a multiple of the step's consumption\n"
               "              (batch / step time), and whether the loader keeps up\n"
               "`make bench` passes the cpu device's median step time from `cssmc bench`. The exit\n"
               "status is 0 whether or not the loader keeps up, 1 if a measurement fails.\n\noptions:\n"
               "  --seconds N         seconds per measurement (default 2; 0: one sample or batch each)\n"
               "  --batch N           loader batch, and samples per training step (default 8, at most %d)\n"
               "  --step-ms MS        the training step's time in milliseconds\n",
               BENCH_FRAMES, BENCH_SAMPLES, BENCH_MAX_BATCH);
}

int cmd_data(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(DATA_USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "gen")) return data_cmd_gen(argc - 1, argv + 1);
    if (!strcmp(cmd, "stats")) return data_cmd_stats(argc - 1, argv + 1);
    if (strcmp(cmd, "info") && strcmp(cmd, "show") && strcmp(cmd, "check") && strcmp(cmd, "bench")) {
        fprintf(stderr, "cssmc data: unknown command '%s' (expected info, show, check, gen, stats or bench)\n", cmd);
        return 2;
    }
    if (wants_help(argc - 1, argv + 1)) {
        sub_usage(cmd);
        return 0;
    }
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    Args a = {cmd, NULL, NULL, {0}, SPLIT_TRAIN, 8, 0};
    dataset_options_init(&a.open);
    int rc = parse_args(&a, argc - 1, argv + 1);
    if (rc) return rc;
    if (!strcmp(cmd, "info")) return cmd_info(&a);
    if (!strcmp(cmd, "show")) return cmd_show(&a);
    return cmd_check(&a);
}
