/* formats.h: the file formats cssmc reads and writes for its datasets.
 *
 * NumPy .npy arrays, 8-bit PNG images (through libpng), TFRecord files
 * (length-and-CRC framing with masked CRC32C, optionally GZIP- or
 * ZLIB-compressed through zlib) and the protobuf wire format of
 * tf.train.Example (encoding, and zero-copy decoding with packed and unpacked
 * lists). The layouts are those of spec/datasets.md §3.
 *
 * Every function that can fail returns 0 on success and -1 on failure, with a
 * one-line message in `err` (a `char err[256]`-sized buffer is enough) that
 * names the file and, for record formats, the record index. Writers are
 * atomic: they write a temporary file beside the target, fsync it, and rename
 * it into place, so a reader never sees a half-written file. */
#ifndef CSSM_FORMATS_H
#define CSSM_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- shared helpers ---- */

/* Formats a one-line message into err (when err is not NULL) and returns -1,
 * so failure paths read `return errf(err, errlen, "%s: ...", path);`. */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An atomically written file: data goes to a temporary beside `path`;
 * outfile_commit flushes, fsyncs, renames over `path` and fsyncs the folder;
 * outfile_abort removes the temporary. Exactly one of the two must be called. */
typedef struct OutFile {
    FILE *fp;
    char *path, *tmp;
} OutFile;
int  outfile_open(OutFile *f, const char *path, char *err, size_t errlen);
int  outfile_commit(OutFile *f, char *err, size_t errlen);
void outfile_abort(OutFile *f);
/* Writes a whole buffer atomically. */
int  atomic_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* mkdir -p; 0 if the folder exists afterwards. */
int  make_dirs(const char *path, char *err, size_t errlen);

/* ---- .npy (NumPy v1/v2/v3 headers; C order only) ---- */

typedef struct NpyArray {
    char dtype[8];          /* numpy descr: "|u1", "<f4", "<i4", "<i8", "|b1", "<c8" */
    int ndim;
    int64_t shape[8];
    void *data;             /* C order; owned, release with npy_free */
    size_t nbytes;
} NpyArray;
int  npy_read(const char *path, NpyArray *out, char *err, size_t errlen);          /* v1, v2 headers */
int  npy_write(const char *path, const char *dtype, int ndim, const int64_t *shape,
               const void *data, char *err, size_t errlen);                        /* v1, atomic */
void npy_free(NpyArray *a);
/* Bytes per element of a numpy descr ("|u1" -> 1, "<f4" -> 4), 0 if the
 * descr is not one cssmc handles (big-endian, structured, object...). */
size_t npy_itemsize(const char *dtype);
/* Reads only the header: dtype, ndim and shape (data stays NULL). */
int  npy_read_header(const char *path, NpyArray *out, char *err, size_t errlen);

/* ---- PNG through libpng. channels: 1 (gray) or 3 (RGB), 8-bit. ---- */

int png_write8(const char *path, int width, int height, int channels, const uint8_t *pixels,
               char *err, size_t errlen);                                            /* atomic */
int png_read8(const char *path, int *width, int *height, int *channels, uint8_t **pixels,
              char *err, size_t errlen);           /* any PNG, converted to 8-bit gray or RGB */

/* ---- CRC32C (Castagnoli) and the TFRecord mask ---- */

uint32_t crc32c(const void *data, size_t n);
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);  /* crc32c(a ++ b) from crc32c(a) */
uint32_t tfr_mask_crc(uint32_t crc);     /* ((crc >> 15) | (crc << 17)) + 0xA282EAD8 */
/* The table-driven path alone, so tests can check the SSE4.2 path against it. */
uint32_t crc32c_portable(const void *data, size_t n);

/* ---- TFRecord files: framing with masked CRC32C, optional GZIP (zlib). ---- */

typedef struct TfrWriter TfrWriter;
TfrWriter *tfr_writer_open(const char *path, int gzip, char *err, size_t errlen);
int  tfr_write(TfrWriter *w, const void *data, size_t len, char *err, size_t errlen);
int  tfr_writer_close(TfrWriter *w, char *err, size_t errlen);   /* fsync + rename into place */
/* Gives up on a file being written: the temporary is removed, the target is
 * left as it was. */
void tfr_writer_abort(TfrWriter *w);

typedef enum TfrCompression { TFR_PLAIN, TFR_GZIP, TFR_ZLIB } TfrCompression;

/* Sequential reader. The compression is detected: gzip magic 1F 8B 08 first,
 * then a first record whose length CRC verifies means plain, then a zlib
 * header. GZIP files may hold several concatenated members. */
typedef struct TfrReader TfrReader;
TfrReader *tfr_reader_open(const char *path, char *err, size_t errlen);
/* Reads the next record. Returns 1 with *data and *len set (the buffer belongs
 * to the reader and is valid until the next call), 0 at a clean end of file,
 * -1 on a bad length CRC, bad data CRC or truncated record. After a bad
 * data CRC the reader stands at the next record, so a caller may go on. */
int  tfr_read(TfrReader *r, const uint8_t **data, size_t *len, char *err, size_t errlen);
/* Like tfr_read but does not verify (or, for plain files, even read) the
 * data; the length CRC is still checked. Used to index large files fast.
 * *offset is where the record's data starts in the uncompressed stream. */
int  tfr_skip(TfrReader *r, uint64_t *offset, size_t *len, char *err, size_t errlen);
int64_t tfr_reader_index(const TfrReader *r);    /* index of the next record */
uint64_t tfr_reader_offset(const TfrReader *r);  /* position in the uncompressed stream */
TfrCompression tfr_reader_compression(const TfrReader *r);
const char *tfr_reader_path(const TfrReader *r);
void tfr_reader_close(TfrReader *r);
/* Random access into a plain file: reads and verifies the record whose data
 * starts at `offset` with length `len` (as tfr_skip reported them). `fd` is
 * an open descriptor of `path`; pread makes this safe from several threads. */
int  tfr_pread(int fd, const char *path, int64_t index, uint64_t offset, size_t len,
               uint8_t *buf, char *err, size_t errlen);

/* ---- tf.train.Example encoding: build one, then serialize. ---- */

typedef struct TfExample TfExample;
TfExample *tfex_new(void);
void tfex_add_bytes(TfExample *e, const char *key, const void *bytes, size_t len);
void tfex_add_floats(TfExample *e, const char *key, const float *v, size_t n);
void tfex_add_int64s(TfExample *e, const char *key, const int64_t *v, size_t n);
uint8_t *tfex_serialize(const TfExample *e, size_t *len);   /* xmalloc'd */
void tfex_free(TfExample *e);

/* ---- tf.train.Example decoding, zero-copy into the record buffer. ---- */

typedef enum TfexKind { TFEX_EMPTY, TFEX_BYTES, TFEX_FLOATS, TFEX_INT64S } TfexKind;

/* One feature of a parsed Example: pointers into the serialized record. */
typedef struct TfexFeature {
    const char *key;        /* not NUL-terminated */
    size_t key_len;
    TfexKind kind;
    const uint8_t *list;    /* the Feature message from its final kind on */
    size_t list_len;
} TfexFeature;

typedef struct TfexView {
    TfexFeature *features;  /* one per distinct key; a repeated key keeps the last */
    int n, cap;
} TfexView;

/* Parses a serialized Example. The view points into `buf`, which must
 * outlive it; reuse one view across records to avoid allocation. On error
 * the message says what is malformed (callers prefix file and record). */
int  tfex_parse(const uint8_t *buf, size_t len, TfexView *v, char *err, size_t errlen);
void tfex_view_free(TfexView *v);
const TfexFeature *tfex_find(const TfexView *v, const char *key);   /* NULL if absent */
/* Number of values in the list (bytes values, floats or int64s); -1 if malformed. */
int64_t tfex_count(const TfexFeature *f);
/* The i-th bytes value (zero-copy). */
int  tfex_bytes_at(const TfexFeature *f, int64_t i, const uint8_t **p, size_t *len);
/* Decodes up to `max` values into out; *n gets the number decoded. A list of
 * the wrong kind, or a malformed one, returns -1. */
int  tfex_int64s(const TfexFeature *f, int64_t *out, size_t max, size_t *n);
int  tfex_floats(const TfexFeature *f, float *out, size_t max, size_t *n);

#endif
