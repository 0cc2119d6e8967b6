#!/usr/bin/python3
"""PyTorch (float32, CPU) training speed of the same architecture, batch and thread count as
`r1 train`: the model of reference.py, AdamW, random token batches. Prints tokens/s and the
median step time; the comparison script runs `r1 train` beside it (tests/train/bench_vs_torch.sh).

usage: bench_torch.py CONFIG_JSON BATCH SEQ THREADS STEPS
CONFIG_JSON: the trainer's ModelConfig as JSON (what `r1 train` writes into a checkpoint's
"config" metadata).
"""
import json
import statistics
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from reference import Model  # noqa: E402


def shapes(c):
    """The parameter names and shapes of the trainer's layout (src/train/params.cc)."""
    out = {"model.embed_tokens.weight": (c["n_vocab"], c["n_embd"])}
    D, H = c["n_embd"], c["n_head"]

    def block(p, moe):
        sa = p + "self_attn."
        out[p + "input_layernorm.weight"] = (D,)
        out[sa + "q_a_proj.weight"] = (c["q_lora_rank"], D)
        out[sa + "q_a_layernorm.weight"] = (c["q_lora_rank"],)
        out[sa + "q_b_proj.weight"] = (H * (c["qk_nope_dim"] + c["qk_rope_dim"]), c["q_lora_rank"])
        out[sa + "kv_a_proj_with_mqa.weight"] = (c["kv_lora_rank"] + c["qk_rope_dim"], D)
        out[sa + "kv_a_layernorm.weight"] = (c["kv_lora_rank"],)
        out[sa + "kv_b_proj.weight"] = (H * (c["qk_nope_dim"] + c["v_head_dim"]), c["kv_lora_rank"])
        out[sa + "o_proj.weight"] = (D, H * c["v_head_dim"])
        out[p + "post_attention_layernorm.weight"] = (D,)

        def mlp(q, f):
            out[q + "gate_proj.weight"] = (f, D)
            out[q + "up_proj.weight"] = (f, D)
            out[q + "down_proj.weight"] = (D, f)
        if not moe:
            mlp(p + "mlp.", c["n_ff"])
            return
        out[p + "mlp.gate.weight"] = (c["n_expert"], D)
        for e in range(c["n_expert"]):
            mlp(f"{p}mlp.experts.{e}.", c["n_ff_expert"])
        if c["n_expert_shared"]:
            mlp(p + "mlp.shared_experts.", c["n_expert_shared"] * c["n_ff_expert"])

    for l in range(c["n_layer"]):
        block(f"model.layers.{l}.", l >= c["n_dense_lead"])
    out["model.norm.weight"] = (D,)
    out["lm_head.weight"] = (c["n_vocab"], D)
    if c["mtp"]:
        p = f"model.layers.{c['n_layer']}."
        out[p + "enorm.weight"] = (D,)
        out[p + "hnorm.weight"] = (D,)
        out[p + "eh_proj.weight"] = (D, 2 * D)
        block(p, True)
        out[p + "shared_head.norm.weight"] = (D,)
    return out


def main():
    cfg = json.load(open(sys.argv[1]))
    B, S, threads, steps = (int(x) for x in sys.argv[2:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    params = {n: (torch.randn(s) * 0.02 if len(s) == 2 else torch.ones(s)).requires_grad_(True)
              for n, s in shapes(cfg).items()}
    bias = {}
    for l in range(cfg["n_layer"] + (1 if cfg["mtp"] else 0)):
        bias[f"model.layers.{l}."] = torch.zeros(cfg["n_expert"])
    cfg = dict(cfg, rms_eps=float(cfg["rms_eps"]))
    model = Model(params, bias, cfg)
    opt = torch.optim.AdamW(params.values(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    times = []
    for step in range(steps):
        seq = torch.randint(0, cfg["n_vocab"], (B, S + 1))
        t0 = time.perf_counter()
        opt.zero_grad()
        loss, _, _, _ = model.loss(seq[:, :-1], seq[:, 1:], 0.3 if cfg["mtp"] else 0.0, 1e-4)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[1:] if len(times) > 1 else times)
    print(json.dumps({"engine": "pytorch " + torch.__version__, "threads": threads, "batch": B, "seq": S,
                      "median_step_s": med, "tokens_per_s": B * S / med}))


if __name__ == "__main__":
    main()
