/* dataset_impl.h: what dataset.c (opening, indexing) and sample.c (reading)
 * share about a Dataset's inside. Not for use outside runtime/data. */
#ifndef CSSM_DATASET_IMPL_H
#define CSSM_DATASET_IMPL_H

#include "dataset.h"
#include "base.h"

/* One file: a TFRecord shard, or the file of one sample (.npy, .png). */
typedef struct Source {
    char *path;
    int fd;              /* plain TFRecords: open once, read with pread from any thread; else -1 */
    int64_t records;     /* TFRecords: records indexed */
    int compressed;      /* GZIP/ZLIB TFRecords: read as a stream */
} Source;

/* One sample. */
typedef struct Item {
    int32_t src;
    int32_t label;       /* from the folder or a verifying scan; -1 = only in the record */
    int32_t window;      /* index into its split's windows */
    int64_t record;      /* record index within the shard */
    uint64_t offset;     /* where the record's data starts (uncompressed stream) */
    uint64_t len;        /* record data length */
} Item;
typedef Vec(Item) ItemVec;

/* Windows (and open streams) a reader keeps; an epoch of a compressed
 * dataset interleaves this many shards at a time. */
enum { GROUP = 8 };
/* The bytes those windows may hold together. */
#define WINDOW_CACHE_BYTES ((uint64_t)64 << 20)

/* A run of at most opt.window consecutive items of one shard: the unit a
 * compressed shard is decoded in. */
typedef struct Window {
    int64_t first;
    int32_t count;
    int32_t src;
} Window;

struct Dataset {
    DatasetInfo info;
    DatasetOptions opt;
    char *dir;            /* the folder the schema was found in */
    Vec(Source) src;
    ItemVec items[SPLIT_COUNT];
    Vec(Window) windows[SPLIT_COUNT];
    int *fidx;            /* the stored frame of each of info.frames output frames */
};

/* sample.c: learn the stored sample size from a first record or file
 * (setting info.stored_*, and for split-folder TFRecords the schema), and
 * check that one record decodes to a sample of that size. */
int record_probe(Dataset *d, const uint8_t *data, size_t len, const char *path, char *err, size_t errlen);
int record_check(Dataset *d, const uint8_t *data, size_t len, TfexView *v, int *label, char *err, size_t errlen);
int npy_probe(Dataset *d, const char *path, char *err, size_t errlen);
/* A .npy file's header matches the dataset and its size the header. */
int npy_verify(const Dataset *d, const char *path, char *err, size_t errlen);
int png_probe(Dataset *d, const char *path, char *err, size_t errlen);

#endif
