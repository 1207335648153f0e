"""Synthetic long-axis cine MRI phantoms (4-, 2- and 3-chamber views) driven by true cardiac parameters.

The phantom imitates a UK Biobank balanced-SSFP cine (field 20208): bright blood, dark-grey
myocardium, bright fat, dark lungs, air near 0, 50 frames over one cardiac cycle.

Geometry (all lengths in mm, volumes in mL = 1000 mm^3) lives in *heart coordinates*:
``u`` runs along the long axis from the mitral valve plane (u = 0 at end-diastole) towards the
apex, ``v`` is perpendicular to it, pointing to the LV lateral wall (the RV lies at ``v < 0``).

* LV cavity: a prolate spheroid truncated at the valve plane (``h = 0.7`` of the long semi-axis
  below its centre). Its volume is ``V = C_LV * r^2 * L`` (``r`` short semi-axis, ``L`` base-apex
  length, ``L = K_LV * r`` at end-diastole), so the 4-chamber cavity *area* grows like
  ``V^(2/3)``. In systole ``L ~ V^0.25`` and ``r ~ V^0.375``; the apex stays fixed, so the
  valve plane moves towards the apex.
* LV myocardium: the band ``0 < d < w(t)`` of the cavity's (approximate) signed distance ``d``;
  ``w(ED) = lvwt_mm`` and ``w(t)`` conserves the myocardial volume (the wall thickens in systole).
* RV: a truncated ellipse beside the septum, size ``~ rvedv_ml^(1/3)``; LA and RA: ellipsoids
  below the valve planes, ``lav_ml`` sets the LA maximum (near end-systole).
* Pericardial / atrio-ventricular groove fat (bright), mitral and tricuspid annulus fat pads
  that move with the valve planes.

Image formation per frame: static background (body, subcutaneous fat, chest-wall muscle,
lungs, liver, mediastinum, descending aorta) + heart layers painted with soft (partial volume,
~1 px) edges, a multiplicative bias ramp, then Rician magnitude noise: ``|S + n1 + i n2|``
with spatially correlated (interpolation-smoothed) complex noise; outside the body the noise
is attenuated so that air is ~0 (as the body coil/normalisation and zero-filled reconstruction
of the scanner leave it; this also keeps the zips small). Values are rounded to ``uint16``
(well below 4096, ``BitsStored`` 12).

Everything random comes from the ``rng`` argument; the number and order of draws do not depend
on the parameters, so the same seed with different parameters gives the same jitter (position,
rotation, intensity, noise), which makes monotonicity checks direct.

Person-level and visit-level nuisance
-------------------------------------
Two scans of one heart a few years apart share the person and differ in the acquisition.
:func:`draw_person` draws what belongs to the person, once per participant (shared by the
views and by both imaging visits); :func:`render_cine` draws the acquisition from ``rng``, once
per visit and view. Without ``person`` (plain calls) everything comes from ``rng`` as before.

===========================  ======  ====================================================
value                        level   size
===========================  ======  ====================================================
heart_axis_deg (per view)    person  N(0, 7 deg) clipped to +-15: the heart's long-axis
                                     direction in the planned image (anatomy)
planning_deg                 visit   N(0, 3 deg) clipped to +-8: re-planning of the plane
rotation_deg                 both    heart_axis_deg + planning_deg (in-plane rotation)
base_pixel_spacing_mm        person  1.71-1.89 mm: field of view set to the body size
pixel_spacing_mm             visit   base x U(0.99, 1.01): the field of view chosen again
shape (rows, cols)           visit   rows 184-226, cols 160-208 (matrix of the visit)
centre_frac                  visit   where the heart (and the body with it) lies in the
                                     field of view: patient and field-of-view positioning
intensity_scale              visit   U(0.8, 1.25): receiver gain, coil loading
bias_strength, bias_angle    visit   linear ramp 0.1-0.35 in a random direction: coil
                                     placement and sensitivity
noise_rel, noise_seed        visit   noise SD 1.5-3 % of the myocardium signal
trigger_delay_ms             visit   4-24 ms: ECG trigger of the visit
fat_mm, fat_signal           person  epicardial fat 1.5-4.5 mm (x BMI ratio), signal 0.9-1.1
subcut_fat_mm                person  6-20 mm, x (BMI ratio)^2: follows the change in weight
muscle_mm                    person  8-16 mm chest-wall muscle
body_semi_axes_mm            person  139-172 x 124-154 mm, x (BMI ratio)^0.5
body_offset_mm               person  body centre from the heart centre, x -50..50 mm,
                                     y -40..45 mm (anatomy: where the heart sits in the chest)
aorta_angle_deg (per view)   person  60-80 deg (anatomy)
===========================  ======  ====================================================

``BMI ratio`` is the participant's true BMI at the visit over the BMI at their first imaging
visit, so what belongs to the body drifts with the recorded change in weight.

Sources: the acquisition is UK Biobank's standard bSSFP long-axis cine (1.5 T, 50 phases,
in-plane pixel about 1.8 mm; Petersen et al., J Cardiovasc Magn Reson 2016;18:8), planned by
the radiographer at each visit, so plane orientation and position, field of view and matrix,
coil placement and gain are what changes between visits (Tarroni et al., Sci Rep 2020;10:2408,
on operator-dependent slice planning in UK Biobank); repeat imaging of about 10,000
participants started in 2019, 2-3 years after the first imaging visit (Raisi-Estabragh et al.,
Eur Heart J Cardiovasc Imaging 2021;22:251). No published figure gives the size of each
visit-level draw; the sizes above are this module's choices, of the order of the published
interstudy reproducibility of CMR long-axis measures (coefficients of variation of a few per
cent), and every value drawn is written to ``truth/acquisition.tsv`` so that what a latent
encodes can be measured rather than assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.special import ndtri

VIEWS = ("4Ch", "2Ch", "3Ch")
N_FRAMES = 50

# Relative signal levels of bSSFP magnitude images (before the per-participant scale).
BLOOD, MYO, FAT, SUBCUT, MUSCLE, LIVER, MEDIAST, LUNG = 800.0, 210.0, 620.0, 580.0, 190.0, 260.0, 150.0, 22.0
ANNULUS = 500.0

#: truncated spheroid: base plane at ``H_LV`` long semi-axes below the centre
H_LV = 0.7
#: ``V = C_LV r^2 L`` for the truncated prolate spheroid (L = (1 + H_LV) * long semi-axis)
C_LV = np.pi * ((1 + H_LV) - (1 + H_LV**3) / 3) / (1 + H_LV)
#: end-diastolic LV length / short semi-axis
K_LV = 3.1
H_RV = 0.4
LABELS = {"background": 0, "lv_cavity": 1, "lv_myocardium": 2, "rv_cavity": 3, "la": 4, "ra": 5,
          "aorta": 6, "fat": 7, "rv_myocardium": 8}


@dataclass
class Cine:
    """One cine series.

    Attributes
    ----------
    pixels : uint16 array (frames, rows, cols), magnitude image intensities.
    pixel_spacing_mm : (row spacing, column spacing) in mm, as DICOM PixelSpacing.
    trigger_times_ms : float array (frames,), time after the R wave of each frame (ms).
    view : ``"4Ch"``, ``"2Ch"`` or ``"3Ch"``.
    jitter : the per-participant nuisance values used (position, rotation, intensity, noise ...).
    volumes_ml : true volume curves (frames,) in mL: ``lv``, ``la`` and, where shown, ``rv``, ``ra``.
    labels : optional uint8 (frames, rows, cols) hard label map (:data:`LABELS`), when requested.
    heart_rate_bpm : heart rate of the cycle (RR interval = 60000 / heart_rate_bpm ms).
    """

    pixels: np.ndarray
    pixel_spacing_mm: tuple[float, float]
    trigger_times_ms: np.ndarray
    view: str
    jitter: dict[str, Any] = field(default_factory=dict)
    volumes_ml: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None
    heart_rate_bpm: float = 65.0

    @property
    def n_frames(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) in pixels."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[2])


# --------------------------------------------------------------------------------------------
# cardiac cycle
# --------------------------------------------------------------------------------------------

def _cycle_curve(phase: np.ndarray, t_es: float, systole: list, diastole: list) -> np.ndarray:
    """Monotone-piecewise periodic curve through knots.

    ``systole`` knots are (fraction of t_es, value); ``diastole`` knots (fraction of the diastolic
    interval [t_es, 1], value). Returns values at ``phase`` (in [0, 1)).
    """
    x = [s * t_es for s, _ in systole] + [t_es + s * (1 - t_es) for s, _ in diastole]
    y = [v for _, v in systole] + [v for _, v in diastole]
    x, y = np.asarray(x), np.asarray(y)
    # wrap one knot on each side for periodic continuity
    xx = np.concatenate([x[-3:-1] - 1.0, x, x[1:3] + 1.0])
    yy = np.concatenate([y[-3:-1], y, y[1:3]])
    return np.clip(PchipInterpolator(xx, yy)(phase), 0.0, 1.0)


def ventricular_fraction(phase: np.ndarray, t_es: float) -> np.ndarray:
    """Ventricular filling fraction (1 at end-diastole, 0 at end-systole) at cycle ``phase``.

    Ejection to ``t_es``, isovolumic relaxation, rapid filling, diastasis, atrial kick.
    """
    systole = [(0.0, 1.0), (0.12, 0.97), (0.55, 0.42), (1.0, 0.0)]
    diastole = [(0.06, 0.02), (0.3, 0.62), (0.55, 0.75), (0.72, 0.78), (0.9, 0.96), (1.0, 1.0)]
    return _cycle_curve(phase, t_es, systole, diastole)


def atrial_fraction(phase: np.ndarray, t_es: float) -> np.ndarray:
    """Atrial filling fraction (1 = maximal volume, just after end-systole; 0 = after the atrial kick)."""
    systole = [(0.0, 0.04), (0.5, 0.5), (1.0, 0.96)]
    diastole = [(0.06, 1.0), (0.3, 0.55), (0.55, 0.48), (0.72, 0.45), (0.92, 0.02), (1.0, 0.04)]
    return _cycle_curve(phase, t_es, systole, diastole)


def _end_systole_phase(heart_rate_bpm: float) -> float:
    """End-systolic phase: ~35% of the cycle at 65 bpm; systole lasts ~320 ms."""
    rr = 60000.0 / heart_rate_bpm
    return float(np.clip(320.0 / rr * (0.35 / (320.0 / (60000.0 / 65.0))), 0.25, 0.5))


# --------------------------------------------------------------------------------------------
# parameters and geometry
# --------------------------------------------------------------------------------------------

_REQUIRED = ("lvedv_ml", "lvef_pct", "lvwt_mm", "lav_ml", "rvedv_ml")


def _check_params(params: Mapping[str, float]) -> dict[str, float]:
    missing = [k for k in _REQUIRED if k not in params]
    if missing:
        raise ValueError(f"render_cine: missing cardiac parameters {missing}")
    p = {k: float(params[k]) for k in _REQUIRED}
    p["heart_rate_bpm"] = float(params.get("heart_rate_bpm", 65.0) or 65.0)
    if not all(np.isfinite(list(p.values()))):
        raise ValueError(f"render_cine: non-finite cardiac parameters {p}")
    p["lvedv_ml"] = float(np.clip(p["lvedv_ml"], 30, 450))
    p["lvef_pct"] = float(np.clip(p["lvef_pct"], 10, 85))
    p["lvwt_mm"] = float(np.clip(p["lvwt_mm"], 3, 25))
    p["lav_ml"] = float(np.clip(p["lav_ml"], 15, 250))
    p["rvedv_ml"] = float(np.clip(p["rvedv_ml"], 40, 450))
    p["heart_rate_bpm"] = float(np.clip(p["heart_rate_bpm"], 35, 150))
    return p


def _col(x) -> np.ndarray:
    """(T,) -> float32 (T, 1, 1) for broadcasting against (1, h, w) grids."""
    return np.asarray(x, dtype=np.float32).reshape(-1, 1, 1)


def _geometry(p: dict[str, float], phase: np.ndarray) -> dict[str, Any]:
    """Per-frame geometry (heart coordinates, mm) and true volume curves (mL)."""
    # snap end-systole to a frame so the sampled minimum is exactly ESV = EDV (1 - EF)
    t_es = round(_end_systole_phase(p["heart_rate_bpm"]) * len(phase)) / len(phase)
    fv = ventricular_fraction(phase, t_es)
    fa = atrial_fraction(phase, t_es)
    g: dict[str, Any] = {"t_es": t_es}

    # LV cavity
    ved = p["lvedv_ml"] * 1000.0
    ves = ved * (1 - p["lvef_pct"] / 100.0)
    v = ves + fv * (ved - ves)
    r_ed = (ved / (C_LV * K_LV)) ** (1 / 3)
    l_ed = K_LV * r_ed
    ratio = v / ved
    L = l_ed * ratio**0.25
    r = r_ed * ratio**0.375
    base = l_ed - L                      # apex fixed at u = l_ed
    A = L / (1 + H_LV)
    # wall thickness: conserve myocardial volume of the offset shell (r+w)^2 (L+w)
    w0 = p["lvwt_mm"]
    k = (r_ed + w0) ** 2 * (l_ed + w0) - r_ed**2 * l_ed
    w = np.full_like(r, w0)
    for _ in range(8):
        f = (r + w) ** 2 * (L + w) - r**2 * L - k
        w = w - f / (2 * (r + w) * (L + w) + (r + w) ** 2)
    g.update(lv_r=r, lv_A=A, lv_uc=base + H_LV * A, lv_base=base, lv_w=w, lv_ml=v / 1000.0,
             lv_r_ed=r_ed, lv_l_ed=l_ed)

    # LA: ellipsoid a = 1.25 b (a along u), volume 4/3 pi a b^2
    la_max = p["lav_ml"] * 1000.0
    la_min = 0.45 * la_max
    la = la_min + fa * (la_max - la_min)
    b = (3 * la / (4 * np.pi * 1.25)) ** (1 / 3)
    g.update(la_b=b, la_a=1.25 * b, la_uc=base - 0.85 * 1.25 * b, la_vc=0.15 * r_ed, la_ml=la / 1000.0,
             la_b_max=(3 * la_max / (4 * np.pi * 1.25)) ** (1 / 3))

    # RV: truncated ellipse (long semi-axis A_rv, width B_rv), tricuspid plane slightly apical
    rv_ed = p["rvedv_ml"] * 1000.0
    rvef = np.clip(p["lvef_pct"] - 4.0, 25.0, 75.0) / 100.0
    rv = rv_ed * (1 - rvef) + fv * rv_ed * rvef
    s = rv_ed ** (1 / 3)
    rratio = rv / rv_ed
    L_rv = 1.55 * s * rratio**0.35
    B_rv = 0.68 * s * rratio**0.35
    base_rv_ed = 4.0
    apex_rv = base_rv_ed + 1.55 * s
    base_rv = apex_rv - L_rv
    A_rv = L_rv / (1 + H_RV)
    g.update(rv_A=A_rv, rv_B=B_rv, rv_uc=base_rv + H_RV * A_rv, rv_vc=-(0.95 * r + w), rv_base=base_rv,
             rv_ml=rv / 1000.0, rv_B_ed=0.68 * s, rv_L_ed=1.55 * s)

    # RA: ellipsoid a = 1.1 b, max volume from the RV size
    ra_max = float(np.clip(0.5 * p["rvedv_ml"], 30, 200)) * 1000.0
    ra = 0.5 * ra_max + fa * 0.5 * ra_max
    bra = (3 * ra / (4 * np.pi * 1.1)) ** (1 / 3)
    bra_max = (3 * ra_max / (4 * np.pi * 1.1)) ** (1 / 3)
    g.update(ra_b=bra, ra_a=1.1 * bra, ra_uc=base_rv - 0.85 * 1.1 * bra,
             ra_vc=g["la_vc"] - g["la_b_max"] - bra_max + 4.0, ra_ml=ra / 1000.0, ra_b_max=bra_max)
    return g


# --------------------------------------------------------------------------------------------
# drawing primitives (vectorised over frames)
# --------------------------------------------------------------------------------------------

def _ellipse_distance(U, V, uc, vc, A, B, angle: float | None = None) -> np.ndarray:
    """Approximate signed distance (mm, negative inside) to an ellipse, shape (T, h, w).

    ``U, V``: (1, h, w) heart coordinates; ``uc, vc, A, B``: (T, 1, 1) or scalars (centre and
    semi-axes along u and v, or along the rotated axes when ``angle`` (radians) is given).
    Uses ``(rho - 1) / |grad rho|`` which is exact on the axes and for circles.
    """
    du = U - uc
    dv = V - vc
    if angle is not None:
        c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        du, dv = du * c + dv * s, dv * c - du * s
    qx = du / A
    qy = dv / B
    rho = np.sqrt(qx * qx + qy * qy)
    qx /= A
    qy /= B
    qx *= qx
    qy *= qy
    qx += qy
    np.sqrt(qx, out=qx)
    qx += np.float32(1e-6)
    rho1 = rho - np.float32(1.0)
    rho1 *= rho
    rho1 /= qx
    return rho1


def _alpha(d: np.ndarray, offset, ew: float) -> np.ndarray:
    """Soft inside-indicator of ``d < offset`` with a linear ramp of width ``ew`` mm."""
    a = (offset - d) * np.float32(1.0 / ew)
    a += np.float32(0.5)
    np.clip(a, 0.0, 1.0, out=a)
    return a


def _paint(img: np.ndarray, alpha: np.ndarray, value: float) -> None:
    """``img += alpha * (value - img)`` in place (img and alpha broadcast-compatible)."""
    t = np.float32(value) - img
    t *= alpha
    img += t


class _Canvas:
    """Frames (T, rows, cols) float32 plus heart-coordinate grids; painting on sub-boxes."""

    def __init__(self, frames: int, rows: int, cols: int, ps: tuple[float, float], origin, theta: float,
                 ew: float, want_labels: bool):
        self.T, self.rows, self.cols, self.ps, self.ew = frames, rows, cols, ps, ew
        y = (np.arange(rows, dtype=np.float32) * np.float32(ps[0]))[:, None]
        x = (np.arange(cols, dtype=np.float32) * np.float32(ps[1]))[None, :]
        # u: base -> apex, pointing up-right by theta from the image "up" direction
        ux, uy = np.sin(theta), -np.cos(theta)
        vx, vy = np.cos(theta), np.sin(theta)
        self.dir_u, self.dir_v = (ux, uy), (vx, vy)
        ox, oy = origin
        self.U = ((x - ox) * np.float32(ux) + (y - oy) * np.float32(uy)).astype(np.float32)
        self.V = ((x - ox) * np.float32(vx) + (y - oy) * np.float32(vy)).astype(np.float32)
        self.origin = origin
        self.img: np.ndarray | None = None
        self.labels = np.zeros((frames, rows, cols), np.uint8) if want_labels else None

    def box(self, u0: float, u1: float, v0: float, v1: float) -> tuple[slice, slice] | None:
        """Pixel box covering the heart-coordinate rectangle [u0,u1] x [v0,v1] (mm)."""
        corners = [(u, v) for u in (u0, u1) for v in (v0, v1)]
        xs = [self.origin[0] + u * self.dir_u[0] + v * self.dir_v[0] for u, v in corners]
        ys = [self.origin[1] + u * self.dir_u[1] + v * self.dir_v[1] for u, v in corners]
        r0 = max(int(np.floor(min(ys) / self.ps[0])) - 1, 0)
        r1 = min(int(np.ceil(max(ys) / self.ps[0])) + 2, self.rows)
        c0 = max(int(np.floor(min(xs) / self.ps[1])) - 1, 0)
        c1 = min(int(np.ceil(max(xs) / self.ps[1])) + 2, self.cols)
        if r1 <= r0 or c1 <= c0:
            return None
        return slice(r0, r1), slice(c0, c1)

    def grids(self, bx) -> tuple[np.ndarray, np.ndarray]:
        return self.U[bx][None], self.V[bx][None]

    def paint(self, bx, alpha: np.ndarray, value: float, label: int | None = None) -> None:
        sub = self.img[:, bx[0], bx[1]]
        _paint(sub, alpha, value)
        if self.labels is not None and label is not None:
            lab = self.labels[:, bx[0], bx[1]]
            lab[np.broadcast_to(alpha > 0.5, lab.shape)] = label


# --------------------------------------------------------------------------------------------
# views
# --------------------------------------------------------------------------------------------

def _draw_lv_la(cv: _Canvas, g: dict, j: dict, *, la_shape: float = 1.0, annulus_septal: bool = True,
                extra_before_lv=None) -> None:
    """LV (+ fat, annulus pads) and LA, then optional structures, then LV myocardium/cavity."""
    ew, fat_mm = cv.ew, j["fat_mm"]
    r, A, uc, base, w = (_col(g[k]) for k in ("lv_r", "lv_A", "lv_uc", "lv_base", "lv_w"))
    l_ed, r_ed = g["lv_l_ed"], g["lv_r_ed"]
    w_max = float(np.max(g["lv_w"]))
    m = w_max + fat_mm + 2 * ew
    bx_lv = cv.box(-m - 3, l_ed + m, -(r_ed + m), r_ed + m)
    U, V = cv.grids(bx_lv)
    d_lv = _ellipse_distance(U, V, uc, np.float32(0.0), A, r)
    cut = (U - base) * np.float32(1.0 / ew)
    cut += np.float32(0.5)
    np.clip(cut, 0.0, 1.0, out=cut)
    cv.paint(bx_lv, _alpha(d_lv, w + np.float32(fat_mm), ew), FAT * j["fat_signal"], LABELS["fat"])
    inside = _alpha(d_lv, 0.0, ew)

    # LA (wall then cavity)
    b, a = _col(g["la_b"] * la_shape), _col(g["la_a"])
    la_uc, la_vc = _col(g["la_uc"]), np.float32(g["la_vc"])
    bm = g["la_b_max"] * la_shape + 6
    bx_la = cv.box(float(np.min(g["la_uc"])) - 1.25 * bm - 4, float(np.max(g["lv_base"])) + 0.3 * bm,
                   g["la_vc"] - bm, g["la_vc"] + bm)
    if bx_la is not None:
        Ul, Vl = cv.grids(bx_la)
        d_la = _ellipse_distance(Ul, Vl, la_uc, la_vc, a, b)
        cv.paint(bx_la, _alpha(d_la, 2.5, ew), MYO)
        cv.paint(bx_la, _alpha(d_la, 0.0, ew), BLOOD * 0.95, LABELS["la"])

    if extra_before_lv is not None:
        extra_before_lv(cv, g, j)

    # LV myocardium (truncated at the valve plane), annulus fat pads, cavity
    ring = _alpha(d_lv, w, ew)
    ring -= inside
    ring *= cut
    cv.paint(bx_lv, ring, MYO, LABELS["lv_myocardium"])
    half = r * np.float32(np.sqrt(1 - H_LV**2))
    pads = [(half + w * np.float32(0.8), 4.0)]
    if annulus_septal:
        pads.append((-(half + w * np.float32(0.5)), 3.0))
    for vpos, rad in pads:
        bx = cv.box(float(np.min(g["lv_base"])) - rad - 4, float(np.max(g["lv_base"])) + rad + 4,
                    float(np.min(vpos)) - rad - 4, float(np.max(vpos)) + rad + 4)
        if bx is None:
            continue
        Ub, Vb = cv.grids(bx)
        du = Ub - base
        dv = Vb - vpos
        d = np.sqrt(du * du + dv * dv) - np.float32(rad)
        cv.paint(bx, _alpha(d, 0.0, ew), ANNULUS * j["fat_signal"], LABELS["fat"])
    # the cavity reaches fully to the valve plane and fades below it (into the LA)
    cut += np.float32(0.5)
    np.minimum(inside, cut, out=inside)
    cv.paint(bx_lv, inside, BLOOD, LABELS["lv_cavity"])


def _draw_rv_ra(cv: _Canvas, g: dict, j: dict) -> None:
    """RA and RV (fat, wall, cavity), drawn before the LV myocardium so the septum covers them."""
    ew, fat_mm = cv.ew, j["fat_mm"]
    A, B, uc, vc, base = (_col(g[k]) for k in ("rv_A", "rv_B", "rv_uc", "rv_vc", "rv_base"))
    vmax = float(np.max(-g["rv_vc"])) + g["rv_B_ed"] + fat_mm + 10
    bx = cv.box(float(np.min(g["rv_base"])) - 12, 4 + g["rv_L_ed"] + fat_mm + 8, -vmax, float(np.max(g["rv_vc"])) + 10)
    U, V = cv.grids(bx)
    d = _ellipse_distance(U, V, uc, vc, A, B)
    cut = (U - base) * np.float32(1.0 / ew)
    cut += np.float32(0.5)
    np.clip(cut, 0.0, 1.0, out=cut)
    cv.paint(bx, _alpha(d, 3.5 + fat_mm, ew), FAT * j["fat_signal"], LABELS["fat"])

    # RA (wall, cavity), then LA is drawn later by _draw_lv_la (its wall forms the atrial septum)
    a, b, ra_uc, ra_vc = _col(g["ra_a"]), _col(g["ra_b"]), _col(g["ra_uc"]), np.float32(g["ra_vc"])
    bm = g["ra_b_max"] + 6
    bx_ra = cv.box(float(np.min(g["ra_uc"])) - 1.1 * bm - 4, float(np.max(g["rv_base"])) + 0.3 * bm,
                   g["ra_vc"] - bm, g["ra_vc"] + bm)
    if bx_ra is not None:
        Ur, Vr = cv.grids(bx_ra)
        d_ra = _ellipse_distance(Ur, Vr, ra_uc, ra_vc, a, b)
        cv.paint(bx_ra, _alpha(d_ra, 2.5, ew), MYO)
        cv.paint(bx_ra, _alpha(d_ra, 0.0, ew), BLOOD * 0.93, LABELS["ra"])

    # RV wall and cavity, truncated at the tricuspid plane, tricuspid annulus fat pad
    cv.paint(bx, _alpha(d, 3.5, ew) * cut, MYO, LABELS["rv_myocardium"])
    cav = _alpha(d, 0.0, ew)
    np.minimum(cav, cut, out=cav)
    cv.paint(bx, cav, BLOOD * 0.97, LABELS["rv_cavity"])
    vpos = vc - B * np.float32(np.sqrt(1 - H_RV**2)) - np.float32(2.0)
    bxp = cv.box(float(np.min(g["rv_base"])) - 8, float(np.max(g["rv_base"])) + 8,
                 float(np.min(vpos)) - 8, float(np.max(vpos)) + 8)
    if bxp is not None:
        Ub, Vb = cv.grids(bxp)
        du = Ub - base
        dv = Vb - vpos
        dd = np.sqrt(du * du + dv * dv) - np.float32(4.0)
        cv.paint(bxp, _alpha(dd, 0.0, ew), ANNULUS * j["fat_signal"], LABELS["fat"])


def _draw_aorta_rvot(cv: _Canvas, g: dict, j: dict) -> None:
    """3-chamber extras: aortic root / LVOT (towards the base, septal side) and an RV outflow crescent."""
    ew = cv.ew
    r_ed = g["lv_r_ed"]
    ang = np.deg2rad(j["aorta_angle_deg"])
    d_u, d_v = -np.cos(ang), -np.sin(ang)
    base = _col(g["lv_base"])
    u0, v0 = 0.0, -0.5 * r_ed
    cu, cv_ = base + np.float32(26 * d_u), np.float32(v0 + 26 * d_v)
    bx = cv.box(u0 + 26 * d_u - 42, float(np.max(g["lv_base"])) + 20, v0 + 26 * d_v - 42, v0 + 26 * d_v + 42)
    if bx is not None:
        U, V = cv.grids(bx)
        d = _ellipse_distance(U, V, cu, cv_, np.float32(36.0), np.float32(j["aorta_radius_mm"]), angle=float(ang))
        cv.paint(bx, _alpha(d, 2.5, ew), MYO)
        cv.paint(bx, _alpha(d, 0.0, ew), BLOOD * 0.98, LABELS["aorta"])
    # RVOT crescent anterior to the septum
    s = _col(np.cbrt(g["rv_ml"] * 1000.0))
    A, B = 0.55 * s, 0.3 * s
    vc = -(_col(g["lv_r"]) + _col(g["lv_w"]) + 0.8 * B)
    uc = _col(g["lv_base"]) + np.float32(0.45 * g["lv_l_ed"])
    sm = float(np.cbrt(g["rv_ml"].max() * 1000.0))
    bx = cv.box(float(np.min(uc)) - 0.6 * sm - 8, float(np.max(uc)) + 0.6 * sm + 8,
                float(np.min(vc)) - 0.35 * sm - 8, float(np.max(vc)) + 0.35 * sm + 8)
    if bx is not None:
        U, V = cv.grids(bx)
        d = _ellipse_distance(U, V, uc, vc, A, B)
        cv.paint(bx, _alpha(d, 3.5 + j["fat_mm"], ew), FAT * j["fat_signal"], LABELS["fat"])
        cv.paint(bx, _alpha(d, 3.5, ew), MYO, LABELS["rv_myocardium"])
        cv.paint(bx, _alpha(d, 0.0, ew), BLOOD * 0.97, LABELS["rv_cavity"])


def _heart_extent(view: str, g: dict) -> tuple[float, float, float, float]:
    """Approximate heart bounding rectangle (u0, u1, v0, v1) in heart coordinates (mm)."""
    w = float(np.max(g["lv_w"]))
    u1 = g["lv_l_ed"] + w + 4
    u0 = float(np.min(g["la_uc"])) - 1.25 * g["la_b_max"] - 4
    v1 = g["lv_r_ed"] + w + 4
    v0 = -(g["lv_r_ed"] + w + 4)
    if view == "4Ch":
        v0 = min(v0, float(np.min(g["rv_vc"])) - g["rv_B_ed"] - 4, g["ra_vc"] - g["ra_b_max"] - 4)
    elif view == "3Ch":
        v0 -= 20
    return u0, u1, v0, v1


# --------------------------------------------------------------------------------------------
# background, bias, noise
# --------------------------------------------------------------------------------------------

def _soft_ellipse_img(x, y, cx, cy, ax, ay, ew) -> np.ndarray:
    """Soft inside-indicator of an axis-aligned ellipse in image mm coordinates (2-D)."""
    qx, qy = (x - cx) / ax, (y - cy) / ay
    rho = np.sqrt(qx * qx + qy * qy)
    g = np.sqrt((qx / ax) ** 2 + (qy / ay) ** 2) + 1e-6
    d = (rho - 1) * rho / g
    return np.clip(0.5 - d / ew, 0, 1).astype(np.float32)


def _background(cv: _Canvas, view: str, g: dict, j: dict) -> tuple[np.ndarray, np.ndarray]:
    """Static anatomy (rows, cols) float32 and the soft body mask (rows, cols)."""
    rows, cols, ps, ew = cv.rows, cv.cols, cv.ps, cv.ew
    y = (np.arange(rows, dtype=np.float32) * ps[0])[:, None]
    x = (np.arange(cols, dtype=np.float32) * ps[1])[None, :]
    H, W = rows * ps[0], cols * ps[1]
    cx, cy = j["body_centre_mm"]
    ax, ay = j["body_semi_axes_mm"]
    body = _soft_ellipse_img(x, y, cx, cy, ax, ay, ew)
    fat_t, mus_t = j["subcut_fat_mm"], j["muscle_mm"]
    inner = _soft_ellipse_img(x, y, cx, cy, ax - fat_t, ay - fat_t, ew)
    thorax = _soft_ellipse_img(x, y, cx, cy, ax - fat_t - mus_t, ay - fat_t - mus_t, ew)
    img = body * SUBCUT
    img += inner * (MUSCLE - SUBCUT)
    img += thorax * (LUNG - MUSCLE)
    U, V = cv.U, cv.V
    # liver (below the diaphragm; in heart coordinates beyond the atria on the RV side)
    lu, lv, la, lb = j["liver"]
    dl = _ellipse_distance(U[None], V[None], np.float32(lu), np.float32(lv), np.float32(la), np.float32(lb))[0]
    liver = np.clip(0.5 - dl / ew, 0, 1) * thorax
    _paint(img, liver, LIVER)
    # mediastinum around the heart
    u0, u1, v0, v1 = _heart_extent(view, g)
    dm = _ellipse_distance(U[None], V[None], np.float32((u0 + u1) / 2), np.float32((v0 + v1) / 2),
                           np.float32((u1 - u0) / 2 + 8), np.float32((v1 - v0) / 2 + 10))[0]
    _paint(img, np.clip(0.5 - dm / (3 * ew), 0, 1) * thorax, MEDIAST)
    # descending aorta behind the LA
    au = float(np.min(g["la_uc"])) - 1.25 * g["la_b_max"] - 13
    av = g["la_vc"] + 0.4 * g["la_b_max"]
    da = np.sqrt((U - au) ** 2 + (V - av) ** 2) - 11.0
    _paint(img, np.clip(0.5 - (da - 2.0) / ew, 0, 1), MYO)
    _paint(img, np.clip(0.5 - da / ew, 0, 1), BLOOD * 0.9)
    return img.astype(np.float32), body


def _bias_field(rows: int, cols: int, ps, j: dict) -> np.ndarray:
    """Multiplicative bias: linear ramp of total strength ``bias_strength`` across the FOV (rows, cols)."""
    y = (np.arange(rows, dtype=np.float32) * ps[0] - rows * ps[0] / 2)[:, None]
    x = (np.arange(cols, dtype=np.float32) * ps[1] - cols * ps[1] / 2)[None, :]
    a = np.deg2rad(j["bias_angle_deg"])
    half = 0.5 * np.hypot(rows * ps[0], cols * ps[1])
    return (1.0 + 0.5 * j["bias_strength"] * (x * np.cos(a) + y * np.sin(a)) / half).astype(np.float32)


def _smooth121(a: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 smoothing over the last two axes (valid region, shrinks by 2 each)."""
    a = a[..., :-2, :] + 2 * a[..., 1:-1, :] + a[..., 2:, :]
    a = a[..., :, :-2] + 2 * a[..., :, 1:-1] + a[..., :, 2:]
    return a * np.float32(1.0 / 16.0)


def _noise_pool(rng: np.random.Generator, k: int, rows: int, cols: int, pad: int, sigma: float):
    """Pool of ``k`` spatially correlated complex noise fields (real part, imaginary part squared).

    Uniform bytes smoothed by the [1, 2, 1]^2 interpolation kernel: a weighted sum of 9
    independent uniforms per pixel, close to Gaussian; scaled to standard deviation ``sigma``.
    """
    n = rng.integers(0, 256, size=(2, k, rows + pad + 2, cols + pad + 2), dtype=np.uint8).astype(np.float32)
    n -= np.float32(127.5)
    n = _smooth121(n)
    # std of a uniform byte is 73.9; the kernel keeps sqrt(36/256) = 0.375 of it
    n *= np.float32(sigma / (73.9 * 0.375))
    n1 = n[0]
    n2sq = n[1] * n[1]
    return n1, n2sq


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------

def _draw_jitter(rng: np.random.Generator, view: str, shape: tuple[int, int] | None,
                 person: Mapping[str, Any] | None = None, bmi_ratio: float = 1.0) -> dict[str, Any]:
    """All per-view nuisance draws (a fixed number, independent of the cardiac parameters).

    With ``person`` (from :func:`draw_person`) the person-level values come from it (drifting with
    ``bmi_ratio``) and ``rng`` gives only the visit-level ones; the draws from ``rng`` are the same
    in number and order either way.
    """
    u = rng.random(20)
    rows = int(192 + 2 * int(u[0] * 17)) if view != "2Ch" else int(184 + 2 * int(u[0] * 17))
    cols = int(160 + 2 * int(u[1] * 25))
    if shape is not None:
        rows, cols = int(shape[0]), int(shape[1])
    ps = 1.8 * (0.95 + 0.1 * u[2])
    j = {
        "shape": (rows, cols),
        "pixel_spacing_mm": (round(ps, 4), round(ps, 4)),
        "rotation_deg": float(-15 + 30 * u[3]),
        "centre_frac": (float(0.38 + 0.22 * u[4]), float(0.34 + 0.32 * u[5])),  # (row, col) of heart centre
        "intensity_scale": float(0.8 + 0.45 * u[6]),
        "bias_strength": float(0.1 + 0.25 * u[7]),
        "bias_angle_deg": float(360 * u[8]),
        "noise_rel": float(0.015 + 0.015 * u[9]),   # noise sigma / myocardium signal
        "fat_mm": float(1.5 + 3.0 * u[10]),
        "fat_signal": float(0.9 + 0.2 * u[11]),
        "subcut_fat_mm": float(6 + 14 * u[12]),
        "muscle_mm": float(8 + 8 * u[13]),
        "body_u": (float(u[14]), float(u[15]), float(u[16]), float(u[17])),
        "trigger_delay_ms": float(round(4 + 20 * u[18], 1)),
        "aorta_angle_deg": float(60 + 20 * u[19]),
        "aorta_radius_mm": 13.0,
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
    }
    if person is not None:
        _apply_person(j, u, view, person, bmi_ratio)
    return j


#: person-level values of :func:`draw_person` that do not change between visits
PERSON_FIXED = ("fat_signal", "muscle_mm", "base_pixel_spacing_mm", "heart_axis_deg", "aorta_angle_deg",
                "body_offset_x_mm", "body_offset_y_mm")
#: person-level values that follow the change in BMI, with the exponent of the BMI ratio
PERSON_DRIFT = {"fat_mm": 1.0, "subcut_fat_mm": 2.0, "body_semi_axis_x_mm": 0.5, "body_semi_axis_y_mm": 0.5}
#: visit-level values (drawn per visit and view from the image stream)
VISIT_VALUES = ("rows", "cols", "pixel_spacing_mm", "planning_deg", "centre_row_frac", "centre_col_frac",
                "intensity_scale", "bias_strength", "bias_angle_deg", "noise_rel", "trigger_delay_ms", "noise_seed")


def draw_person(rng: np.random.Generator) -> dict[str, Any]:
    """Person-level nuisance of one participant (a fixed number of draws from ``rng``).

    Returns ``fat_mm, fat_signal, subcut_fat_mm, muscle_mm, body_semi_axis_x_mm,
    body_semi_axis_y_mm, base_pixel_spacing_mm, body_offset_x_mm, body_offset_y_mm`` and per view
    ``heart_axis_deg`` and ``aorta_angle_deg`` (dicts keyed by view). Sizes and sources: the module docstring.
    """
    u = rng.random(7)
    axis = np.clip(rng.normal(0.0, 7.0, len(VIEWS)), -15.0, 15.0)
    aorta = 60 + 20 * rng.random(len(VIEWS))
    off = rng.random(2)
    return {
        "fat_mm": float(1.5 + 3.0 * u[0]),
        "fat_signal": float(0.9 + 0.2 * u[1]),
        "subcut_fat_mm": float(6 + 14 * u[2]),
        "muscle_mm": float(8 + 8 * u[3]),
        # 0.42-0.52 and 0.33-0.41 of the typical field of view (331 x 376 mm)
        "body_semi_axis_x_mm": float(331.0 * (0.42 + 0.1 * u[4])),
        "body_semi_axis_y_mm": float(376.0 * (0.33 + 0.08 * u[5])),
        "base_pixel_spacing_mm": float(1.8 * (0.95 + 0.1 * u[6])),
        # where the body's centre lies from the heart's centre (image x right, y down), as anatomy
        "body_offset_x_mm": float(-50.0 + 100.0 * off[0]),
        "body_offset_y_mm": float(-40.0 + 85.0 * off[1]),
        "heart_axis_deg": {v: float(a) for v, a in zip(VIEWS, axis)},
        "aorta_angle_deg": {v: float(a) for v, a in zip(VIEWS, aorta)},
    }


def _apply_person(j: dict, u: np.ndarray, view: str, person: Mapping[str, Any], bmi_ratio: float) -> None:
    """Replace the person-level entries of jitter ``j`` by ``person``'s; visit-level ones from ``u``."""
    ratio = float(bmi_ratio) if np.isfinite(bmi_ratio) and bmi_ratio > 0 else 1.0
    ps = person["base_pixel_spacing_mm"] * (0.99 + 0.02 * u[2])
    planning = float(np.clip(3.0 * ndtri(np.clip(u[3], 1e-9, 1 - 1e-9)), -8.0, 8.0))
    j.update({
        "pixel_spacing_mm": (round(ps, 4), round(ps, 4)),
        "heart_axis_deg": float(person["heart_axis_deg"][view]),
        "planning_deg": planning,
        "rotation_deg": float(person["heart_axis_deg"][view]) + planning,
        "fat_mm": float(person["fat_mm"] * ratio ** PERSON_DRIFT["fat_mm"]),
        "fat_signal": float(person["fat_signal"]),
        "subcut_fat_mm": float(person["subcut_fat_mm"] * ratio ** PERSON_DRIFT["subcut_fat_mm"]),
        "muscle_mm": float(person["muscle_mm"]),
        "aorta_angle_deg": float(person["aorta_angle_deg"][view]),
        "body_semi_axes_fixed_mm": (
            float(person["body_semi_axis_x_mm"] * ratio ** PERSON_DRIFT["body_semi_axis_x_mm"]),
            float(person["body_semi_axis_y_mm"] * ratio ** PERSON_DRIFT["body_semi_axis_y_mm"])),
        "base_pixel_spacing_mm": float(person["base_pixel_spacing_mm"]),
        "body_offset_mm": (float(person["body_offset_x_mm"]), float(person["body_offset_y_mm"])),
        "bmi_ratio": ratio,
    })


def acquisition_values(j: Mapping[str, Any]) -> dict[str, Any]:
    """The flat row of ``truth/acquisition.tsv`` for one cine's jitter ``j`` (see :data:`VISIT_VALUES`)."""
    rows, cols = j["shape"]
    bu = j["body_u"]
    out = {
        "rows": int(rows), "cols": int(cols), "pixel_spacing_mm": float(j["pixel_spacing_mm"][0]),
        "planning_deg": float(j.get("planning_deg", j["rotation_deg"])),
        "centre_row_frac": float(j["centre_frac"][0]), "centre_col_frac": float(j["centre_frac"][1]),
        "intensity_scale": j["intensity_scale"], "bias_strength": j["bias_strength"],
        "bias_angle_deg": j["bias_angle_deg"], "noise_rel": j["noise_rel"],
        "trigger_delay_ms": j["trigger_delay_ms"], "noise_seed": int(j["noise_seed"]),
        "rotation_deg": float(j["rotation_deg"]),
        "heart_axis_deg": float(j.get("heart_axis_deg", 0.0)),
        "base_pixel_spacing_mm": float(j.get("base_pixel_spacing_mm", j["pixel_spacing_mm"][0])),
        "fat_mm": j["fat_mm"], "fat_signal": j["fat_signal"], "subcut_fat_mm": j["subcut_fat_mm"],
        "muscle_mm": j["muscle_mm"], "aorta_angle_deg": j["aorta_angle_deg"],
        "bmi_ratio": float(j.get("bmi_ratio", 1.0)),
    }
    if "body_semi_axes_fixed_mm" in j:
        out["body_semi_axis_x_mm"], out["body_semi_axis_y_mm"] = j["body_semi_axes_fixed_mm"]
        out["body_offset_x_mm"], out["body_offset_y_mm"] = j["body_offset_mm"]
    else:   # plain calls: the body is placed in the field of view, not relative to the heart
        out["body_semi_axis_x_mm"] = out["body_semi_axis_y_mm"] = np.nan
        out["body_offset_x_mm"] = out["body_offset_y_mm"] = np.nan
        out["body_centre_x_frac"], out["body_centre_y_frac"] = float(0.47 + 0.06 * bu[0]), float(0.47 + 0.06 * bu[1])
    return out


def draw_acquisition(view: str, rng: np.random.Generator, *, person: Mapping[str, Any] | None = None,
                     bmi_ratio: float = 1.0, shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """The nuisance values :func:`render_cine` would use with the same arguments, without rendering.

    Consumes ``rng`` exactly as :func:`render_cine` does, so the three views of a visit can be
    drawn in order from one stream. Returns the row of :func:`acquisition_values` (body
    semi-axes only with ``person``: without it they depend on the field of view).
    """
    return acquisition_values(_draw_jitter(rng, view, shape, person, bmi_ratio))


def _keep_inside(origin, extent, dirs, W: float, H: float, margin: float) -> tuple[float, float]:
    """Shift the heart origin (mm) so the heart's extent rectangle lies inside the FOV (W x H mm)."""
    u0, u1, v0, v1 = extent
    ux, uy, vx, vy = dirs
    xs = [origin[0] + u * ux + v * vx for u in (u0, u1) for v in (v0, v1)]
    ys = [origin[1] + u * uy + v * vy for u in (u0, u1) for v in (v0, v1)]

    def shift(lo: float, hi: float, size: float) -> float:
        if hi - lo > size - 2 * margin:
            return size / 2 - (lo + hi) / 2
        return max(margin - lo, 0.0) - max(hi - (size - margin), 0.0)

    return origin[0] + shift(min(xs), max(xs), W), origin[1] + shift(min(ys), max(ys), H)


_BASE_THETA = {"4Ch": 35.0, "2Ch": 40.0, "3Ch": 30.0}


def render_cine(params: Mapping[str, float], view: str = "4Ch", rng: np.random.Generator | int | None = None,
                *, frames: int = N_FRAMES, shape: tuple[int, int] | None = None, labels: bool = False,
                person: Mapping[str, Any] | None = None, bmi_ratio: float = 1.0) -> Cine:
    """Render one long-axis cine series of a synthetic participant.

    Parameters
    ----------
    params : true cardiac parameters: ``lvedv_ml`` (LV end-diastolic volume, mL), ``lvef_pct``
        (ejection fraction, %), ``lvwt_mm`` (LV wall thickness at end-diastole, mm), ``lav_ml``
        (maximal LA volume, mL), ``rvedv_ml`` (RV end-diastolic volume, mL) and optionally
        ``heart_rate_bpm`` (default 65).
    view : ``"4Ch"`` (LV, RV, LA, RA), ``"2Ch"`` (LV, LA) or ``"3Ch"`` (LV, LA, aortic root, RVOT).
    rng : ``numpy.random.Generator`` (drawn from: position, rotation, size, intensity, noise),
        an integer seed, or ``None`` (seed 0, so plain calls are reproducible).
    frames : frames over one cardiac cycle (UK Biobank: 50); frame 0 is end-diastole.
    shape : (rows, cols) to override the jittered matrix size (default: rows 184-226, cols 160-208).
    labels : also return a hard label map (:data:`LABELS`) in ``Cine.labels`` (slower).
    person : person-level nuisance from :func:`draw_person` (shared by a participant's visits);
        ``None`` draws everything from ``rng``.
    bmi_ratio : BMI at this visit over BMI at the first imaging visit (person-level values drift
        with it; used only with ``person``).

    Returns
    -------
    Cine with ``pixels`` uint16 (frames, rows, cols).
    """
    if view not in VIEWS:
        raise ValueError(f"render_cine: unknown view {view!r}; expected one of {VIEWS}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    p = _check_params(params)
    j = _draw_jitter(rng, view, shape, person, bmi_ratio)
    rows, cols = j["shape"]
    ps = j["pixel_spacing_mm"]
    scale = j["intensity_scale"]

    phase = np.arange(frames, dtype=np.float64) / frames
    g = _geometry(p, phase)
    rr = 60000.0 / p["heart_rate_bpm"]
    trig = np.round(j["trigger_delay_ms"] + phase * rr, 2)

    # heart placement: the centre of the heart's extent lands at centre_frac of the FOV
    theta = np.deg2rad(_BASE_THETA[view] + j["rotation_deg"])
    u0, u1, v0, v1 = _heart_extent(view, g)
    um, vm = (u0 + u1) / 2, (v0 + v1) / 2
    ux, uy, vx, vy = np.sin(theta), -np.cos(theta), np.cos(theta), np.sin(theta)
    H, W = rows * ps[0], cols * ps[1]
    tx, ty = j["centre_frac"][1] * W, j["centre_frac"][0] * H
    origin = _keep_inside((tx - um * ux - vm * vx, ty - um * uy - vm * vy), (u0, u1, v0, v1),
                          (ux, uy, vx, vy), W, H, margin=8.0)
    ew = 2.0 * ps[0]
    cv = _Canvas(frames, rows, cols, ps, origin, float(theta), ew, labels)

    bu = j["body_u"]
    if "body_offset_mm" in j:   # the body sits where the person's anatomy puts it, relative to the heart
        hx = origin[0] + um * ux + vm * vx
        hy = origin[1] + um * uy + vm * vy
        j["body_centre_mm"] = (hx + j["body_offset_mm"][0], hy + j["body_offset_mm"][1])
    else:
        j["body_centre_mm"] = (W * (0.47 + 0.06 * bu[0]), H * (0.47 + 0.06 * bu[1]))
    if "body_semi_axes_fixed_mm" in j:   # person-level body outline (mm), not a fraction of the FOV
        j["body_semi_axes_mm"] = j.pop("body_semi_axes_fixed_mm")
    else:
        j["body_semi_axes_mm"] = (W * (0.42 + 0.1 * bu[2]), H * (0.33 + 0.08 * bu[3]))
    j["liver"] = {"4Ch": (-75.0, -95.0, 70.0, 85.0), "2Ch": (-60.0, 95.0, 65.0, 80.0),
                  "3Ch": (-70.0, 100.0, 65.0, 80.0)}[view]
    j["heart_origin_mm"] = (float(origin[0]), float(origin[1]))
    j["theta_deg"] = float(np.rad2deg(theta))
    bg, body = _background(cv, view, g, j)

    cv.img = np.empty((frames, rows, cols), np.float32)
    cv.img[:] = bg
    if view == "4Ch":
        _draw_rv_ra(cv, g, j)
        _draw_lv_la(cv, g, j)
    elif view == "2Ch":
        _draw_lv_la(cv, g, j, la_shape=0.95, annulus_septal=True)
    else:
        _draw_lv_la(cv, g, j, annulus_septal=False, extra_before_lv=_draw_aorta_rvot)

    pixels = _acquire(cv.img, body, _bias_field(rows, cols, ps, j) * np.float32(scale),
                      sigma=j["noise_rel"] * MYO * scale, seed=j["noise_seed"])
    vols = {"lv": g["lv_ml"], "la": g["la_ml"]}
    if view == "4Ch":
        vols.update(rv=g["rv_ml"], ra=g["ra_ml"])
    j.pop("body_u")
    j["end_systole_frame"] = int(np.argmin(g["lv_ml"]))
    return Cine(pixels=pixels, pixel_spacing_mm=(float(ps[0]), float(ps[1])), trigger_times_ms=trig,
                view=view, jitter=j, volumes_ml={k: np.asarray(v, float) for k, v in vols.items()},
                labels=cv.labels, heart_rate_bpm=p["heart_rate_bpm"])


def _acquire(img: np.ndarray, body: np.ndarray, gain: np.ndarray, *, sigma: float, seed: int) -> np.ndarray:
    """Magnitude image: ``air(x) * |gain(x) S + n1 + i n2|`` rounded to uint16 (frames, rows, cols).

    Noise fields come from a small pool of smoothed complex noise fields shifted per frame, so
    each pixel's noise is independent from frame to frame. ``air`` attenuates the noise
    outside the body (background ~0).
    """
    T, rows, cols = img.shape
    rng = np.random.default_rng(seed)
    k, pad = 4, 24
    n1, n2sq = _noise_pool(rng, k, rows, cols, pad, sigma)
    offs = rng.choice((pad + 1) ** 2, size=(k, (T + k - 1) // k), replace=False if (pad + 1) ** 2 >= T else True)
    air = (0.03 + 0.97 * body).astype(np.float32)
    out = np.empty((T, rows, cols), np.uint16)
    buf = np.empty((rows, cols), np.float32)
    for t in range(T):
        f, o = t % k, offs[t % k, t // k]
        dy, dx = divmod(int(o), pad + 1)
        np.multiply(img[t], gain, out=buf)
        buf += n1[f, dy:dy + rows, dx:dx + cols]
        buf *= buf
        buf += n2sq[f, dy:dy + rows, dx:dx + cols]
        np.sqrt(buf, out=buf)
        buf *= air
        buf += np.float32(0.5)
        np.minimum(buf, np.float32(4095.0), out=buf)
        out[t] = buf
    return out
