// The wire format of the API (ECOSYSTEM.md §2): request bodies of the OpenAI / DeepSeek routes
// (and Ollama's) read into one GenerationJob, and the OpenAI-style error that every bad request
// becomes. Pure functions of JSON, so every field rule is tested without a socket.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/session.h"
#include "tokenizer/chat_template.h"

namespace r1::server {

using json = nlohmann::json;

// A request the server refuses: HTTP status and the OpenAI error body's fields.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = "", std::string type = "", std::string code = "");
  int status;
  std::string param, type, code;
  // {"error":{"message","type","param","code"}} with null for empty param / code.
  json body() const;
};

// What the server's defaults are when a request leaves a field out.
struct ServerDefaults {
  std::string model_id;  // the id /v1/models lists; requests may name it (or nothing)
  GenerationParams params;
};

// One request, whatever route it came from.
struct GenerationJob {
  bool chat = true;                   // messages (chat template) or a raw prompt
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions
  GenerationParams params;
  bool seeded = false;  // the request gave a seed (else each choice gets a fresh one)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int n = 1;                   // choices
  int top_logprobs = -1;       // -1: no logprobs; else logprobs with this many alternatives
  bool json_object = false;    // response_format {"type":"json_object"}
};

// POST /v1/chat/completions. Throws ApiError (400 / 404) naming the field at fault.
GenerationJob parse_chat_request(const json& body, const ServerDefaults& d);
// POST /v1/completions.
GenerationJob parse_completion_request(const json& body, const ServerDefaults& d);
// POST /api/chat and /api/generate (Ollama: options{...}, stream defaults to true).
GenerationJob parse_ollama_request(const json& body, const ServerDefaults& d, bool chat);

// Parses a request body as a JSON object, or throws ApiError 400.
json parse_body(const std::string& body);

// OpenAI finish_reason of a Session one: eos/stop → "stop", length/context → "length".
const char* finish_reason(const std::string& session_reason);

// The usage object with DeepSeek's cache fields and the reasoning count.
json usage_json(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens, int64_t reasoning_tokens);

}  // namespace r1::server
