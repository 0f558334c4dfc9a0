/* test_png.c: the PNG reader and writer.
 *
 * Gray and RGB round trips are exact; RGBA and gray+alpha files come back
 * without alpha, composited onto black; a palette file comes back as RGB;
 * a cut or foreign file gives an error naming it; bad arguments to the
 * writer are refused and leave no file behind. */
#include "formats.h"
#include "base.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static char dir[256];

static void test_round_trip(int channels)
{
    enum { W = 37, H = 23 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * channels; i++) px[i] = (uint8_t)(i * 31 + 3);
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/rt%d.png", dir, channels);
    CHECK(png_write8(path, W, H, channels, px, err, sizeof err) == 0);
    int w, h, c;
    uint8_t *got;
    CHECK(png_read8(path, &w, &h, &c, &got, err, sizeof err) == 0);
    CHECK(w == W && h == H && c == channels && !memcmp(got, px, (size_t)(W * H * channels)));
    free(got);
}

/* Writes a file in another layout through libpng directly. */
static void write_format(const char *path, png_uint_32 format, const void *px, const void *colormap, int entries)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = 2;
    img.height = 1;
    img.format = format;
    img.colormap_entries = (png_uint_32)entries;
    CHECK(png_image_write_to_file(&img, path, 0, px, 0, colormap));
}

static void test_other_layouts(void)
{
    char path[300], err[256];
    int w, h, c;
    uint8_t *got;
    snprintf(path, sizeof path, "%s/rgba.png", dir);
    uint8_t rgba[8] = {10, 200, 30, 255, 90, 90, 90, 0};
    write_format(path, PNG_FORMAT_RGBA, rgba, NULL, 0);
    CHECK(png_read8(path, &w, &h, &c, &got, err, sizeof err) == 0 && c == 3 && w == 2 && h == 1);
    CHECK(got[0] == 10 && got[1] == 200 && got[2] == 30 && got[3] == 0 && got[4] == 0 && got[5] == 0);
    free(got);

    snprintf(path, sizeof path, "%s/ga.png", dir);
    uint8_t ga[4] = {77, 255, 200, 0};
    write_format(path, PNG_FORMAT_GA, ga, NULL, 0);
    CHECK(png_read8(path, &w, &h, &c, &got, err, sizeof err) == 0 && c == 1 && got[0] == 77 && got[1] == 0);
    free(got);

    snprintf(path, sizeof path, "%s/pal.png", dir);
    uint8_t map[6] = {255, 0, 0, 0, 0, 255}, idx[2] = {1, 0};
    write_format(path, PNG_FORMAT_RGB_COLORMAP, idx, map, 2);
    CHECK(png_read8(path, &w, &h, &c, &got, err, sizeof err) == 0 && c == 3);
    CHECK(got[0] == 0 && got[2] == 255 && got[3] == 255 && got[5] == 0);
    free(got);
}

static void test_errors(void)
{
    char path[300], err[256];
    int w, h, c;
    uint8_t *got, px[300] = {0};
    snprintf(path, sizeof path, "%s/rt3.png", dir);
    FILE *fp = fopen(path, "rb");
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    fp = fopen(path, "wb");
    fwrite(buf, 1, n / 2, fp);
    fclose(fp);
    CHECK(png_read8(path, &w, &h, &c, &got, err, sizeof err) == -1 && strstr(err, "cut.png"));
    snprintf(path, sizeof path, "%s/not.png", dir);
    fp = fopen(path, "wb");
    fputs("this is not a PNG file at all", fp);
    fclose(fp);
    CHECK(png_read8(path, &w, &h, &c, &got, err, sizeof err) == -1 && strstr(err, "not.png"));
    snprintf(path, sizeof path, "%s/bad.png", dir);
    CHECK(png_write8(path, 10, 10, 2, px, err, sizeof err) == -1 && strstr(err, "expected 1 or 3"));
    CHECK(access(path, F_OK) != 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cssm_test_png_XXXXXX");
    if (!mkdtemp(dir)) die("cannot create a temporary folder");
    test_round_trip(1);
    test_round_trip(3);
    test_other_layouts();
    test_errors();
    char *cmd = xprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(cmd);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
