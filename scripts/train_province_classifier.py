"""Train a plate province classifier on rendered characters only (no photo is ever used) - an experiment.

Each sample is the left part of a plate drawn in GA 36 proportions (province, letter, dot, first serial
character; white on blue, black on yellow, green or white), bent, shrunk to the size a plate has in a
gate camera, blurred, noised and JPEG-compressed, then cut into a province cell: one character pitch wide
around where the province stands, the recogniser crop's full height (48 px). A 32nd class holds what is no
province character: letters and digits, other Chinese characters, empty plate, the plate's edge, a cell
half a pitch off. Features: HOG of the 24x48 cell plus its 12x24 pixels; model: a one-hidden-layer MLP in
numpy (0.5 MB as float16). Prints the held-out synthetic accuracy as a JSON last line.

    .venv/bin/python scripts/train_province_classifier.py [--out var/province.npz]

Result (issue 4, 2026-12-02): NOT used by the recogniser. Held-out rendered cells: 79 % right, 93 % right
where the classifier is >= 0.9 sure. On the real photos of shared/data it recognised provinces rapidocr
already read well and failed every case rapidocr gets wrong (small blurred 皖 read as 陕/新/鄂/赣): the true
province got about 0 probability on those cells, and it was confidently wrong elsewhere (辽 at 1.00 on the
皖A00T45 crop, which wired in turned an unvalidated read into a validated false read: plate_eval exact 41/48
unchanged, validated false reads 2 -> 3). A product with rapidocr's own province probabilities and sliding
windows over the cell were worse. Why, as far as seen: the machine has one CJK font (WenQuanYi Zen Hei),
unlike the plates' own typeface; and the cell was placed (in the recogniser patch tried, not committed) by a
line fit of rapidocr's CTC peak frames (8 px each on the 48-px crop) of the letter and the serial, taken to
stand at 0, 79/57, 79/57 + 1, ... pitches, the province 1.135 pitches left of the letter (the peaks lag the
drawn characters by 0.135 pitch on rendered plates); on the hard crops that is off by up to half a pitch.
A next try needs a plate typeface and a localisation from the image itself.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision.plate_rules import DIGITS, LETTERS, PROVINCES  # noqa: E402

cv2.setNumThreads(1)

# Size (width, height) a province cell is resized to before its features are computed.
CELL_SIZE = (24, 48)
MODEL_PATH = Path(__file__).resolve().parents[1] / "var" / "province.npz"
# Label of the class of everything that is not a province character.
REJECT = "-"
CLASSES = PROVINCES + REJECT
_HOG = cv2.HOGDescriptor(CELL_SIZE, (12, 12), (6, 6), (6, 6), 9)


def cell_features(cell_bgr: np.ndarray) -> np.ndarray:
    """Features of one province cell (BGR or grey, any size): ink made bright, contrast stretched, HOG + pixels."""
    grey = cell_bgr if cell_bgr.ndim == 2 else cv2.cvtColor(cell_bgr, cv2.COLOR_BGR2GRAY)
    shrink = grey.shape[0] > CELL_SIZE[1]
    grey = cv2.resize(grey, CELL_SIZE, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    low, high = np.percentile(grey, (2, 98))
    norm = np.clip((grey.astype(np.float32) - low) / max(high - low, 8.0), 0.0, 1.0)
    # Ink is the minority of a character cell: a mostly bright cell has dark ink and is inverted.
    if float(np.median(norm)) > 0.5:
        norm = 1.0 - norm
    image = (norm * 255).astype(np.uint8)
    pixels = cv2.resize(norm, (CELL_SIZE[0] // 2, CELL_SIZE[1] // 2), interpolation=cv2.INTER_AREA).reshape(-1)
    return np.concatenate([_HOG.compute(image).reshape(-1), pixels]).astype(np.float32)


CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
LATIN_FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
]
# Common characters that are no province: what else a cell may show (shop signs, misaligned text).
OTHER_CJK = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么"
    "心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分"
    "将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重"
    "被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住"
    "员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制"
    "陈统酸院院完晓婉浣统皓琬碗腕腕湾湖洲沿沙河江池波泥注洋浩涛淮港港清温渡游湛满源溪滨漳潘澳激灌"
)
OTHER_CJK = "".join(dict.fromkeys(c for c in OTHER_CJK if c not in PROVINCES))

# Plate layout in millimetres (GA 36 single row): 140 high, characters 45 x 90, pitch 57, province centre 38.
PLATE_H, CHAR_W, CHAR_H, PITCH = 140.0, 45.0, 90.0, 57.0
PROVINCE_X, LETTER_X, SERIAL_X = 38.0, 95.0, 174.0
PX_PER_MM = 1.0
OUTSIDE_MM = 60.0  # scene drawn around the plate
# (background BGR, ink BGR) of the plate colours
PALETTES = [
    ((190, 70, 10), (245, 245, 245)),  # blue, white ink
    ((20, 190, 230), (20, 20, 20)),  # yellow, black ink
    ((120, 210, 140), (20, 20, 20)),  # green (new energy), black ink
    ((235, 235, 235), (20, 20, 20)),  # white (police), black ink
]


def render_masks(
    chars: str, font_path: Path, index: int = 0, size: int = 160, stroke: int = 0
) -> dict[str, np.ndarray]:
    """Tight binary masks of each character drawn large (stroke: pixels added around each stroke)."""
    font = ImageFont.truetype(str(font_path), size, index=index)
    masks = {}
    for char in chars:
        image = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(image).text(
            (size // 2, size // 4), char, font=font, fill=255, stroke_width=stroke, stroke_fill=255
        )
        array = np.asarray(image)
        ys, xs = np.nonzero(array > 20)
        if len(xs) == 0:
            continue
        masks[char] = array[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return masks


class PlateRenderer:
    """Draws augmented plate starts and cuts their province cells."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        # the plate font is heavier than the desktop one: also drawn with thicker strokes
        self.cjk = [render_masks(PROVINCES + OTHER_CJK + "警学", CJK_FONT, 0, stroke=stroke) for stroke in (0, 3, 6)]
        self.latin = [render_masks(LETTERS + DIGITS, path) for path in LATIN_FONTS if path.is_file()]
        if not self.latin:
            self.latin = [render_masks(LETTERS + DIGITS, CJK_FONT)]

    def _glyph(self, mask: np.ndarray, box_w: float, box_h: float) -> np.ndarray:
        """The glyph stretched to its box (aspect jitter), stroke thickened or thinned."""
        rng = self.rng
        w = max(3, int(round(box_w * PX_PER_MM * rng.uniform(0.85, 1.05))))
        h = max(3, int(round(box_h * PX_PER_MM * rng.uniform(0.9, 1.03))))
        glyph = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)
        step = rng.integers(-2, 3)
        kernel = np.ones((3, 3), np.uint8)
        if step > 0:
            glyph = cv2.dilate(glyph, kernel, iterations=int(step))
        elif step < 0:
            glyph = cv2.erode(glyph, kernel, iterations=int(-step))
        return glyph

    def _paste(self, canvas_alpha: np.ndarray, glyph: np.ndarray, cx_mm: float, cy_mm: float) -> None:
        h, w = glyph.shape
        x0 = int(round(cx_mm * PX_PER_MM - w / 2))
        y0 = int(round(cy_mm * PX_PER_MM - h / 2))
        ys, xs = (
            slice(max(0, y0), min(canvas_alpha.shape[0], y0 + h)),
            slice(max(0, x0), min(canvas_alpha.shape[1], x0 + w)),
        )
        sub = glyph[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        canvas_alpha[ys, xs] = np.maximum(canvas_alpha[ys, xs], sub)

    def sample(self, label: str) -> np.ndarray:
        """One province cell (BGR) showing label, or, for REJECT, something that is no province character."""
        rng = self.rng
        background, ink = PALETTES[int(rng.choice(4, p=[0.45, 0.3, 0.15, 0.1]))]
        jitter = rng.normal(0, 18, 3)
        background = np.clip(np.array(background) + jitter, 0, 255)
        ink = np.clip(np.array(ink) + rng.normal(0, 12, 3), 0, 255)
        width_mm, height_mm = OUTSIDE_MM + 260.0, PLATE_H + 2 * 40.0
        canvas_h, canvas_w = int(height_mm * PX_PER_MM), int(width_mm * PX_PER_MM)
        scene = rng.uniform(20, 200, 3)
        image = np.empty((canvas_h, canvas_w, 3), np.float32)
        image[:] = scene
        image += rng.normal(0, rng.uniform(2, 25), (canvas_h, canvas_w, 1))  # surroundings: texture
        top = 40.0
        px0, py0 = int(OUTSIDE_MM * PX_PER_MM), int(top * PX_PER_MM)
        px1, py1 = canvas_w, int((top + PLATE_H) * PX_PER_MM)
        image[py0:py1, px0:px1] = background
        if rng.random() < 0.3:  # green plates fade to white at the top; any plate may be unevenly lit
            ramp = np.linspace(rng.uniform(-60, 60), 0, py1 - py0)[:, None, None]
            image[py0:py1, px0:px1] += ramp
        alpha = np.zeros((canvas_h, canvas_w), np.uint8)
        # frame line inside the plate edge
        inset = int(rng.uniform(2, 4) * PX_PER_MM)
        if rng.random() < 0.8:
            cv2.rectangle(
                alpha, (px0 + inset, py0 + inset), (px1 + 50, py1 - inset), 255, max(1, int(round(PX_PER_MM * 1.5)))
            )
        cy = top + PLATE_H / 2
        font = self.cjk[int(rng.integers(len(self.cjk)))]
        latin = self.latin[int(rng.integers(len(self.latin)))]
        shift = 0.0  # where the cell is cut, in pitches, relative to the province position
        if label != REJECT:
            self._paste(alpha, self._glyph(font[label], CHAR_W, CHAR_H), OUTSIDE_MM + PROVINCE_X, cy)
        else:
            kind = rng.choice(["latin", "cjk", "empty", "edge", "between"], p=[0.3, 0.25, 0.15, 0.15, 0.15])
            if kind == "latin":
                char = str(rng.choice(list(LETTERS + DIGITS)))
                self._paste(alpha, self._glyph(latin[char], CHAR_W, CHAR_H), OUTSIDE_MM + PROVINCE_X, cy)
            elif kind == "cjk":
                char = str(rng.choice(list(OTHER_CJK)))
                self._paste(alpha, self._glyph(font[char], CHAR_W, CHAR_H), OUTSIDE_MM + PROVINCE_X, cy)
            elif kind in ("edge", "between"):
                province = str(rng.choice(list(PROVINCES)))
                self._paste(alpha, self._glyph(font[province], CHAR_W, CHAR_H), OUTSIDE_MM + PROVINCE_X, cy)
                shift = -rng.uniform(0.6, 1.1) if kind == "edge" else rng.uniform(0.45, 0.6) * rng.choice([-1, 1])
        letter = str(rng.choice(list(LETTERS)))
        self._paste(alpha, self._glyph(latin[letter], CHAR_W, CHAR_H), OUTSIDE_MM + LETTER_X, cy)
        dot = int(PX_PER_MM * 5)
        cv2.circle(alpha, (int((OUTSIDE_MM + 134.5) * PX_PER_MM), int(cy * PX_PER_MM)), dot, 255, -1)
        serial = str(rng.choice(list(LETTERS + DIGITS)))
        self._paste(alpha, self._glyph(latin[serial], CHAR_W, CHAR_H), OUTSIDE_MM + SERIAL_X, cy)
        weight = (alpha.astype(np.float32) / 255.0)[:, :, None]
        image = image * (1 - weight) + ink * weight
        # bend: rotation, horizontal shear and scale about the province centre
        centre = ((OUTSIDE_MM + PROVINCE_X) * PX_PER_MM, cy * PX_PER_MM)
        matrix = cv2.getRotationMatrix2D(centre, rng.normal(0, 3), rng.uniform(0.95, 1.05))
        shear = rng.normal(0, 0.12)
        matrix[0, 1] += shear
        matrix[0, 2] -= shear * centre[1]
        image = cv2.warpAffine(image, matrix, (canvas_w, canvas_h), borderMode=cv2.BORDER_REFLECT)
        # the crop the recogniser reads: the plate's height with some slack, 48 pixels high
        crop_h = PLATE_H * rng.uniform(0.8, 1.25)
        crop_top = cy - crop_h / 2 + rng.normal(0, 5)
        y0 = int(round(crop_top * PX_PER_MM))
        y1 = int(round((crop_top + crop_h) * PX_PER_MM))
        crop = image[max(0, y0) : y1]
        crop = np.clip(crop, 0, 255).astype(np.uint8)
        scale = 48.0 / crop.shape[0]
        # the plate is small in the camera frame: shrink it to its size there, then to the recogniser's crop
        native_h = rng.uniform(18, 60)
        small_w = max(8, int(crop.shape[1] * native_h / crop.shape[0]))
        crop = cv2.resize(crop, (small_w, int(round(native_h))), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.7:
            sigma = rng.uniform(0.3, 1.0)
            crop = cv2.GaussianBlur(crop, (0, 0), sigma)
        crop = np.clip(crop.astype(np.float32) * rng.uniform(0.5, 1.3) + rng.uniform(-40, 40), 0, 255)
        crop = np.clip(crop + rng.normal(0, rng.uniform(0, 8), crop.shape), 0, 255).astype(np.uint8)
        if rng.random() < 0.7:
            quality = int(rng.integers(20, 90))
            ok, buffer = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                crop = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        crop = cv2.resize(crop, (int(round(canvas_w * scale)), 48), interpolation=cv2.INTER_LINEAR)
        # cut the cell as the recogniser does: one pitch wide around the estimated province centre
        px_per_mm = scale * PX_PER_MM
        pitch = PITCH * px_per_mm * rng.uniform(0.9, 1.1)
        centre_x = (OUTSIDE_MM + PROVINCE_X) * px_per_mm + (shift + rng.normal(0, 0.18)) * PITCH * px_per_mm
        width = pitch
        x0, x1 = int(round(centre_x - width / 2)), int(round(centre_x + width / 2))
        return crop[:, max(0, x0) : x1]


def make_set(renderer: PlateRenderer, per_class: int, reject_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels: per_class samples of each province and a share of reject samples."""
    labels = [c for c in PROVINCES for _ in range(per_class)]
    labels += [REJECT] * int(len(labels) * reject_share)
    order = renderer.rng.permutation(len(labels))
    features = np.stack([cell_features(renderer.sample(labels[i])) for i in order])
    targets = np.array([CLASSES.index(labels[i]) for i in order])
    return features, targets


def train_mlp(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, hidden: int, epochs: int) -> dict:
    """A one-hidden-layer ReLU network with softmax output, trained with Adam and weight decay."""
    mean = x.mean(axis=0)
    scale = 1.0 / (x.std(axis=0) + 1e-3)
    xs = (x - mean) * scale
    n_in, n_out = x.shape[1], len(CLASSES)
    params = {
        "w1": rng.normal(0, np.sqrt(2 / n_in), (n_in, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(0, np.sqrt(1 / hidden), (hidden, n_out)).astype(np.float32),
        "b2": np.zeros(n_out, np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    lr, beta1, beta2, decay, batch = 1e-3, 0.9, 0.999, 1e-4, 128
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(xs))
        if epoch == int(epochs * 0.7):
            lr *= 0.2
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            xb, yb = xs[idx], y[idx]
            xb = xb * (rng.random(xb.shape) > 0.1) / 0.9  # dropout on the inputs
            h_pre = xb @ params["w1"] + params["b1"]
            h = np.maximum(h_pre, 0)
            logits = h @ params["w2"] + params["b2"]
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            grad_logits = p
            grad_logits[np.arange(len(yb)), yb] -= 1
            grad_logits /= len(yb)
            grads = {
                "w2": h.T @ grad_logits + decay * params["w2"],
                "b2": grad_logits.sum(axis=0),
            }
            grad_h = grad_logits @ params["w2"].T * (h_pre > 0)
            grads["w1"] = xb.T @ grad_h + decay * params["w1"]
            grads["b1"] = grad_h.sum(axis=0)
            step += 1
            for key, grad in grads.items():
                m, v = moments[key]
                m[:] = beta1 * m + (1 - beta1) * grad
                v[:] = beta2 * v + (1 - beta2) * grad * grad
                m_hat = m / (1 - beta1**step)
                v_hat = v / (1 - beta2**step)
                params[key] -= (lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32), **params}


def predict(model: dict, x: np.ndarray) -> np.ndarray:
    """Class probabilities of feature rows."""
    h = np.maximum((x - model["mean"]) * model["scale"] @ model["w1"] + model["b1"], 0)
    logits = h @ model["w2"] + model["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def main() -> None:
    """Render, train, evaluate on a held-out rendered set, save, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where the model (.npz) is written")
    parser.add_argument("--per-class", type=int, default=500, help="training samples per province")
    parser.add_argument("--hidden", type=int, default=256, help="hidden units")
    parser.add_argument("--epochs", type=int, default=25, help="training epochs")
    parser.add_argument("--seed", type=int, default=20261202, help="seed of the renderer and the training")
    parser.add_argument("--dump", type=Path, help="write a sheet of rendered training cells to this PNG")
    args = parser.parse_args()
    started = time.perf_counter()
    train_renderer = PlateRenderer(np.random.default_rng(args.seed))
    if args.dump:
        cells = [cv2.resize(train_renderer.sample(c), (24, 48)) for c in (PROVINCES + REJECT * 9)]
        rows = [np.hstack(cells[i : i + 20]) for i in range(0, 40, 20)]
        cv2.imwrite(str(args.dump), cv2.resize(np.vstack(rows), None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST))
    x_train, y_train = make_set(train_renderer, args.per_class, 0.3)
    # the held-out set comes from a renderer of its own seed: other fonts draws, bends, crops and noise
    x_test, y_test = make_set(PlateRenderer(np.random.default_rng(args.seed + 1)), 60, 0.3)
    rendered_s = time.perf_counter() - started
    model = train_mlp(x_train, y_train, np.random.default_rng(args.seed), args.hidden, args.epochs)
    probs = predict(model, x_test)
    guess = probs.argmax(axis=1)
    reject = CLASSES.index(REJECT)
    provinces = y_test != reject
    confident = probs.max(axis=1) >= 0.9
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        classes=np.array(CLASSES),
        **{key: value.astype(np.float16 if key in ("w1", "w2") else np.float32) for key, value in model.items()},
    )
    summary = {
        "train_samples": len(y_train),
        "test_samples": len(y_test),
        "test_accuracy": round(float((guess == y_test).mean()), 4),
        "test_province_accuracy": round(float((guess[provinces] == y_test[provinces]).mean()), 4),
        "test_reject_recall": round(float((guess[~provinces] == reject).mean()), 4),
        "test_confident_share": round(float(confident[provinces].mean()), 4),
        "test_confident_province_accuracy": round(
            float((guess[provinces & confident] == y_test[provinces & confident]).mean()), 4
        ),
        "test_confident_reject_as_province": round(float(((guess != reject) & confident)[~provinces].mean()), 4),
        "model_bytes": args.out.stat().st_size,
        "render_s": round(rendered_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
