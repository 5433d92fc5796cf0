"""Settings: profiles, files and overrides layer; bad values are refused by key."""

import pytest

from cgcap.config import SettingsError, load_settings, parse_override


def test_defaults_are_the_papers_values():
    decoding = load_settings("paper").decoding
    assert (decoding.top_k, decoding.num_iterations, decoding.step_size) == (512, 5, 0.3)
    assert (decoding.lambda_fluency, decoding.lambda_cls, decoding.lambda_modality) == (0.2, 0.6, 1.0)
    assert (decoding.fusion, decoding.end_factor, decoding.forbidden_factor) == (0.99, 1.01, 20.0)
    assert decoding.modality_temperature == decoding.classifier_temperature == 0.01
    assert decoding.grad_norm_factor == 0.9 and decoding.max_tokens == 15
    assert decoding.classifier_form == "target"


def test_every_profile_loads_and_names_its_models():
    paper, offline, tiny = (load_settings(name) for name in ("paper", "offline", "tiny"))
    assert paper.models.language_model == "gpt2-medium"
    assert paper.models.image_encoder.startswith("open_clip:ViT-B-32")
    assert "clap" in paper.models.audio_encoder
    assert offline.models.language_model == "smollm2-135m"
    # Grounded without a hub: packaged taggers in MiniLM's sentence space, not random encoders.
    assert (offline.models.audio_encoder, offline.models.image_encoder) == ("yamnet-minilm", "efficientnet-lite2-minilm")
    assert all(spec.startswith("tiny:") for spec in
               (tiny.models.language_model, tiny.models.audio_encoder, tiny.models.image_encoder, tiny.models.classifier))


def test_override_changes_one_key_and_parses_its_type():
    settings = load_settings("tiny", overrides=["decoding.top_k=64", "decoding.step_size=0.5"])
    assert settings.decoding.top_k == 64 and settings.decoding.step_size == 0.5
    assert settings.decoding.num_iterations == load_settings("tiny").decoding.num_iterations


def test_prompt_override_stays_text_even_when_it_looks_like_a_number():
    assert load_settings("tiny", overrides=["decoding.prompt=1990"]).decoding.prompt == "1990"
    assert parse_override("decoding.prompt=Image of a") == {"decoding": {"prompt": "Image of a"}}


def test_config_file_sits_between_profile_and_overrides(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("decoding:\n  top_k: 32\n  beam_size: 5\n")
    settings = load_settings("tiny", config, ["decoding.beam_size=3"])
    assert settings.decoding.top_k == 32 and settings.decoding.beam_size == 3


@pytest.mark.parametrize(
    "override, key, allowed",
    [
        ("decoding.top_k=0", "decoding.top_k", "ge 1"),
        ("decoding.step_size=-0.1", "decoding.step_size", "ge 0"),
        ("decoding.max_tokens=0", "decoding.max_tokens", "ge 1"),
        ("decoding.fusion=1.5", "decoding.fusion", "le 1"),
        ("decoding.prompt=", "decoding.prompt", "min_length 1"),
    ],
)
def test_bad_value_is_refused_with_its_key_and_allowed_range(override, key, allowed):
    with pytest.raises(SettingsError) as refused:
        load_settings("tiny", overrides=[override])
    assert key in str(refused.value) and allowed in str(refused.value)


def test_unknown_key_wrong_type_and_unknown_profile_are_refused_by_name(tmp_path):
    with pytest.raises(SettingsError, match=r"decoding\.top_kay: unknown setting"):
        load_settings("tiny", overrides=["decoding.top_kay=3"])
    with pytest.raises(SettingsError, match=r"decoding\.classifier_form"):
        load_settings("tiny", overrides=["decoding.classifier_form=magic"])
    with pytest.raises(SettingsError, match=r"decoding\.beam_size"):
        load_settings("tiny", overrides=["decoding.beam_size=many"])
    with pytest.raises(SettingsError, match="unknown profile 'huge'.*offline"):
        load_settings("huge")
    with pytest.raises(SettingsError, match="must look like"):
        load_settings("tiny", overrides=["decoding.top_k"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("decoding: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings("tiny", broken)


def test_flat_view_names_every_setting_for_mlflow():
    flat = load_settings("tiny").flat()
    assert flat["decoding.top_k"] == 16 and flat["models.language_model"] == "tiny:gpt2"
    assert flat["profile"] == "tiny" and flat["serve.host"] == "127.0.0.1"


def test_config_path_that_is_a_folder_or_not_utf8_is_refused_by_name(tmp_path):
    with pytest.raises(SettingsError, match="is not a file"):
        load_settings("tiny", tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("decoding:\n  prompt: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings("tiny", latin)


def test_text_settings_stay_text_when_they_look_like_numbers():
    assert load_settings("tiny", overrides=["tracking.experiment=2024"]).tracking.experiment == "2024"


def test_code_defaults_are_the_papers_values():
    from cgcap.config import DecodingSettings

    decoding = DecodingSettings()
    assert (decoding.top_k, decoding.num_iterations, decoding.step_size, decoding.max_tokens) == (512, 5, 0.3, 15)
    assert (decoding.prompt, decoding.image_prompt) == ("Audio of a", "Image of a")


def test_classifier_weight_is_lambda1_or_w_times_lambda_mod_for_the_additive_form():
    from cgcap.config import DecodingSettings

    assert DecodingSettings(lambda_cls=0.6).classifier_weight == 0.6
    additive = DecodingSettings(classifier_form="additive", additive_weight=2.0, lambda_modality=0.0, lambda_cls=0.6)
    assert additive.classifier_weight == 0.0


@pytest.mark.parametrize("word", ["null", "~", "Null", ""])
def test_nullable_settings_take_null_from_overrides(word):
    settings = load_settings("tiny", overrides=[f"evaluation.bertscore_encoder={word}",
                                                f"models.judge_classifier={word}",
                                                f"evaluation.bertscore_layers={word}"])
    assert settings.evaluation.bertscore_encoder is None
    assert settings.models.judge_classifier is None and settings.evaluation.bertscore_layers is None


def test_text_settings_that_cannot_be_null_keep_the_word_null():
    assert load_settings("tiny", overrides=["decoding.prompt=null"]).decoding.prompt == "null"
    assert load_settings("tiny", overrides=["models.judge_classifier=tiny:x"]).models.judge_classifier == "tiny:x"


def test_a_sweep_value_of_null_turns_a_nullable_setting_off():
    from cgcap.evaluation.sweep import settings_with

    settings = load_settings("tiny", overrides=["models.judge_classifier=tiny:bert-classifier"])
    assert settings_with(settings, "models.judge_classifier", "~").models.judge_classifier is None
    assert settings_with(settings, "evaluation.bertscore_encoder", "null").evaluation.bertscore_encoder is None
