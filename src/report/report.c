/* report.c - the PLASTER report: report.json, report.md and report.html from one results model. */
#include "sbuf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifndef PL_GIT_REV
#define PL_GIT_REV "unknown"
#endif

/* ---- verdicts: one line per PLASTER element ---- */

typedef struct verdicts {
    char p[512], l[512], a[512], s[512], t[512], e[512], r[512];
} verdicts;

static int ops_supported(const pl_model *m, int *total) {
    int ok = 0;
    *total = pl_model_op_count(m);
    for (int i = 0; i < *total; i++) {
        const char *op;
        int64_t c;
        int sup;
        pl_model_op_get(m, i, &op, &c, &sup);
        ok += sup;
    }
    return ok;
}

static void make_verdicts(const pl_report_input *in, verdicts *v) {
    int total = 0, ok = in->model ? ops_supported(in->model, &total) : 0;
    snprintf(v->p, sizeof v->p,
             "%d of %d op types run on the reference executor; import %.1f ms, build %.1f ms, first inference %.1f ms; C API and CLI",
             ok, total, in->import_ms, in->build_ms, in->first_run_ms);
    const pl_bench_result *ss = in->single_stream;
    if (ss)
        snprintf(v->l, sizeof v->l, "single-stream p90 %.3f ms, p99 %.3f ms over %lld queries (%s)", ss->p90_ns / 1e6,
                 ss->p99_ns / 1e6, (long long)ss->queries, ss->valid ? "VALID" : "INVALID");
    else snprintf(v->l, sizeof v->l, "not measured");
    if (in->eval)
        snprintf(v->a, sizeof v->a, "top-1 %.2f%% (95%% CI %.2f-%.2f%%), top-5 %.2f%% on %lld samples", 100 * in->eval->top1,
                 100 * in->eval->top1_lo, 100 * in->eval->top1_hi, 100 * in->eval->top5, (long long)in->eval->samples);
    else snprintf(v->a, sizeof v->a, "not measured: give a dataset (--dataset)");
    if (in->size)
        snprintf(v->s, sizeof v->s, "%.3f M parameters, %.2f MB at fp32 (%.2f MB at int8), %.3f GMACs per batch of %lld, peak activations %.2f MiB",
                 in->size->params / 1e6, in->size->bytes_fp32 / 1e6, in->size->bytes_int8 / 1e6, in->size->macs / 1e9,
                 (long long)in->size->batch, in->size->peak_activation_bytes / 1048576.0);
    else snprintf(v->s, sizeof v->s, "not measured");
    char t1[256] = "", t2[256] = "";
    if (in->offline) snprintf(t1, sizeof t1, "offline %.1f samples/s", in->offline->samples_per_s);
    if (in->server && in->server->peak_qps > 0)
        snprintf(t2, sizeof t2, "%sserver peak %.1f QPS with p99 within the SLA (a run at %.1f QPS, 1.2x, was %s)",
                 t1[0] ? "; " : "", in->server->peak_qps, in->server->verify_qps,
                 in->server->verify_valid ? "still VALID" : "INVALID");
    if (t1[0] || t2[0]) snprintf(v->t, sizeof v->t, "%s%s", t1, t2);
    else snprintf(v->t, sizeof v->t, "not measured");
    const pl_bench_result *eb = in->offline ? in->offline : ss;
    if (eb && eb->energy_meter[0])
        snprintf(v->e, sizeof v->e, "%.4f J per inference (%.1f inferences per J) by %s%s", eb->j_per_sample, eb->samples_per_j,
                 eb->energy_is_estimate ? "an ESTIMATE: " : "", eb->energy_meter);
    else snprintf(v->e, sizeof v->e, "not measured");
    snprintf(v->r, sizeof v->r, "not measured: plaster has no trainer yet (a later release), so no rate of learning is reported");
}

/* ---- JSON ---- */

static void json_bench(pl_sbuf *b, const char *key, const pl_bench_result *r, bool first) {
    pl_sb_printf(b, "%s\n    ", first ? "" : ",");
    pl_sb_json_str(b, key);
    if (!r) {
        pl_sb_printf(b, ": null");
        return;
    }
    pl_sb_printf(b, ": {\"scenario\": \"%s\", \"valid\": %s, \"reasons\": ", pl_scenario_name(r->scenario),
                 r->valid ? "true" : "false");
    pl_sb_json_str(b, r->reasons);
    pl_sb_printf(b, ", \"queries\": %lld, \"samples\": %lld, \"duration_ns\": ", (long long)r->queries, (long long)r->samples);
    pl_sb_json_num(b, r->duration_ns);
    const char *names[] = {"min_ns", "max_ns", "mean_ns", "stddev_ns", "p50_ns", "p90_ns", "p95_ns", "p97_ns", "p99_ns",
                           "p999_ns", "early_stop_estimate_ns", "samples_per_s", "qps", "cv"};
    double vals[] = {r->min_ns, r->max_ns, r->mean_ns, r->stddev_ns, r->p50_ns, r->p90_ns, r->p95_ns, r->p97_ns, r->p99_ns,
                     r->p999_ns, r->early_stop_estimate_ns, r->samples_per_s, r->qps, r->cv};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        pl_sb_printf(b, ", \"%s\": ", names[i]);
        pl_sb_json_num(b, vals[i]);
    }
    pl_sb_printf(b, ", \"queries_needed\": %lld, \"latency_method\": \"wall clock (CLOCK_MONOTONIC) from issue (server: scheduled arrival) to completion; nearest-rank percentiles\"",
                 (long long)r->queries_needed);
    pl_sb_printf(b, ", \"energy\": {\"meter\": ");
    pl_sb_json_str(b, r->energy_meter);
    pl_sb_printf(b, ", \"estimate\": %s, \"energy_j\": ", r->energy_is_estimate ? "true" : "false");
    pl_sb_json_num(b, r->energy_j);
    pl_sb_printf(b, ", \"idle_w\": ");
    pl_sb_json_num(b, r->idle_w);
    pl_sb_printf(b, ", \"avg_w\": ");
    pl_sb_json_num(b, r->avg_w);
    pl_sb_printf(b, ", \"j_per_sample\": ");
    pl_sb_json_num(b, r->j_per_sample);
    pl_sb_printf(b, ", \"j_per_sample_net\": ");
    pl_sb_json_num(b, r->j_per_sample_net);
    pl_sb_printf(b, ", \"samples_per_j\": ");
    pl_sb_json_num(b, r->samples_per_j);
    pl_sb_printf(b, ", \"mj_per_query\": ");
    pl_sb_json_num(b, r->mj_per_query);
    pl_sb_printf(b, "}, \"server_points\": [");
    for (int i = 0; i < r->n_points; i++) {
        pl_sb_printf(b, "%s{\"target_qps\": ", i ? ", " : "");
        pl_sb_json_num(b, r->points[i].target_qps);
        pl_sb_printf(b, ", \"achieved_qps\": ");
        pl_sb_json_num(b, r->points[i].achieved_qps);
        pl_sb_printf(b, ", \"p99_ns\": ");
        pl_sb_json_num(b, r->points[i].p99_ns);
        pl_sb_printf(b, ", \"valid\": %s}", r->points[i].valid ? "true" : "false");
    }
    pl_sb_printf(b, "], \"peak_qps\": ");
    pl_sb_json_num(b, r->peak_qps);
    pl_sb_printf(b, ", \"verify_qps\": ");
    pl_sb_json_num(b, r->verify_qps);
    pl_sb_printf(b, ", \"verify_valid\": %s, \"batch\": %lld", r->verify_valid ? "true" : "false", (long long)r->batch);
    pl_sb_printf(b, ", \"profile\": [");
    for (int i = 0; i < r->n_nodes; i++) {
        pl_sb_printf(b, "%s{\"name\": ", i ? ", " : "");
        pl_sb_json_str(b, r->nodes[i].name);
        pl_sb_printf(b, ", \"op\": ");
        pl_sb_json_str(b, r->nodes[i].op);
        pl_sb_printf(b, ", \"calls\": %lld, \"total_ns\": ", (long long)r->nodes[i].calls);
        pl_sb_json_num(b, r->nodes[i].total_ns);
        pl_sb_printf(b, "}");
    }
    pl_sb_printf(b, "]}");
}

static void json_io(pl_sbuf *b, const pl_model *m, bool inputs) {
    int n = inputs ? pl_model_input_count(m) : pl_model_output_count(m);
    pl_sb_printf(b, "[");
    for (int i = 0; i < n; i++) {
        pl_io_info info;
        if (inputs) pl_model_input_info(m, i, &info);
        else pl_model_output_info(m, i, &info);
        pl_sb_printf(b, "%s{\"name\": ", i ? ", " : "");
        pl_sb_json_str(b, info.name);
        pl_sb_printf(b, ", \"dtype\": \"%s\", \"shape\": [", pl_dtype_name(info.dtype));
        for (int d = 0; d < info.rank; d++) {
            if (d) pl_sb_printf(b, ", ");
            if (info.dims[d].symbol) pl_sb_json_str(b, info.dims[d].symbol);
            else if (info.dims[d].value >= 0) pl_sb_printf(b, "%lld", (long long)info.dims[d].value);
            else pl_sb_printf(b, "null");
        }
        pl_sb_printf(b, "]}");
    }
    pl_sb_printf(b, "]");
}

static void write_json(pl_sbuf *b, const pl_report_input *in, const verdicts *v, const char *when) {
    pl_sb_printf(b, "{\n  \"schema\": \"plaster-report/1\",\n  \"generated\": \"%s\",\n", when);
    pl_sb_printf(b, "  \"plaster\": {\"version\": \"%s\", \"git\": \"%s\", \"backend\": \"reference\"},\n", PL_VERSION_STRING, PL_GIT_REV);
    pl_sb_printf(b, "  \"settings\": ");
    pl_sb_json_str(b, in->settings);
    pl_sb_printf(b, ",\n  \"threads\": %d,\n  \"seed\": %llu,\n", in->threads, (unsigned long long)in->seed);
    if (in->machine) {
        const pl_machine_info *m = in->machine;
        pl_sb_printf(b, "  \"machine\": {\"cpu_model\": ");
        pl_sb_json_str(b, m->cpu_model);
        pl_sb_printf(b, ", \"logical_cpus\": %d, \"mem_bytes\": %lld, \"kernel\": ", m->logical_cpus, (long long)m->mem_bytes);
        pl_sb_json_str(b, m->kernel);
        pl_sb_printf(b, ", \"isa\": ");
        pl_sb_json_str(b, m->isa);
        pl_sb_printf(b, ", \"compiler\": ");
        pl_sb_json_str(b, m->compiler);
        pl_sb_printf(b, ", \"peaks\": [");
        for (int i = 0; i < in->n_peaks; i++) {
            pl_sb_printf(b, "%s{\"threads\": %d, \"fp32_gflops\": ", i ? ", " : "", in->peaks[i].threads);
            pl_sb_json_num(b, in->peaks[i].fp32_gflops);
            pl_sb_printf(b, ", \"int8_gops\": ");
            pl_sb_json_num(b, in->peaks[i].int8_gops);
            pl_sb_printf(b, ", \"mem_gbps\": ");
            pl_sb_json_num(b, in->peaks[i].mem_gbps);
            pl_sb_printf(b, "}");
        }
        pl_sb_printf(b, "], \"peaks_method\": \"FMA chains (1 FMA = 2 FLOPs), vpdpbusd (1 MAC = 2 ops), STREAM triad (12 bytes/element); best of 3\"},\n");
    }
    if (in->model) {
        pl_model_summary s;
        pl_model_summary_get(in->model, &s);
        pl_sb_printf(b, "  \"model\": {\"path\": ");
        pl_sb_json_str(b, in->model_path);
        pl_sb_printf(b, ", \"producer\": ");
        pl_sb_json_str(b, s.producer);
        pl_sb_printf(b, ", \"ir_version\": %lld, \"opset\": %lld, \"nodes\": %lld, \"inputs\": ", (long long)s.ir_version,
                     (long long)s.opset, (long long)s.node_count);
        json_io(b, in->model, true);
        pl_sb_printf(b, ", \"outputs\": ");
        json_io(b, in->model, false);
        pl_sb_printf(b, ", \"ops\": [");
        for (int i = 0; i < pl_model_op_count(in->model); i++) {
            const char *op;
            int64_t c;
            int sup;
            pl_model_op_get(in->model, i, &op, &c, &sup);
            pl_sb_printf(b, "%s{\"op\": ", i ? ", " : "");
            pl_sb_json_str(b, op);
            pl_sb_printf(b, ", \"count\": %lld, \"supported\": %s}", (long long)c, sup ? "true" : "false");
        }
        pl_sb_printf(b, "]},\n");
    }
    pl_sb_printf(b, "  \"elements\": {\n    \"programmability\": {\"verdict\": ");
    pl_sb_json_str(b, v->p);
    pl_sb_printf(b, ", \"import_ms\": ");
    pl_sb_json_num(b, in->import_ms);
    pl_sb_printf(b, ", \"build_ms\": ");
    pl_sb_json_num(b, in->build_ms);
    pl_sb_printf(b, ", \"first_run_ms\": ");
    pl_sb_json_num(b, in->first_run_ms);
    pl_sb_printf(b, ", \"apis\": [\"C\", \"CLI\"]},\n    \"latency\": {\"verdict\": ");
    pl_sb_json_str(b, v->l);
    pl_sb_printf(b, "},\n    \"accuracy\": {\"verdict\": ");
    pl_sb_json_str(b, v->a);
    if (in->eval) {
        const pl_eval_result *e = in->eval;
        pl_sb_printf(b, ", \"dataset\": ");
        pl_sb_json_str(b, e->dataset);
        pl_sb_printf(b, ", \"samples\": %lld, \"top1\": ", (long long)e->samples);
        pl_sb_json_num(b, e->top1);
        pl_sb_printf(b, ", \"top1_ci95\": [");
        pl_sb_json_num(b, e->top1_lo);
        pl_sb_printf(b, ", ");
        pl_sb_json_num(b, e->top1_hi);
        pl_sb_printf(b, "], \"top5\": ");
        pl_sb_json_num(b, e->top5);
        pl_sb_printf(b, ", \"top5_ci95\": [");
        pl_sb_json_num(b, e->top5_lo);
        pl_sb_printf(b, ", ");
        pl_sb_json_num(b, e->top5_hi);
        pl_sb_printf(b, "], \"ci_method\": \"Wilson score interval\", \"confusion\": [");
        for (int r = 0; e->confusion && r < e->n_classes; r++) {
            pl_sb_printf(b, "%s[", r ? ", " : "");
            for (int c = 0; c < e->n_classes; c++)
                pl_sb_printf(b, "%s%lld", c ? ", " : "", (long long)e->confusion[(int64_t)r * e->n_classes + c]);
            pl_sb_printf(b, "]");
        }
        pl_sb_printf(b, "]");
    }
    pl_sb_printf(b, "},\n    \"size\": {\"verdict\": ");
    pl_sb_json_str(b, v->s);
    if (in->size) {
        const pl_size_report *z = in->size;
        pl_sb_printf(b, ", \"method\": \"one reference run on zero inputs; 1 MAC = 1 multiply-add, FLOPs = 2 x MACs\", \"batch\": %lld, \"params\": %lld, \"param_bytes\": %lld, "
                        "\"bytes_at\": {\"fp32\": %lld, \"bf16\": %lld, \"fp16\": %lld, \"int8\": %lld}, \"macs\": %lld, \"peak_activation_bytes\": %lld, \"layers\": [",
                     (long long)z->batch, (long long)z->params, (long long)z->param_bytes, (long long)z->bytes_fp32, (long long)z->bytes_bf16,
                     (long long)z->bytes_fp16, (long long)z->bytes_int8, (long long)z->macs, (long long)z->peak_activation_bytes);
        for (int i = 0; i < z->n_layers; i++) {
            const pl_layer_size *l = &z->layers[i];
            pl_sb_printf(b, "%s\n      {\"name\": ", i ? "," : "");
            pl_sb_json_str(b, l->name);
            pl_sb_printf(b, ", \"op\": ");
            pl_sb_json_str(b, l->op);
            pl_sb_printf(b, ", \"shape\": [");
            for (int d = 0; d < l->rank; d++) pl_sb_printf(b, "%s%lld", d ? ", " : "", (long long)l->dims[d]);
            pl_sb_printf(b, "], \"neurons\": %lld, \"connections\": %lld, \"params\": %lld, \"macs\": %lld, \"activation_bytes\": %lld, \"flops_per_byte\": ",
                         (long long)l->neurons, (long long)l->connections, (long long)l->params, (long long)l->macs,
                         (long long)l->activation_bytes);
            pl_sb_json_num(b, l->intensity);
            pl_sb_printf(b, "}");
        }
        pl_sb_printf(b, "]");
    }
    pl_sb_printf(b, "},\n    \"throughput\": {\"verdict\": ");
    pl_sb_json_str(b, v->t);
    pl_sb_printf(b, "},\n    \"energy\": {\"verdict\": ");
    pl_sb_json_str(b, v->e);
    pl_sb_printf(b, "},\n    \"rate_of_learning\": {\"verdict\": ");
    pl_sb_json_str(b, v->r);
    pl_sb_printf(b, ", \"measured\": false}\n  },\n  \"runs\": {");
    json_bench(b, "single_stream", in->single_stream, true);
    json_bench(b, "multi_stream", in->multi_stream, false);
    json_bench(b, "server", in->server, false);
    json_bench(b, "offline", in->offline, false);
    pl_sb_printf(b, "\n  }\n}\n");
}

/* ---- Markdown ---- */

static void md_bench(pl_sbuf *b, const char *title, const pl_bench_result *r) {
    if (!r) return;
    pl_sb_printf(b, "\n### %s: %s\n\n%s%s%s\n\n", title, r->valid ? "VALID" : "INVALID", r->reasons[0] ? "```\n" : "",
                 r->reasons, r->reasons[0] ? "\n```" : "");
    pl_sb_printf(b, "| figure | value | method |\n| --- | ---: | --- |\n");
    pl_sb_printf(b, "| queries / samples | %lld / %lld | counted |\n", (long long)r->queries, (long long)r->samples);
    pl_sb_printf(b, "| p50 / p90 / p99 / p99.9 latency | %.3f / %.3f / %.3f / %.3f ms | wall clock from issue to completion, nearest rank |\n",
                 r->p50_ns / 1e6, r->p90_ns / 1e6, r->p99_ns / 1e6, r->p999_ns / 1e6);
    pl_sb_printf(b, "| min / mean / max (stddev) | %.3f / %.3f / %.3f (%.3f) ms | wall clock |\n", r->min_ns / 1e6, r->mean_ns / 1e6,
                 r->max_ns / 1e6, r->stddev_ns / 1e6);
    pl_sb_printf(b, "| throughput | %.2f samples/s, %.2f queries/s | completed / wall time |\n", r->samples_per_s, r->qps);
    if (r->peak_qps > 0) pl_sb_printf(b, "| server peak | %.2f QPS | highest VALID target in the sweep |\n", r->peak_qps);
    if (r->energy_meter[0])
        pl_sb_printf(b, "| energy | %.4f J/inference (%.4f net of idle), %.2f W average, %.1f inferences/J | %s%s |\n", r->j_per_sample,
                     r->j_per_sample_net, r->avg_w, r->samples_per_j, r->energy_is_estimate ? "ESTIMATE: " : "", r->energy_meter);
}

static void write_md(pl_sbuf *b, const pl_report_input *in, const verdicts *v, const char *when) {
    pl_sb_printf(b, "# PLASTER report: %s\n\nGenerated %s by plaster %s (git %s), reference backend, %d thread(s), seed %llu.\n",
                 in->model_path ? in->model_path : "(model)", when, PL_VERSION_STRING, PL_GIT_REV, in->threads,
                 (unsigned long long)in->seed);
    if (in->settings) pl_sb_printf(b, "Settings: %s\n", in->settings);
    if (in->machine)
        pl_sb_printf(b, "\nMachine: %s, %d logical CPUs, %.1f GiB, %s; ISA: %s; compiler: %s.\n", in->machine->cpu_model,
                     in->machine->logical_cpus, in->machine->mem_bytes / 1073741824.0, in->machine->kernel, in->machine->isa,
                     in->machine->compiler);
    for (int i = 0; i < in->n_peaks; i++)
        pl_sb_printf(b, "Peaks at %d thread(s): %.1f GFLOP/s FP32, %.1f GOP/s INT8, %.1f GB/s memory (measured by `plaster machine`).\n",
                     in->peaks[i].threads, in->peaks[i].fp32_gflops, in->peaks[i].int8_gops, in->peaks[i].mem_gbps);
    pl_sb_printf(b, "\n## Verdicts\n\n| element | verdict |\n| --- | --- |\n");
    pl_sb_printf(b, "| Programmability | %s |\n| Latency | %s |\n| Accuracy | %s |\n| Size of model | %s |\n", v->p, v->l, v->a, v->s);
    pl_sb_printf(b, "| Throughput | %s |\n| Energy efficiency | %s |\n| Rate of learning | %s |\n", v->t, v->e, v->r);
    pl_sb_printf(b, "\n## Latency and throughput\n");
    md_bench(b, "Single-stream", in->single_stream);
    md_bench(b, "Multi-stream", in->multi_stream);
    md_bench(b, "Server", in->server);
    md_bench(b, "Offline", in->offline);
    if (in->eval) {
        const pl_eval_result *e = in->eval;
        pl_sb_printf(b, "\n## Accuracy\n\n%s\n\n| metric | value | 95%% CI (Wilson score) |\n| --- | ---: | --- |\n", e->dataset);
        pl_sb_printf(b, "| top-1 | %.2f %% | %.2f-%.2f %% |\n| top-5 | %.2f %% | %.2f-%.2f %% |\n", 100 * e->top1, 100 * e->top1_lo,
                     100 * e->top1_hi, 100 * e->top5, 100 * e->top5_lo, 100 * e->top5_hi);
    }
    if (in->size) {
        const pl_size_report *z = in->size;
        pl_sb_printf(b, "\n## Size of model\n\n%lld parameters (%lld bytes as stored; fp32 %lld, bf16 %lld, fp16 %lld, int8 %lld bytes); "
                        "%.4f GMACs (%.4f GFLOPs; 1 MAC = 1 multiply-add) at batch %lld; peak activation memory %lld bytes.\n\n",
                     (long long)z->params, (long long)z->param_bytes, (long long)z->bytes_fp32, (long long)z->bytes_bf16,
                     (long long)z->bytes_fp16, (long long)z->bytes_int8, z->macs / 1e9, 2 * z->macs / 1e9, (long long)z->batch,
                     (long long)z->peak_activation_bytes);
        pl_sb_printf(b, "| # | layer | op | neurons | connections | MACs | activation bytes | FLOP/byte |\n| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < z->n_layers; i++) {
            const pl_layer_size *l = &z->layers[i];
            pl_sb_printf(b, "| %d | %s | %s | %lld | %lld | %lld | %lld | %.2f |\n", i, l->name, l->op, (long long)l->neurons,
                         (long long)l->connections, (long long)l->macs, (long long)l->activation_bytes, l->intensity);
        }
    }
}

/* ---- HTML with inline SVG charts ---- */

typedef struct chart {
    double x0, x1, y0, y1; /* data ranges (log10 of them when log) */
    bool logx, logy;
    int w, h, ml, mr, mt, mb; /* size and margins in px */
} chart;

static double cx(const chart *c, double x) {
    double v = c->logx ? log10(x) : x;
    return c->ml + (v - c->x0) / (c->x1 - c->x0) * (c->w - c->ml - c->mr);
}

static double cy(const chart *c, double y) {
    double v = c->logy ? log10(y) : y;
    return c->h - c->mb - (v - c->y0) / (c->y1 - c->y0) * (c->h - c->mt - c->mb);
}

static void chart_open(pl_sbuf *b, chart *c, const char *title, const char *xlabel, const char *ylabel) {
    if (c->x1 <= c->x0) c->x1 = c->x0 + 1;
    if (c->y1 <= c->y0) c->y1 = c->y0 + 1;
    pl_sb_printf(b, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">",
                 c->w, c->h, c->w, c->h);
    pl_sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#999\"/>", c->ml, c->mt,
                 c->w - c->ml - c->mr, c->h - c->mt - c->mb);
    for (int i = 0; i <= 4; i++) { /* ticks */
        double fx = c->x0 + (c->x1 - c->x0) * i / 4, fy = c->y0 + (c->y1 - c->y0) * i / 4;
        double px = c->ml + (double)(c->w - c->ml - c->mr) * i / 4, py = c->h - c->mb - (double)(c->h - c->mt - c->mb) * i / 4;
        pl_sb_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.3g</text>", px, c->h - c->mb + 12,
                     c->logx ? pow(10, fx) : fx);
        pl_sb_printf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.3g</text>", c->ml - 4, py + 3,
                     c->logy ? pow(10, fy) : fy);
    }
    pl_sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">", (c->w + c->ml - c->mr) / 2, c->h - 4);
    pl_sb_html(b, xlabel);
    pl_sb_printf(b, "</text><text transform=\"translate(12,%d) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\">", (c->h) / 2);
    pl_sb_html(b, ylabel);
    pl_sb_printf(b, "</text>");
    (void)title;
}

static void chart_close(pl_sbuf *b, const char *caption) {
    pl_sb_printf(b, "</svg><figcaption>");
    pl_sb_html(b, caption);
    pl_sb_printf(b, "</figcaption></figure>\n");
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void svg_latency(pl_sbuf *b, const pl_bench_result *r) {
    if (!r || r->n_latencies < 2) return;
    int64_t n = r->n_latencies;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return;
    for (int64_t i = 0; i < n; i++) s[i] = r->latencies_ns[i] / 1e6;
    qsort(s, (size_t)n, sizeof *s, cmp_d);
    enum { BINS = 40 };
    int64_t hist[BINS] = {0}, top = 1;
    double lo = s[0], hi = s[n - 1] > s[0] ? s[n - 1] : s[0] + 1e-3;
    for (int64_t i = 0; i < n; i++) {
        int k = (int)((s[i] - lo) / (hi - lo) * BINS);
        if (k >= BINS) k = BINS - 1;
        if (++hist[k] > top) top = hist[k];
    }
    chart c = {.x0 = lo, .x1 = hi, .y0 = 0, .y1 = (double)top, .w = 520, .h = 260, .ml = 50, .mr = 10, .mt = 10, .mb = 34};
    chart_open(b, &c, "histogram", "latency (ms)", "queries");
    for (int k = 0; k < BINS; k++) {
        double x = cx(&c, lo + (hi - lo) * k / BINS), x2 = cx(&c, lo + (hi - lo) * (k + 1) / BINS), y = cy(&c, (double)hist[k]);
        pl_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a7ab5\"/>", x, y, x2 - x - 0.5,
                     cy(&c, 0) - y);
    }
    chart_close(b, "Latency histogram (single-stream): count of queries per latency bin, wall clock from issue to completion.");
    chart d = {.x0 = lo, .x1 = hi, .y0 = 0, .y1 = 1, .w = 520, .h = 260, .ml = 50, .mr = 10, .mt = 10, .mb = 34};
    chart_open(b, &d, "cdf", "latency (ms)", "fraction of queries");
    pl_sb_printf(b, "<polyline fill=\"none\" stroke=\"#b5524a\" stroke-width=\"1.5\" points=\"");
    int64_t step = n > 400 ? n / 400 : 1;
    for (int64_t i = 0; i < n; i += step) pl_sb_printf(b, "%.1f,%.1f ", cx(&d, s[i]), cy(&d, (double)(i + 1) / (double)n));
    pl_sb_printf(b, "%.1f,%.1f\"/>", cx(&d, s[n - 1]), cy(&d, 1.0));
    chart_close(b, "Latency CDF (single-stream): fraction of queries completed within each latency.");
    free(s);
}

static void svg_server(pl_sbuf *b, const pl_bench_result *r) {
    if (!r || r->n_points < 1) return;
    double xmax = 0, ymax = 0;
    for (int i = 0; i < r->n_points; i++) {
        if (r->points[i].achieved_qps > xmax) xmax = r->points[i].achieved_qps;
        if (r->points[i].p99_ns / 1e6 > ymax) ymax = r->points[i].p99_ns / 1e6;
    }
    chart c = {.x0 = 0, .x1 = xmax * 1.05, .y0 = 0, .y1 = ymax * 1.05, .w = 520, .h = 260, .ml = 50, .mr = 10, .mt = 10, .mb = 34};
    chart_open(b, &c, "server", "achieved throughput (queries/s)", "p99 latency (ms)");
    for (int i = 0; i < r->n_points; i++)
        pl_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", cx(&c, r->points[i].achieved_qps),
                     cy(&c, r->points[i].p99_ns / 1e6), r->points[i].valid ? "#3a9a4a" : "#c0392b");
    chart_close(b, "Throughput versus p99 latency over the server sweep (Poisson arrivals; green VALID, red INVALID).");
}

static int cmp_node(const void *a, const void *b) {
    double x = ((const pl_node_time *)a)->total_ns, y = ((const pl_node_time *)b)->total_ns;
    return (x < y) - (x > y);
}

/* Per-layer time bars and the roofline, from the single-stream profile and the size analysis. */
static void svg_layers(pl_sbuf *b, const pl_report_input *in) {
    const pl_bench_result *r = in->single_stream;
    if (!r || r->n_nodes < 1) return;
    pl_node_time *t = malloc((size_t)r->n_nodes * sizeof *t);
    if (!t) return;
    memcpy(t, r->nodes, (size_t)r->n_nodes * sizeof *t);
    qsort(t, (size_t)r->n_nodes, sizeof *t, cmp_node);
    double total = 0;
    for (int i = 0; i < r->n_nodes; i++) total += t[i].total_ns;
    int shown = r->n_nodes < 15 ? r->n_nodes : 15;
    int h = 24 + 18 * shown;
    pl_sb_printf(b, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"620\" height=\"%d\" viewBox=\"0 0 620 %d\" role=\"img\">", h, h);
    for (int i = 0; i < shown; i++) {
        double share = total > 0 ? t[i].total_ns / total : 0;
        pl_sb_printf(b, "<text x=\"0\" y=\"%d\" font-size=\"11\">", 16 + 18 * i);
        pl_sb_html(b, t[i].name);
        pl_sb_printf(b, " (");
        pl_sb_html(b, t[i].op);
        pl_sb_printf(b, ")</text><rect x=\"260\" y=\"%d\" width=\"%.1f\" height=\"13\" fill=\"#4a7ab5\"/><text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.1f%%</text>",
                     5 + 18 * i, 300 * share, 265 + 300 * share, 16 + 18 * i, 100 * share);
    }
    pl_sb_printf(b, "</svg><figcaption>Time per layer (single-stream profile, wall clock per node, share of all node time; top %d of %d).</figcaption></figure>\n",
                 shown, r->n_nodes);
    free(t);
    if (!in->size || in->n_peaks < 1) return;
    double peak = in->peaks[0].fp32_gflops, bw = in->peaks[0].mem_gbps;
    chart c = {.x0 = -2, .x1 = 3, .y0 = -2, .y1 = log10(peak * 2), .logx = true, .logy = true, .w = 520, .h = 300, .ml = 55,
               .mr = 10, .mt = 10, .mb = 34};
    chart_open(b, &c, "roofline", "arithmetic intensity (FLOP/byte)", "attained GFLOP/s");
    double ridge = peak / bw;
    pl_sb_printf(b, "<polyline fill=\"none\" stroke=\"#333\" stroke-dasharray=\"4,3\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>", cx(&c, 0.01),
                 cy(&c, bw * 0.01 > 0.01 ? bw * 0.01 : 0.01), cx(&c, ridge), cy(&c, peak), cx(&c, 1000), cy(&c, peak));
    const pl_size_report *z = in->size;
    for (int i = 0; i < z->n_layers; i++) {
        const pl_layer_size *l = &z->layers[i];
        if (l->macs <= 0 || l->intensity <= 0) continue;
        double ns = 0;
        int64_t calls = 0;
        for (int k = 0; k < r->n_nodes; k++)
            if (r->nodes[k].name == l->name || !strcmp(r->nodes[k].name, l->name)) ns = r->nodes[k].total_ns, calls = r->nodes[k].calls;
        if (ns <= 0 || calls <= 0) continue;
        /* the profile ran at the bench batch; scale the size analysis' MACs by it */
        double flops = 2.0 * (double)l->macs / (double)(z->batch > 0 ? z->batch : 1) * (double)(in->single_stream->samples / (in->single_stream->queries ? in->single_stream->queries : 1));
        double gflops = flops / (ns / (double)calls);
        double x = l->intensity < 0.01 ? 0.01 : l->intensity > 1000 ? 1000 : l->intensity;
        double y = gflops < 0.011 ? 0.011 : gflops;
        pl_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#b5524a\" fill-opacity=\"0.7\"><title>", cx(&c, x), cy(&c, y));
        pl_sb_html(b, l->name);
        pl_sb_printf(b, ": %.2f FLOP/B, %.2f GFLOP/s</title></circle>", l->intensity, gflops);
    }
    char cap[512];
    snprintf(cap, sizeof cap, "Roofline: each layer with MACs placed by arithmetic intensity (size analysis) and attained GFLOP/s (single-stream profile); "
             "roofs from `plaster machine` at %d thread(s): %.1f GFLOP/s FP32 peak, %.1f GB/s memory.", in->peaks[0].threads, peak, bw);
    chart_close(b, cap);
}

static void write_html(pl_sbuf *b, const pl_report_input *in, const verdicts *v, const pl_sbuf *md, const char *when) {
    pl_sb_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>PLASTER report</title>\n"
                    "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
                    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}"
                    "th{background:#eee}figure{margin:1em 0}figcaption{font-size:12px;color:#555}.valid{color:#2a7a3a;font-weight:bold}"
                    ".invalid{color:#b03020;font-weight:bold}pre{background:#f4f4f4;padding:8px}</style></head><body>\n");
    pl_sb_printf(b, "<h1>PLASTER report: ");
    pl_sb_html(b, in->model_path);
    pl_sb_printf(b, "</h1>\n<p>Generated %s by plaster %s (git %s), reference backend, %d thread(s), seed %llu.", when, PL_VERSION_STRING,
                 PL_GIT_REV, in->threads, (unsigned long long)in->seed);
    if (in->machine) {
        pl_sb_printf(b, " Machine: ");
        pl_sb_html(b, in->machine->cpu_model);
        pl_sb_printf(b, ", %d logical CPUs, %.1f GiB, ", in->machine->logical_cpus, in->machine->mem_bytes / 1073741824.0);
        pl_sb_html(b, in->machine->kernel);
        pl_sb_printf(b, "; ISA ");
        pl_sb_html(b, in->machine->isa);
        pl_sb_printf(b, "; ");
        pl_sb_html(b, in->machine->compiler);
        pl_sb_printf(b, ".");
    }
    pl_sb_printf(b, "</p>\n<h2 id=\"verdicts\">Verdicts</h2>\n<table><tr><th>element</th><th>verdict</th></tr>");
    const char *names[] = {"Programmability", "Latency", "Accuracy", "Size of model", "Throughput", "Energy efficiency", "Rate of learning"};
    const char *texts[] = {v->p, v->l, v->a, v->s, v->t, v->e, v->r};
    for (int i = 0; i < 7; i++) {
        pl_sb_printf(b, "<tr><td>%s</td><td>", names[i]);
        pl_sb_html(b, texts[i]);
        pl_sb_printf(b, "</td></tr>");
    }
    pl_sb_printf(b, "</table>\n<h2 id=\"latency\">Latency</h2>\n");
    const pl_bench_result *runs[] = {in->single_stream, in->multi_stream, in->server, in->offline};
    const char *run_names[] = {"Single-stream", "Multi-stream", "Server", "Offline"};
    for (int i = 0; i < 4; i++) {
        const pl_bench_result *r = runs[i];
        if (!r) continue;
        pl_sb_printf(b, "<h3>%s: <span class=\"%s\">%s</span></h3>", run_names[i], r->valid ? "valid" : "invalid", r->valid ? "VALID" : "INVALID");
        if (r->reasons[0]) {
            pl_sb_printf(b, "<pre>");
            pl_sb_html(b, r->reasons);
            pl_sb_printf(b, "</pre>");
        }
        pl_sb_printf(b, "<table><tr><th>figure</th><th>value</th><th>method</th></tr>");
        pl_sb_printf(b, "<tr><td>latency p50 / p90 / p95 / p99 / p99.9</td><td>%.3f / %.3f / %.3f / %.3f / %.3f ms</td><td>wall clock (CLOCK_MONOTONIC) from issue%s to completion; nearest-rank percentiles over %lld queries</td></tr>",
                     r->p50_ns / 1e6, r->p90_ns / 1e6, r->p95_ns / 1e6, r->p99_ns / 1e6, r->p999_ns / 1e6,
                     r->scenario == PL_SCENARIO_SERVER ? " (scheduled arrival)" : "", (long long)r->queries);
        pl_sb_printf(b, "<tr><td>min / mean / max (stddev, CV)</td><td>%.3f / %.3f / %.3f ms (%.3f ms, %.3f)</td><td>wall clock</td></tr>",
                     r->min_ns / 1e6, r->mean_ns / 1e6, r->max_ns / 1e6, r->stddev_ns / 1e6, r->cv);
        pl_sb_printf(b, "<tr><td>throughput</td><td>%.2f samples/s (%.2f queries/s)</td><td>completed / wall time from first issue to last completion</td></tr>",
                     r->samples_per_s, r->qps);
        if (r->energy_meter[0]) {
            pl_sb_printf(b, "<tr><td>energy</td><td>%.4f J/inference (%.4f net of %.2f W idle), %.2f W average, %.1f inferences/J, %.3f mJ/query</td><td>%s",
                         r->j_per_sample, r->j_per_sample_net, r->idle_w, r->avg_w, r->samples_per_j, r->mj_per_query,
                         r->energy_is_estimate ? "ESTIMATE, not a measurement: " : "");
            pl_sb_html(b, r->energy_meter);
            pl_sb_printf(b, "</td></tr>");
        }
        pl_sb_printf(b, "</table>\n");
    }
    svg_latency(b, in->single_stream);
    if (in->server) {
        pl_sb_printf(b, "<h2 id=\"throughput\">Throughput</h2>\n");
        svg_server(b, in->server);
    }
    pl_sb_printf(b, "<h2 id=\"accuracy\">Accuracy</h2>\n");
    if (in->eval) {
        const pl_eval_result *e = in->eval;
        pl_sb_printf(b, "<p>");
        pl_sb_html(b, e->dataset);
        pl_sb_printf(b, "</p><table><tr><th>metric</th><th>value</th><th>95%% CI (Wilson score)</th></tr>"
                        "<tr><td>top-1</td><td>%.2f %%</td><td>%.2f-%.2f %%</td></tr><tr><td>top-5</td><td>%.2f %%</td><td>%.2f-%.2f %%</td></tr></table>\n",
                     100 * e->top1, 100 * e->top1_lo, 100 * e->top1_hi, 100 * e->top5, 100 * e->top5_lo, 100 * e->top5_hi);
    } else {
        pl_sb_printf(b, "<p>Not measured: give a dataset (<code>--dataset</code>).</p>\n");
    }
    pl_sb_printf(b, "<h2 id=\"layers\">Per-layer time and roofline</h2>\n");
    svg_layers(b, in);
    pl_sb_printf(b, "<h2 id=\"energy\">Energy</h2>\n<p>");
    pl_sb_html(b, v->e);
    pl_sb_printf(b, "</p>\n<h2 id=\"size\">Size of model</h2>\n<p>");
    pl_sb_html(b, v->s);
    pl_sb_printf(b, " Convention: a multiply-add is one MAC, FLOPs = 2 x MACs; measured by one reference run on zero inputs.</p>\n");
    pl_sb_printf(b, "<h2 id=\"full\">Full report (Markdown)</h2>\n<pre>");
    pl_sb_html(b, md->data ? md->data : "");
    pl_sb_printf(b, "</pre>\n</body></html>\n");
}

pl_status pl_report_write(const pl_report_input *in, const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return pl_err(PL_ERR_IO, "%s: cannot create the report folder: %s", dir, strerror(errno));
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    verdicts v;
    make_verdicts(in, &v);
    pl_sbuf json = {0}, md = {0}, html = {0};
    write_json(&json, in, &v, when);
    write_md(&md, in, &v, when);
    write_html(&html, in, &v, &md, when);
    pl_status st = pl_sb_save(&json, dir, "report.json");
    if (st == PL_OK) st = pl_sb_save(&md, dir, "report.md");
    if (st == PL_OK) st = pl_sb_save(&html, dir, "report.html");
    pl_sb_free(&json);
    pl_sb_free(&md);
    pl_sb_free(&html);
    return st;
}
