/* Conformance of losskit_contrastive_reference, losskit_triplet_reference and
 * losskit_quadruplet_reference (included by conformance.c after its helpers; run by run_reference_pairs):
 * each SIMD path against scalar on random, edge and threaded inputs, 2 and 3
 * threads bitwise equal to 1, the reference_pairs.json golden cases on every
 * path, and the bad-argument status codes. */

/* queries [q, d] with labels, references [m, d]: every third query is also a
 * reference (marked); variant 1 puts edge values in the queries, variant 2 is
 * large (two blocks of queries: q m > 4 Mi pairs) */
static void run_contrastive_reference(const void *spec, int variant, int threads, obuf *o) {
    const losskit_metric metric = *(const losskit_metric *)spec;
    const size_t q = variant == 2 ? 300 : 23, m = variant == 2 ? 16384 : 41, d = variant == 1 ? 5 : 8;
    seed(141 + variant);
    float *x = normals(q * d, 1), *y = normals(m * d, 1), l;
    float *gq = zeros(q * d), *gr = zeros(m * d);
    int64_t *ql = malloc(q * sizeof *ql), *rl = malloc(m * sizeof *rl), *marks = malloc(m * sizeof *marks);
    for (size_t i = 0; i < q; i++) ql[i] = (int64_t)(i % 5);
    for (size_t j = 0; j < m; j++) rl[j] = (int64_t)((j * 3) % 5), marks[j] = -1;
    for (size_t i = 0; i < q && i < m; i += 3) {
        const size_t j = (i * 7 + 2) % m;
        if (marks[j] >= 0) continue;
        marks[j] = (int64_t)i, rl[j] = ql[i];
        memcpy(y + j * d, x + i * d, d * sizeof *x);
    }
    edges(x, q * d, variant);
    const float neg = metric == LOSSKIT_METRIC_COSINE ? 0.8f : metric == LOSSKIT_METRIC_SQEUCLIDEAN ? 16.0f : 4.0f;
    for (int mode = 0; mode < 6; mode++) { /* reduction x power; the last two normalized */
        const losskit_pair_reduction red = (losskit_pair_reduction)(mode % 3);
        put1(o, (float)losskit_contrastive_reference(metric, x, ql, q, y, rl, marks, m, d, 0.3f, neg, 1 + mode / 3,
                                                     mode >= 4, red, &l, gq, gr, threads));
        put1(o, l), put(o, gq, q * d), put(o, gr, m * d);
    }
    free(x), free(y), free(gq), free(gr), free(ql), free(rl), free(marks);
}

static void run_triplet_reference(const void *spec, int variant, int threads, obuf *o) {
    const losskit_metric metric = *(const losskit_metric *)spec;
    const size_t q = variant == 2 ? 500 : 13, m = variant == 2 ? 2000 : 29, d = variant == 1 ? 5 : 16;
    const size_t t = variant == 2 ? 40000 : 60;
    seed(143 + variant);
    float *x = normals(q * d, 1), *y = normals(m * d, 1), l, *per = zeros(t);
    float *gq = zeros(q * d), *gr = zeros(m * d);
    int64_t *a = malloc(t * sizeof *a), *p = malloc(t * sizeof *p), *n = malloc(t * sizeof *n);
    for (size_t k = 0; k < t; k++) {
        a[k] = (int64_t)(next() % q), p[k] = (int64_t)(next() % m);
        n[k] = (p[k] + 1 + (int64_t)(next() % (m - 1))) % (int64_t)m;
    }
    memcpy(y + p[0] * d, x + a[0] * d, d * sizeof *x); /* a swap tie */
    edges(y, m * d, variant);
    for (int mode = 0; mode < 6; mode++) { /* hinge / swap / soft improved swap normalized / soft, per triplet / quadruplets */
        if (mode >= 4) { /* quadruplets: n2 = the next triplet's negative */
            put1(o, (float)losskit_quadruplet_reference(metric, x, q, y, m, d, a, p, n, n + 1, t - 1, 1.0f, 0.5f, mode == 5,
                                                        mode == 4 ? LOSSKIT_REDUCTION_MEAN : LOSSKIT_REDUCTION_NONE,
                                                        mode == 4 ? &l : per, gq, gr, threads));
            if (mode == 5) put(o, per, t - 1); else put1(o, l);
            put(o, gq, q * d), put(o, gr, m * d);
            continue;
        }
        const losskit_reduction red = mode == 3 ? LOSSKIT_REDUCTION_NONE : mode == 1 ? LOSSKIT_REDUCTION_SUM : LOSSKIT_REDUCTION_MEAN;
        put1(o, (float)losskit_triplet_reference(metric, x, q, y, m, d, a, p, n, t, 0.3f, mode >= 2, mode == 2, mode == 1 || mode == 2,
                                                 mode == 2, red, mode == 3 ? per : &l, gq, gr, threads));
        if (mode == 3) put(o, per, t); else put1(o, l);
        put(o, gq, q * d), put(o, gr, m * d);
    }
    free(x), free(y), free(per), free(gq), free(gr), free(a), free(p), free(n);
}

static const diff_case reference_pair_cases[] = {
    {"contrastive_reference euclidean", run_contrastive_reference, &m_euc, 2e-3f, 1e-5f, 1},
    /* squared distances to 16: a reference's gradient sums 300 terms of size ~100 to ~0.04; the ISAs' distance
     * epilogues round differently, so the absolute tolerance follows the terms' size */
    {"contrastive_reference sqeuclidean", run_contrastive_reference, &m_sq, 2e-3f, 1e-3f, 1},
    {"contrastive_reference cosine", run_contrastive_reference, &m_cos, 2e-3f, 1e-5f, 1},
    {"triplet_reference euclidean", run_triplet_reference, &m_euc, 1e-4f, 1e-6f, 1},
    {"triplet_reference cosine", run_triplet_reference, &m_cos, 1e-4f, 1e-6f, 1},
};

/* An indexed loss's outputs against the golden case: the per-tuple losses (NONE; the loss is their sum) or the loss,
 * and both gradients. */
static int expect_tuples(const jnode *c, losskit_reduction red, const float *per, size_t t, const float *gq, size_t nq,
                         const float *gr, size_t nr, const char *label) {
    float l = per[0]; /* the reduced value, written there for SUM and MEAN */
    if (red == LOSSKIT_REDUCTION_NONE) {
        if (!expect(c, "per_triplet", per, t, 1e-5f, 1e-6f, label)) return 0;
        l = 0;
        for (size_t k = 0; k < t; k++) l += per[k];
    }
    return expect(c, "loss", &l, 1, 1e-4f, 1e-6f, label) && expect(c, "grad_queries", gq, nq, 1e-4f, 1e-6f, label) &&
           expect(c, "grad_references", gr, nr, 1e-4f, 1e-6f, label);
}

/* One golden case of reference_pairs.json on the current path. */
static int golden_reference_pair(const jnode *c, int threads, const char *label) {
    const jnode *in = j_get(c, "inputs"), *p = j_get(c, "params");
    size_t nx, ny, n1, n2, n3;
    float *x = j_floats(j_get(in, "queries"), &nx), *y = j_floats(j_get(in, "references"), &ny), l = 0;
    const size_t d = j_dim(j_get(in, "queries"), 1), q = nx / d, m = ny / d;
    float *gq = zeros(nx), *gr = zeros(ny);
    const char *r = j_str(p, "reduction");
    int ok;
    if (!strcmp(j_str(p, "loss"), "contrastive")) {
        int64_t *ql = j_ints(j_get(in, "labels"), &n1), *rl = j_ints(j_get(in, "reference_labels"), &n2),
                *marks = j_ints(j_get(in, "reference_query"), &n3);
        losskit_pair_reduction red = !strcmp(r, "sum") ? LOSSKIT_PAIRS_SUM : !strcmp(r, "mean") ? LOSSKIT_PAIRS_MEAN : LOSSKIT_PAIRS_MEAN_NONZERO;
        ok = losskit_contrastive_reference(metric_of(p), x, ql, q, y, rl, marks, m, d, (float)j_num(p, "pos_margin", 0),
                                           (float)j_num(p, "neg_margin", 1), (int)j_num(p, "power", 1),
                                           j_num(p, "normalize", 0) != 0, red, &l, gq, gr, threads) == 0 &&
             expect(c, "loss", &l, 1, 1e-4f, 1e-6f, label);
        if (ok && j_num(p, "batch", 0) != 0) { /* the batch as both: its gradient is the sum */
            for (size_t k = 0; k < nx; k++) gq[k] += gr[k];
            ok = expect(c, "grad_features", gq, nx, 1e-4f, 1e-6f, label);
        } else if (ok) {
            ok = expect(c, "grad_queries", gq, nx, 1e-4f, 1e-6f, label) && expect(c, "grad_references", gr, ny, 1e-4f, 1e-6f, label);
        }
        free(ql), free(rl), free(marks);
    } else if (!strcmp(j_str(p, "loss"), "quadruplet")) {
        size_t n4;
        int64_t *a = j_ints(j_get(in, "anchors"), &n1), *pp = j_ints(j_get(in, "positives"), &n2),
                *nn1 = j_ints(j_get(in, "negatives1"), &n3), *nn2 = j_ints(j_get(in, "negatives2"), &n4);
        float *per = zeros(n1 ? n1 : 1);
        losskit_reduction red = reduction_of(p);
        ok = losskit_quadruplet_reference(metric_of(p), x, q, y, m, d, a, pp, nn1, nn2, n1, (float)j_num(p, "margin1", 1),
                                          (float)j_num(p, "margin2", 0.5), j_num(p, "normalize", 0) != 0, red,
                                          per, gq, gr, threads) == 0;
        ok = ok && expect_tuples(c, red, per, n1, gq, nx, gr, ny, label);
        free(a), free(pp), free(nn1), free(nn2), free(per);
    } else {
        int64_t *a = j_ints(j_get(in, "anchors"), &n1), *pp = j_ints(j_get(in, "positives"), &n2), *nn = j_ints(j_get(in, "negatives"), &n3);
        float *per = zeros(n1 ? n1 : 1);
        losskit_reduction red = reduction_of(p);
        ok = losskit_triplet_reference(metric_of(p), x, q, y, m, d, a, pp, nn, n1, (float)j_num(p, "margin", 0.3),
                                       j_num(p, "soft_margin", 0) != 0, j_num(p, "improved", 0) != 0, j_num(p, "swap", 0) != 0,
                                       j_num(p, "normalize", 0) != 0, red, per, gq, gr, threads) == 0;
        ok = ok && expect_tuples(c, red, per, n1, gq, nx, gr, ny, label);
        free(a), free(pp), free(nn), free(per);
    }
    free(x), free(y), free(gq), free(gr);
    return ok;
}

static int bad_cref_marks(void) { int64_t mk[2] = {0, 2}; return losskit_contrastive_reference(LOSSKIT_METRIC_EUCLIDEAN, B, Y, 2, B, Y, mk, 2, 2, 0, 1, 1, 0, LOSSKIT_PAIRS_MEAN, &L, NULL, NULL, 1); }
static int bad_cref_power(void) { return losskit_contrastive_reference(LOSSKIT_METRIC_EUCLIDEAN, B, Y, 2, B, Y, NULL, 2, 2, 0, 1, 3, 0, LOSSKIT_PAIRS_MEAN, &L, NULL, NULL, 1); }
static int bad_cref_margin(void) { return losskit_contrastive_reference(LOSSKIT_METRIC_COSINE, B, Y, 2, B, Y, NULL, 2, 2, -0.1f, 1, 1, 0, LOSSKIT_PAIRS_SUM, &L, NULL, NULL, 1); }
static int bad_cref_reduction(void) { return losskit_contrastive_reference(LOSSKIT_METRIC_EUCLIDEAN, B, Y, 2, B, Y, NULL, 2, 2, 0, 1, 2, 1, (losskit_pair_reduction)3, &L, NULL, NULL, 1); }
static int bad_cref_overflow(void) { return losskit_contrastive_reference(LOSSKIT_METRIC_EUCLIDEAN, B, Y, (size_t)1 << 31, B, Y, NULL, (size_t)1 << 20, 1, 0, 1, 1, 0, LOSSKIT_PAIRS_SUM, &L, NULL, NULL, 1); }
static int bad_tref_anchor(void) { int64_t a = 2, z = 0; return losskit_triplet_reference(LOSSKIT_METRIC_EUCLIDEAN, B, 2, B, 2, 2, &a, &z, &z, 1, 0.3f, 0, 0, 1, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_tref_negative(void) { int64_t z = 0, n = -1; return losskit_triplet_reference(LOSSKIT_METRIC_EUCLIDEAN, B, 2, B, 2, 2, &z, &z, &n, 1, 0.3f, 1, 0, 1, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_tref_margin(void) { int64_t z = 0; return losskit_triplet_reference(LOSSKIT_METRIC_EUCLIDEAN, B, 2, B, 2, 2, &z, &z, &z, 1, NAN, 0, 0, 0, 0, LOSSKIT_REDUCTION_SUM, &L, NULL, NULL, 1); }
static int bad_tref_d0(void) { int64_t z = 0; return losskit_triplet_reference(LOSSKIT_METRIC_EUCLIDEAN, B, 2, B, 2, 0, &z, &z, &z, 1, 0.3f, 0, 0, 0, 0, LOSSKIT_REDUCTION_SUM, &L, NULL, NULL, 1); }
static int bad_qref_negative2(void) { int64_t z = 0, two = 2; return losskit_quadruplet_reference(LOSSKIT_METRIC_COSINE, B, 2, B, 2, 2, &z, &z, &z, &two, 1, 1, 0.5f, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_qref_margin2(void) { int64_t z = 0; return losskit_quadruplet_reference(LOSSKIT_METRIC_EUCLIDEAN, B, 2, B, 2, 2, &z, &z, &z, &z, 1, 1, -0.5f, 1, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_qref_reduction(void) { int64_t z = 0; return losskit_quadruplet_reference(LOSSKIT_METRIC_EUCLIDEAN, B, 2, B, 2, 2, &z, &z, &z, &z, 1, 1, 0.5f, 0, (losskit_reduction)3, &L, NULL, NULL, 1); }
/* not bad: no triplets is a valid call with loss 0 (a mean over none too) */
static int ok_tref_none(void) { L = 7; int st = losskit_triplet_reference(LOSSKIT_METRIC_EUCLIDEAN, B, 2, B, 2, 2, NULL, NULL, NULL, 0, 0.3f, 0, 0, 0, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); return st ? st : L == 0.0f ? 0 : -999; }

static const bad_case reference_pair_bad_args[] = {
    {"contrastive_reference mark out of range", bad_cref_marks, -7}, {"contrastive_reference power 3", bad_cref_power, -12},
    {"contrastive_reference pos_margin < 0", bad_cref_margin, -10}, {"contrastive_reference reduction", bad_cref_reduction, -14},
    {"contrastive_reference q > INT32_MAX", bad_cref_overflow, -4},
    {"triplet_reference anchor out of range", bad_tref_anchor, -7}, {"triplet_reference negative -1", bad_tref_negative, -9},
    {"triplet_reference margin NaN", bad_tref_margin, -11}, {"triplet_reference d 0", bad_tref_d0, -6},
    {"triplet_reference t 0: valid, loss 0", ok_tref_none, 0}, {"quadruplet_reference negative2 out of range", bad_qref_negative2, -10},
    {"quadruplet_reference margin2 < 0", bad_qref_margin2, -13}, {"quadruplet_reference reduction", bad_qref_reduction, -15},
};

static void run_reference_pairs(const char *fixtures) {
    const int before = passed + failed;
    for (size_t c = 0; c < sizeof reference_pair_cases / sizeof *reference_pair_cases; c++) {
        const diff_case *dc = &reference_pair_cases[c];
        for (int variant = 0; variant < 3; variant++) {
            obuf scalar = {0};
            losskit_set_thread_isa(LOSSKIT_ISA_SCALAR);
            dc->run(dc->spec, variant, 1, &scalar);
            for (int k = 0; k < isa_count; k++) {
                obuf got = {0};
                losskit_set_thread_isa(isa_list[k]);
                dc->run(dc->spec, variant, 1, &got);
                size_t i = 0;
                while (i < got.n && got.n == scalar.n && close_to(got.v[i], scalar.v[i], dc->rtol, dc->atol)) i++;
                report(got.n == scalar.n && i == got.n, "%s (variant %d) %s vs scalar: output %zu of %zu: %.9g vs %.9g", dc->name,
                       variant, losskit_isa_name((losskit_isa)isa_list[k]), i, got.n, i < got.n ? got.v[i] : 0.0,
                       i < scalar.n ? scalar.v[i] : 0.0);
                for (int threads = 2; variant == 2 && threads <= 3; threads++) {
                    obuf more = {0};
                    dc->run(dc->spec, variant, threads, &more);
                    report(more.n == got.n && !memcmp(more.v, got.v, got.n * sizeof *got.v), "%s %s: %d threads not bitwise 1",
                           dc->name, losskit_isa_name((losskit_isa)isa_list[k]), threads);
                    free(more.v);
                }
                free(got.v);
            }
            free(scalar.v);
        }
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/reference_pairs.json", fixtures);
    jnode *root = j_load(path);
    const jnode *cases = j_get(root, "cases");
    report(cases != NULL && cases->n > 0, "golden reference_pairs: cannot read %s", path);
    for (size_t i = 0; cases && i < cases->n; i++)
        for (int k = 0; k < isa_count; k++) {
            char label[256];
            snprintf(label, sizeof label, "golden reference_pairs/%s %s", j_str(cases->item[i], "name"),
                     losskit_isa_name((losskit_isa)isa_list[k]));
            losskit_set_thread_isa(isa_list[k]);
            report(golden_reference_pair(cases->item[i], 2, label), "%s", label);
        }
    losskit_set_thread_isa(-1);
    j_free(root);
    for (size_t i = 0; i < sizeof reference_pair_bad_args / sizeof *reference_pair_bad_args; i++) {
        const int got = reference_pair_bad_args[i].call();
        report(got == reference_pair_bad_args[i].expected, "bad argument %s: status %d, expected %d",
               reference_pair_bad_args[i].name, got, reference_pair_bad_args[i].expected);
    }
    printf("reference-set contrastive, triplets, quadruplets: %d checks\n", passed + failed - before);
}
