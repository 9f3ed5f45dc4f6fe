/* test_onnx.c - the ONNX importer and the run-time input checks, on models built in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ir/ir.h"
#include "onnx/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- tiny model builder over the generated protobuf-c structs ---- */

typedef struct builder {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opsets[4];
    Onnx__OperatorSetIdProto *opset_ptrs[4];
    Onnx__NodeProto nodes[8];
    Onnx__NodeProto *node_ptrs[8];
    Onnx__ValueInfoProto vis[8];
    Onnx__ValueInfoProto *in_ptrs[4], *out_ptrs[4];
    Onnx__TypeProto types[8];
    Onnx__TypeProto__Tensor ttypes[8];
    Onnx__TensorShapeProto shapes[8];
    Onnx__TensorShapeProto__Dimension dims[8][4];
    Onnx__TensorShapeProto__Dimension *dim_ptrs[8][4];
    Onnx__TensorProto inits[4];
    Onnx__TensorProto *init_ptrs[4];
    char *node_in[8][4], *node_out[8][4];
    int n_vi;
} builder;

static void b_init(builder *b) {
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.graph = &b->graph;
    b->graph.name = "g";
    onnx__operator_set_id_proto__init(&b->opsets[0]);
    b->opsets[0].domain = "";
    b->opsets[0].has_version = 1;
    b->opsets[0].version = 13;
    b->opset_ptrs[0] = &b->opsets[0];
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opset_ptrs;
    b->graph.node = b->node_ptrs;
    b->graph.input = b->in_ptrs;
    b->graph.output = b->out_ptrs;
    b->graph.initializer = b->init_ptrs;
}

/* A float tensor value info; dims < 0 become the symbol "N". */
static Onnx__ValueInfoProto *b_vi(builder *b, const char *name, int elem, int rank, const int64_t *dims) {
    int k = b->n_vi++;
    Onnx__ValueInfoProto *vi = &b->vis[k];
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(&b->types[k]);
    onnx__type_proto__tensor__init(&b->ttypes[k]);
    onnx__tensor_shape_proto__init(&b->shapes[k]);
    vi->name = (char *)name;
    vi->type = &b->types[k];
    b->types[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->types[k].tensor_type = &b->ttypes[k];
    b->ttypes[k].has_elem_type = 1;
    b->ttypes[k].elem_type = elem;
    b->ttypes[k].shape = &b->shapes[k];
    b->shapes[k].n_dim = (size_t)rank;
    b->shapes[k].dim = b->dim_ptrs[k];
    for (int d = 0; d < rank; d++) {
        onnx__tensor_shape_proto__dimension__init(&b->dims[k][d]);
        if (dims[d] >= 0) {
            b->dims[k][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            b->dims[k][d].dim_value = dims[d];
        } else {
            b->dims[k][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            b->dims[k][d].dim_param = "N";
        }
        b->dim_ptrs[k][d] = &b->dims[k][d];
    }
    return vi;
}

static void b_input(builder *b, const char *name, int rank, const int64_t *dims) {
    b->in_ptrs[b->graph.n_input++] = b_vi(b, name, PL_DT_FLOAT, rank, dims);
}

static void b_output(builder *b, const char *name) {
    int64_t d[1] = {-1};
    b->out_ptrs[b->graph.n_output++] = b_vi(b, name, PL_DT_FLOAT, 0, d);
    b->out_ptrs[b->graph.n_output - 1]->type->tensor_type->shape = NULL;
}

static Onnx__NodeProto *b_node(builder *b, const char *op, const char *in0, const char *in1, const char *out) {
    int k = (int)b->graph.n_node++;
    Onnx__NodeProto *n = &b->nodes[k];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->domain = "";
    b->node_in[k][0] = (char *)in0;
    b->node_in[k][1] = (char *)in1;
    n->input = b->node_in[k];
    n->n_input = in1 ? 2 : 1;
    b->node_out[k][0] = (char *)out;
    n->output = b->node_out[k];
    n->n_output = 1;
    b->node_ptrs[k] = n;
    return n;
}

static Onnx__TensorProto *b_init_tensor(builder *b, const char *name, int rank, const int64_t *dims,
                                        const void *raw, size_t raw_len) {
    int k = (int)b->graph.n_initializer++;
    Onnx__TensorProto *t = &b->inits[k];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = PL_DT_FLOAT;
    t->n_dims = (size_t)rank;
    t->dims = (int64_t *)dims;
    t->has_raw_data = raw != NULL;
    t->raw_data.data = (uint8_t *)raw;
    t->raw_data.len = raw_len;
    b->init_ptrs[k] = t;
    return t;
}

static pl_status b_load(builder *b, pl_model **m) {
    size_t len = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(&b->model, buf);
    pl_status st = pl_model_load_bytes(buf, len, "/tmp", m);
    free(buf);
    return st;
}

/* ---- tests ---- */

static void test_not_a_model(void **state) {
    (void)state;
    pl_model *m = NULL;
    assert_int_equal(pl_model_load_bytes("", 0, NULL, &m), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "empty"));
    const char junk[] = "\xff\xff\xff\xff garbage that is not protobuf";
    assert_int_equal(pl_model_load_bytes(junk, sizeof junk, NULL, &m), PL_ERR_INVALID);
    assert_null(m);
    assert_int_equal(pl_model_load("/nonexistent/model.onnx", &m), PL_ERR_IO);
    assert_non_null(strstr(pl_last_error(), "/nonexistent/model.onnx"));
}

static void test_truncated_model(void **state) {
    (void)state;
    builder b;
    b_init(&b);
    int64_t d[2] = {-1, 4};
    b_input(&b, "x", 2, d);
    b_node(&b, "Relu", "x", NULL, "y");
    b_output(&b, "y");
    size_t len = onnx__model_proto__get_packed_size(&b.model);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(&b.model, buf);
    pl_model *m = NULL;
    assert_int_equal(pl_model_load_bytes(buf, len, NULL, &m), PL_OK);
    pl_model_destroy(m);
    /* every truncation either fails cleanly or (rarely) still parses: never crashes */
    int refused = 0;
    for (size_t cut = 1; cut < len; cut++) {
        pl_status st = pl_model_load_bytes(buf, cut, NULL, &m);
        if (st != PL_OK) {
            refused++;
            assert_null(m);
            assert_true(strlen(pl_last_error()) > 0);
        }
        pl_model_destroy(m);
        m = NULL;
    }
    assert_true(refused > 0);
    free(buf);
}

static void test_symbolic_dims_and_summary(void **state) {
    (void)state;
    builder b;
    b_init(&b);
    int64_t d[2] = {-1, 4};
    b_input(&b, "x", 2, d);
    static const float w[4] = {1, 2, 3, 4};
    int64_t wd[1] = {4};
    b_init_tensor(&b, "w", 1, wd, w, sizeof w);
    b_node(&b, "Mul", "x", "w", "y");
    b_output(&b, "y");
    pl_model *m = NULL;
    assert_int_equal(b_load(&b, &m), PL_OK);
    assert_int_equal(pl_model_input_count(m), 1);
    pl_io_info info;
    assert_int_equal(pl_model_input_info(m, 0, &info), PL_OK);
    assert_string_equal(info.name, "x");
    assert_int_equal(info.rank, 2);
    assert_string_equal(info.dims[0].symbol, "N");
    assert_int_equal(info.dims[1].value, 4);
    pl_model_summary s;
    pl_model_summary_get(m, &s);
    assert_int_equal(s.parameter_count, 4);
    assert_int_equal(s.parameter_bytes, 16);
    assert_int_equal(s.opset, 13);
    pl_model_destroy(m);
}

static void test_undefined_input_names_node(void **state) {
    (void)state;
    builder b;
    b_init(&b);
    int64_t d[1] = {4};
    b_input(&b, "x", 1, d);
    Onnx__NodeProto *n = b_node(&b, "Add", "x", "nowhere", "y");
    n->name = "adder";
    b_output(&b, "y");
    pl_model *m = NULL;
    assert_int_equal(b_load(&b, &m), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "adder"));
    assert_non_null(strstr(pl_last_error(), "nowhere"));
}

static void test_cycle_and_topological_order(void **state) {
    (void)state;
    builder b;
    b_init(&b);
    int64_t d[1] = {4};
    b_input(&b, "x", 1, d);
    b_node(&b, "Relu", "a", NULL, "y"); /* listed before its producer */
    b_node(&b, "Neg", "x", NULL, "a");
    b_output(&b, "y");
    pl_model *m = NULL;
    assert_int_equal(b_load(&b, &m), PL_OK);
    assert_string_equal(m->graph->nodes[0].op_type, "Neg");
    pl_model_destroy(m);

    b_init(&b);
    b_input(&b, "x", 1, d);
    b_node(&b, "Add", "x", "b", "a");
    b_node(&b, "Neg", "a", NULL, "b");
    b_output(&b, "b");
    assert_int_equal(b_load(&b, &m), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "cycle"));
}

static void test_unknown_domain(void **state) {
    (void)state;
    builder b;
    b_init(&b);
    onnx__operator_set_id_proto__init(&b.opsets[1]);
    b.opsets[1].domain = "com.example.secret";
    b.opsets[1].has_version = 1;
    b.opsets[1].version = 1;
    b.opset_ptrs[1] = &b.opsets[1];
    b.model.n_opset_import = 2;
    int64_t d[1] = {4};
    b_input(&b, "x", 1, d);
    b_node(&b, "Relu", "x", NULL, "y");
    b_output(&b, "y");
    pl_model *m = NULL;
    assert_int_equal(b_load(&b, &m), PL_ERR_UNSUPPORTED);
    assert_non_null(strstr(pl_last_error(), "com.example.secret"));
}

static void test_bad_initializers(void **state) {
    (void)state;
    builder b;
    b_init(&b);
    int64_t d[1] = {4};
    b_input(&b, "x", 1, d);
    static const float w[3] = {1, 2, 3};
    b_init_tensor(&b, "w", 1, d, w, sizeof w); /* 12 bytes for 4 floats */
    b_node(&b, "Mul", "x", "w", "y");
    b_output(&b, "y");
    pl_model *m = NULL;
    assert_int_equal(b_load(&b, &m), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "initializer 'w'"));
    assert_non_null(strstr(pl_last_error(), "raw_data"));

    int64_t huge[3] = {INT64_C(1) << 30, INT64_C(1) << 30, INT64_C(1) << 30};
    b_init(&b);
    b_input(&b, "x", 1, d);
    b_init_tensor(&b, "w", 3, huge, w, sizeof w);
    b_node(&b, "Mul", "x", "w", "y");
    b_output(&b, "y");
    assert_int_equal(b_load(&b, &m), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "overflows"));
}

static void test_external_data(void **state) {
    (void)state;
    char dir[] = "/tmp/plaster_ext_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    const float w[4] = {1, 2, 3, 4};
    fwrite("pad!", 1, 4, f);
    fwrite(w, sizeof w, 1, f);
    fclose(f);
    const char *cases[][3] = {
        {"weights.bin", "4", NULL},          /* good */
        {"../etc/passwd", "0", "leaves"},    /* escapes the folder */
        {"/etc/passwd", "0", "leaves"},      /* absolute */
        {"missing.bin", "0", "missing.bin"}, /* absent */
        {"weights.bin", "16", "holds"},      /* too short at that offset */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        builder b;
        b_init(&b);
        int64_t d[1] = {4};
        b_input(&b, "x", 1, d);
        Onnx__TensorProto *t = b_init_tensor(&b, "w", 1, d, NULL, 0);
        Onnx__StringStringEntryProto kv[2], *kvp[2] = {&kv[0], &kv[1]};
        onnx__string_string_entry_proto__init(&kv[0]);
        onnx__string_string_entry_proto__init(&kv[1]);
        kv[0].key = "location";
        kv[0].value = (char *)cases[c][0];
        kv[1].key = "offset";
        kv[1].value = (char *)cases[c][1];
        t->n_external_data = 2;
        t->external_data = kvp;
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        b_node(&b, "Mul", "x", "w", "y");
        b_output(&b, "y");
        size_t len = onnx__model_proto__get_packed_size(&b.model);
        uint8_t *buf = malloc(len);
        onnx__model_proto__pack(&b.model, buf);
        pl_model *m = NULL;
        pl_status st = pl_model_load_bytes(buf, len, dir, &m);
        free(buf);
        if (!cases[c][2]) {
            assert_int_equal(st, PL_OK);
            pl_model_summary s;
            pl_model_summary_get(m, &s);
            assert_int_equal(s.parameter_bytes, 16);
            const pl_graph *g = m->graph;
            int v = pl_strmap_get(&g->names, "w");
            assert_true(((float *)g->values[v].init->data)[3] == 4.0f);
            pl_model_destroy(m);
        } else {
            assert_int_not_equal(st, PL_OK);
            assert_non_null(strstr(pl_last_error(), cases[c][2]));
        }
    }
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_a_model),
        cmocka_unit_test(test_truncated_model),
        cmocka_unit_test(test_symbolic_dims_and_summary),
        cmocka_unit_test(test_undefined_input_names_node),
        cmocka_unit_test(test_cycle_and_topological_order),
        cmocka_unit_test(test_unknown_domain),
        cmocka_unit_test(test_bad_initializers),
        cmocka_unit_test(test_external_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
