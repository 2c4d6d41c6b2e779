"""A training session's options (mcmot.training.session): one definition that every
``run_pretrain*`` entry point takes as keywords."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcmot.progress import ProgressEvent
from mcmot.stages.pretrain import run_pretrain
from mcmot.stages.pretrain_clips import run_pretrain_clips
from mcmot.stages.pretrain_cross_input import run_pretrain_cross_input
from mcmot.training.session import Session, SessionOptions

ENTRY_POINTS = [run_pretrain, run_pretrain_clips, run_pretrain_cross_input]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_training_entry_point_rejects_an_unknown_session_keyword(
    entry: Callable[..., Any], tmp_path: Path
):
    with pytest.raises(TypeError, match="resum"):
        entry([tmp_path / "scene"], tmp_path / "run", None, resum=True)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_training_entry_point_takes_the_session_options_by_keyword_only(
    entry: Callable[..., Any], tmp_path: Path
):
    with pytest.raises(TypeError):
        entry([tmp_path / "scene"], tmp_path / "run", None, True)


def test_the_entry_points_keywords_are_the_sessions_fields():
    fields = {f.name for f in dataclasses.fields(Session) if f.init}
    assert set(SessionOptions.__annotations__) == fields
    assert SessionOptions.__optional_keys__ == fields


def test_a_session_counts_its_budget_from_the_given_start():
    session = Session(started=100.0)
    assert session.t_start == 100.0
    assert session.deadline(1.5) == 190.0
    assert session.deadline(None) is None


def test_a_session_without_a_start_counts_from_when_it_is_made():
    before = time.perf_counter()
    session = Session()
    assert before <= session.t_start <= time.perf_counter()
    assert session.elapsed() >= 0.0


def test_a_session_hands_messages_and_progress_to_its_callbacks():
    said: list[str] = []
    events: list[ProgressEvent] = []
    event = ProgressEvent("pretrain", 1, 2)
    Session(log=said.append, progress=events.append).say("hello")
    Session(log=said.append, progress=events.append).report(event)
    assert said == ["hello"] and events == [event]
    Session().say("nobody listens")
    Session().report(event)
