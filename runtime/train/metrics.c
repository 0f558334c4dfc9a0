/* metrics.c: what a training run writes besides checkpoints.
 *
 * A run directory holds config.json (written atomically, fingerprinted so a
 * checkpoint can tell which config it belongs to), metrics.jsonl (one JSON
 * object per step, evaluation and note, for programs) and train.log (the
 * same events as text, for people). Both logs are opened for appending and
 * flushed after every line, so a resumed run adds to them and a killed run
 * loses at most the line being written. The terminal gets a progress bar
 * redrawn in place when it is a tty (at most ten times a second), one line
 * per log interval when it is not (and one for every skipped update, which
 * is worth seeing), and nothing when quiet.
 *
 * Epochs are 0-based in the records and 1-based in everything written, as in
 * the reference's logs. A failed log write (disk full) ends the process with
 * a message naming the file: a run that cannot record itself should stop. */
#include "train.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

#define BAR_WIDTH 24
#define BAR_REDRAW_SECONDS 0.1

struct Metrics {
    FILE *jsonl, *log, *term;
    char *jsonl_path, *log_path;
    MetricsOptions o;
    bool bar, bar_visible;
    double last_draw;      /* monotonic seconds of the last bar redraw */
    double step_seconds;   /* moving average of step time, for rate and ETA */
};

static double unix_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

static void write_line(FILE *f, const char *path, const char *text)
{
    if (fputs(text, f) < 0 || fputc('\n', f) < 0 || fflush(f) != 0)
        die("%s: write failed: %s", path, strerror(errno));
}

static FILE *open_append(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "a");
    if (!f) snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
    return f;
}

Metrics *metrics_open(const char *dir, const MetricsOptions *o, char *err, size_t errlen)
{
    Metrics *m = xcalloc(1, sizeof *m);
    m->o = *o;
    if (m->o.log_every < 1) m->o.log_every = 1;
    m->term = o->term ? o->term : stderr;
    m->bar = !o->quiet && (o->mode == TERM_BAR || (o->mode == TERM_AUTO && isatty(fileno(m->term))));
    m->jsonl_path = xprintf("%s/metrics.jsonl", dir);
    m->log_path = xprintf("%s/train.log", dir);
    m->jsonl = open_append(m->jsonl_path, err, errlen);
    m->log = m->jsonl ? open_append(m->log_path, err, errlen) : NULL;
    if (m->log) return m;
    metrics_close(m);
    return NULL;
}

void metrics_close(Metrics *m)
{
    if (!m) return;
    if (m->bar_visible) fputc('\n', m->term);
    if (m->jsonl) fclose(m->jsonl);
    if (m->log) fclose(m->log);
    free(m->jsonl_path);
    free(m->log_path);
    free(m);
}

/* ---- Text ------------------------------------------------------------- */

static void format_eta(char *buf, size_t n, double seconds)
{
    long s = !isfinite(seconds) || seconds < 0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60) snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, n, "%lds", s);
}

/* "loss 0.6931  acc 0.5000  812 samples/s  ETA 6m01s": shared by bar and lines. */
static void format_progress(const Metrics *m, const StepRecord *r, char *buf, size_t n)
{
    char eta[32];
    format_eta(eta, sizeof eta, (double)(r->total_steps - r->step) * m->step_seconds);
    double rate = m->step_seconds > 0 ? (double)r->samples / m->step_seconds : 0;
    snprintf(buf, n, "loss %.4f  acc %.4f  %.0f samples/s  ETA %s%s", r->loss, r->acc, rate, eta,
             r->skipped ? "  [update skipped: non-finite gradients]" : "");
}

static void format_step_line(const Metrics *m, const StepRecord *r, char *buf, size_t n)
{
    char progress[160];
    format_progress(m, r, progress, sizeof progress);
    snprintf(buf, n, "step %lld/%lld  epoch %lld/%lld  lr %.3e  %s", (long long)r->step,
             (long long)r->total_steps, (long long)r->epoch + 1, (long long)r->epochs, r->lr, progress);
}

static void draw_bar(Metrics *m, const StepRecord *r)
{
    char bar[BAR_WIDTH + 1], progress[160];
    int filled = r->total_steps > 0 ? (int)(BAR_WIDTH * r->step / r->total_steps) : 0;
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = 0;
    format_progress(m, r, progress, sizeof progress);
    /* \033[K clears what a longer previous line left on the right. */
    fprintf(m->term, "\repoch %lld/%lld [%s] %lld/%lld  %s\033[K", (long long)r->epoch + 1,
            (long long)r->epochs, bar, (long long)r->step, (long long)r->total_steps, progress);
    fflush(m->term);
    m->bar_visible = true;
}

/* A line for people: train.log (with the time) and, unless quiet, the terminal. */
static void emit_text(Metrics *m, const char *text, bool to_term)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    char *line = xprintf("%s  %s", stamp, text);
    write_line(m->log, m->log_path, line);
    free(line);
    if (!to_term || m->o.quiet) return;
    if (m->bar_visible) fputc('\n', m->term);
    m->bar_visible = false;
    fprintf(m->term, "%s\n", text);
    fflush(m->term);
}

/* ---- Records ---------------------------------------------------------- */

static void begin_record(JsonWriter *w, const char *event)
{
    jw_init(w, 0);
    jw_object(w);
    jw_key(w, "event");
    jw_string(w, event);
    jw_key(w, "time");
    jw_double(w, round(unix_seconds() * 1000) / 1000);
}

static void end_record(Metrics *m, JsonWriter *w)
{
    jw_end_object(w);
    char *text = jw_take(w);
    write_line(m->jsonl, m->jsonl_path, text);
    free(text);
    jw_free(w);
}

static void jw_key_double(JsonWriter *w, const char *key, double x) { jw_key(w, key); jw_double(w, x); }
static void jw_key_int(JsonWriter *w, const char *key, int64_t x) { jw_key(w, key); jw_int(w, x); }

static void write_step_json(Metrics *m, const StepRecord *r)
{
    JsonWriter w;
    begin_record(&w, "train");
    jw_key_int(&w, "epoch", r->epoch + 1);
    jw_key_int(&w, "step", r->step);
    jw_key_int(&w, "total_steps", r->total_steps);
    jw_key_double(&w, "loss", r->loss);
    jw_key_double(&w, "acc", r->acc);
    jw_key_double(&w, "lr", r->lr);
    jw_key_double(&w, "grad_norm", r->grad_norm);
    jw_key(&w, "skipped");
    jw_bool(&w, r->skipped);
    jw_key_int(&w, "samples", r->samples);
    jw_key_double(&w, "step_seconds", r->seconds);
    jw_key_double(&w, "samples_per_s", r->seconds > 0 ? (double)r->samples / r->seconds : NAN);
    end_record(m, &w);
}

void metrics_step(Metrics *m, const StepRecord *r)
{
    m->step_seconds = m->step_seconds > 0 ? 0.9 * m->step_seconds + 0.1 * r->seconds : r->seconds;
    write_step_json(m, r);
    bool last = r->step == r->total_steps, interval = r->step % m->o.log_every == 0 || last;
    if (interval || r->skipped) {
        char line[320];
        format_step_line(m, r, line, sizeof line);
        emit_text(m, line, !m->bar);
    }
    double now = monotonic_seconds();
    if (m->bar && (!m->bar_visible || last || now - m->last_draw >= BAR_REDRAW_SECONDS)) {
        draw_bar(m, r);
        m->last_draw = now;
    }
}

void metrics_eval(Metrics *m, const EvalRecord *r)
{
    JsonWriter w;
    begin_record(&w, "eval");
    jw_key_int(&w, "epoch", r->epoch + 1);
    jw_key(&w, "split");
    jw_string(&w, r->split);
    jw_key_double(&w, "loss", r->loss);
    jw_key_double(&w, "acc", r->acc);
    jw_key_double(&w, "best_acc", r->best_acc);
    jw_key(&w, "is_best");
    jw_bool(&w, r->is_best);
    jw_key_double(&w, "seconds", r->seconds);
    end_record(m, &w);
    char line[256];
    snprintf(line, sizeof line, "epoch %lld  %s loss %.4f  %s acc %.4f  (best acc %.4f)%s  %.1fs",
             (long long)r->epoch + 1, r->split, r->loss, r->split, r->acc, r->best_acc,
             r->is_best ? "  saved best checkpoint" : "", r->seconds);
    emit_text(m, line, true);
}

/* Notes are one line for people; longer than the buffer, they are cut. */
void metrics_note(Metrics *m, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    JsonWriter w;
    begin_record(&w, "note");
    jw_key(&w, "message");
    jw_string(&w, text);
    end_record(m, &w);
    emit_text(m, text, true);
}

/* ---- Run directory ---------------------------------------------------- */

static int mkdir_parents(const char *dir, char *err, size_t errlen)
{
    char *path = xstrdup(dir);
    int rc = 0;
    for (char *s = path + 1; rc == 0; s++) {
        if (*s != '/' && *s != 0) continue;
        char saved = *s;
        *s = 0;
        struct stat sb;
        if (mkdir(path, 0777) != 0 && !(errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))) {
            snprintf(err, errlen, "%s: cannot create directory %s: %s", dir, path,
                     errno == EEXIST ? "a file is in the way" : strerror(errno));
            rc = -1;
        }
        *s = saved;
        if (!saved) break;
    }
    free(path);
    return rc;
}

/* 1 if dir has entries, 0 if empty, -1 if unreadable. */
static int dir_has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));)
        found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return found;
}

int rundir_prepare(const char *dir, bool resume, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (!resume) return mkdir_parents(dir, err, errlen);
        snprintf(err, errlen, "%s: no run directory to resume (%s)", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: exists and is not a directory", dir);
        return -1;
    }
    int full = dir_has_entries(dir);
    if (full < 0) {
        snprintf(err, errlen, "%s: cannot read directory: %s", dir, strerror(errno));
        return -1;
    }
    if (full && !resume) {
        snprintf(err, errlen, "%s: run directory is not empty; pass --resume to continue that run, "
                 "or choose another --out", dir);
        return -1;
    }
    return 0;
}

static void hash_hex(const JsonValue *v, char hash[17])
{
    snprintf(hash, 17, "%016llx", (unsigned long long)json_fingerprint(v));
}

int rundir_write_config(const char *dir, const char *json_text, char hash[17], char *err, size_t errlen)
{
    char *path = xprintf("%s/config.json", dir), jerr[200];
    JsonValue *v = json_parse(json_text, strlen(json_text), jerr, sizeof jerr);
    int rc = -1;
    if (!v) snprintf(err, errlen, "%s: invalid configuration JSON: %s", path, jerr);
    else if (v->kind != JSON_OBJECT) snprintf(err, errlen, "%s: the configuration must be a JSON object", path);
    else rc = 0;
    if (rc == 0) {
        JsonWriter w;
        jw_init(&w, 2);
        jw_value(&w, v, false);
        char *text = jw_take(&w);
        jw_free(&w);
        char *file = xprintf("%s\n", text);
        rc = write_file_atomic(path, file, strlen(file), err, errlen);
        free(file);
        free(text);
        hash_hex(v, hash);
    }
    json_free(v);
    free(path);
    return rc;
}

static char *read_text_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 65536 + 1 > cap) buf = xrealloc(buf, cap = 2 * cap + 65536 + 1);
        n += got = fread(buf + n, 1, 65536, f);
    } while (got > 0);
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "%s: read failed: %s", path, strerror(errno));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

JsonValue *rundir_read_config(const char *dir, char hash[17], char *err, size_t errlen)
{
    char *path = xprintf("%s/config.json", dir), jerr[200];
    size_t len;
    char *text = read_text_file(path, &len, err, errlen);
    JsonValue *v = text ? json_parse(text, len, jerr, sizeof jerr) : NULL;
    if (text && !v) snprintf(err, errlen, "%s: %s", path, jerr);
    if (v && v->kind != JSON_OBJECT) {
        snprintf(err, errlen, "%s: expected a JSON object at the top level", path);
        json_free(v);
        v = NULL;
    }
    if (v) hash_hex(v, hash);
    free(text);
    free(path);
    return v;
}
