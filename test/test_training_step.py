"""The trainable forward pass: one [SEG] read-out for training and inference, LISA's losses,
gradients only where the recipe says, LoRA only on the configured modules."""
import copy
import random

import numpy as np
import pytest
import torch

from instructpart_ros.model import load_segmenter
from instructpart_ros.model.pisa_checkpoint import load_pisa
from instructpart_ros.model.prompt import DEFAULT_INSTRUCTION_SUFFIX, build_prompt_ids
from instructpart_ros.model.tiny import write_tiny_checkpoints
from instructpart_ros.training.conversation import ANSWERS, PART_NAME_QUESTIONS, build_conversation
from instructpart_ros.training.data import TrainingItem, collate
from instructpart_ros.training.losses import mask_bce, mask_dice
from instructpart_ros.training.recipe import load_recipe
from instructpart_ros.training.step import SegmentationTraining
from instructpart_ros.training.trainable import configure_trainable, freeze_unreached
from instructpart_ros.model.clip_preprocessing import clip_pixels

INSTRUCTIONS = ("If I want to cut the bread, which part of the knife should I hold?", "handle of the mug")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_checkpoints(tmp_path_factory.mktemp("tiny"), kind="pisa", seed=0)


def loaded_pisa(tiny):
    return load_pisa(tiny["checkpoint"], tiny["vision_tower"], tiny["dinov2"], torch.device("cpu"), torch.float32)


def rgb_image(height, width, seed):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def item(loaded, rgb, instruction, answer_ids=None, seed=0):
    prompt = build_prompt_ids(loaded.tokenizer, instruction, DEFAULT_INSTRUCTION_SUFFIX, loaded.use_im_start_end)
    answer_ids = answer_ids or loaded.tokenizer.encode_text(ANSWERS[1]) + [loaded.tokenizer.eos_token_id]
    mask = np.zeros(rgb.shape[:2], bool)
    mask[rgb.shape[0] // 4: rgb.shape[0] // 2, rgb.shape[1] // 3:] = True
    return TrainingItem(f"s{seed}", "human", rgb, mask, clip_pixels(rgb, loaded.clip_processor, torch.device("cpu")),
                        prompt, answer_ids)


def test_training_reads_the_same_seg_state_as_teacher_forced_inference(tiny):
    """Same image, instruction and forced answer: the [SEG] prompt embedding the loss trains is the
    one `instructpart eval --mode teacher_forced` uses, also when sequences of another length pad the batch."""
    segmenter = load_segmenter(kind="pisa", **tiny, device="cpu", dtype="float32")
    loaded = loaded_pisa(tiny)
    training = SegmentationTraining(loaded.model, load_recipe().loss).eval()
    rgbs = [rgb_image(60, 80, 1), rgb_image(48, 64, 2)]
    items = [item(loaded, rgb, text, segmenter.teacher_forced_ids, seed=i)
             for i, (rgb, text) in enumerate(zip(rgbs, INSTRUCTIONS))]
    batch = collate(items)
    assert len(batch.prompts[0].after_image) != len(batch.prompts[1].after_image)  # padding is exercised
    mllm = loaded.model.mllm
    with torch.no_grad():
        features = mllm.encode_image(batch.clip_pixels)
        prompts = [mllm.prompt_embeddings(p, features[i:i + 1]) for i, p in enumerate(batch.prompts)]
        trained = mllm.seg_prompt(mllm.teacher_forced_batch(prompts, batch.answers).seg_hidden)
    for index, (rgb, text) in enumerate(zip(rgbs, INSTRUCTIONS)):
        inference = segmenter.segment(rgb, text, mode="teacher_forced").prompt_embedding
        torch.testing.assert_close(trained[index:index + 1], inference, rtol=0, atol=1e-5)


def test_losses_compare_masks_at_the_original_image_size(tiny):
    loaded = loaded_pisa(tiny)
    training = SegmentationTraining(loaded.model, load_recipe().loss).train()
    batch = collate([item(loaded, rgb_image(97, 131, 3), INSTRUCTIONS[0])])
    captured = {}
    original = mask_bce

    def spy(logits, target):
        captured["shape"] = tuple(logits.shape)
        return original(logits, target)

    import instructpart_ros.training.losses as losses
    losses.mask_bce, saved = spy, losses.mask_bce
    try:
        out = training(batch)
    finally:
        losses.mask_bce = saved
    assert captured["shape"] == (97, 131)
    expected = 1.0 * out["ce"] + 2.0 * out["bce"] + 0.5 * out["dice"]
    torch.testing.assert_close(out["total"], expected)


def test_bce_and_dice_follow_lisas_definitions():
    logits = torch.tensor([[2.0, -1.0], [0.5, -3.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = logits.sigmoid()
    bce = -(target * p.log() + (1 - target) * (1 - p).log()).mean()
    torch.testing.assert_close(mask_bce(logits, target), bce)
    dice = 1 - (2 * (p * target).sum() / 1000 + 1e-6) / ((p.sum() + target.sum()) / 1000 + 1e-6)
    torch.testing.assert_close(mask_dice(logits, target), dice)
    assert float(mask_dice(torch.full((4, 4), 20.0), torch.ones(4, 4))) < 1e-6  # perfect mask: no loss


def test_conversation_uses_lisas_templates_and_the_inference_prompt():
    class FakeTokenizer:  # records text; the prompt layout is what is checked
        eos_token_id = 2

        def encode_text(self, text, add_bos=False):
            return ([1] if add_bos else []) + [hash(w) % 1000 + 10 for w in text.split()]

    rng = random.Random(0)
    sentence = build_conversation(FakeTokenizer(), "Which part do I hold?", "human", "lisa", rng)
    assert sentence.question in ("Which part do I hold? Please respond with segmentation mask.",
                                 "Which part do I hold? Please output segmentation mask.")
    assert sentence.answer in ANSWERS and sentence.answer_ids[-1] == 2
    name = build_conversation(FakeTokenizer(), "handle of the kettle", "op", "lisa", rng)
    assert name.question in {t.format(class_name="handle of the kettle") for t in PART_NAME_QUESTIONS}
    inference = build_conversation(FakeTokenizer(), "handle of the kettle", "op", "inference", rng)
    assert inference.question == f"handle of the kettle {DEFAULT_INSTRUCTION_SUFFIX}"


def one_step(training, batch, lr=1e-3):
    parameters = [p for p in training.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    training(batch)["total"].backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def test_lora_only_on_the_configured_modules_and_gradients_only_where_the_recipe_says(tiny):
    loaded = loaded_pisa(tiny)
    recipe = load_recipe(overrides=["trainable.lora.dropout=0.0"])
    names = configure_trainable(loaded.model, recipe.trainable)
    lora_modules = {name.rsplit(".lora_", 1)[0] for name in names if ".lora_" in name}
    assert lora_modules and all(name.endswith(("q_proj", "v_proj")) for name in lora_modules)
    assert all(".language_model." in name for name in lora_modules)
    assert len(lora_modules) == 2 * loaded.model.mllm.language_model.config.num_hidden_layers
    groups = {name.split(".")[1] if name.startswith("mllm.") else name.split(".")[0] for name in names
              if ".lora_" not in name}
    assert groups == {"text_hidden_fcs", "mask_decoder", "image_encoder"}
    assert not any(name.startswith(("image_encoder.dinov2.", "mllm.vision_tower.", "mllm.mm_projector."))
                   for name in names)

    training = SegmentationTraining(loaded.model, recipe.loss).train()
    batch = collate([item(loaded, rgb_image(64, 80, 4), INSTRUCTIONS[0]),
                     item(loaded, rgb_image(72, 56, 5), INSTRUCTIONS[1], seed=1)])
    training(batch)["total"].backward()
    frozen_by_use = freeze_unreached(training)
    assert all("iou_prediction_head" in n or "output_hypernetworks_mlps" in n for n in frozen_by_use)
    before = copy.deepcopy({n: p.detach().clone() for n, p in training.named_parameters()})
    trainable = {n for n, p in training.named_parameters() if p.requires_grad}
    one_step(training, batch)
    after = dict(training.named_parameters())
    unchanged = {n for n in trainable if torch.equal(before[n], after[n])}
    # LoRA's A gets an exactly zero first gradient because B starts at zero; everything else moves.
    assert unchanged == {n for n in trainable if ".lora_A." in n}
    for name, tensor in after.items():
        if name not in trainable:
            assert torch.equal(before[name], tensor), f"frozen {name} changed"
    one_step(training, batch)
    assert all(not torch.equal(before[n], dict(training.named_parameters())[n]) for n in unchanged)
