// Load test: C concurrent streaming chat requests against `r1 serve`; every one must complete
// with its full token count and no error. Prints latency p50/p99 and aggregate tokens/s.
//   node load.mjs [--streams 64] [--tokens 32] [--slots 16] [--rounds 1] [--no-batch] [--model PATH]
// As a CTest test it runs bounded (64 streams x 32 tokens on 16 slots) and fails on any error.
import assert from "node:assert/strict";
import { startServer } from "./server.mjs";

const arg = (name, def) => {
  const i = process.argv.indexOf("--" + name);
  return i < 0 ? def : process.argv[i + 1];
};
const streams = Number(arg("streams", 64)), tokens = Number(arg("tokens", 32)), slots = Number(arg("slots", 16));
const extra = ["-np", String(slots), "-c", "512", "--queue", "256", "--threads", arg("threads", "2")];
if (process.argv.includes("--no-batch")) extra.push("--no-batch");
const server = await startServer(extra, arg("model", undefined));
async function one(i) {
  const t0 = performance.now();
  const res = await fetch(server.url + "/v1/chat/completions", {
    method: "POST",
    body: JSON.stringify({ messages: [{ role: "user", content: `Request number ${i}` }], max_tokens: tokens,
                           temperature: 0.8, seed: i, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const text = await res.text();
  if (!text.endsWith("data: [DONE]\n\n")) throw new Error("stream did not end with [DONE]");
  const usage = JSON.parse(text.split("\n\n").filter((e) => e.includes('"usage"')).pop().slice(6)).usage;
  if (text.includes('"error"')) throw new Error("error event in the stream");
  return { ms: performance.now() - t0, tokens: usage.completion_tokens };
}

const t0 = performance.now();
const results = await Promise.allSettled(Array.from({ length: streams }, (_, i) => one(i)));
const seconds = (performance.now() - t0) / 1000;
const errors = results.filter((r) => r.status === "rejected");
const ok = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
const lat = ok.map((r) => r.ms).sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] || 0;
const total = ok.reduce((s, r) => s + r.tokens, 0);
const metrics = await (await fetch(server.url + "/metrics")).text();
const steps = Number(metrics.match(/^r1_batch_steps_total (\S+)/m)?.[1] || 0);
const batched = Number(metrics.match(/^r1_batch_tokens_total (\S+)/m)?.[1] || 0);
const { code } = await server.stop();
console.log(JSON.stringify({ streams, slots, tokens_per_stream: tokens, errors: errors.length, seconds: +seconds.toFixed(2),
  tokens_per_second: +(total / seconds).toFixed(1), p50_ms: Math.round(pct(0.5)), p99_ms: Math.round(pct(0.99)),
  mean_batch: steps ? +(batched / steps).toFixed(2) : null }));
for (const e of errors.slice(0, 3)) console.error(String(e.reason));
assert.equal(errors.length, 0, "no request may fail");
// A sampled stream may end early at EOS, never late.
assert.ok(ok.every((r) => r.tokens >= 1 && r.tokens <= tokens), "every stream has 1..max_tokens tokens");
assert.equal(code, 0, "the server drains and exits 0");
