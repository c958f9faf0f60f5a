"""Configuration models of the face pipeline, meant to be embedded in the edge and server configs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    """Base of the face config models: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionOfInterest(_Strict):
    """A rectangle of the frame, in fractions of its width and height, where faces are searched."""

    x: float = Field(0.0, ge=0.0, lt=1.0, description="Left edge as a fraction of the frame width.")
    y: float = Field(0.0, ge=0.0, lt=1.0, description="Top edge as a fraction of the frame height.")
    width: float = Field(1.0, gt=0.0, le=1.0, description="Width as a fraction of the frame width.")
    height: float = Field(1.0, gt=0.0, le=1.0, description="Height as a fraction of the frame height.")

    @model_validator(mode="after")
    def _inside_frame(self) -> RegionOfInterest:
        """Reject regions that reach past the right or bottom edge."""
        if self.x + self.width > 1.0 + 1e-9 or self.y + self.height > 1.0 + 1e-9:
            raise ValueError("region of interest must lie inside the frame (x + width <= 1, y + height <= 1)")
        return self


class DetectorConfig(_Strict):
    """How faces are found: dlib HOG on a (usually downscaled) copy of the frame."""

    upsample: int = Field(
        0, ge=0, le=3, description="HOG upsampling passes; each doubles cost and halves the smallest face found."
    )
    detect_max_side: int | None = Field(
        640,
        ge=64,
        description="Frames whose longer side exceeds this are downscaled to it for detection only "
        "(HOG then finds faces of about 80 px * original/detect_max_side and larger); null = never.",
    )
    detect_scale: float | None = Field(
        None, gt=0.0, le=4.0, description="Fixed detection scale factor; overrides detect_max_side when set."
    )
    retry_upsample: int | None = Field(
        None, ge=1, le=3, description="If no face is found, detect again with this upsample (for still photos)."
    )
    roi: RegionOfInterest | None = Field(
        None, description="Only search this part of the frame (per camera); null = the whole frame."
    )
    max_faces: int = Field(3, ge=1, le=50, description="Analyse at most this many faces per frame, largest first.")


class QualityConfig(_Strict):
    """When a detected face is good enough to decide on; otherwise no decision and the reason is kept."""

    min_face_px: int = Field(60, ge=20, description="Smallest face box side in full-resolution pixels that is encoded.")
    min_sharpness: float = Field(
        12.0,
        ge=0.0,
        description="Smallest variance of the Laplacian of the face resized to 96x96 grey (sharp faces "
        "score 50-800; a Gaussian blur of 2 % of the face width scores about 10-15).",
    )
    max_yaw_ratio: float = Field(
        0.45,
        gt=0.0,
        description="Largest sideways offset of the nose from the eye midpoint, in inter-eye distances "
        "(frontal faces score below 0.2).",
    )
    max_roll_deg: float = Field(40.0, gt=0.0, le=90.0, description="Largest tilt of the eye line in degrees.")


class MatcherConfig(_Strict):
    """When a face encoding matches an enrolled identity (Euclidean distance of dlib encodings)."""

    threshold: float = Field(
        0.55, gt=0.0, lt=2.0, description="Largest distance to the best identity that is accepted as a match."
    )
    margin: float = Field(
        0.04,
        ge=0.0,
        lt=2.0,
        description="The second-best identity must be at least this much farther than the best, else the "
        "match is ambiguous and refused.",
    )


class VotingConfig(_Strict):
    """Multi-frame decision: an identity is recognised only when k of the last n frames agree."""

    k: int = Field(3, ge=1, description="Frames that must agree on one identity before it is recognised.")
    n: int = Field(5, ge=1, description="Length of the sliding window of frames.")
    unknown_k: int | None = Field(
        None, ge=1, description="Frames with an unmatched good face before 'unknown person'; null = k."
    )
    window_s: float = Field(
        3.0, gt=0.0, description="Frames older than this many seconds leave the window, whatever n says."
    )
    cooldown_s: float = Field(
        5.0, ge=0.0, description="After a decision for an identity, do not repeat it for this many seconds."
    )

    @model_validator(mode="after")
    def _k_within_n(self) -> VotingConfig:
        """Reject k or unknown_k larger than the window."""
        if self.k > self.n or (self.unknown_k or self.k) > self.n:
            raise ValueError("k and unknown_k must not exceed n")
        return self


class FacePipelineConfig(_Strict):
    """Everything one gate camera's face recogniser needs (detector, quality gate, matcher, voting)."""

    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Face detection settings.")
    quality: QualityConfig = Field(default_factory=QualityConfig, description="Quality gate before encoding.")
    matcher: MatcherConfig = Field(default_factory=MatcherConfig, description="1:N match acceptance rules.")
    voting: VotingConfig = Field(default_factory=VotingConfig, description="Multi-frame decision rules.")
    num_jitters: int = Field(
        1, ge=1, le=20, description="dlib re-samples per encoding; higher is steadier but proportionally slower."
    )


class EnrolmentConfig(_Strict):
    """How enrolment photos are checked and turned into templates (stricter than at the gate)."""

    detector: DetectorConfig = Field(
        default_factory=lambda: DetectorConfig(upsample=0, detect_max_side=1024, retry_upsample=1, max_faces=10),
        description="Face detection settings for still photos.",
    )
    quality: QualityConfig = Field(
        default_factory=lambda: QualityConfig(min_face_px=80, min_sharpness=25.0, max_yaw_ratio=0.3),
        description="Quality a photo must have to become a template.",
    )
    other_face_ratio: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="A photo is refused as 'several faces' when another face's box side is at least this "
        "fraction of the largest face's; smaller faces (background, detector noise) are ignored.",
    )
    num_jitters: int = Field(1, ge=1, le=100, description="dlib re-samples per template encoding.")
