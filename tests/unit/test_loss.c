/* test_loss.c: softmax cross-entropy with label smoothing.
 *
 * Hand values (written out below), batch averaging, accuracy with ties,
 * stability with huge logits, non-finite logits, and the gradient against
 * central finite differences of the loss (computed in double from logits on
 * a 2^-8 grid, perturbed by 2^-10, so every perturbed logit is exact). */
#include <math.h>
#include <stdio.h>

#include "rng.h"
#include "train.h"

#include "check.h"

/* logits (0, 0), label 0: loss ln 2, grad (0.5 - 1, 0.5); the tie goes to
 * index 0, which is the label. */
static void test_uniform(void)
{
    float z[2] = {0, 0}, dz[2];
    int32_t y = 0;
    int64_t correct = -1;
    CHECK_NEAR(xent_loss(z, &y, 1, 2, 0.0, dz, &correct), 0.6931471805599453, 1e-15);
    CHECK_NEAR(dz[0], -0.5, 1e-7);
    CHECK_NEAR(dz[1], 0.5, 1e-7);
    CHECK(correct == 1);
}

/* logits (2, 0), label 0, smoothing 0.1: targets (0.95, 0.05);
 * lse = ln(e^2 + 1) = 2.1269280110429727;
 * loss = 0.95 (lse - 2) + 0.05 lse = lse - 1.9 = 0.2269280110429727;
 * softmax = (0.8807970779778823, 0.11920292202211755), grad = softmax - t. */
static void test_smoothing(void)
{
    float z[2] = {2, 0}, dz[2];
    int32_t y = 0;
    CHECK_NEAR(xent_loss(z, &y, 1, 2, 0.1, dz, NULL), 0.2269280110429727, 1e-14);
    CHECK_NEAR(dz[0], 0.8807970779778823 - 0.95, 1e-7);
    CHECK_NEAR(dz[1], 0.11920292202211755 - 0.05, 1e-7);
}

/* Rows (0, 0) label 0 and (2, 0) label 1: losses ln 2 and lse = 2.12692801,
 * mean 1.410037595801459; one hit; gradients are halved. */
static void test_batch_mean(void)
{
    float z[4] = {0, 0, 2, 0}, dz[4];
    int32_t y[2] = {0, 1};
    int64_t correct;
    CHECK_NEAR(xent_loss(z, y, 2, 2, 0.0, dz, &correct), 1.410037595801459, 1e-14);
    CHECK(correct == 1);
    CHECK_NEAR(dz[0], -0.25, 1e-7);
    CHECK_NEAR(dz[2], 0.8807970779778823 / 2, 1e-7);
    CHECK_NEAR(dz[3], (0.11920292202211755 - 1) / 2, 1e-7);
}

static void test_large_logits(void)
{
    float z[2] = {1000, -1000}, dz[2];
    int32_t y = 0;
    CHECK(xent_loss(z, &y, 1, 2, 0.0, dz, NULL) == 0.0);
    CHECK(dz[0] == 0 && dz[1] == 0);
    y = 1;
    CHECK_NEAR(xent_loss(z, &y, 1, 2, 0.0, dz, NULL), 2000.0, 1e-9);
    CHECK(dz[0] == 1 && dz[1] == -1);
    float big[3] = {3e38f, 3e38f, -3e38f};
    y = 0;
    CHECK_NEAR(xent_loss(big, &y, 1, 3, 0.0, NULL, NULL), log(2.0), 1e-12);
}

static void test_non_finite(void)
{
    float z[2] = {NAN, 0};
    int32_t y = 1;
    int64_t correct;
    CHECK(isnan(xent_loss(z, &y, 1, 2, 0.0, NULL, &correct)));
    CHECK(correct == 0);                  /* NaN is the argmax, as in jnp.argmax */
    float w[3] = {0, -INFINITY, 1};       /* a wrong class at -inf costs nothing */
    y = 2;
    double loss = xent_loss(w, &y, 1, 3, 0.0, NULL, NULL);
    CHECK(isfinite(loss));
    CHECK_NEAR(loss, log(1 + exp(-1.0)), 1e-12);
}

static double loss_at(float *z, const int32_t *y, int b, int k, double a, int i, float delta)
{
    float saved = z[i];
    z[i] = saved + delta;
    double loss = xent_loss(z, y, b, k, a, NULL, NULL);
    z[i] = saved;
    return loss;
}

static void test_finite_differences(void)
{
    enum { B = 3, K = 5 };
    float z[B * K], dz[B * K];
    int32_t y[B] = {4, 0, 2};
    Rng r = rng_new(7);
    for (int i = 0; i < B * K; i++) z[i] = (float)((double)rng_below(&r, 2049) / 256.0 - 4.0);
    const float h = 1.0f / 1024;
    for (int s = 0; s < 2; s++) {
        double a = s ? 0.1 : 0.0;
        xent_loss(z, y, B, K, a, dz, NULL);
        for (int i = 0; i < B * K; i++) {
            double fd = (loss_at(z, y, B, K, a, i, h) - loss_at(z, y, B, K, a, i, -h)) / (2.0 * h);
            CHECK_NEAR(dz[i], fd, 2e-6);
        }
    }
}

int main(void)
{
    test_uniform();
    test_smoothing();
    test_batch_mean();
    test_large_logits();
    test_non_finite();
    test_finite_differences();
    if (failures) {
        fprintf(stderr, "test_loss: %d checks failed\n", failures);
        return 1;
    }
    printf("test_loss: ok\n");
    return 0;
}
