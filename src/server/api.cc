#include "server/api.h"

#include <random>

#include "core/error.h"

namespace r1::server {
namespace {

std::string type_for(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "server_overloaded";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

const char* json_type(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

// Field readers: absent or null keeps the default; a wrong type or range is a 400 naming the field.
std::optional<double> number(const json& o, const char* key, double lo, double hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) throw ApiError(400, str("'", key, "' must be a number, not ", json_type(*it)), key);
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi)) throw ApiError(400, str("'", key, "' must be between ", lo, " and ", hi, ", got ", v), key);
  return v;
}

std::optional<int64_t> integer(const json& o, const char* key, int64_t lo, int64_t hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) throw ApiError(400, str("'", key, "' must be an integer, not ", json_type(*it)), key);
  const int64_t v = it->is_number_unsigned() ? int64_t(std::min<uint64_t>(it->get<uint64_t>(), uint64_t(INT64_MAX))) : it->get<int64_t>();
  if (v < lo || v > hi) throw ApiError(400, str("'", key, "' must be between ", lo, " and ", hi, ", got ", v), key);
  return v;
}

std::optional<bool> boolean(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw ApiError(400, str("'", key, "' must be a boolean, not ", json_type(*it)), key);
  return it->get<bool>();
}

std::optional<std::string> string(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw ApiError(400, str("'", key, "' must be a string, not ", json_type(*it)), key);
  return it->get<std::string>();
}

void check_model(const json& body, const ServerDefaults& d) {
  const auto model = string(body, "model");
  if (model && !model->empty() && *model != d.model_id)
    throw ApiError(404, str("The model '", *model, "' does not exist; this server serves '", d.model_id, "'"), "model", "",
                   "model_not_found");
}

// "stop": a string or up to 16 strings.
std::vector<std::string> stop_strings(const json& o) {
  auto it = o.find("stop");
  if (it == o.end() || it->is_null()) return {};
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array() || it->size() > 16) throw ApiError(400, "'stop' must be a string or an array of at most 16 strings", "stop");
  std::vector<std::string> out;
  for (const json& s : *it) {
    if (!s.is_string()) throw ApiError(400, "'stop' must be a string or an array of at most 16 strings", "stop");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// The sampling fields shared by the OpenAI routes and Ollama's options object.
void read_sampling(const json& o, GenerationJob& job) {
  SamplerParams& s = job.params.sampling;
  if (auto v = number(o, "temperature", 0, 2)) s.temperature = float(*v);
  if (auto v = number(o, "top_p", 0, 1)) {
    if (*v == 0) throw ApiError(400, "'top_p' must be greater than 0", "top_p");
    s.top_p = float(*v);
  }
  if (auto v = integer(o, "top_k", 0, 1 << 30)) s.top_k = int(*v);
  if (auto v = number(o, "min_p", 0, 1)) s.min_p = float(*v);
  if (auto v = number(o, "presence_penalty", -2, 2)) s.presence_penalty = float(*v);
  if (auto v = number(o, "frequency_penalty", -2, 2)) s.frequency_penalty = float(*v);
  if (auto v = number(o, "repeat_penalty", 0, 10)) s.repeat_penalty = float(*v);
  if (auto v = integer(o, "seed", INT64_MIN, INT64_MAX)) {
    s.seed = uint64_t(*v);
    job.seeded = true;
  }
  if (o.contains("stop")) job.params.stop = stop_strings(o);
  // Our extension (llama.cpp has --reasoning-budget): thinking tokens at most, then answer.
  if (auto v = integer(o, "reasoning_budget", -1, INT64_MAX)) job.params.reasoning_budget = *v;
}

// Fields of the OpenAI routes beyond sampling: limits, streaming, n, logprobs, response_format.
void read_openai_fields(const json& body, GenerationJob& job) {
  read_sampling(body, job);
  if (auto v = integer(body, "max_tokens", 0, INT64_MAX)) job.params.max_tokens = *v;
  if (auto v = integer(body, "max_completion_tokens", 0, INT64_MAX)) job.params.max_tokens = *v;
  if (auto v = boolean(body, "stream")) job.stream = *v;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw ApiError(400, "'stream_options' must be an object", "stream_options");
    if (auto v = boolean(*it, "include_usage")) job.include_usage = *v;
  }
  if (auto v = integer(body, "n", 1, 16)) job.n = int(*v);
  const bool logprobs = boolean(body, "logprobs").value_or(false);
  const auto top = integer(body, "top_logprobs", 0, 20);
  if (top && !logprobs) throw ApiError(400, "'top_logprobs' needs 'logprobs': true", "top_logprobs");
  if (logprobs) job.top_logprobs = int(top.value_or(0));
  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    const std::string type = it->is_object() ? string(*it, "type").value_or("") : "";
    if (type == "json_object") {
      job.json_object = true;
    } else if (type != "text") {
      throw ApiError(400, "'response_format.type' must be \"text\" or \"json_object\"", "response_format");
    }
  }
}

// Message content: a string, or OpenAI's array of {"type":"text","text":...} parts.
std::optional<std::string> content_text(const json& m, size_t i) {
  auto it = m.find("content");
  if (it == m.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string text;
    for (const json& part : *it) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        throw ApiError(400, str("messages[", i, "].content: only text parts are supported"), "messages");
      text += part["text"].get<std::string>();
    }
    return text;
  }
  throw ApiError(400, str("messages[", i, "].content must be a string or an array of text parts"), "messages");
}

std::vector<ChatMessage> read_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) throw ApiError(400, "'messages' is required", "messages");
  if (!it->is_array()) throw ApiError(400, str("'messages' must be an array, not ", json_type(*it)), "messages");
  if (it->empty()) throw ApiError(400, "'messages' must not be empty", "messages");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); i++) {
    const json& m = (*it)[i];
    if (!m.is_object()) throw ApiError(400, str("messages[", i, "] must be an object"), "messages");
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string()) throw ApiError(400, str("messages[", i, "].role is required"), "messages");
    ChatMessage msg;
    msg.role = role->get<std::string>();
    if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name for it
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool")
      throw ApiError(400, str("messages[", i, "].role '", msg.role, "' is not one of system, user, assistant, tool"), "messages");
    msg.content = content_text(m, i);
    if (!msg.content && msg.role != "assistant") throw ApiError(400, str("messages[", i, "].content is required"), "messages");
    // Reasoning of earlier turns is accepted and dropped (the R1 template does not render it).
    if (auto rc = m.find("reasoning_content"); rc != m.end() && rc->is_string()) msg.reasoning_content = rc->get<std::string>();
    out.push_back(std::move(msg));
  }
  return out;
}

GenerationJob job_from_defaults(const ServerDefaults& d) {
  GenerationJob job;
  job.params = d.params;
  job.params.sampling.seed = std::random_device{}();
  return job;
}

}  // namespace

ApiError::ApiError(int status_, const std::string& message, std::string param_, std::string type_, std::string code_)
    : std::runtime_error(message), status(status_), param(std::move(param_)), type(type_.empty() ? type_for(status_) : type_),
      code(std::move(code_)) {}

json ApiError::body() const {
  return {{"error",
           {{"message", what()},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

json parse_body(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

GenerationJob parse_chat_request(const json& body, const ServerDefaults& d) {
  GenerationJob job = job_from_defaults(d);
  check_model(body, d);
  job.messages = read_messages(body);
  read_openai_fields(body, job);
  return job;
}

GenerationJob parse_completion_request(const json& body, const ServerDefaults& d) {
  GenerationJob job = job_from_defaults(d);
  check_model(body, d);
  job.chat = false;
  auto it = body.find("prompt");
  if (it == body.end() || !it->is_string()) throw ApiError(400, "'prompt' must be a string", "prompt");
  job.prompt = it->get<std::string>();
  if (job.prompt.empty()) throw ApiError(400, "'prompt' must not be empty", "prompt");
  read_openai_fields(body, job);
  return job;
}

GenerationJob parse_ollama_request(const json& body, const ServerDefaults& d, bool chat) {
  GenerationJob job = job_from_defaults(d);
  check_model(body, d);
  job.chat = chat;
  if (chat) {
    job.messages = read_messages(body);
  } else {
    job.prompt = string(body, "prompt").value_or("");
    if (job.prompt.empty()) throw ApiError(400, "'prompt' is required", "prompt");
    // Ollama's generate applies the chat template to the prompt unless raw is set.
    if (!boolean(body, "raw").value_or(false)) {
      job.chat = true;
      if (auto sys = string(body, "system")) job.messages.push_back({"system", *sys, std::nullopt, {}});
      job.messages.push_back({"user", job.prompt, std::nullopt, {}});
    }
  }
  job.stream = boolean(body, "stream").value_or(true);
  if (auto it = body.find("options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw ApiError(400, "'options' must be an object", "options");
    read_sampling(*it, job);
    if (auto v = integer(*it, "num_predict", -2, INT64_MAX)) job.params.max_tokens = *v < 0 ? -1 : *v;
  }
  if (auto f = body.find("format"); f != body.end() && f->is_string() && f->get<std::string>() == "json") job.json_object = true;
  return job;
}

const char* finish_reason(const std::string& r) {
  return r == "length" || r == "context" ? "length" : "stop";
}

json usage_json(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens, int64_t reasoning_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}},
          {"prompt_cache_hit_tokens", cached_tokens},
          {"prompt_cache_miss_tokens", prompt_tokens - cached_tokens},
          {"completion_tokens_details", {{"reasoning_tokens", reasoning_tokens}}}};
}

}  // namespace r1::server
