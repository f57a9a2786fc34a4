"""recipes/labelled_logits.py: the LM head at labelled positions only gives the full forward's loss and gradients."""

from __future__ import annotations

import pytest
import torch

from recipes.labelled_logits import IGNORE_INDEX, LabelledLogitsPlugin, labelled_positions
from tests.tiny_models import build_tiny


def batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two rows, the second right-padded; labels on two spans of the first and one of the second."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (2, 24), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 18:] = 0
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 5:9] = ids[0, 5:9]
    labels[0, 15:20] = ids[0, 15:20]
    labels[1, 10:14] = ids[1, 10:14]
    return ids, mask, labels


def test_positions_are_those_before_a_label():
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 7, 8, IGNORE_INDEX], [IGNORE_INDEX, 3, IGNORE_INDEX] + [
        IGNORE_INDEX] * 2])
    keep, shifted = labelled_positions(labels)
    assert keep.tolist() == [0, 1, 2]
    assert shifted.tolist() == [[IGNORE_INDEX, 7, 8], [3, IGNORE_INDEX, IGNORE_INDEX]]
    keep, _ = labelled_positions(torch.full((1, 4), IGNORE_INDEX))
    assert keep.tolist() == [3]  # none labelled: one position kept, the loss is the full forward's (nan)


@pytest.mark.parametrize("items", [None, 13])
def test_loss_and_lora_gradients_equal_the_full_forward(tmp_path, items):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    path = build_tiny("llama", tmp_path / "tiny")
    runs = []
    for plugin in (False, True):
        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
                               LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
        if plugin:
            LabelledLogitsPlugin().post_model_load({}, model)
        model.train()
        ids, mask, labels = batch(model.config.vocab_size)
        extra = {} if items is None else {"num_items_in_batch": torch.tensor(items)}
        out = model(input_ids=ids, attention_mask=mask, labels=labels, **extra)
        out.loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        runs.append((out.loss.detach(), out.logits.shape, grads))
    (full_loss, full_shape, full_grads), (loss, shape, grads) = runs
    assert torch.allclose(loss, full_loss, rtol=1e-5, atol=1e-6)
    assert full_shape[1] == 24 and shape[1] == 13  # the 4 + 5 + 4 positions before a label
    for name, grad in full_grads.items():
        assert torch.allclose(grads[name], grad, rtol=1e-4, atol=1e-6), name


def test_evaluation_mode_keeps_every_logit(tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(build_tiny("llama", tmp_path / "tiny"))
    LabelledLogitsPlugin().post_model_load({}, model)
    model.eval()
    ids, mask, labels = batch(model.config.vocab_size)
    assert model(input_ids=ids, attention_mask=mask, labels=labels).logits.shape[1] == 24
