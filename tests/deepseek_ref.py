#!/usr/bin/python3
"""Independent float64 reference for DeepSeek-V2/V3 checkpoints in Hugging Face form, written from
SPEC §1-2 with nothing but NumPy: reads config.json and the safetensors files directly (BF16, F32,
and DeepSeek's FP8 e4m3fn weights with 128x128 `weight_scale_inv` block scales, possibly in another
shard), and evaluates the model the naive way (every head's k_nope and v decompressed with
kv_b_proj, full causal attention), with YaRN rope on adjacent pairs and group-limited routing.

With MTP_OUT_FILE it also evaluates the multi-token-prediction module (SPEC §1.10, HF layer
num_hidden_layers) on the prompt itself: row i takes the main model's final-normed hidden h_i and
the next token ids[i+1] and predicts ids[i+2], through
eh_proj([enorm(embed(ids[i+1])) ; hnorm(h_i)]) (embedding half first), one MLA + MoE block with its
own causal attention over rows 0..i, shared_head.norm and shared_head.head.

usage: deepseek_ref.py MODEL_DIR TOKENS_FILE OUT_FILE [MTP_OUT_FILE]
writes float32 logits [n_tokens][vocab] (row i = after ids[0..i]) to OUT_FILE, and the MTP
module's float32 logits [n_tokens - 1][vocab] to MTP_OUT_FILE.
"""
import json
import math
import os
import struct
import sys

import numpy as np


def e4m3_table():
    """float value of every e4m3fn byte: bias 7, subnormals m/8 * 2^-6, 0x7f/0xff NaN (SPEC §2.2)."""
    t = np.zeros(256)
    for b in range(256):
        s, e, m = b >> 7, (b >> 3) & 15, b & 7
        v = math.ldexp(m / 8, -6) if e == 0 else math.ldexp(1 + m / 8, e - 7)
        t[b] = -v if s else v
    t[0x7F] = t[0xFF] = np.nan
    return t


class Checkpoint:
    def __init__(self, d):
        index = os.path.join(d, "model.safetensors.index.json")
        if os.path.exists(index):
            files = sorted(set(json.load(open(index))["weight_map"].values()))
        else:
            files = ["model.safetensors"]
        self.where = {}
        for f in files:
            raw = open(os.path.join(d, f), "rb").read()
            (n,) = struct.unpack("<Q", raw[:8])
            header = json.loads(raw[8:8 + n])
            for name, info in header.items():
                if name != "__metadata__":
                    self.where[name] = (raw, 8 + n, info)
        self.e4m3 = e4m3_table()

    def has(self, name):
        return name in self.where

    def raw(self, name):
        buf, base, info = self.where[name]
        b, e = info["data_offsets"]
        data = np.frombuffer(buf, dtype=np.uint8, count=e - b, offset=base + b)
        shape = info["shape"]
        dt = info["dtype"]
        if dt == "F32":
            return data.view("<f4").astype(np.float64).reshape(shape)
        if dt == "BF16":
            return (data.view("<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64).reshape(shape)
        if dt == "F8_E4M3":
            return self.e4m3[data].reshape(shape)
        raise ValueError(f"{name}: dtype {dt} not handled")

    def get(self, name):
        w = self.raw(name)
        if self.where[name][2]["dtype"] == "F8_E4M3":
            s = self.raw(name + "_scale_inv")  # [ceil(out/128)][ceil(in/128)]
            s = np.repeat(np.repeat(s, 128, axis=0), 128, axis=1)[: w.shape[0], : w.shape[1]]
            w = w * s
        return w


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def yarn_mscale(factor, m):
    return 1.0 if factor <= 1 else 0.1 * m * math.log(factor) + 1.0


def rope_freqs(cfg):
    d = cfg["qk_rope_head_dim"]
    base = cfg.get("rope_theta", 10000.0)
    freq = base ** (-np.arange(0, d, 2) / d)
    rs = cfg.get("rope_scaling")
    if not rs:
        return freq, 1.0
    factor = rs["factor"]
    orig = rs.get("original_max_position_embeddings", 4096)

    def corr(rot):
        return d * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(corr(rs.get("beta_fast", 32))), 0)
    high = min(math.ceil(corr(rs.get("beta_slow", 1))), d - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(d // 2) - low) / (high - low), 0, 1)
    freq = freq / factor * ramp + freq * (1 - ramp)
    magnitude = yarn_mscale(factor, rs.get("mscale", 1)) / yarn_mscale(factor, rs.get("mscale_all_dim", 0))
    return freq, magnitude


def rope(x, pos, freq, magnitude):
    """Rotate adjacent pairs (2i, 2i+1) of the last axis; x [..., T, d], pos [T]."""
    ang = pos[:, None] * freq[None, :]
    c, s = np.cos(ang) * magnitude, np.sin(ang) * magnitude
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def ffn(ck, p, x):
    g = x @ ck.get(p + "gate_proj.weight").T
    u = x @ ck.get(p + "up_proj.weight").T
    return (g / (1 + np.exp(-g)) * u) @ ck.get(p + "down_proj.weight").T


def moe(ck, cfg, p, x):
    E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    logits = x @ ck.get(p + "gate.weight").T
    if cfg.get("scoring_func", "softmax") == "sigmoid":
        s = 1 / (1 + np.exp(-logits))
    else:
        s = np.exp(logits - logits.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
    method = cfg.get("topk_method", "greedy")
    bias = ck.get(p + "gate.e_score_correction_bias") if method == "noaux_tc" else None
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        sel = s[t] + (bias if bias is not None else 0)
        G = cfg.get("n_group", 1) if method != "greedy" else 1
        if G > 1:
            groups = sel.reshape(G, E // G)
            score = np.sort(groups, axis=1)[:, ::-1][:, :2].sum(1) if bias is not None else groups.max(1)
            keep = np.argsort(-score, kind="stable")[: cfg["topk_group"]]
            mask = np.full(G, -np.inf)
            mask[keep] = 0
            sel = (groups + mask[:, None]).reshape(E)
        idx = np.argsort(-sel, kind="stable")[:K]
        w = s[t, idx]
        if cfg.get("norm_topk_prob", False):
            w = w / w.sum()
        w = w * cfg.get("routed_scaling_factor", 1.0)
        for e, we in zip(idx, w):
            out[t] += we * ffn(ck, f"{p}experts.{e}.", x[t:t + 1])[0]
    if cfg.get("n_shared_experts"):
        out += ffn(ck, p + "shared_experts.", x)
    return out


def mla(ck, cfg, p, x, freq, magnitude):
    T = x.shape[0]
    H, nope, rp, v = cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    r, eps = cfg["kv_lora_rank"], cfg["rms_norm_eps"]
    if cfg.get("q_lora_rank"):
        q = rmsnorm(x @ ck.get(p + "q_a_proj.weight").T, ck.get(p + "q_a_layernorm.weight"), eps)
        q = q @ ck.get(p + "q_b_proj.weight").T
    else:
        q = x @ ck.get(p + "q_proj.weight").T
    q = q.reshape(T, H, nope + rp).transpose(1, 0, 2)  # [H, T, qk]
    kv = x @ ck.get(p + "kv_a_proj_with_mqa.weight").T
    c = rmsnorm(kv[:, :r], ck.get(p + "kv_a_layernorm.weight"), eps)
    pos = np.arange(T, dtype=np.float64)
    k_pe = rope(kv[:, r:], pos, freq, magnitude)  # [T, rp], shared by all heads
    q_pe = rope(q[..., nope:], pos, freq, magnitude)
    kvb = (c @ ck.get(p + "kv_b_proj.weight").T).reshape(T, H, nope + v).transpose(1, 0, 2)
    k = np.concatenate([kvb[..., :nope], np.broadcast_to(k_pe, (H, T, rp))], axis=-1)
    qq = np.concatenate([q[..., :nope], q_pe], axis=-1)
    rs = cfg.get("rope_scaling") or {}
    m = yarn_mscale(rs.get("factor", 1), rs.get("mscale_all_dim", 0)) if rs.get("mscale_all_dim") else 1.0
    scale = m * m / math.sqrt(nope + rp)
    scores = qq @ k.transpose(0, 2, 1) * scale + np.triu(np.full((T, T), -np.inf), 1)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    o = (scores @ kvb[..., nope:]).transpose(1, 0, 2).reshape(T, H * v)
    return o @ ck.get(p + "o_proj.weight").T


def block(ck, cfg, l, h, freq, magnitude):
    """Transformer layer l (pre-norm MLA, then a dense FFN or MoE) on the residual stream h [T, d]."""
    p, eps = f"model.layers.{l}.", cfg["rms_norm_eps"]
    h = h + mla(ck, cfg, p + "self_attn.", rmsnorm(h, ck.get(p + "input_layernorm.weight"), eps), freq, magnitude)
    hn = rmsnorm(h, ck.get(p + "post_attention_layernorm.weight"), eps)
    return h + (moe(ck, cfg, p + "mlp.", hn) if l >= cfg.get("first_k_dense_replace", 0) else ffn(ck, p + "mlp.", hn))


def forward(ck, cfg, ids):
    """Logits [T, vocab] and the final-normed hidden states [T, d] (what the MTP module consumes)."""
    freq, magnitude = rope_freqs(cfg)
    h = ck.get("model.embed_tokens.weight")[ids]
    for l in range(cfg["num_hidden_layers"]):
        h = block(ck, cfg, l, h, freq, magnitude)
    h = rmsnorm(h, ck.get("model.norm.weight"), cfg["rms_norm_eps"])
    return h @ ck.get("lm_head.weight").T, h


def mtp(ck, cfg, hidden, next_ids):
    """MTP logits [T, vocab] for hidden h_i [T, d] and next tokens t_{i+1} [T], positions 0..T-1."""
    l, eps = cfg["num_hidden_layers"], cfg["rms_norm_eps"]
    p = f"model.layers.{l}."
    e = rmsnorm(ck.get(p + "embed_tokens.weight")[next_ids], ck.get(p + "enorm.weight"), eps)
    h = rmsnorm(hidden, ck.get(p + "hnorm.weight"), eps)
    x = np.concatenate([e, h], axis=-1) @ ck.get(p + "eh_proj.weight").T
    x = block(ck, cfg, l, x, *rope_freqs(cfg))
    return rmsnorm(x, ck.get(p + "shared_head.norm.weight"), eps) @ ck.get(p + "shared_head.head.weight").T


def main():
    d, tokens, out = sys.argv[1:4]
    ids = np.array([int(x) for x in open(tokens).read().split()])
    cfg = json.load(open(os.path.join(d, "config.json")))
    ck = Checkpoint(d)
    logits, hidden = forward(ck, cfg, ids)
    logits.astype("<f4").tofile(out)
    if len(sys.argv) > 4:
        mtp(ck, cfg, hidden[:-1], ids[1:]).astype("<f4").tofile(sys.argv[4])


if __name__ == "__main__":
    main()
