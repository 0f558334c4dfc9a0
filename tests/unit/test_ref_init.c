/* test_ref_init.c: parameter initialisation (runtime/init.c).
 *
 * Fans on dense, conv, (C, k, k), 1-D and scalar shapes; sample mean and
 * standard deviation of every random initializer against its exact value
 * (with a fixed seed, within 5 standard errors); truncation bounds; exact
 * constants; determinism; and independence: adding a parameter leaves the
 * values of the others unchanged. */
#include "init.h"
#include "ref_testing.h"

static void test_fans(void)
{
    struct { const char *shape; double in, out; } cases[] = {
        {"in=256,out=512", 256, 512},
        {"kh=3,kw=3,ci=16,co=32", 144, 288},
        {"C=32,k=5,k2=5", 160, 160},
        {"N=7", 7, 7},
        {"", 1, 1},
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        Shape s = shp(cases[i].shape);
        double fi, fo;
        param_fans(&s, &fi, &fo);
        CHECK(fi == cases[i].in && fo == cases[i].out, "fans of [%s]: %g, %g", cases[i].shape, fi, fo);
    }
}

static void add_param(Graph *g, const char *path, const char *shape, Init init)
{
    Param p = {.path = path, .shape = shp(shape), .init = init, .node = -1};
    vec_push(&g->params, p);
}

typedef struct Stats {
    double mean, std, min, max;
} Stats;

static Stats stats(const double *v, int64_t n)
{
    Stats s = {0, 0, INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++) s.mean += v[i], s.min = fmin(s.min, v[i]), s.max = fmax(s.max, v[i]);
    s.mean /= (double)n;
    for (int64_t i = 0; i < n; i++) s.std += (v[i] - s.mean) * (v[i] - s.mean);
    s.std = sqrt(s.std / (double)(n - 1));
    return s;
}

typedef struct Expect {
    const char *shape;
    Init init;
    double mean, std, bound;   /* bound: every |x - mean| <= bound (0: none) */
    double kurtosis;           /* of the distribution, for the standard error of the std */
} Expect;

static void test_statistics(void)
{
    const double t2 = 0.87962566103423978, t2_kurt = 2.3655;   /* N(0,1) truncated to [-2, 2] */
    const double conv_in = sqrt(1.0 / 144), conv_avg = sqrt(2.0 / 432);   /* fans 144 and 288 */
    Expect cases[] = {
        {"in=400,out=300", {.kind = INIT_LECUN_NORMAL}, 0, sqrt(1.0 / 400), 2 * sqrt(1.0 / 400) / t2, t2_kurt},
        {"kh=3,kw=3,ci=16,co=32", {.kind = INIT_LECUN_NORMAL}, 0, conv_in, 2 * conv_in / t2, t2_kurt},
        {"kh=3,kw=3,ci=16,co=32", {.kind = INIT_XAVIER_NORMAL}, 0, conv_avg, 2 * conv_avg / t2, t2_kurt},
        {"C=64,k=7,k2=7", {.kind = INIT_XAVIER_NORMAL}, 0, sqrt(1.0 / 448), 2 * sqrt(1.0 / 448) / t2, t2_kurt},
        {"C=64,k=7,k2=7", {.kind = INIT_XAVIER_UNIFORM}, 0, sqrt(6.0 / 896) / sqrt(3), sqrt(6.0 / 896), 1.8},
        {"in=300,out=200", {.kind = INIT_XAVIER_UNIFORM}, 0, sqrt(6.0 / 500) / sqrt(3), sqrt(6.0 / 500), 1.8},
        {"N=50000", {.kind = INIT_NORMAL, .a = 0.02}, 0, 0.02, 0, 3},
        {"N=50000", {.kind = INIT_TRUNC_NORMAL, .a = 0.5}, 0, 0.5 * t2, 1.0, t2_kurt},
        {"N=50000", {.kind = INIT_UNIFORM, .a = -1, .b = 3}, 1, 4 / sqrt(12), 2, 1.8},
    };
    Graph *g = graph_new();
    for (size_t i = 0; i < COUNT_OF(cases); i++) add_param(g, "p", cases[i].shape, cases[i].init);
    double **v = xcalloc(COUNT_OF(cases), sizeof *v);
    init_params(g, 1234, v);
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        const Expect *e = &cases[i];
        int64_t n = shape_numel(&g->params.data[i].shape);
        Stats s = stats(v[i], n);
        double se_mean = e->std / sqrt((double)n);
        double se_std = e->std * sqrt((e->kurtosis - 1) / (4.0 * (double)n));   /* of the sample std */
        CHECK(fabs(s.mean - e->mean) <= 5 * se_mean, "case %zu [%s]: mean %.6g, expected %.6g", i, e->shape,
              s.mean, e->mean);
        CHECK(fabs(s.std - e->std) <= 5 * se_std, "case %zu [%s]: std %.6g, expected %.6g", i, e->shape, s.std,
              e->std);
        if (e->bound > 0)
            CHECK(s.max - e->mean <= e->bound && e->mean - s.min <= e->bound, "case %zu [%s]: range [%g, %g]",
                  i, e->shape, s.min, s.max);
        free(v[i]);
    }
    free(v);
    graph_free(g);
}

static void test_constants(void)
{
    Graph *g = graph_new();
    add_param(g, "z", "N=5", (Init){.kind = INIT_ZEROS});
    add_param(g, "o", "N=5", (Init){.kind = INIT_ONES});
    add_param(g, "c", "A=2,B=3", (Init){.kind = INIT_CONSTANT, .a = -0.25});
    double *v[3];
    init_params(g, 7, v);
    bool ok = true;
    for (int i = 0; i < 5; i++) ok &= v[0][i] == 0 && v[1][i] == 1;
    for (int i = 0; i < 6; i++) ok &= v[2][i] == -0.25;
    CHECK(ok, "zeros, ones, constant");
    for (int i = 0; i < 3; i++) free(v[i]);
    graph_free(g);
}

static bool same_values(const double *a, const double *b, int64_t n)
{
    return memcmp(a, b, sizeof(double) * (size_t)n) == 0;
}

static void test_streams(void)
{
    Graph *g2 = graph_new(), *g3 = graph_new();
    Init ln = {.kind = INIT_LECUN_NORMAL};
    add_param(g2, "a", "in=8,out=4", ln), add_param(g2, "b", "N=16", (Init){.kind = INIT_NORMAL, .a = 1});
    add_param(g3, "a", "in=8,out=4", ln), add_param(g3, "b", "N=16", (Init){.kind = INIT_NORMAL, .a = 1});
    add_param(g3, "c", "in=8,out=4", ln);
    double *v2[2], *v3[3], *w2[2], *s2[2];
    init_params(g2, 99, v2);
    init_params(g3, 99, v3);
    init_params(g2, 99, w2);
    init_params(g2, 100, s2);
    CHECK(same_values(v2[0], v3[0], 32) && same_values(v2[1], v3[1], 16), "adding a parameter changed others");
    CHECK(same_values(v2[0], w2[0], 32) && same_values(v2[1], w2[1], 16), "same seed, different values");
    CHECK(!same_values(v2[0], s2[0], 32), "another seed gave the same values");
    CHECK(!same_values(v3[0], v3[2], 32), "two parameters of one shape drew the same values");
    for (int i = 0; i < 2; i++) free(v2[i]), free(w2[i]), free(s2[i]);
    for (int i = 0; i < 3; i++) free(v3[i]);
    graph_free(g2), graph_free(g3);
}

int main(void)
{
    test_fans();
    test_statistics();
    test_constants();
    test_streams();
    return test_status("test_ref_init");
}
