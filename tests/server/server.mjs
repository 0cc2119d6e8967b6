// Starts `r1 serve` on a free port for a test and stops it (SIGTERM) afterwards.
// R1_BIN names the binary (CTest passes it); the model is the tiny random qwen2 from tests/data.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const MODEL = path.join(here, "..", "data", "models", "qwen2-mini-f32.gguf");

export async function startServer(extraArgs = [], model = MODEL) {
  const bin = process.env.R1_BIN;
  if (!bin) throw new Error("set R1_BIN to the r1 binary");
  const proc = spawn(bin, ["serve", "-m", model, "--port", "0", "-t", "1", ...extraArgs], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + log)), 20000);
    proc.stdout.on("data", (d) => {
      log += d;
      const m = log.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.stderr.on("data", (d) => (log += d));
    proc.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    url, proc, exited,
    log: () => log,
    // SIGTERM, then the exit status (the server drains and exits 0).
    async stop() { proc.kill("SIGTERM"); return exited; },
  };
}

// Reads an SSE response into its data payloads (comments are kept as {comment}).
export async function readSse(res) {
  const text = await res.text();
  const events = [];
  for (const block of text.split("\n\n")) {
    for (const line of block.split("\n")) {
      if (line.startsWith("data: ")) events.push(line.slice(6));
      else if (line.startsWith(":")) events.push({ comment: line });
    }
  }
  return events;
}
