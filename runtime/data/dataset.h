/* dataset.h: datasets on disk, as the model sees them (spec/training.md §2).
 *
 * A Dataset is a folder in one of the schemas the reference reads (§2.7):
 * Pathfinder (and cABC) TFRecords, Pathfinder PNG folders, PathTracker .npy
 * class folders, PathTracker legacy TFRecords, PathTracker paper-format
 * GZIP TFRecords and the 15-distractor "girik" set (the same files, another
 * normalisation). Opening one indexes every record, takes sample sizes from
 * the records themselves and cross-checks them against metadata.json when
 * there is one, and computes the train/val/test splits as the reference
 * does. Reading a sample gives the model input contract of §2.6: float32
 * [T, H, W, 3] channel-last, normalised per schema, frames subsampled with
 * round(linspace(0, F-1, T)), Pathfinder images repeated T times, and an
 * int32 label.
 *
 * The Loader (loader.c) batches a split for training: a seeded permutation
 * per epoch, fixed batch size with the last partial batch dropped, worker
 * threads that prefetch ahead, and a position (epoch, batch) that can be
 * restored exactly.
 *
 * The writers produce the released schemas from in-memory samples, with
 * metadata.json in the reference's layout, so generated data can be read by
 * the reference's own loaders.
 *
 * Functions that can fail return 0 (or a pointer) on success and -1 (or
 * NULL) on failure with a one-line message in err naming the file and, for
 * record formats, the record index. */
#ifndef CSSM_DATASET_H
#define CSSM_DATASET_H

#include "formats.h"

#include <stdint.h>

typedef enum Split { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, SPLIT_COUNT } Split;
const char *split_name(Split s);                  /* "train", "val", "test" */
int split_parse(const char *name, Split *out);

typedef enum DataSchema {
    SCHEMA_AUTO,              /* detect from the folder (never detects GIRIK: name it) */
    SCHEMA_PATHFINDER,        /* {split}/NAME.tfrecord: float32 image (S,S,3) normalised, int64 label */
    SCHEMA_PATHFINDER_PNG,    /* imgs/{neg,pos}/NAME.png, or imgs/<batch>/NAME.png + metadata/<batch>.npy */
    SCHEMA_PATHTRACKER_NPY,   /* 0/ and 1/ folders of *_sample_<n>.npy, uint8 (F,H,W,3) */
    SCHEMA_PATHTRACKER_LEGACY,/* {split}/shard_NNNN.tfrecord: float32 video normalised, int64 label */
    SCHEMA_PATHTRACKER_PAPER, /* GZIP train-batch_* / test-batch_*: uint8 video, 1-byte label */
    SCHEMA_GIRIK,             /* the paper files, normalised to [-1, 1], evaluated on test */
    SCHEMA_COUNT
} DataSchema;
const char *schema_name(DataSchema s);            /* "pathfinder", "pathtracker-npy", ... */
int schema_parse(const char *name, DataSchema *out);

typedef struct DatasetOptions {
    DataSchema schema;        /* SCHEMA_AUTO */
    int frames;               /* T of each sample; 0 = every stored frame (1 for images) */
    int image_size;           /* H = W of each sample; 0 = as stored (PNG Pathfinder: as stored) */
    const char *difficulty;   /* Pathfinder root with several difficulty_<d>/: which one */
    int64_t train_size, test_size;   /* .npy PathTracker split: 20000, 2000 (reference defaults) */
    double train_ratio, val_ratio;   /* PNG Pathfinder split: 0.8, 0.1 */
    uint32_t split_seed;      /* numpy RandomState seed of the .npy/PNG splits: 42 */
    int skip_bad;             /* verify every record when opening, leave out and count bad ones */
    int window;               /* GZIP files: records per shuffle window (64; fewer for large records) */
} DatasetOptions;
void dataset_options_init(DatasetOptions *o);

typedef struct DatasetInfo {
    DataSchema schema;
    int stored_frames, stored_height, stored_width;   /* F, H, W on disk (F = 1 for images) */
    int frames, height, width;                        /* T, H, W of each sample read */
    int64_t count[SPLIT_COUNT];                       /* samples per split */
    Split eval_split;         /* the split the reference evaluates on (girik, cABC: test) */
    int compressed;           /* GZIP or ZLIB TFRecords: read sequentially within a shard */
    int64_t bad_records;      /* records left out (skip_bad) */
    char first_bad[256];      /* the message of the first of them */
    int64_t label_count[SPLIT_COUNT][2];   /* per-class counts where known without reading, else -1 */
} DatasetInfo;

typedef struct Dataset Dataset;
Dataset *dataset_open(const char *path, const DatasetOptions *o, char *err, size_t errlen);
void dataset_close(Dataset *d);
const DatasetInfo *dataset_info(const Dataset *d);
const char *dataset_dir(const Dataset *d);        /* the folder the data was found in */
int64_t dataset_size(const Dataset *d, Split s);
/* Floats in one sample: T * H * W * 3. */
size_t dataset_sample_floats(const Dataset *d);
/* Where sample i of a split lives, for messages: "path" or "path: record k". */
void dataset_locate(const Dataset *d, Split s, int64_t i, char *buf, size_t n);
/* Undoes the schema's normalisation for display: float sample -> uint8 RGB. */
void dataset_denormalize(const Dataset *d, const float *x, uint8_t *out, size_t n);

/* A reader holds the per-thread state (open streams, buffers): one per thread. */
typedef struct DatasetReader DatasetReader;
DatasetReader *dataset_reader_new(Dataset *d);
void dataset_reader_free(DatasetReader *r);
/* Reads sample i of split s into x (dataset_sample_floats floats) and *y. */
int dataset_read(DatasetReader *r, Split s, int64_t i, float *x, int32_t *y, char *err, size_t errlen);

/* The order of an epoch: a permutation of the split drawn from
 * rng_fold(rng_new(seed), epoch). Compressed datasets cannot seek, so their
 * permutation shuffles shards and windows of consecutive records and then
 * records within each window; every sample still appears exactly once. */
void dataset_epoch_order(const Dataset *d, Split s, uint64_t seed, int64_t epoch, int64_t *order);

/* ---- the training loader (loader.c) ---- */

typedef struct LoaderOptions {
    int batch;                /* samples per batch; the last partial batch is dropped */
    uint64_t seed;            /* shuffling seed */
    int shuffle;              /* permute every epoch (training) or read in order */
    int prefetch;             /* batches prepared ahead (2) */
    int workers;              /* threads preparing batches; 0 = choose */
} LoaderOptions;
void loader_options_init(LoaderOptions *o, int batch, uint64_t seed, int shuffle);

typedef struct Loader Loader;
Loader *loader_new(Dataset *d, Split s, const LoaderOptions *o, char *err, size_t errlen);
int64_t loader_batches(const Loader *l);          /* per epoch: size / batch */
/* The next batch: x gets batch * dataset_sample_floats floats, y batch labels.
 * Returns 1, or 0 at the end of an epoch (the next call starts the next
 * epoch), or -1 on a read error (err names the file and record). */
int loader_next(Loader *l, float *x, int32_t *y, char *err, size_t errlen);
/* The position of the batch the next loader_next returns. */
void loader_position(const Loader *l, int64_t *epoch, int64_t *batch);
/* Continues from a saved position: the batches that follow are exactly
 * those an uninterrupted run would have produced. */
void loader_seek(Loader *l, int64_t epoch, int64_t batch);
void loader_free(Loader *l);
/* Samples per second of a shuffled training loader over `dir`, reading its
 * largest split for about `seconds` seconds and at least one batch
 * (benchmark); -1 after printing a one-line error. */
double loader_bench(const char *dir, int batch, int seconds);

/* ---- writers of the released schemas (datawrite.c) ---- */

typedef struct WriterOptions {
    DataSchema schema;        /* PATHFINDER, PATHTRACKER_LEGACY or PATHTRACKER_PAPER */
    int frames, height, width;/* stored sample size (frames = 1 for Pathfinder) */
    int source_height, source_width;   /* Pathfinder uint8 input size (0 = height, width) */
    int64_t count[SPLIT_COUNT];        /* samples each split will receive */
    int64_t per_shard;        /* records per shard: 0 = 5000 (Pathfinder), 1000 (legacy) */
    int shards[SPLIT_COUNT];  /* paper format: shards per split, 0 = 40 train, 4 test */
    const char *difficulty;   /* Pathfinder metadata "difficulty" ("14") */
    uint32_t seed;            /* recorded in metadata.json (42) */
    double train_ratio, val_ratio;     /* recorded in Pathfinder metadata.json (0.8, 0.1) */
} WriterOptions;
void writer_options_init(WriterOptions *o, DataSchema schema, int frames, int height, int width);

typedef struct DatasetWriter DatasetWriter;
/* Creates dir (and dir/{split}/ where the schema has them). Layouts:
 * Pathfinder dir/{train,val,test}/shard_%05d.tfrecord + dir/metadata.json;
 * legacy dir/{split}/shard_%04d.tfrecord + dir/metadata.json; paper
 * dir/{train,test}-batch_0--%05d-of-%05d (GZIP; val lives in train). */
DatasetWriter *dataset_writer_open(const char *dir, const WriterOptions *o, char *err, size_t errlen);
/* Adds a sample given as uint8 pixels: Pathfinder gray [source_h, source_w]
 * (Pillow-bilinear resized, /255, 3 channels, ImageNet-normalised, as the
 * reference's converter does); PathTracker RGB [F, H, W, 3]. */
int dataset_writer_add(DatasetWriter *w, Split s, const uint8_t *pixels, int label, char *err, size_t errlen);
/* Adds an already-normalised float32 sample ([H,W,3] or [F,H,W,3]); float schemas only. */
int dataset_writer_add_float(DatasetWriter *w, Split s, const float *sample, int label, char *err, size_t errlen);
/* Checks that every split got its count, closes the shards, writes metadata.json. */
int dataset_writer_close(DatasetWriter *w, char *err, size_t errlen);
void dataset_writer_abort(DatasetWriter *w);

/* Split plans of the reference's converters, over n samples in index order.
 * Ratio (Pathfinder): RandomState(seed) shuffle, first floor(n*train_ratio)
 * train, next floor(n*val_ratio) val, rest test. Sizes (PathTracker):
 * RandomState(seed) shuffle, first min(train_size, n) train of which the
 * last max(1, train/10) become val, next test_size test; samples beyond
 * get SPLIT_COUNT (unused). */
void split_plan_ratio(int64_t n, uint32_t seed, double train_ratio, double val_ratio, Split *out);
void split_plan_sizes(int64_t n, uint32_t seed, int64_t train_size, int64_t test_size, Split *out);

/* All-in-memory conveniences over the writer. Splits: Pathfinder 80/10/10
 * (split_plan_ratio, seed 42); PathTracker test = floor(n/10), the rest
 * train with its last tenth as val (split_plan_sizes, seed 42). */
int write_pathfinder_tfrecords(const char *dir, const float *images /*[n,H,W,3] normalised*/,
                               const int64_t *labels, int n, int H, int W, int per_shard, char *err,
                               size_t errlen);
int write_pathtracker_tfrecords(const char *dir, const uint8_t *videos /*[n,F,H,W,3]*/, const uint8_t *labels,
                                int n, int F, int H, int W, int shards, char *err, size_t errlen);
int write_pathtracker_legacy_tfrecords(const char *dir, const uint8_t *videos /*[n,F,H,W,3]*/,
                                       const int64_t *labels, int n, int F, int H, int W, int per_shard,
                                       char *err, size_t errlen);

/* ---- building blocks shared by the readers and writers ---- */

/* ImageNet normalisation of the reference, in float32 arithmetic exactly as
 * numpy does it: ((float)v / 255 - mean[c]) / std[c]. */
extern const float IMAGENET_MEAN[3], IMAGENET_STD[3];
void normalize_imagenet_u8(const uint8_t *rgb, size_t pixels, float *out);
/* Gray uint8 -> 3 channels, ImageNet-normalised (Pathfinder). */
void normalize_imagenet_gray(const uint8_t *gray, size_t pixels, float *out);
/* x / 127.5 - 1 in float32 (girik). */
void normalize_signed_u8(const uint8_t *v, size_t n, float *out);
/* Frame indices round(linspace(0, F-1, T)) with numpy's half-to-even rounding. */
void frame_indices(int F, int T, int *idx);

/* Resizing (resize.c). Pillow's BILINEAR on uint8 (antialiased when
 * shrinking: triangle filter widened by the scale, fixed-point weights, an
 * 8-bit intermediate between the horizontal and vertical passes), as PIL's
 * Image.resize does it; TensorFlow's tf.image.resize bilinear (half-pixel
 * centres, no antialiasing) and nearest on float32. c = channels. */
void resize_pillow_bilinear(const uint8_t *in, int h, int w, int c, uint8_t *out, int oh, int ow);
void resize_tf_bilinear(const float *in, int h, int w, int c, float *out, int oh, int ow);
void resize_tf_nearest(const float *in, int h, int w, int c, float *out, int oh, int ow);
/* Pillow's convert('L'): (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
void rgb_to_gray_pillow(const uint8_t *rgb, size_t pixels, uint8_t *gray);

/* numpy's legacy RandomState(seed).shuffle of arange(n) (MT19937, rejection
 * sampling of masked 32-bit draws), so splits match the reference's. */
void np_legacy_permutation(uint32_t seed, int64_t n, int64_t *out);

/* metadata.json (metadata.c): a flat JSON object of numbers and strings. */
typedef struct MetaEntry {
    char *key;
    char *text;       /* the value as written: a number, or a string without quotes */
    int is_string;
} MetaEntry;
typedef struct Meta {
    MetaEntry *e;
    int n;
} Meta;
/* 1 if read, 0 if the file does not exist, -1 if it is malformed. */
int meta_read(const char *path, Meta *m, char *err, size_t errlen);
const char *meta_get(const Meta *m, const char *key);     /* NULL if absent */
int meta_get_int(const Meta *m, const char *key, int64_t *v);   /* 0 if present and integral */
void meta_set(Meta *m, const char *key, const char *text, int is_string);
void meta_set_int(Meta *m, const char *key, int64_t v);
void meta_set_double(Meta *m, const char *key, double v);   /* shortest round-trip form, as Python */
/* Writes with two-space indentation as Python's json.dump(indent=2). */
int meta_write(const char *path, const Meta *m, char *err, size_t errlen);
void meta_free(Meta *m);

#endif
