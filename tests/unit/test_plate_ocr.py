"""Grammar-constrained CTC decoding of plate crops: the cheap score bound that lets the Viterbi be skipped."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.plate_colour import PlateColour
from edge.vision.plate_ocr import PlateTextReader
from edge.vision.plate_rules import PlateType
from tests.unit.test_plate_colour import PLATE_STYLES, render_plate


@pytest.fixture(scope="module")
def reader() -> PlateTextReader:
    return PlateTextReader()


def crops() -> list[np.ndarray]:
    """Rendered plates, a plate cut in half and noise: clean, partial and meaningless frame probabilities."""
    rng = np.random.default_rng(7)
    plates = [
        render_plate(text, *PLATE_STYLES[colour])
        for text, colour in (
            ("苏E2Y256", PlateColour.BLUE),
            ("浙A03168", PlateColour.YELLOW),
            ("京AD12345", PlateColour.GREEN),
        )
    ]
    noise = [rng.integers(0, 256, (48, width, 3), np.uint8) for width in (64, 160, 320)]
    return [*plates, plates[0][:, :220], *noise]


@pytest.mark.parametrize("prior", [None, {"皖": 1.5, "苏": 0.5}])
def test_score_bound_is_never_below_the_best_template_path(prior: dict[str, float] | None) -> None:
    reader = PlateTextReader(province_prior=prior)
    for crop in crops():
        frames = reader.frame_probabilities(crop)
        best = reader.decode_templates(frames)[0].log_prob
        assert reader.template_score_bound(frames) >= best - 1e-9


def test_score_bound_is_tight_on_a_clean_plate(reader: PlateTextReader) -> None:
    frames = reader.frame_probabilities(render_plate("苏E2Y256", *PLATE_STYLES[PlateColour.BLUE]))
    best = reader.decode_templates(frames)[0]
    assert best.text == "苏E2Y256"
    assert reader.template_score_bound(frames) == pytest.approx(best.log_prob, abs=1e-6)


def test_type_penalty_lowers_only_the_penalised_template(reader: PlateTextReader) -> None:
    frames = reader.frame_probabilities(render_plate("京AD12345", *PLATE_STYLES[PlateColour.GREEN]))
    plain = {d.plate_type: d for d in reader.decode_templates(frames)}
    penalised = {d.plate_type: d for d in reader.decode_templates(frames, {PlateType.NEW_ENERGY_SMALL: 50.0})}
    assert plain[PlateType.NEW_ENERGY_SMALL].text == "京AD12345"
    assert penalised[PlateType.NEW_ENERGY_SMALL].log_prob == pytest.approx(
        plain[PlateType.NEW_ENERGY_SMALL].log_prob - 50.0
    )
    assert penalised[PlateType.NEW_ENERGY_SMALL].char_probs == plain[PlateType.NEW_ENERGY_SMALL].char_probs
    for kind, decoded in plain.items():
        if kind is not PlateType.NEW_ENERGY_SMALL:
            assert penalised[kind].log_prob == pytest.approx(decoded.log_prob)
