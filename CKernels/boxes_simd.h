/* IoU / GIoU / DIoU matrix rows, written once over simd_layer.h (no include
 * guard: boxes.c includes it per ISA). One row box against VW columns at a
 * time; the columns come as a structure of arrays (see boxes.c).
 *
 * Zen 4 runs min, max, add and subtract on the same two of its four vector
 * pipes, and plain IoU is little else: the widths are subtracted as
 * fnmadd(max, 1, min) (the same correctly rounded difference, on the FMA
 * pipes; `one` is hidden from the optimizer, which would turn it back into
 * a subtraction) and clamped at 0 on the integer pipes. */

/* One row box, broadcast. */
typedef struct {
    vf x1, y1, x2, y2, area, cx, cy, nan, one;
} VFN(row_box);

V_INLINE VFN(row_box) VFN(row_box_of)(const float *b, const bool row_nan) {
    VFN(row_box) a = {v_set(b[0]), v_set(b[1]), v_set(b[2]), v_set(b[3]), v_set((b[2] - b[0]) * (b[3] - b[1])),
                      v_set(b[0] + b[2]), v_set(b[1] + b[3]), v_set(row_nan ? NAN : 0.0f), v_set(1.0f)};
    v_opaque(a.one);
    return a;
}

/* Lanes below k from a, the rest from b. */
V_INLINE VFN(row_box) VFN(row_box_join)(const VFN(row_box) *a, const VFN(row_box) *b, size_t k) {
    const vm first = vm_first(k);
    VFN(row_box) r = {v_sel(first, a->x1, b->x1), v_sel(first, a->y1, b->y1), v_sel(first, a->x2, b->x2),
                      v_sel(first, a->y2, b->y2), v_sel(first, a->area, b->area), v_sel(first, a->cx, b->cx),
                      v_sel(first, a->cy, b->cy), v_sel(first, a->nan, b->nan), a->one};
    return r;
}

/* The row box against VW column boxes from column j (the first `rest`
 * only, if `tail`). kind is a constant where this is inlined, and so is
 * nan_cols for plain IoU (the hot case): its loop carries no tests. */
V_INLINE vf VFN(iou_vec)(const VFN(row_box) *a, const col_soa *s, size_t j, const bool tail, size_t rest,
                         const losskit_iou_kind kind, const bool nan_cols) {
#define LOAD(arr) (tail ? v_load_first(s->arr + j, rest) : v_load(s->arr + j))
    vf bx1 = LOAD(x1), by1 = LOAD(y1), bx2 = LOAD(x2), by2 = LOAD(y2);
    vf iw = v_clamp0_bits(v_fnma(v_max(a->x1, bx1), a->one, v_min(a->x2, bx2)));
    vf ih = v_clamp0_bits(v_fnma(v_max(a->y1, by1), a->one, v_min(a->y2, by2)));
    vf inter = v_mul(iw, ih);
    vf uni = v_sub(v_add(a->area, LOAD(area)), inter);
    vm nonempty = vm_nonzero(uni); /* 0 / 0 in torchvision: that term is 0 here */
#if LK_SIMD == 512
    vf r = _mm512_maskz_div_ps(nonempty, inter, uni); /* zero where empty, in the division */
#else
    vf r = v_zero_unless(nonempty, v_div(inter, uni));
#endif
    if (kind != LOSSKIT_IOU) {
        vf cw = v_max(v_zero(), v_sub(v_max(a->x2, bx2), v_min(a->x1, bx1)));
        vf ch = v_max(v_zero(), v_sub(v_max(a->y2, by2), v_min(a->y1, by1)));
        if (kind == LOSSKIT_GIOU) {
            vf C = v_mul(cw, ch);
            r = v_sub(r, v_zero_unless(vm_nonzero(C), v_div(v_sub(C, uni), C)));
        } else {
            vf c2 = v_fma(cw, cw, v_fma(ch, ch, v_set(1e-7f)));
            vf dx = v_mul(v_set(0.5f), v_sub(a->cx, LOAD(cx)));
            vf dy = v_mul(v_set(0.5f), v_sub(a->cy, LOAD(cy)));
            r = v_sub(r, v_div(v_fma(dx, dx, v_mul(dy, dy)), c2));
        }
    }
    if (nan_cols) r = v_add(r, v_add(a->nan, LOAD(nan))); /* a NaN coordinate poisons its pairs */
#undef LOAD
    return r;
}

/* Rows r0 .. r1. `nan_cols`: some column box has a NaN coordinate; without
 * one (the usual case) a row's NaN is handled once for the row, and no
 * per-pair NaN terms are needed. */
V_INLINE void VFN(iou_rows_impl)(const iou_job *job, size_t r0, size_t r1, const losskit_iou_kind kind,
                                 const bool nan_cols) {
    const size_t m = job->m, full = m - m % VW, rest = m % VW;
    const col_soa cols = job->cols, *s = &cols; /* a copy: the stores to out cannot alias it */
    float *const out0 = job->out;
    for (size_t i = r0; i < r1; i++) {
        float b[4];
        row_corners(job, i, b);
        float *out = out0 + i * m;
        const bool row_nan = box_has_nan(b);
        if (row_nan && !nan_cols) {
            fill_nan(out, m);
            continue;
        }
        const VFN(row_box) a = VFN(row_box_of)(b, row_nan);
        for (size_t j = 0; j < full; j += VW) v_store(out + j, VFN(iou_vec)(&a, s, j, false, 0, kind, nan_cols));
        if (rest) v_store_first(out + full, VFN(iou_vec)(&a, s, full, true, rest, kind, nan_cols), rest);
    }
}

/* The row box's area is finite, positive and normal, in one integer
 * comparison: its bits are within [the smallest normal, the largest finite
 * float]. Not subnormal: with denormals read as zero (DAZ) a subnormal
 * area would be 0 in the union. */
V_INLINE bool VFN(row_area_ok)(const VFN(row_box) *a) {
    const float area = v_first_lane(a->area);
    uint32_t bits;
    memcpy(&bits, &area, sizeof bits);
    return bits - 0x00800000u < 0x7f800000u - 0x00800000u;
}

/* Plain IoU of a vector whose unions are all known positive: the row box
 * has a finite positive normal area (row_area_ok) and every column box a finite
 * area >= 0 (job->cols_pos). The union is then at least the row's area,
 * above the intersection (each extent of the intersection is at most the
 * box's own, and rounding keeps the order), and finite areas mean finite
 * coordinates. So the union needs no zero test: the product and the
 * quotient are taken only where the height is positive (the width is
 * clamped), 12 vector operations instead of 13, bitwise the same values
 * (a zero's sign aside). AVX2 has no masked arithmetic to gain from:
 * iou_vec's form. */
V_INLINE vf VFN(iou_vec_pos)(const VFN(row_box) *a, const col_soa *s, size_t j) {
#if LK_SIMD == 512
    vf iw = v_clamp0_bits(v_fnma(v_max(a->x1, v_load(s->x1 + j)), a->one, v_min(a->x2, v_load(s->x2 + j))));
    vf ih = v_fnma(v_max(a->y1, v_load(s->y1 + j)), a->one, v_min(a->y2, v_load(s->y2 + j)));
    const vm over = v_cmp(ih, v_zero(), _CMP_GT_OQ);
    vf inter = _mm512_maskz_mul_ps(over, iw, ih);
    vf uni = v_sub(v_add(a->area, v_load(s->area + j)), inter);
    return _mm512_maskz_div_ps(over, inter, uni);
#else
    return VFN(iou_vec)(a, s, j, false, 0, LOSSKIT_IOU, false);
#endif
}

/* Rows r0 .. r1 of plain IoU as one run of vectors aligned to the output's
 * VW-float boundaries, so that every store is whole (100 columns: 6.25
 * vectors a row, not 6 and a masked quarter). A vector that crosses a row's
 * end takes its first lanes from that row's box and the rest from the next
 * row's; the column arrays repeat their first entries after the last
 * (LK_BOX_SOA_PAD), so the lanes past the end load the next row's first
 * columns. A row starting at column j reads job->phase[j % IOU_PHASES],
 * the copy of the columns that has its loads aligned. A large matrix is
 * bound by its write traffic: `stream` stores whole vectors
 * non-temporally (no read for ownership), otherwise the output is touched
 * ahead of the stores. A row takes iou_vec_pos if `cols_pos` and its own
 * area allow (a vector joining two rows, if both do); the NaN pass at the
 * end runs only if some row's area was not finite, positive and normal. With the loop waiting on its stores, every
 * instruction a row adds costs time (a per-row scan of the row boxes
 * measured +0.07 ms at 100k x 100): `stream` and `cols_pos` are constants
 * where this is inlined, and the row-by-row work is the row box, one
 * integer test and the vector that joins two rows. */
V_INLINE void VFN(iou_flat_run)(const iou_job *job, size_t r0, size_t r1, const bool stream, const bool cols_pos,
                                const bool xyxy) {
    enum { ahead = 1024 }; /* floats: 4 KiB */
    const size_t m = job->m;
    const float *boxes1 = job->boxes1;
    float corners[4];
    /* row i's box as corners: as given (xyxy, a constant here: nothing added to the row's work), or converted */
#define ROW_BOX(i) (xyxy ? boxes1 + 4 * (i) : (row_corners(job, (i), corners), corners))
    float *o = job->out + r0 * m;
    const float *const end = job->out + r1 * m;
    col_soa cols = job->cols; /* a copy: the stores to out cannot alias it */
    const col_soa *const s = &cols;
    /* the row's first j columns go before the first boundary (j < VW <= m) */
    size_t j = (((uintptr_t)0 - (uintptr_t)o) & (sizeof(float) * VW - 1)) / sizeof(float);
    VFN(row_box) a = VFN(row_box_of)(ROW_BOX(r0), false);
    bool row_ok = VFN(row_area_ok)(&a), all_rows_ok = row_ok; /* no NaN row if all_rows_ok */
    bool ok = cols_pos && row_ok;
    if (j) v_store_first(o, VFN(iou_vec)(&a, s, 0, true, j, LOSSKIT_IOU, false), j);
    o += j;
    /* the row's whole vectors from column j; the loop keeps one index for the loads and the stores */
#define IOU_ROW_VECTORS(POS)                                                                                    \
    do {                                                                                                        \
        const size_t nv = (m - j) / VW;                                                                         \
        const col_soa c = {.x1 = cols.x1 + j, .y1 = cols.y1 + j, .x2 = cols.x2 + j, .y2 = cols.y2 + j,          \
                           .area = cols.area + j};                                                              \
        for (size_t t = 0; t < nv * VW; t += VW) {                                                              \
            const vf v = POS ? VFN(iou_vec_pos)(&a, &c, t) : VFN(iou_vec)(&a, &c, t, false, 0, LOSSKIT_IOU, false); \
            if (stream) {                                                                                       \
                v_stream_aligned(o + t, v);                                                                     \
            } else {                                                                                            \
                if ((size_t)(end - o - t) > ahead) __builtin_prefetch(o + t + ahead, 1, 3);                     \
                v_store(o + t, v);                                                                              \
            }                                                                                                   \
        }                                                                                                       \
        j += nv * VW;                                                                                           \
        o += nv * VW;                                                                                           \
    } while (0)
    for (size_t i = r0;;) {
        cols = job->phase[j % IOU_PHASES];
        if (ok) IOU_ROW_VECTORS(true);
        else IOU_ROW_VECTORS(false);
        const size_t k = m - j; /* columns left in row i */
        if (i + 1 == r1) {
            if (k) v_store_first(o, VFN(iou_vec)(&a, s, j, true, k, LOSSKIT_IOU, false), k);
            break;
        }
        const VFN(row_box) next = VFN(row_box_of)(ROW_BOX(i + 1), false);
        const bool next_row_ok = VFN(row_area_ok)(&next), next_ok = cols_pos && next_row_ok;
        all_rows_ok &= next_row_ok;
        if (k) {
            const VFN(row_box) joined = VFN(row_box_join)(&a, &next, k);
            const vf v = ok && next_ok ? VFN(iou_vec_pos)(&joined, s, j)
                                       : VFN(iou_vec)(&joined, s, j, false, 0, LOSSKIT_IOU, false);
            if (stream) v_stream_aligned(o, v); /* ordinary stores among streamed lines: 2x slower */
            else v_store(o, v);
            o += VW;
            j = VW - k;
        } else {
            j = 0;
        }
        a = next;
        ok = next_ok;
        i++;
    }
#undef IOU_ROW_VECTORS
    if (stream) v_stream_fence();
    /* a row box with a NaN coordinate (its area is NaN): NaN for its whole row, as the row path */
    if (!all_rows_ok)
        for (size_t i = r0; i < r1; i++)
            if (box_has_nan(ROW_BOX(i))) fill_nan(job->out + i * m, m);
#undef ROW_BOX
}

/* Rows r0 .. r1 of plain IoU, no NaN column, m >= VW (see iou_flat_run).
 * A large matrix (job->stream) is streamed; from two threads
 * (job->half_stream) only by every other task, the rest storing
 * ordinarily: the two reach memory by different ways (write-combining
 * buffers, the cache's write-backs) and together go faster than either.
 * 100k x 100 on Zen 4, 2 threads: 0.93-1.04 ms against 1.09-1.10 all
 * streamed and 1.11 all ordinary; one thread gains nothing stable from it
 * (1.73-2.02 ms against 1.71-1.86 all streamed). */
V_INLINE void VFN(iou_flat_fmt)(const iou_job *job, size_t r0, size_t r1, const bool xyxy) {
    if (job->stream && (!job->half_stream || r0 / job->rows_per_task % 2 == 0)) {
        if (job->cols_pos) VFN(iou_flat_run)(job, r0, r1, true, true, xyxy);
        else VFN(iou_flat_run)(job, r0, r1, true, false, xyxy);
    } else {
        if (job->cols_pos) VFN(iou_flat_run)(job, r0, r1, false, true, xyxy);
        else VFN(iou_flat_run)(job, r0, r1, false, false, xyxy);
    }
}

/* Rows given as corners run the loop as it was (no conversion code in it);
 * the other formats convert each row box as it is loaded. */
V_INLINE void VFN(iou_flat)(const iou_job *job, size_t r0, size_t r1) {
    if (job->format == LOSSKIT_BOX_XYXY) VFN(iou_flat_fmt)(job, r0, r1, true);
    else VFN(iou_flat_fmt)(job, r0, r1, false);
}

V_TARGET static void VFN(iou_rows)(const iou_job *job, size_t r0, size_t r1) {
    const bool nan_cols = job->nan_cols;
    switch (job->kind) {
    case LOSSKIT_IOU:
        if (nan_cols) VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_IOU, true);
        else if (job->m >= VW) VFN(iou_flat)(job, r0, r1);
        else VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_IOU, false);
        break;
    case LOSSKIT_GIOU: VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_GIOU, nan_cols); break;
    default: VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_DIOU, nan_cols); break;
    }
}
