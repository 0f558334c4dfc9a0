/* dataset.c: opening a dataset folder: schema, index, sizes, splits.
 *
 * dataset_open finds which schema of spec/training.md §2.7 a folder holds
 * (or checks the one named), lists its files in the reference's order,
 * indexes every record, reads the stored sample size from the first record
 * (never from metadata.json: spec/datasets.md §5 R7) and checks every other
 * source of sizes against it, and assigns samples to splits:
 *   - TFRecords in {train,val,test}/ folders: by folder; the evaluation split
 *     is val, or test when there is no val (cABC);
 *   - GZIP train-* / test-* shards: the last max(1, n/10) train shards are
 *     val when there are at least two (girik's rule; the reference's
 *     paper-format reader instead re-reads the train shards as val, a bug
 *     not copied); girik evaluates on test as the reference does;
 *   - .npy and PNG folders: numpy RandomState(42) shuffles of the sample
 *     list (PathTracker: 20000 train with its last tenth val, then 2000
 *     test; Pathfinder: 80/10/10), as the reference's loaders and
 *     converters do.
 * Plain TFRecords are indexed from their headers alone (each record's data
 * is checked when read); compressed shards must be decompressed to be
 * indexed, so they are also fully verified then, in parallel threads. With
 * skip_bad every record is verified while indexing and bad ones are left
 * out and counted instead of failing the open. Reading samples is in
 * sample.c. */
#include "dataset_impl.h"
#include "base.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *SPLIT_NAMES[SPLIT_COUNT] = {"train", "val", "test"};
static const char *SCHEMA_NAMES[SCHEMA_COUNT] = {
    "auto", "pathfinder", "pathfinder-png", "pathtracker-npy", "pathtracker-legacy", "pathtracker", "girik"};

const char *split_name(Split s) { return s < SPLIT_COUNT ? SPLIT_NAMES[s] : "?"; }
const char *schema_name(DataSchema s) { return s < SCHEMA_COUNT ? SCHEMA_NAMES[s] : "?"; }

int split_parse(const char *name, Split *out)
{
    for (int i = 0; i < SPLIT_COUNT; i++)
        if (!strcmp(name, SPLIT_NAMES[i])) return *out = (Split)i, 0;
    return -1;
}

int schema_parse(const char *name, DataSchema *out)
{
    for (int i = 0; i < SCHEMA_COUNT; i++)
        if (!strcmp(name, SCHEMA_NAMES[i])) return *out = (DataSchema)i, 0;
    return -1;
}

void dataset_options_init(DatasetOptions *o)
{
    memset(o, 0, sizeof *o);
    o->train_size = 20000;
    o->test_size = 2000;
    o->train_ratio = 0.8;
    o->val_ratio = 0.1;
    o->split_seed = 42;
    o->window = 64;
}

/* ---- folders ---- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef Vec(char *) StrList;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Names in dir that start with prefix and end with suffix, sorted as Python
 * sorts strings. Temporaries of atomic writes are never listed. */
static StrList list_names(const char *dir, const char *prefix, const char *suffix)
{
    StrList l = {0};
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t np = strlen(prefix), ns = strlen(suffix);
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < np + ns || strncmp(e->d_name, prefix, np)) continue;
        if (strcmp(e->d_name + n - ns, suffix) || strstr(e->d_name, ".tmp.")) continue;
        vec_push(&l, xstrdup(e->d_name));
    }
    if (d) closedir(d);
    if (l.len) qsort(l.data, (size_t)l.len, sizeof(char *), cmp_str);
    return l;
}

static void strlist_free(StrList *l)
{
    for (int i = 0; i < l->len; i++) free(l->data[i]);
    vec_free(l);
}

static int has_names(const char *dir, const char *prefix, const char *suffix)
{
    StrList l = list_names(dir, prefix, suffix);
    int n = l.len;
    strlist_free(&l);
    return n > 0;
}

static int has_names_in(const char *dir, const char *sub, const char *suffix)
{
    char *p = xprintf("%s/%s", dir, sub);
    int r = is_dir(p) && has_names(p, "", suffix);
    free(p);
    return r;
}

typedef enum Kind { KIND_NONE, KIND_FLAT_GZIP, KIND_NPY, KIND_PNG, KIND_SPLIT_TFR } Kind;

static Kind detect_here(const char *dir)
{
    if (has_names(dir, "train-", "") || has_names(dir, "test-", "")) return KIND_FLAT_GZIP;
    if (has_names_in(dir, "0", ".npy") || has_names_in(dir, "1", ".npy")) return KIND_NPY;
    char *imgs = xprintf("%s/imgs", dir);
    int png = is_dir(imgs) || has_names_in(dir, "neg", ".png") || has_names_in(dir, "pos", ".png");
    free(imgs);
    if (png) return KIND_PNG;
    for (int s = 0; s < SPLIT_COUNT; s++)
        if (has_names_in(dir, SPLIT_NAMES[s], ".tfrecord")) return KIND_SPLIT_TFR;
    return KIND_NONE;
}

/* A root holding several datasets: difficulty_<d>/, curv_contour_length_<d>/
 * or <d>/ (cABC's easy/medium/hard). Picks o->difficulty or the only one. */
static char *pick_subfolder(const char *path, const DatasetOptions *o, char *err, size_t errlen)
{
    if (o->difficulty) {
        const char *forms[] = {"%s/difficulty_%s", "%s/curv_contour_length_%s", "%s/%s"};
        for (size_t i = 0; i < COUNT_OF(forms); i++) {
            char *p = xprintf(forms[i], path, o->difficulty);
            if (detect_here(p) != KIND_NONE) return p;
            free(p);
        }
        errf(err, errlen, "%s: no dataset for difficulty '%s' (expected difficulty_%s/ or curv_contour_length_%s/)",
             path, o->difficulty, o->difficulty, o->difficulty);
        return NULL;
    }
    StrList subs = list_names(path, "", ""), found = {0};
    for (int i = 0; i < subs.len; i++) {
        char *p = xprintf("%s/%s", path, subs.data[i]);
        if (is_dir(p) && detect_here(p) != KIND_NONE) vec_push(&found, p);
        else free(p);
    }
    char *pick = found.len == 1 ? xstrdup(found.data[0]) : NULL;
    if (found.len > 1)
        errf(err, errlen, "%s: holds %d datasets (%s, ...); pick one with --difficulty", path, found.len,
             strrchr(found.data[0], '/') + 1);
    if (found.len == 0)
        errf(err, errlen, "%s: not a dataset folder (expected train-*/test-* TFRecord shards, 0/ and 1/ folders "
             "of .npy videos, imgs/ PNG folders, or {train,val,test}/ folders of .tfrecord shards)", path);
    strlist_free(&subs);
    strlist_free(&found);
    return pick;
}

/* ---- sources and items ---- */

static int add_source(Dataset *d, const char *path, int fd)
{
    Source s = {xstrdup(path), fd, 0, 0};
    vec_push(&d->src, s);
    return d->src.len - 1;
}

static void add_item(Dataset *d, Split s, Item it) { vec_push(&d->items[s], it); }

/* ---- TFRecord indexing ---- */

/* What one shard's scan found: its items (without split) and any bad records. */
typedef struct ShardScan {
    ItemVec items;
    int64_t bad;
    char first_bad[256];
    char err[256];
    int failed;
} ShardScan;

/* Verifying scan: reads every record, checks it decodes to a sample. */
static int scan_verify(Dataset *d, int src, TfrReader *r, ShardScan *out)
{
    const uint8_t *data;
    size_t len;
    TfexView v = {0};
    int rc;
    for (;;) {
        int64_t rec = tfr_reader_index(r);
        uint64_t off = tfr_reader_offset(r) + 12;
        rc = tfr_read(r, &data, &len, out->err, sizeof out->err);
        int label = -1;
        char why[200];
        if (rc == 1 && record_check(d, data, len, &v, &label, why, sizeof why)) {
            snprintf(out->err, sizeof out->err, "%s: record %lld: %s", tfr_reader_path(r), (long long)rec, why);
            rc = -1;
        }
        if (rc == 0) break;
        if (rc == 1) {
            Item it = {src, label, 0, rec, off, len};
            vec_push(&out->items, it);
            continue;
        }
        if (!d->opt.skip_bad) break;
        if (!out->bad++) snprintf(out->first_bad, sizeof out->first_bad, "%s", out->err);
        if (tfr_reader_index(r) == rec) break;   /* framing lost: nothing after it can be trusted */
    }
    tfex_view_free(&v);
    return rc < 0 && !d->opt.skip_bad ? -1 : 0;
}

/* Fast scan of a plain file: headers only. */
static int scan_headers(int src, TfrReader *r, ShardScan *out)
{
    uint64_t off;
    size_t len;
    int rc;
    while ((rc = tfr_skip(r, &off, &len, out->err, sizeof out->err)) == 1) {
        Item it = {src, -1, 0, tfr_reader_index(r) - 1, off, len};
        vec_push(&out->items, it);
    }
    return rc;
}

static void scan_shard(Dataset *d, int src, ShardScan *out)
{
    TfrReader *r = tfr_reader_open(d->src.data[src].path, out->err, sizeof out->err);
    if (!r) {
        out->failed = 1;
        return;
    }
    int verify = d->opt.skip_bad || tfr_reader_compression(r) != TFR_PLAIN;
    out->failed = (verify ? scan_verify(d, src, r, out) : scan_headers(src, r, out)) != 0;
    d->src.data[src].compressed = tfr_reader_compression(r) != TFR_PLAIN;
    tfr_reader_close(r);
}

typedef struct ScanJob {
    Dataset *d;
    int first, count;
    ShardScan *out;
    int next;
    pthread_mutex_t lock;
} ScanJob;

static void *scan_worker(void *arg)
{
    ScanJob *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int k = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (k >= j->count) return NULL;
        scan_shard(j->d, j->first + k, &j->out[k]);
    }
}

/* Scans sources [first, first+count) on up to 8 threads and appends their
 * items to split s (or, with s == SPLIT_COUNT, to the splits in splits[]). */
static int scan_shards(Dataset *d, int first, int count, const Split *splits, char *err, size_t errlen)
{
    ScanJob j = {d, first, count, xcalloc((size_t)MAX(count, 1), sizeof(ShardScan)), 0, PTHREAD_MUTEX_INITIALIZER};
    int nt = (int)MIN((long)MIN(count, 8), MAX(1, sysconf(_SC_NPROCESSORS_ONLN)));
    pthread_t th[8];
    for (int t = 0; t < nt; t++) pthread_create(&th[t], NULL, scan_worker, &j);
    for (int t = 0; t < nt; t++) pthread_join(th[t], NULL);
    int rc = 0;
    for (int k = 0; k < count; k++) {
        ShardScan *s = &j.out[k];
        if (s->failed && !rc) rc = errf(err, errlen, "%s", s->err);
        if (s->bad && !d->info.bad_records) snprintf(d->info.first_bad, sizeof d->info.first_bad, "%s", s->first_bad);
        d->info.bad_records += s->bad;
        d->src.data[first + k].records = s->items.len;
        for (int i = 0; i < s->items.len; i++) add_item(d, splits[k], s->items.data[i]);
        vec_free(&s->items);
    }
    free(j.out);
    return rc;
}

/* Opens the first record of a file to learn the sample size. */
static int probe_first_record(Dataset *d, const char *path, char *err, size_t errlen)
{
    TfrReader *r = tfr_reader_open(path, err, errlen);
    if (!r) return -1;
    const uint8_t *data;
    size_t len;
    int rc = tfr_read(r, &data, &len, err, errlen);
    if (rc == 0) rc = errf(err, errlen, "%s: holds no records", path);
    if (rc == 1) rc = record_probe(d, data, len, path, err, errlen);
    tfr_reader_close(r);
    return rc;
}

static int add_shard_paths(Dataset *d, const char *dir, const StrList *names, int fd_open)
{
    int first = d->src.len;
    for (int i = 0; i < names->len; i++) {
        char *p = xprintf("%s/%s", dir, names->data[i]);
        add_source(d, p, fd_open ? open(p, O_RDONLY | O_CLOEXEC) : -1);
        free(p);
    }
    return first;
}

/* {train,val,test}/NAME.tfrecord: Pathfinder, cABC, PathTracker legacy. */
static int open_split_dirs(Dataset *d, char *err, size_t errlen)
{
    StrList names[SPLIT_COUNT];
    int first[SPLIT_COUNT], probed = 0, rc = 0;
    for (int s = 0; s < SPLIT_COUNT; s++) {
        char *sub = xprintf("%s/%s", d->dir, SPLIT_NAMES[s]);
        names[s] = list_names(sub, "", ".tfrecord");
        if (names[s].len && !probed++) {
            char *p = xprintf("%s/%s", sub, names[s].data[0]);
            rc = probe_first_record(d, p, err, errlen);
            free(p);
        }
        first[s] = add_shard_paths(d, sub, &names[s], 1);
        free(sub);
    }
    for (int s = 0; s < SPLIT_COUNT && !rc; s++) {
        Split *sp = xmalloc(sizeof(Split) * (size_t)MAX(names[s].len, 1));
        for (int k = 0; k < names[s].len; k++) sp[k] = (Split)s;
        rc = scan_shards(d, first[s], names[s].len, sp, err, errlen);
        free(sp);
    }
    for (int s = 0; s < SPLIT_COUNT; s++) strlist_free(&names[s]);
    d->info.eval_split = d->items[SPLIT_VAL].len || !d->items[SPLIT_TEST].len ? SPLIT_VAL : SPLIT_TEST;
    return rc;
}

/* Flat train-* / test-* shards (paper format, girik). */
static int open_flat_shards(Dataset *d, char *err, size_t errlen)
{
    StrList train = list_names(d->dir, "train-", ""), test = list_names(d->dir, "test-", "");
    int n_val = train.len >= 2 ? MAX(1, train.len / 10) : 0, rc;
    Split *sp = xmalloc(sizeof(Split) * (size_t)(train.len + test.len + 1));
    for (int k = 0; k < train.len; k++) sp[k] = k >= train.len - n_val ? SPLIT_VAL : SPLIT_TRAIN;
    for (int k = 0; k < test.len; k++) sp[train.len + k] = SPLIT_TEST;
    int first = add_shard_paths(d, d->dir, &train, 0);
    add_shard_paths(d, d->dir, &test, 0);
    rc = probe_first_record(d, d->src.data[first].path, err, errlen);
    if (!rc) rc = scan_shards(d, first, train.len + test.len, sp, err, errlen);
    for (int i = first; i < d->src.len; i++) {
        /* compressed shards are read as streams; plain ones may be seeked */
        if (!d->src.data[i].compressed) d->src.data[i].fd = open(d->src.data[i].path, O_RDONLY | O_CLOEXEC);
    }
    free(sp);
    strlist_free(&train);
    strlist_free(&test);
    d->info.eval_split = d->info.schema == SCHEMA_GIRIK ? SPLIT_TEST : SPLIT_VAL;
    return rc;
}

/* ---- sample-per-file folders ---- */

/* Adds the listed samples to their splits, walking the permutation by rank
 * so each split keeps the reference's (permutation) order. */
static void apply_plan(Dataset *d, const ItemVec *all, const int64_t *perm, const Split *plan_of_rank)
{
    for (int64_t r = 0; r < all->len; r++)
        if (plan_of_rank[r] != SPLIT_COUNT) add_item(d, plan_of_rank[r], all->data[perm[r]]);
}

/* The reference takes split members in permutation order: rank r of the
 * permutation is sample perm[r]. split_plan_* give splits by sample index,
 * so rank order is recovered by reading the plan through the permutation. */
static void split_listed(Dataset *d, const ItemVec *all, int by_ratio)
{
    int64_t n = all->len;
    int64_t *perm = xmalloc(sizeof(int64_t) * (size_t)MAX(n, 1));
    Split *plan = xmalloc(sizeof(Split) * (size_t)MAX(n, 1)), *by_rank = xmalloc(sizeof(Split) * (size_t)MAX(n, 1));
    np_legacy_permutation(d->opt.split_seed, n, perm);
    if (by_ratio) split_plan_ratio(n, d->opt.split_seed, d->opt.train_ratio, d->opt.val_ratio, plan);
    else split_plan_sizes(n, d->opt.split_seed, d->opt.train_size, d->opt.test_size, plan);
    for (int64_t r = 0; r < n; r++) by_rank[r] = plan[perm[r]];
    apply_plan(d, all, perm, by_rank);
    free(perm);
    free(plan);
    free(by_rank);
}

/* Sort key of `*_sample_<n>.npy`: the number, as the reference sorts. */
static long long sample_number(const char *name)
{
    const char *p = strstr(name, "_sample_");
    return p && isdigit((unsigned char)p[8]) ? atoll(p + 8) : -1;
}

static int cmp_sample(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long long nx = sample_number(x), ny = sample_number(y);
    if (nx != ny) return nx < ny ? -1 : 1;
    return strcmp(x, y);
}

/* With skip_bad, files whose header or size is wrong are left out before
 * the split (so the split is that of the good files). */
static void drop_bad_npy(Dataset *d, ItemVec *all)
{
    int kept = 0;
    for (int i = 0; i < all->len; i++) {
        char why[256];
        if (!npy_verify(d, d->src.data[all->data[i].src].path, why, sizeof why)) {
            all->data[kept++] = all->data[i];
            continue;
        }
        if (!d->info.bad_records++) snprintf(d->info.first_bad, sizeof d->info.first_bad, "%s", why);
    }
    all->len = kept;
}

static int open_npy(Dataset *d, char *err, size_t errlen)
{
    ItemVec all = {0};
    for (int label = 0; label < 2; label++) {
        char *sub = xprintf("%s/%d", d->dir, label);
        StrList names = list_names(sub, "", ".npy");
        if (names.len) qsort(names.data, (size_t)names.len, sizeof(char *), cmp_sample);
        for (int i = 0; i < names.len; i++) {
            char *p = xprintf("%s/%s", sub, names.data[i]);
            Item it = {add_source(d, p, -1), label, 0, 0, 0, 0};
            vec_push(&all, it);
            free(p);
        }
        strlist_free(&names);
        free(sub);
    }
    int rc = all.len ? npy_probe(d, d->src.data[all.data[0].src].path, err, errlen)
                     : errf(err, errlen, "%s: no .npy files in 0/ or 1/", d->dir);
    if (!rc && d->opt.skip_bad) drop_bad_npy(d, &all);
    if (!rc) split_listed(d, &all, 0);
    vec_free(&all);
    d->info.eval_split = SPLIT_VAL;
    return rc;
}

/* Leading number first ("2.npy" before "10.npy"), then the name. */
static int cmp_numeric_name(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long long nx = isdigit((unsigned char)*x) ? atoll(x) : -1, ny = isdigit((unsigned char)*y) ? atoll(y) : -1;
    if (nx != ny) return nx < ny ? -1 : 1;
    return strcmp(x, y);
}

/* Original Pathfinder layout: metadata/<batch>.npy text rows
 * "imgs/<batch> sample_<i>.png <index> <label> ...", batches in numeric order. */
static int list_png_metadata(Dataset *d, ItemVec *all, char *err, size_t errlen)
{
    char *mdir = xprintf("%s/metadata", d->dir);
    StrList names = list_names(mdir, "", ".npy");
    if (names.len) qsort(names.data, (size_t)names.len, sizeof(char *), cmp_numeric_name);
    int rc = 0;
    for (int i = 0; i < names.len && !rc; i++) {
        char *p = xprintf("%s/%s", mdir, names.data[i]);
        FILE *fp = fopen(p, "r");
        char line[1024], sub[512], file[512];
        int index, label, lineno = 0;
        while (fp && fgets(line, sizeof line, fp)) {
            lineno++;
            if (sscanf(line, "%511s %511s %d %d", sub, file, &index, &label) != 4 || (label != 0 && label != 1)) {
                rc = errf(err, errlen, "%s:%d: expected 'subpath file index label ...' with label 0 or 1", p, lineno);
                break;
            }
            char *img = xprintf("%s/%s/%s", d->dir, sub, file);
            Item it = {add_source(d, img, -1), label, 0, 0, 0, 0};
            vec_push(all, it);
            free(img);
        }
        if (!fp) rc = errf(err, errlen, "%s: cannot open: %s", p, strerror(errno));
        else fclose(fp);
        free(p);
    }
    strlist_free(&names);
    free(mdir);
    return rc;
}

/* CSSM layout: imgs/neg/ (label 0) then imgs/pos/ (label 1), each sorted. */
static void list_png_classes(Dataset *d, const char *base, ItemVec *all)
{
    const char *cls[2] = {"neg", "pos"};
    for (int label = 0; label < 2; label++) {
        char *sub = xprintf("%s/%s", base, cls[label]);
        StrList names = list_names(sub, "", ".png");
        for (int i = 0; i < names.len; i++) {
            char *p = xprintf("%s/%s", sub, names.data[i]);
            Item it = {add_source(d, p, -1), label, 0, 0, 0, 0};
            vec_push(all, it);
            free(p);
        }
        strlist_free(&names);
        free(sub);
    }
}

static int open_png(Dataset *d, char *err, size_t errlen)
{
    ItemVec all = {0};
    char *imgs = xprintf("%s/imgs", d->dir), *meta = xprintf("%s/metadata", d->dir);
    int rc = 0;
    if (has_names_in(imgs, "neg", ".png") || has_names_in(imgs, "pos", ".png")) list_png_classes(d, imgs, &all);
    else if (is_dir(meta)) rc = list_png_metadata(d, &all, err, errlen);
    else list_png_classes(d, d->dir, &all);
    if (!rc && !all.len) rc = errf(err, errlen, "%s: no PNG images (expected imgs/neg/, imgs/pos/ or metadata/)", d->dir);
    if (!rc) rc = png_probe(d, d->src.data[all.data[0].src].path, err, errlen);
    if (!rc) split_listed(d, &all, 1);
    vec_free(&all);
    free(imgs);
    free(meta);
    d->info.eval_split = SPLIT_VAL;
    return rc;
}

/* ---- sizes and metadata.json ---- */

static int settle_shape(Dataset *d, char *err, size_t errlen)
{
    DatasetInfo *in = &d->info;
    int F = in->stored_frames, T = d->opt.frames ? d->opt.frames : (F > 1 ? F : 1);
    if (F > 1 && T > F)
        return errf(err, errlen, "%s: %d frames requested but the videos hold %d", d->dir, T, F);
    in->frames = T;
    in->height = d->opt.image_size ? d->opt.image_size : in->stored_height;
    in->width = d->opt.image_size ? d->opt.image_size : in->stored_width;
    d->fidx = xmalloc(sizeof(int) * (size_t)T);
    if (F > 1) frame_indices(F, T, d->fidx);
    else memset(d->fidx, 0, sizeof(int) * (size_t)T);
    return 0;
}

static int check_meta_int(const Meta *m, const char *path, const char *key, int64_t have, const char *what, char *err,
                          size_t errlen)
{
    int64_t v;
    if (meta_get_int(m, key, &v) || v == have) return 0;
    return errf(err, errlen, "%s: says %s %lld but %s %lld", path, key, (long long)v, what, (long long)have);
}

/* metadata.json sits in the dataset folder (Pathfinder, legacy). Bad
 * records left out by skip_bad explain a short count, so counts are then
 * only checked to be no larger than the metadata's. */
static int check_metadata(Dataset *d, char *err, size_t errlen)
{
    char *path = xprintf("%s/metadata.json", d->dir);
    Meta m;
    int rc = meta_read(path, &m, err, errlen);
    if (rc <= 0) {
        free(path);
        return rc;
    }
    DatasetInfo *in = &d->info;
    rc = check_meta_int(&m, path, "image_size", in->stored_height, "the records hold images of height", err, errlen);
    if (!rc && in->schema == SCHEMA_PATHTRACKER_LEGACY)
        rc = check_meta_int(&m, path, "num_frames", in->stored_frames, "the records hold videos of frames", err, errlen);
    for (int s = 0; s < SPLIT_COUNT && !rc; s++) {
        char *key = xprintf("%s_samples", SPLIT_NAMES[s]);
        int64_t v;
        if (!meta_get_int(&m, key, &v) && v != d->items[s].len && !(d->opt.skip_bad && v > d->items[s].len))
            rc = errf(err, errlen, "%s: says %s %lld but the %s shards hold %d records", path, key, (long long)v,
                      SPLIT_NAMES[s], d->items[s].len);
        free(key);
    }
    meta_free(&m);
    free(path);
    return rc;
}

/* A reader caches GROUP windows of records, kept under WINDOW_CACHE_BYTES
 * together, so windows of large records hold fewer of them. */
static int window_records(const Dataset *d, const ItemVec *items)
{
    uint64_t longest = 1;
    for (int i = 0; i < items->len; i++) longest = MAX(longest, items->data[i].len);
    uint64_t fit = WINDOW_CACHE_BYTES / GROUP / longest;
    return (int)MAX((uint64_t)1, MIN((uint64_t)MAX(1, d->opt.window), fit));
}

static void build_windows(Dataset *d)
{
    for (int s = 0; s < SPLIT_COUNT; s++) {
        ItemVec *items = &d->items[s];
        int w = window_records(d, items);
        int64_t run = 0;
        for (int64_t i = 0; i < items->len; i++) {
            Item *it = &items->data[i];
            int fresh = i == 0 || it->src != items->data[i - 1].src || run == w;
            if (fresh) {
                Window win = {i, 0, it->src};
                vec_push(&d->windows[s], win);
                run = 0;
            }
            d->windows[s].data[d->windows[s].len - 1].count++;
            it->window = d->windows[s].len - 1;
            run++;
        }
    }
}

static void count_labels(Dataset *d)
{
    for (int s = 0; s < SPLIT_COUNT; s++) {
        d->info.count[s] = d->items[s].len;
        int64_t c[2] = {0, 0};
        int known = 1;
        for (int i = 0; i < d->items[s].len && known; i++) {
            int l = d->items[s].data[i].label;
            if (l < 0) known = 0;
            else c[l]++;
        }
        d->info.label_count[s][0] = known ? c[0] : -1;
        d->info.label_count[s][1] = known ? c[1] : -1;
    }
}

/* ---- open ---- */

static int resolve_schema(Dataset *d, Kind kind, char *err, size_t errlen)
{
    DataSchema want = d->opt.schema, have;
    switch (kind) {
    case KIND_FLAT_GZIP: have = want == SCHEMA_GIRIK ? SCHEMA_GIRIK : SCHEMA_PATHTRACKER_PAPER; break;
    case KIND_NPY: have = SCHEMA_PATHTRACKER_NPY; break;
    case KIND_PNG: have = SCHEMA_PATHFINDER_PNG; break;
    default: have = SCHEMA_AUTO; break;   /* decided by the first record */
    }
    d->info.schema = have;
    if (want == SCHEMA_AUTO || want == have || have == SCHEMA_AUTO) return 0;
    return errf(err, errlen, "%s: holds %s data, not %s", d->dir, schema_name(have), schema_name(want));
}

static int open_kind(Dataset *d, Kind kind, char *err, size_t errlen)
{
    switch (kind) {
    case KIND_FLAT_GZIP: return open_flat_shards(d, err, errlen);
    case KIND_NPY: return open_npy(d, err, errlen);
    case KIND_PNG: return open_png(d, err, errlen);
    case KIND_SPLIT_TFR: return open_split_dirs(d, err, errlen);
    default: return errf(err, errlen, "%s: not a dataset folder", d->dir);
    }
}

Dataset *dataset_open(const char *path, const DatasetOptions *o, char *err, size_t errlen)
{
    if (!is_dir(path)) {
        errf(err, errlen, "%s: no such folder", path);
        return NULL;
    }
    Dataset *d = xcalloc(1, sizeof *d);
    if (o) d->opt = *o;
    else dataset_options_init(&d->opt);
    Kind kind = detect_here(path);
    d->dir = kind != KIND_NONE ? xstrdup(path) : pick_subfolder(path, &d->opt, err, errlen);
    if (d->dir && kind == KIND_NONE) kind = detect_here(d->dir);
    int rc = !d->dir || resolve_schema(d, kind, err, errlen) || open_kind(d, kind, err, errlen) ||
             settle_shape(d, err, errlen) || check_metadata(d, err, errlen);
    if (rc) {
        dataset_close(d);
        return NULL;
    }
    build_windows(d);
    count_labels(d);
    for (int i = 0; i < d->src.len; i++) d->info.compressed |= d->src.data[i].compressed;
    return d;
}

void dataset_close(Dataset *d)
{
    if (!d) return;
    for (int i = 0; i < d->src.len; i++) {
        if (d->src.data[i].fd >= 0) close(d->src.data[i].fd);
        free(d->src.data[i].path);
    }
    vec_free(&d->src);
    for (int s = 0; s < SPLIT_COUNT; s++) {
        vec_free(&d->items[s]);
        vec_free(&d->windows[s]);
    }
    free(d->fidx);
    free(d->dir);
    free(d);
}

const DatasetInfo *dataset_info(const Dataset *d) { return &d->info; }
int64_t dataset_size(const Dataset *d, Split s) { return s < SPLIT_COUNT ? d->items[s].len : 0; }
const char *dataset_dir(const Dataset *d) { return d->dir; }

size_t dataset_sample_floats(const Dataset *d)
{
    return (size_t)d->info.frames * (size_t)d->info.height * (size_t)d->info.width * 3;
}

void dataset_locate(const Dataset *d, Split s, int64_t i, char *buf, size_t n)
{
    const Item *it = &d->items[s].data[i];
    const Source *src = &d->src.data[it->src];
    if (d->info.schema == SCHEMA_PATHTRACKER_NPY || d->info.schema == SCHEMA_PATHFINDER_PNG)
        snprintf(buf, n, "%s", src->path);
    else
        snprintf(buf, n, "%s: record %lld", src->path, (long long)it->record);
}
