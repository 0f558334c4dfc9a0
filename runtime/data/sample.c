/* sample.c: reading one sample of a dataset as the model sees it.
 *
 * Each schema's record (or file) is checked against the stored size found
 * when the dataset was opened, then turned into float32 [T, H, W, 3]:
 *   pathfinder          float32 image, already ImageNet-normalised; TF
 *                       bilinear resize if another size is asked for;
 *                       repeated T times
 *   pathfinder-png      8-bit PNG -> gray (Pillow's L) -> Pillow bilinear
 *                       resize -> /255 -> 3 channels -> ImageNet; repeated
 *   pathtracker-npy     uint8 video -> frames round(linspace) -> Pillow
 *                       bilinear resize per frame -> /255 -> ImageNet
 *   pathtracker-legacy  float32 video, already normalised -> frames -> TF
 *                       bilinear resize
 *   pathtracker         uint8 video (GZIP shards) -> frames -> /255 ->
 *                       ImageNet -> TF bilinear resize
 *   girik               the same files -> x/127.5 - 1 -> frames -> TF
 *                       nearest resize
 * which are the reference's loaders' steps in the reference's order (the
 * reference cannot resize legacy and paper-format PathTracker at all; the
 * bilinear used here is the one its Pathfinder TFRecord loader uses).
 *
 * Plain TFRecords are read at random with pread. Compressed shards are
 * decoded a window of consecutive records at a time into a small cache of
 * windows and open streams, which is why their epoch order (below) visits
 * a few shards at a time, window by window. */
#include "dataset_impl.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_float_schema(DataSchema s) { return s == SCHEMA_PATHFINDER || s == SCHEMA_PATHTRACKER_LEGACY; }
static const char *pixel_key(DataSchema s) { return s == SCHEMA_PATHTRACKER_LEGACY ? "video" : "image"; }

/* ---- records ---- */

static int get_int(const TfexView *v, const char *key, int64_t *out)
{
    const TfexFeature *f = tfex_find(v, key);
    size_t n;
    return f && tfex_int64s(f, out, 1, &n) == 0 && n == 1 ? 0 : -1;
}

static int get_bytes(const TfexView *v, const char *key, const uint8_t **p, size_t *len)
{
    const TfexFeature *f = tfex_find(v, key);
    return f && tfex_count(f) >= 1 && tfex_bytes_at(f, 0, p, len) == 0 ? 0 : -1;
}

/* The label: int64 for the float schemas, the first byte of a bytes
 * feature for the paper format. */
static int record_label(const Dataset *d, const TfexView *v, int *label, char *err, size_t errlen)
{
    int64_t l;
    const uint8_t *p;
    size_t n;
    if (is_float_schema(d->info.schema)) {
        if (get_int(v, "label", &l)) return errf(err, errlen, "no int64 'label' feature");
    } else {
        if (get_bytes(v, "label", &p, &n) || n < 1) return errf(err, errlen, "no bytes 'label' feature");
        l = p[0];
    }
    if (l != 0 && l != 1) return errf(err, errlen, "label %lld (expected 0 or 1)", (long long)l);
    *label = (int)l;
    return 0;
}

/* Sizes a record declares: height, width (and num_frames, channels where
 * the schema has them), and the frames its pixel bytes make. */
static int record_sizes(DataSchema s, const TfexView *v, size_t bytes, int *F, int *H, int *W, char *err,
                        size_t errlen)
{
    int64_t h, w, c = 3, nf;
    size_t elem = is_float_schema(s) ? 4 : 1;
    if (get_int(v, "height", &h) || get_int(v, "width", &w) || h <= 0 || w <= 0 || h > 65536 || w > 65536)
        return errf(err, errlen, "no usable int64 'height' and 'width' features");
    if (!get_int(v, "channels", &c) && c != 3) return errf(err, errlen, "channels %lld (expected 3)", (long long)c);
    size_t frame = (size_t)h * (size_t)w * 3 * elem;
    if (bytes == 0 || bytes % frame)
        return errf(err, errlen, "'%s' holds %zu bytes, not a whole number of %lldx%lldx3 %s frames", pixel_key(s),
                    bytes, (long long)h, (long long)w, elem == 4 ? "float32" : "uint8");
    *F = (int)(bytes / frame);
    if (s == SCHEMA_PATHFINDER && *F != 1)
        return errf(err, errlen, "'image' holds %d images of %lldx%lld (expected one)", *F, (long long)h, (long long)w);
    if (s == SCHEMA_PATHTRACKER_LEGACY && !get_int(v, "num_frames", &nf) && nf != *F)
        return errf(err, errlen, "num_frames %lld but 'video' holds %d frames", (long long)nf, *F);
    *H = (int)h;
    *W = (int)w;
    return 0;
}

/* Parses a record and finds its pixels and label, checking the sizes
 * against the dataset's. Messages say only what is wrong with the record. */
static int record_view(const Dataset *d, const uint8_t *data, size_t len, TfexView *v, const uint8_t **pix,
                       size_t *npix, int *label, char *err, size_t errlen)
{
    if (tfex_parse(data, len, v, err, errlen)) return -1;
    const char *key = pixel_key(d->info.schema);
    if (get_bytes(v, key, pix, npix)) return errf(err, errlen, "no bytes '%s' feature", key);
    int F, H, W;
    if (record_sizes(d->info.schema, v, *npix, &F, &H, &W, err, errlen)) return -1;
    const DatasetInfo *in = &d->info;
    if (F != in->stored_frames || H != in->stored_height || W != in->stored_width)
        return errf(err, errlen, "holds %dx%dx%dx3 but the dataset's first record holds %dx%dx%dx3", F, H, W,
                    in->stored_frames, in->stored_height, in->stored_width);
    return record_label(d, v, label, err, errlen);
}

int record_check(Dataset *d, const uint8_t *data, size_t len, TfexView *v, int *label, char *err, size_t errlen)
{
    const uint8_t *pix;
    size_t n;
    return record_view(d, data, len, v, &pix, &n, label, err, errlen);
}

static int schema_from_keys(Dataset *d, const TfexView *v, const char *path, char *err, size_t errlen)
{
    DataSchema found = tfex_find(v, "video") ? SCHEMA_PATHTRACKER_LEGACY
                       : tfex_find(v, "image") ? SCHEMA_PATHFINDER : SCHEMA_AUTO;
    if (found == SCHEMA_AUTO) return errf(err, errlen, "%s: record 0: neither an 'image' nor a 'video' feature", path);
    DataSchema want = d->opt.schema;
    if (want != SCHEMA_AUTO && want != found)
        return errf(err, errlen, "%s: holds %s records, not %s", path, schema_name(found), schema_name(want));
    d->info.schema = found;
    return 0;
}

int record_probe(Dataset *d, const uint8_t *data, size_t len, const char *path, char *err, size_t errlen)
{
    TfexView v = {0};
    char why[200];
    const uint8_t *pix;
    size_t npix;
    int F, H, W, rc = -1;
    if (tfex_parse(data, len, &v, why, sizeof why)) errf(err, errlen, "%s: record 0: %s", path, why);
    else if (d->info.schema == SCHEMA_AUTO && schema_from_keys(d, &v, path, err, errlen)) {}
    else if (get_bytes(&v, pixel_key(d->info.schema), &pix, &npix))
        errf(err, errlen, "%s: record 0: no bytes '%s' feature (is this %s data?)", path, pixel_key(d->info.schema),
             schema_name(d->info.schema));
    else if (record_sizes(d->info.schema, &v, npix, &F, &H, &W, why, sizeof why))
        errf(err, errlen, "%s: record 0: %s", path, why);
    else {
        d->info.stored_frames = F;
        d->info.stored_height = H;
        d->info.stored_width = W;
        rc = 0;
    }
    tfex_view_free(&v);
    return rc;
}

/* ---- files ---- */

static int npy_check(const Dataset *d, const char *path, const NpyArray *a, char *err, size_t errlen)
{
    const DatasetInfo *in = &d->info;
    if (strcmp(a->dtype, "|u1") || a->ndim != 4 || a->shape[3] != 3)
        return errf(err, errlen, "%s: expected a uint8 (frames, height, width, 3) video, found dtype %s with %d dims",
                    path, a->dtype, a->ndim);
    if (in->stored_frames && (a->shape[0] != in->stored_frames || a->shape[1] != in->stored_height ||
                              a->shape[2] != in->stored_width))
        return errf(err, errlen, "%s: shape (%lld, %lld, %lld, 3) but the dataset's videos are (%d, %d, %d, 3)",
                    path, (long long)a->shape[0], (long long)a->shape[1], (long long)a->shape[2], in->stored_frames,
                    in->stored_height, in->stored_width);
    return 0;
}

int npy_probe(Dataset *d, const char *path, char *err, size_t errlen)
{
    NpyArray a;
    if (npy_read_header(path, &a, err, errlen) || npy_check(d, path, &a, err, errlen)) return -1;
    d->info.stored_frames = (int)a.shape[0];
    d->info.stored_height = (int)a.shape[1];
    d->info.stored_width = (int)a.shape[2];
    return 0;
}

int npy_verify(const Dataset *d, const char *path, char *err, size_t errlen)
{
    NpyArray a;
    struct stat st;
    if (npy_read_header(path, &a, err, errlen) || npy_check(d, path, &a, err, errlen)) return -1;
    if (stat(path, &st) != 0 || (uint64_t)st.st_size < a.nbytes)
        return errf(err, errlen, "%s: truncated (shorter than its %zu data bytes)", path, a.nbytes);
    return 0;
}

/* Reads a PNG as Pillow's convert('L') would see it. */
static int png_gray(const char *path, int *w, int *h, uint8_t **gray, char *err, size_t errlen)
{
    int c;
    if (png_read8(path, w, h, &c, gray, err, errlen)) return -1;
    if (c == 3) rgb_to_gray_pillow(*gray, (size_t)*w * (size_t)*h, *gray);   /* in place: i <= 3i */
    return 0;
}

int png_probe(Dataset *d, const char *path, char *err, size_t errlen)
{
    int w, h;
    uint8_t *px;
    if (png_gray(path, &w, &h, &px, err, errlen)) return -1;
    free(px);
    d->info.stored_frames = 1;
    d->info.stored_height = h;
    d->info.stored_width = w;
    return 0;
}

/* ---- the reader ---- */

typedef struct Stream {
    int src;
    TfrReader *r;
    uint64_t used;
} Stream;

typedef struct CachedWindow {
    int split;
    int32_t window;        /* -1: empty */
    Vec(uint8_t) blob;     /* the window's records back to back */
    size_t *start, *len;   /* per item of the window */
    uint64_t used;
} CachedWindow;

struct DatasetReader {
    Dataset *d;
    TfexView view;
    uint8_t *rec;
    size_t rec_cap;
    float *frame;          /* one stored frame, float32, for resizing */
    uint8_t *frame8;       /* one resized uint8 frame (Pillow path) */
    Stream streams[GROUP];
    CachedWindow windows[GROUP];
    uint64_t tick;
};

DatasetReader *dataset_reader_new(Dataset *d)
{
    DatasetReader *r = xcalloc(1, sizeof *r);
    r->d = d;
    const DatasetInfo *in = &d->info;
    size_t frame = (size_t)MAX(in->stored_height, in->height) * (size_t)MAX(in->stored_width, in->width) * 3;
    r->frame = xmalloc(frame * sizeof(float));
    r->frame8 = xmalloc(frame);
    for (int k = 0; k < GROUP; k++) {
        r->streams[k].src = -1;
        r->windows[k].window = -1;
    }
    return r;
}

void dataset_reader_free(DatasetReader *r)
{
    if (!r) return;
    for (int k = 0; k < GROUP; k++) {
        tfr_reader_close(r->streams[k].r);
        vec_free(&r->windows[k].blob);
        free(r->windows[k].start);
        free(r->windows[k].len);
    }
    tfex_view_free(&r->view);
    free(r->rec);
    free(r->frame);
    free(r->frame8);
    free(r);
}

static void *lru(void *slots, size_t size, size_t used_offset)
{
    uint8_t *best = slots;
    for (int k = 1; k < GROUP; k++) {
        uint8_t *s = (uint8_t *)slots + k * size;
        if (*(uint64_t *)(s + used_offset) < *(uint64_t *)(best + used_offset)) best = s;
    }
    return best;
}

/* An open stream of src that has not yet passed `record`. */
static TfrReader *stream_at(DatasetReader *r, int src, int64_t record, char *err, size_t errlen)
{
    Stream *s = NULL;
    for (int k = 0; k < GROUP && !s; k++)
        if (r->streams[k].src == src) s = &r->streams[k];
    if (s && tfr_reader_index(s->r) > record) {   /* behind us: start over */
        tfr_reader_close(s->r);
        s->r = NULL;
    }
    if (!s) {
        s = lru(r->streams, sizeof(Stream), offsetof(Stream, used));
        tfr_reader_close(s->r);
        s->r = NULL;
        s->src = src;
    }
    if (!s->r) s->r = tfr_reader_open(r->d->src.data[src].path, err, errlen);
    if (!s->r) s->src = -1;
    s->used = ++r->tick;
    return s->r;
}

static int skip_to(TfrReader *t, int64_t record, char *err, size_t errlen)
{
    uint64_t off;
    size_t len;
    while (tfr_reader_index(t) < record) {
        int rc = tfr_skip(t, &off, &len, err, errlen);
        if (rc < 0) return -1;
        if (rc == 0) return errf(err, errlen, "%s: ends before record %lld", tfr_reader_path(t), (long long)record);
    }
    return 0;
}

static int load_window(DatasetReader *r, Split s, int32_t wi, CachedWindow *cw, char *err, size_t errlen)
{
    const Window *w = &r->d->windows[s].data[wi];
    const Item *items = r->d->items[s].data + w->first;
    cw->window = -1;
    cw->blob.len = 0;
    cw->start = xrealloc(cw->start, sizeof(size_t) * (size_t)w->count);
    cw->len = xrealloc(cw->len, sizeof(size_t) * (size_t)w->count);
    for (int k = 0; k < w->count; k++) {
        const uint8_t *data;
        size_t len;
        TfrReader *t = stream_at(r, w->src, items[k].record, err, errlen);
        if (!t || skip_to(t, items[k].record, err, errlen)) return -1;
        int rc = tfr_read(t, &data, &len, err, errlen);
        if (rc == 0) return errf(err, errlen, "%s: ends before record %lld", tfr_reader_path(t), (long long)items[k].record);
        if (rc < 0) return -1;
        if ((size_t)cw->blob.len + len > (size_t)cw->blob.cap) {
            cw->blob.cap = (int)MAX((size_t)cw->blob.len + len, 2 * (size_t)cw->blob.cap);
            cw->blob.data = xrealloc(cw->blob.data, (size_t)cw->blob.cap);
        }
        cw->start[k] = (size_t)cw->blob.len;
        cw->len[k] = len;
        memcpy(cw->blob.data + cw->blob.len, data, len);
        cw->blob.len += (int)len;
    }
    cw->split = s;
    cw->window = wi;
    return 0;
}

/* The record bytes of a compressed item, from the window cache. */
static int cached_record(DatasetReader *r, Split s, int64_t i, const uint8_t **data, size_t *len, char *err,
                         size_t errlen)
{
    const Item *it = &r->d->items[s].data[i];
    CachedWindow *cw = NULL;
    for (int k = 0; k < GROUP && !cw; k++)
        if (r->windows[k].window == it->window && r->windows[k].split == (int)s) cw = &r->windows[k];
    if (!cw) {
        cw = lru(r->windows, sizeof(CachedWindow), offsetof(CachedWindow, used));
        if (load_window(r, s, it->window, cw, err, errlen)) return -1;
    }
    cw->used = ++r->tick;
    int64_t k = i - r->d->windows[s].data[it->window].first;
    *data = cw->blob.data + cw->start[k];
    *len = cw->len[k];
    return 0;
}

static int raw_record(DatasetReader *r, Split s, int64_t i, const uint8_t **data, size_t *len, char *err, size_t errlen)
{
    const Item *it = &r->d->items[s].data[i];
    const Source *src = &r->d->src.data[it->src];
    if (src->compressed) return cached_record(r, s, i, data, len, err, errlen);
    if (it->len > r->rec_cap) {
        r->rec_cap = (size_t)it->len;
        r->rec = xrealloc(r->rec, r->rec_cap);
    }
    if (tfr_pread(src->fd, src->path, it->record, it->offset, (size_t)it->len, r->rec, err, errlen)) return -1;
    *data = r->rec;
    *len = (size_t)it->len;
    return 0;
}

/* ---- conversion to the model's input ---- */

static void repeat_frame(const Dataset *d, float *x)
{
    size_t n = (size_t)d->info.height * d->info.width * 3;
    for (int t = 1; t < d->info.frames; t++) memcpy(x + t * n, x, n * sizeof(float));
}

static int resizing(const DatasetInfo *in) { return in->height != in->stored_height || in->width != in->stored_width; }

/* Stored float32 frames (little-endian bytes, maybe unaligned). */
static void float_frames(DatasetReader *r, const uint8_t *pix, float *x)
{
    const DatasetInfo *in = &r->d->info;
    size_t sn = (size_t)in->stored_height * in->stored_width * 3, on = (size_t)in->height * in->width * 3;
    int T = in->schema == SCHEMA_PATHFINDER ? 1 : in->frames;
    for (int t = 0; t < T; t++) {
        const uint8_t *src = pix + (size_t)r->d->fidx[t] * sn * 4;
        if (!resizing(in)) {
            memcpy(x + t * on, src, sn * 4);
            continue;
        }
        memcpy(r->frame, src, sn * 4);
        resize_tf_bilinear(r->frame, in->stored_height, in->stored_width, 3, x + t * on, in->height, in->width);
    }
    if (in->schema == SCHEMA_PATHFINDER) repeat_frame(r->d, x);
}

/* Stored uint8 RGB frames of the paper format and girik. */
static void byte_frames(DatasetReader *r, const uint8_t *pix, float *x)
{
    const DatasetInfo *in = &r->d->info;
    size_t sp = (size_t)in->stored_height * in->stored_width, on = (size_t)in->height * in->width * 3;
    int girik = in->schema == SCHEMA_GIRIK;
    for (int t = 0; t < in->frames; t++) {
        const uint8_t *src = pix + (size_t)r->d->fidx[t] * sp * 3;
        float *dst = resizing(in) ? r->frame : x + t * on;
        if (girik) normalize_signed_u8(src, sp * 3, dst);
        else normalize_imagenet_u8(src, sp, dst);
        if (!resizing(in)) continue;
        if (girik) resize_tf_nearest(r->frame, in->stored_height, in->stored_width, 3, x + t * on, in->height, in->width);
        else resize_tf_bilinear(r->frame, in->stored_height, in->stored_width, 3, x + t * on, in->height, in->width);
    }
}

/* .npy videos: frames, Pillow resize on uint8, then ImageNet. */
static void npy_frames(DatasetReader *r, const uint8_t *pix, float *x)
{
    const DatasetInfo *in = &r->d->info;
    size_t sp = (size_t)in->stored_height * in->stored_width, op = (size_t)in->height * in->width;
    for (int t = 0; t < in->frames; t++) {
        const uint8_t *src = pix + (size_t)r->d->fidx[t] * sp * 3;
        if (resizing(in)) {
            resize_pillow_bilinear(src, in->stored_height, in->stored_width, 3, r->frame8, in->height, in->width);
            src = r->frame8;
        }
        normalize_imagenet_u8(src, op, x + t * op * 3);
    }
}

static int read_npy(DatasetReader *r, const Item *it, float *x, char *err, size_t errlen)
{
    const char *path = r->d->src.data[it->src].path;
    NpyArray a;
    if (npy_read(path, &a, err, errlen)) return -1;
    int rc = npy_check(r->d, path, &a, err, errlen);
    if (!rc) npy_frames(r, a.data, x);
    npy_free(&a);
    return rc;
}

static int read_png(DatasetReader *r, const Item *it, float *x, char *err, size_t errlen)
{
    const char *path = r->d->src.data[it->src].path;
    const DatasetInfo *in = &r->d->info;
    int w, h;
    uint8_t *gray;
    if (png_gray(path, &w, &h, &gray, err, errlen)) return -1;
    int rc = 0;
    if (!r->d->opt.image_size && (w != in->stored_width || h != in->stored_height))
        rc = errf(err, errlen, "%s: %dx%d but the dataset's first image is %dx%d (give an image size to resize all)",
                  path, w, h, in->stored_width, in->stored_height);
    if (!rc) {
        uint8_t *img = gray;
        if (w != in->width || h != in->height) {
            img = xmalloc((size_t)in->width * in->height);
            resize_pillow_bilinear(gray, h, w, 1, img, in->height, in->width);
        }
        normalize_imagenet_gray(img, (size_t)in->width * in->height, x);
        repeat_frame(r->d, x);
        if (img != gray) free(img);
    }
    free(gray);
    return rc;
}

static int read_record(DatasetReader *r, Split s, int64_t i, float *x, int32_t *y, char *err, size_t errlen)
{
    const uint8_t *data, *pix;
    size_t len, npix;
    int label;
    char why[200];
    if (raw_record(r, s, i, &data, &len, err, errlen)) return -1;
    if (record_view(r->d, data, len, &r->view, &pix, &npix, &label, why, sizeof why)) {
        char where[300];
        dataset_locate(r->d, s, i, where, sizeof where);
        return errf(err, errlen, "%s: %s", where, why);
    }
    if (is_float_schema(r->d->info.schema)) float_frames(r, pix, x);
    else byte_frames(r, pix, x);
    *y = label;
    return 0;
}

int dataset_read(DatasetReader *r, Split s, int64_t i, float *x, int32_t *y, char *err, size_t errlen)
{
    if (s >= SPLIT_COUNT || i < 0 || i >= r->d->items[s].len)
        return errf(err, errlen, "%s: no sample %lld in the %s split", r->d->dir, (long long)i, split_name(s));
    const Item *it = &r->d->items[s].data[i];
    switch (r->d->info.schema) {
    case SCHEMA_PATHTRACKER_NPY: *y = it->label; return read_npy(r, it, x, err, errlen);
    case SCHEMA_PATHFINDER_PNG: *y = it->label; return read_png(r, it, x, err, errlen);
    default: return read_record(r, s, i, x, y, err, errlen);
    }
}

/* ---- epoch order ---- */

static void shuffle(int64_t *a, int64_t n, Rng *g)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(g, (uint64_t)i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Shards in random order, GROUP at a time; within a group, window k of
 * every shard, records shuffled together; then window k+1, and so on. */
static void compressed_order(const Dataset *d, Split s, Rng *g, int64_t *order)
{
    const Window *w = d->windows[s].data;
    int nw = d->windows[s].len;
    Vec(int64_t) firsts = {0};   /* index of each shard's first window */
    for (int k = 0; k < nw; k++)
        if (k == 0 || w[k].src != w[k - 1].src) vec_push(&firsts, k);
    shuffle(firsts.data, firsts.len, g);
    int64_t n = 0;
    for (int gs = 0; gs < firsts.len; gs += GROUP) {
        int members = MIN(GROUP, firsts.len - gs);
        for (int step = 0;; step++) {
            int64_t start = n;
            for (int m = 0; m < members; m++) {
                int64_t k = firsts.data[gs + m] + step;
                if (k >= nw || w[k].src != w[firsts.data[gs + m]].src) continue;
                for (int c = 0; c < w[k].count; c++) order[n++] = w[k].first + c;
            }
            if (n == start) break;
            shuffle(order + start, n - start, g);
        }
    }
    vec_free(&firsts);
}

void dataset_epoch_order(const Dataset *d, Split s, uint64_t seed, int64_t epoch, int64_t *order)
{
    Rng g = rng_fold(rng_new(seed), (uint64_t)epoch);
    int64_t n = d->items[s].len;
    if (d->info.compressed) {
        compressed_order(d, s, &g, order);
        return;
    }
    for (int64_t i = 0; i < n; i++) order[i] = i;
    shuffle(order, n, &g);
}

/* ---- display ---- */

static uint8_t to_byte(float v)
{
    float b = v * 255.0f + 0.5f;
    return b <= 0 ? 0 : b >= 255 ? 255 : (uint8_t)b;
}

void dataset_denormalize(const Dataset *d, const float *x, uint8_t *out, size_t n)
{
    int girik = d->info.schema == SCHEMA_GIRIK;
    for (size_t i = 0; i < n; i++)
        out[i] = girik ? to_byte((x[i] + 1.0f) * 0.5f) : to_byte(x[i] * IMAGENET_STD[i % 3] + IMAGENET_MEAN[i % 3]);
}
