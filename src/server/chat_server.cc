#include "server/chat_server.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <random>

#include "core/error.h"
#include "server/web_app.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {
namespace {

// Invalid UTF-8 (a token holding half a character) becomes U+FFFD instead of an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_json(http::Response& res, int status, const json& j) { res.send(status, "application/json", dump(j)); }

void send_error(http::Response& res, const ApiError& e) {
  std::map<std::string, std::string> headers;
  if (e.status == 503 || e.status == 429) headers["Retry-After"] = "1";
  res.send(e.status, "application/json", dump(e.body()), headers);
}

int64_t unix_time() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string iso_time() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string new_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%016llx%04llx", prefix, static_cast<unsigned long long>(salt ^ uint64_t(unix_time())),
                static_cast<unsigned long long>(counter++ & 0xffff));
  return buf;
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

// OpenAI's logprobs entry for token `id` chosen from `logits`: its log-probability under the
// model's raw distribution and the top_n most likely alternatives.
json logprob_entry(const Tokenizer& tok, const std::vector<float>& logits, int32_t id, int top_n) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l - mx));
  const double lse = double(mx) + std::log(sum);
  auto entry = [&](int32_t t) {
    const std::string text = tok.decode(std::span<const int32_t>(&t, 1));
    json bytes = json::array();
    for (unsigned char c : text) bytes.push_back(int(c));
    return json{{"token", text}, {"logprob", double(logits[size_t(t)]) - lse}, {"bytes", bytes}};
  };
  json e = entry(id);
  std::vector<int32_t> top(logits.size());
  for (size_t i = 0; i < top.size(); i++) top[i] = int32_t(i);
  const size_t k = std::min(size_t(top_n), top.size());
  std::partial_sort(top.begin(), top.begin() + long(k), top.end(), [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  e["top_logprobs"] = json::array();
  for (size_t i = 0; i < k; i++) e["top_logprobs"].push_back(entry(top[i]));
  return e;
}

bool authorized(const http::Request& req, const std::string& key) {
  if (key.empty()) return true;
  const std::string auth = req.header("authorization");
  if (auth == "Bearer " + key) return true;
  return req.header("x-api-key") == key;
}

}  // namespace

ChatServer::ChatServer(const Model& model, const ServeOptions& options)
    : model_(model), options_(options), slots_(model, options.n_slots, options.n_ctx, options.n_threads, options.max_queue, options.batching, options.cache_dir) {}

void ChatServer::handle(const http::Request& req, http::Response& res) {
  const std::string& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD", post = req.method == "POST";
  metrics_.requests++;
  try {
    if (p == "/" || p == "/index.html") {
      if (!get) throw ApiError(405, "use GET");
      return res.send(200, "text/html; charset=utf-8", std::string(kWebAppHtml));
    }
    if (p == "/health") return health(res);
    if (p == "/favicon.ico") return res.send(204, "image/x-icon", "");
    if (!authorized(req, options_.api_key))
      throw ApiError(401, "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.", "", "authentication_error",
                     "invalid_api_key");
    if (p == "/metrics" && get) return metrics(res);
    if ((p == "/v1/models" || p == "/models") && get) return models(res);
    if ((p == "/v1/chat/completions" || p == "/chat/completions") && post) return chat_completions(req, res, true);
    if ((p == "/v1/completions" || p == "/completions") && post) return chat_completions(req, res, false);
    if (p == "/tokenize" && post) return tokenize(req, res);
    if (p == "/detokenize" && post) return detokenize(req, res);
    if (p == "/api/chat" && post) return ollama(req, res, true);
    if (p == "/api/generate" && post) return ollama(req, res, false);
    if (p == "/api/tags" && get) {
      return send_json(res, 200, {{"models", json::array({{{"name", options_.defaults.model_id},
                                                             {"model", options_.defaults.model_id},
                                                             {"modified_at", iso_time()},
                                                             {"details", {{"family", model_.config().arch == Arch::Deepseek2 ? "deepseek2" : "qwen2"}}}}})}});
    }
    if (p == "/api/version" && get) return send_json(res, 200, {{"version", "0.1.0"}});
    throw ApiError(404, str("no route for ", req.method, " ", p), "", "not_found_error");
  } catch (const ApiError& e) {
    metrics_.errors++;
    if (!res.started()) send_error(res, e);
  } catch (const std::exception& e) {
    metrics_.errors++;
    if (!res.started()) send_error(res, ApiError(500, e.what()));
  }
}

void ChatServer::models(http::Response& res) {
  json m = {{"id", options_.defaults.model_id}, {"object", "model"}, {"created", unix_time()}, {"owned_by", "r1.cpp"},
            {"meta", {{"n_ctx", options_.n_ctx}, {"n_vocab", model_.n_vocab()}}}};
  send_json(res, 200, {{"object", "list"}, {"data", json::array({m})}});
}

void ChatServer::health(http::Response& res) {
  const int busy = slots_.busy();
  send_json(res, 200, {{"status", "ok"}, {"slots_idle", slots_.size() - busy}, {"slots_processing", busy}, {"queued", slots_.waiting()}});
}

void ChatServer::metrics(http::Response& res) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double v) {
    out += str("# HELP r1_", name, " ", help, "\n# TYPE r1_", name, " ", type, "\nr1_", name, " ", v, "\n");
  };
  metric("requests_total", "counter", "HTTP requests received", double(metrics_.requests));
  metric("request_errors_total", "counter", "requests answered with an error", double(metrics_.errors));
  metric("requests_cancelled_total", "counter", "generations stopped because the client left", double(metrics_.cancelled));
  metric("prompt_tokens_total", "counter", "prompt tokens of finished generations", double(metrics_.prompt_tokens));
  metric("prompt_cache_hit_tokens_total", "counter", "prompt tokens reused from a slot's KV cache", double(metrics_.cached_prompt_tokens));
  metric("prompt_cache_disk_tokens_total", "counter", "prompt tokens read from --cache-dir", double(metrics_.disk_cached_prompt_tokens));
  metric("completion_tokens_total", "counter", "generated tokens", double(metrics_.completion_tokens));
  metric("reasoning_tokens_total", "counter", "generated tokens inside <think>", double(metrics_.reasoning_tokens));
  metric("decode_seconds_total", "counter", "time spent generating", double(metrics_.decode_microseconds) * 1e-6);
  metric("slots_total", "gauge", "generation slots (-np)", slots_.size());
  metric("slots_busy", "gauge", "slots generating now", slots_.busy());
  metric("queue_depth", "gauge", "requests waiting for a slot", slots_.waiting());
  if (const BatchEngine* e = slots_.engine()) {
    metric("batch_steps_total", "counter", "batched decode steps", double(e->steps()));
    metric("batch_tokens_total", "counter", "tokens computed in batched decode steps", double(e->batched_tokens()));
  }
  res.send(200, "text/plain; version=0.0.4", out);
}

void ChatServer::tokenize(const http::Request& req, http::Response& res) {
  const json body = parse_body(req.body);
  auto it = body.find("content");
  if (it == body.end() || !it->is_string()) throw ApiError(400, "'content' must be a string", "content");
  bool add_special = false;
  if (auto a = body.find("add_special"); a != body.end()) {
    if (!a->is_boolean()) throw ApiError(400, "'add_special' must be a boolean", "add_special");
    add_special = a->get<bool>();
  }
  send_json(res, 200, {{"tokens", model_.tokenizer().encode(it->get<std::string>(), add_special)}});
}

void ChatServer::detokenize(const http::Request& req, http::Response& res) {
  const json body = parse_body(req.body);
  auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) throw ApiError(400, "'tokens' must be an array of token ids", "tokens");
  std::vector<int32_t> ids;
  for (const json& t : *it) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= model_.n_vocab())
      throw ApiError(400, str("'tokens' must hold ids in [0, ", model_.n_vocab(), ")"), "tokens");
    ids.push_back(int32_t(t.get<int64_t>()));
  }
  send_json(res, 200, {{"content", model_.tokenizer().decode(ids)}});
}

namespace {

// One choice of a request: what the session returned and, if asked, the logprobs of its tokens.
struct ChoiceRun {
  GenerationResult result;
  json logprobs = json::array();
};

// --reasoning-format none: the thinking stays in the text, inside its tags (as streamed).
std::string with_think_tags(const GenerationResult& r) {
  return r.reasoning.empty() ? r.answer : "<think>\n" + r.reasoning + "\n</think>\n\n" + r.answer;
}

// The prompt ends inside a think block (the R1 template's "<think>\n"), as Session decides it.
bool prompt_in_reasoning(const Tokenizer& tok, const std::vector<int32_t>& prompt) {
  const std::string text = tok.decode(prompt);
  const size_t open = text.rfind("<think>"), close = text.rfind("</think>");
  return open != std::string::npos && (close == std::string::npos || open > close);
}

// Constrains one generation of a slot to a JSON object answer (when asked), and only that one.
class JsonModeGuard {
 public:
  JsonModeGuard(const SlotLease& lease, bool on, bool in_reasoning) : ctx_(on ? &lease.json_mode() : nullptr) {
    if (ctx_) ctx_->arm(in_reasoning);
  }
  ~JsonModeGuard() {
    if (ctx_) ctx_->disarm();
  }

 private:
  JsonConstrainedContext* ctx_;
};

std::vector<int32_t> prompt_tokens(const GenerationJob& job, const Model& model, const SlotPool& slots) {
  if (!job.chat) return model.tokenizer().encode(job.prompt, /*add_special=*/true);
  return slots.chat_prompt(job.messages);
}

}  // namespace

void ChatServer::chat_completions(const http::Request& req, http::Response& res, bool chat) {
  const json body = parse_body(req.body);
  GenerationJob job = chat ? parse_chat_request(body, options_.defaults) : parse_completion_request(body, options_.defaults);
  std::vector<int32_t> prompt;
  try {
    prompt = prompt_tokens(job, model_, slots_);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "messages");
  }
  if (int64_t(prompt.size()) >= options_.n_ctx)
    throw ApiError(400, str("This model's maximum context length is ", options_.n_ctx, " tokens, but the prompt has ", prompt.size(), " tokens"),
                   chat ? "messages" : "prompt", "", "context_length_exceeded");

  const std::string id = new_id(chat ? "chatcmpl-" : "cmpl-");
  const int64_t created = unix_time();
  const std::string& model_id = options_.defaults.model_id;
  const char* object = chat ? "chat.completion.chunk" : "text_completion";
  auto chunk = [&](json choices) {
    return json{{"id", id}, {"object", object}, {"created", created}, {"model", model_id}, {"system_fingerprint", "r1cpp"},
                {"choices", std::move(choices)}};
  };

  // Streams start before the slot is free so the wait can send keep-alive comments.
  std::function<bool()> tick = [&] { return !res.peer_closed(); };
  if (job.stream) {
    res.begin_stream(200, "text/event-stream");
    tick = [&] { return res.write(": keep-alive\n\n"); };
  }
  std::optional<SlotLease> lease = slots_.acquire(prompt, tick);
  if (!lease) {
    metrics_.cancelled++;
    return;
  }
  Session& session = lease->session();
  const Tokenizer& tok = model_.tokenizer();

  std::vector<ChoiceRun> runs(size_t(job.n));
  int64_t cached_first = 0;
  for (int i = 0; i < job.n; i++) {
    GenerationParams params = job.params;
    if (job.seeded) params.sampling.seed += uint64_t(i);
    else if (i > 0) params.sampling.seed = std::random_device{}();
    ChoiceRun& run = runs[size_t(i)];
    bool role_sent = false, gone = false;
    int32_t last_token = -1;
    Channel last_channel = Channel::Reasoning;
    json pending_logprobs = json::array();  // entries of tokens whose text has not been sent yet
    bool think_open_sent = false;
    auto on_event = [&](const StreamEvent& e) {
      // A token whose text crosses "</think>" comes as two events (reasoning, then answer).
      const bool same_token = e.token == last_token && e.channel != last_channel;
      if (job.top_logprobs >= 0 && e.token >= 0 && !same_token) {
        json entry = logprob_entry(tok, session.last_logits(), e.token, job.top_logprobs);
        run.logprobs.push_back(entry);
        pending_logprobs.push_back(std::move(entry));
      }
      if (e.token >= 0) last_token = e.token, last_channel = e.channel;
      if (!job.stream) return !res.peer_closed();
      if (e.text.empty()) return !res.peer_closed();
      json choice = {{"index", i}, {"finish_reason", nullptr}};
      if (job.top_logprobs >= 0) {
        choice["logprobs"] = {{"content", pending_logprobs}};
        pending_logprobs = json::array();
      } else {
        choice["logprobs"] = nullptr;
      }
      std::string text = e.text;
      const bool reasoning = e.channel == Channel::Reasoning;
      if (options_.reasoning_in_content) {
        if (reasoning && !think_open_sent) text = "<think>\n" + text, think_open_sent = true;
        if (!reasoning && think_open_sent) text = "\n</think>\n\n" + text, think_open_sent = false;
      }
      if (chat) {
        json delta = json::object();
        if (!role_sent) delta["role"] = "assistant", role_sent = true;
        const bool split = reasoning && !options_.reasoning_in_content;
        delta["content"] = split ? json(nullptr) : json(text);
        delta["reasoning_content"] = split ? json(text) : json(nullptr);
        choice["delta"] = delta;
      } else {
        choice["text"] = text;
      }
      if (!res.write(sse(chunk(json::array({choice}))))) gone = true;
      return !gone;
    };
    try {
      JsonModeGuard json_mode(*lease, job.json_object, job.json_object && prompt_in_reasoning(tok, prompt));
      run.result = session.generate(prompt, params, on_event);
    } catch (const Error& e) {
      if (StoredPrefixContext* stored = lease->stored()) stored->take_restored();
      if (!job.stream) throw ApiError(500, e.what());
      res.write(sse(ApiError(500, e.what()).body()));
      res.write("data: [DONE]\n\n");
      return;
    }
    // Prompt positions read from --cache-dir count as cached, like those reused in RAM.
    int64_t from_disk = 0;
    if (StoredPrefixContext* stored = lease->stored()) {
      from_disk = stored->take_restored();
      if (i == 0) stored->save(prompt);
    }
    run.result.cached_prompt_tokens += from_disk;
    if (i == 0) cached_first = run.result.cached_prompt_tokens;
    const GenerationResult& r = run.result;
    metrics_.prompt_tokens += r.prompt_tokens;
    metrics_.cached_prompt_tokens += r.cached_prompt_tokens;
    metrics_.disk_cached_prompt_tokens += from_disk;
    metrics_.completion_tokens += r.completion_tokens;
    metrics_.reasoning_tokens += r.reasoning_tokens;
    metrics_.decode_microseconds += int64_t(r.decode_seconds * 1e6);
    if (r.finish_reason == "cancelled") {
      metrics_.cancelled++;
      return;  // the client is gone: free the slot now
    }
    if (job.stream) {
      json choice = {{"index", i}, {"finish_reason", finish_reason(r.finish_reason)}, {"logprobs", nullptr}};
      if (job.top_logprobs >= 0 && !pending_logprobs.empty()) choice["logprobs"] = {{"content", pending_logprobs}};
      if (chat) choice["delta"] = options_.reasoning_in_content && think_open_sent ? json{{"content", "\n</think>\n\n"}} : json::object();
      else choice["text"] = "";
      if (!res.write(sse(chunk(json::array({choice}))))) return;
    }
  }
  lease.reset();  // the slot is free before the answer is written

  int64_t completion = 0, reasoning = 0;
  for (const ChoiceRun& run : runs) completion += run.result.completion_tokens, reasoning += run.result.reasoning_tokens;
  const json usage = usage_json(int64_t(prompt.size()), cached_first, completion, reasoning);
  if (job.stream) {
    if (job.include_usage) {
      json last = chunk(json::array());
      last["usage"] = usage;
      res.write(sse(last));
    }
    res.write("data: [DONE]\n\n");
    return;
  }
  json choices = json::array();
  for (int i = 0; i < job.n; i++) {
    const GenerationResult& r = runs[size_t(i)].result;
    json choice = {{"index", i}, {"finish_reason", finish_reason(r.finish_reason)}};
    choice["logprobs"] = job.top_logprobs >= 0 ? json{{"content", runs[size_t(i)].logprobs}} : json(nullptr);
    if (chat) {
      json message = {{"role", "assistant"}};
      if (options_.reasoning_in_content) {
        message["content"] = with_think_tags(r);
        message["reasoning_content"] = nullptr;
      } else {
        message["content"] = r.answer;
        message["reasoning_content"] = r.reasoning.empty() ? json(nullptr) : json(r.reasoning);
      }
      choice["message"] = message;
    } else {
      choice["text"] = options_.reasoning_in_content ? with_think_tags(r) : r.answer;
      if (!options_.reasoning_in_content) choice["reasoning_content"] = r.reasoning;
    }
    choices.push_back(choice);
  }
  json out = chunk(choices);
  out["object"] = chat ? "chat.completion" : "text_completion";
  out["usage"] = usage;
  send_json(res, 200, out);
}

void ChatServer::ollama(const http::Request& req, http::Response& res, bool chat) {
  const json body = parse_body(req.body);
  GenerationJob job = parse_ollama_request(body, options_.defaults, chat);
  const std::vector<int32_t> prompt = prompt_tokens(job, model_, slots_);
  if (int64_t(prompt.size()) >= options_.n_ctx)
    throw ApiError(400, str("the prompt has ", prompt.size(), " tokens but the context is ", options_.n_ctx), "messages");
  const std::string& model_id = options_.defaults.model_id;
  // One NDJSON line per piece of text; thinking goes to message.thinking / thinking like Ollama's.
  auto piece = [&](const std::string& text, bool thinking, bool done) {
    json j = {{"model", model_id}, {"created_at", iso_time()}, {"done", done}};
    if (chat) {
      j["message"] = {{"role", "assistant"}, {"content", thinking ? "" : text}};
      if (thinking) j["message"]["thinking"] = text;
    } else {
      j["response"] = thinking ? "" : text;
      if (thinking) j["thinking"] = text;
    }
    return j;
  };
  if (job.stream) res.begin_stream(200, "application/x-ndjson");
  std::optional<SlotLease> lease = slots_.acquire(prompt, [&] { return !res.peer_closed(); });
  if (!lease) return;
  const auto start = std::chrono::steady_clock::now();
  JsonModeGuard json_mode(*lease, job.json_object, job.json_object && prompt_in_reasoning(model_.tokenizer(), prompt));
  GenerationResult r = lease->session().generate(prompt, job.params, [&](const StreamEvent& e) {
    if (!job.stream || e.text.empty()) return !res.peer_closed();
    return res.write(dump(piece(e.text, e.channel == Channel::Reasoning, false)) + "\n");
  });
  lease.reset();
  metrics_.prompt_tokens += r.prompt_tokens;
  metrics_.cached_prompt_tokens += r.cached_prompt_tokens;
  metrics_.completion_tokens += r.completion_tokens;
  if (r.finish_reason == "cancelled") return;
  const int64_t total_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  json last = job.stream ? piece("", false, true) : piece(r.answer, false, true);
  if (!job.stream && !r.reasoning.empty()) (chat ? last["message"]["thinking"] : last["thinking"]) = r.reasoning;
  last["done_reason"] = finish_reason(r.finish_reason);
  last["total_duration"] = total_ns;
  last["prompt_eval_count"] = r.prompt_tokens;
  last["prompt_eval_duration"] = int64_t(r.prefill_seconds * 1e9);
  last["eval_count"] = r.completion_tokens;
  last["eval_duration"] = int64_t(r.decode_seconds * 1e9);
  if (job.stream) res.write(dump(last) + "\n");
  else send_json(res, 200, last);
}

}  // namespace r1::server
