"""k-of-n voting over frames, windows, cooldowns, unknown persons, and config validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.vision.face_config import EnrolmentConfig, FacePipelineConfig, VotingConfig
from edge.vision.face_voting import FaceVoter, VoteOutcome


def run(voter: FaceVoter, frames: list[tuple[set[str], bool]], start: float = 0.0, step: float = 0.1) -> list:
    """Feed frames at a fixed rate; return (frame index, decision) pairs."""
    out = []
    for index, (identities, unknown) in enumerate(frames):
        for decision in voter.observe(identities, unknown, start + index * step):
            out.append((index, decision))
    return out


def test_one_lucky_frame_does_not_recognise() -> None:
    voter = FaceVoter(VotingConfig(k=3, n=5))
    assert run(voter, [({"amy"}, False), (set(), False), (set(), False), (set(), False), (set(), False)]) == []


def test_k_of_n_frames_recognise_once() -> None:
    voter = FaceVoter(VotingConfig(k=3, n=5, cooldown_s=10))
    frames = [({"amy"}, False), (set(), True), ({"amy"}, False), (set(), False), ({"amy"}, False)] + [
        ({"amy"}, False)
    ] * 5
    decisions = run(voter, frames)
    assert [(i, d.outcome, d.person_id, d.votes) for i, d in decisions] == [(4, VoteOutcome.RECOGNISED, "amy", 3)]


def test_votes_outside_the_last_n_frames_do_not_count() -> None:
    voter = FaceVoter(VotingConfig(k=2, n=3))
    frames = [({"amy"}, False), (set(), False), (set(), False), ({"amy"}, False)]
    assert run(voter, frames) == []


def test_votes_older_than_the_time_window_do_not_count() -> None:
    voter = FaceVoter(VotingConfig(k=2, n=5, window_s=1.0))
    assert voter.observe({"amy"}, False, 0.0) == []
    assert voter.observe({"amy"}, False, 1.5) == []
    assert [d.person_id for d in voter.observe({"amy"}, False, 2.0)] == ["amy"]


def test_disagreeing_frames_do_not_recognise_either_person() -> None:
    voter = FaceVoter(VotingConfig(k=3, n=5))
    assert run(voter, [({"amy"}, False), ({"bob"}, False)] * 2 + [({"amy"}, False)])[0][1].person_id == "amy"
    voter = FaceVoter(VotingConfig(k=3, n=4))
    assert run(voter, [({"amy"}, False), ({"bob"}, False)] * 3) == []


def test_cooldown_then_fresh_votes_needed() -> None:
    voter = FaceVoter(VotingConfig(k=2, n=3, cooldown_s=2.0))
    decisions = run(voter, [({"amy"}, False)] * 30, step=0.25)
    assert [i for i, _ in decisions] == [1, 9, 17, 25]


def test_two_people_in_one_window_are_both_recognised() -> None:
    voter = FaceVoter(VotingConfig(k=2, n=3))
    decisions = run(voter, [({"amy", "bob"}, False), ({"amy", "bob"}, False)])
    assert sorted(d.person_id for _, d in decisions) == ["amy", "bob"]


def test_unknown_person_after_k_unmatched_frames() -> None:
    voter = FaceVoter(VotingConfig(k=3, n=5, unknown_k=2))
    decisions = run(voter, [(set(), True), (set(), False), (set(), True)])
    assert [(i, d.outcome, d.person_id) for i, d in decisions] == [(2, VoteOutcome.UNKNOWN_PERSON, None)]


def test_no_unknown_alarm_while_a_known_person_hovers_near_the_threshold() -> None:
    voter = FaceVoter(VotingConfig(k=3, n=5, unknown_k=2))
    decisions = run(voter, [({"amy"}, False), (set(), True), (set(), True), ({"amy"}, False), ({"amy"}, False)])
    assert [(d.outcome, d.person_id) for _, d in decisions] == [(VoteOutcome.RECOGNISED, "amy")]


def test_reset_forgets_votes() -> None:
    voter = FaceVoter(VotingConfig(k=2, n=3))
    voter.observe({"amy"}, False, 0.0)
    voter.reset()
    assert voter.observe({"amy"}, False, 0.1) == []


def test_config_rejects_k_above_n_and_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        VotingConfig(k=4, n=3)
    with pytest.raises(ValidationError):
        VotingConfig(k=2, n=3, unknown_k=5)
    with pytest.raises(ValidationError):
        FacePipelineConfig.model_validate({"matcher": {"threshold": 0.5, "treshold": 0.4}})


def test_every_config_field_has_a_description() -> None:
    models = [FacePipelineConfig, EnrolmentConfig]
    seen = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            annotation = field.annotation
            for candidate in getattr(annotation, "__args__", (annotation,)):
                if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
                    models.append(candidate)
    assert len(seen) >= 7
