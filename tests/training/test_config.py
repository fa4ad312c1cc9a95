"""TrainConfig validates itself and names the field at fault."""

from __future__ import annotations

import pytest

from training.config import DEFAULT_VARIANT, TrainConfig


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("variant", "both"),
        ("loss", "hinge"),
        ("batch_size", 7),
        ("min_examples_per_class", 1),
        ("eval_fraction", 0.0),
        ("max_seq_length", 4),
        ("device", "tpu"),
        ("head_c", 0.0),
        ("shots_per_class", 1),
        ("self_train_rounds", -1),
        ("self_train_rounds", 11),
        ("self_train_per_class", 0),
        ("self_train_pool_max", -1),
        ("self_train_body_epochs", -1),
        ("self_train_body_epochs", 11),
        ("head_jobs", 0),
    ],
)
def test_invalid_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"`{field}`"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "requirement"),
    [
        ("seed", "abc", "a whole number"),
        ("batch_size", 64.0, "a whole number"),
        ("epochs", 2.5, "a whole number"),
        ("max_steps", True, "a whole number or None"),
        ("self_train_pool_max", 1.5, "a whole number"),
        ("class_texts", "no", "true or false"),
        ("calibrate_head", 1, "true or false"),
        ("head_c", float("inf"), "a finite number"),
        ("eval_fraction", "0.2", "a finite number"),
    ],
)
def test_values_of_the_wrong_type_are_refused(field: str, value: object, requirement: str) -> None:
    """A config file is not type-checked: a string seed or a float batch size must not reach training."""
    with pytest.raises(ValueError, match=f"`{field}` must be {requirement}, got"):
        TrainConfig(**{field: value})


def test_a_whole_number_is_a_number() -> None:
    assert TrainConfig(head_c=10, body_learning_rate=1e-5).head_c == 10


def test_cpu_cap_applies_on_cpu_only() -> None:
    config = TrainConfig(max_steps=None, cpu_max_steps=30)
    assert config.step_cap("cpu") == 30
    assert config.step_cap("cuda") is None
    assert config.full_schedule().step_cap("cpu") is None
    assert TrainConfig(max_steps=10, cpu_max_steps=30).step_cap("cpu") == 10


def test_round_trip_and_unknown_fields() -> None:
    config = TrainConfig(seed=3, loss="supcon")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    assert TrainConfig().variant == DEFAULT_VARIANT
