/* cache.c: the on-disk kernel cache and the SHA-256 that keys it.
 *
 * A cache entry is a file DIR/KEY.EXT, where KEY is the hex SHA-256 of every
 * input that can change the artifact (source, compiler identity, target,
 * options, cssmc version; the callers choose the fields) and DIR is
 * $XDG_CACHE_HOME/cssmc or ~/.cache/cssmc. Because the key covers all inputs,
 * an entry never goes stale and is never rewritten with different content, so
 * there is no index and no locking: writers create a unique temp file in DIR,
 * fsync it and rename it over the final name. rename is atomic within one
 * file system, so a concurrent reader sees no file or the whole file; two
 * writers racing on one key both install identical bytes.
 *
 * SHA-256 is FIPS 180-4, written out here (it is small) so that the runtime
 * needs no crypto library; the unit test checks it against the standard
 * test vectors. */
#include "jit.h"
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SHA-256 ---------------------------------------------------------- */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The message schedule for one 64-byte block. */
static void sha256_schedule(const unsigned char *block, uint32_t w[64])
{
    for (int i = 0; i < 16; i++) w[i] = load_be32(block + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
}

static void sha256_compress(uint32_t state[8], const unsigned char *block)
{
    uint32_t w[64], v[8];
    sha256_schedule(block, w);
    memcpy(v, state, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
        uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + s1 + ch + sha256_k[i] + w[i];
        uint32_t s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
        uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + s0 + maj;
    }
    for (int i = 0; i < 8; i++) state[i] += v[i];
}

void cssm_hash_init(CssmHash *h)
{
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    memcpy(h->state, iv, sizeof iv);
    h->total = 0;
    h->fill = 0;
}

void cssm_hash_update(CssmHash *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    h->total += n;
    while (n > 0) {
        size_t take = MIN(n, sizeof h->block - h->fill);
        memcpy(h->block + h->fill, p, take);
        h->fill += take, p += take, n -= take;
        if (h->fill == sizeof h->block) {
            sha256_compress(h->state, h->block);
            h->fill = 0;
        }
    }
}

/* Length first, so the boundary between fields is part of what is hashed.
 * NULL hashes differently from "" (an all-ones length). */
void cssm_hash_field(CssmHash *h, const char *s)
{
    uint64_t len = s ? strlen(s) : UINT64_MAX;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(len >> (8 * i));
    cssm_hash_update(h, le, sizeof le);
    if (s) cssm_hash_update(h, s, len);
}

void cssm_hash_final(CssmHash *h, unsigned char digest[32])
{
    uint64_t bits = h->total * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (h->fill < 56 ? 56 : 120) - h->fill;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    cssm_hash_update(h, pad, padlen + 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            digest[4 * i + j] = (unsigned char)(h->state[i] >> (24 - 8 * j));
}

void cssm_hash_hex(CssmHash *h, char hex[CSSM_KEY_LEN + 1])
{
    unsigned char digest[32];
    cssm_hash_final(h, digest);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

void cssm_cache_key_begin(CssmHash *h, const char *kind)
{
    cssm_hash_init(h);
    cssm_hash_field(h, kind);
    cssm_hash_field(h, CSSM_VERSION);
}

/* ---- the directory ---------------------------------------------------- */

/* mkdir -p, each missing level with mode 0700. */
static int make_dirs(const char *dir, char *why, size_t n)
{
    char *path = xstrdup(dir);
    for (char *p = path + 1;; p++) {
        bool end = *p == 0;
        if (*p != '/' && !end) continue;
        *p = 0;
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            snprintf(why, n, "cache: cannot create directory '%s': %s", path, strerror(errno));
            free(path);
            return -1;
        }
        if (end) break;
        *p = '/';
    }
    free(path);
    return 0;
}

static int check_writable_dir(const char *dir, char *why, size_t n)
{
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, n, "cache: '%s' is not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        snprintf(why, n, "cache: directory '%s' is not writable: %s "
                 "(set XDG_CACHE_HOME to a writable directory)", dir, strerror(errno));
        return -1;
    }
    return 0;
}

char *cssm_cache_dir(char *why, size_t n)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir;
    /* The XDG spec says to ignore a relative XDG_CACHE_HOME. */
    if (xdg && xdg[0] == '/') dir = xprintf("%s/cssmc", xdg);
    else if (home && home[0]) dir = xprintf("%s/.cache/cssmc", home);
    else {
        snprintf(why, n, "cache: neither XDG_CACHE_HOME nor HOME is set");
        return NULL;
    }
    if (make_dirs(dir, why, n) < 0 || check_writable_dir(dir, why, n) < 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

char *cssm_cache_path(const char *key, const char *ext)
{
    char *dir = cssm_cache_dir(NULL, 0);
    if (!dir) return NULL;
    char *path = xprintf("%s/%s.%s", dir, key, ext);
    free(dir);
    return path;
}

/* ---- reading and writing entries -------------------------------------- */

static bool read_whole_fd(int fd, void **data, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return false;
    size_t len = (size_t)st.st_size, got = 0;
    char *buf = xmalloc(len);
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got != len) {
        free(buf);
        return false;
    }
    *data = buf;
    *size = len;
    return true;
}

bool cssm_cache_read(const char *key, const char *ext, void **data, size_t *size)
{
    char *path = cssm_cache_path(key, ext);
    if (!path) return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) return false;
    bool ok = read_whole_fd(fd, data, size);
    close(fd);
    return ok;
}

static int write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w, size -= (size_t)w;
    }
    return 0;
}

/* Unique across processes (pid) and threads (a process-wide sequence). The
 * leading dot keeps temp files out of a plain `ls` of the cache. */
char *cssm_cache_temp(const char *key, const char *ext, char *why, size_t n)
{
    static atomic_uint seq;
    char *dir = cssm_cache_dir(why, n);
    if (!dir) return NULL;
    char *tmp = xprintf("%s/.tmp.%s.%s.%ld.%u", dir, key, ext, (long)getpid(),
                        atomic_fetch_add(&seq, 1));
    free(dir);
    return tmp;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int cssm_cache_install(const char *tmp, const char *key, const char *ext, char *why, size_t n)
{
    char *dest = cssm_cache_path(key, ext);
    int rc = -1;
    if (!dest) snprintf(why, n, "cache: no usable cache directory");
    else if (fsync_path(tmp) < 0 || rename(tmp, dest) < 0)
        snprintf(why, n, "cache: cannot install '%s': %s", dest, strerror(errno));
    else rc = 0;
    if (rc < 0) unlink(tmp);
    free(dest);
    return rc;
}

int cssm_cache_write(const char *key, const char *ext, const void *data, size_t size,
                     char *why, size_t n)
{
    char *tmp = cssm_cache_temp(key, ext, why, n);
    if (!tmp) return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int err = fd < 0 || write_all(fd, data, size) < 0 ? errno : 0;
    if (fd >= 0 && close(fd) < 0 && !err) err = errno;
    if (err) {
        snprintf(why, n, "cache: cannot write '%s': %s", tmp, strerror(err));
        if (fd >= 0) unlink(tmp);
        free(tmp);
        return -1;
    }
    int rc = cssm_cache_install(tmp, key, ext, why, n);
    free(tmp);
    return rc;
}
