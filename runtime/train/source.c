/* source.c: where training samples come from, folder or generator.
 *
 * A folder is opened with dataset_open (any schema it reads; `SCHEMA:DIR`
 * names one, which girik needs) and batched by its Loader. A generator spec
 * `NAME:gen[,...]` makes sample k from (options, seed, k) alone, so the
 * samples are the same in every run, in any order, on any thread. Its
 * splits are those `cssmc data gen --format tfrecord` writes for the same
 * n, by the reference converters' plans: PathTracker 10% test and a tenth
 * of the rest val (split_plan_sizes, seed 42), Pathfinder 80/10/10
 * (split_plan_ratio, seed 42); each split keeps index order, evaluation is
 * on val. Generated pixels are normalised as the folder readers normalise
 * the same pixels (ImageNet mean/std; PathTracker frames subsampled with
 * round(linspace), Pathfinder images repeated T times).
 *
 * Generated batches are made on the caller's thread and a few helpers
 * (generation is cheap beside a training step and needs no prefetch); the
 * epoch order is a Fisher-Yates shuffle from rng_fold(rng_new(seed), epoch),
 * so a position (epoch, b) always holds the same samples. */
#include "loop.h"

#include "base.h"
#include "generate.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { GEN_THREADS_MAX = 8 };

struct DataSource {
    char *describe;
    Dataset *ds;                      /* a folder, or NULL */
    DatasetReader *reader;            /* in-order reads of a folder */
    GenSpec gen;                      /* a generator */
    int frames, height, width;
    size_t floats;
    Split eval_split;
    int64_t *member[SPLIT_COUNT];     /* generator: sample index of each split position */
    int64_t count[SPLIT_COUNT];
    int *fidx;                        /* generator PathTracker: stored frame of each frame */
};

/* ---- Specs --------------------------------------------------------------- */

bool source_is_generated(const char *spec)
{
    const char *colon = strchr(spec, ':');
    return colon && !strncmp(colon + 1, "gen", 3) && (colon[4] == 0 || colon[4] == ',');
}

/* `SCHEMA:DIR` names the schema; anything else is a folder detected. */
static const char *split_schema(const char *spec, DataSchema *schema)
{
    *schema = SCHEMA_AUTO;
    const char *colon = strchr(spec, ':');
    if (!colon) return spec;
    char *name = xstrndup(spec, (size_t)(colon - spec));
    int known = schema_parse(name, schema) == 0;
    free(name);
    if (known) return colon + 1;
    *schema = SCHEMA_AUTO;
    return spec;
}

int source_check(const char *spec, char *err, size_t errlen)
{
    if (!*spec) return snprintf(err, errlen, "--data is empty"), -1;
    if (source_is_generated(spec)) {
        GenSpec g;
        char why[256];
        if (generate_parse_spec(spec, &g, why, sizeof why) == 0) return 0;
        snprintf(err, errlen, "--data %s: %s", spec, why);
        return -1;
    }
    DataSchema schema;
    const char *dir = split_schema(spec, &schema);
    struct stat sb;
    if (stat(dir, &sb) != 0) return snprintf(err, errlen, "--data %s: %s", dir, strerror(errno)), -1;
    if (!S_ISDIR(sb.st_mode)) return snprintf(err, errlen, "--data %s: not a directory", dir), -1;
    return 0;
}

/* ---- Generated data -------------------------------------------------------- */

static void gen_splits(DataSource *s)
{
    int64_t n = s->gen.n;
    Split *plan = xmalloc(sizeof(Split) * (size_t)MAX(n, 1));
    if (s->gen.kind == GEN_PATHFINDER) split_plan_ratio(n, 42, 0.8, 0.1, plan);
    else split_plan_sizes(n, 42, n - n / 10, n / 10, plan);
    for (int k = 0; k < SPLIT_COUNT; k++) s->member[k] = xmalloc(sizeof(int64_t) * (size_t)MAX(n, 1));
    for (int64_t i = 0; i < n; i++)
        if (plan[i] != SPLIT_COUNT) s->member[plan[i]][s->count[plan[i]]++] = i;
    free(plan);
    s->eval_split = SPLIT_VAL;
}

/* The generator's sample size must be the model's; frames may be fewer. */
static int gen_shape(DataSource *s, const char *spec, char *err, size_t errlen)
{
    int F, H, W, C;
    generate_shape(&s->gen, &F, &H, &W, &C);
    const char *key = s->gen.kind == GEN_PATHFINDER ? "size=" : "(PathTracker videos are 32x32) -D image_size=";
    if (H != s->height || W != s->width)
        return snprintf(err, errlen, "--data %s: samples are %dx%d, the model takes %dx%d; set %s%d", spec, H, W,
                        s->height, s->width, key, s->gen.kind == GEN_PATHFINDER ? s->height : H), -1;
    if (s->gen.kind == GEN_PATHTRACKER && F < s->frames)
        return snprintf(err, errlen, "--data %s: videos have %d frames, the model takes %d; set frames=%d or more",
                        spec, F, s->frames, s->frames), -1;
    if (s->gen.kind == GEN_PATHTRACKER) {
        s->fidx = xmalloc(sizeof(int) * (size_t)s->frames);
        frame_indices(F, s->frames, s->fidx);
    }
    return 0;
}

static int open_generated(DataSource *s, const char *spec, char *err, size_t errlen)
{
    char why[256], what[256];
    if (generate_parse_spec(spec, &s->gen, why, sizeof why))
        return snprintf(err, errlen, "--data %s: %s", spec, why), -1;
    if (gen_shape(s, spec, err, errlen)) return -1;
    gen_splits(s);
    generate_describe(&s->gen, what, sizeof what);
    s->describe = xprintf("generated %s: train %lld, val %lld, test %lld", what, (long long)s->count[SPLIT_TRAIN],
                          (long long)s->count[SPLIT_VAL], (long long)s->count[SPLIT_TEST]);
    return 0;
}

/* Pixels of generated sample k -> the model's float sample. */
static void gen_normalize(const DataSource *s, const uint8_t *raw, float *x)
{
    size_t plane = (size_t)s->height * (size_t)s->width;
    if (s->gen.kind == GEN_PATHTRACKER) {
        for (int t = 0; t < s->frames; t++)
            normalize_imagenet_u8(raw + (size_t)s->fidx[t] * plane * 3, plane, x + (size_t)t * plane * 3);
        return;
    }
    normalize_imagenet_gray(raw, plane, x);
    for (int t = 1; t < s->frames; t++) memcpy(x + (size_t)t * plane * 3, x, sizeof(float) * plane * 3);
}

static int gen_read(const DataSource *s, int64_t index, uint8_t *raw, float *x, int32_t *y, char *err,
                    size_t errlen)
{
    int label;
    if (generate_sample(&s->gen, index, raw, &label, err, errlen)) return -1;
    gen_normalize(s, raw, x);
    *y = label;
    return 0;
}

/* ---- Folders ----------------------------------------------------------- */

static int open_folder(DataSource *s, const char *spec, char *err, size_t errlen)
{
    DatasetOptions o;
    dataset_options_init(&o);
    const char *dir = split_schema(spec, &o.schema);
    o.frames = s->frames;
    o.image_size = s->height;
    s->ds = dataset_open(dir, &o, err, errlen);
    if (!s->ds) return -1;
    const DatasetInfo *in = dataset_info(s->ds);
    if (in->frames != s->frames || in->height != s->height || in->width != s->width)
        return snprintf(err, errlen, "%s: samples are %d frames of %dx%d, the model takes %d of %dx%d", dir,
                        in->frames, in->height, in->width, s->frames, s->height, s->width), -1;
    s->eval_split = in->eval_split;
    for (int k = 0; k < SPLIT_COUNT; k++) s->count[k] = in->count[k];
    s->reader = dataset_reader_new(s->ds);
    s->describe = xprintf("%s %s: train %lld, val %lld, test %lld", schema_name(in->schema), dataset_dir(s->ds),
                          (long long)in->count[SPLIT_TRAIN], (long long)in->count[SPLIT_VAL],
                          (long long)in->count[SPLIT_TEST]);
    return 0;
}

/* ---- The source ---------------------------------------------------------- */

DataSource *source_open(const char *spec, int frames, int height, int width, char *err, size_t errlen)
{
    if (source_check(spec, err, errlen)) return NULL;
    DataSource *s = xcalloc(1, sizeof *s);
    s->frames = frames, s->height = height, s->width = width;
    s->floats = (size_t)frames * (size_t)height * (size_t)width * 3;
    int rc = source_is_generated(spec) ? open_generated(s, spec, err, errlen) : open_folder(s, spec, err, errlen);
    if (rc == 0) return s;
    source_close(s);
    return NULL;
}

void source_close(DataSource *s)
{
    if (!s) return;
    dataset_reader_free(s->reader);
    dataset_close(s->ds);
    for (int k = 0; k < SPLIT_COUNT; k++) free(s->member[k]);
    free(s->fidx);
    free(s->describe);
    free(s);
}

const char *source_describe(const DataSource *s) { return s->describe; }
int64_t source_size(const DataSource *s, Split split) { return s->count[split]; }
Split source_eval_split(const DataSource *s) { return s->eval_split; }
size_t source_sample_floats(const DataSource *s) { return s->floats; }

int source_read(DataSource *s, Split split, int64_t i, float *x, int32_t *y, char *err, size_t errlen)
{
    if (s->ds) return dataset_read(s->reader, split, i, x, y, err, errlen);
    if (i < 0 || i >= s->count[split]) ice("source_read: sample %lld of %s", (long long)i, split_name(split));
    uint8_t *raw = xmalloc(generate_sample_bytes(&s->gen));
    int rc = gen_read(s, s->member[split][i], raw, x, y, err, errlen);
    free(raw);
    return rc;
}

/* ---- Training batches ------------------------------------------------------ */

struct BatchIter {
    DataSource *s;
    Split split;
    int batch;
    uint64_t seed;
    Loader *loader;                   /* folders */
    int64_t nbatch, epoch, b;         /* generator: the next position */
    int64_t *order, order_epoch;      /* generator: the permutation of order_epoch */
};

BatchIter *batches_new(DataSource *s, Split split, int batch, uint64_t seed, char *err, size_t errlen)
{
    int64_t size = source_size(s, split);
    if (size / batch == 0)
        return snprintf(err, errlen, "the %s split has %lld samples, fewer than one batch of %d", split_name(split),
                        (long long)size, batch), NULL;
    BatchIter *it = xcalloc(1, sizeof *it);
    *it = (BatchIter){.s = s, .split = split, .batch = batch, .seed = seed, .nbatch = size / batch, .order_epoch = -1};
    if (!s->ds) return it;
    LoaderOptions lo;
    loader_options_init(&lo, batch, seed, 1);
    it->loader = loader_new(s->ds, split, &lo, err, errlen);
    if (it->loader) return it;
    free(it);
    return NULL;
}

int64_t batches_per_epoch(const BatchIter *it) { return it->nbatch; }

void batches_seek(BatchIter *it, int64_t epoch, int64_t b)
{
    if (it->loader) loader_seek(it->loader, epoch, b);
    it->epoch = epoch + b / it->nbatch;
    it->b = b % it->nbatch;
}

void batches_free(BatchIter *it)
{
    if (!it) return;
    loader_free(it->loader);
    free(it->order);
    free(it);
}

static void epoch_order(BatchIter *it)
{
    if (it->order_epoch == it->epoch) return;
    int64_t n = source_size(it->s, it->split);
    if (!it->order) it->order = xmalloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) it->order[i] = i;
    Rng g = rng_fold(rng_new(it->seed), (uint64_t)it->epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&g, (uint64_t)i + 1), t = it->order[i];
        it->order[i] = it->order[j];
        it->order[j] = t;
    }
    it->order_epoch = it->epoch;
}

/* One helper thread's share of a generated batch. */
typedef struct GenJob {
    const BatchIter *it;
    float *x;
    int32_t *y;
    int begin, end;
    int rc;
    char err[256];
} GenJob;

static void *gen_job(void *arg)
{
    GenJob *j = arg;
    const DataSource *s = j->it->s;
    uint8_t *raw = xmalloc(generate_sample_bytes(&s->gen));
    const int64_t *pos = j->it->order + j->it->b * j->it->batch;
    for (int k = j->begin; k < j->end && !j->rc; k++)
        j->rc = gen_read(s, s->member[j->it->split][pos[k]], raw, j->x + (size_t)k * s->floats, j->y + k, j->err,
                         sizeof j->err);
    free(raw);
    return NULL;
}

static int gen_threads(int batch)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return (int)MIN((long)MIN(batch, GEN_THREADS_MAX), MAX(1L, cpus));
}

static int gen_batch(BatchIter *it, float *x, int32_t *y, char *err, size_t errlen)
{
    int nt = gen_threads(it->batch), rc = 0;
    GenJob jobs[GEN_THREADS_MAX];
    pthread_t th[GEN_THREADS_MAX];
    for (int t = 0; t < nt; t++) {
        jobs[t] = (GenJob){.it = it, .x = x, .y = y, .begin = it->batch * t / nt, .end = it->batch * (t + 1) / nt};
        if (t > 0) pthread_create(&th[t], NULL, gen_job, &jobs[t]);
    }
    gen_job(&jobs[0]);
    for (int t = 1; t < nt; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < nt && !rc; t++)
        if (jobs[t].rc) rc = -1, snprintf(err, errlen, "%s", jobs[t].err);
    return rc;
}

int batches_next(BatchIter *it, float *x, int32_t *y, char *err, size_t errlen)
{
    if (it->loader) return loader_next(it->loader, x, y, err, errlen);
    if (it->b == it->nbatch) {
        it->epoch++;
        it->b = 0;
        return 0;
    }
    epoch_order(it);
    if (gen_batch(it, x, y, err, errlen)) return -1;
    it->b++;
    return 1;
}
