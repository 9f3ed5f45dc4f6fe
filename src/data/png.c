/* png.c - PNG decoding through libpng's simplified API (errors come back as messages; libpng
 * never exits or longjmps out of here). */
#include "data.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

pl_status pl_png_decode(const char *path, int channels, uint8_t **pixels, int *width, int *height) {
    *pixels = NULL;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return pl_err(PL_ERR_INVALID, "%s: not a readable PNG: %s", path, img.message);
    if (img.width == 0 || img.height == 0 || img.width > 32768 || img.height > 32768) {
        png_image_free(&img);
        return pl_err(PL_ERR_INVALID, "%s: PNG of %ux%u pixels (plaster reads 1..32768 a side)", path,
                      img.width, img.height);
    }
    img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t size = PNG_IMAGE_SIZE(img);
    uint8_t *buf = malloc(size);
    if (!buf) {
        png_image_free(&img);
        return pl_err(PL_ERR_NOMEM, "%s: out of memory for %zu bytes of pixels", path, size);
    }
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&img, &black, buf, 0, NULL)) {
        free(buf);
        pl_status st = pl_err(PL_ERR_INVALID, "%s: corrupt PNG: %s", path, img.message);
        png_image_free(&img);
        return st;
    }
    *width = (int)img.width;
    *height = (int)img.height;
    *pixels = buf;
    return PL_OK;
}
