/*
 * plaster.h - the public C API of plaster: import an ONNX model, build an engine, run it.
 *
 * A minimal program (compiled as a test in tests/test_api_example.c):
 *
 *     pl_model *model = NULL;
 *     pl_engine *engine = NULL;
 *     pl_context *ctx = NULL;
 *     if (pl_model_load("model.onnx", &model) != PL_OK ||
 *         pl_engine_build(model, NULL, &engine) != PL_OK ||
 *         pl_context_create(engine, &ctx) != PL_OK) {
 *         fprintf(stderr, "plaster: %s\n", pl_last_error());
 *         ...
 *     }
 *     int64_t dims[4] = {1, 3, 224, 224};
 *     pl_tensor *in = NULL;
 *     pl_tensor_create(PL_DT_FLOAT, 4, dims, &in);   // zero-filled, caller owns
 *     pl_tensor *out[1] = {NULL};
 *     pl_context_run(ctx, 1, &in, 1, out);            // out[0] created, caller owns
 *     float *y = pl_tensor_data(out[0]);
 *     pl_tensor_destroy(out[0]); pl_tensor_destroy(in);
 *     pl_context_destroy(ctx); pl_engine_destroy(engine); pl_model_destroy(model);
 *
 * Conventions: every fallible function returns pl_status; on failure the output pointer is
 * set to NULL and pl_last_error() names the file, node and field at fault. `*_create` and
 * `*_load` return objects the caller releases with the matching `*_destroy`. Pointers passed
 * in are borrowed unless a comment says otherwise.
 */
#ifndef PLASTER_H
#define PLASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_VERSION_MAJOR 0
#define PL_VERSION_MINOR 1
#define PL_VERSION_PATCH 0
#define PL_VERSION_STRING "0.1.0"

/* Largest tensor rank plaster accepts; a model asking for more is refused. */
#define PL_MAX_RANK 16

typedef enum pl_status {
    PL_OK = 0,
    PL_ERR_INVALID = 1,     /* malformed model, bad argument, wrong shape or type */
    PL_ERR_UNSUPPORTED = 2, /* a valid model using an op, type or domain plaster lacks */
    PL_ERR_IO = 3,          /* a file could not be opened, read or written */
    PL_ERR_NOMEM = 4,       /* an allocation failed or a size overflowed */
    PL_ERR_INTERNAL = 5     /* a bug in plaster: please report it */
} pl_status;

/* Element types; the values are ONNX's TensorProto.DataType numbers. */
typedef enum pl_dtype {
    PL_DT_UNDEFINED = 0,
    PL_DT_FLOAT = 1,
    PL_DT_UINT8 = 2,
    PL_DT_INT8 = 3,
    PL_DT_UINT16 = 4,
    PL_DT_INT16 = 5,
    PL_DT_INT32 = 6,
    PL_DT_INT64 = 7,
    PL_DT_STRING = 8,
    PL_DT_BOOL = 9,
    PL_DT_FLOAT16 = 10,
    PL_DT_DOUBLE = 11,
    PL_DT_UINT32 = 12,
    PL_DT_UINT64 = 13,
    PL_DT_COMPLEX64 = 14,
    PL_DT_COMPLEX128 = 15,
    PL_DT_BFLOAT16 = 16
} pl_dtype;

/* What a graph input or output holds. */
typedef enum pl_value_kind {
    PL_VALUE_TENSOR = 0,
    PL_VALUE_SEQUENCE = 1, /* ONNX sequence(tensor) */
    PL_VALUE_OPTIONAL = 2  /* ONNX optional(tensor or sequence) */
} pl_value_kind;

typedef struct pl_model pl_model;
typedef struct pl_engine pl_engine;
typedef struct pl_context pl_context;
typedef struct pl_tensor pl_tensor;

/* The message of the last failure on this thread ("" when none). Valid until the next call. */
const char *pl_last_error(void);
/* Short name of a status ("invalid", "unsupported", ...). */
const char *pl_status_name(pl_status status);
/* ONNX name of a dtype ("float", "int64", ...); "undefined" for unknown values. */
const char *pl_dtype_name(pl_dtype dtype);
/* Bytes per element; 0 for strings and undefined types. */
size_t pl_dtype_size(pl_dtype dtype);

/* ---- tensors ---- */

/* A new zero-filled dense tensor (strings start empty). Fails on a negative dim, a rank above
 * PL_MAX_RANK, or a byte size that overflows. */
pl_status pl_tensor_create(pl_dtype dtype, int rank, const int64_t *dims, pl_tensor **out);
void pl_tensor_destroy(pl_tensor *tensor);
pl_dtype pl_tensor_dtype(const pl_tensor *tensor);
int pl_tensor_rank(const pl_tensor *tensor);
/* Borrowed pointer to the rank dims. */
const int64_t *pl_tensor_dims(const pl_tensor *tensor);
int64_t pl_tensor_numel(const pl_tensor *tensor);
size_t pl_tensor_nbytes(const pl_tensor *tensor);
/* Borrowed pointer to the row-major elements (char ** for strings). */
void *pl_tensor_data(pl_tensor *tensor);
/* Read an ONNX TensorProto file (.pb), including raw and typed data. */
pl_status pl_tensor_load_pb(const char *path, pl_tensor **out);
/* Write a tensor as an ONNX TensorProto with raw_data (typed fields for strings). */
pl_status pl_tensor_save_pb(const pl_tensor *tensor, const char *name, const char *path);
/* Read a value of the given kind from a .pb file: TensorProto, SequenceProto or OptionalProto
 * (ONNX's onnx-data.proto), as the ONNX backend tests store them. */
pl_status pl_value_load_pb(const char *path, pl_value_kind kind, pl_tensor **out);
/* Write a tensor, sequence or optional value as TensorProto / SequenceProto / OptionalProto. */
pl_status pl_value_save_pb(const pl_tensor *value, pl_value_kind kind, const char *name,
                           const char *path);
/* Read / write NumPy .npy files (version 1/2, little-endian, C order). */
pl_status pl_tensor_load_npy(const char *path, pl_tensor **out);
pl_status pl_tensor_save_npy(const pl_tensor *tensor, const char *path);

/* Compare `got` with `expected` as numpy.isclose(got, expected, rtol, atol, equal_nan=True)
 * for floats and exactly for integers, bools and strings; sequences element by element.
 * Returns 1 when they match, 0 otherwise with the reason in `why` (may be NULL). */
int pl_tensor_compare(const pl_tensor *expected, const pl_tensor *got, double rtol, double atol,
                      char *why, size_t why_size);

/* ---- models ---- */

/* Import an ONNX model file. External data is resolved relative to the model's folder and may
 * not leave it. */
pl_status pl_model_load(const char *path, pl_model **out);
/* Import from memory; `base_dir` (may be NULL) resolves external data. Bytes are copied. */
pl_status pl_model_load_bytes(const void *bytes, size_t size, const char *base_dir,
                              pl_model **out);
void pl_model_destroy(pl_model *model);

/* One dimension of a graph input or output: a value, or a symbol when value < 0. */
typedef struct pl_dim_info {
    int64_t value;      /* -1 when unknown or symbolic */
    const char *symbol; /* borrowed; NULL when none */
} pl_dim_info;

typedef struct pl_io_info {
    const char *name; /* borrowed from the model */
    pl_value_kind kind;
    pl_dtype dtype;   /* PL_DT_UNDEFINED for non-tensor values (sequences, optionals) */
    int rank;         /* -1 when the model does not say */
    pl_dim_info dims[PL_MAX_RANK];
} pl_io_info;

/* Graph inputs exclude initializers, as ONNX backends bind them. */
int pl_model_input_count(const pl_model *model);
int pl_model_output_count(const pl_model *model);
pl_status pl_model_input_info(const pl_model *model, int index, pl_io_info *out);
pl_status pl_model_output_info(const pl_model *model, int index, pl_io_info *out);

typedef struct pl_model_summary {
    int64_t ir_version;
    int64_t opset;        /* default-domain opset */
    const char *producer; /* borrowed: producer_name + " " + producer_version */
    const char *domain;
    const char *graph_name;
    int64_t node_count;       /* top-level nodes */
    int64_t initializer_count;
    int64_t parameter_count;  /* elements in initializers */
    int64_t parameter_bytes;  /* bytes of initializers */
} pl_model_summary;
pl_status pl_model_summary_get(const pl_model *model, pl_model_summary *out);

/* Op histogram over the whole model (subgraphs included). Index 0..count-1. */
int pl_model_op_count(const pl_model *model);
/* Borrowed name "domain::Op" or "Op"; occurrences; whether the reference executor has it. */
pl_status pl_model_op_get(const pl_model *model, int index, const char **op, int64_t *count,
                          int *supported);
/* Opset imports: index 0..count-1, domain borrowed ("" is the default domain). */
int pl_model_opset_count(const pl_model *model);
pl_status pl_model_opset_get(const pl_model *model, int index, const char **domain,
                             int64_t *version);
/* Metadata props, borrowed. */
int pl_model_metadata_count(const pl_model *model);
pl_status pl_model_metadata_get(const pl_model *model, int index, const char **key,
                                const char **value);

/* ---- engines and contexts ---- */

typedef struct pl_build_options {
    const char *backend; /* "reference" (default): the reference kernels node by node;
                          * "cpu": the optimized CPU engine (graph passes, oneDNN and own
                          * kernels, blocked layouts, arena memory) */
    int threads;         /* 0: library default */
    /* cpu backend only: */
    bool time_tactics;   /* time each node's candidate tactics on this machine (slower build) */
    int64_t batch;       /* value of symbolic dims while timing (0: 1) */
    bool no_onednn;      /* offer no oneDNN tactics (own and reference kernels only) */
} pl_build_options;

/* Build an engine for `model` (borrowed: it must outlive the engine). Fails with
 * PL_ERR_UNSUPPORTED naming the first op no backend implements. */
pl_status pl_engine_build(const pl_model *model, const pl_build_options *options,
                          pl_engine **out);
void pl_engine_destroy(pl_engine *engine);

/* What the cpu backend made of the model (`plaster info --passes`). The pass log: one line per
 * pass summary ("fuse: 3 node(s) fused ...") and, indented by two spaces, one per change
 * ("  fuse: Relu 'r1' into Conv 'c1' (post-op relu)"), then the tactic counts; 0 lines for the
 * reference backend. Lines are borrowed from the engine; NULL for an index out of range. */
int pl_engine_log_count(const pl_engine *engine);
const char *pl_engine_log_line(const pl_engine *engine, int index);
/* Nodes the engine runs, in order: for the cpu backend the live nodes of its optimized graph,
 * for the reference backend the model's top-level nodes. */
int pl_engine_node_count(const pl_engine *engine);
/* Node `index`: op type, node name and the tactic that runs it ("reference", "onednn:conv",
 * ...), all borrowed, and the number of fused post-ops; any output pointer may be NULL.
 * PL_ERR_INVALID for an index out of range. */
pl_status pl_engine_node_get(const pl_engine *engine, int index, const char **op, const char **name,
                             const char **tactic, int *n_post);
/* Name of fused post-op k of node `index` ("relu", "add", "sum", ...); NULL out of range. */
const char *pl_engine_node_post(const pl_engine *engine, int index, int k);

/* ---- engine plans (cpu backend; format in docs/PLAN.md) ---- */

/* Save a cpu engine as a plan file: the ONNX model's bytes (re-read from the model's file;
 * a model keeping tensors in external data files is refused), the tactic chosen for each node
 * of the optimized graph with the candidate timings measured at build, the build settings, and
 * this CPU's identity and oneDNN version, closed by a CRC-32. Fails for other backends, or when
 * the file cannot be written (the plan is written beside `path` and renamed over it). */
pl_status pl_engine_save_plan(const pl_engine *engine, const char *path);
/* Load a plan: checks magic, format version, size and checksum, refuses a plan built on a CPU
 * with other ISA features or (when it used oneDNN) with another oneDNN version, naming both
 * values; then parses the embedded model and rebuilds the engine with the recorded tactics,
 * timing nothing. `runtime` may be NULL; runtime->threads > 0 overrides the recorded thread
 * count and runtime->backend, when set, must be "cpu"; other fields are ignored. The caller
 * destroys *engine, then *model (the engine borrows the model). */
pl_status pl_plan_load(const char *path, const pl_build_options *runtime, pl_model **model,
                       pl_engine **engine);
/* The same from memory (bytes borrowed; `name` is used in messages and as the base folder). */
pl_status pl_plan_load_bytes(const void *bytes, size_t size, const char *name,
                             const pl_build_options *runtime, pl_model **model,
                             pl_engine **engine);
/* True when the file starts with a plan's magic bytes (whatever its extension). */
bool pl_path_is_plan(const char *path);


/* Node `index` of a cpu engine's optimized graph with its tactic candidates and their build
 * timings (strings borrowed); PL_ERR_INVALID for the reference backend or out of range. */
typedef struct pl_engine_node {
    const char *name, *op;
    const char *tactic;            /* the tactic chosen */
    int n_candidates;              /* tactics that accept the node, best-first by expectation */
    const char *candidates[8];
    double candidate_ns[8];        /* measured at build: 0 not timed, < 0 failed */
} pl_engine_node;
pl_status pl_engine_node_info(const pl_engine *engine, int index, pl_engine_node *out);

typedef struct pl_engine_build_info {
    int threads;                /* 0: library default */
    int64_t batch;              /* batch the tactics were (or would be) timed at */
    bool onednn;                /* oneDNN tactics were offered */
    double build_ns;            /* wall time of this engine's build */
    const char *onednn_version; /* "oneDNN 2.6.3 (OpenMP)" or "none" (static) */
} pl_engine_build_info;
pl_status pl_engine_build_info_get(const pl_engine *engine, pl_engine_build_info *out);

/* An execution context holds per-run state; several may share one engine. */
pl_status pl_context_create(pl_engine *engine, pl_context **out);
void pl_context_destroy(pl_context *ctx);

/* Run with `n_inputs` inputs bound to the graph inputs in order (borrowed). Creates
 * `n_outputs` output tensors (the caller destroys them); n_outputs may be smaller than the
 * model's count. Fails naming the input when a count, shape or type does not match.
 * A sequence-typed output is returned as a tensor of kind sequence (see pl_tensor_seq_*). */
pl_status pl_context_run(pl_context *ctx, int n_inputs, pl_tensor *const *inputs,
                         int n_outputs, pl_tensor **outputs);

/* As pl_context_run, into output tensors the caller made and keeps (what ONNX Runtime calls
 * I/O binding): outputs[i] non-NULL on entry must have output i's type and shape
 * (pl_tensor_create); the query writes it, and a repeated query with the same shapes then
 * allocates nothing for its outputs. A NULL entry is created as pl_context_run does. A bound
 * tensor of another type or shape fails the query with an error naming the output (bound
 * tensors then hold unspecified data; NULL entries stay NULL). Bound tensors must not share
 * memory with the inputs or each other. */
pl_status pl_context_run_into(pl_context *ctx, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                              pl_tensor **outputs);

/* Memory of a cpu context's arena: the largest arena it has planned so far, and what the same
 * values would take without sharing memory between values whose lifetimes do not overlap
 * (both 0 before the first run, and for the reference backend, which plans none). */
void pl_context_memory(const pl_context *ctx, size_t *arena_bytes, size_t *unshared_bytes);

/* How a cpu context ran its last query: 0 whole (one run of the graph, each node using every
 * thread), or the number of samples per slice when it split the batch (axis 0 of the inputs)
 * into slices run one per thread, each through the whole graph (docs/ENGINE.md, "Batch
 * splitting"). Always 0 for the reference backend. */
int64_t pl_context_batch_split(const pl_context *ctx);

/* Nodes a cpu context's last query did not run because their outputs follow from the input
 * shapes alone (the shape arithmetic exporters write for a dynamic batch: Shape, Gather,
 * Concat, ...): they ran in the first query of those input shapes and their outputs were kept
 * (docs/ENGINE.md, "Values fixed by the input shapes"). 0 for the reference backend. */
int pl_context_fixed_nodes(const pl_context *ctx);

/* Sequence values (ONNX sequence types): -1 for a plain tensor, else the element count. */
int pl_tensor_seq_length(const pl_tensor *tensor);
/* Borrowed element `index` of a sequence. */
pl_tensor *pl_tensor_seq_at(pl_tensor *tensor, int index);
/* A new sequence of `count` tensors; takes ownership of the items. */
pl_status pl_tensor_seq_create(int count, pl_tensor **items, pl_tensor **out);
/* Optional values: 1 when this is an empty optional (ONNX optional type with no element). */
int pl_tensor_is_none(const pl_tensor *tensor);

/* ---- size of model ---- */

/* One top-level node of the model, as measured by running it once (see pl_model_size). */
typedef struct pl_layer_size {
    const char *name, *op;  /* borrowed from the model */
    pl_dtype dtype;         /* first output */
    int rank;
    int64_t dims[PL_MAX_RANK];
    int64_t neurons;          /* output units per sample: first output's elements / batch */
    int64_t connections;      /* weights: elements of the weight initializer (Conv/Gemm/MatMul/RNN W, R) */
    int64_t params;           /* elements of all initializer inputs (weights and biases) */
    int64_t macs;             /* multiply-accumulates for the whole batch; 0 for ops without them */
    int64_t activation_bytes; /* bytes of its outputs */
    int64_t input_bytes;      /* bytes of its non-initializer inputs */
    int64_t weight_bytes;     /* bytes of its initializer inputs */
    double intensity;         /* 2 x MACs per byte moved (inputs + weights + outputs) */
} pl_layer_size;

typedef struct pl_size_report {
    int64_t batch;
    int n_layers;
    pl_layer_size *layers;    /* owned by the report */
    int64_t params;           /* elements of all initializers */
    int64_t param_bytes;      /* at their stored types */
    int64_t bytes_fp32, bytes_bf16, bytes_fp16, bytes_int8; /* float params at 4/2/2/1 bytes */
    int64_t macs;             /* sum over layers */
    int64_t layers_with_macs;
    int64_t peak_activation_bytes; /* most bytes of intermediate tensors alive at once when each is
                                      freed after its last reader (the reference executor's policy) */
    int64_t input_bytes;
} pl_size_report;

/* Measures the size of `model` by running it once on the reference executor with zero inputs:
 * symbolic or unknown dims are bound to `batch` for dim 0 and 1 elsewhere. Convention: a
 * multiply-add is one MAC, FLOPs = 2 x MACs; Conv counts N*Cout*spatial_out*(Cin/group)*kernel,
 * Gemm/MatMul M*N*K per batch, LSTM/GRU/RNN gates x (input + hidden) x hidden per step. */
pl_status pl_model_size(const pl_model *model, int64_t batch, pl_size_report **out);
void pl_size_report_destroy(pl_size_report *report);

/* ---- measuring: the load generator (src/measure/loadgen.c), MLPerf LoadGen semantics ---- */

typedef enum pl_scenario {
    PL_SCENARIO_SINGLE_STREAM = 0, /* next query when the last completes; headline p90 */
    PL_SCENARIO_MULTI_STREAM = 1,  /* samples_per_query samples per query; headline p99 */
    PL_SCENARIO_SERVER = 2,        /* Poisson arrivals at target_qps; VALID when p99 <= sla */
    PL_SCENARIO_OFFLINE = 3        /* all samples at once; samples/s */
} pl_scenario;

typedef struct pl_bench_settings {
    pl_scenario scenario;
    double min_duration_s;     /* run at least this long (default 10 s; tests use less) */
    int64_t min_queries;       /* run at least this many queries (default: LoadGen's early-stopping
                                  minimum for the scenario's percentile) */
    double warmup_ms;          /* untimed runs before measuring (default 500 ms) */
    int64_t batch;             /* samples per inference, bound to symbolic dim 0 (default 1) */
    int threads;               /* threads per inference (0: library default) */
    int streams;               /* concurrent execution contexts (default 1) */
    int64_t samples_per_query; /* multi-stream (default 8) */
    double sla_ms;             /* server: p99 latency bound (default 100 ms) */
    double target_qps;         /* server: mean arrival rate */
    int find_peak;             /* server: search the highest valid QPS (doubling, then bisection) */
    uint64_t seed;             /* arrivals and generated inputs (default 1) */
    int n_inputs;              /* 0: generate inputs from the model's declared types */
    pl_tensor *const *inputs;  /* borrowed: one sample's inputs (n_inputs of them) */
    const char *energy_meter;  /* NULL: choose automatically (see `plaster bench --help`) */
    const char *energy_external; /* external meter file or "cmd:..." */
    int profile;               /* time every node */
    const char *trace_path;    /* write a Chrome trace of the queries there (NULL: none) */
    int progress;              /* draw a progress bar on stderr when it is a terminal */
    const char *model_path;    /* when set, cold start also times pl_model_load of this file */
    const char *backend;       /* engine backend (NULL: reference); see pl_build_options */
    const char *plan_path;     /* when set, the engine is this plan's (pl_plan_load, timed as the
                                  cold start's load; build is 0): `model` must be the plan's model */
} pl_bench_settings;

/* Fills `s` with the defaults above for `scenario`. */
void pl_bench_settings_default(pl_bench_settings *s, pl_scenario scenario);
const char *pl_scenario_name(pl_scenario scenario);

typedef struct pl_node_time {
    /* borrowed from the model; op is the node's op, or the op a graph pass fused it into
     * (SqueezeExcitation, LayerNormalization: a static string) */
    const char *name, *op;
    int64_t calls;
    double total_ns;
} pl_node_time;

typedef struct pl_server_point {
    double target_qps, achieved_qps, p99_ns;
    int valid;
} pl_server_point;

typedef struct pl_bench_result {
    pl_scenario scenario;
    int valid;                  /* VALID (1) or INVALID (0) */
    char reasons[1024];         /* each failed constraint and the recommendation, one per line */
    int64_t queries, samples;
    double duration_ns;         /* first issue to last completion */
    double min_ns, max_ns, mean_ns, stddev_ns, cv;
    double p50_ns, p90_ns, p95_ns, p97_ns, p99_ns, p999_ns;
    double early_stop_estimate_ns; /* LoadGen's early-stopping percentile estimate (0: n/a) */
    int64_t queries_needed;     /* more queries needed for early stopping (0 when met) */
    double samples_per_s;       /* completed samples / wall time */
    double qps;                 /* completed queries / wall time */
    double load_ns, build_ns, first_run_ns; /* cold start, measured apart */
    int64_t batch_split;        /* cpu backend: samples per slice when the engine ran the batch
                                   split over its threads (pl_context_batch_split); 0: whole */
    int fixed_nodes;            /* cpu backend: nodes computed once per input shape, not per
                                   query (pl_context_fixed_nodes) */
    /* energy, inside the timed window; meter named, estimate flagged */
    char energy_meter[512];
    int energy_is_estimate;
    double energy_j, idle_w, avg_w, j_per_sample, j_per_sample_net, samples_per_j, mj_per_query;
    /* per-node profile when asked */
    int n_nodes;
    pl_node_time *nodes;
    /* server sweep when --find-peak */
    int n_points;
    pl_server_point *points;
    double peak_qps;
    /* every query latency in issue order (for histograms and CDFs) */
    int64_t n_latencies;
    double *latencies_ns;
    /* --find-peak: the check run at 1.2 x peak_qps (verify_valid must be 0) */
    double verify_qps;
    int verify_valid;
    int64_t batch;              /* samples per inference actually used */
    double est_inference_ns;    /* mean untimed warmup inference (the search's starting point) */
} pl_bench_result;

/* Runs the load generator on `model` (borrowed) as `settings` say. */
pl_status pl_bench_run(const pl_model *model, const pl_bench_settings *settings,
                       pl_bench_result **out);
void pl_bench_result_destroy(pl_bench_result *result);

/* ---- measuring: accuracy on datasets (src/data/, src/measure/eval.c) ---- */

typedef struct pl_eval_settings {
    const char *dataset;   /* "fashion-mnist", an IDX images file (labels beside it), a folder of
                              class sub-folders (JPEG/PNG), a folder of .npy pairs, or an ONNX
                              test-data folder */
    int64_t limit;         /* at most this many samples (0: all) */
    int64_t batch;         /* samples per inference (default 1) */
    int threads;
    int progress;
    /* preprocessing for images (0 / NULL: from the model's metadata or its input shape) */
    int64_t resize;        /* shorter side before the centre crop */
    int64_t crop;          /* centre crop size */
    const float *mean, *std; /* per channel, after scaling pixels to [0, 1] */
    int n_channels_norm;
    const char *layout;    /* "NCHW" or "NHWC" */
    const char *backend;   /* engine backend (NULL: reference); see pl_build_options */
    pl_engine *engine;     /* borrowed: run on this engine of `model` (e.g. a plan's) instead of
                              building one (backend and threads are then not used) */
} pl_eval_settings;

void pl_eval_settings_default(pl_eval_settings *s);

typedef struct pl_eval_result {
    char dataset[512];      /* what was read, from where, with which preprocessing */
    int64_t samples;
    int n_classes;
    double top1, top5;      /* fractions in [0, 1] */
    double top1_lo, top1_hi, top5_lo, top5_hi; /* Wilson score 95% intervals */
    int64_t *confusion;     /* n_classes x n_classes, row = true label, column = predicted */
    double seconds;
    int64_t top1_correct, top5_correct; /* counts behind top1 / top5 */
    int64_t batch;          /* samples per inference actually used */
} pl_eval_result;

pl_status pl_eval_run(const pl_model *model, const pl_eval_settings *settings,
                      pl_eval_result **out);
void pl_eval_result_destroy(pl_eval_result *result);

/* ---- the machine ---- */

typedef struct pl_machine_info {
    char cpu_model[128];
    int logical_cpus;
    int64_t mem_bytes;
    char kernel[128];
    char isa[256]; /* vector extensions present, space-separated ("avx2 fma avx512f ...") */
    char compiler[64];
} pl_machine_info;

/* Describes this machine (never fails; unknown fields stay empty). */
void pl_machine_describe(pl_machine_info *out);

typedef struct pl_machine_peaks {
    int threads;
    double fp32_gflops;      /* FMA throughput, 2 FLOPs per lane per FMA */
    const char *fp32_kernel; /* "avx512 fma", "avx2 fma" or "scalar" (static string) */
    double int8_gops;        /* VNNI vpdpbusd, 2 ops per int8 multiply-add; 0 without VNNI */
    double mem_gbps;         /* STREAM triad over 3 x 64 MiB arrays, 12 bytes per element */
} pl_machine_peaks;

/* Measures the peaks with `threads` threads, each kernel for about `seconds` (best of 3). */
pl_status pl_machine_measure(int threads, double seconds, pl_machine_peaks *out);

/* Where a set of peaks came from. */
typedef struct pl_peaks_provenance {
    int from_cache;            /* 1: read from the cache, 0: measured now */
    char measured[64];         /* when they were measured (UTC, ISO 8601) */
    double seconds_per_kernel; /* how long each kernel ran then */
    char cache_path[1024];     /* $XDG_CACHE_HOME/plaster/machine-peaks.txt or ~/.cache/plaster/... */
} pl_peaks_provenance;

/* Peaks for `threads` from the per-CPU cache, else (or with `refresh`) measured as
 * pl_machine_measure does and saved there. A cache that cannot be written is not an error. */
pl_status pl_machine_peaks_cached(int threads, double seconds, int refresh, pl_machine_peaks *out,
                                  pl_peaks_provenance *prov);

/* ---- the PLASTER report (src/report/) ---- */

/* Everything a report shows; NULL or zero members are reported as "not measured". */
typedef struct pl_report_input {
    const char *model_path;
    const pl_model *model;               /* borrowed: summary, I/O, op support */
    const pl_size_report *size;          /* NULL: not measured */
    const pl_machine_info *machine;      /* NULL: not described */
    const pl_machine_peaks *peaks;       /* per thread count */
    int n_peaks;
    const pl_bench_result *single_stream, *multi_stream, *server, *offline; /* NULL: not run */
    const pl_eval_result *eval;          /* NULL: no dataset */
    const char *settings;                /* how the runs were configured, one line */
    int threads;
    uint64_t seed;
    double import_ms, build_ms, first_run_ms; /* cold start pieces, measured by the caller */
} pl_report_input;

/* Writes DIR/report.json (schema "plaster-report/1", docs/REPORT.md), DIR/report.md and a
 * self-contained DIR/report.html (inline SVG charts, no network). DIR is created if missing. */
pl_status pl_report_write(const pl_report_input *in, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
