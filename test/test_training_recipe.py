"""Recipes: the shipped files load, overrides apply, and mistakes name the field and the file."""
import argparse
import pathlib

import pytest

from instructpart_ros.cli import build_parser
from instructpart_ros.training.command import recipe_overrides
from instructpart_ros.training.recipe import RecipeError, load_recipe

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "config"


@pytest.mark.parametrize("name, init, kind", [("pisa_instructpart", "pisa_from_lisa", "pisa"),
                                               ("lisa_instructpart", "lisa", "lisa"),
                                               ("train_tiny_synth", "tiny", "pisa")])
def test_every_shipped_recipe_loads(name, init, kind):
    recipe = load_recipe(CONFIG / f"{name}.yaml")
    assert (recipe.name, recipe.model.init, recipe.model.kind) == (name, init, kind)


def test_the_paper_recipes_keep_lisas_settings():
    recipe = load_recipe(CONFIG / "pisa_instructpart.yaml")
    lora = recipe.trainable.lora
    assert (lora.r, lora.alpha, lora.dropout, lora.target_modules) == (8, 16, 0.05, ["q_proj", "v_proj"])
    assert (recipe.optim.lr, recipe.optim.betas, recipe.optim.weight_decay) == (3e-4, [0.9, 0.95], 0.0)
    assert (recipe.optim.warmup_steps, recipe.optim.grad_clip) == (100, 1.0)
    assert (recipe.loss.ce, recipe.loss.bce, recipe.loss.dice) == (1.0, 2.0, 0.5)
    assert not recipe.trainable.dinov2 and not recipe.trainable.vision_tower and not recipe.trainable.mm_projector


def test_overrides_from_flags_and_set():
    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--lr", "1e-4", "--val-split", "none",
                                      "--train-samples", "600", "--set", "loss.iou=0.5"])
    recipe = load_recipe(CONFIG / "pisa_instructpart.yaml", recipe_overrides(args))
    assert recipe.optim.lr == 1e-4 and recipe.data.val_split is None
    assert recipe.data.train_samples == 600 and recipe.loss.iou == 0.5


@pytest.mark.parametrize("override, message", [
    ("optim.learning_rate=1", r"optim: unknown field\(s\) learning_rate; known: .*lr"),
    ("run.micro_batch=two", r"run.micro_batch must be an integer, got 'two'"),
    ("run.strategy=deepspeed", r"run.strategy='deepspeed' is not one of ddp, fsdp"),
    ("data.instructions=[human, shouted]", r"data.instructions must name some of human, gpt"),
    ("trainable.llm=true", r"trainable.llm trains the whole LLM; set trainable.lora to null"),
    ("optim.lr", r"expected section.field=value"),
])
def test_mistakes_name_the_field_and_the_file(override, message):
    with pytest.raises(RecipeError, match=message) as error:
        load_recipe(CONFIG / "pisa_instructpart.yaml", [override])
    if "expected" not in message:
        assert "pisa_instructpart.yaml" in str(error.value)


def test_a_missing_recipe_file_says_where_to_look(tmp_path):
    with pytest.raises(RecipeError, match=r"recipe .*nope.yaml does not exist: pass one of the files in config/"):
        load_recipe(tmp_path / "nope.yaml")
