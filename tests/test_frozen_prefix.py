"""recipes/frozen_prefix.py: replaying the frozen layers' output trains the LoRA weights exactly as running them."""

from __future__ import annotations

import torch

from recipes.frozen_prefix import install
from tests.tiny_models import build_tiny


def lora_model(path, layers):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return get_peft_model(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False,
                                     layers_to_transform=layers))


def train(model, samples, epochs: int, bf16: bool) -> list[float]:
    """A few AdamW steps over ``samples``, one per step, ``epochs`` times; the losses."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for _ in range(epochs):
        for ids in samples:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(input_ids=ids[None], labels=ids[None], use_cache=False,
                             num_items_in_batch=torch.tensor(len(ids))).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
    return losses


def test_replayed_prefix_trains_the_same_weights(tmp_path):
    path = build_tiny("llama", tmp_path / "tiny", layers=4)
    g = torch.Generator().manual_seed(0)
    samples = [torch.randint(0, 1000, (n,), generator=g) for n in (12, 20, 16)]
    for bf16 in (False, True):
        runs = []
        for cached in (False, True):
            model = lora_model(path, [2, 3])
            model.enable_input_require_grads()  # as Axolotl's load_adapter does: every layer records autograd
            cache = None
            if cached:
                cache, why = install(model)
                assert cache is not None and cache.n == 2, why
            losses = train(model, samples, epochs=3, bf16=bf16)
            weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            runs.append((losses, weights, cache))
        (losses, weights, _), (cached_losses, cached_weights, cache) = runs
        assert cached_losses == losses
        assert all(torch.equal(cached_weights[n], w) for n, w in weights.items())
        assert (cache.misses, cache.hits) == (3, 6)  # each sample computed once, replayed in the next 2 epochs


def test_eval_mode_runs_every_layer(tmp_path):
    path = build_tiny("llama", tmp_path / "tiny", layers=4)
    model = lora_model(path, [2, 3]).eval()
    ids = torch.arange(10)[None]
    with torch.no_grad():
        before = model(input_ids=ids).logits
        cache, _ = install(model)
        after = model(input_ids=ids).logits
    assert torch.equal(before, after) and (cache.hits, cache.misses) == (0, 0)


def test_off_when_the_bottom_layer_trains_or_dropout_is_on(tmp_path):
    path = build_tiny("llama", tmp_path / "tiny", layers=4)
    cache, why = install(lora_model(path, None))
    assert cache is None and why == "layer 0 is the first that trains"
    model = lora_model(path, [3])
    model.get_base_model().config.attention_dropout = 0.1
    cache, why = install(model)
    assert cache is None and why == "attention dropout"


def test_least_recently_used_outputs_leave_first(tmp_path):
    path = build_tiny("llama", tmp_path / "tiny", layers=4)
    model = lora_model(path, [2, 3])
    one_sample = 16 * 64 * 4  # 16 positions x hidden 64 x fp32
    cache, _ = install(model, max_bytes=2 * one_sample)
    samples = [torch.full((16,), i) for i in range(3)]
    train(model, samples, epochs=1, bf16=False)
    assert len(cache.store) == 2 and cache.bytes == 2 * one_sample
    train(model, samples[2:], epochs=1, bf16=False)
    assert cache.hits == 1
    train(model, samples[1:2] + samples[:1] + samples[1:2], epochs=1, bf16=False)  # 0 in: 2, used longest ago, out
    assert (cache.hits, cache.misses) == (3, 4)
