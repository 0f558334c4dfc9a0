/* test_tfrecord.c: CRC32C, TFRecord framing and tf.train.Example.
 *
 * Checks the published test vectors (spec/datasets.md §3.1, §3.3) byte for
 * byte, round trips plain, GZIP (one and several members) and ZLIB files,
 * decodes packed, unpacked and mixed lists and the protobuf corner cases,
 * and checks that a flipped byte or a cut file is reported with the file
 * name and the index of the record that is bad. */
#include "formats.h"
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static char dir[256];

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (unsigned v; *s; ) {
        if (*s == ' ') { s++; continue; }
        sscanf(s, "%2x", &v);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *b = xmalloc(*n);
    *n = fread(b, 1, *n, fp);
    fclose(fp);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, n, fp);
    fclose(fp);
}

static void test_crc(void)
{
    CHECK(crc32c("123456789", 9) == 0xE3069283u);
    CHECK(crc32c_portable("123456789", 9) == 0xE3069283u);
    uint8_t len0[8] = {0}, len1[8] = {1}, lenv[8] = {0, 0, 3};
    CHECK(tfr_mask_crc(crc32c(len0, 8)) == 0x07980329u);
    CHECK(tfr_mask_crc(crc32c(len1, 8)) == 0x41DE7501u);
    CHECK(tfr_mask_crc(crc32c(lenv, 8)) == 0x95245C00u);
    /* The hardware and table paths agree at every length and alignment. */
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 131 + 7);
    for (int off = 0; off < 8; off++)
        for (int n = 0; n < 300; n += 7) CHECK(crc32c(buf + off, (size_t)n) == crc32c_portable(buf + off, (size_t)n));
    CHECK(crc32c_extend(crc32c(buf, 100), buf + 100, 900) == crc32c(buf, 1000));
}

static TfExample *spec_example(void)
{
    TfExample *e = tfex_new();
    int64_t one = 1, h = 32;
    uint8_t img[3] = {0, 1, 2};
    tfex_add_int64s(e, "label", &one, 1);
    tfex_add_bytes(e, "image", img, 3);
    tfex_add_int64s(e, "height", &h, 1);
    return e;
}

static const char *SPEC_EXAMPLE =
    "0a33 0a0e0a056c6162656c12051a030a0101 0a100a05696d61676512070a050a03000102 0a0f0a0668656967687412051a030a0120";

static void test_encode_vectors(void)
{
    uint8_t want[128];
    size_t n, wn = unhex(SPEC_EXAMPLE, want);
    TfExample *e = spec_example();
    uint8_t *got = tfex_serialize(e, &n);
    CHECK(wn == 53 && n == 53 && !memcmp(got, want, n));
    tfex_free(e);

    char path[300], err[256];
    snprintf(path, sizeof path, "%s/spec.tfrecord", dir);
    TfrWriter *w = tfr_writer_open(path, 0, err, sizeof err);
    CHECK(w && tfr_write(w, got, n, err, sizeof err) == 0 && tfr_writer_close(w, err, sizeof err) == 0);
    uint8_t rec[128];
    size_t rn = unhex("3500000000000000 d6c55de6", rec);
    memcpy(rec + rn, want, 53);
    rn += 53 + unhex("79371d95", rec + rn + 53);
    size_t fn;
    uint8_t *file = slurp(path, &fn);
    CHECK(file && fn == 69 && rn == 69 && !memcmp(file, rec, 69));
    free(file);
    free(got);

    e = tfex_new();
    float fl[2] = {0.5f, -2.0f};
    tfex_add_floats(e, "f", fl, 2);
    got = tfex_serialize(e, &n);
    uint8_t piece[16];
    size_t pn = unhex("12 0a 0a 08 0000003f 000000c0", piece);
    CHECK(n > pn && !memcmp(got + n - pn, piece, pn));
    free(got);
    tfex_free(e);

    e = tfex_new();
    uint8_t label = 1;
    tfex_add_bytes(e, "label", &label, 1);
    got = tfex_serialize(e, &n);
    pn = unhex("0a0e 0a05 6c6162656c 1205 0a03 0a01 01", piece);
    CHECK(n == pn + 2 && !memcmp(got + 2, piece, pn));
    free(got);
    tfex_free(e);
}

static void test_decode(void)
{
    uint8_t buf[256];
    size_t n = unhex(SPEC_EXAMPLE, buf);
    TfexView v = {0};
    char err[256];
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == 0 && v.n == 3);
    const TfexFeature *f = tfex_find(&v, "image");
    const uint8_t *p;
    size_t len, k;
    CHECK(f && f->kind == TFEX_BYTES && tfex_count(f) == 1);
    CHECK(f && tfex_bytes_at(f, 0, &p, &len) == 0 && len == 3 && p[2] == 2);
    int64_t iv[4];
    f = tfex_find(&v, "height");
    CHECK(f && tfex_int64s(f, iv, 4, &k) == 0 && k == 1 && iv[0] == 32);
    CHECK(f && tfex_floats(f, (float *)iv, 4, &k) == -1);   /* wrong kind */
    CHECK(tfex_find(&v, "missing") == NULL);

    /* Unpacked and packed elements mixed in one Int64List, plus -1 as a
     * 10-byte varint and an unknown field (7, varint) to skip. */
    n = unhex("0a1c 0a1a 0a01 78 1215 1a13 0805 0a02 0607 08ffffffffffffffffff01 3801", buf);
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == 0);
    f = tfex_find(&v, "x");
    CHECK(f && tfex_count(f) == 4);
    CHECK(f && tfex_int64s(f, iv, 4, &k) == 0 && k == 4 && iv[0] == 5 && iv[1] == 6 && iv[2] == 7 && iv[3] == -1);

    /* Unpacked floats (wire type 5), and a repeated key: the last entry wins. */
    n = unhex("0a1f 0a0c 0a01 66 1207 1205 0d0000803f 0a0f 0a01 66 120a 1a08 0a06 0101 0202 0303", buf);
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == 0 && v.n == 1);
    f = tfex_find(&v, "f");
    CHECK(f && f->kind == TFEX_INT64S && tfex_count(f) == 6);
    n = unhex("0a0e 0a0c 0a01 66 1207 1205 0d0000803f", buf);
    float fv[2];
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == 0);
    f = tfex_find(&v, "f");
    CHECK(f && tfex_floats(f, fv, 2, &k) == 0 && k == 1 && fv[0] == 1.0f);

    /* An empty Feature is an empty list; a missing key is "". */
    n = unhex("0a04 0a02 1200", buf);
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == 0 && tfex_find(&v, "") && tfex_count(tfex_find(&v, "")) == 0);

    /* Malformed: a length past the end, a group wire type, a cut varint. */
    n = unhex("0a33 0a0e", buf);
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == -1 && strstr(err, "past the enclosing"));
    n = unhex("0b", buf);
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == -1 && strstr(err, "group"));
    n = unhex("0a02 0aff", buf);
    CHECK(tfex_parse(buf, n, &v, err, sizeof err) == -1);
    tfex_view_free(&v);
}

static void write_records(const char *path, int gzip, int n)
{
    char err[256];
    TfrWriter *w = tfr_writer_open(path, gzip, err, sizeof err);
    CHECK(w != NULL);
    for (int i = 0; i < n; i++) {
        uint8_t rec[300];
        size_t len = (size_t)(i * 37 % 300);
        for (size_t j = 0; j < len; j++) rec[j] = (uint8_t)(i + j);
        CHECK(tfr_write(w, rec, len, err, sizeof err) == 0);
    }
    CHECK(tfr_writer_close(w, err, sizeof err) == 0);
}

/* Reads every record; returns how many were good, err holds the stop reason. */
static int read_all(const char *path, char *err, TfrCompression *comp)
{
    TfrReader *r = tfr_reader_open(path, err, 256);
    if (!r) return -1;
    const uint8_t *d;
    size_t len;
    int n = 0, rc;
    err[0] = 0;
    while ((rc = tfr_read(r, &d, &len, err, 256)) == 1) {
        int ok = len == (size_t)(n * 37 % 300);
        for (size_t j = 0; ok && j < len; j++) ok = d[j] == (uint8_t)(n + j);
        CHECK(ok);
        n++;
    }
    if (comp) *comp = tfr_reader_compression(r);
    tfr_reader_close(r);
    return rc == 0 ? n : -(n + 2);
}

static void test_round_trips(void)
{
    char path[300], err[256];
    TfrCompression comp;
    snprintf(path, sizeof path, "%s/plain.tfrecord", dir);
    write_records(path, 0, 50);
    CHECK(read_all(path, err, &comp) == 50 && comp == TFR_PLAIN);
    snprintf(path, sizeof path, "%s/gz.tfrecord", dir);
    write_records(path, 1, 50);
    CHECK(read_all(path, err, &comp) == 50 && comp == TFR_GZIP);

    /* Two gzip members back to back read as one stream. */
    size_t n;
    uint8_t *gz = slurp(path, &n);
    uint8_t *two = xmalloc(2 * n);
    memcpy(two, gz, n);
    memcpy(two + n, gz, n);
    snprintf(path, sizeof path, "%s/gz2.tfrecord", dir);
    spit(path, two, 2 * n);
    TfrReader *r = tfr_reader_open(path, err, sizeof err);
    const uint8_t *d;
    size_t len;
    int k = 0;
    while (tfr_read(r, &d, &len, err, sizeof err) == 1) k++;
    CHECK(k == 100);
    tfr_reader_close(r);
    free(two);
    free(gz);

    /* ZLIB: the plain bytes wrapped with compress2. */
    snprintf(path, sizeof path, "%s/plain.tfrecord", dir);
    uint8_t *plain = slurp(path, &n);
    uLongf zn = compressBound(n);
    uint8_t *z = xmalloc(zn);
    CHECK(compress2(z, &zn, plain, n, 6) == Z_OK);
    snprintf(path, sizeof path, "%s/z.tfrecord", dir);
    spit(path, z, zn);
    CHECK(read_all(path, err, &comp) == 50 && comp == TFR_ZLIB);
    free(z);
    free(plain);
}

static void test_skip_and_pread(void)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/plain.tfrecord", dir);
    TfrReader *r = tfr_reader_open(path, err, sizeof err);
    uint64_t off[50];
    size_t len[50];
    int n = 0;
    while (n < 50 && tfr_skip(r, &off[n], &len[n], err, sizeof err) == 1) n++;
    CHECK(n == 50 && tfr_skip(r, &off[0], &len[0], err, sizeof err) == 0);
    tfr_reader_close(r);
    FILE *fp = fopen(path, "rb");
    uint8_t buf[300];
    for (int i = 49; i >= 0; i -= 3) {
        CHECK(tfr_pread(fileno(fp), path, i, off[i], len[i], buf, err, sizeof err) == 0);
        CHECK(len[i] == 0 || buf[len[i] - 1] == (uint8_t)(i + len[i] - 1));
    }
    fclose(fp);
}

/* Record 3 of plain.tfrecord starts after records 0..2 (lengths 0, 37, 74). */
static void test_corruption(void)
{
    char path[300], err[256];
    size_t n;
    snprintf(path, sizeof path, "%s/plain.tfrecord", dir);
    uint8_t *good = slurp(path, &n);
    uint8_t *bad = xmalloc(n);
    size_t rec3 = 16 * 3 + 0 + 37 + 74;
    snprintf(path, sizeof path, "%s/bad.tfrecord", dir);

    memcpy(bad, good, n);
    bad[rec3 + 12 + 5] ^= 0x40;                          /* a data byte */
    spit(path, bad, n);
    CHECK(read_all(path, err, NULL) == -(3 + 2) && strstr(err, "record 3: bad data checksum") && strstr(err, path));

    memcpy(bad, good, n);
    bad[rec3 + 2] ^= 0x01;                               /* a length byte */
    spit(path, bad, n);
    CHECK(read_all(path, err, NULL) == -(3 + 2) && strstr(err, "record 3: bad length checksum"));

    spit(path, good, rec3 + 12 + 20);                    /* cut inside record 3 */
    CHECK(read_all(path, err, NULL) == -(3 + 2) && strstr(err, "record 3: truncated"));
    spit(path, good, rec3 + 7);                          /* cut inside its header */
    CHECK(read_all(path, err, NULL) == -(3 + 2) && strstr(err, "record 3: truncated"));
    spit(path, good, rec3);                              /* a clean boundary */
    CHECK(read_all(path, err, NULL) == 3);

    /* GZIP: a cut stream and a corrupt one are reported, never read as fine. */
    snprintf(path, sizeof path, "%s/gz.tfrecord", dir);
    free(good);
    good = slurp(path, &n);
    snprintf(path, sizeof path, "%s/bad.gz", dir);
    spit(path, good, n / 2);
    CHECK(read_all(path, err, NULL) < -1 && strstr(err, "truncated"));
    memcpy(bad, good, n);
    bad[n / 2] ^= 0xff;
    spit(path, bad, n);
    CHECK(read_all(path, err, NULL) < -1 && (strstr(err, "corrupt") || strstr(err, "checksum")));
    free(good);
    free(bad);

    CHECK(tfr_reader_open("/nonexistent/x.tfrecord", err, sizeof err) == NULL && strstr(err, "/nonexistent/x"));
}

static void test_abort_leaves_no_file(void)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/aborted.tfrecord", dir);
    TfrWriter *w = tfr_writer_open(path, 1, err, sizeof err);
    tfr_write(w, "abc", 3, err, sizeof err);
    tfr_writer_abort(w);
    CHECK(access(path, F_OK) != 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cssm_test_tfrecord_XXXXXX");
    if (!mkdtemp(dir)) die("cannot create a temporary folder");
    test_crc();
    test_encode_vectors();
    test_decode();
    test_round_trips();
    test_skip_and_pread();
    test_corruption();
    test_abort_leaves_no_file();
    char *cmd = xprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(cmd);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
