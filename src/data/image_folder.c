/* image_folder.c - a folder of class sub-folders (sorted names = class indices) holding JPEG and
 * PNG images; each image is decoded when needed, its shorter side resized (bilinear) to
 * `resize`, centre-cropped to `crop`, scaled to [0, 1] and normalised per channel. */
#include "data.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct folder_state {
    char **files; /* one path per sample */
    int64_t n, cap;
    int channels;
    int64_t size; /* crop: output height = width */
} folder_state;

static void folder_close(pl_dataset *ds) {
    folder_state *f = ds->state;
    if (!f) return;
    for (int64_t i = 0; i < f->n; i++) free(f->files[i]);
    free(f->files);
    free(f);
}

static bool is_jpeg(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static bool is_png(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && !strcasecmp(dot, ".png");
}

/* Bilinear sample (half-pixel centres, edges clamped) of the resized image at (y, x). */
static float bilinear(const uint8_t *px, int w, int h, int ch, int c, double sy, double sx) {
    if (sy < 0) sy = 0;
    if (sx < 0) sx = 0;
    int y0 = (int)sy, x0 = (int)sx;
    if (y0 > h - 1) y0 = h - 1;
    if (x0 > w - 1) x0 = w - 1;
    int y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
    double fy = sy - y0, fx = sx - x0;
    if (fy > 1) fy = 1;
    if (fx > 1) fx = 1;
    double top = px[((size_t)y0 * w + x0) * ch + c] * (1 - fx) + px[((size_t)y0 * w + x1) * ch + c] * fx;
    double bot = px[((size_t)y1 * w + x0) * ch + c] * (1 - fx) + px[((size_t)y1 * w + x1) * ch + c] * fx;
    return (float)(top * (1 - fy) + bot * fy);
}

static pl_status folder_read(pl_dataset *ds, int64_t index, float *dst) {
    folder_state *f = ds->state;
    const char *path = f->files[index];
    uint8_t *px = NULL;
    int w = 0, h = 0, ch = f->channels;
    PL_TRY(is_png(path) ? pl_png_decode(path, ch, &px, &w, &h) : pl_jpeg_decode(path, ch, &px, &w, &h));
    /* resized size: shorter side = resize, the other scaled to keep the aspect ratio */
    int64_t resize = ds->spec.resize, crop = f->size;
    int64_t rh, rw;
    if (h <= w) rh = resize, rw = (int64_t)((double)resize * w / h + 0.5);
    else rw = resize, rh = (int64_t)((double)resize * h / w + 0.5);
    if (rh < crop || rw < crop) {
        free(px);
        return pl_err(PL_ERR_INVALID, "%s: a %dx%d image resizes to %lldx%lld, smaller than the %lld crop", path, w,
                      h, (long long)rw, (long long)rh, (long long)crop);
    }
    int64_t top = (int64_t)floor((double)(rh - crop) / 2.0 + 0.5), left = (int64_t)floor((double)(rw - crop) / 2.0 + 0.5);
    double scale_y = (double)h / (double)rh, scale_x = (double)w / (double)rw;
    int64_t plane = crop * crop;
    for (int64_t y = 0; y < crop; y++) {
        double sy = ((double)(y + top) + 0.5) * scale_y - 0.5;
        for (int64_t x = 0; x < crop; x++) {
            double sx = ((double)(x + left) + 0.5) * scale_x - 0.5;
            for (int c = 0; c < ch; c++) {
                float v = bilinear(px, w, h, ch, c, sy, sx) * (1.0f / 255.0f);
                if (ds->spec.n_norm) {
                    int k = ds->spec.n_norm == 1 ? 0 : c;
                    v = (v - ds->spec.mean[k]) / ds->spec.std[k];
                }
                int64_t at = ds->spec.nhwc ? (y * crop + x) * ch + c : c * plane + y * crop + x;
                dst[at] = v;
            }
        }
    }
    free(px);
    return PL_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the sub-folders (dirs) or files in dir, hidden ones left out; *names malloc'd. */
static pl_status list_dir(const char *dir, bool dirs, char ***names, int64_t *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return pl_err(PL_ERR_IO, "%s: cannot open the folder", dir);
    int64_t cap = 0;
    char path[4096];
    bool oom = false;
    for (struct dirent *e; !oom && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || (dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(*names, sizeof *grown * (size_t)cap);
            if (!grown) {
                oom = true;
                break;
            }
            *names = grown;
        }
        if (!((*names)[*n] = strdup(e->d_name))) oom = true;
        else (*n)++;
    }
    closedir(d);
    if (oom) {
        for (int64_t i = 0; i < *n; i++) free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
        return pl_err(PL_ERR_NOMEM, "%s: out of memory listing the folder", dir);
    }
    if (*n) qsort(*names, (size_t)*n, sizeof **names, cmp_str);
    return PL_OK;
}

static void free_names(char **names, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static pl_status add_file(folder_state *f, int64_t **labels, int64_t label, const char *path) {
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 256;
        char **files = realloc(f->files, sizeof *files * (size_t)f->cap);
        if (files) f->files = files;
        int64_t *lab = realloc(*labels, sizeof *lab * (size_t)f->cap);
        if (lab) *labels = lab;
        if (!files || !lab) return pl_err(PL_ERR_NOMEM, "out of memory listing %s", path);
    }
    if (!(f->files[f->n] = strdup(path))) return pl_err(PL_ERR_NOMEM, "out of memory listing %s", path);
    (*labels)[f->n++] = label;
    return PL_OK;
}

pl_status pl_dataset_open_image_folder(pl_dataset *ds, const char *dir, const pl_norm_sources *norm) {
    folder_state *f = calloc(1, sizeof *f);
    if (!f) return pl_err(PL_ERR_NOMEM, "out of memory opening %s", dir);
    ds->state = f;
    ds->close = folder_close;
    ds->read = folder_read;
    pl_sample_spec *spec = &ds->spec;
    if (spec->rank != 3)
        return pl_err(PL_ERR_INVALID, "%s: an image folder needs a model input of rank 4 (NCHW or NHWC), "
                      "this one has rank %d", dir, spec->rank + 1);
    int64_t *hw = spec->nhwc ? &spec->dims[0] : &spec->dims[1];
    int64_t *cdim = spec->nhwc ? &spec->dims[2] : &spec->dims[0];
    if (*cdim < 0) *cdim = 3;
    if (*cdim != 1 && *cdim != 3)
        return pl_err(PL_ERR_INVALID, "%s: the model input takes %lld channels; images give 1 (gray) or 3 (RGB)",
                      dir, (long long)*cdim);
    f->channels = (int)*cdim;
    int64_t crop = spec->crop > 0 ? spec->crop : hw[0] > 0 ? hw[0] : hw[1] > 0 ? hw[1] : 224;
    for (int k = 0; k < 2; k++) {
        if (hw[k] < 0) hw[k] = crop;
        if (hw[k] != crop)
            return pl_err(PL_ERR_INVALID, "%s: crop %lld does not fit the model input's %lldx%lld images", dir,
                          (long long)crop, (long long)hw[0], (long long)hw[1]);
    }
    f->size = spec->crop = crop;
    if (spec->resize <= 0) spec->resize = f->channels == 3 ? crop * 256 / 224 : crop;
    if (spec->resize < crop)
        return pl_err(PL_ERR_INVALID, "resize %lld is smaller than crop %lld", (long long)spec->resize, (long long)crop);
    char how[256];
    PL_TRY(pl_norm_resolve(spec, norm, f->channels, true, how, sizeof how));

    char **classes = NULL;
    int64_t n_classes = 0, skipped = 0;
    PL_TRY(list_dir(dir, true, &classes, &n_classes));
    if (n_classes == 0) {
        return pl_err(PL_ERR_INVALID, "%s: not a dataset: no class sub-folders, no inputs.npy/x.npy, no "
                      "test_data_set_* folders", dir);
    }
    pl_status st = PL_OK;
    char path[4096];
    for (int64_t c = 0; st == PL_OK && c < n_classes; c++) {
        snprintf(path, sizeof path, "%s/%s", dir, classes[c]);
        char **files = NULL;
        int64_t n_files = 0;
        st = list_dir(path, false, &files, &n_files);
        for (int64_t i = 0; st == PL_OK && i < n_files; i++) {
            if (!is_jpeg(files[i]) && !is_png(files[i])) {
                skipped++;
                continue;
            }
            snprintf(path, sizeof path, "%s/%s/%s", dir, classes[c], files[i]);
            st = add_file(f, &ds->labels, c, path);
        }
        free_names(files, n_files);
    }
    if (st == PL_OK) {
        ds->count = f->n;
        snprintf(ds->desc, sizeof ds->desc, "image folder %s: %lld JPEG/PNG images in %lld classes (%s..%s)%s; "
                 "decoded to %s, shorter side resized (bilinear) to %lld, centre crop %lldx%lld, %s, layout %s",
                 dir, (long long)f->n, (long long)n_classes, classes[0], classes[n_classes - 1],
                 skipped ? ", other files skipped" : "", f->channels == 3 ? "RGB" : "grayscale",
                 (long long)spec->resize, (long long)crop, (long long)crop, how, spec->nhwc ? "NHWC" : "NCHW");
    }
    free_names(classes, n_classes);
    return st;
}
