import pytest

from storyspace.config import ExploreConfig, build_config, from_dict, read_toml, to_dict
from storyspace.errors import UserError


def test_defaults_then_file_then_overrides() -> None:
    cfg = build_config({"seed": 3, "search": {"simulations": 5, "selection": "puct"}}, {"search": {"simulations": 7}})
    assert cfg.seed == 3 and cfg.search.simulations == 7 and cfg.search.selection == "puct"
    assert cfg.policy == ExploreConfig().policy


def test_round_trip_through_plain_data() -> None:
    cfg = build_config({"value": {"penalties": {"cut_off_factor": 0.25}}}, {})
    assert from_dict(ExploreConfig, to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "data, message",
    [
        ({"search": {"simulations": 0}}, "search.simulations must be positive"),
        ({"search": {"retries": -1}}, "search.retries must be >= 0"),
        ({"search": {"simulations": "many"}}, "must be of type int"),
        ({"search": {"final": "longest"}}, "search.final must be visits or story"),
        ({"search": {"bogus": 1}}, "unknown setting 'bogus'"),
        ({"search": {"selection": "random"}}, "uct or puct"),
        ({"value": {"coherence": "vibes"}}, "value.coherence"),
        ({"policy": {"plan": "yes"}}, "must be of type bool"),
        ({"search": 3}, "must be a table"),
        ({"value": {"penalties": {"meta_patterns": [1, 2]}}}, "list of strings"),
    ],
)
def test_bad_settings_raise_one_line_errors(data, message) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=message) as info:
        build_config(data, {})
    assert "\n" not in str(info.value)


def test_read_toml_errors(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.toml"
    bad.write_text("[search\nsimulations = 3")
    with pytest.raises(UserError, match="invalid TOML"):
        read_toml(bad)
    with pytest.raises(UserError, match="not found"):
        read_toml(tmp_path / "missing.toml")
    good = tmp_path / "good.toml"
    good.write_text('seed = 4\n[search]\nsimulations = 2\n')
    assert build_config(read_toml(good), {}).search.simulations == 2


def test_list_settings_become_tuples() -> None:
    cfg = build_config({"value": {"penalties": {"meta_patterns": ["\\bfoo\\b"]}}}, {})
    assert cfg.value.penalties.meta_patterns == ("\\bfoo\\b",)


def test_backend_settings_come_from_the_file_and_reach_the_pool_options() -> None:
    cfg = build_config({"models": {"backend": "llamacpp", "llamacpp": {"max_rows": 8},
                                   "openai": {"retries": 1, "score_prefix": "<s>"}}}, {})
    options = cfg.models.options()
    assert cfg.models.policy_spec == "llamacpp:embedded" and options.llamacpp.max_rows == 8
    assert options.openai.retries == 1 and options.openai.score_prefix == "<s>"
    with pytest.raises(UserError, match="models.backend must be hf or llamacpp"):
        build_config({"models": {"backend": "tpu"}}, {})
    with pytest.raises(UserError, match="banks >= 2"):
        build_config({"models": {"llamacpp": {"banks": 1}}}, {})
    with pytest.raises(UserError):
        build_config({"models": {"openai": {"retries": "many"}}}, {})


def test_retired_settings_of_older_files_are_ignored() -> None:
    from storyspace.config import ExploreConfig, from_dict, to_dict

    data = to_dict(ExploreConfig())
    data["models"]["openai"]["backoff_s"] = 0.5  # written by versions before the openai client
    assert from_dict(ExploreConfig, data) == ExploreConfig()


def test_the_writer_preset_is_shipped_and_read_by_name(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """``--config writer`` (what ``make run`` and ``make studio`` pass) reads the shipped preset: the
    1.5B writer on llama.cpp steered by MCTS at about 4 units; a file of that name wins."""
    from storyspace.config import presets

    assert "writer" in presets()
    cfg = build_config(read_toml("writer"), {})
    assert cfg.models.policy_spec == "llamacpp:qwen2.5-coder-1.5b" and cfg.models.reference == "embedded"
    assert (cfg.search.simulations, cfg.search.children, cfg.search.parallel_leaves) == (4, 4, 1)
    assert cfg.search.skip_finished and cfg.value.reward_cap == 0.05
    assert build_config(read_toml("writer"), {"search": {"simulations": 9}}).search.simulations == 9
    monkeypatch.chdir(tmp_path)
    (tmp_path / "writer").write_text("[search]\nsimulations = 2\n")
    assert read_toml("writer") == {"search": {"simulations": 2}}
    with pytest.raises(UserError, match="shipped presets: writer"):
        read_toml("writter")
