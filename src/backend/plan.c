/* plan.c - engine plans (TensorRT's serialized engines): a cpu engine saved with the ONNX model,
 * the tactic chosen for each node of the optimized graph and the timings measured at build,
 * stamped with this CPU's identity and the oneDNN version, and loaded again without timing.
 * The format is described in docs/PLAN.md. Also the engine's build introspection (log lines,
 * per-node tactics) that `plaster build` prints. */
#include "cpu.h"
#include "../onnx/onnx.h"
#ifdef PL_HAVE_DNNL
#include "dnnl/dnnl_util.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#ifndef PL_GIT_REV
#define PL_GIT_REV "unknown"
#endif

#define PLAN_MAGIC "PLSTPLAN"
#define PLAN_MAGIC_LEN 8
#define PLAN_VERSION 1u
#define PLAN_MAX_CAND 8
/* magic, version, total size ... crc */
#define PLAN_MIN_SIZE (PLAN_MAGIC_LEN + 4 + 8 + 4)

/* ---- this machine ---- */

/* The ISA features that decide which kernels plaster and oneDNN run, as /proc/cpuinfo names
 * them, in this order. */
static const char *const cpu_features[] = {"sse4_2",      "avx",         "avx2",        "fma",         "f16c",
                                           "avx512f",     "avx512dq",    "avx512cd",    "avx512bw",    "avx512vl",
                                           "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",    "amx_tile",
                                           "amx_bf16",    "amx_int8"};

/* The CPU's model name and its features from the list above ("avx2 fma ..."). For tests the
 * environment variable PL_PLAN_CPU_OVERRIDE replaces the feature string (a plan then looks as
 * if built on, or loaded on, another machine). */
static void cpu_identity(char *model, size_t model_size, char *features, size_t features_size) {
    snprintf(model, model_size, "unknown");
    features[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    bool have_model = false, have_flags = false;
    while (f && fgets(line, sizeof line, f) && !(have_model && have_flags)) {
        line[strcspn(line, "\n")] = 0;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        const char *value = colon + 1 + (colon[1] == ' ');
        if (!have_model && !strncmp(line, "model name", 10)) {
            snprintf(model, model_size, "%s", value);
            have_model = true;
        } else if (!have_flags && !strncmp(line, "flags", 5)) {
            size_t used = 0;
            for (size_t i = 0; i < sizeof cpu_features / sizeof cpu_features[0]; i++) {
                const char *p = value;
                size_t n = strlen(cpu_features[i]);
                bool has = false;
                while (!has && (p = strstr(p, cpu_features[i])) != NULL) {
                    has = (p == value || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0);
                    p += n;
                }
                if (has && used < features_size)
                    used += (size_t)snprintf(features + used, features_size - used, "%s%s", used ? " " : "", cpu_features[i]);
            }
            have_flags = true;
        }
    }
    if (f) fclose(f);
    const char *over = getenv("PL_PLAN_CPU_OVERRIDE");
    if (over && over[0]) snprintf(features, features_size, "%s", over);
}

/* "oneDNN 2.6.3 (OpenMP)", or "none" without oneDNN; PL_PLAN_ONEDNN_OVERRIDE replaces it (tests). */
static const char *onednn_version(void) {
    const char *over = getenv("PL_PLAN_ONEDNN_OVERRIDE");
    if (over && over[0]) return over;
#ifdef PL_HAVE_DNNL
    return pl_dnnl_version();
#else
    return "none";
#endif
}

/* ---- writing ---- */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void put(wbuf *w, const void *src, size_t n) {
    if (w->oom) return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->n + n) cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->oom = true;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void put_u32(wbuf *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 4);
}

static void put_u64(wbuf *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 8);
}

static void put_f64(wbuf *w, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u64(w, u);
}

static void put_str(wbuf *w, const char *s) {
    size_t n = s ? strlen(s) : 0;
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

/* ---- reading: every length is checked against what remains ---- */

typedef struct rbuf {
    const uint8_t *p;
    size_t n, off;
    const char *name; /* the plan, for messages */
} rbuf;

static pl_status need(rbuf *r, size_t n, const char *field) {
    if (n > r->n - r->off)
        return pl_err(PL_ERR_INVALID, "%s: damaged plan: field '%s' needs %zu bytes at offset %zu, %zu remain", r->name,
                      field, n, r->off, r->n - r->off);
    return PL_OK;
}

static pl_status get_u32(rbuf *r, const char *field, uint32_t *v) {
    PL_TRY(need(r, 4, field));
    *v = 0;
    for (int i = 0; i < 4; i++) *v |= (uint32_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += 4;
    return PL_OK;
}

static pl_status get_u64(rbuf *r, const char *field, uint64_t *v) {
    PL_TRY(need(r, 8, field));
    *v = 0;
    for (int i = 0; i < 8; i++) *v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += 8;
    return PL_OK;
}

static pl_status get_f64(rbuf *r, const char *field, double *v) {
    uint64_t u;
    PL_TRY(get_u64(r, field, &u));
    memcpy(v, &u, sizeof *v);
    return PL_OK;
}

/* A NUL-terminated copy of a length-prefixed string (freed by the caller). */
static pl_status get_str(rbuf *r, const char *field, char **out) {
    *out = NULL;
    uint32_t n;
    PL_TRY(get_u32(r, field, &n));
    PL_TRY(need(r, n, field));
    char *s = malloc((size_t)n + 1);
    if (!s) return pl_err(PL_ERR_NOMEM, "out of memory");
    memcpy(s, r->p + r->off, n);
    s[n] = 0;
    r->off += n;
    *out = s;
    return PL_OK;
}

/* ---- the plan in memory ---- */

typedef struct plan_node {
    char *name, *op, *tactic;
    uint32_t n_cand;
    char *cand[PLAN_MAX_CAND];
    double cand_ns[PLAN_MAX_CAND];
} plan_node;

typedef struct plan {
    char *plaster_version, *git_rev, *cpu_model, *cpu_features, *onednn;
    uint32_t threads, onednn_used;
    uint64_t batch;
    double build_ns;
    char *model_name;
    const uint8_t *model; /* borrowed from the file's bytes */
    uint64_t model_size;
    uint32_t n_nodes;
    plan_node *nodes;
} plan;

static void plan_free(plan *pl) {
    free(pl->plaster_version);
    free(pl->git_rev);
    free(pl->cpu_model);
    free(pl->cpu_features);
    free(pl->onednn);
    free(pl->model_name);
    for (uint32_t i = 0; pl->nodes && i < pl->n_nodes; i++) {
        plan_node *pn = &pl->nodes[i];
        free(pn->name);
        free(pn->op);
        free(pn->tactic);
        for (uint32_t c = 0; c < pn->n_cand; c++) free(pn->cand[c]);
    }
    free(pl->nodes);
    memset(pl, 0, sizeof *pl);
}

/* Checks magic, format version, size and checksum, then reads every field. */
static pl_status plan_parse(const uint8_t *bytes, size_t size, const char *name, plan *pl) {
    memset(pl, 0, sizeof *pl);
    if (size < PLAN_MAGIC_LEN || memcmp(bytes, PLAN_MAGIC, PLAN_MAGIC_LEN) != 0)
        return pl_err(PL_ERR_INVALID, "%s: not a plaster plan (no '%s' magic at the start)", name, PLAN_MAGIC);
    rbuf r = {.p = bytes, .n = size, .off = PLAN_MAGIC_LEN, .name = name};
    uint32_t version;
    uint64_t total;
    PL_TRY(get_u32(&r, "format version", &version));
    if (version != PLAN_VERSION)
        return pl_err(PL_ERR_INVALID, "%s: plan format version %u; this plaster reads version %u: rebuild the plan (plaster build)",
                      name, version, PLAN_VERSION);
    PL_TRY(get_u64(&r, "total size", &total));
    if (total != size)
        return pl_err(PL_ERR_INVALID, "%s: truncated or damaged plan: the file has %zu bytes, its header says %llu", name, size,
                      (unsigned long long)total);
    if (size < PLAN_MIN_SIZE) return pl_err(PL_ERR_INVALID, "%s: damaged plan: %zu bytes is too short", name, size);
    uint32_t want = 0;
    for (int i = 0; i < 4; i++) want |= (uint32_t)bytes[size - 4 + (size_t)i] << (8 * i);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < size - 4;) { /* zlib takes uInt lengths */
        size_t chunk = size - 4 - off > (1u << 30) ? (1u << 30) : size - 4 - off;
        crc = crc32(crc, bytes + off, (uInt)chunk);
        off += chunk;
    }
    if ((uint32_t)crc != want)
        return pl_err(PL_ERR_INVALID, "%s: damaged plan: checksum mismatch (CRC-32 %08x, stored %08x)", name, (unsigned)crc,
                      (unsigned)want);
    r.n = size - 4; /* fields end where the checksum starts */
    pl_status st = PL_OK;
#define GET(call)                                                                                                      \
    do {                                                                                                               \
        if (st == PL_OK) st = (call);                                                                                  \
    } while (0)
    GET(get_str(&r, "plaster version", &pl->plaster_version));
    GET(get_str(&r, "git revision", &pl->git_rev));
    GET(get_str(&r, "cpu model", &pl->cpu_model));
    GET(get_str(&r, "cpu features", &pl->cpu_features));
    GET(get_str(&r, "oneDNN version", &pl->onednn));
    GET(get_u32(&r, "threads", &pl->threads));
    GET(get_u64(&r, "batch", &pl->batch));
    GET(get_u32(&r, "oneDNN used", &pl->onednn_used));
    GET(get_f64(&r, "build time", &pl->build_ns));
    GET(get_str(&r, "model name", &pl->model_name));
    GET(get_u64(&r, "model size", &pl->model_size));
    if (st == PL_OK && pl->model_size > r.n - r.off)
        st = pl_err(PL_ERR_INVALID, "%s: damaged plan: the model claims %llu bytes, %zu remain", name,
                    (unsigned long long)pl->model_size, r.n - r.off);
    if (st == PL_OK) {
        pl->model = r.p + r.off;
        r.off += (size_t)pl->model_size;
    }
    uint32_t n_nodes = 0;
    GET(get_u32(&r, "node count", &n_nodes));
    /* each node takes at least 16 bytes: three empty strings and a candidate count */
    if (st == PL_OK && n_nodes > (r.n - r.off) / 16)
        st = pl_err(PL_ERR_INVALID, "%s: damaged plan: %u nodes cannot fit in the %zu bytes left", name, n_nodes, r.n - r.off);
    if (st == PL_OK && n_nodes) {
        pl->nodes = calloc(n_nodes, sizeof *pl->nodes);
        if (!pl->nodes) st = pl_err(PL_ERR_NOMEM, "out of memory");
        else pl->n_nodes = n_nodes;
    }
    for (uint32_t i = 0; st == PL_OK && i < n_nodes; i++) {
        plan_node *pn = &pl->nodes[i];
        GET(get_str(&r, "node name", &pn->name));
        GET(get_str(&r, "node op", &pn->op));
        GET(get_str(&r, "node tactic", &pn->tactic));
        uint32_t nc = 0;
        GET(get_u32(&r, "candidate count", &nc));
        if (st == PL_OK && nc > PLAN_MAX_CAND)
            st = pl_err(PL_ERR_INVALID, "%s: damaged plan: node %u has %u candidates (at most %d)", name, i, nc, PLAN_MAX_CAND);
        for (uint32_t c = 0; st == PL_OK && c < nc; c++) {
            GET(get_str(&r, "candidate name", &pn->cand[c]));
            if (st == PL_OK) pn->n_cand = c + 1;
            GET(get_f64(&r, "candidate time", &pn->cand_ns[c]));
        }
    }
    if (st == PL_OK && r.off != r.n)
        st = pl_err(PL_ERR_INVALID, "%s: damaged plan: %zu unread bytes before the checksum", name, r.n - r.off);
#undef GET
    if (st != PL_OK) plan_free(pl);
    return st;
}

/* ---- saving ---- */

/* True when a tensor (or one inside a graph attribute) keeps its data in an external file. */
static bool tensor_external(const Onnx__TensorProto *t) {
    return t && t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static const char *graph_external(const Onnx__GraphProto *g, int depth) {
    if (!g || depth > 64) return NULL;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (tensor_external(g->initializer[i])) return g->initializer[i]->name ? g->initializer[i]->name : "?";
    for (size_t n = 0; n < g->n_node; n++) {
        const Onnx__NodeProto *node = g->node[n];
        for (size_t a = 0; a < node->n_attribute; a++) {
            const Onnx__AttributeProto *at = node->attribute[a];
            if (tensor_external(at->t)) return at->name;
            for (size_t k = 0; k < at->n_tensors; k++)
                if (tensor_external(at->tensors[k])) return at->name;
            const char *sub = graph_external(at->g, depth + 1);
            for (size_t k = 0; !sub && k < at->n_graphs; k++) sub = graph_external(at->graphs[k], depth + 1);
            if (sub) return sub;
        }
    }
    return NULL;
}

/* The ONNX bytes of the engine's model: re-read from its file, or taken from the plan it was
 * loaded from. Refuses models with external data (a plan is one self-contained file). */
static pl_status model_bytes(const pl_model *m, void **buf, size_t *size, const uint8_t **bytes, size_t *n) {
    if (!m->path) return pl_err(PL_ERR_INVALID, "the model was not loaded from a file: a plan re-reads the model's file");
    PL_TRY(pl_read_file(m->path, buf, size));
    *bytes = *buf;
    *n = *size;
    if (*size >= PLAN_MAGIC_LEN && !memcmp(*buf, PLAN_MAGIC, PLAN_MAGIC_LEN)) {
        plan pl;
        PL_TRY(plan_parse(*buf, *size, m->path, &pl));
        *bytes = pl.model;
        *n = (size_t)pl.model_size;
        plan_free(&pl);
        return PL_OK;
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, *size, *buf);
    if (!mp) return pl_err(PL_ERR_INVALID, "%s: the model file no longer parses as ONNX", m->path);
    const char *ext = graph_external(mp->graph, 0);
    pl_status st = PL_OK;
    if (ext)
        st = pl_err(PL_ERR_UNSUPPORTED,
                    "%s: tensor '%s' keeps its data in an external file; plans embed self-contained models only "
                    "(save the model with its weights inside, e.g. onnx.save(model, path, save_as_external_data=False))",
                    m->path, ext);
    onnx__model_proto__free_unpacked(mp, NULL);
    return st;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

pl_status pl_engine_save_plan(const pl_engine *e, const char *path) {
    pl_err_clear();
    if (!e || !path) return pl_err(PL_ERR_INVALID, "pl_engine_save_plan: no engine or no path");
    if (!e->cpu)
        return pl_err(PL_ERR_INVALID, "plans are made of cpu engines; this engine's backend is '%s' (build with backend \"cpu\")",
                      e->backend);
    const pl_cpu_engine *ce = e->cpu;
    const pl_xgraph *xg = ce->xg;
    void *buf = NULL;
    size_t size = 0, msize = 0;
    const uint8_t *mbytes = NULL;
    pl_status st = model_bytes(e->model, &buf, &size, &mbytes, &msize);
    if (st != PL_OK) {
        free(buf);
        return st;
    }
    char cpu_model[256], features[512];
    cpu_identity(cpu_model, sizeof cpu_model, features, sizeof features);
    wbuf w = {0};
    put(&w, PLAN_MAGIC, PLAN_MAGIC_LEN);
    put_u32(&w, PLAN_VERSION);
    put_u64(&w, 0); /* total size, patched below */
    put_str(&w, PL_VERSION_STRING);
    put_str(&w, PL_GIT_REV);
    put_str(&w, cpu_model);
    put_str(&w, features);
    put_str(&w, onednn_version());
    put_u32(&w, (uint32_t)(ce->threads > 0 ? ce->threads : 0));
    put_u64(&w, (uint64_t)ce->build_batch);
    put_u32(&w, ce->dnnl ? 1u : 0u);
    put_f64(&w, ce->build_ns);
    put_str(&w, base_name(e->model->path));
    put_u64(&w, (uint64_t)msize);
    put(&w, mbytes, msize);
    free(buf);
    uint32_t live = 0;
    for (int n = 0; n < xg->n_nodes; n++) live += !xg->nodes[n].dead;
    put_u32(&w, live);
    for (int n = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        put_str(&w, xn->node->name);
        put_str(&w, xn->op);
        put_str(&w, xn->tactic ? xn->tactic->name : "");
        const pl_tactic *cand[PLAN_MAX_CAND];
        int nc = pl_tactics_for(xg, xn, cand, PLAN_MAX_CAND);
        put_u32(&w, (uint32_t)nc);
        for (int c = 0; c < nc; c++) {
            put_str(&w, cand[c]->name);
            put_f64(&w, xn->tactic_ns[c]);
        }
    }
    put_u32(&w, 0); /* checksum, patched below */
    if (w.oom) {
        free(w.p);
        return pl_err(PL_ERR_NOMEM, "%s: out of memory writing the plan", path);
    }
    for (int i = 0; i < 8; i++) w.p[PLAN_MAGIC_LEN + 4 + i] = (uint8_t)((uint64_t)w.n >> (8 * i));
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < w.n - 4;) {
        size_t chunk = w.n - 4 - off > (1u << 30) ? (1u << 30) : w.n - 4 - off;
        crc = crc32(crc, w.p + off, (uInt)chunk);
        off += chunk;
    }
    for (int i = 0; i < 4; i++) w.p[w.n - 4 + (size_t)i] = (uint8_t)((uint32_t)crc >> (8 * i));
    /* written beside the target, then renamed over it: a reader never sees half a plan */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(w.p);
        return pl_err(PL_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    bool ok = fwrite(w.p, 1, w.n, f) == w.n;
    ok = (fclose(f) == 0) && ok;
    free(w.p);
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return pl_err(PL_ERR_IO, "%s: cannot write the plan: %s", path, strerror(err));
    }
    return PL_OK;
}

/* ---- loading ---- */

bool pl_path_is_plan(const char *path) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return false;
    char head[PLAN_MAGIC_LEN];
    bool is = fread(head, 1, sizeof head, f) == sizeof head && !memcmp(head, PLAN_MAGIC, PLAN_MAGIC_LEN);
    fclose(f);
    return is;
}

/* Refuses a plan made on another machine or with another oneDNN. */
static pl_status check_machine(const plan *pl, const char *name) {
    char cpu_model[256], features[512];
    cpu_identity(cpu_model, sizeof cpu_model, features, sizeof features);
    if (strcmp(pl->cpu_features, features))
        return pl_err(PL_ERR_INVALID,
                      "%s: refused: the plan was built on a CPU with features '%s' (%s), this CPU has '%s' (%s); rebuild it "
                      "here with plaster build",
                      name, pl->cpu_features, pl->cpu_model, features, cpu_model);
    const char *dnnl = onednn_version();
    if (pl->onednn_used && strcmp(pl->onednn, dnnl))
        return pl_err(PL_ERR_INVALID,
                      "%s: refused: the plan was built with %s, this plaster has %s; rebuild it here with plaster build", name,
                      pl->onednn, strcmp(dnnl, "none") ? dnnl : "no oneDNN");
    return PL_OK;
}

/* The engine around a cpu engine built with the plan's tactics, and the build timings put back
 * on the nodes (in this build's candidate order). */
static pl_status rebuild(const plan *pl, const pl_model *m, const pl_build_options *runtime, const char *name,
                         pl_engine **out) {
    const char **forced = calloc(pl->n_nodes ? pl->n_nodes : 1, sizeof *forced);
    if (!forced) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < pl->n_nodes; i++) forced[i] = pl->nodes[i].tactic;
    int threads = runtime && runtime->threads > 0 ? runtime->threads : (int)pl->threads;
    pl_cpu_build_opts co = {.threads = threads,
                            .batch = (int64_t)pl->batch,
                            .no_dnnl = !pl->onednn_used,
                            .forced = forced,
                            .n_forced = (int)pl->n_nodes};
    pl_engine *e = calloc(1, sizeof *e);
    pl_status st = e ? pl_cpu_engine_build(m, &co, &e->cpu) : pl_err(PL_ERR_NOMEM, "out of memory");
    free(forced);
    if (st != PL_OK) {
        free(e);
        return pl_err_prefix(st, "%s", name);
    }
    e->model = m;
    e->threads = threads;
    snprintf(e->backend, sizeof e->backend, "cpu");
    pl_xgraph *xg = e->cpu->xg;
    uint32_t k = 0;
    for (int n = 0; n < xg->n_nodes && st == PL_OK; n++) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        const plan_node *pn = &pl->nodes[k++];
        if (strcmp(pn->name, xn->node->name) || strcmp(pn->op, xn->op)) {
            st = pl_err(PL_ERR_INVALID,
                        "%s: the plan's node %u is '%s' (%s), this plaster's optimized graph has '%s' (%s) there; rebuild the "
                        "plan with this plaster",
                        name, k - 1, pn->name, pn->op, xn->node->name, xn->op);
            break;
        }
        const pl_tactic *cand[PLAN_MAX_CAND];
        int nc = pl_tactics_for(xg, xn, cand, PLAN_MAX_CAND);
        for (int c = 0; c < nc; c++)
            for (uint32_t j = 0; j < pn->n_cand; j++)
                if (!strcmp(pn->cand[j], cand[c]->name)) xn->tactic_ns[c] = pn->cand_ns[j];
    }
    e->cpu->build_batch = (int64_t)pl->batch;
    if (st != PL_OK) {
        pl_engine_destroy(e);
        return st;
    }
    *out = e;
    return PL_OK;
}

pl_status pl_plan_load_bytes(const void *bytes, size_t size, const char *name, const pl_build_options *runtime,
                             pl_model **model, pl_engine **engine) {
    *model = NULL;
    *engine = NULL;
    pl_err_clear();
    if (!name) name = "plan";
    if (runtime && runtime->backend && strcmp(runtime->backend, "cpu"))
        return pl_err(PL_ERR_INVALID, "%s: a plan holds a cpu engine; backend '%s' cannot run it", name, runtime->backend);
    plan pl;
    PL_TRY(plan_parse(bytes, size, name, &pl));
    pl_status st = check_machine(&pl, name);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", name);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    pl_model *m = NULL;
    if (st == PL_OK) st = pl_onnx_parse(pl.model, (size_t)pl.model_size, name, dir, &m);
    if (st == PL_OK) st = rebuild(&pl, m, runtime, name, engine);
    plan_free(&pl);
    if (st != PL_OK) {
        pl_model_destroy(m);
        return st;
    }
    *model = m;
    return PL_OK;
}

pl_status pl_plan_load(const char *path, const pl_build_options *runtime, pl_model **model, pl_engine **engine) {
    *model = NULL;
    *engine = NULL;
    pl_err_clear();
    void *buf;
    size_t size;
    PL_TRY(pl_read_file(path, &buf, &size));
    pl_status st = pl_plan_load_bytes(buf, size, path, runtime, model, engine);
    free(buf);
    return st;
}

/* ---- what a build did ---- */

int pl_engine_log_count(const pl_engine *e) { return e && e->cpu ? e->cpu->xg->n_log : 0; }

const char *pl_engine_log_line(const pl_engine *e, int index) {
    if (index < 0 || index >= pl_engine_log_count(e)) return NULL;
    return e->cpu->xg->log[index];
}

pl_status pl_engine_node_info(const pl_engine *e, int index, pl_engine_node *out) {
    memset(out, 0, sizeof *out);
    if (!e || !e->cpu) return pl_err(PL_ERR_INVALID, "only cpu engines have optimized nodes");
    const pl_xgraph *xg = e->cpu->xg;
    for (int n = 0, live = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        if (xn->dead || live++ != index) continue;
        out->name = xn->node->name;
        out->op = xn->op;
        out->tactic = xn->tactic ? xn->tactic->name : "";
        const pl_tactic *cand[PLAN_MAX_CAND];
        out->n_candidates = pl_tactics_for(xg, xn, cand, PLAN_MAX_CAND);
        for (int c = 0; c < out->n_candidates; c++) {
            out->candidates[c] = cand[c]->name;
            out->candidate_ns[c] = xn->tactic_ns[c];
        }
        return PL_OK;
    }
    return pl_err(PL_ERR_INVALID, "node index %d out of range (the engine has %d)", index, pl_engine_node_count(e));
}

pl_status pl_engine_build_info_get(const pl_engine *e, pl_engine_build_info *out) {
    memset(out, 0, sizeof *out);
    if (!e || !e->cpu) return pl_err(PL_ERR_INVALID, "only cpu engines have build settings");
    out->threads = e->cpu->threads;
    out->batch = e->cpu->build_batch;
    out->onednn = e->cpu->dnnl;
    out->build_ns = e->cpu->build_ns;
    out->onednn_version = onednn_version();
    return PL_OK;
}
