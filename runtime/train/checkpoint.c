/* checkpoint.c: atomic files, safetensors files, and training checkpoints.
 *
 * Atomic files: written as PATH.tmp.<pid>.<n> in the same directory (so the
 * rename cannot cross file systems), fsync'd, renamed over PATH, and the
 * directory fsync'd, so a crash leaves the old file or the new one.
 *
 * safetensors, as github.com/huggingface/safetensors specifies and writes
 * it: u64 little-endian header length N; N bytes of compact JSON mapping each
 * tensor name to {"dtype","shape","data_offsets":[begin,end]} plus an
 * optional "__metadata__" string map, padded with spaces to a multiple of 8;
 * then the data, tensors back to back with no holes, in header order. The
 * writer sorts tensors by descending dtype alignment, then by name (all ours
 * are F32, so by name), and metadata keys by name, so a file is a pure
 * function of its contents and Python's writer produces the same bytes. The
 * reader validates the whole header against the file size before any data
 * is read; every error names the file. This host is assumed little-endian.
 *
 * Checkpoints: parameters under their own names, running statistics as
 * stats.<name>, Adam moments as
 * opt.m.<name> / opt.v.<name>, and the optimizer counters and TrainState as
 * metadata strings, so a resumed run continues exactly (the reference saves
 * no optimizer state and restarts warmup on resume; we do not). */
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O here assumes a little-endian host"
#endif

#define ST_MAX_HEADER 100000000   /* the limit of the format's own reader */
#define CKPT_FORMAT "cssmc-checkpoint"
#define CKPT_VERSION "1"

/* ---- Atomic files ------------------------------------------------------ */

int atomic_open(AtomicFile *af, const char *path, char *err, size_t errlen)
{
    static atomic_uint counter;
    *af = (AtomicFile){0};
    char *tmp = xprintf("%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        if (fd >= 0) close(fd), unlink(tmp);
        free(tmp);
        return -1;
    }
    *af = (AtomicFile){.f = f, .path = xstrdup(path), .tmp = tmp};
    return 0;
}

static void atomic_release(AtomicFile *af)
{
    free(af->path);
    free(af->tmp);
    *af = (AtomicFile){0};
}

void atomic_abort(AtomicFile *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    atomic_release(af);
}

/* fsync of the directory makes the rename itself durable. File systems
 * that cannot sync a directory say EINVAL; there is nothing more to do. */
static int sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, (size_t)(slash - path + (slash == path))) : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
    close(fd);
    return rc;
}

int atomic_commit(AtomicFile *af, char *err, size_t errlen)
{
    const char *what = "write";
    bool ok = fflush(af->f) == 0 && !ferror(af->f);
    if (ok) ok = fsync(fileno(af->f)) == 0 || (what = "fsync", false);
    if (fclose(af->f) != 0 && ok) ok = false, what = "close";
    af->f = NULL;
    if (ok) ok = rename(af->tmp, af->path) == 0 || (what = "rename", false);
    if (!ok) {
        snprintf(err, errlen, "%s: %s failed: %s", af->path, what, strerror(errno));
        atomic_abort(af);
        return -1;
    }
    if (sync_parent_dir(af->path) != 0) {
        snprintf(err, errlen, "%s: fsync of its directory failed: %s", af->path, strerror(errno));
        atomic_release(af);
        return -1;
    }
    atomic_release(af);
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen)
{
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    fwrite(data, 1, n, af.f);
    return atomic_commit(&af, err, errlen);
}

/* ---- safetensors: dtypes ----------------------------------------------- */

/* The format's dtypes, in its order of increasing alignment. */
static const struct { const char *name; int size; } dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
    {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},
    {"F64", 8}, {"I64", 8}, {"U64", 8}, {"C64", 8},
};

static int dtype_size(const char *name)
{
    for (size_t i = 0; i < COUNT_OF(dtypes); i++)
        if (strcmp(dtypes[i].name, name) == 0) return dtypes[i].size;
    return 0;
}

/* ---- safetensors: writer ----------------------------------------------- */

static int compare_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const TensorRef *const *)a)->name, (*(const TensorRef *const *)b)->name);
}

static int compare_meta_key(const void *a, const void *b)
{
    return strcmp(((const StMeta *)a)->key, ((const StMeta *)b)->key);
}

static void write_meta_object(JsonWriter *w, const StMeta *meta, int nmeta)
{
    StMeta *sorted = xmalloc(sizeof *sorted * (size_t)nmeta);
    memcpy(sorted, meta, sizeof *sorted * (size_t)nmeta);
    qsort(sorted, (size_t)nmeta, sizeof *sorted, compare_meta_key);
    jw_key(w, "__metadata__");
    jw_object(w);
    for (int i = 0; i < nmeta; i++) {
        if (i > 0 && strcmp(sorted[i - 1].key, sorted[i].key) == 0)
            ice("st_write: duplicate metadata key '%s'", sorted[i].key);
        jw_key(w, sorted[i].key);
        jw_string(w, sorted[i].value);
    }
    jw_end_object(w);
    free(sorted);
}

static void write_tensor_entry(JsonWriter *w, const TensorRef *t, int64_t begin)
{
    jw_key(w, t->name);
    jw_object(w);
    jw_key(w, "dtype");
    jw_string(w, "F32");
    jw_key(w, "shape");
    jw_array(w);
    for (int d = 0; d < t->ndim; d++) jw_int(w, t->shape[d]);
    jw_end_array(w);
    jw_key(w, "data_offsets");
    jw_array(w);
    jw_int(w, begin);
    jw_int(w, begin + 4 * tensor_numel(t));
    jw_end_array(w);
    jw_end_object(w);
}

/* The header text, padded with spaces to a multiple of 8 bytes. */
static char *st_header(const TensorRef *const *order, int n, const StMeta *meta, int nmeta,
                       size_t *len)
{
    JsonWriter w;
    jw_init(&w, 0);
    jw_object(&w);
    if (nmeta > 0) write_meta_object(&w, meta, nmeta);
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(order[i - 1]->name, order[i]->name) == 0)
            ice("st_write: duplicate tensor name '%s'", order[i]->name);
        if (strcmp(order[i]->name, "__metadata__") == 0) ice("st_write: tensor named __metadata__");
        write_tensor_entry(&w, order[i], offset);
        offset += 4 * tensor_numel(order[i]);
    }
    jw_end_object(&w);
    size_t text_len = w.len, padded = (text_len + 7) / 8 * 8;
    char *text = jw_take(&w);
    jw_free(&w);
    text = xrealloc(text, padded + 1);
    memset(text + text_len, ' ', padded - text_len);
    text[padded] = 0;
    *len = padded;
    return text;
}

int st_write(const char *path, const TensorRef *tensors, int n, const StMeta *meta, int nmeta,
             char *err, size_t errlen)
{
    const TensorRef **order = xmalloc(sizeof *order * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = &tensors[i];
    qsort(order, (size_t)n, sizeof *order, compare_tensor_name);
    size_t len;
    char *header = st_header(order, n, meta, nmeta, &len);
    AtomicFile af;
    int rc = atomic_open(&af, path, err, errlen);
    if (rc == 0) {
        uint64_t n_le = len;
        fwrite(&n_le, 8, 1, af.f);
        fwrite(header, 1, len, af.f);
        for (int i = 0; i < n; i++)
            fwrite(order[i]->data, sizeof(float), (size_t)tensor_numel(order[i]), af.f);
        rc = atomic_commit(&af, err, errlen);
    }
    free(header);
    free(order);
    return rc;
}

/* ---- safetensors: reader ----------------------------------------------- */

/* One error line for st: "PATH: message". */
static int st_fail(const char *path, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int st_fail(const char *path, char *err, size_t errlen, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* "[2,3]" for messages. */
static void shape_text(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static bool is_count(const JsonValue *v) { return v && v->kind == JSON_NUMBER && v->integral && v->integer >= 0; }

static int parse_shape(const char *path, const char *name, const JsonValue *shape, StTensor *t,
                       char *err, size_t errlen)
{
    if (!shape || shape->kind != JSON_ARRAY)
        return st_fail(path, err, errlen, "tensor '%s': \"shape\" must be an array of integers", name);
    if (shape->len > TENSOR_MAX_DIMS)
        return st_fail(path, err, errlen, "tensor '%s' has %d dimensions, at most %d are supported",
                       name, shape->len, TENSOR_MAX_DIMS);
    t->ndim = shape->len;
    for (int d = 0; d < shape->len; d++) {
        if (!is_count(&shape->items[d]))
            return st_fail(path, err, errlen, "tensor '%s': shape[%d] is not a non-negative integer", name, d);
        t->shape[d] = shape->items[d].integer;
    }
    return 0;
}

static int parse_offsets(const char *path, const char *name, const JsonValue *off, StTensor *t,
                         char *err, size_t errlen)
{
    if (!off || off->kind != JSON_ARRAY || off->len != 2 || !is_count(&off->items[0]) ||
        !is_count(&off->items[1]) || off->items[1].integer < off->items[0].integer)
        return st_fail(path, err, errlen,
                       "tensor '%s': \"data_offsets\" must be [begin, end] with 0 <= begin <= end", name);
    t->begin = off->items[0].integer;
    t->end = off->items[1].integer;
    return 0;
}

static int parse_tensor(const char *path, const char *name, const JsonValue *v, StTensor *t,
                        char *err, size_t errlen)
{
    t->name = xstrdup(name);
    if (v->kind != JSON_OBJECT)
        return st_fail(path, err, errlen, "tensor '%s': expected an object in the header", name);
    const JsonValue *dtype = json_get(v, "dtype");
    if (!dtype || dtype->kind != JSON_STRING || !dtype_size(dtype->string))
        return st_fail(path, err, errlen, "tensor '%s': missing or unknown \"dtype\"%s%s", name,
                       dtype && dtype->kind == JSON_STRING ? " " : "",
                       dtype && dtype->kind == JSON_STRING ? dtype->string : "");
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype->string);
    if (parse_shape(path, name, json_get(v, "shape"), t, err, errlen) != 0) return -1;
    return parse_offsets(path, name, json_get(v, "data_offsets"), t, err, errlen);
}

static int parse_metadata(StFile *st, const JsonValue *v, char *err, size_t errlen)
{
    if (v->kind != JSON_OBJECT) return st_fail(st->path, err, errlen, "\"__metadata__\" must be an object");
    st->meta_keys = xmalloc(sizeof(char *) * (size_t)(v->len ? v->len : 1));
    st->meta_values = xmalloc(sizeof(char *) * (size_t)(v->len ? v->len : 1));
    for (int i = 0; i < v->len; i++) {
        if (v->items[i].kind != JSON_STRING)
            return st_fail(st->path, err, errlen, "\"__metadata__\" value of '%s' is not a string", v->keys[i]);
        st->meta_keys[i] = xstrdup(v->keys[i]);
        st->meta_values[i] = xstrdup(v->items[i].string);
        st->nmeta++;
    }
    return 0;
}

static int compare_begin(const void *a, const void *b)
{
    const StTensor *x = a, *y = b;
    return x->begin != y->begin ? (x->begin < y->begin ? -1 : 1)
         : x->end != y->end ? (x->end < y->end ? -1 : 1) : 0;
}

/* Size in bytes a tensor needs, or -1 on overflow. */
static int64_t tensor_bytes(const StTensor *t)
{
    int64_t n = dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++)
        if (__builtin_mul_overflow(n, t->shape[d], &n)) return -1;
    return n;
}

/* Tensors, sorted by offset, must tile [0, data_size) exactly. */
static int check_layout(StFile *st, int64_t data_size, char *err, size_t errlen)
{
    qsort(st->tensors, (size_t)st->ntensors, sizeof *st->tensors, compare_begin);
    int64_t expect = 0;
    for (int i = 0; i < st->ntensors; i++) {
        const StTensor *t = &st->tensors[i];
        char shape[128];
        shape_text(shape, sizeof shape, t->ndim, t->shape);
        if (t->begin != expect)
            return st_fail(st->path, err, errlen, "tensor '%s': data_offsets [%lld, %lld] %s (expected begin %lld)",
                           t->name, (long long)t->begin, (long long)t->end,
                           t->begin > expect ? "leave a hole" : "overlap another tensor", (long long)expect);
        if (tensor_bytes(t) < 0)
            return st_fail(st->path, err, errlen, "tensor '%s': shape %s is too large (its size overflows)",
                           t->name, shape);
        if (tensor_bytes(t) != t->end - t->begin)
            return st_fail(st->path, err, errlen, "tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, "
                           "but dtype %s and shape %s need %lld", t->name, (long long)t->begin,
                           (long long)t->end, (long long)(t->end - t->begin), t->dtype, shape,
                           (long long)tensor_bytes(t));
        if (t->end > data_size)
            return st_fail(st->path, err, errlen, "tensor '%s' ends at data byte %lld, past the end of the "
                           "data (%lld bytes): the file is truncated", t->name, (long long)t->end,
                           (long long)data_size);
        expect = t->end;
    }
    if (expect != data_size)
        return st_fail(st->path, err, errlen, "the tensors cover %lld data bytes but the file has %lld "
                       "(trailing bytes)", (long long)expect, (long long)data_size);
    return 0;
}

static int parse_header(StFile *st, const char *text, size_t n, int64_t data_size, char *err, size_t errlen)
{
    char jerr[200];
    if (n == 0 || text[0] != '{') return st_fail(st->path, err, errlen, "header does not start with '{': not a safetensors file");
    JsonValue *root = json_parse(text, n, jerr, sizeof jerr);
    if (!root) return st_fail(st->path, err, errlen, "header is not valid JSON: %s", jerr);
    int rc = root->kind == JSON_OBJECT ? 0 : st_fail(st->path, err, errlen, "header is not a JSON object");
    st->tensors = xcalloc((size_t)(root->len ? root->len : 1), sizeof *st->tensors);
    for (int i = 0; i < root->len && rc == 0; i++) {
        if (strcmp(root->keys[i], "__metadata__") == 0)
            rc = parse_metadata(st, &root->items[i], err, errlen);
        else
            rc = parse_tensor(st->path, root->keys[i], &root->items[i], &st->tensors[st->ntensors++], err, errlen);
    }
    json_free(root);
    return rc == 0 ? check_layout(st, data_size, err, errlen) : rc;
}

static int read_header(StFile *st, int64_t file_size, char *err, size_t errlen)
{
    unsigned char len_bytes[8];
    if (file_size < 8 || fread(len_bytes, 1, 8, st->f) != 8)
        return st_fail(st->path, err, errlen, "file is %lld bytes, too short for a safetensors header", (long long)file_size);
    uint64_t n;
    memcpy(&n, len_bytes, 8);
    if (n > ST_MAX_HEADER)
        return st_fail(st->path, err, errlen, "header length %" PRIu64 " exceeds %d bytes: corrupt or not a safetensors file",
                       n, ST_MAX_HEADER);
    if ((int64_t)n > file_size - 8)
        return st_fail(st->path, err, errlen, "header length %" PRIu64 " runs past the end of the file (%lld bytes): truncated",
                       n, (long long)file_size);
    char *text = xmalloc(n + 1);
    int rc = fread(text, 1, n, st->f) == n ? 0
           : st_fail(st->path, err, errlen, "read failed: %s", strerror(errno));
    st->data_start = 8 + (int64_t)n;
    if (rc == 0) rc = parse_header(st, text, n, file_size - st->data_start, err, errlen);
    free(text);
    return rc;
}

StFile *st_open(const char *path, char *err, size_t errlen)
{
    StFile *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    st->f = fopen(path, "rb");
    struct stat sb;
    if (!st->f || fstat(fileno(st->f), &sb) != 0) {
        st_fail(path, err, errlen, "cannot open: %s", strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st_fail(path, err, errlen, "not a regular file");
    } else if (read_header(st, (int64_t)sb.st_size, err, errlen) == 0) {
        return st;
    }
    st_close(st);
    return NULL;
}

void st_close(StFile *st)
{
    if (!st) return;
    if (st->f) fclose(st->f);
    for (int i = 0; i < st->ntensors; i++) free(st->tensors[i].name);
    for (int i = 0; i < st->nmeta; i++) free(st->meta_keys[i]), free(st->meta_values[i]);
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->path);
    free(st);
}

const StTensor *st_find(const StFile *st, const char *name)
{
    for (int i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *st_meta(const StFile *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

/* Whether dst can be read from st: present, F32, same shape. */
static int st_check_f32(const StFile *st, const TensorRef *dst, char *err, size_t errlen)
{
    const StTensor *t = st_find(st, dst->name);
    if (!t) return st_fail(st->path, err, errlen, "missing tensor '%s'", dst->name);
    if (strcmp(t->dtype, "F32") != 0)
        return st_fail(st->path, err, errlen, "tensor '%s' has dtype %s, expected F32", t->name, t->dtype);
    bool same = t->ndim == dst->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == dst->shape[d];
    if (same) return 0;
    char have[128], want[128];
    shape_text(have, sizeof have, t->ndim, t->shape);
    shape_text(want, sizeof want, dst->ndim, dst->shape);
    return st_fail(st->path, err, errlen, "tensor '%s' has shape %s, expected %s", t->name, have, want);
}

int st_read_f32(StFile *st, const TensorRef *dst, char *err, size_t errlen)
{
    if (st_check_f32(st, dst, err, errlen) != 0) return -1;
    const StTensor *t = st_find(st, dst->name);
    size_t n = (size_t)(t->end - t->begin) / sizeof(float);
    if (fseeko(st->f, (off_t)(st->data_start + t->begin), SEEK_SET) != 0 ||
        fread(dst->data, sizeof(float), n, st->f) != n)
        return st_fail(st->path, err, errlen, "reading tensor '%s' failed: %s", t->name,
                       ferror(st->f) ? strerror(errno) : "unexpected end of file");
    return 0;
}

/* ---- Checkpoints ------------------------------------------------------- */

/* The tensors of a checkpoint: params, then stats.*, then opt.m.* and
 * opt.v.*; every name after the parameters' is allocated here. */
static TensorRef *ckpt_tensors(const TensorRef *params, int n, const TensorRef *stats, int nstats,
                               const AdamW *opt, int *count)
{
    int total = n + nstats + (opt ? 2 * n : 0);
    TensorRef *t = xmalloc(sizeof *t * (size_t)(total ? total : 1));
    for (int i = 0; i < n; i++) t[i] = params[i];
    for (int i = 0; i < nstats; i++) {
        t[n + i] = stats[i];
        t[n + i].name = xprintf("stats.%s", stats[i].name);
    }
    TensorRef *m = t + n + nstats, *v = m + n;
    for (int i = 0; i < n && opt; i++) {
        if (opt->offset[i + 1] - opt->offset[i] != tensor_numel(&params[i]))
            ice("ckpt: parameter %s does not match the optimizer's layout", params[i].name);
        m[i] = v[i] = params[i];
        m[i].name = xprintf("opt.m.%s", params[i].name);
        m[i].data = opt->m + opt->offset[i];
        v[i].name = xprintf("opt.v.%s", params[i].name);
        v[i].data = opt->v + opt->offset[i];
    }
    *count = total;
    return t;
}

static void free_ckpt_tensors(TensorRef *t, int n, int count)
{
    for (int i = n; i < count; i++) free((char *)t[i].name);
    free(t);
}

typedef Vec(StMeta) MetaVec;

static void add_meta(MetaVec *meta, const char *key, char *value)
{
    vec_push(meta, ((StMeta){key, value}));
}

static void state_meta(MetaVec *meta, const TrainState *s)
{
    add_meta(meta, "format", xstrdup(CKPT_FORMAT));
    add_meta(meta, "format_version", xstrdup(CKPT_VERSION));
    add_meta(meta, "step", xprintf("%lld", (long long)s->step));
    add_meta(meta, "epoch", xprintf("%lld", (long long)s->epoch));
    add_meta(meta, "batch", xprintf("%lld", (long long)s->batch));
    add_meta(meta, "rng_key", xprintf("%" PRIu64, s->rng.key));
    add_meta(meta, "rng_counter", xprintf("%" PRIu64, s->rng.counter));
    add_meta(meta, "best_val_acc", xprintf("%.17g", s->best_val_acc));
    add_meta(meta, "best_val_loss", xprintf("%.17g", s->best_val_loss));
    add_meta(meta, "epochs_since_best", xprintf("%lld", (long long)s->epochs_since_best));
    add_meta(meta, "config_hash", xstrdup(s->config_hash));
}

static void opt_meta(MetaVec *meta, const AdamW *opt)
{
    add_meta(meta, "opt.count", xprintf("%lld", (long long)opt->count));
    add_meta(meta, "opt.notfinite_count", xprintf("%lld", (long long)opt->notfinite_count));
    add_meta(meta, "opt.total_notfinite", xprintf("%lld", (long long)opt->total_notfinite));
    add_meta(meta, "opt.last_finite", xstrdup(opt->last_finite ? "true" : "false"));
}

int ckpt_save(const char *path, const TensorRef *params, int n, const TensorRef *stats, int nstats,
              const AdamW *opt, const TrainState *state, char *err, size_t errlen)
{
    if (opt && opt->nparams != n) ice("ckpt_save: %d parameters, optimizer has %d", n, opt->nparams);
    int count;
    TensorRef *tensors = ckpt_tensors(params, n, stats, nstats, opt, &count);
    MetaVec meta = {0};
    state_meta(&meta, state);
    if (opt) opt_meta(&meta, opt);
    int rc = st_write(path, tensors, count, meta.data, meta.len, err, errlen);
    for (int i = 0; i < meta.len; i++) free((char *)meta.data[i].value);
    vec_free(&meta);
    free_ckpt_tensors(tensors, n, count);
    return rc;
}

/* ---- Checkpoints: reading metadata back -------------------------------- */

static const char *need_meta(const StFile *st, const char *key, char *err, size_t errlen)
{
    const char *v = st_meta(st, key);
    if (!v) st_fail(st->path, err, errlen, "metadata '%s' is missing", key);
    return v;
}

static int meta_i64(const StFile *st, const char *key, int64_t *out, char *err, size_t errlen)
{
    const char *v = need_meta(st, key, err, errlen);
    if (!v) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < 0)
        return st_fail(st->path, err, errlen, "metadata '%s' is \"%s\", expected a non-negative integer", key, v);
    *out = x;
    return 0;
}

static int meta_u64(const StFile *st, const char *key, uint64_t *out, char *err, size_t errlen)
{
    const char *v = need_meta(st, key, err, errlen);
    if (!v) return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno)
        return st_fail(st->path, err, errlen, "metadata '%s' is \"%s\", expected a decimal integer", key, v);
    *out = x;
    return 0;
}

static int meta_double(const StFile *st, const char *key, double *out, char *err, size_t errlen)
{
    const char *v = need_meta(st, key, err, errlen);
    if (!v) return -1;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end) return st_fail(st->path, err, errlen, "metadata '%s' is \"%s\", expected a number", key, v);
    *out = x;
    return 0;
}

static int read_state(const StFile *st, TrainState *s, char *err, size_t errlen)
{
    const char *format = st_meta(st, "format"), *version = st_meta(st, "format_version");
    if (!format || strcmp(format, CKPT_FORMAT) != 0)
        return st_fail(st->path, err, errlen, "not a cssmc checkpoint (metadata 'format' is not \"%s\")", CKPT_FORMAT);
    if (!version || strcmp(version, CKPT_VERSION) != 0)
        return st_fail(st->path, err, errlen, "checkpoint format version \"%s\", expected \"%s\"",
                       version ? version : "", CKPT_VERSION);
    const char *hash = need_meta(st, "config_hash", err, errlen);
    if (!hash) return -1;
    if (strlen(hash) >= sizeof s->config_hash)
        return st_fail(st->path, err, errlen, "metadata 'config_hash' is longer than 16 characters");
    snprintf(s->config_hash, sizeof s->config_hash, "%s", hash);
    if (meta_i64(st, "step", &s->step, err, errlen) || meta_i64(st, "epoch", &s->epoch, err, errlen) ||
        meta_i64(st, "batch", &s->batch, err, errlen) ||
        meta_u64(st, "rng_key", &s->rng.key, err, errlen) ||
        meta_u64(st, "rng_counter", &s->rng.counter, err, errlen) ||
        meta_double(st, "best_val_acc", &s->best_val_acc, err, errlen) ||
        meta_double(st, "best_val_loss", &s->best_val_loss, err, errlen) ||
        meta_i64(st, "epochs_since_best", &s->epochs_since_best, err, errlen))
        return -1;
    return 0;
}

/* The optimizer counters, into a scratch copy (applied only on success). */
static int read_opt_counters(const StFile *st, AdamW *o, char *err, size_t errlen)
{
    if (meta_i64(st, "opt.count", &o->count, err, errlen) ||
        meta_i64(st, "opt.notfinite_count", &o->notfinite_count, err, errlen) ||
        meta_i64(st, "opt.total_notfinite", &o->total_notfinite, err, errlen))
        return -1;
    const char *last = need_meta(st, "opt.last_finite", err, errlen);
    if (!last) return -1;
    if (strcmp(last, "true") != 0 && strcmp(last, "false") != 0)
        return st_fail(st->path, err, errlen, "metadata 'opt.last_finite' is \"%s\", expected true or false", last);
    o->last_finite = strcmp(last, "true") == 0;
    return 0;
}

/* Every file tensor must be expected: a stray one means another model.
 * Optimizer tensors are allowed (and ignored) when loading parameters only. */
static int check_no_extra(const StFile *st, const TensorRef *want, int nwant, bool ignore_opt,
                          char *err, size_t errlen)
{
    for (int i = 0; i < st->ntensors; i++) {
        const char *name = st->tensors[i].name;
        bool known = ignore_opt && strncmp(name, "opt.", 4) == 0;
        for (int k = 0; k < nwant && !known; k++) known = strcmp(want[k].name, name) == 0;
        if (!known)
            return st_fail(st->path, err, errlen, "unexpected tensor '%s' (a checkpoint of another model?)", name);
    }
    return 0;
}

static int ckpt_validate(const StFile *st, const TensorRef *want, int nwant, AdamW *opt,
                         TrainState *state, AdamW *counters, char *err, size_t errlen)
{
    if (read_state(st, state, err, errlen) != 0) return -1;
    if (opt && read_opt_counters(st, counters, err, errlen) != 0) return -1;
    for (int i = 0; i < nwant; i++)
        if (st_check_f32(st, &want[i], err, errlen) != 0) return -1;
    return check_no_extra(st, want, nwant, !opt, err, errlen);
}

int ckpt_load(const char *path, const TensorRef *params, int n, const TensorRef *stats, int nstats,
              AdamW *opt, TrainState *state, char *err, size_t errlen)
{
    if (opt && opt->nparams != n) ice("ckpt_load: %d parameters, optimizer has %d", n, opt->nparams);
    StFile *st = st_open(path, err, errlen);
    if (!st) return -1;
    int count;
    TensorRef *want = ckpt_tensors(params, n, stats, nstats, opt, &count);
    TrainState s = {0};
    AdamW counters = {0};
    int rc = ckpt_validate(st, want, count, opt, &s, &counters, err, errlen);
    for (int i = 0; i < count && rc == 0; i++) rc = st_read_f32(st, &want[i], err, errlen);
    if (rc == 0) {
        *state = s;
        if (opt) {
            opt->count = counters.count;
            opt->notfinite_count = counters.notfinite_count;
            opt->total_notfinite = counters.total_notfinite;
            opt->last_finite = counters.last_finite;
        }
    }
    free_ckpt_tensors(want, n, count);
    st_close(st);
    return rc;
}
