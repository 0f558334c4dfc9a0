/* datawrite.c: writing the released TFRecord schemas (spec/training.md §2).
 *
 * A DatasetWriter takes samples one at a time, each with its split, and
 * lays them out as the reference's converters do:
 *   pathfinder          dir/{train,val,test}/shard_%05d.tfrecord (plain),
 *                       features image (float32 [S,S,3], ImageNet-normalised),
 *                       label, height, width, channels; dir/metadata.json with
 *                       difficulty, image_size, total_samples, train_ratio,
 *                       val_ratio, seed, {split}_samples, {split}_shards
 *                       (empty splits get no folder and no keys, as there);
 *   pathtracker-legacy  dir/{train,val,test}/shard_%04d.tfrecord (plain),
 *                       video (float32 [F,H,W,3] normalised), label,
 *                       num_frames, height, width, channels; metadata.json
 *                       with total_samples, image_size, num_frames, channels,
 *                       seed, {split}_samples, {split}_shards;
 *   pathtracker         dir/{train,test}-batch_0--%05d-of-%05d (GZIP), image
 *                       (uint8 [F,H,W,3]), label (one byte), height, width,
 *                       records spread over the shards as np.linspace does;
 *                       no metadata.json, as the original writer wrote none.
 * The number of samples per split is declared up front so shard names and
 * sizes are known before the first one is written; every shard is written
 * atomically. The split plans reproduce the reference's numpy shuffles. */
#include "dataset.h"
#include "base.h"

#include <stdlib.h>
#include <string.h>

struct DatasetWriter {
    WriterOptions o;
    char *dir;
    TfrWriter *shard[SPLIT_COUNT];
    int shard_no[SPLIT_COUNT], nshards[SPLIT_COUNT];
    int64_t added[SPLIT_COUNT], shard_end[SPLIT_COUNT];
    float *sample;       /* one normalised sample */
    uint8_t *resized;    /* Pathfinder: the gray image at the stored size */
};

void writer_options_init(WriterOptions *o, DataSchema schema, int frames, int height, int width)
{
    memset(o, 0, sizeof *o);
    o->schema = schema;
    o->frames = schema == SCHEMA_PATHFINDER ? 1 : frames;
    o->height = height;
    o->width = width;
    o->seed = 42;
    o->train_ratio = 0.8;
    o->val_ratio = 0.1;
    o->difficulty = NULL;
}

static size_t sample_elems(const WriterOptions *o) { return (size_t)o->frames * o->height * o->width * 3; }

/* ---- split plans ---- */

void split_plan_ratio(int64_t n, uint32_t seed, double train_ratio, double val_ratio, Split *out)
{
    int64_t *perm = xmalloc(sizeof(int64_t) * (size_t)MAX(n, 1));
    np_legacy_permutation(seed, n, perm);
    int64_t n_train = (int64_t)((double)n * train_ratio), n_val = (int64_t)((double)n * val_ratio);
    for (int64_t r = 0; r < n; r++) out[perm[r]] = r < n_train ? SPLIT_TRAIN : r < n_train + n_val ? SPLIT_VAL : SPLIT_TEST;
    free(perm);
}

void split_plan_sizes(int64_t n, uint32_t seed, int64_t train_size, int64_t test_size, Split *out)
{
    int64_t *perm = xmalloc(sizeof(int64_t) * (size_t)MAX(n, 1));
    np_legacy_permutation(seed, n, perm);
    int64_t train = MIN(train_size, n), test = MIN(test_size, n - train);
    int64_t val = MIN(MAX(1, train / 10), train);
    for (int64_t r = 0; r < n; r++)
        out[perm[r]] = r < train - val ? SPLIT_TRAIN : r < train ? SPLIT_VAL : r < train + test ? SPLIT_TEST : SPLIT_COUNT;
    free(perm);
}

/* ---- shards ---- */

static int is_paper(const WriterOptions *o) { return o->schema == SCHEMA_PATHTRACKER_PAPER; }

static char *shard_path(const DatasetWriter *w, Split s, int k)
{
    switch (w->o.schema) {
    case SCHEMA_PATHFINDER: return xprintf("%s/%s/shard_%05d.tfrecord", w->dir, split_name(s), k);
    case SCHEMA_PATHTRACKER_LEGACY: return xprintf("%s/%s/shard_%04d.tfrecord", w->dir, split_name(s), k);
    default: return xprintf("%s/%s-batch_0--%05d-of-%05d", w->dir, split_name(s), k, w->nshards[s]);
    }
}

/* Index one past the last sample of shard k: fixed-size shards, or for the
 * paper format np.linspace(0, n, shards + 1).astype(int). */
static int64_t shard_bound(const DatasetWriter *w, Split s, int k)
{
    int64_t n = w->o.count[s];
    if (!is_paper(&w->o)) return MIN(n, (int64_t)(k + 1) * w->o.per_shard);
    return k + 1 >= w->nshards[s] ? n : (int64_t)((k + 1) * ((double)n / w->nshards[s]));
}

static int plan_shards(DatasetWriter *w, char *err, size_t errlen)
{
    WriterOptions *o = &w->o;
    if (!o->per_shard) o->per_shard = o->schema == SCHEMA_PATHFINDER ? 5000 : 1000;
    for (int s = 0; s < SPLIT_COUNT; s++) {
        if (o->count[s] < 0) return errf(err, errlen, "%s: negative sample count for %s", w->dir, split_name(s));
        if (is_paper(o)) {
            int want = o->shards[s] ? o->shards[s] : s == SPLIT_TRAIN ? 40 : 4;
            w->nshards[s] = (int)MIN((int64_t)want, o->count[s]);
        } else {
            w->nshards[s] = (int)((o->count[s] + o->per_shard - 1) / o->per_shard);
        }
    }
    if (is_paper(o) && o->count[SPLIT_VAL])
        return errf(err, errlen, "%s: the pathtracker format has no val shards (val is taken from the train shards "
                    "when read); give those samples to train", w->dir);
    return 0;
}

static int make_split_dirs(const DatasetWriter *w, char *err, size_t errlen)
{
    if (make_dirs(w->dir, err, errlen)) return -1;
    if (is_paper(&w->o)) return 0;
    for (int s = 0; s < SPLIT_COUNT; s++) {
        if (!w->o.count[s] && w->o.schema == SCHEMA_PATHFINDER) continue;
        char *sub = xprintf("%s/%s", w->dir, split_name(s));
        int rc = make_dirs(sub, err, errlen);
        free(sub);
        if (rc) return -1;
    }
    return 0;
}

DatasetWriter *dataset_writer_open(const char *dir, const WriterOptions *o, char *err, size_t errlen)
{
    if (o->schema != SCHEMA_PATHFINDER && o->schema != SCHEMA_PATHTRACKER_LEGACY && !is_paper(o)) {
        errf(err, errlen, "%s: cannot write schema %s (expected pathfinder, pathtracker-legacy or pathtracker)", dir,
             schema_name(o->schema));
        return NULL;
    }
    if (o->frames <= 0 || o->height <= 0 || o->width <= 0) {
        errf(err, errlen, "%s: bad sample size %dx%dx%d", dir, o->frames, o->height, o->width);
        return NULL;
    }
    DatasetWriter *w = xcalloc(1, sizeof *w);
    w->o = *o;
    w->dir = xstrdup(dir);
    if (!w->o.source_height) w->o.source_height = o->height;
    if (!w->o.source_width) w->o.source_width = o->width;
    if (plan_shards(w, err, errlen) || make_split_dirs(w, err, errlen)) {
        dataset_writer_abort(w);
        return NULL;
    }
    w->sample = xmalloc(sizeof(float) * sample_elems(o));
    w->resized = xmalloc((size_t)o->height * o->width);
    return w;
}

/* The shard that sample number `added[s]` of split s goes to, opened. */
static TfrWriter *current_shard(DatasetWriter *w, Split s, char *err, size_t errlen)
{
    if (w->shard[s] && w->added[s] < w->shard_end[s]) return w->shard[s];
    if (w->shard[s]) {
        int rc = tfr_writer_close(w->shard[s], err, errlen);
        w->shard[s] = NULL;
        if (rc) return NULL;
        w->shard_no[s]++;
    }
    char *path = shard_path(w, s, w->shard_no[s]);
    w->shard[s] = tfr_writer_open(path, is_paper(&w->o), err, errlen);
    w->shard_end[s] = shard_bound(w, s, w->shard_no[s]);
    free(path);
    return w->shard[s];
}

static TfExample *make_example(const DatasetWriter *w, const void *pixels, size_t bytes, int label)
{
    const WriterOptions *o = &w->o;
    TfExample *e = tfex_new();
    int64_t l = label, h = o->height, wd = o->width, f = o->frames, c = 3;
    uint8_t lb = (uint8_t)label;
    if (is_paper(o)) {
        tfex_add_int64s(e, "height", &h, 1);
        tfex_add_int64s(e, "width", &wd, 1);
        tfex_add_bytes(e, "label", &lb, 1);
        tfex_add_bytes(e, "image", pixels, bytes);
        return e;
    }
    tfex_add_bytes(e, o->schema == SCHEMA_PATHFINDER ? "image" : "video", pixels, bytes);
    tfex_add_int64s(e, "label", &l, 1);
    if (o->schema == SCHEMA_PATHTRACKER_LEGACY) tfex_add_int64s(e, "num_frames", &f, 1);
    tfex_add_int64s(e, "height", &h, 1);
    tfex_add_int64s(e, "width", &wd, 1);
    tfex_add_int64s(e, "channels", &c, 1);
    return e;
}

static int write_sample(DatasetWriter *w, Split s, const void *pixels, size_t bytes, int label, char *err,
                        size_t errlen)
{
    if (s >= SPLIT_COUNT || w->added[s] >= w->o.count[s])
        return errf(err, errlen, "%s: more %s samples than the %lld declared", w->dir, split_name(s),
                    s < SPLIT_COUNT ? (long long)w->o.count[s] : 0LL);
    if (label != 0 && label != 1) return errf(err, errlen, "%s: label %d (expected 0 or 1)", w->dir, label);
    TfrWriter *t = current_shard(w, s, err, errlen);
    if (!t) return -1;
    TfExample *e = make_example(w, pixels, bytes, label);
    size_t len;
    uint8_t *rec = tfex_serialize(e, &len);
    int rc = tfr_write(t, rec, len, err, errlen);
    free(rec);
    tfex_free(e);
    if (!rc) w->added[s]++;
    return rc;
}

int dataset_writer_add(DatasetWriter *w, Split s, const uint8_t *pixels, int label, char *err, size_t errlen)
{
    const WriterOptions *o = &w->o;
    size_t n = sample_elems(o);
    if (is_paper(o)) return write_sample(w, s, pixels, n, label, err, errlen);
    if (o->schema == SCHEMA_PATHFINDER) {
        const uint8_t *gray = pixels;
        if (o->source_height != o->height || o->source_width != o->width) {
            resize_pillow_bilinear(pixels, o->source_height, o->source_width, 1, w->resized, o->height, o->width);
            gray = w->resized;
        }
        normalize_imagenet_gray(gray, (size_t)o->height * o->width, w->sample);
    } else {
        normalize_imagenet_u8(pixels, n / 3, w->sample);
    }
    return write_sample(w, s, w->sample, n * sizeof(float), label, err, errlen);
}

int dataset_writer_add_float(DatasetWriter *w, Split s, const float *sample, int label, char *err, size_t errlen)
{
    if (is_paper(&w->o)) return errf(err, errlen, "%s: the pathtracker format stores uint8 videos", w->dir);
    return write_sample(w, s, sample, sample_elems(&w->o) * sizeof(float), label, err, errlen);
}

/* ---- closing ---- */

static int write_metadata(const DatasetWriter *w, char *err, size_t errlen)
{
    const WriterOptions *o = &w->o;
    int64_t total = o->count[0] + o->count[1] + o->count[2];
    Meta m = {0};
    if (o->schema == SCHEMA_PATHFINDER) {
        meta_set(&m, "difficulty", o->difficulty ? o->difficulty : "", 1);
        meta_set_int(&m, "image_size", o->height);
        meta_set_int(&m, "total_samples", total);
        meta_set_double(&m, "train_ratio", o->train_ratio);
        meta_set_double(&m, "val_ratio", o->val_ratio);
    } else {
        meta_set_int(&m, "total_samples", total);
        meta_set_int(&m, "image_size", o->height);
        meta_set_int(&m, "num_frames", o->frames);
        meta_set_int(&m, "channels", 3);
    }
    meta_set_int(&m, "seed", o->seed);
    for (int s = 0; s < SPLIT_COUNT; s++) {
        if (!o->count[s] && o->schema == SCHEMA_PATHFINDER) continue;
        char *k1 = xprintf("%s_samples", split_name(s)), *k2 = xprintf("%s_shards", split_name(s));
        meta_set_int(&m, k1, o->count[s]);
        meta_set_int(&m, k2, w->nshards[s]);
        free(k1);
        free(k2);
    }
    char *path = xprintf("%s/metadata.json", w->dir);
    int rc = meta_write(path, &m, err, errlen);
    free(path);
    meta_free(&m);
    return rc;
}

int dataset_writer_close(DatasetWriter *w, char *err, size_t errlen)
{
    int rc = 0;
    for (int s = 0; s < SPLIT_COUNT && !rc; s++)
        if (w->added[s] != w->o.count[s])
            rc = errf(err, errlen, "%s: %lld %s samples written but %lld declared", w->dir, (long long)w->added[s],
                      split_name(s), (long long)w->o.count[s]);
    for (int s = 0; s < SPLIT_COUNT && !rc; s++) {
        if (w->shard[s]) rc = tfr_writer_close(w->shard[s], err, errlen);
        w->shard[s] = NULL;
    }
    if (!rc && !is_paper(&w->o)) rc = write_metadata(w, err, errlen);
    dataset_writer_abort(w);
    return rc;
}

void dataset_writer_abort(DatasetWriter *w)
{
    if (!w) return;
    for (int s = 0; s < SPLIT_COUNT; s++) tfr_writer_abort(w->shard[s]);
    free(w->sample);
    free(w->resized);
    free(w->dir);
    free(w);
}

/* ---- all-in-memory conveniences ---- */

typedef int (*AddFn)(DatasetWriter *w, Split s, const void *sample, int label, char *err, size_t errlen);

static int add_u8(DatasetWriter *w, Split s, const void *p, int label, char *err, size_t errlen)
{
    return dataset_writer_add(w, s, p, label, err, errlen);
}

static int add_f32(DatasetWriter *w, Split s, const void *p, int label, char *err, size_t errlen)
{
    return dataset_writer_add_float(w, s, p, label, err, errlen);
}

/* Writes samples in the reference converters' order: each split's members
 * in the order of the seed-42 permutation. */
static int write_all(const char *dir, WriterOptions *o, const Split *plan, const uint8_t *samples, size_t stride,
                     const int *labels, int n, AddFn add, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (plan[i] < SPLIT_COUNT) o->count[plan[i]]++;
    DatasetWriter *w = dataset_writer_open(dir, o, err, errlen);
    if (!w) return -1;
    int64_t *perm = xmalloc(sizeof(int64_t) * (size_t)MAX(n, 1));
    np_legacy_permutation(o->seed, n, perm);
    int rc = 0;
    for (int r = 0; r < n && !rc; r++) {
        int64_t i = perm[r];
        if (plan[i] < SPLIT_COUNT) rc = add(w, plan[i], samples + (size_t)i * stride, labels[i], err, errlen);
    }
    free(perm);
    if (rc) {
        dataset_writer_abort(w);
        return -1;
    }
    return dataset_writer_close(w, err, errlen);
}

int write_pathfinder_tfrecords(const char *dir, const float *images, const int64_t *labels, int n, int H, int W,
                               int per_shard, char *err, size_t errlen)
{
    WriterOptions o;
    writer_options_init(&o, SCHEMA_PATHFINDER, 1, H, W);
    o.per_shard = per_shard;
    Split *plan = xmalloc(sizeof(Split) * (size_t)MAX(n, 1));
    int *lab = xmalloc(sizeof(int) * (size_t)MAX(n, 1));
    for (int i = 0; i < n; i++) lab[i] = labels[i] == 0 || labels[i] == 1 ? (int)labels[i] : -1;
    split_plan_ratio(n, o.seed, o.train_ratio, o.val_ratio, plan);
    int rc = write_all(dir, &o, plan, (const uint8_t *)images, sizeof(float) * (size_t)H * W * 3, lab, n, add_f32,
                       err, errlen);
    free(plan);
    free(lab);
    return rc;
}

int write_pathtracker_tfrecords(const char *dir, const uint8_t *videos, const uint8_t *labels, int n, int F, int H,
                                int W, int shards, char *err, size_t errlen)
{
    WriterOptions o;
    writer_options_init(&o, SCHEMA_PATHTRACKER_PAPER, F, H, W);
    o.shards[SPLIT_TRAIN] = shards;
    o.shards[SPLIT_TEST] = MAX(1, shards / 10);
    Split *plan = xmalloc(sizeof(Split) * (size_t)MAX(n, 1));
    int *lab = xmalloc(sizeof(int) * (size_t)MAX(n, 1));
    for (int i = 0; i < n; i++) lab[i] = labels[i];
    split_plan_ratio(n, o.seed, 0.9, 0.0, plan);
    int rc = write_all(dir, &o, plan, videos, (size_t)F * H * W * 3, lab, n, add_u8, err, errlen);
    free(plan);
    free(lab);
    return rc;
}

int write_pathtracker_legacy_tfrecords(const char *dir, const uint8_t *videos, const int64_t *labels, int n, int F,
                                       int H, int W, int per_shard, char *err, size_t errlen)
{
    WriterOptions o;
    writer_options_init(&o, SCHEMA_PATHTRACKER_LEGACY, F, H, W);
    o.per_shard = per_shard;
    Split *plan = xmalloc(sizeof(Split) * (size_t)MAX(n, 1));
    int *lab = xmalloc(sizeof(int) * (size_t)MAX(n, 1));
    for (int i = 0; i < n; i++) lab[i] = labels[i] == 0 || labels[i] == 1 ? (int)labels[i] : -1;
    split_plan_sizes(n, o.seed, n - n / 10, n / 10, plan);
    int rc = write_all(dir, &o, plan, videos, (size_t)F * H * W * 3, lab, n, add_u8, err, errlen);
    free(plan);
    free(lab);
    return rc;
}
