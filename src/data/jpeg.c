/* jpeg.c - JPEG decoding through libjpeg-turbo, with an error handler that longjmps back here
 * instead of libjpeg's default exit(). */
#include "data.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h> /* the JWRN_ message codes */

typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_guard;

static void on_error(j_common_ptr cinfo) {
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    g->mgr.format_message(cinfo, g->message);
    longjmp(g->jump, 1);
}

/* Warnings (level -1) about corrupt or truncated data, which libjpeg would paper over with grey
 * pixels, are refused; other warnings (an unknown JFIF revision, say) are not. */
static void on_emit(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION: on_error(cinfo); break;
    default: break;
    }
}

pl_status pl_jpeg_decode(const char *path, int channels, uint8_t **pixels, int *width, int *height) {
    *pixels = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct jpeg_decompress_struct cinfo;
    jpeg_guard guard;
    uint8_t *volatile buf = NULL;
    cinfo.err = jpeg_std_error(&guard.mgr);
    guard.mgr.error_exit = on_error;
    guard.mgr.emit_message = on_emit;
    if (setjmp(guard.jump)) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        free(buf);
        return pl_err(PL_ERR_INVALID, "%s: corrupt JPEG: %s", path, guard.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    if (w <= 0 || h <= 0 || w > 32768 || h > 32768 || cinfo.output_components != channels) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return pl_err(PL_ERR_INVALID, "%s: JPEG of %dx%d pixels with %d components (plaster reads 1..32768 "
                      "a side, decoded to %d)", path, w, h, cinfo.output_components, channels);
    }
    size_t row = (size_t)w * (size_t)channels;
    buf = malloc(row * (size_t)h);
    if (!buf) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return pl_err(PL_ERR_NOMEM, "%s: out of memory for %dx%d pixels", path, w, h);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[1] = {buf + row * cinfo.output_scanline};
        jpeg_read_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    *pixels = buf;
    *width = w;
    *height = h;
    return PL_OK;
}
