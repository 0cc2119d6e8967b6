// Headless Chromium (Debian's, driven by playwright-core) uses the web app served at /:
// settings, send, the thinking and the answer streaming, stop mid-answer, reload and find the
// conversation, edit-and-resend and regenerate.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";

let server, browser, page;

before(async () => {
  // A long context so that an unbounded answer streams long enough to be stopped by hand.
  server = await startServer(["-c", "65536"]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
           "--disable-extensions", "--no-first-run"],
  });
  page = await browser.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(server.url + "/");
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const metric = async (name) => Number((await (await fetch(server.url + "/metrics")).text()).match(new RegExp(`^r1_${name} (\\S+)`, "m"))[1]);
const lastAnswer = () => page.locator(".msg.assistant").last();

test("settings, send, thinking then answer stream in, Thought for N s", async () => {
  await page.click("#open-settings");
  await page.fill("#set-temperature", "0");
  await page.fill("#set-max_tokens", "40");
  await page.fill("#set-reasoning_budget", "4");
  await page.click("#save-settings");
  const saved = JSON.parse(await page.evaluate(() => localStorage.getItem("r1.settings")));
  assert.equal(saved.reasoning_budget, "4");

  await page.fill("#input", "Hello r1");
  await page.press("#input", "Enter");
  await page.locator(".msg.user .bubble", { hasText: "Hello r1" }).waitFor();
  await page.locator("details.thinking summary", { hasText: /Thought for [\d.]+ s/ }).waitFor();
  await page.locator("#send").waitFor({ state: "visible" });
  const reasoning = await lastAnswer().locator(".reasoning").textContent();
  const answer = await lastAnswer().locator(".answer").textContent();
  assert.ok(reasoning.length > 0, "thinking shown");
  assert.ok(answer.length > 0, "answer shown");
  // The same request through the API gives the same text (greedy): the app shows what was streamed.
  const r = await (await fetch(server.url + "/v1/chat/completions", { method: "POST", body: JSON.stringify({
    messages: [{ role: "user", content: "Hello r1" }], max_tokens: 40, temperature: 0, reasoning_budget: 4, top_p: 0.95 }) })).json();
  assert.equal(reasoning, r.choices[0].message.reasoning_content);
  assert.ok(r.choices[0].message.content.length > 0);
  // The sidebar holds the conversation, titled by the first message.
  await page.locator(".conv", { hasText: "Hello r1" }).waitFor();
});

test("stop mid-answer frees the server's slot", async () => {
  await page.click("#open-settings");
  await page.fill("#set-max_tokens", "60000");
  await page.click("#save-settings");
  const cancelledBefore = await metric("requests_cancelled_total");
  await page.click("#new-chat");
  await page.fill("#input", "Tell me everything");
  await page.click("#send");
  await page.locator("#stop").waitFor({ state: "visible" });
  // Wait until the answer (after the thinking) is streaming, then stop.
  await page.waitForFunction(() => {
    const a = [...document.querySelectorAll(".msg.assistant .answer")].pop();
    return a && a.textContent.length > 20;
  });
  await page.click("#stop");
  await page.locator("#send").waitFor({ state: "visible" });
  const len1 = (await lastAnswer().locator(".answer").textContent()).length;
  await page.waitForTimeout(500);
  const len2 = (await lastAnswer().locator(".answer").textContent()).length;
  assert.equal(len1, len2, "nothing arrives after stop");
  // The server noticed the client leaving and freed the slot.
  for (let i = 0; i < 100 && (await (await fetch(server.url + "/health")).json()).slots_processing > 0; i++) await page.waitForTimeout(50);
  assert.equal((await (await fetch(server.url + "/health")).json()).slots_processing, 0);
  assert.equal(await metric("requests_cancelled_total"), cancelledBefore + 1);
});

test("reload keeps the conversations; edit-and-resend and regenerate", async () => {
  await page.reload();
  await page.locator(".conv", { hasText: "Hello r1" }).waitFor();
  // The newest conversation opens first, with the stopped answer as far as it got.
  await page.locator(".msg.user .bubble", { hasText: "Tell me everything" }).waitFor();
  assert.ok((await lastAnswer().locator(".answer").textContent()).length > 20);
  await page.click(".conv >> text=Hello r1");
  await page.locator(".msg.user .bubble", { hasText: "Hello r1" }).waitFor();
  assert.equal(await page.locator(".msg.assistant").count(), 1);

  await page.click("#open-settings");
  await page.fill("#set-max_tokens", "30");
  await page.click("#save-settings");
  // Edit the first message: the old answer is replaced by a new one to the edited text.
  await page.locator(".msg.user button.edit").first().click();
  await page.fill(".edit-box", "Hello again");
  await page.click("button.resend");
  await page.locator(".msg.user .bubble", { hasText: "Hello again" }).waitFor();
  await page.locator("#send").waitFor({ state: "visible" });
  await page.locator("details.thinking summary", { hasText: /Thought for/ }).waitFor();
  assert.equal(await page.locator(".msg").count(), 2);
  const first = await lastAnswer().locator(".reasoning").textContent();
  // Regenerate (greedy): the same answer again, still two messages.
  await lastAnswer().locator("button.regenerate").click();
  await page.locator("#send").waitFor({ state: "visible" });
  await page.locator("details.thinking summary", { hasText: /Thought for/ }).waitFor();
  assert.equal(await page.locator(".msg").count(), 2);
  assert.equal(await lastAnswer().locator(".reasoning").textContent(), first);
  const stored = JSON.parse(await page.evaluate(() => localStorage.getItem("r1.conversations")));
  assert.equal(stored.find((c) => c.messages[0].content === "Hello again").messages.length, 2);
});

test("markdown with highlighted code and copy buttons", async () => {
  const html = await page.evaluate(() => markdown("# Title\n\nSome **bold** and `code` and *it*.\n\n- one\n- two\n\n```js\nconst x = 1; // note\n```\n<script>x</script>"));
  assert.match(html, /<h3>Title<\/h3>/);
  assert.match(html, /<strong>bold<\/strong>/);
  assert.match(html, /<code>code<\/code>/);
  assert.match(html, /<em>it<\/em>/);
  assert.match(html, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  assert.match(html, /<button class="copy-code"/);
  assert.match(html, /<span class="tok-kw">const<\/span> x = <span class="tok-num">1<\/span>; <span class="tok-com">\/\/ note<\/span>/);
  assert.ok(!html.includes("<script>"), "model output is escaped, never run");
  // Every message has a copy button.
  assert.ok((await page.locator(".msg .tools button.copy").count()) >= 2);
});
