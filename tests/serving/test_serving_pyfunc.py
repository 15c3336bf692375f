"""The pyfunc model: params to a GenerationConfig, inputs to prompts, predict, and the logged
model loaded by MLflow in a fresh process (runs:/ and models:/...@champion)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata
from types import SimpleNamespace

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from gptlab.generation import GenerationConfig
from gptlab.serving import pyfunc_model
from gptlab.serving.log_model import pip_requirements, signature
from gptlab.serving.pyfunc_model import PARAMS, GptlabTextGenerator, generation_config, prompts_of
from tests.helpers import compose
from tests.evaluation.pipeline_fixtures import (  # noqa: F401 - fixtures
    base_overrides,
    mlflow_overrides,
    pipeline_copy,
    strict_char_model_dir,
    trained_pipeline,
)


def invalid(match: str):
    return pytest.raises(MlflowException, match=match)


# --- params ---------------------------------------------------------------------------


def test_defaults_are_the_signature_s():
    cfg = generation_config(None)
    assert (cfg.strategy, cfg.max_new_tokens, cfg.temperature, cfg.top_k, cfg.top_p, cfg.seed, cfg.stop_strings) == (
        "sample", GenerationConfig().max_new_tokens, 1.0, None, None, None, ()
    )  # fmt: skip
    params = {p.name: p for p in signature().params.params}
    assert set(params) == set(PARAMS) == {
        "max_new_tokens", "decoding", "temperature", "top_k", "top_p", "num_beams", "seed", "stop"
    }  # fmt: skip
    assert {name: p.default for name, p in params.items()} == pyfunc_model.param_defaults()


def test_params_map_onto_the_generation_config():
    cfg = generation_config({"decoding": "beam", "num_beams": 3, "max_new_tokens": 7, "stop": ["\n\n"], "seed": 5})
    assert (cfg.strategy, cfg.num_beams, cfg.max_new_tokens, cfg.stop_strings, cfg.seed) == ("beam", 3, 7, ("\n\n",), 5)
    assert generation_config({"top_p": 0.9, "top_k": 40, "temperature": 0.7}).top_p == 0.9


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"top_p": 2.0}, r"^top_p must be in \(0, 1\], got 2.0$"),
        ({"top_p": 0.0}, r"^top_p must be in"),
        ({"decoding": "nucleus"}, r"^decoding must be one of greedy, sample, beam, got 'nucleus'$"),
        ({"temperature": 0.0}, r"^temperature must be > 0 for decoding=sample"),
        ({"max_new_tokens": 0}, r"^max_new_tokens must be >= 1, got 0$"),
        ({"max_new_tokens": 100_000}, r"^max_new_tokens must be <= 2048 on this server"),
        ({"num_beams": 1000}, r"^num_beams must be <= 32"),
        ({"top_k": 0}, r"^top_k must be >= 1"),
        ({"seed": -1}, r"^seed must be >= 0"),
        ({"stop": [""]}, r"^stop must hold non-empty strings"),
        ({"max_new_tokens": None}, r"^max_new_tokens: None is not an int$"),
    ],
)
def test_bad_values_are_one_line_invalid_parameter_errors(params, message):
    with invalid(message) as excinfo:
        generation_config(params)
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
    assert excinfo.value.get_http_status_code() == 400
    assert "\n" not in excinfo.value.message and "generation." not in excinfo.value.message


# --- inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_input",
    [["ROMEO:", "JULIET:"], ("ROMEO:", "JULIET:"), pd.Series(["ROMEO:", "JULIET:"]),
     pd.DataFrame({"prompt": ["ROMEO:", "JULIET:"]}), pd.DataFrame({0: ["ROMEO:", "JULIET:"]})],
)  # fmt: skip
def test_a_list_or_a_one_column_frame_of_prompts(model_input):
    assert prompts_of(model_input) == ["ROMEO:", "JULIET:"]


def test_one_string_is_one_prompt_and_other_inputs_are_refused():
    assert prompts_of("ROMEO:") == ["ROMEO:"]
    with invalid("one column of prompts, got 2 columns"):
        prompts_of(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    with invalid("prompt 1 must be a string, got int"):
        prompts_of(["x", 3])
    with invalid("must be a list of prompt strings, got dict"):
        prompts_of({"prompt": "x"})


# --- predict on a (random) model directory ---------------------------------------------


@pytest.fixture(scope="module")
def generator(strict_char_model_dir) -> GptlabTextGenerator:
    model = GptlabTextGenerator()
    context = SimpleNamespace(artifacts={"model_dir": str(strict_char_model_dir)}, model_config={"device": "cpu"})
    model.load_context(context)
    return model


def test_predict_returns_one_text_per_prompt(generator):
    texts = generator.predict(None, ["ROMEO:", "JULIET:"], {"max_new_tokens": 12, "decoding": "greedy"})
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    frame = pd.DataFrame({"p": ["ROMEO:", "JULIET:"]})
    assert generator.predict(None, frame, {"max_new_tokens": 12, "decoding": "greedy"}) == texts  # greedy: the same input the other way gives the same texts


def test_seeded_sampling_is_reproducible(generator):
    def sample(seed):
        return generator.predict(None, ["ROMEO:"] * 3, {"max_new_tokens": 24, "seed": seed})

    assert sample(7) == sample(7)
    assert len({tuple(sample(seed)) for seed in range(4)}) > 1


def test_a_prompt_the_tokenizer_refuses_is_an_invalid_parameter(generator):
    with invalid(r"^character '\u20ac' \(U\+20AC\) at offset 7 is not in the char tokenizer's vocabulary") as excinfo:
        generator.predict(None, ["ROMEO: \u20ac"], {"max_new_tokens": 4})
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_pip_requirements_are_gptlab_and_its_own_torch_range():
    from packaging.requirements import Requirement

    gptlab, torch = pip_requirements()
    assert gptlab == f"gptlab=={metadata.version('gptlab')}"
    declared = [Requirement(r) for r in metadata.requires("gptlab") if Requirement(r).name == "torch"]
    assert Requirement(torch).name == "torch" and Requirement(torch).specifier == declared[0].specifier
    assert Requirement(torch).specifier.contains(metadata.version("torch").split("+")[0])


# --- the logged model, in a fresh process ------------------------------------------------

LOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import mlflow

    out = {}
    for uri in sys.argv[1:]:
        model = mlflow.pyfunc.load_model(uri)
        seeded = {"max_new_tokens": 16, "seed": 3, "temperature": 0.8}
        out[uri] = {
            "greedy": model.predict(["ROMEO:", "JULIET:"], params={"max_new_tokens": 16, "decoding": "greedy"}),
            "seeded": [model.predict(["ROMEO:"], params=seeded) for _ in range(2)],
            "requirements": open(mlflow.pyfunc.get_model_dependencies(uri)).read().split(),
            "input_example": model.input_example,
        }
        try:
            model.predict(["ROMEO:"], params={"top_p": 2.0})
        except mlflow.exceptions.MlflowException as exc:
            out[uri]["bad"] = [exc.error_code, exc.message]
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_the_logged_model_loads_from_the_run_and_the_champion_in_a_fresh_process(pipeline_copy, subprocess_env):
    from gptlab import evaluate, publish

    cfg = compose(*base_overrides(*mlflow_overrides(pipeline_copy)))
    evaluate.run(cfg)
    publish.run(cfg)  # logs runs:/<id>/model, registers v1, makes it the champion
    run_id = json.loads((pipeline_copy / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]
    uris = [f"runs:/{run_id}/model", "models:/gptlab-file-char@champion"]
    env = {**subprocess_env, "MLFLOW_TRACKING_URI": f"sqlite:///{pipeline_copy / 'mlflow.db'}"}
    res = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, *uris], cwd=pipeline_copy, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    by_run, by_alias = out[uris[0]], out[uris[1]]
    assert len(by_run["greedy"]) == 2 and by_run["greedy"] == by_alias["greedy"]  # one model, two names
    assert by_run["seeded"][0] == by_run["seeded"][1] == by_alias["seeded"][0]
    assert by_run["bad"][0] == "INVALID_PARAMETER_VALUE" and by_run["bad"][1].startswith("top_p must be in (0, 1]")
    assert f"gptlab=={metadata.version('gptlab')}" in by_run["requirements"]
    assert any(r.startswith("torch") and "<3" in r for r in by_run["requirements"])
    assert by_run["input_example"] == ["ROMEO:"]
