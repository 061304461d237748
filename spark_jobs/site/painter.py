"""Procedural illustrations: a subject (what is drawn) rendered in a painting style (how).

A subject is a list of primitives in unit coordinates; a style decides palette, outline weight,
shading, stroke texture and grain. The eight styles differ in all of these, so both a colour
statistic and a texture statistic tell them apart, while the subject decides the composition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class PaintingStyle:
    name: str
    palette: tuple[RGB, ...]
    line_width: int  # outline weight in pixels at 128 px
    line_color: RGB
    texture: str  # wash | flat | hatch | impasto | pixel | glow | woodblock | soft
    blur: float  # Gaussian radius after painting
    grain: float  # std of per-pixel noise (0-255 scale)


STYLES: tuple[PaintingStyle, ...] = (
    PaintingStyle(
        "watercolor",
        ((236, 226, 205), (120, 170, 210), (230, 140, 150), (150, 200, 140), (250, 210, 120)),
        0,
        (0, 0, 0),
        "wash",
        2.2,
        6.0,
    ),
    PaintingStyle(
        "cel_shading",
        ((250, 250, 255), (255, 90, 120), (60, 140, 255), (255, 220, 60), (40, 40, 60)),
        3,
        (20, 20, 30),
        "flat",
        0.0,
        0.0,
    ),
    PaintingStyle(
        "pencil_sketch",
        ((235, 232, 225), (90, 88, 85), (150, 148, 142), (60, 58, 55), (190, 188, 182)),
        1,
        (50, 50, 50),
        "hatch",
        0.4,
        14.0,
    ),
    PaintingStyle(
        "oil_painting",
        ((90, 60, 40), (200, 120, 50), (40, 90, 60), (170, 40, 40), (230, 200, 140)),
        0,
        (0, 0, 0),
        "impasto",
        0.6,
        4.0,
    ),
    PaintingStyle(
        "pixel_art",
        ((30, 30, 60), (80, 220, 120), (250, 80, 80), (80, 160, 250), (255, 255, 120)),
        0,
        (0, 0, 0),
        "pixel",
        0.0,
        0.0,
    ),
    PaintingStyle(
        "neon",
        ((10, 5, 25), (255, 40, 200), (40, 255, 240), (170, 80, 255), (255, 250, 90)),
        2,
        (255, 255, 255),
        "glow",
        0.0,
        2.0,
    ),
    PaintingStyle(
        "ukiyo_e",
        ((232, 218, 180), (30, 50, 110), (200, 60, 40), (90, 110, 90), (25, 25, 25)),
        3,
        (25, 25, 25),
        "woodblock",
        0.0,
        5.0,
    ),
    PaintingStyle(
        "pastel",
        ((250, 240, 245), (250, 200, 215), (200, 225, 250), (215, 245, 215), (250, 235, 200)),
        1,
        (170, 150, 170),
        "soft",
        1.4,
        1.5,
    ),
)

Primitive = tuple[str, tuple[float, ...], int]  # (kind, unit coordinates, palette index)


def _subject_primitives(subject: int, rng: np.random.Generator) -> list[Primitive]:
    """Composition of subject `subject` (index into lexicon.SUBJECT_WORDS), jittered by rng."""
    j = lambda s=0.05: float(rng.uniform(-s, s))  # noqa: E731
    p: list[Primitive] = []
    if subject == 0:  # portrait
        p += [
            ("ellipse", (0.3 + j(), 0.15 + j(), 0.7 + j(), 0.6 + j()), 4),
            ("polygon", (0.25, 0.3, 0.5, 0.05 + j(), 0.75, 0.3, 0.7, 0.2, 0.3, 0.2), 1),
            ("ellipse", (0.38, 0.35, 0.45, 0.42), 3),
            ("ellipse", (0.55, 0.35, 0.62, 0.42), 3),
            ("polygon", (0.2, 1.0, 0.35, 0.62, 0.65, 0.62, 0.8, 1.0), 2),
        ]
    elif subject == 1:  # cat
        p += [
            ("ellipse", (0.2 + j(), 0.5, 0.8 + j(), 0.9), 1),
            ("ellipse", (0.3, 0.2 + j(), 0.7, 0.6), 2),
            ("polygon", (0.32, 0.32, 0.35, 0.1, 0.46, 0.25), 2),
            ("polygon", (0.54, 0.25, 0.65, 0.1, 0.68, 0.32), 2),
            ("line", (0.8, 0.75, 0.95, 0.45 + j(0.1)), 3),
        ]
    elif subject == 2:  # dragon
        xs = np.linspace(0.05, 0.95, 8)
        ys = 0.5 + 0.2 * np.sin(xs * 9 + rng.uniform(0, 6))
        p += [
            ("line", tuple(np.ravel(np.column_stack([xs, ys]))), 1),
            ("polygon", (0.4, 0.45, 0.2, 0.1 + j(), 0.55, 0.4), 2),
            ("polygon", (0.55, 0.45, 0.8, 0.1 + j(), 0.7, 0.45), 2),
            ("ellipse", (0.85, 0.35, 0.98, 0.5), 3),
        ]
    elif subject == 3:  # landscape
        p += [
            ("rect", (0.0, 0.65, 1.0, 1.0), 3),
            ("polygon", (0.0, 0.7, 0.3 + j(), 0.25 + j(), 0.6, 0.7), 1),
            ("polygon", (0.4, 0.7, 0.7 + j(), 0.3 + j(), 1.0, 0.7), 2),
            ("ellipse", (0.75, 0.05, 0.92, 0.22), 4),
        ]
    elif subject == 4:  # ocean
        for k in range(5):
            y = 0.4 + 0.12 * k
            xs = np.linspace(0, 1, 12)
            p.append(("line", tuple(np.ravel(np.column_stack([xs, y + 0.03 * np.sin(xs * 14 + k + j(2))]))), 1 + k % 3))
        p.append(("ellipse", (0.1 + j(), 0.08, 0.25 + j(), 0.23), 4))
    elif subject == 5:  # city
        x = 0.0
        while x < 1.0:
            w = float(rng.uniform(0.08, 0.2))
            top = float(rng.uniform(0.2, 0.7))
            p.append(("rect", (x, top, x + w, 1.0), 1 + int(rng.integers(0, 3))))
            p.append(("rect", (x + w * 0.3, top + 0.05, x + w * 0.6, top + 0.1), 4))
            x += w + 0.02
    elif subject == 6:  # flower
        cx, cy = 0.5 + j(), 0.4 + j()
        for a in np.linspace(0, 2 * np.pi, 7)[:-1]:
            px, py = cx + 0.17 * np.cos(a), cy + 0.17 * np.sin(a)
            p.append(("ellipse", (px - 0.1, py - 0.1, px + 0.1, py + 0.1), 2))
        p += [("ellipse", (cx - 0.08, cy - 0.08, cx + 0.08, cy + 0.08), 4), ("line", (cx, cy + 0.1, cx + j(), 1.0), 3)]
    elif subject == 7:  # sword
        p += [
            ("polygon", (0.2 + j(), 0.85, 0.75, 0.1 + j(), 0.82, 0.17, 0.28, 0.9), 4),
            ("rect", (0.12, 0.8, 0.32, 0.86), 1),
            ("line", (0.1, 0.95, 0.22, 0.85), 2),
        ]
    elif subject == 8:  # robot
        p += [
            ("rect", (0.3 + j(), 0.45, 0.7 + j(), 0.9), 1),
            ("rect", (0.35, 0.15 + j(), 0.65, 0.42), 2),
            ("ellipse", (0.4, 0.23, 0.47, 0.3), 4),
            ("ellipse", (0.53, 0.23, 0.6, 0.3), 4),
            ("line", (0.5, 0.15, 0.5, 0.04), 3),
            ("rect", (0.15, 0.5, 0.28, 0.75), 3),
            ("rect", (0.72, 0.5, 0.85, 0.75), 3),
        ]
    elif subject == 9:  # starry sky
        p.append(("rect", (0.0, 0.0, 1.0, 0.8), 1))
        for _ in range(18):
            x, y = rng.uniform(0, 1), rng.uniform(0, 0.75)
            p.append(("ellipse", (x - 0.012, y - 0.012, x + 0.012, y + 0.012), 4))
        p += [
            ("ellipse", (0.65, 0.1, 0.85, 0.3), 4),
            ("ellipse", (0.7, 0.08, 0.88, 0.26), 1),
            ("rect", (0.0, 0.8, 1.0, 1.0), 3),
        ]
    elif subject == 10:  # food
        p.append(("ellipse", (0.1, 0.45, 0.9, 0.95), 0 if rng.random() < 0.5 else 4))
        for _ in range(4):
            x, y = rng.uniform(0.3, 0.7), rng.uniform(0.6, 0.78)
            p.append(("ellipse", (x - 0.09, y - 0.07, x + 0.09, y + 0.07), 1 + int(rng.integers(0, 3))))
    else:  # castle
        for x in (0.15, 0.42, 0.7):
            top = 0.35 + j(0.08)
            p += [
                ("rect", (x, top, x + 0.15, 0.95), 1),
                ("polygon", (x - 0.03, top, x + 0.075, top - 0.2, x + 0.18, top), 2),
            ]
        p += [("rect", (0.15, 0.6, 0.85, 0.95), 1), ("ellipse", (0.43, 0.72, 0.57, 0.95), 3)]
    return p


def _draw(img: Image.Image, prims: list[Primitive], style: PaintingStyle, rng: np.random.Generator) -> None:
    w, h = img.size
    draw = ImageDraw.Draw(img)
    lw = max(0, round(style.line_width * w / 128))
    for kind, c, color_idx in prims:
        base = np.array(style.palette[color_idx % len(style.palette)], float)
        fill = tuple(int(v) for v in np.clip(base + rng.normal(0, 8, 3), 0, 255))
        xy = [(c[i] * w, c[i + 1] * h) for i in range(0, len(c), 2)]
        outline = style.line_color if lw else None
        if kind == "ellipse":
            draw.ellipse(
                [min(xy[0][0], xy[1][0]), min(xy[0][1], xy[1][1]), max(xy[0][0], xy[1][0]), max(xy[0][1], xy[1][1])],
                fill=fill,
                outline=outline,
                width=lw,
            )
        elif kind == "rect":
            draw.rectangle([xy[0], xy[1]], fill=fill, outline=outline, width=lw)
        elif kind == "polygon":
            draw.polygon(xy, fill=fill, outline=outline, width=max(lw, 1) if lw else 0)
        else:
            draw.line(xy, fill=fill, width=max(2, lw + 2 * w // 128), joint="curve")


def _texture(img: Image.Image, style: PaintingStyle, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    if style.texture == "wash":  # colour bleeds into paper; low-frequency pigment blotches
        img = img.filter(ImageFilter.GaussianBlur(style.blur))
        blot = Image.fromarray(
            (rng.normal(0, 1, (h // 8 + 1, w // 8 + 1)) * 18 + 128).clip(0, 255).astype(np.uint8)
        ).resize((w, h), Image.Resampling.BICUBIC)
        a = np.asarray(img, float) + (np.asarray(blot, float)[..., None] - 128)
        img = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    elif style.texture == "flat":  # cel shading: hard posterised colour, a shadow band
        img = ImageOps.posterize(img, 3)
        a = np.asarray(img, float)
        a[int(h * 0.6) :, :] *= 0.8
        img = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    elif style.texture == "hatch":  # graphite: grey, diagonal hatching in dark areas
        grey = np.asarray(ImageOps.grayscale(img), float)
        yy, xx = np.mgrid[0:h, 0:w]
        hatch = ((xx + yy) % 4 == 0) & (grey < 160)
        grey = np.where(hatch, grey * 0.45, grey * 0.9 + 25)
        img = Image.fromarray(np.stack([grey, grey * 0.98, grey * 0.94], -1).clip(0, 255).astype(np.uint8))
    elif style.texture == "impasto":  # thick brush dabs sampled from the underpainting
        a = np.asarray(img).copy()
        draw = ImageDraw.Draw(img)
        for _ in range(w * h // 40):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            col = tuple(int(v) for v in np.clip(a[y, x].astype(float) + rng.normal(0, 14, 3), 0, 255))
            dx, dy = rng.normal(0, 4, 2)
            draw.line([(x, y), (x + dx, y + dy)], fill=col, width=3)
        img = img.filter(ImageFilter.GaussianBlur(style.blur))
    elif style.texture == "pixel":  # low resolution, nearest-neighbour blocks, few colours
        small = img.resize((max(8, w // 6), max(8, h // 6)), Image.Resampling.BILINEAR).quantize(8).convert("RGB")
        img = small.resize((w, h), Image.Resampling.NEAREST)
    elif style.texture == "glow":  # bright strokes on dark ground with a bloom
        a = np.asarray(img, float) * 0.55
        edges = np.asarray(img.filter(ImageFilter.FIND_EDGES), float)
        glow = np.asarray(
            Image.fromarray(edges.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(3)), float
        )
        img = Image.fromarray((a + edges * 1.2 + glow * 1.5).clip(0, 255).astype(np.uint8))
    elif style.texture == "woodblock":  # flat inks on beige paper with fibre streaks
        a = np.asarray(ImageOps.posterize(img, 2), float)
        fibre = rng.normal(0, 1, (1, w)) * 10
        img = Image.fromarray(
            (a * 0.9 + np.asarray(style.palette[0], float) * 0.1 + fibre[..., None]).clip(0, 255).astype(np.uint8)
        )
    elif style.texture == "soft":  # pastel: blurred, washed towards white
        img = img.filter(ImageFilter.GaussianBlur(style.blur))
        img = Image.fromarray((np.asarray(img, float) * 0.7 + 255 * 0.3).clip(0, 255).astype(np.uint8))
    return img


def paint(style: int, subject: int, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """Paint one illustration: subject `subject` in painting style `style`; RGB, `width` x `height`."""
    spec = STYLES[style]
    top = np.array(spec.palette[0], float)
    bottom = top * 0.75 + np.array(spec.palette[int(rng.integers(1, len(spec.palette)))], float) * 0.25
    ramp = np.linspace(0, 1, height)[:, None, None]
    canvas = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1))
    img = Image.fromarray(canvas.astype(np.uint8))
    _draw(img, _subject_primitives(subject, rng), spec, rng)
    img = _texture(img, spec, rng)
    if spec.blur and spec.texture not in ("wash", "impasto", "soft"):
        img = img.filter(ImageFilter.GaussianBlur(spec.blur))
    if spec.grain:
        a = np.asarray(img, float) + rng.normal(0, spec.grain, (height, width, 1))
        img = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    return img
