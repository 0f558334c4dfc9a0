/* test_batchnorm.c: batchnorm(C) in its three modes, against the formulas.
 *
 * A model probing y[B, T, C] = n(x), a BatchNorm over B and T, and
 * returning y summed over T:
 *   - the forward graph (evaluation) normalises with the running averages,
 *     states "n.mean" (zeros) and "n.var" (ones) that are neither trained
 *     (no gradient) nor counted among the parameters;
 *   - the training graph normalises with the batch's mean and biased
 *     variance and probes the averages' next values, momentum * average +
 *     (1 - momentum) * batch statistic, under the states' paths;
 *   - --bn-train-mode normalises with the batch's statistics outside
 *     training, and probes nothing;
 *   - an instance applied twice in a training graph updates twice, the
 *     second update starting from the first (Flax's in-place update);
 *   - a momentum outside [0, 1] is an error at its source. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "driver.h"
#include "exec.h"
#include "check.h"

enum { B = 4, T = 3, C = 2 };

static const char *write_model(const char *layer, const char *body)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_batchnorm_%d.cssm", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f, "model tiny(x: f32[B, T = %d, C = %d]) {\n    param n = %s\n    h = %s\n    probe y = h\n"
               "    return sum(h, over = [T])\n}\n", T, C, layer, body);
    fclose(f);
    return path;
}

static Options options(const char *path, const char *flag)
{
    char *argv[] = {"check", (char *)path, "--batch", "4", (char *)flag};
    Options o;
    if (parse_options(flag ? 5 : 4, argv, OPT_MODEL, "", &o)) abort();
    return o;
}

static int node_of(Graph *g, const char *path, bool probe)
{
    if (probe) {
        for (int i = 0; i < g->probes.len; i++)
            if (!strcmp(g->probes.data[i].name, path)) return g->probes.data[i].node;
        return -1;
    }
    for (int i = 0; i < g->params.len; i++)
        if (!strcmp(g->params.data[i].path, path)) return g->params.data[i].node;
    return -1;
}

static int input_named(Graph *g, const char *name)
{
    for (int i = 0; i < g->inputs.len; i++)
        if (!strcmp(g->inputs.data[i].name, name)) return g->inputs.data[i].node;
    return -1;
}

static float x_at(int b, int t, int c) { return (float)(0.5 * b - 0.75 * t * t + 2 * c + 0.125 * b * c); }

static void fill_x(float *x)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) x[(b * T + t) * C + c] = x_at(b, t, c);
}

/* The batch's mean and biased variance of channel c. */
static void batch_stats(int c, double *mean, double *var)
{
    double s = 0, sq = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) s += x_at(b, t, c), sq += x_at(b, t, c) * x_at(b, t, c);
    *mean = s / (B * T);
    *var = sq / (B * T) - *mean * *mean;
}

/* The running averages fed in, and the scale and bias (index c). */
static const float avg_mean[C] = {0.5f, -1}, avg_var[C] = {2, 0.25f}, scale[C] = {1.5f, -0.5f}, bias[C] = {0.25f, 3};

/* Runs g on ref with x, the averages, scale and bias; y gets the output,
 * next_mean and next_var the probes (when present). */
static void run(Graph *g, float *y, float *next_mean, float *next_var)
{
    char err[256];
    Exec *e = exec_new(g, DEV_REF, false, err, sizeof err);
    float x[B * T * C], ones[B * T * C], zeros[B * T * C] = {0};
    fill_x(x);
    for (int i = 0; i < B * T * C; i++) ones[i] = 1;
    exec_set(e, input_named(g, "x"), x);
    exec_set(e, node_of(g, "n.mean", false), avg_mean);
    exec_set(e, node_of(g, "n.var", false), avg_var);
    exec_set(e, node_of(g, "n.scale", false), scale);
    exec_set(e, node_of(g, "n.bias", false), bias);
    int targets = input_named(g, "targets");
    if (targets >= 0) exec_set(e, targets, zeros);
    if (g->grads.len) exec_set(e, g->loss_seed, ones);
    exec_run(e);
    if (y) exec_get(e, node_of(g, "y", true), y);
    if (node_of(g, "n.mean", true) >= 0) {
        exec_get(e, node_of(g, "n.mean", true), next_mean);
        exec_get(e, node_of(g, "n.var", true), next_var);
    }
    exec_free(e);
}

static void check_normalised(const float *y, const double *mean, const double *var)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++)
                CHECK_NEAR(y[(b * T + t) * C + c], (x_at(b, t, c) - mean[c]) / sqrt(var[c] + 1e-5) * scale[c] + bias[c],
                           1e-4);
}

static void test_evaluation(const char *path)
{
    Options o = options(path, NULL);
    Graph *g = compile_model(&o, true);
    CHECK(g && g->inputs.len == 2 && g->probes.len == 1);   /* x and the output cotangent; y */
    CHECK(graph_param_count(g) == 2 * C && graph_state_count(g) == 2 * C);
    for (int p = 0; p < g->params.len; p++)
        CHECK(g->params.data[p].state == (strstr(g->params.data[p].path, "scale") == NULL
                                          && strstr(g->params.data[p].path, "bias") == NULL));
    for (int p = 0; p < g->params.len; p++)
        if (g->params.data[p].state) CHECK(g->grads.data[p] < 0);
        else CHECK(g->grads.data[p] >= 0);
    float y[B * T * C];
    run(g, y, NULL, NULL);
    double mean[C] = {avg_mean[0], avg_mean[1]}, var[C] = {avg_var[0], avg_var[1]};
    check_normalised(y, mean, var);
    graph_free(g);
}

static void test_training(const char *path, double momentum)
{
    Options o = options(path, NULL);
    Graph *g = compile_training(&o);
    CHECK(g != NULL);
    float y[B * T * C], nm[C], nv[C];
    run(g, y, nm, nv);
    double mean[C], var[C];
    for (int c = 0; c < C; c++) {
        batch_stats(c, &mean[c], &var[c]);
        CHECK_NEAR(nm[c], momentum * avg_mean[c] + (1 - momentum) * mean[c], 1e-5);
        CHECK_NEAR(nv[c], momentum * avg_var[c] + (1 - momentum) * var[c], 1e-4);
    }
    check_normalised(y, mean, var);
    graph_free(g);
}

static void test_batch_stats_outside_training(const char *path)
{
    Options o = options(path, "--bn-train-mode");
    Graph *g = compile_model(&o, false);
    CHECK(g && g->probes.len == 1);
    float y[B * T * C];
    run(g, y, NULL, NULL);
    double mean[C], var[C];
    for (int c = 0; c < C; c++) batch_stats(c, &mean[c], &var[c]);
    check_normalised(y, mean, var);
    graph_free(g);
}

/* n(n(x)): the second call sees the first's output, whose batch mean is the
 * bias and whose variance is scale^2 var / (var + eps); its update starts
 * from the first update. */
static void test_applied_twice(void)
{
    const char *path = write_model("batchnorm(C)", "n(n(x))");
    Options o = options(path, NULL);
    Graph *g = compile_training(&o);
    CHECK(g && g->probes.len == 4);   /* y, logits, n.mean, n.var */
    float nm[C], nv[C];
    run(g, NULL, nm, nv);
    for (int c = 0; c < C; c++) {
        double mean, var;
        batch_stats(c, &mean, &var);
        double var2 = scale[c] * scale[c] * var / (var + 1e-5);
        double m1 = 0.99 * avg_mean[c] + 0.01 * mean, v1 = 0.99 * avg_var[c] + 0.01 * var;
        CHECK_NEAR(nm[c], 0.99 * m1 + 0.01 * bias[c], 1e-5);
        CHECK_NEAR(nv[c], 0.99 * v1 + 0.01 * var2, 1e-4);
    }
    graph_free(g);
    unlink(path);
}

static void test_bad_momentum(void)
{
    const char *path = write_model("batchnorm(C, momentum = 1.5)", "n(x)");
    FILE *saved = stderr, *log = tmpfile();
    stderr = log;
    Options o = options(path, NULL);
    Graph *g = compile_model(&o, false);
    stderr = saved;
    CHECK(g == NULL);
    char text[2048] = "";
    rewind(log);
    text[fread(text, 1, sizeof text - 1, log)] = 0;
    fclose(log);
    CHECK(strstr(text, ":2:") && strstr(text, "momentum must be a number in [0, 1]"));
    diag_reset();
    unlink(path);
}

int main(void)
{
    const char *path = write_model("batchnorm(C)", "n(x)");
    test_evaluation(path);
    test_training(path, 0.99);
    test_batch_stats_outside_training(path);
    path = write_model("batchnorm(C, momentum = 0.9)", "n(x)");
    test_training(path, 0.9);
    unlink(path);
    test_applied_twice();
    test_bad_momentum();
    if (!failures) printf("test_batchnorm: ok\n");
    return failures ? 1 : 0;
}
