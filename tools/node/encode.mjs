// Reference encoder for the tokenizer tests and the speed comparison: encodes strings with
// @huggingface/tokenizers (the JavaScript port of Hugging Face tokenizers).
//
//   node encode.mjs TOKENIZER_JSON TEXTS_JSON            -> prints a JSON array of id arrays
//   node encode.mjs TOKENIZER_JSON TEXT_FILE --bench N   -> encodes the file's text N times, prints
//                                                           {"bytes", "tokens", "seconds"} of the best run
// TEXTS_JSON is a JSON array of strings. Special tokens are not added (add_special_tokens false);
// added-token text inside a string is matched as the tokenizer.json defines.
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [tokenizerPath, inputPath, flag, count] = process.argv.slice(2);
if (!tokenizerPath || !inputPath) {
  console.error("usage: node encode.mjs TOKENIZER_JSON TEXTS_JSON | TEXT_FILE --bench N");
  process.exit(2);
}
const tokenizer = new Tokenizer(JSON.parse(readFileSync(tokenizerPath, "utf8")), {});
const encode = (text) => tokenizer.encode(text, { add_special_tokens: false }).ids;

if (flag === "--bench") {
  const text = readFileSync(inputPath, "utf8");
  let best = Infinity;
  let tokens = 0;
  for (let i = 0; i < Number(count || 1); ++i) {
    const t0 = process.hrtime.bigint();
    tokens = encode(text).length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(JSON.stringify({ bytes: Buffer.byteLength(text, "utf8"), tokens, seconds: best }));
} else {
  const texts = JSON.parse(readFileSync(inputPath, "utf8"));
  process.stdout.write(JSON.stringify(texts.map(encode)));
}
