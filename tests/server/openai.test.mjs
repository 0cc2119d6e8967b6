// The official openai npm client (v6) against the real `r1 serve`: non-stream and stream chat,
// reasoning separated from the answer, usage with DeepSeek's cache fields, the other routes,
// and every error path (each must leave the server serving); a DeepSeek model batched and with
// --cache-dir.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, readSse, MODEL } from "./server.mjs";

const KEY = "sk-test-key";
let server, client;

before(async () => {
  server = await startServer(["--api-key", KEY, "-np", "2", "-c", "16384", "--queue", "2"]);
  client = new OpenAI({ baseURL: server.url + "/v1", apiKey: KEY, maxRetries: 0 });
});
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, "SIGTERM must drain and exit 0");
});

const hello = [{ role: "user", content: "Hello there" }];

test("non-stream chat: reasoning beside content, usage with cache and reasoning counts", async () => {
  const r = await client.chat.completions.create({ model: "qwen2-mini-f32", messages: hello, max_tokens: 8, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  const m = r.choices[0].message;
  assert.equal(m.role, "assistant");
  // The R1 template ends in "<think>\n": a model that never closes it thinks for all 8 tokens.
  assert.equal(typeof m.reasoning_content, "string");
  assert.ok(m.reasoning_content.length > 0);
  assert.equal(r.choices[0].finish_reason, "length");
  const u = r.usage;
  assert.equal(u.completion_tokens, 8);
  assert.equal(u.completion_tokens_details.reasoning_tokens, 8);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.equal(u.prompt_cache_hit_tokens + u.prompt_cache_miss_tokens, u.prompt_tokens);
  assert.equal(u.prompt_tokens_details.cached_tokens, u.prompt_cache_hit_tokens);
});

test("greedy is deterministic and the second call hits the prompt cache", async () => {
  const a = await client.chat.completions.create({ messages: hello, max_tokens: 6, temperature: 0 });
  const b = await client.chat.completions.create({ messages: hello, max_tokens: 6, temperature: 0 });
  assert.equal(a.choices[0].message.reasoning_content, b.choices[0].message.reasoning_content);
  // All but the last prompt token come from the slot's KV cache.
  assert.equal(b.usage.prompt_cache_hit_tokens, b.usage.prompt_tokens - 1);
});

test("reasoning budget ends the thinking and the answer goes to content", async () => {
  const r = await client.chat.completions.create({ messages: hello, max_tokens: 24, temperature: 0, reasoning_budget: 4 });
  const m = r.choices[0].message;
  assert.ok(m.reasoning_content.length > 0);
  assert.ok(m.content.length > 0, "answer after the forced </think>");
  assert.ok(!m.content.includes("</think>") && !m.reasoning_content.includes("</think>"));
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens < r.usage.completion_tokens);
});

test("stream: role first, reasoning chunks with null content, then content, finish, usage, [DONE]", async () => {
  const stream = await client.chat.completions.create({
    messages: hello, max_tokens: 20, temperature: 0, reasoning_budget: 3, stream: true, stream_options: { include_usage: true },
  });
  let reasoning = "", content = "", finish = null, usage = null, first = true, sawReasoningNull = false, sawContentNull = false;
  for await (const chunk of stream) {
    if (chunk.usage) { usage = chunk.usage; assert.equal(chunk.choices.length, 0); continue; }
    const c = chunk.choices[0];
    if (first) { assert.equal(c.delta.role, "assistant"); first = false; }
    if (c.delta.reasoning_content) { reasoning += c.delta.reasoning_content; if (c.delta.content === null) sawContentNull = true; }
    if (c.delta.content) { content += c.delta.content; if (c.delta.reasoning_content === null) sawReasoningNull = true; }
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.ok(reasoning.length > 0 && content.length > 0);
  assert.ok(sawContentNull && sawReasoningNull, "the other channel is an explicit null");
  assert.equal(finish, "length");
  assert.equal(usage.completion_tokens, 20);
  assert.ok(usage.completion_tokens_details.reasoning_tokens > 0);
  // The streamed text equals the non-streamed text of the same greedy request.
  const r = await client.chat.completions.create({ messages: hello, max_tokens: 20, temperature: 0, reasoning_budget: 3 });
  assert.equal(r.choices[0].message.reasoning_content, reasoning);
  assert.equal(r.choices[0].message.content, content);
});

test("raw SSE ends with data: [DONE]", async () => {
  const res = await fetch(server.url + "/v1/chat/completions", {
    method: "POST", headers: { Authorization: "Bearer " + KEY },
    body: JSON.stringify({ messages: hello, max_tokens: 3, stream: true }),
  });
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const events = await readSse(res);
  assert.equal(events.at(-1), "[DONE]");
});

test("n, seed, stop, logprobs", async () => {
  const r = await client.chat.completions.create({ messages: hello, max_tokens: 5, n: 3, seed: 7, temperature: 1, logprobs: true, top_logprobs: 2 });
  assert.equal(r.choices.length, 3);
  r.choices.forEach((c, i) => {
    assert.equal(c.index, i);
    assert.equal(c.logprobs.content.length, 5);
    for (const lp of c.logprobs.content) {
      assert.ok(lp.logprob <= 0);
      assert.equal(lp.top_logprobs.length, 2);
      assert.ok(lp.top_logprobs[0].logprob >= lp.top_logprobs[1].logprob);
      assert.ok(lp.logprob <= lp.top_logprobs[0].logprob + 1e-6);
    }
  });
  const again = await client.chat.completions.create({ messages: hello, max_tokens: 5, n: 3, seed: 7, temperature: 1 });
  assert.deepEqual(again.choices.map((c) => c.message.reasoning_content), r.choices.map((c) => c.message.reasoning_content));
  // A stop string taken from a greedy output cuts the output before it.
  const g = await client.chat.completions.create({ messages: hello, max_tokens: 12, temperature: 0 });
  const text = g.choices[0].message.reasoning_content;
  const stop = text.slice(4, 6);
  const s = await client.chat.completions.create({ messages: hello, max_tokens: 12, temperature: 0, stop: [stop] });
  assert.equal(s.choices[0].finish_reason, "stop");
  assert.equal(s.choices[0].message.reasoning_content, text.slice(0, text.indexOf(stop)));
});

test("response_format json_object: after the thinking, the answer is a JSON object", async () => {
  let parsed = 0;
  for (let seed = 1; seed <= 6; seed++) {
    const r = await client.chat.completions.create({ messages: hello, max_tokens: 400, temperature: 1, top_p: 1, seed,
      reasoning_budget: 4, response_format: { type: "json_object" } });
    const m = r.choices[0].message;
    assert.ok(m.reasoning_content.length > 0);
    if (r.choices[0].finish_reason !== "stop") continue;  // cut by max_tokens
    const value = JSON.parse(m.content);
    assert.equal(typeof value, "object");
    assert.ok(!Array.isArray(value) && value !== null);
    parsed++;
  }
  assert.ok(parsed >= 3, `only ${parsed} of 6 answers closed their object`);
});

test("completions, models, tokenize/detokenize, health, metrics", async () => {
  const c = await client.completions.create({ model: "qwen2-mini-f32", prompt: "Once upon", max_tokens: 4, temperature: 0 });
  assert.equal(c.object, "text_completion");
  assert.equal(c.usage.completion_tokens, 4);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["qwen2-mini-f32"]);
  const auth = { Authorization: "Bearer " + KEY };
  const tok = await (await fetch(server.url + "/tokenize", { method: "POST", headers: auth, body: JSON.stringify({ content: "hello world" }) })).json();
  assert.ok(tok.tokens.length > 0);
  const detok = await (await fetch(server.url + "/detokenize", { method: "POST", headers: auth, body: JSON.stringify({ tokens: tok.tokens }) })).json();
  assert.equal(detok.content, "hello world");
  const health = await (await fetch(server.url + "/health")).json();  // no key needed
  assert.equal(health.status, "ok");
  const metrics = await (await fetch(server.url + "/metrics", { headers: auth })).text();
  assert.match(metrics, /^r1_completion_tokens_total \d+/m);
  assert.ok(Number(metrics.match(/^r1_prompt_cache_hit_tokens_total (\d+)/m)[1]) > 0);
});

test("ollama routes", async () => {
  const auth = { Authorization: "Bearer " + KEY };
  const tags = await (await fetch(server.url + "/api/tags", { headers: auth })).json();
  assert.equal(tags.models[0].name, "qwen2-mini-f32");
  const res = await fetch(server.url + "/api/chat", { method: "POST", headers: auth,
    body: JSON.stringify({ model: "qwen2-mini-f32", messages: hello, options: { num_predict: 5, temperature: 0 } }) });
  const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.at(-1).done, true);
  assert.equal(lines.at(-1).eval_count, 5);
  assert.ok(lines.slice(0, -1).every((l) => l.done === false && l.message.role === "assistant"));
  const gen = await (await fetch(server.url + "/api/generate", { method: "POST", headers: auth,
    body: JSON.stringify({ prompt: "hi", stream: false, options: { num_predict: 3, temperature: 0 } }) })).json();
  assert.equal(gen.done, true);
  assert.equal(gen.eval_count, 3);
});

test("errors: status and OpenAI error body, and the server keeps serving", async () => {
  const expectError = async (promise, Type, status, param) => {
    await assert.rejects(promise, (e) => {
      assert.ok(e instanceof Type, `${e.constructor.name} is not ${Type.name}: ${e.message}`);
      assert.equal(e.status, status);
      if (param !== undefined) assert.equal(e.param, param);
      return true;
    });
  };
  await expectError(client.chat.completions.create({ messages: [] }), OpenAI.BadRequestError, 400, "messages");
  await expectError(client.chat.completions.create({}), OpenAI.BadRequestError, 400, "messages");
  await expectError(client.chat.completions.create({ messages: hello, temperature: "hot" }), OpenAI.BadRequestError, 400, "temperature");
  await expectError(client.chat.completions.create({ messages: hello, max_tokens: -3 }), OpenAI.BadRequestError, 400, "max_tokens");
  await expectError(client.chat.completions.create({ model: "gpt-4o", messages: hello }), OpenAI.NotFoundError, 404, "model");
  const long = [{ role: "user", content: "word ".repeat(20000) }];
  await expectError(client.chat.completions.create({ messages: long }), OpenAI.BadRequestError, 400, "messages");
  const bad = new OpenAI({ baseURL: server.url + "/v1", apiKey: "wrong", maxRetries: 0 });
  await expectError(bad.chat.completions.create({ messages: hello }), OpenAI.AuthenticationError, 401);

  const raw = async (body, headers = {}) => fetch(server.url + "/v1/chat/completions", {
    method: "POST", headers: { Authorization: "Bearer " + KEY, ...headers }, body });
  let res = await raw("{not json");
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.type, "invalid_request_error");
  res = await raw("x".repeat(9 << 20));  // over the 8 MiB body limit
  assert.equal(res.status, 413);
  res = await fetch(server.url + "/no/such/route", { headers: { Authorization: "Bearer " + KEY } });
  assert.equal(res.status, 404);

  // Still serving after all that.
  // Greedy, so the count cannot fall short by a sampled end-of-sentence token.
  const ok = await client.chat.completions.create({ messages: hello, max_tokens: 2, temperature: 0 });
  assert.equal(ok.usage.completion_tokens, 2);
});

test("queue full is 503; /health answers while every slot is busy; a client that leaves frees its slot", async () => {
  // Two slots busy with long generations, two requests queued (--queue 2), the fifth is refused.
  // Greedy: this random model then never emits EOS, so the streams run until aborted.
  const long = { messages: hello, max_tokens: 100000, temperature: 0, stream: true };
  const aborts = [];
  const streams = [];
  for (let i = 0; i < 4; i++) {
    const ac = new AbortController();
    aborts.push(ac);
    streams.push(fetch(server.url + "/v1/chat/completions", { method: "POST", signal: ac.signal,
      headers: { Authorization: "Bearer " + KEY }, body: JSON.stringify(long) }).catch(() => null));
  }
  const waitFor = async (cond) => {
    for (let i = 0; i < 200; i++) {
      const h = await (await fetch(server.url + "/health")).json();
      if (cond(h)) return h;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("timed out waiting for the server state");
  };
  const t0 = Date.now();
  const busy = await waitFor((h) => h.slots_processing === 2 && h.queued === 2);
  assert.equal(busy.slots_idle, 0);
  assert.ok(Date.now() - t0 < 10000);
  // The two generating streams send tokens; the two queued ones keep their connection alive
  // with SSE comments until a slot frees.
  const firsts = await Promise.all(streams.map(async (p) => {
    const res = await p;
    const { value } = await res.body.getReader().read();
    return new TextDecoder().decode(value);
  }));
  assert.equal(firsts.filter((f) => f.startsWith("data: ")).length, 2, firsts.join("|"));
  assert.equal(firsts.filter((f) => f.startsWith(": keep-alive")).length, 2, firsts.join("|"));
  await assert.rejects(client.chat.completions.create({ messages: hello, max_tokens: 2, temperature: 0 }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 503);
  // Everyone leaves: the slots and the queue empty quickly.
  for (const ac of aborts) ac.abort();
  await Promise.all(streams);
  await waitFor((h) => h.slots_processing === 0 && h.queued === 0);
  // Greedy, so the count cannot fall short by a sampled end-of-sentence token.
  const ok = await client.chat.completions.create({ messages: hello, max_tokens: 2, temperature: 0 });
  assert.equal(ok.usage.completion_tokens, 2);
});

test("--cache-dir: a prompt's KV survives a restart and is reported as cache hits", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "r1-cache-dir-"));
  const ask = async (srv) => {
    const c = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
    return c.chat.completions.create({ messages: [{ role: "user", content: "A long shared system of rules. ".repeat(8) }],
                                       max_tokens: 6, temperature: 0 });
  };
  try {
    let srv = await startServer(["--cache-dir", dir]);
    const first = await ask(srv);
    assert.equal(first.usage.prompt_cache_hit_tokens, 0);
    assert.equal((await srv.stop()).code, 0);
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith(".r1kv")).length, 1);

    srv = await startServer(["--cache-dir", dir]);
    const second = await ask(srv);
    assert.equal(second.usage.prompt_cache_hit_tokens, second.usage.prompt_tokens - 1);
    assert.equal(second.usage.prompt_tokens_details.cached_tokens, second.usage.prompt_tokens - 1);
    assert.equal(second.choices[0].message.reasoning_content, first.choices[0].message.reasoning_content);
    const metrics = await (await fetch(srv.url + "/metrics")).text();
    assert.match(metrics, new RegExp(`^r1_prompt_cache_disk_tokens_total ${second.usage.prompt_tokens - 1}$`, "m"));
    assert.equal((await srv.stop()).code, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("DeepSeek model: streams decode in shared batched steps, and --cache-dir keeps its latent cache", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "r1-cache-dir-ds-"));
  const model = path.join(path.dirname(MODEL), "deepseek2-mini-f32.gguf");
  const messages = (i) => [{ role: "user", content: `Question number ${i}: what is the rule? `.repeat(3) }];
  const text = (m) => (m.reasoning_content || "") + (m.content || "");
  const streamOne = async (c, i) => {
    let out = "", usage = null;
    const stream = await c.chat.completions.create({ messages: messages(i), max_tokens: 12, temperature: 0, stream: true,
                                                     stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const d = chunk.choices[0]?.delta;
      out += (d?.reasoning_content || "") + (d?.content || "");
    }
    return { out, usage };
  };
  try {
    let srv = await startServer(["-np", "4", "--cache-dir", dir], model);
    let c = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
    const streamed = await Promise.all([0, 1, 2, 3].map((i) => streamOne(c, i)));
    const metrics = await (await fetch(srv.url + "/metrics")).text();
    const steps = Number(metrics.match(/^r1_batch_steps_total (\S+)/m)[1]);
    const tokens = Number(metrics.match(/^r1_batch_tokens_total (\S+)/m)[1]);
    assert.ok(steps > 0 && tokens > steps, `decode steps were shared (${tokens} tokens in ${steps} steps)`);
    // Each stream is what the same greedy request gives alone.
    for (let i = 0; i < 4; i++) {
      assert.ok(streamed[i].usage.completion_tokens >= 1 && streamed[i].usage.completion_tokens <= 12);
      assert.ok(streamed[i].out.length > 0, `stream ${i} has text`);
      const alone = await c.chat.completions.create({ messages: messages(i), max_tokens: 12, temperature: 0 });
      assert.equal(streamed[i].out, text(alone.choices[0].message), `stream ${i}`);
    }
    assert.equal((await srv.stop()).code, 0);
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith(".r1kv")).length, 4);

    // After a restart the prompt's latents come from disk, and the answer is the same.
    srv = await startServer(["-np", "4", "--cache-dir", dir], model);
    c = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
    const again = await streamOne(c, 2);
    assert.equal(again.usage.prompt_cache_hit_tokens, again.usage.prompt_tokens - 1);
    assert.equal(again.out, streamed[2].out);
    assert.equal((await srv.stop()).code, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("--reasoning-format none: the thinking stays in content, inside its tags, streamed the same", async () => {
  const srv = await startServer(["--reasoning-format", "none"]);
  try {
    const c = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
    const req = { messages: hello, max_tokens: 16, temperature: 0, reasoning_budget: 3 };
    const r = await c.chat.completions.create(req);
    const m = r.choices[0].message;
    assert.equal(m.reasoning_content, null);
    assert.ok(m.content.startsWith("<think>\n") && m.content.includes("\n</think>\n\n"), m.content);
    let streamed = "";
    for await (const chunk of await c.chat.completions.create({ ...req, stream: true })) {
      const d = chunk.choices[0]?.delta;
      assert.ok(!d?.reasoning_content);
      streamed += d?.content || "";
    }
    assert.equal(streamed, m.content);
  } finally {
    await srv.stop();
  }
});
