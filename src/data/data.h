/* data.h - dataset readers: IDX (MNIST, Fashion-MNIST; gzip or plain), folders of class
 * sub-folders holding JPEG/PNG images, .npy pairs and ONNX test-data folders. Each reader
 * turns its samples into float tensors shaped for one model input (pl_sample_spec). */
#ifndef PL_DATA_H
#define PL_DATA_H

#include "../core/core.h"

/* Reads an IDX file (optionally gzip-compressed) into a tensor of its element type (uint8,
 * int8, int16, int32, float, double) and dims. Refuses a bad magic, a truncated body or dims
 * whose product overflows, naming the file. */
pl_status pl_idx_load(const char *path, pl_tensor **out);

/* Debian's dataset-fashion-mnist folder (PL_FASHION_MNIST_DIR overrides it). */
const char *pl_fashion_mnist_dir(void);

/* ---- images ---- */

/* Decodes a JPEG (libjpeg-turbo) or PNG (libpng) file into 8-bit pixels, row-major HxWxC with
 * C = `channels` (1: grayscale, 3: RGB; the decoder converts). *pixels is malloc'd (caller
 * frees). A corrupt or truncated file fails with PL_ERR_INVALID naming it; never exits. */
pl_status pl_jpeg_decode(const char *path, int channels, uint8_t **pixels, int *width,
                         int *height);
pl_status pl_png_decode(const char *path, int channels, uint8_t **pixels, int *width,
                        int *height);

/* ---- samples and datasets ---- */

/* What one sample must become: the model input's dims without the batch dim, in its layout. */
typedef struct pl_sample_spec {
    int rank;                  /* of one sample (model input rank - 1) */
    int64_t dims[PL_MAX_RANK]; /* -1 where the model leaves a dim open (readers may fill it) */
    bool nhwc;                 /* channels last (rank-3 samples only) */
    /* image preprocessing, resolved by pl_dataset_open */
    int64_t resize, crop;
    /* normalisation after scaling 8-bit pixels to [0, 1]: (x - mean[c]) / std[c] */
    int n_norm;                /* 0: none; 1: one value for every channel; else per channel */
    float mean[4], std[4];
    const char *norm_from;     /* "settings", "model metadata", "ImageNet defaults" */
} pl_sample_spec;

/* Where normalisation may come from; any may be NULL / 0. */
typedef struct pl_norm_sources {
    const float *mean, *std; /* from the user's settings */
    int n;
    const char *meta_mean, *meta_std; /* model metadata_props "normalize_mean" / "_std" */
} pl_norm_sources;

typedef struct pl_dataset pl_dataset;
struct pl_dataset {
    char desc[512];      /* what was read, from where, with which preprocessing */
    int64_t count;
    int64_t *labels;     /* count class indices (>= 0) */
    pl_sample_spec spec; /* resolved: every dim known */
    int64_t sample_numel;
    /* writes sample `index` (sample_numel floats) into dst */
    pl_status (*read)(pl_dataset *ds, int64_t index, float *dst);
    void (*close)(pl_dataset *ds); /* frees what the reader keeps in `state` */
    void *state;
};

/* Opens `name` ("fashion-mnist", an IDX images file with its labels beside it, a folder of
 * class sub-folders, a folder holding inputs.npy + labels.npy or x.npy + y.npy, or an ONNX
 * test-data folder of test_data_set_* folders) for samples shaped as `spec` says (open dims
 * filled from the data). `spec->resize/crop` of 0 pick defaults. Fails naming the file. */
pl_status pl_dataset_open(const char *name, const pl_sample_spec *spec,
                          const pl_norm_sources *norm, pl_dataset **out);
void pl_dataset_close(pl_dataset *ds);

/* The readers behind pl_dataset_open; each fills *ds (allocated, zeroed, spec copied). */
pl_status pl_dataset_open_idx(pl_dataset *ds, const char *images, const char *labels,
                              const pl_norm_sources *norm);
pl_status pl_dataset_open_npy(pl_dataset *ds, const char *inputs, const char *labels,
                              const pl_norm_sources *norm);
pl_status pl_dataset_open_image_folder(pl_dataset *ds, const char *dir,
                                       const pl_norm_sources *norm);
pl_status pl_dataset_open_onnx_tests(pl_dataset *ds, const char *dir);

/* Shared by the readers of raw 8-bit pixels: picks the normalisation (explicit settings first,
 * then model metadata, then ImageNet's for 3-channel images when `imagenet`, else none),
 * describing it into buf. Fails on a malformed metadata value or a zero std. */
pl_status pl_norm_resolve(pl_sample_spec *spec, const pl_norm_sources *norm, int channels,
                          bool imagenet, char *buf, size_t size);
/* Fills the open dims of spec from the data's per-sample dims (aligned from the right; 1 where
 * the data has none) and checks that both hold as many values; `what` names the data. */
pl_status pl_sample_fit(pl_sample_spec *spec, int rank, const int64_t *dims, const char *what);
/* Makes ds read samples from `inputs` (owned from here on, also on failure; uint8 pixels are
 * scaled and normalised, float and double are used as they are) with labels from `labels`
 * (borrowed: class indices, or rows whose argmax is the class). `kind` ("IDX", "npy") and the
 * paths go into ds->desc. */
pl_status pl_dataset_set_raw(pl_dataset *ds, pl_tensor *inputs, const pl_tensor *labels,
                             const char *kind, const char *inputs_path, const char *labels_path,
                             const pl_norm_sources *norm);
/* Class labels from a tensor: rank 1 of integers (or integral floats), or rank 2 rows whose
 * argmax is the class. *out is malloc'd (count entries). */
pl_status pl_labels_from_tensor(const pl_tensor *t, const char *path, int64_t **out, int64_t *count);
/* Channel count of a rank-3 sample (C of CHW or HWC); 1 otherwise. */
int pl_sample_channels(const pl_sample_spec *spec);
/* Sample element i from an 8-bit pixel: x/255, then normalised for its channel. */
static inline float pl_norm_pixel(const pl_sample_spec *spec, int channel, uint8_t v) {
    float x = (float)v * (1.0f / 255.0f);
    if (spec->n_norm == 0) return x;
    int c = spec->n_norm == 1 ? 0 : channel;
    return (x - spec->mean[c]) / spec->std[c];
}

#endif
