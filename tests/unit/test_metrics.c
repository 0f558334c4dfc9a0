/* test_metrics.c: JSON, run directories, config.json, metrics and progress.
 *
 * - JSON reader: values, escapes and UTF-8, exact large integers, and
 *   errors with their line and column; writer: exact compact and indented
 *   text, shortest doubles, NaN as null; fingerprints ignore spelling only.
 * - Run directories: created with parents, a non-empty one refused unless
 *   resuming, resuming a missing one refused; config.json round trip.
 * - Metrics: every line of metrics.jsonl parses and carries the record;
 *   terminal output per mode (plain lines at the log interval, a '\r' bar,
 *   nothing when quiet); the files are appended to across opens; a process
 *   killed with SIGKILL mid-run leaves only whole lines.
 *
 * With --write-sample DIR it writes a run directory for
 * tests/train/test_outputs_python.sh to read. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "train.h"

#include "check.h"

#define CHECK_STR(got, want)                                                          \
    do {                                                                              \
        const char *got_ = (got), *want_ = (want);                                    \
        if (!got_ || strcmp(got_, want_) != 0) {                                      \
            fprintf(stderr, "%s:%d: got \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    got_ ? got_ : "(null)", want_);                                   \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static char dir[64];

static JsonValue *parse(const char *text)
{
    char err[256];
    JsonValue *v = json_parse(text, strlen(text), err, sizeof err);
    if (!v) {
        fprintf(stderr, "unexpected parse error: %s in %s\n", err, text);
        failures++;
    }
    return v;
}

/* json_parse must fail with a message containing `what`. */
static void expect_parse_error(const char *text, const char *what, int line)
{
    char err[256] = "";
    JsonValue *v = json_parse(text, strlen(text), err, sizeof err);
    if (v || !strstr(err, what)) {
        fprintf(stderr, "%s:%d: parsing %s gave \"%s\", expected \"%s\"\n", __FILE__, line, text,
                v ? "success" : err, what);
        failures++;
    }
    json_free(v);
}
#define EXPECT_PARSE_ERROR(text, what) expect_parse_error(text, what, __LINE__)

/* ---- JSON -------------------------------------------------------------- */

static void test_json_values(void)
{
    JsonValue *v = parse(" {\"a\": [1, -2.5e1, true, false, null], \"s\": \"q\\\"\\\\\\/\\n\\u00e9\\ud83d\\ude00\","
                         " \"big\": 9007199254740993, \"neg\": -0, \"e\": {}} ");
    if (!v) return;
    CHECK(v->kind == JSON_OBJECT && v->len == 5);
    const JsonValue *a = json_get(v, "a");
    CHECK(a && a->kind == JSON_ARRAY && a->len == 5);
    CHECK(a && a->items[0].integral && a->items[0].integer == 1);
    CHECK(a && !a->items[1].integral && a->items[1].number == -25.0);
    CHECK(a && a->items[2].kind == JSON_BOOL && a->items[2].boolean && !a->items[3].boolean);
    CHECK(a && a->items[4].kind == JSON_NULL);
    CHECK_STR(json_get(v, "s")->string, "q\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
    const JsonValue *big = json_get(v, "big");
    CHECK(big->integral && big->integer == 9007199254740993LL);   /* not representable as a double */
    CHECK(json_get(v, "neg")->integral && json_get(v, "neg")->integer == 0);
    CHECK(json_get(v, "e")->kind == JSON_OBJECT && json_get(v, "e")->len == 0);
    CHECK(json_get(v, "missing") == NULL && json_get(a, "a") == NULL);
    json_free(v);
    v = parse("99999999999999999999");
    CHECK(v && !v->integral && v->number == 1e20);
    json_free(v);
}

static void test_json_errors(void)
{
    EXPECT_PARSE_ERROR("{\"a\": 1,\n  \"b\": }", "line 2, column 8: expected a value");
    EXPECT_PARSE_ERROR("[1, 2,]", "expected a value");
    EXPECT_PARSE_ERROR("{\"a\": 1, \"a\": 2}", "duplicate key \"a\"");
    EXPECT_PARSE_ERROR("\"\\x\"", "invalid escape");
    EXPECT_PARSE_ERROR("\"a\tb\"", "control character");
    EXPECT_PARSE_ERROR("\"\xc3\x28\"", "invalid UTF-8");
    EXPECT_PARSE_ERROR("\"\xed\xa0\x80\"", "invalid UTF-8");     /* an encoded surrogate */
    EXPECT_PARSE_ERROR("\"\\ud800x\"", "unpaired surrogate");
    EXPECT_PARSE_ERROR("\"\\u0000\"", "not supported");
    EXPECT_PARSE_ERROR("01", "unexpected text");
    EXPECT_PARSE_ERROR("NaN", "expected a value");
    EXPECT_PARSE_ERROR("1.", "digit after '.'");
    EXPECT_PARSE_ERROR("1e+", "digit in exponent");
    EXPECT_PARSE_ERROR("\"abc", "unterminated string");
    EXPECT_PARSE_ERROR("{\"a\" 1}", "expected ':'");
    EXPECT_PARSE_ERROR("{1: 2}", "expected a string key");
    EXPECT_PARSE_ERROR("[1 2]", "expected ',' or ']'");
    EXPECT_PARSE_ERROR("{} {}", "unexpected text after");
    EXPECT_PARSE_ERROR("", "unexpected end of input");
    EXPECT_PARSE_ERROR("tru", "expected a value");
    char deep[200] = "";
    for (int i = 0; i < 65; i++) strcat(deep, "[");
    EXPECT_PARSE_ERROR(deep, "nested deeper than 64");
}

static void test_json_writer(void)
{
    JsonWriter w;
    jw_init(&w, 0);
    jw_object(&w);
    jw_key(&w, "a");
    jw_int(&w, -3);
    jw_key(&w, "b");
    jw_array(&w);
    jw_bool(&w, true);
    jw_null(&w);
    jw_string(&w, "x\"y\n\x01");
    jw_end_array(&w);
    jw_key(&w, "c");
    jw_double(&w, 0.1);
    jw_key(&w, "d");
    jw_double(&w, NAN);
    jw_key(&w, "f");
    jw_array(&w);
    jw_double(&w, 800);
    jw_double(&w, -0.0);
    jw_double(&w, 1e300);
    jw_double(&w, 2.0 / 3);
    jw_end_array(&w);
    jw_key(&w, "e");
    jw_array(&w);
    jw_end_array(&w);
    jw_end_object(&w);
    char *text = jw_take(&w);
    CHECK_STR(text, "{\"a\":-3,\"b\":[true,null,\"x\\\"y\\n\\u0001\"],\"c\":0.1,\"d\":null,\"f\":[800,-0,1e+300,0.6666666666666666],\"e\":[]}");
    free(text);

    w.indent = 2;
    jw_object(&w);
    jw_key(&w, "k");
    jw_array(&w);
    jw_int(&w, 1);
    jw_double(&w, 1e-5);
    jw_end_array(&w);
    jw_key(&w, "o");
    jw_object(&w);
    jw_end_object(&w);
    jw_end_object(&w);
    text = jw_take(&w);
    CHECK_STR(text, "{\n  \"k\": [\n    1,\n    1e-05\n  ],\n  \"o\": {}\n}");
    free(text);
    jw_free(&w);
}

static void test_json_round_trip(void)
{
    const char *text = "{\"b\":[1,2.5,\"s\"],\"a\":{\"y\":null,\"x\":true}}";
    JsonValue *v = parse(text);
    JsonWriter w;
    jw_init(&w, 0);
    jw_value(&w, v, false);
    char *out = jw_take(&w);
    CHECK_STR(out, text);
    jw_value(&w, v, true);
    free(out);
    out = jw_take(&w);
    CHECK_STR(out, "{\"a\":{\"x\":true,\"y\":null},\"b\":[1,2.5,\"s\"]}");
    free(out);
    jw_free(&w);
    JsonValue *same = parse("{ \"a\" : {\"x\":true, \"y\":null},\n \"b\":[1, 2.50, \"s\"]}");
    JsonValue *other = parse("{\"b\":[1,2.5,\"t\"],\"a\":{\"y\":null,\"x\":true}}");
    CHECK(json_fingerprint(v) == json_fingerprint(same));
    CHECK(json_fingerprint(v) != json_fingerprint(other));
    json_free(v);
    json_free(same);
    json_free(other);
}

/* ---- Run directory ----------------------------------------------------- */

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void test_rundir(void)
{
    char *run = xprintf("%s/runs/a/b", dir), *file = xprintf("%s/plain", dir), err[256];
    CHECK(rundir_prepare(run, true, err, sizeof err) == -1);
    CHECK(strstr(err, run) && strstr(err, "no run directory to resume"));
    CHECK(rundir_prepare(run, false, err, sizeof err) == 0);
    CHECK(count_entries(run) == 0);
    CHECK(rundir_prepare(run, false, err, sizeof err) == 0);   /* empty: fine */
    char hash[17], hash2[17];
    CHECK(rundir_write_config(run, "{\"lr\": 0.001, \"model\": \"scssm\", \"depth\": 1}", hash, err, sizeof err) == 0);
    CHECK(strlen(hash) == 16);
    CHECK(rundir_prepare(run, false, err, sizeof err) == -1);
    CHECK(strstr(err, run) && strstr(err, "not empty") && strstr(err, "--resume"));
    CHECK(rundir_prepare(run, true, err, sizeof err) == 0);
    JsonValue *config = rundir_read_config(run, hash2, err, sizeof err);
    CHECK(config && strcmp(hash, hash2) == 0);
    CHECK(config && json_get(config, "lr")->number == 0.001);
    CHECK_STR(config ? json_get(config, "model")->string : NULL, "scssm");
    json_free(config);
    CHECK(count_entries(run) == 1);                            /* no temporary left */
    CHECK(rundir_write_config(run, "[1]", hash, err, sizeof err) == -1 && strstr(err, "JSON object"));
    CHECK(rundir_write_config(run, "{\"a\":", hash, err, sizeof err) == -1 && strstr(err, "config.json"));
    FILE *f = fopen(file, "w");
    fclose(f);
    CHECK(rundir_prepare(file, false, err, sizeof err) == -1 && strstr(err, "not a directory"));
    char *below = xprintf("%s/x", file);
    CHECK(rundir_prepare(below, false, err, sizeof err) == -1 && strstr(err, below));
    char *bad = xprintf("%s/runs/a/b/config.json", dir);
    f = fopen(bad, "w");
    fputs("{\n  \"lr\": 1,\n  \"lr\": 2\n}\n", f);
    fclose(f);
    CHECK(rundir_read_config(run, hash, err, sizeof err) == NULL);
    CHECK(strstr(err, bad) && strstr(err, "line 3") && strstr(err, "duplicate key"));
    free(bad);
    free(below);
    free(run);
    free(file);
}

/* ---- Metrics ----------------------------------------------------------- */

static StepRecord step_record(int64_t step, int64_t total)
{
    return (StepRecord){.epoch = (step - 1) / 3, .epochs = (total + 2) / 3, .step = step,
                        .total_steps = total, .loss = 0.5 + 1.0 / (double)step, .acc = 0.25,
                        .lr = 1e-4, .grad_norm = 0.75, .samples = 8, .seconds = 0.01};
}

static char *read_all(FILE *f)
{
    fflush(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    char *s = xmalloc((size_t)n + 1);
    rewind(f);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    return s;
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

/* Every line of metrics.jsonl, parsed; NULL-terminated. */
static JsonValue **read_jsonl(const char *run, int *n)
{
    char *path = xprintf("%s/metrics.jsonl", run), line[4096];
    FILE *f = fopen(path, "r");
    JsonValue **lines = xcalloc(256, sizeof *lines);
    *n = 0;
    while (f && *n < 255 && fgets(line, sizeof line, f)) {
        CHECK(line[strlen(line) - 1] == '\n');
        lines[(*n)++] = parse(line);
    }
    if (f) fclose(f);
    free(path);
    return lines;
}

static void free_lines(JsonValue **lines, int n)
{
    for (int i = 0; i < n; i++) json_free(lines[i]);
    free(lines);
}

static Metrics *open_metrics(const char *run, TermMode mode, bool quiet, FILE *term)
{
    char err[256];
    MetricsOptions o = {.quiet = quiet, .log_every = 2, .term = term, .mode = mode};
    Metrics *m = metrics_open(run, &o, err, sizeof err);
    if (!m) fprintf(stderr, "metrics_open: %s\n", err), failures++;
    return m;
}

static void run_five_steps(Metrics *m)
{
    for (int64_t s = 1; s <= 5; s++) {
        StepRecord r = step_record(s, 5);
        if (s == 3) r.loss = NAN, r.skipped = true;
        metrics_step(m, &r);
    }
    EvalRecord e = {.epoch = 1, .split = "val", .loss = 0.4, .acc = 0.875, .best_acc = 0.875,
                    .is_best = true, .seconds = 1.5};
    metrics_eval(m, &e);
    metrics_note(m, "early stopping after %d epochs", 2);
}

static void test_metrics_lines(void)
{
    char *run = xprintf("%s/lines", dir);
    mkdir(run, 0777);
    FILE *term = tmpfile();
    Metrics *m = open_metrics(run, TERM_LINES, false, term);
    if (!m) return;
    run_five_steps(m);
    metrics_close(m);
    int n;
    JsonValue **lines = read_jsonl(run, &n);
    CHECK(n == 7);
    if (n == 7) {
        CHECK_STR(json_get(lines[0], "event")->string, "train");
        CHECK(json_get(lines[0], "step")->integer == 1 && json_get(lines[0], "epoch")->integer == 1);
        CHECK(json_get(lines[0], "loss")->number == 1.5 && json_get(lines[0], "samples")->integer == 8);
        CHECK(json_get(lines[3], "epoch")->integer == 2);
        CHECK(json_get(lines[2], "loss")->kind == JSON_NULL);      /* NaN is not JSON */
        CHECK(json_get(lines[2], "skipped")->boolean);
        CHECK(json_get(lines[1], "time")->number > 1.6e9);
        CHECK_STR(json_get(lines[5], "event")->string, "eval");
        CHECK(json_get(lines[5], "acc")->number == 0.875 && json_get(lines[5], "is_best")->boolean);
        CHECK_STR(json_get(lines[6], "message")->string, "early stopping after 2 epochs");
    }
    free_lines(lines, n);
    char *out = read_all(term);
    /* Steps 2, 3 (skipped), 4, 5 (last), the eval and the note. */
    CHECK(count_char(out, '\n') == 6 && !strchr(out, '\r'));
    CHECK(strstr(out, "step 2/5  epoch 1/2") && strstr(out, "step 5/5  epoch 2/2"));
    CHECK(strstr(out, "update skipped") && strstr(out, "ETA") && strstr(out, "samples/s"));
    CHECK(!strstr(out, "step 1/5"));
    CHECK(strstr(out, "val acc 0.8750") && strstr(out, "early stopping after 2 epochs"));
    free(out);
    fclose(term);
    char *log_path = xprintf("%s/train.log", run);
    FILE *log = fopen(log_path, "r");
    char *text = log ? read_all(log) : xstrdup("");
    CHECK(count_char(text, '\n') == 6 && strstr(text, "step 4/5"));
    if (log) fclose(log);
    free(text);
    free(log_path);
    free(run);
}

static void test_metrics_bar(void)
{
    char *run = xprintf("%s/bar", dir);
    mkdir(run, 0777);
    FILE *term = tmpfile();
    Metrics *m = open_metrics(run, TERM_BAR, false, term);
    if (!m) return;
    run_five_steps(m);
    metrics_close(m);
    char *out = read_all(term);
    CHECK(strstr(out, "\repoch 1/2 [") && strstr(out, "] 1/5") && strstr(out, "ETA"));
    CHECK(strstr(out, "\repoch 2/2 [########################] 5/5"));
    CHECK(strstr(out, "\033[K\nepoch 2  val loss"));       /* the bar line ends before text */
    CHECK(!strstr(out, "step 2/5"));                       /* plain lines go to the log only */
    CHECK(out[strlen(out) - 1] == '\n');
    free(out);
    fclose(term);
    free(run);
}

static void test_metrics_quiet_and_append(void)
{
    char *run = xprintf("%s/quiet", dir);
    mkdir(run, 0777);
    FILE *term = tmpfile();
    Metrics *m = open_metrics(run, TERM_AUTO, true, term);
    if (!m) return;
    run_five_steps(m);
    metrics_close(m);
    m = open_metrics(run, TERM_LINES, true, term);
    StepRecord r = step_record(6, 9);
    metrics_step(m, &r);
    metrics_close(m);
    char *out = read_all(term);
    CHECK(out[0] == 0);
    free(out);
    fclose(term);
    int n;
    JsonValue **lines = read_jsonl(run, &n);
    CHECK(n == 8 && json_get(lines[7], "step")->integer == 6);
    free_lines(lines, n);
    char err[256], *missing = xprintf("%s/none/such", dir);
    MetricsOptions o = {.log_every = 1};
    CHECK(metrics_open(missing, &o, err, sizeof err) == NULL && strstr(err, "metrics.jsonl"));
    free(missing);
    free(run);
}

/* A child writes 40 steps and is killed without closing anything: every
 * line it wrote must be in the file, whole. */
static void test_metrics_survive_kill(void)
{
    char *run = xprintf("%s/killed", dir);
    mkdir(run, 0777);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *term = fopen("/dev/null", "w");
        Metrics *m = open_metrics(run, TERM_LINES, true, term);
        for (int64_t s = 1; m && s <= 40; s++) {
            StepRecord r = step_record(s, 100);
            metrics_step(m, &r);
        }
        raise(SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int n;
    JsonValue **lines = read_jsonl(run, &n);
    CHECK(n == 40);
    for (int i = 0; i < n; i++) CHECK(lines[i] && json_get(lines[i], "step")->integer == i + 1);
    free_lines(lines, n);
    free(run);
}

/* ---- Sample run directory for the Python check ------------------------ */

static int write_sample(const char *run)
{
    char err[256], hash[17];
    if (rundir_prepare(run, false, err, sizeof err) != 0 ||
        rundir_write_config(run, "{\"model\": \"scssm\", \"lr\": 0.001, \"epochs\": 2, \"note\": "
                            "\"tab\\there \\u00e9\"}", hash, err, sizeof err) != 0)
        return fprintf(stderr, "%s\n", err), 1;
    FILE *term = fopen("/dev/null", "w");
    Metrics *m = open_metrics(run, TERM_LINES, true, term);
    if (!m) return 1;
    run_five_steps(m);
    metrics_close(m);
    fclose(term);
    printf("%s\n", hash);
    return 0;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *child = xprintf("%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(child);
        else unlink(child);
        free(child);
    }
    if (d) closedir(d);
    rmdir(path);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-sample") == 0) return write_sample(argv[2]);
    if (argc > 1) return fprintf(stderr, "usage: %s [--write-sample DIR]\n", argv[0]), 2;
    snprintf(dir, sizeof dir, "/tmp/test_metrics.XXXXXX");
    if (!mkdtemp(dir)) die("mkdtemp failed");
    test_json_values();
    test_json_errors();
    test_json_writer();
    test_json_round_trip();
    test_rundir();
    test_metrics_lines();
    test_metrics_bar();
    test_metrics_quiet_and_append();
    test_metrics_survive_kill();
    remove_tree(dir);
    if (failures) {
        fprintf(stderr, "test_metrics: %d checks failed\n", failures);
        return 1;
    }
    printf("test_metrics: ok\n");
    return 0;
}
