// `r1 serve`'s routes: the OpenAI / DeepSeek API (chat and text completions, models), Ollama's
// chat / generate / tags, tokenize / detokenize, health, Prometheus metrics and the web app at /.
// Requests run on the slots of a SlotPool; this file turns them into the wire formats.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "model/model.h"
#include "server/api.h"
#include "server/http.h"
#include "server/slots.h"

namespace r1::server {

struct ServeOptions {
  int n_slots = 1;
  int64_t n_ctx = 4096;
  int n_threads = 1;              // in all, shared by the slots
  bool batching = true;           // one decode step for all slots (model/batch.h)
  std::string cache_dir;          // --cache-dir: prompt prefixes kept on disk
  int max_queue = 64;             // requests waiting for a slot before 503
  std::string api_key;            // empty: no key needed
  bool reasoning_in_content = false;  // --reasoning-format none: <think> text stays in content
  ServerDefaults defaults;        // model id and sampling defaults
};

// Counters for /metrics (Prometheus text format).
struct Metrics {
  std::atomic<int64_t> requests{0}, errors{0}, prompt_tokens{0}, cached_prompt_tokens{0}, completion_tokens{0},
      reasoning_tokens{0}, cancelled{0}, disk_cached_prompt_tokens{0};
  std::atomic<int64_t> decode_microseconds{0};
};

class ChatServer {
 public:
  ChatServer(const Model& model, const ServeOptions& options);

  // The router: every request of the HTTP server comes here.
  void handle(const http::Request& req, http::Response& res);

  const SlotPool& slots() const { return slots_; }

 private:
  void chat_completions(const http::Request& req, http::Response& res, bool chat);
  void ollama(const http::Request& req, http::Response& res, bool chat);
  void tokenize(const http::Request& req, http::Response& res);
  void detokenize(const http::Request& req, http::Response& res);
  void models(http::Response& res);
  void health(http::Response& res);
  void metrics(http::Response& res);

  const Model& model_;
  ServeOptions options_;
  SlotPool slots_;
  Metrics metrics_;
};

}  // namespace r1::server
