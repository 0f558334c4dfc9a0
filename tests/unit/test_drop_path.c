/* test_drop_path.c: drop_path(x, rate, per = [...]) in both modes.
 *
 * A tiny model y[B, C] = sum over T of drop_path(x, 0.25, per = [B]):
 *   - the forward graph (evaluation) has no random input and y = sum_T x;
 *   - the training graph has one random input "rng.drop_path.0" of shape
 *     [B], and with u fed, sample b's logits are sum_T x[b] * floor(0.75 +
 *     u[b]) / 0.75: kept (scaled by 4/3) where u >= 0.25, zeroed elsewhere;
 *   - a rate outside [0, 1) or a missing `per` is an error at its source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "driver.h"
#include "exec.h"
#include "check.h"

enum { B = 4, T = 3, C = 2 };

static const char *write_model(const char *body)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_drop_path_%d.cssm", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f, "model tiny(x: f32[B, T = %d, C = %d]) -> f32[B, C] {\n    return sum(%s, over = [T])\n}\n", T, C, body);
    fclose(f);
    return path;
}

static Options options(const char *path)
{
    char *argv[] = {"check", (char *)path, "--batch", "4"};
    Options o;
    if (parse_options(4, argv, OPT_MODEL, "", &o)) abort();
    return o;
}

static int input_named(Graph *g, const char *name)
{
    for (int i = 0; i < g->inputs.len; i++)
        if (!strcmp(g->inputs.data[i].name, name)) return g->inputs.data[i].node;
    return -1;
}

static float x_at(int b, int t, int c) { return (float)(1 + b + 0.5 * t - 0.25 * c); }

static void fill_x(float *x)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) x[(b * T + t) * C + c] = x_at(b, t, c);
}

static double summed(int b, int c)
{
    double s = 0;
    for (int t = 0; t < T; t++) s += x_at(b, t, c);
    return s;
}

static void test_evaluation_is_identity(const char *path)
{
    Options o = options(path);
    Graph *g = compile_model(&o, false);
    CHECK(g && g->inputs.len == 1);
    char err[256];
    Exec *e = exec_new(g, DEV_REF, false, err, sizeof err);
    float x[B * T * C], y[B * C];
    fill_x(x);
    exec_set(e, g->inputs.data[0].node, x);
    exec_run(e);
    exec_get(e, g->output, y);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) CHECK_NEAR(y[b * C + c], summed(b, c), 1e-5);
    exec_free(e);
    graph_free(g);
}

static void test_training_masks(const char *path)
{
    Options o = options(path);
    Graph *g = compile_training(&o);
    CHECK(g != NULL);
    int u = input_named(g, "rng.drop_path.0"), x = input_named(g, "x"), targets = input_named(g, "targets");
    CHECK(u >= 0 && x >= 0 && targets >= 0);
    CHECK(node_at(g, u)->shape.rank == 1 && node_at(g, u)->shape.size[0] == B);
    int logits = -1;
    for (int i = 0; i < g->probes.len; i++)
        if (!strcmp(g->probes.data[i].name, "logits")) logits = g->probes.data[i].node;
    char err[256];
    Exec *e = exec_new(g, DEV_REF, false, err, sizeof err);
    float xs[B * T * C], us[B] = {0.1f, 0.25f, 0.9f, 0.2499f}, ts[B * C] = {0}, one = 1, y[B * C];
    fill_x(xs);
    exec_set(e, x, xs);
    exec_set(e, u, us);
    exec_set(e, targets, ts);
    exec_set(e, g->loss_seed, &one);
    exec_run(e);
    exec_get(e, logits, y);
    const bool kept[B] = {false, true, true, false};
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) CHECK_NEAR(y[b * C + c], kept[b] ? summed(b, c) / 0.75 : 0, 1e-5);
    exec_free(e);
    graph_free(g);
}

static void test_errors(void)
{
    const char *bad[] = {"drop_path(x, 1.0, per = [B])", "drop_path(x, -0.5, per = [B])", "drop_path(x, 0.5)"};
    const char *want[] = {"rate must be in [0, 1)", "rate must be in [0, 1)", "needs the axes"};
    for (int i = 0; i < 3; i++) {
        const char *path = write_model(bad[i]);
        FILE *saved = stderr, *log = tmpfile();
        stderr = log;
        Options o = options(path);
        Graph *g = compile_model(&o, false);
        stderr = saved;
        CHECK(g == NULL);
        char text[2048] = "";
        rewind(log);
        size_t n = fread(text, 1, sizeof text - 1, log);
        text[n] = 0;
        fclose(log);
        if (!strstr(text, want[i])) fprintf(stderr, "for %s expected '%s', got:\n%s", bad[i], want[i], text);
        CHECK(strstr(text, want[i]) != NULL);
        CHECK(strstr(text, ":2:") != NULL);
        diag_reset();
        unlink(path);
    }
}

int main(void)
{
    const char *path = write_model("drop_path(x, 0.25, per = [B])");
    test_evaluation_is_identity(path);
    test_training_masks(path);
    unlink(path);
    test_errors();
    if (!failures) printf("test_drop_path: ok\n");
    return failures ? 1 : 0;
}
