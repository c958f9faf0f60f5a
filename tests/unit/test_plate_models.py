"""Plate text models: found in the wheels that carry them, opened with their own character lists."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision import plate_models
from edge.vision.plate_models import (
    DetectionModel,
    PlateOcrError,
    RecognitionModel,
    load_detector,
    load_recogniser,
    model_path,
)
from edge.vision.plate_rules import PLATE_CHARSET


@pytest.mark.parametrize("model", [*RecognitionModel, *DetectionModel])
def test_every_model_file_is_installed(model: RecognitionModel | DetectionModel) -> None:
    path = model_path(model)
    assert path.suffix == ".onnx" and path.stat().st_size > 1_000_000


def test_recognition_and_detection_models_of_one_version_are_different_files() -> None:
    assert model_path(RecognitionModel.PP_OCRV4) != model_path(DetectionModel.PP_OCRV4)
    assert "rec" in model_path(RecognitionModel.PP_OCRV4).name
    assert "det" in model_path(DetectionModel.PP_OCRV4).name


@pytest.mark.parametrize("model", list(RecognitionModel))
def test_recogniser_knows_every_plate_character(model: RecognitionModel) -> None:
    recogniser = load_recogniser(model)
    assert recogniser.characters[0] == ""  # the CTC blank
    assert set(PLATE_CHARSET) <= set(recogniser.characters)
    output = recogniser.run(np.zeros((1, 3, 48, 160), np.float32))
    assert output.shape == (1, 20, len(recogniser.characters))


def test_detector_returns_a_probability_map_of_the_input_size() -> None:
    probs = load_detector(DetectionModel.PP_OCRV4)(np.zeros((1, 3, 64, 96), np.float32))
    assert probs.shape == (1, 1, 64, 96)
    assert float(probs.max()) <= 1.0


def test_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        plate_models._RECOGNITION_FILES, RecognitionModel.PP_OCRV4, ("no_such_model_package", "models/x.onnx")
    )
    with pytest.raises(PlateOcrError, match="no_such_model_package"):
        load_recogniser(RecognitionModel.PP_OCRV4)
