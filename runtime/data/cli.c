/* cli.c: `cssmc data`: look at, check, generate and measure datasets.
 *
 *   cssmc data info PATH    schema, sizes, samples and label balance per split
 *   cssmc data show PATH    a contact sheet of samples (videos as frame strips)
 *   cssmc data check PATH   read and verify every record; exit 1 if any is bad
 *   cssmc data gen ...      generators (gencli.c)
 *   cssmc data stats ...    statistics of generated or real data (gencli.c)
 *
 * Each subcommand answers --help; a bad flag says what was expected and
 * exits 2. Failures print one line naming the file (and record) and exit 1. */
#include "dataset.h"
#include "base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int data_cmd_gen(int argc, char **argv);
int data_cmd_stats(int argc, char **argv);

static const char *DATA_USAGE =
    "usage: cssmc data COMMAND [options]\n\n"
    "commands:\n"
    "  info PATH    schema, stored and sample sizes, samples and labels per split\n"
    "  show PATH    write a contact sheet of samples as a PNG\n"
    "  check PATH   read and verify every record (checksums, decoding, sizes)\n"
    "  gen ...      generate Pathfinder or PathTracker data (cssmc data gen --help)\n"
    "  stats PATH   measure a dataset's statistics (cssmc data stats --help)\n\n"
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
    else
        printf("usage: cssmc data check PATH [options]\n\nReads every record and verifies checksums, "
               "decoding and sizes; exits 1 if any is bad.\n\noptions:\n%s", OPEN_FLAGS);
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
    if (strcmp(cmd, "info") && strcmp(cmd, "show") && strcmp(cmd, "check")) {
        fprintf(stderr, "cssmc data: unknown command '%s' (expected info, show, check, gen or stats)\n", cmd);
        return 2;
    }
    if (wants_help(argc - 1, argv + 1)) {
        sub_usage(cmd);
        return 0;
    }
    Args a = {cmd, NULL, NULL, {0}, SPLIT_TRAIN, 8, 0};
    dataset_options_init(&a.open);
    int rc = parse_args(&a, argc - 1, argv + 1);
    if (rc) return rc;
    if (!strcmp(cmd, "info")) return cmd_info(&a);
    if (!strcmp(cmd, "show")) return cmd_show(&a);
    return cmd_check(&a);
}
