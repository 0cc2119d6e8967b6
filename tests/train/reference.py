#!/usr/bin/python3
"""Independent PyTorch (autograd, float64) re-implementation of the trainer's model and loss,
written from SPEC §1.2-1.10 and TRAINING.md: MLA in the naive form (rope on adjacent pairs as
complex numbers), DeepSeekMoE with sigmoid scores, top-k on scores + bias, renormalised weights x
route scale, shared experts, V3's sequence-wise balance loss, and the depth-1 MTP module.

With metadata "arch" = "dense", the model is instead the dense Qwen2-style student: grouped-query
attention with q/k/v biases and rotate-half rope over the whole head, SwiGLU, untied head, CE only.

usage: reference.py IN.safetensors OUT.safetensors
IN holds the parameters under their Hugging Face names, the router biases
(...mlp.gate.e_score_correction_bias), batch.tokens / batch.targets (I32 [B][S]) and metadata
"config" (the trainer's ModelConfig as JSON) and "loss" ({"mtp": λ, "balance": α}).
OUT gets loss.total / loss.lm / loss.mtp / loss.balance and grad.<name> for every parameter (F64).
"""
import json
import struct
import sys

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "I32": torch.int32}
SIZES = {"F64": 8, "F32": 4, "I32": 4}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        buf = bytearray(raw[8 + n + a:8 + n + b])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if b > a else torch.zeros(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float64).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def rms_norm(x, w, eps):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope(x, pos, theta):
    """Rotate adjacent pairs (x[2i], x[2i+1]) by pos * theta^(-2i/d), as complex multiplication."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    # The trainer (like the inference engine) rounds each angle to float32 before cos/sin.
    angles = (pos[:, None].to(torch.float64) * freqs[None, :]).to(torch.float32).to(torch.float64)
    rot = torch.polar(torch.ones_like(angles), angles)  # [S, d/2]
    xc = torch.view_as_complex(x.to(torch.float64).reshape(*x.shape[:-1], d // 2, 2).contiguous())
    shape = [1] * (xc.dim() - 2) + list(rot.shape)
    return torch.view_as_real(xc * rot.reshape(shape)).reshape(x.shape).to(x.dtype)


class Model:
    def __init__(self, P, bias, cfg):
        self.P, self.bias, self.c = P, bias, cfg

    def w(self, name):
        return self.P[name]

    def mla(self, p, x):
        c, W = self.c, self.w
        B, S, D = x.shape
        H, dn, dr, dv = c["n_head"], c["qk_nope_dim"], c["qk_rope_dim"], c["v_head_dim"]
        q = rms_norm(x @ W(p + "q_a_proj.weight").T, W(p + "q_a_layernorm.weight"), c["rms_eps"])
        q = (q @ W(p + "q_b_proj.weight").T).view(B, S, H, dn + dr)
        q_nope, q_pe = q[..., :dn], q[..., dn:]
        kv_a = x @ W(p + "kv_a_proj_with_mqa.weight").T
        latent, k_pe = kv_a[..., :c["kv_lora_rank"]], kv_a[..., c["kv_lora_rank"]:]
        kv = rms_norm(latent, W(p + "kv_a_layernorm.weight"), c["rms_eps"]) @ W(p + "kv_b_proj.weight").T
        kv = kv.view(B, S, H, dn + dv)
        k_nope, v = kv[..., :dn], kv[..., dn:]
        pos = torch.arange(S)
        q_pe = rope(q_pe.transpose(1, 2), pos, c["rope_theta"])  # [B, H, S, dr]
        k_pe = rope(k_pe[:, None], pos, c["rope_theta"])          # [B, 1, S, dr]
        qh = torch.cat([q_nope.transpose(1, 2), q_pe], -1)
        kh = torch.cat([k_nope.transpose(1, 2), k_pe.expand(B, H, S, dr)], -1)
        scores = torch.einsum("bhsd,bhtd->bhst", qh, kh) / (dn + dr) ** 0.5
        mask = torch.triu(torch.ones(S, S, dtype=torch.bool), 1)
        probs = torch.softmax(scores.masked_fill(mask, float("-inf")), -1)
        o = torch.einsum("bhst,bhtd->bshd", probs, v.transpose(1, 2)).reshape(B, S, H * dv)
        return o @ W(p + "o_proj.weight").T

    def mlp(self, p, x):
        W = self.w
        return (torch.nn.functional.silu(x @ W(p + "gate_proj.weight").T) * (x @ W(p + "up_proj.weight").T)) @ W(
            p + "down_proj.weight").T

    def moe(self, p, x, alpha):
        c = self.c
        B, S, D = x.shape
        E, K = c["n_expert"], c["n_expert_used"]
        s = torch.sigmoid(x @ self.w(p + "mlp.gate.weight").T)  # [B, S, E]
        chosen = torch.topk(s.detach().to(torch.float64) + self.bias[p], K, dim=-1).indices
        ws = torch.gather(s, -1, chosen)
        ws = ws / ws.sum(-1, keepdim=True) * c["route_scale"]
        flat = x.reshape(B * S, D)
        y = torch.zeros_like(flat)
        for e in range(E):
            # Only the tokens routed to e go through it, weighted by their gate.
            gate = (ws * (chosen == e)).sum(-1).reshape(-1)
            rows = (chosen == e).any(-1).reshape(-1).nonzero().squeeze(1)
            if rows.numel():
                y = y.index_add(0, rows, gate[rows, None] * self.mlp(f"{p}mlp.experts.{e}.", flat[rows]))
        y = y.reshape(B, S, D)
        if c["n_expert_shared"] > 0:
            y = y + self.mlp(p + "mlp.shared_experts.", x)
        balance = torch.zeros((), dtype=torch.float64)
        if alpha:
            onehot = torch.nn.functional.one_hot(chosen, E).sum(-2).to(torch.float64)  # [B, S, E]
            f = onehot.sum(1) * E / (K * S)                                                 # [B, E]
            Pi = (s / s.sum(-1, keepdim=True)).mean(1)                                      # [B, E]
            balance = alpha * (f * Pi).sum(-1).mean()
        return y, balance

    def block(self, p, h, moe, alpha):
        c = self.c
        h = h + self.mla(p + "self_attn.", rms_norm(h, self.w(p + "input_layernorm.weight"), c["rms_eps"]))
        f = rms_norm(h, self.w(p + "post_attention_layernorm.weight"), c["rms_eps"])
        if moe:
            y, bal = self.moe(p, f, alpha)
            return h + y, bal
        return h + self.mlp(p + "mlp.", f), torch.zeros((), dtype=torch.float64)

    def loss(self, tokens, targets, lam, alpha):
        c, W = self.c, self.w
        B, S = tokens.shape
        h = W("model.embed_tokens.weight")[tokens]
        balance = torch.zeros((), dtype=torch.float64)
        for l in range(c["n_layer"]):
            h, bal = self.block(f"model.layers.{l}.", h, l >= c["n_dense_lead"], alpha)
            balance = balance + bal
        logits = rms_norm(h, W("model.norm.weight"), c["rms_eps"]) @ W("lm_head.weight").T
        lm = torch.nn.functional.cross_entropy(logits.reshape(B * S, -1), targets.reshape(-1).long(), ignore_index=-1)
        mtp = torch.zeros((), dtype=torch.float64)
        if c["mtp"] and lam > 0:
            p = f"model.layers.{c['n_layer']}."
            # The MTP input at i is the token after i; the last position falls back to its target.
            nxt = torch.cat([tokens[:, 1:], targets[:, -1:].clamp(min=0)], 1).long()
            tgt = torch.cat([targets[:, 1:], torch.full((B, 1), -1, dtype=targets.dtype)], 1).long()
            e = rms_norm(W("model.embed_tokens.weight")[nxt], W(p + "enorm.weight"), c["rms_eps"])
            hn = rms_norm(h, W(p + "hnorm.weight"), c["rms_eps"])
            m = torch.cat([e, hn], -1) @ W(p + "eh_proj.weight").T
            m, bal = self.block(p, m, True, alpha)
            balance = balance + bal
            logits2 = rms_norm(m, W(p + "shared_head.norm.weight"), c["rms_eps"]) @ W("lm_head.weight").T
            mtp = lam * torch.nn.functional.cross_entropy(logits2.reshape(B * S, -1), tgt.reshape(-1), ignore_index=-1)
        return lm + mtp + balance, lm, mtp, balance


def rope_half(x, pos, theta):
    """Rotate-half rope (HF Qwen2): pair (i, i + d/2) turned by pos * theta^(-2i/d), angles in float64."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = pos[:, None].to(torch.float64) * freqs[None, :]  # [S, d/2]
    cos, sin = torch.cos(ang), torch.sin(ang)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def dense_loss(P, c, tokens, targets):
    B, S = tokens.shape
    H, KV, eps = c["n_head"], c["n_kv_head"], c["rms_eps"]
    hd = c["n_embd"] // H
    pos = torch.arange(S)
    mask = torch.triu(torch.ones(S, S, dtype=torch.bool), 1)
    h = P["model.embed_tokens.weight"][tokens]
    for l in range(c["n_layer"]):
        p = f"model.layers.{l}."
        x = rms_norm(h, P[p + "input_layernorm.weight"], eps)
        proj = lambda n: x @ P[p + f"self_attn.{n}_proj.weight"].T + P[p + f"self_attn.{n}_proj.bias"]
        q = rope_half(proj("q").view(B, S, H, hd).transpose(1, 2), pos, c["rope_theta"])   # [B, H, S, hd]
        k = rope_half(proj("k").view(B, S, KV, hd).transpose(1, 2), pos, c["rope_theta"])  # [B, KV, S, hd]
        v = proj("v").view(B, S, KV, hd).transpose(1, 2)
        k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)  # query head i uses kv head i // (H/KV)
        scores = (q @ k.transpose(-1, -2)) / hd ** 0.5
        probs = torch.softmax(scores.masked_fill(mask, float("-inf")), -1)
        o = (probs @ v).transpose(1, 2).reshape(B, S, H * hd)
        h = h + o @ P[p + "self_attn.o_proj.weight"].T
        f = rms_norm(h, P[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(f @ P[p + "mlp.gate_proj.weight"].T) * (f @ P[p + "mlp.up_proj.weight"].T)
        h = h + g @ P[p + "mlp.down_proj.weight"].T
    logits = rms_norm(h, P["model.norm.weight"], eps) @ P["lm_head.weight"].T
    return torch.nn.functional.cross_entropy(logits.reshape(B * S, -1), targets.reshape(-1).long(), ignore_index=-1)


def main():
    tensors, meta = read_safetensors(sys.argv[1])
    cfg = json.loads(meta["config"])
    lw = json.loads(meta["loss"])
    tokens = tensors.pop("batch.tokens").long()
    targets = tensors.pop("batch.targets").long()
    bias = {}
    for name in list(tensors):
        if name.endswith("mlp.gate.e_score_correction_bias"):
            bias[name[: -len("mlp.gate.e_score_correction_bias")]] = tensors.pop(name).to(torch.float64)
    params = {k: v.to(torch.float64).requires_grad_(True) for k, v in tensors.items()}
    if meta.get("arch") == "dense":
        lm = dense_loss(params, cfg, tokens, targets)
        lm.backward()
        zero = torch.zeros(1, dtype=torch.float64)
        out = {"loss.total": lm.reshape(1), "loss.lm": lm.reshape(1), "loss.mtp": zero, "loss.balance": zero}
        for k, v in params.items():
            out["grad." + k] = v.grad if v.grad is not None else torch.zeros_like(v)
        write_safetensors(sys.argv[2], out)
        return
    total, lm, mtp, bal = Model(params, bias, cfg).loss(tokens, targets, lw["mtp"], lw["balance"])
    total.backward()
    out = {"loss.total": total.reshape(1), "loss.lm": lm.reshape(1), "loss.mtp": mtp.reshape(1),
           "loss.balance": bal.reshape(1)}
    for k, v in params.items():
        out["grad." + k] = v.grad if v.grad is not None else torch.zeros_like(v)
    write_safetensors(sys.argv[2], out)


if __name__ == "__main__":
    main()
