/* atomic.c: atomic file writes and the error-message helper of the data layer.
 *
 * A user file is never written in place: the bytes go to a temporary in the
 * same folder (so rename cannot cross file systems), which is flushed,
 * fsynced and renamed over the target, and then the folder itself is fsynced
 * so the rename survives a crash. A reader therefore sees either the old file
 * or the complete new one. Assumes POSIX rename semantics. */
#include "formats.h"
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int outfile_open(OutFile *f, const char *path, char *err, size_t errlen)
{
    f->path = xstrdup(path);
    f->tmp = xprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        int e = errno;
        free(f->path);
        free(f->tmp);
        f->fp = NULL;
        return errf(err, errlen, "%s: cannot create: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; datasets are meant to be shared like any output. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    f->fp = fdopen(fd, "wb");
    return 0;
}

static void fsync_parent(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

static void outfile_release(OutFile *f)
{
    free(f->path);
    free(f->tmp);
    f->path = f->tmp = NULL;
    f->fp = NULL;
}

int outfile_commit(OutFile *f, char *err, size_t errlen)
{
    int bad = ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
    int e = errno;
    bad |= fclose(f->fp) != 0;
    if (bad || rename(f->tmp, f->path) != 0) {
        if (!bad) e = errno;
        errf(err, errlen, "%s: write failed: %s", f->path, strerror(e));
        unlink(f->tmp);
        outfile_release(f);
        return -1;
    }
    fsync_parent(f->path);
    outfile_release(f);
    return 0;
}

void outfile_abort(OutFile *f)
{
    if (!f->fp) return;
    fclose(f->fp);
    unlink(f->tmp);
    outfile_release(f);
}

int atomic_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    OutFile f;
    if (outfile_open(&f, path, err, errlen)) return -1;
    fwrite(data, 1, len, f.fp);
    return outfile_commit(&f, err, errlen);
}

int make_dirs(const char *path, char *err, size_t errlen)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        mkdir(p, 0777);
        *s = '/';
    }
    int rc = mkdir(p, 0777);
    int e = errno;
    struct stat st;
    int ok = rc == 0 || (stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    free(p);
    if (!ok) return errf(err, errlen, "%s: cannot create folder: %s", path, strerror(e));
    return 0;
}
