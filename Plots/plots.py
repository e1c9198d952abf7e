#!/usr/bin/env python3
"""Draws LossKit's documentation figures as hand-written SVG under docs/.

Every loss value and gradient is computed by LossKit itself: the script loads
build/liblosskit.so (`make lib`) with ctypes and calls the C entry points with
LOSSKIT_REDUCTION_NONE, so the figures show what the kernels compute.
Python 3 standard library only.

    python3 Plots/plots.py [--bench FILE] [--peers FILE] [--lib SO] [--out DIR]

--bench takes `losskit-bench --json` lines, --peers `torch_peer.py --json`
lines; without --bench the benchmark figure is skipped.
"""
import argparse
import ctypes
import json
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
# Okabe-Ito: distinguishable with colour-blindness and in greyscale print.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
FONT = "Helvetica, Arial, sans-serif"

# ---------------------------------------------------------------------------
# LossKit through ctypes
# ---------------------------------------------------------------------------

REDUCTION_NONE = 0            # losskit_reduction
SHRINKAGE_WEIGHT_NONE = 1     # losskit_shrinkage_weight: weight(y) = 1
IGNORE_INDEX = -100           # softmax losses: no row of ours is ignored
F32 = ctypes.POINTER(ctypes.c_float)
I64 = ctypes.POINTER(ctypes.c_int64)
# Parameters between (pred, target, n) and (reduction, loss, grad, threads).
PARAMS = {
    "losskit_l1": [],
    "losskit_mse": [],
    "losskit_smooth_l1": [ctypes.c_float],                                  # beta
    "losskit_huber": [ctypes.c_float],                                      # delta
    "losskit_wing": [ctypes.c_float, ctypes.c_float],                       # w, epsilon
    "losskit_adaptive_wing": [ctypes.c_float] * 4,                          # alpha, omega, epsilon, theta
    "losskit_focal_regression": [ctypes.c_float],                           # gamma
    "losskit_shrinkage": [ctypes.c_float, ctypes.c_float, ctypes.c_int],    # a, c, weight
    "losskit_bce_logits": [F32, ctypes.c_size_t],                           # pos_weight, pos_weight_count
    "losskit_sigmoid_focal": [ctypes.c_float] * 3,                          # alpha, gamma, normalizer
}
# Every elementwise entry point but the sigmoid focal loss takes a per-element
# weight (NULL: none) right after n.
WEIGHTED = set(PARAMS) - {"losskit_sigmoid_focal"}
# Softmax losses: parameters between (logits, labels, rows, classes) and (reduction, loss, grad, threads).
ROW_PARAMS = {
    "losskit_softmax_ce": [F32, ctypes.c_int64, ctypes.c_float],            # class_weights, ignore_index, label_smoothing
    "losskit_softmax_focal": [ctypes.c_float, ctypes.c_float, ctypes.c_int64],  # alpha, gamma, ignore_index
}


class LossKit:
    def __init__(self, path):
        self.lib = ctypes.CDLL(str(path))
        self.lib.losskit_status_string.restype = ctypes.c_char_p
        self.lib.losskit_status_string.argtypes = [ctypes.c_int]
        for name, params in PARAMS.items():
            fn = getattr(self.lib, name)
            fn.restype = ctypes.c_int
            fn.argtypes = ([F32, F32, ctypes.c_size_t] + ([F32] if name in WEIGHTED else []) + params
                           + [ctypes.c_int, F32, F32, ctypes.c_int])
        for name, params in ROW_PARAMS.items():
            fn = getattr(self.lib, name)
            fn.restype = ctypes.c_int
            fn.argtypes = ([F32, I64, ctypes.c_size_t, ctypes.c_size_t] + params
                           + [ctypes.c_int, F32, F32, ctypes.c_int])

    def check(self, name, params, status):
        if status != 0:
            msg = self.lib.losskit_status_string(status).decode()
            raise RuntimeError(f"{name}{params}: status {status} ({msg})")

    def __call__(self, name, pred, target, *params):
        """Per-element (loss, gradient wrt pred) lists; raises on a non-zero status."""
        n = len(pred)
        arr = ctypes.c_float * n
        loss, grad = arr(), arr()
        weight = (None,) if name in WEIGHTED else ()
        status = getattr(self.lib, name)(arr(*pred), arr(*target), n, *weight, *params,
                                         REDUCTION_NONE, loss, grad, 1)
        self.check(name, params, status)
        return list(loss), list(grad)

    def rows(self, name, logits, labels, *params):
        """Softmax losses over rows of logits (lists of equal length) with int labels:
        (per-row loss, per-row gradient lists wrt the logits); raises on a non-zero status."""
        rows, classes = len(logits), len(logits[0])
        flat = (ctypes.c_float * (rows * classes))(*(v for row in logits for v in row))
        loss, grad = (ctypes.c_float * rows)(), (ctypes.c_float * (rows * classes))()
        status = getattr(self.lib, name)(flat, (ctypes.c_int64 * rows)(*labels), rows, classes, *params,
                                         REDUCTION_NONE, loss, grad, 1)
        self.check(name, params, status)
        return list(loss), [list(grad[i * classes:(i + 1) * classes]) for i in range(rows)]


# ---------------------------------------------------------------------------
# SVG helpers
# ---------------------------------------------------------------------------

def num(v):
    """Tick label: shortest form, typographic minus."""
    s = f"{round(v, 9):.6g}"
    return s.replace("-", "\u2212")


def nice_ticks(lo, hi, count=6):
    """Ticks at 1/2/2.5/5 x 10^k inside [lo, hi], about `count` of them."""
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10)), key=lambda st: abs(math.log(st / raw)))
    first = math.ceil(lo / step - 1e-9)
    return [(first + i) * step for i in range(int((hi - lo) / step + 1e-9) + 1)
            if (first + i) * step <= hi + step * 1e-9]


def text(x, y, s, size=12, anchor="start", color="#222", weight="normal", rotate=None):
    tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{color}" font-weight="{weight}"{tr}>{escape(s)}</text>')


def line(x1, y1, x2, y2, color="#222", width=1, dash=None):
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{color}" stroke-width="{width}"{d}/>')


def document(width, height, body):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{FONT}">\n'
            f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")


def caption_lines(caption, x, y, size=11):
    return [text(x, y + i * (size + 4), s, size=size, color="#555") for i, s in enumerate(caption.split("\n"))]


def swatch(x, y, color, dash, kind):
    """A legend key 26 px wide at (x, y): a line sample, or a filled box for bars."""
    if kind == "box":
        return f'<rect x="{x + 4:.1f}" y="{y - 5:.1f}" width="20" height="10" fill="{color}"/>'
    return line(x, y, x + 26, y, color, 2.5, dash)


def legend_width(entries, size=12):
    return max(len(e[0]) for e in entries) * size * 0.6 + 46  # ~0.6 em a character (DejaVu Sans)


def legend(entries, x, y, anchor_right=False, size=12):
    """A boxed legend; entries: (label, colour, dash, kind); (x, y) is its top left or right corner."""
    w = legend_width(entries, size)
    h = len(entries) * (size + 7) + 8
    x0 = x - w if anchor_right else x
    out = [f'<rect x="{x0:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" rx="4" '
           f'fill="white" fill-opacity="0.9" stroke="#ccc"/>']
    for i, (label, color, dash, kind) in enumerate(entries):
        cy = y + 6 + (size + 7) * (i + 0.5)
        out += [swatch(x0 + 8, cy, color, dash, kind), text(x0 + 40, cy + size * 0.35, label, size)]
    return out


def legend_row(entries, cx, y, size=12):
    """A one-line legend centred on cx, for charts whose curves fill every corner."""
    widths = [32 + len(e[0]) * size * 0.6 + 16 for e in entries]
    x, out = cx - sum(widths) / 2, []
    for (label, color, dash, kind), w in zip(entries, widths):
        out += [swatch(x, y, color, dash, kind), text(x + 32, y + size * 0.35, label, size)]
        x += w
    return out


class Chart:
    """A single x-y line chart; lines are clipped to the plot area (ylim clips).
    legend: "upper|lower left|right" inside the plot, "top" (a row above it) or "outside"
    (a box right of the plot, which widens the SVG beyond `width`)."""
    def __init__(self, title, xlabel, ylabel, xlim, ylim, caption="", legend="upper right",
                 width=640, height=400):
        self.title, self.xlabel, self.ylabel, self.caption = title, xlabel, ylabel, caption
        self.xlim, self.ylim, self.w, self.h = xlim, ylim, width, height
        n_caption = len(caption.split("\n")) if caption else 0
        self.legend_at = legend
        self.left, self.right, self.top = 66, 20, (66 if legend == "top" else 44)
        self.bottom = 52 + 15 * n_caption
        self.series, self.vlines = [], []

    def px(self, x):
        x0, x1 = self.xlim
        return self.left + (x - x0) / (x1 - x0) * (self.w - self.left - self.right)

    def py(self, y):
        y0, y1 = self.ylim
        return self.top + (y1 - y) / (y1 - y0) * (self.h - self.top - self.bottom)

    def plot(self, xs, ys, label, color, dash=None):
        """ys may hold None to break the line (a jump the curve should not bridge)."""
        self.series.append((xs, ys, label, color, dash))

    def vline(self, x, label):
        self.vlines.append((x, label))

    def svg(self):
        L, T, R, B = self.left, self.top, self.w - self.right, self.h - self.bottom
        entries = [(s[2], s[3], s[4], "line") for s in self.series]
        doc_w = R + 14 + legend_width(entries) + 10 if self.legend_at == "outside" else self.w
        out = [f'<clipPath id="plot"><rect x="{L}" y="{T}" width="{R - L}" height="{B - T}"/></clipPath>',
               text(doc_w / 2, 26, self.title, 15, "middle", weight="bold")]
        # grid and ticks
        for x in nice_ticks(*self.xlim):
            out += [line(self.px(x), T, self.px(x), B, "#e6e6e6"), line(self.px(x), B, self.px(x), B + 5),
                    text(self.px(x), B + 18, num(x), 11, "middle")]
        for y in nice_ticks(*self.ylim):
            out += [line(L, self.py(y), R, self.py(y), "#e6e6e6"), line(L - 5, self.py(y), L, self.py(y)),
                    text(L - 8, self.py(y) + 4, num(y), 11, "end")]
        if self.ylim[0] < 0 < self.ylim[1]:  # zero line for signed quantities (gradients)
            out.append(line(L, self.py(0), R, self.py(0), "#999"))
        for x, label in self.vlines:
            out += [line(self.px(x), T, self.px(x), B, "#777", 1, "4 3"),
                    text(self.px(x) + 4, T + 14, label, 11, color="#555")]
        out.append(f'<rect x="{L}" y="{T}" width="{R - L}" height="{B - T}" fill="none" stroke="#222"/>')
        # curves: one path per unbroken run of points; the first listed is drawn last (on top)
        for xs, ys, label, color, dash in reversed(self.series):
            d, pen_down = [], False
            for x, y in zip(xs, ys):
                if y is None or not math.isfinite(y):
                    pen_down = False
                    continue
                d.append(f'{"L" if pen_down else "M"}{self.px(x):.2f},{self.py(y):.2f}')
                pen_down = True
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<path d="{" ".join(d)}" fill="none" stroke="{color}" stroke-width="2.2" '
                       f'stroke-linejoin="round"{dash_attr} clip-path="url(#plot)"/>')
        # axis labels, caption, legend
        out.append(text((L + R) / 2, B + 36, self.xlabel, 13, "middle"))
        out.append(text(18, (T + B) / 2, self.ylabel, 13, "middle", rotate=-90))
        if self.caption:
            out += caption_lines(self.caption, 10, B + 58)
        if self.legend_at == "outside":
            return document(round(doc_w), self.h, out + legend(entries, R + 14, T))
        if self.legend_at == "top":
            return document(self.w, self.h, out + legend_row(entries, self.w / 2, T - 16))
        vertical, horizontal = self.legend_at.split()
        ly = T + 10 if vertical == "upper" else B - 10 - len(entries) * 19 - 8
        out += legend(entries, R - 10 if horizontal == "right" else L + 10, ly, horizontal == "right")
        return document(self.w, self.h, out)


# ---------------------------------------------------------------------------
# The loss figures, from LossKit
# ---------------------------------------------------------------------------

def focal_figures(lk):
    gammas = [0, 0.5, 1, 2, 5]
    pt = [i / 1000 for i in range(1, 1000)]
    logits = [math.log(p / (1 - p)) for p in pt]  # target 1, so p_t = sigmoid(x)
    ones = [1.0] * len(pt)
    # alpha = -1 disables the alpha_t weighting; normalizer 0 = none
    results = {g: lk("losskit_sigmoid_focal", logits, ones, -1.0, g, 0.0) for g in gammas}
    # the steepest gradient is not cross-entropy's: report it, and size the axis to show it
    g_min = min(results[gammas[-1]][1])
    loss_chart = Chart("Sigmoid focal loss (Lin et al. 2017)", "probability of the ground-truth class p\u209c",
                       "loss", (0, 1), (0, 5), legend="upper right", caption=
                       "FL(p\u209c) = \u2212(1 \u2212 p\u209c)^\u03b3 log p\u209c from losskit_sigmoid_focal "
                       "(alpha < 0: no \u03b1 weighting), target 1,\nlogit x = logit(p\u209c). "
                       "\u03b3 > 0 shrinks the loss of well-classified examples (p\u209c > 0.5).")
    grad_chart = Chart("Sigmoid focal loss: gradient wrt the logit", "probability of the ground-truth class p\u209c",
                       "\u2202FL / \u2202x", (0, 1), (math.floor(g_min * 10 - 0.5) / 10, 0.05), legend="lower right", caption=
                       "Gradients from losskit_sigmoid_focal (target 1, no \u03b1). \u03b3 = 0 is cross-entropy, "
                       "p\u209c \u2212 1. Larger \u03b3 silences\nwell-classified examples, and pushes harder "
                       f"than cross-entropy on hard ones (down to {num(round(g_min, 2))} for \u03b3 = {gammas[-1]}).")
    for gamma, color in zip(gammas, PALETTE):
        loss, grad = results[gamma]
        label = f"\u03b3 = {gamma:g}" + (" (cross-entropy)" if gamma == 0 else "")
        loss_chart.plot(pt, loss, label, color)
        grad_chart.plot(pt, grad, label, color)
    return {"focal_loss.svg": loss_chart.svg(), "focal_gradient.svg": grad_chart.svg()}


def wing_figures(lk):
    r = [i / 20 for i in range(-300, 301)]  # includes r = 0 exactly
    zeros = [0.0] * len(r)
    # (label, entry point, parameters, dash, gradient jumps at 0); the first is drawn on top,
    # Smooth L1 dashed because it coincides with L1 (and Wing) where |r| > 1
    curves = [("Wing (w = 10, \u03b5 = 2)", "losskit_wing", (10.0, 2.0), None, True),
              ("Smooth L1 (\u03b2 = 1)", "losskit_smooth_l1", (1.0,), "6 4", False),
              ("L1", "losskit_l1", (), None, True),
              ("L2 (MSE, r\u00b2)", "losskit_mse", (), None, False)]
    loss_chart = Chart("Wing loss vs L1, L2 and Smooth L1", "residual r = prediction \u2212 target",
                       "loss", (-15, 15), (0, 30), legend="top", caption=
                       "Values from LossKit (target 0). L2 is LossKit's MSE, r\u00b2 (not \u00bdr\u00b2); "
                       "y is clipped at 30, so it leaves\nthe plot at |r| \u2248 5.5. Wing is logarithmic "
                       "for |r| < w and L1 shifted up by w ln(1 + w/\u03b5) \u2212 w beyond.")
    grad_chart = Chart("Gradients: Wing vs L1, L2 and Smooth L1", "residual r = prediction \u2212 target",
                       "\u2202loss / \u2202r", (-15, 15), (-6, 6), legend="top", caption=
                       "Gradients from LossKit (target 0). L2's gradient 2r is clipped at \u00b16 (|r| > 3). "
                       "Wing's is w / (\u03b5 + |r|) sign(r)\nnear 0 (up to \u00b15) and \u00b11 beyond |r| = w; "
                       "Wing and L1 jump at r = 0 (LossKit gives 0 there; not drawn).")
    for (label, fn, params, dash, jumps), color in zip(curves, PALETTE):
        loss, grad = lk(fn, r, zeros, *params)
        if jumps:  # sign(r) discontinuity: do not draw a vertical segment through 0
            grad = [None if x == 0 else g for x, g in zip(r, grad)]
        loss_chart.plot(r, loss, label, color, dash)
        grad_chart.plot(r, grad, label, color, dash)
    return {"wing_vs_others.svg": loss_chart.svg(), "wing_gradient.svg": grad_chart.svg()}


def shrinkage_figure(lk):
    a, c = 10.0, 0.2
    l = [i / 500 for i in range(1, 501)]  # l = 0 excluded: the factor is loss / l^2
    loss, _ = lk("losskit_shrinkage", l, [0.0] * len(l), a, c, SHRINKAGE_WEIGHT_NONE)
    factor = [v / (x * x) for v, x in zip(loss, l)]
    chart = Chart("Shrinkage loss (Lu et al. 2018, DSLT)", "absolute residual l = |prediction \u2212 target|",
                  "value", (0, 1), (0, 1), legend="top", caption=
                  "a = 10, c = 0.2, no target weighting (LOSSKIT_SHRINKAGE_WEIGHT_NONE). "
                  "Loss from losskit_shrinkage,\nfactor = loss / l\u00b2. Easy samples (l < c) are "
                  "down-weighted; hard ones keep nearly the full L2 penalty.")
    # the dashed L2 is listed before the loss so that it is drawn over it where they coincide
    chart.plot(l, factor, "factor 1 / (1 + exp(a (c \u2212 l)))", PALETTE[2])
    chart.plot(l, [x * x for x in l], "L2 loss l\u00b2", PALETTE[1], dash="6 4")
    chart.plot(l, loss, "shrinkage loss l\u00b2 \u00b7 factor", PALETTE[0])
    chart.vline(c, "l = c")
    return {"shrinkage.svg": chart.svg()}


def leaves_at(xs, ys, lo, hi):
    """The smallest |x| at which the curve leaves [lo, hi] (to say so in a caption)."""
    return min((abs(x) for x, y in zip(xs, ys) if y is not None and not lo <= y <= hi), default=None)


def regression_figures(lk):
    """Every elementwise regression loss of LossKit over r in [-4, 4]."""
    r = [i / 100 for i in range(-400, 401)]  # includes r = 0 exactly
    zeros = [0.0] * len(r)
    aw_y = 1.0  # Adaptive Wing's exponent is alpha - y: give it a target, the others target 0
    aw, fr, mse = "Adaptive Wing (y = 1)", "focal regression |r|\u00b3 (\u03b3 = 1)", "MSE (r\u00b2)"
    # (label, entry point, pred, target, parameters, colour, dash, gradient jumps at 0).
    # The first is drawn on top: Huber = Smooth L1 here (beta = delta = 1), and both = L1's
    # gradient for |r| > 1, so they are dashed over each other; shrinkage is dashed over MSE.
    curves = [
        ("Huber (\u03b4 = 1)", "losskit_huber", r, zeros, (1.0,), PALETTE[3], "2 3", False),
        ("Smooth L1 (\u03b2 = 1)", "losskit_smooth_l1", r, zeros, (1.0,), PALETTE[2], "7 4", False),
        ("L1", "losskit_l1", r, zeros, (), PALETTE[6], None, True),
        ("shrinkage (a = 10, c = 0.2)", "losskit_shrinkage", r, zeros, (10.0, 0.2, SHRINKAGE_WEIGHT_NONE),
         PALETTE[5], "7 4", False),
        (mse, "losskit_mse", r, zeros, (), PALETTE[1], None, False),
        (fr, "losskit_focal_regression", r, zeros, (1.0,), "#7F7F7F", None, False),
        ("Wing (w = 10, \u03b5 = 2)", "losskit_wing", r, zeros, (10.0, 2.0), PALETTE[0], None, True),
        (aw, "losskit_adaptive_wing", [x + aw_y for x in r], [aw_y] * len(r), (2.1, 14.0, 1.0, 0.5),
         PALETTE[4], None, False),
    ]
    y_max, g_max = 12, 12
    results = {}
    for label, fn, pred, target, params, color, dash, jumps in curves:
        loss, grad = lk(fn, pred, target, *params)
        if jumps:  # sign(r) discontinuity: do not draw a vertical segment through 0
            grad = [None if x == 0 else g for x, g in zip(r, grad)]
        results[label] = (loss, grad)
    out_l = {k: leaves_at(r, v[0], 0, y_max) for k, v in results.items()}
    out_g = {k: leaves_at(r, v[1], -g_max, g_max) for k, v in results.items()}
    aw_grad = results[aw][1]
    aw_peak = max(aw_grad)
    setup = ("Values from LossKit, target 0, except Adaptive Wing (\u03b1 = 2.1, \u03c9 = 14, \u03b5 = 1, "
             "\u03b8 = 0.5): target y = 1 (exponent \u03b1 \u2212 y = 1.1),\nplotted against "
             "prediction \u2212 target. Shrinkage without target weighting. Smooth L1 (\u03b2 = 1) and "
             "Huber (\u03b4 = 1) are the same\nfunction here (Huber dotted over Smooth L1). ")
    loss_chart = Chart("Regression losses in LossKit", "residual r = prediction \u2212 target", "loss",
                       (-4, 4), (0, y_max), legend="outside", width=700, height=500, caption=setup +
                       f"y is clipped at {y_max}: Adaptive Wing leaves the plot at |r| \u2248 {out_l[aw]:.1f}, "
                       f"focal regression at {out_l[fr]:.1f},\nMSE and shrinkage at {out_l[mse]:.1f}. "
                       "Shrinkage \u2248 r\u00b2 for |r| > 0.6. Wing is in its logarithmic part here (|r| < w).")
    grad_chart = Chart("Regression losses: gradient wrt the prediction", "residual r = prediction \u2212 target",
                       "\u2202loss / \u2202r", (-4, 4), (-g_max, g_max), legend="outside", width=700, height=500,
                       caption=setup +
                       f"y is clipped at \u00b1{g_max}: focal regression's 3r\u00b2 leaves at |r| \u2248 "
                       f"{out_g[fr]:.1f}.\nL1, Smooth L1 and Huber are all \u00b11 for |r| > 1. L1 and Wing jump at "
                       "r = 0 (LossKit gives 0 there; not drawn). Adaptive Wing's is\ncontinuous at 0 but rises "
                       f"almost vertically (\u221d |r|^0.1), peaks at {aw_peak:.1f} near |r| = "
                       f"{abs(r[aw_grad.index(aw_peak)]):.1f} and is constant, {aw_grad[-1]:.1f}, for |r| \u2265 \u03b8.")
    for label, fn, pred, target, params, color, dash, jumps in curves:
        loss, grad = results[label]
        loss_chart.plot(r, loss, label, color, dash)
        grad_chart.plot(r, grad, label, color, dash)
    return {"regression_losses.svg": loss_chart.svg(), "regression_gradients.svg": grad_chart.svg()}


def classification_figures(lk):
    """Binary and 2-class softmax losses against the logit of the true class (target 1)."""
    x = [i / 100 for i in range(-600, 601)]
    ones = [1.0] * len(x)
    two_class = [[v, 0.0] for v in x]  # the true class (label 0) has logit x, the other 0
    labels = [0] * len(x)
    bce = lk("losskit_bce_logits", x, ones, None, 0)  # no pos_weight
    sfocal = lk("losskit_sigmoid_focal", x, ones, 0.25, 2.0, 0.0)  # normalizer 0 = none
    ce_loss, ce_grad = lk.rows("losskit_softmax_ce", two_class, labels, None, IGNORE_INDEX, 0.0)
    fo_loss, fo_grad = lk.rows("losskit_softmax_focal", two_class, labels, 0.25, 2.0, IGNORE_INDEX)
    # (label, (loss, gradient wrt x), colour, dash); the first is drawn on top, so the dashed
    # softmax curves are listed before the sigmoid curves they coincide with
    curves = [("softmax CE, 2 classes", (ce_loss, [g[0] for g in ce_grad]), PALETTE[1], "7 4"),
              ("BCE with logits", bce, PALETTE[0], None),
              ("softmax focal (same \u03b1, \u03b3), 2 classes", (fo_loss, [g[0] for g in fo_grad]), PALETTE[3], "7 4"),
              ("sigmoid focal (\u03b1 = 0.25, \u03b3 = 2)", sfocal, PALETTE[2], None)]
    g_min = min(sfocal[1])
    setup = ("from LossKit, target 1, no pos_weight, class weights or label smoothing. Softmax: "
             "2 classes,\nlogits (x, 0) with the true class first, so p = sigmoid(x): softmax CE equals BCE "
             "and softmax\nfocal equals sigmoid focal (same \u03b1, \u03b3); the softmax curves are dashed "
             "over the sigmoid ones.\n")
    loss_chart = Chart("Classification losses in LossKit", "logit of the true class x", "loss",
                       (-6, 6), (0, 6.5), legend="upper right", width=700, height=480, caption="Values " + setup +
                       "Focal loss is \u03b1 (1 \u2212 p)^\u03b3 times BCE: small where p is large.")
    grad_chart = Chart("Classification losses: gradient wrt the logit", "logit of the true class x",
                       "\u2202loss / \u2202x", (-6, 6), (-1.05, 0.05), legend="lower right", width=700, height=480,
                       caption="Gradients wrt x " + setup + "BCE's is p \u2212 1 (the other logit's gradient is "
                       f"its negative). Focal's is steepest, {num(round(g_min, 3))},\nnear x = "
                       f"{num(round(x[sfocal[1].index(g_min)], 1))} and tends to \u2212\u03b1 as x \u2192 \u2212\u221e.")
    for label, (loss, grad), color, dash in curves:
        loss_chart.plot(x, loss, label, color, dash)
        grad_chart.plot(x, grad, label, color, dash)
    return {"classification_losses.svg": loss_chart.svg(), "classification_gradients.svg": grad_chart.svg()}


# ---------------------------------------------------------------------------
# The benchmark figure
# ---------------------------------------------------------------------------

def read_jsonl(path):
    """JSON objects from a file, ignoring non-JSON lines (progress, errors)."""
    rows = []
    for raw in Path(path).read_text().splitlines():
        try:
            row = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def bench_figure(bench_rows, peer_rows):
    c_rows = [r for r in bench_rows if r.get("path") == "c" and "workload" in r]
    workloads = list(dict.fromkeys(r["workload"] for r in c_rows))
    threads = sorted({r["threads"] for r in c_rows})
    pct = {(r["workload"], r["threads"]): r.get("roofline_pct") for r in c_rows}
    c_ms = {(r["workload"], r["threads"]): r["ms"] for r in c_rows}
    def peer_speedup(path):
        ms = {r["workload"]: r["ms"] for r in peer_rows if r.get("path") == path and r.get("threads") == 1}
        return {w: ms[w] / c_ms[(w, 1)] for w in workloads if w in ms and (w, 1) in c_ms}
    speedup = peer_speedup("torch")
    compiled = peer_speedup("torch-compiled")  # torch.compile, for the fused elementwise rows
    if not workloads:
        sys.exit("no C-path rows (path \"c\") in the --bench file: nothing to draw")

    # same width with or without the PyTorch panel: the roofline panel takes its room
    row_h, label_w, top, width = 30, 160, 106, 774
    gap, right_w = (40, 220) if speedup else (0, 0)
    left_w = width - label_w - gap - right_w - 24
    bottom = top + row_h * len(workloads)
    height = bottom + 84
    out = [text(width / 2, 26, "LossKit C kernels: roofline share" + (" and speed-up over PyTorch" if speedup else ""),
                15, "middle", weight="bold")]

    # left panel: % of the roofline ceiling, one bar per thread count
    x0 = label_w
    hi = max(100, max((v for v in pct.values() if v is not None), default=0) * 1.08)
    ticks = nice_ticks(0, hi, 6)
    hi = max(hi, ticks[-1])
    sx = lambda v: x0 + v / hi * left_w
    out.append(text(x0 + left_w / 2, top - 28, "% of roofline ceiling (C path)", 13, "middle", weight="bold"))
    for t in ticks:
        out += [line(sx(t), top, sx(t), bottom, "#e6e6e6"), text(sx(t), bottom + 16, num(t), 11, "middle")]
    out += [line(sx(100), top - 6, sx(100), bottom, "#555", 1.2, "5 3"),
            text(sx(100), top - 9, "ceiling", 10, "middle", color="#555")]
    bar_h = (row_h - 8) / len(threads)
    for i, w in enumerate(workloads):
        y = top + i * row_h
        out.append(text(x0 - 8, y + row_h / 2 + 4, w, 12, "end"))
        for j, t in enumerate(threads):
            v = pct.get((w, t))
            if v is None:
                continue
            by = y + 4 + j * bar_h
            out.append(f'<rect x="{x0}" y="{by:.1f}" width="{sx(v) - x0:.1f}" height="{bar_h - 1:.1f}" '
                       f'fill="{PALETTE[j % len(PALETTE)]}"/>')
            out.append(text(sx(v) + 3, by + bar_h - 3, f"{v:.0f}%", 10))
    out.append(line(x0, top, x0, bottom))
    out.append(line(x0, bottom, x0 + left_w, bottom))

    # right panel: speed-up over PyTorch at 1 thread, log scale from 1x
    if speedup:
        x1 = x0 + left_w + gap
        every = list(speedup.values()) + list(compiled.values())
        lo_dec = math.floor(math.log10(min(1.0, min(every))))
        hi_dec = max(math.ceil(math.log10(max(every))), lo_dec + 1)
        sl = lambda v: x1 + (math.log10(v) - lo_dec) / (hi_dec - lo_dec) * right_w
        out.append(text(x1 + right_w / 2, top - 28, "speed-up over PyTorch, 1 thread", 13, "middle", weight="bold"))
        for d in range(lo_dec, hi_dec + 1):
            for m in (1, 3):
                v = m * 10.0 ** d
                if v <= 10.0 ** hi_dec:
                    out += [line(sl(v), top, sl(v), bottom, "#e6e6e6" if m == 3 else "#cfcfcf"),
                            text(sl(v), bottom + 16, f"{v:g}\u00d7", 11, "middle")]
        for i, w in enumerate(workloads):
            if w not in speedup:
                continue
            y = top + i * row_h
            # eager PyTorch (grey); where measured, compiled PyTorch below it (dark)
            bars = [(speedup[w], "#7f7f7f")] + ([(compiled[w], "#333333")] if w in compiled else [])
            h = (row_h - 8) / len(bars)
            for k, (s, color) in enumerate(bars):
                by = y + 4 + k * h
                a, b = sorted((sl(1.0), sl(s)))
                out.append(f'<rect x="{a:.1f}" y="{by:.1f}" width="{b - a:.1f}" height="{h - 1:.1f}" fill="{color}"/>')
                out.append(text(b + 3, by + h - 3, f"{s:.1f}\u00d7", 10 if len(bars) > 1 else 11))
        out.append(line(sl(1.0), top, sl(1.0), bottom, "#222"))
        out.append(line(x1, bottom, x1 + right_w, bottom))

    out += legend_row([(f"{t} thread{'s' if t != 1 else ''}", PALETTE[j % len(PALETTE)], None, "box")
                       for j, t in enumerate(threads)], x0 + left_w / 2, 50)
    machine = next((r for r in bench_rows if "machine" in r), None)
    note = "Roofline ceiling: streaming bandwidth or OpenBLAS SGEMM, measured on the same machine."
    if speedup:
        note += "\nSpeed-up = PyTorch median ms / LossKit C median ms, both at 1 thread (log scale)."
        if compiled:
            note += " Grey: eager PyTorch; dark: under torch.compile."
    if machine:
        note += f"\nMachine: {machine['machine']}, ISA path {machine.get('isa', '?')}."
    out += caption_lines(note, 10, bottom + 40)
    return {"bench.svg": document(width, height, out)}



# ---------------------------------------------------------------------------
# Landmark evaluation: the CED curve, from LossKit's NME / CED / AUC kernels
# ---------------------------------------------------------------------------

def ced_figure(lk, threshold):
    """CED curves of three generated 'models' on generated 68-point faces (300W
    layout: inter-ocular normalization over the outer eye corners 36 and 45):
    per-sample NME, the curve and AUC / failure rate all come from LossKit."""
    import random
    rng = random.Random(15)
    n, k = 600, 68
    target = []
    for _ in range(n):
        cx, cy, size = rng.uniform(100, 300), rng.uniform(100, 300), rng.uniform(60, 180)
        pts = [(cx + size * rng.uniform(-0.5, 0.5), cy + size * rng.uniform(-0.5, 0.5)) for _ in range(k)]
        pts[36] = (cx - 0.35 * size, cy - 0.15 * size)  # outer eye corners, 0.7 size apart
        pts[45] = (cx + 0.35 * size, cy - 0.15 * size)
        target.append((pts, size))
    D = ctypes.POINTER(ctypes.c_double)
    lib = lk.lib
    lib.losskit_landmark_nme.argtypes = [F32, F32, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int, ctypes.c_size_t,
                                         ctypes.c_size_t, ctypes.c_size_t, D]
    lib.losskit_landmark_ced.argtypes = [D, ctypes.c_size_t, ctypes.c_double, ctypes.c_size_t, D]
    lib.losskit_landmark_summary.argtypes = [D, ctypes.c_size_t, ctypes.c_double, D, D, D]
    chart = Chart(f"Cumulative error distribution (CED) up to NME {num(threshold)}", "NME (inter-ocular)",
                  "fraction of samples", (0, threshold), (0, 1), legend="lower right",
                  caption=f"{n} generated faces, 68 landmarks; AUC = mean(max(0, t - NME)) / t and failure rate "
                          f"= share of NME > t at t = {num(threshold)}.\nNME, curve, AUC and FR computed by LossKit "
                          "(losskit_landmark_nme / _ced / _summary).")
    points = 201
    for m, (name, spread) in enumerate([("model A (noise 2%)", 0.02), ("model B (noise 3.5%)", 0.035),
                                        ("model C (noise 5%)", 0.05)]):
        flat_t, flat_p = [], []
        for pts, size in target:
            # heavy-tailed per-face difficulty: most faces easy, a few hard
            face = spread * 0.7 * size * (0.6 + rng.expovariate(1.5))
            for x, y in pts:
                flat_t += [x, y]
                flat_p += [x + rng.gauss(0, face), y + rng.gauss(0, face)]
        nme = (ctypes.c_double * n)()
        status = lib.losskit_landmark_nme((ctypes.c_float * len(flat_p))(*flat_p), (ctypes.c_float * len(flat_t))(*flat_t),
                                          n, k, 0, 36, 45, 1, nme)
        lk.check("losskit_landmark_nme", [], status)
        ced = (ctypes.c_double * points)()
        lk.check("losskit_landmark_ced", [], lib.losskit_landmark_ced(nme, n, threshold, points, ced))
        mean, auc, fr = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        lk.check("losskit_landmark_summary", [], lib.losskit_landmark_summary(nme, n, threshold, ctypes.byref(mean),
                                                                              ctypes.byref(auc), ctypes.byref(fr)))
        xs = [threshold * i / (points - 1) for i in range(points)]
        chart.plot(xs, list(ced), f"{name}: NME {mean.value:.4f}, AUC {auc.value:.3f}, FR {fr.value:.1%}",
                   PALETTE[m])
    return {"ced.svg": chart.svg()}

# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", help="losskit-bench --json output (enables docs/bench.svg)")
    ap.add_argument("--peers", help="torch_peer.py --json output (adds the PyTorch speed-up)")
    ap.add_argument("--lib", default=ROOT / "build" / "liblosskit.so", type=Path)
    ap.add_argument("--out", default=ROOT / "docs", type=Path)
    ap.add_argument("--ced-threshold", default=0.08, type=float, help="NME threshold of ced.svg (300W 0.08, WFLW 0.1)")
    args = ap.parse_args()
    if not args.lib.exists():
        sys.exit(f"{args.lib} not found: run `make lib` first")
    lk = LossKit(args.lib)

    figures = {**focal_figures(lk), **wing_figures(lk), **shrinkage_figure(lk),
               **regression_figures(lk), **classification_figures(lk)}
    figures.update(ced_figure(lk, args.ced_threshold))
    if args.bench:
        figures.update(bench_figure(read_jsonl(args.bench), read_jsonl(args.peers) if args.peers else []))
    else:
        print("no --bench file: skipping bench.svg")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, svg in figures.items():
        (args.out / name).write_text(svg, encoding="utf-8")
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
