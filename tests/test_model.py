"""The embedded base model loads offline, has the right special tokens, and answers sensibly."""

import torch


def test_special_tokens(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    assert tok.eos_token == "<|im_end|>"
    assert tok.pad_token is not None and tok.pad_token_id != tok.eos_token_id
    assert tok.chat_template


def test_loads_and_generates(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    assert model.generation_config.eos_token_id == tok.eos_token_id
    inputs = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert "Paris" in tok.decode(new, skip_special_tokens=True)
    assert new[-1].item() == tok.eos_token_id  # it stops at end of turn
