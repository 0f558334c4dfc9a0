/* png.c: 8-bit PNG images through libpng's simplified API.
 *
 * Reading accepts any PNG libpng does (every colour type and bit depth,
 * palettes, interlacing) and converts it to 8-bit gray when the image has
 * no colour, else 8-bit RGB; an alpha channel is composited onto black, the
 * background of every dataset here. Writing stores gray or RGB 8-bit. Pixels
 * are row-major, channels interleaved, no row padding. */
#include "formats.h"
#include "base.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

int png_read8(const char *path, int *width, int *height, int *channels, uint8_t **pixels, char *err,
              size_t errlen)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    *pixels = NULL;
    if (!png_image_begin_read_from_file(&img, path))
        return errf(err, errlen, "%s: cannot read PNG: %s", path, img.message);
    int color = (img.format & PNG_FORMAT_FLAG_COLOR) != 0;
    img.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    size_t n = PNG_IMAGE_SIZE(img);
    uint8_t *buf = xcalloc(1, n);
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&img, &black, buf, 0, NULL)) {
        free(buf);
        errf(err, errlen, "%s: cannot decode PNG: %s", path, img.message);
        png_image_free(&img);
        return -1;
    }
    *width = (int)img.width;
    *height = (int)img.height;
    *channels = color ? 3 : 1;
    *pixels = buf;
    return 0;
}

int png_write8(const char *path, int width, int height, int channels, const uint8_t *pixels, char *err,
               size_t errlen)
{
    if ((channels != 1 && channels != 3) || width <= 0 || height <= 0)
        return errf(err, errlen, "%s: cannot write a %dx%d PNG with %d channels (expected 1 or 3)", path, width,
                    height, channels);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    OutFile f;
    if (outfile_open(&f, path, err, errlen)) return -1;
    if (!png_image_write_to_stdio(&img, f.fp, 0, pixels, 0, NULL)) {
        errf(err, errlen, "%s: cannot write PNG: %s", path, img.message);
        outfile_abort(&f);
        return -1;
    }
    return outfile_commit(&f, err, errlen);
}
