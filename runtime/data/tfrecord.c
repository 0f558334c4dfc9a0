/* tfrecord.c: TFRecord files, read and written (spec/datasets.md §3.1-3.2).
 *
 * A file is a sequence of records `u64 length | u32 masked_crc32c(length) |
 * data | u32 masked_crc32c(data)`, little-endian, with no header or footer.
 * GZIP files are one gzip stream (or several concatenated members) whose
 * decompressed bytes hold that framing; ZLIB files likewise with an RFC 1950
 * wrapper. zlib does the (de)compression; this file does the framing, the
 * checks and the messages. Every failure names the file and the record index
 * and says what was wrong: a bad length checksum, a bad data checksum, a
 * record cut short by the end of the file, or corrupt compressed data.
 *
 * The reader streams through a 1 MiB buffer, so a multi-gigabyte GZIP shard
 * is never held in memory. Plain files can also be indexed without reading
 * record data (tfr_skip) and then read at random with tfr_pread. */
#include "formats.h"
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

enum { BUF_SIZE = 1 << 20 };
/* A length beyond this is taken as corruption rather than allocated. */
#define MAX_RECORD ((uint64_t)1 << 34)

struct TfrReader {
    char *path;
    int fd;
    TfrCompression comp;
    uint64_t file_size;
    z_stream z;
    int input_done, stream_done;
    uint8_t *in;                   /* compressed input */
    uint8_t *buf;                  /* uncompressed bytes not yet consumed */
    size_t buf_len, buf_pos;
    uint64_t offset;               /* uncompressed bytes consumed so far */
    int64_t index;
    uint8_t *rec;
    size_t rec_cap;
};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int header_ok(const uint8_t hdr[12]) { return tfr_mask_crc(crc32c(hdr, 8)) == le32(hdr + 8); }

/* ---- reading ---- */

static int looks_zlib(const uint8_t *b) { return (b[0] & 0x0f) == 8 && ((b[0] << 8) | b[1]) % 31 == 0; }

static TfrCompression detect(int fd, uint64_t size)
{
    uint8_t b[12];
    ssize_t n = pread(fd, b, sizeof b, 0);
    if (n >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8) return TFR_GZIP;
    if (n == 12 && header_ok(b)) return TFR_PLAIN;
    if (n >= 2 && looks_zlib(b) && size > 12) return TFR_ZLIB;
    return TFR_PLAIN;   /* the first record will then report what is wrong */
}

TfrReader *tfr_reader_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    TfrReader *r = xcalloc(1, sizeof *r);
    r->path = xstrdup(path);
    r->fd = fd;
    r->file_size = (uint64_t)st.st_size;
    r->comp = detect(fd, r->file_size);
    r->buf = xmalloc(BUF_SIZE);
    if (r->comp != TFR_PLAIN) {
        r->in = xmalloc(BUF_SIZE);
        /* 15 + 16: gzip only; 15: zlib only. Both verify their trailers. */
        if (inflateInit2(&r->z, r->comp == TFR_GZIP ? 15 + 16 : 15) != Z_OK) ice("inflateInit2 failed");
    }
    return r;
}

static int read_input(TfrReader *r, char *err, size_t errlen)
{
    ssize_t n = read(r->fd, r->in, BUF_SIZE);
    if (n < 0) return errf(err, errlen, "%s: read failed: %s", r->path, strerror(errno));
    if (n == 0) r->input_done = 1;
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)n;
    return 0;
}

/* After one gzip member ends, another may follow (concatenated members). */
static int next_member(TfrReader *r, char *err, size_t errlen)
{
    if (r->z.avail_in == 0 && !r->input_done && read_input(r, err, errlen)) return -1;
    if (r->z.avail_in == 0) {
        r->stream_done = 1;
        return 0;
    }
    if (r->comp != TFR_GZIP)
        return errf(err, errlen, "%s: record %lld: unexpected bytes after the ZLIB stream", r->path,
                    (long long)r->index);
    inflateReset(&r->z);
    return 0;
}

static int inflate_some(TfrReader *r, char *err, size_t errlen)
{
    r->z.next_out = r->buf;
    r->z.avail_out = BUF_SIZE;
    while (r->z.avail_out == BUF_SIZE && !r->stream_done) {
        if (r->z.avail_in == 0 && !r->input_done && read_input(r, err, errlen)) return -1;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            if (next_member(r, err, errlen)) return -1;
        } else if (rc == Z_BUF_ERROR && r->input_done) {
            return errf(err, errlen, "%s: record %lld: truncated (the %s stream ends early)", r->path,
                        (long long)r->index, r->comp == TFR_GZIP ? "GZIP" : "ZLIB");
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return errf(err, errlen, "%s: record %lld: corrupt %s data (%s)", r->path, (long long)r->index,
                        r->comp == TFR_GZIP ? "GZIP" : "ZLIB", r->z.msg ? r->z.msg : "inflate failed");
        }
    }
    r->buf_len = BUF_SIZE - r->z.avail_out;
    return 0;
}

/* Refills the buffer; leaves buf_len == 0 at the end of the stream. */
static int fill(TfrReader *r, char *err, size_t errlen)
{
    r->buf_pos = r->buf_len = 0;
    if (r->comp != TFR_PLAIN) return inflate_some(r, err, errlen);
    ssize_t n = read(r->fd, r->buf, BUF_SIZE);
    if (n < 0) return errf(err, errlen, "%s: read failed: %s", r->path, strerror(errno));
    r->buf_len = (size_t)n;
    return 0;
}

/* Copies (dst != NULL) or discards up to n bytes; *got says how many there were. */
static int stream_take(TfrReader *r, uint8_t *dst, uint64_t n, uint64_t *got, char *err, size_t errlen)
{
    *got = 0;
    while (*got < n) {
        if (r->buf_pos == r->buf_len) {
            if (fill(r, err, errlen)) return -1;
            if (r->buf_len == 0) break;
        }
        size_t k = (size_t)MIN((uint64_t)(r->buf_len - r->buf_pos), n - *got);
        if (dst) memcpy(dst + *got, r->buf + r->buf_pos, k);
        r->buf_pos += k;
        *got += k;
    }
    r->offset += *got;
    return 0;
}

/* Plain files skip data with a seek instead of reading it. */
static int plain_seek_forward(TfrReader *r, uint64_t n)
{
    uint64_t buffered = r->buf_len - r->buf_pos;
    if (n <= buffered) {
        r->buf_pos += n;
    } else {
        if (lseek(r->fd, (off_t)(n - buffered), SEEK_CUR) < 0) return -1;
        r->buf_pos = r->buf_len = 0;
    }
    r->offset += n;
    return 0;
}

static int truncated(TfrReader *r, uint64_t have, uint64_t want, char *err, size_t errlen)
{
    return errf(err, errlen, "%s: record %lld: truncated (the file ends %llu bytes into a %llu-byte record)",
                r->path, (long long)r->index, (unsigned long long)have, (unsigned long long)want);
}

/* Reads and checks one header. 1: *len set; 0: clean end of file; -1: error. */
static int read_header(TfrReader *r, uint64_t *len, char *err, size_t errlen)
{
    uint8_t hdr[12];
    uint64_t got;
    if (stream_take(r, hdr, 12, &got, err, errlen)) return -1;
    if (got == 0) return 0;
    if (got < 12) return truncated(r, got, 16, err, errlen);
    if (!header_ok(hdr))
        return errf(err, errlen, "%s: record %lld: bad length checksum (corrupt, or not a TFRecord file)",
                    r->path, (long long)r->index);
    *len = le64(hdr);
    int too_long = r->comp == TFR_PLAIN ? *len > r->file_size || r->offset + *len + 4 > r->file_size
                                        : *len > MAX_RECORD;
    if (too_long && r->comp == TFR_PLAIN) return truncated(r, 12 + r->file_size - r->offset, *len + 16, err, errlen);
    if (too_long)
        return errf(err, errlen, "%s: record %lld: implausible length %llu", r->path, (long long)r->index,
                    (unsigned long long)*len);
    return 1;
}

int tfr_read(TfrReader *r, const uint8_t **data, size_t *len, char *err, size_t errlen)
{
    uint64_t n, got;
    int rc = read_header(r, &n, err, errlen);
    if (rc <= 0) return rc;
    if (n + 4 > r->rec_cap) {
        r->rec_cap = (size_t)n + 4;
        r->rec = xrealloc(r->rec, r->rec_cap);
    }
    if (stream_take(r, r->rec, n + 4, &got, err, errlen)) return -1;
    if (got < n + 4) return truncated(r, 12 + got, n + 16, err, errlen);
    r->index++;   /* even when the data is bad: the stream is in step with the next record */
    if (tfr_mask_crc(crc32c(r->rec, (size_t)n)) != le32(r->rec + n))
        return errf(err, errlen, "%s: record %lld: bad data checksum (corrupt record)", r->path,
                    (long long)r->index - 1);
    *data = r->rec;
    *len = (size_t)n;
    return 1;
}

int tfr_skip(TfrReader *r, uint64_t *offset, size_t *len, char *err, size_t errlen)
{
    uint64_t n, got;
    int rc = read_header(r, &n, err, errlen);
    if (rc <= 0) return rc;
    *offset = r->offset;
    *len = (size_t)n;
    if (r->comp == TFR_PLAIN) {
        if (plain_seek_forward(r, n + 4))
            return errf(err, errlen, "%s: record %lld: seek failed: %s", r->path, (long long)r->index,
                        strerror(errno));
    } else {
        if (stream_take(r, NULL, n + 4, &got, err, errlen)) return -1;
        if (got < n + 4) return truncated(r, 12 + got, n + 16, err, errlen);
    }
    r->index++;
    return 1;
}

int64_t tfr_reader_index(const TfrReader *r) { return r->index; }
uint64_t tfr_reader_offset(const TfrReader *r) { return r->offset; }
TfrCompression tfr_reader_compression(const TfrReader *r) { return r->comp; }
const char *tfr_reader_path(const TfrReader *r) { return r->path; }

void tfr_reader_close(TfrReader *r)
{
    if (!r) return;
    if (r->comp != TFR_PLAIN) inflateEnd(&r->z);
    close(r->fd);
    free(r->path);
    free(r->in);
    free(r->buf);
    free(r->rec);
    free(r);
}

int tfr_pread(int fd, const char *path, int64_t index, uint64_t offset, size_t len, uint8_t *buf, char *err,
              size_t errlen)
{
    uint8_t hdr[12], crc[4];
    struct iovec iov[3] = {{hdr, 12}, {buf, len}, {crc, 4}};
    ssize_t n = preadv(fd, iov, 3, (off_t)(offset - 12));
    if (n < 0) return errf(err, errlen, "%s: record %lld: read failed: %s", path, (long long)index, strerror(errno));
    if ((size_t)n < len + 16)
        return errf(err, errlen, "%s: record %lld: truncated (the file ends %zd bytes into a %zu-byte record)",
                    path, (long long)index, n, len + 16);
    if (!header_ok(hdr) || le64(hdr) != len)
        return errf(err, errlen, "%s: record %lld: bad length checksum (the file changed since it was indexed?)",
                    path, (long long)index);
    if (tfr_mask_crc(crc32c(buf, len)) != le32(crc))
        return errf(err, errlen, "%s: record %lld: bad data checksum (corrupt record)", path, (long long)index);
    return 0;
}

/* ---- writing ---- */

struct TfrWriter {
    OutFile file;
    int gzip;
    z_stream z;
    uint8_t *zbuf;
    int64_t index;
    int failed;
};

TfrWriter *tfr_writer_open(const char *path, int gzip, char *err, size_t errlen)
{
    TfrWriter *w = xcalloc(1, sizeof *w);
    if (outfile_open(&w->file, path, err, errlen)) {
        free(w);
        return NULL;
    }
    w->gzip = gzip;
    if (gzip) {
        w->zbuf = xmalloc(BUF_SIZE);
        if (deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            ice("deflateInit2 failed");
    }
    return w;
}

static void deflate_out(TfrWriter *w, const void *p, size_t n, int flush)
{
    w->z.next_in = (Bytef *)p;
    w->z.avail_in = (uInt)n;
    int rc;
    do {
        w->z.next_out = w->zbuf;
        w->z.avail_out = BUF_SIZE;
        rc = deflate(&w->z, flush);
        fwrite(w->zbuf, 1, BUF_SIZE - w->z.avail_out, w->file.fp);
    } while (w->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

static void emit(TfrWriter *w, const void *p, size_t n)
{
    while (w->gzip && n > 0) {   /* avail_in is 32-bit */
        size_t k = MIN(n, (size_t)1 << 30);
        deflate_out(w, p, k, Z_NO_FLUSH);
        p = (const uint8_t *)p + k;
        n -= k;
    }
    if (!w->gzip) fwrite(p, 1, n, w->file.fp);
}

int tfr_write(TfrWriter *w, const void *data, size_t len, char *err, size_t errlen)
{
    uint8_t hdr[12], crc[4];
    put_le64(hdr, len);
    put_le32(hdr + 8, tfr_mask_crc(crc32c(hdr, 8)));
    put_le32(crc, tfr_mask_crc(crc32c(data, len)));
    emit(w, hdr, 12);
    emit(w, data, len);
    emit(w, crc, 4);
    if (ferror(w->file.fp)) {
        w->failed = 1;
        return errf(err, errlen, "%s: record %lld: write failed: %s", w->file.path, (long long)w->index,
                    strerror(errno));
    }
    w->index++;
    return 0;
}

static void writer_free(TfrWriter *w)
{
    if (w->gzip) deflateEnd(&w->z);
    free(w->zbuf);
    free(w);
}

int tfr_writer_close(TfrWriter *w, char *err, size_t errlen)
{
    if (w->failed) {
        errf(err, errlen, "%s: not written (an earlier write failed)", w->file.path);
        tfr_writer_abort(w);
        return -1;
    }
    if (w->gzip) deflate_out(w, NULL, 0, Z_FINISH);
    int rc = outfile_commit(&w->file, err, errlen);
    writer_free(w);
    return rc;
}

void tfr_writer_abort(TfrWriter *w)
{
    if (!w) return;
    outfile_abort(&w->file);
    writer_free(w);
}
