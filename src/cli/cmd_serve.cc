// r1 serve: the OpenAI / DeepSeek-compatible API server and the web chat app (src/server).
// SIGTERM and SIGINT stop accepting connections, let the requests in flight finish, and exit 0.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generation_flags.h"
#include "core/error.h"
#include "server/chat_server.h"
#include "server/http.h"

namespace r1::cli {
namespace {

std::atomic<http::Server*> g_server{nullptr};

extern "C" void on_stop_signal(int) {
  if (http::Server* s = g_server.load()) s->stop();
}

std::string read_key_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("--api-key-file: cannot read '", path, "'");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) fail("--api-key-file: '", path, "' is empty");
  return key;
}

}  // namespace

int cmd_serve(const Argv& argv) {
  std::vector<Flag> flags = model_flags();
  for (Flag f : generation_flags()) flags.push_back(f);
  flags.push_back({"--host", "", FlagKind::String, "127.0.0.1", "address to listen on", "ADDR"});
  flags.push_back({"--port", "", FlagKind::Int, "8080", "port to listen on (0: any free port, printed at start)", "N"});
  flags.push_back({"--api-key", "", FlagKind::String, "", "require 'Authorization: Bearer KEY' on the API routes", "KEY"});
  flags.push_back({"--api-key-file", "", FlagKind::String, "", "read the API key from this file", "PATH"});
  flags.push_back({"--parallel", "-np", FlagKind::Int, "1", "generation slots (requests served at once)", "N"});
  flags.push_back({"--queue", "", FlagKind::Int, "64", "requests that may wait for a slot before 503", "N"});
  flags.push_back({"--alias", "", FlagKind::String, "", "the model id the API reports (default: the file name)", "NAME"});
  flags.push_back({"--reasoning-format", "", FlagKind::String, "deepseek",
                   "deepseek: thinking in reasoning_content; none: <think> text left in content", "FMT"});
  flags.push_back({"--cache-dir", "", FlagKind::String, "", "keep prompt prefixes' KV cache on disk here, reused across restarts", "DIR"});
  flags.push_back({"--no-batch", "", FlagKind::Bool, "", "decode each slot on its own instead of one batched step for all"});
  flags.push_back({"--max-body", "", FlagKind::Int, "8388608", "largest request body in bytes (larger: 413)", "N"});
  Args a("serve", "[-m PATH] [--host ADDR] [--port N] [-np N] [flags]", flags);
  if (a.parse_or_help(argv)) return 0;
  const std::string format = a.str("--reasoning-format");
  if (format != "deepseek" && format != "none") fail("--reasoning-format must be deepseek or none, not '", format, "'");
  const int64_t slots = a.i64("--parallel"), queue = a.i64("--queue"), port = a.i64("--port");
  if (slots < 1 || slots > 256) fail("--parallel must be between 1 and 256");
  if (queue < 0) fail("--queue must be >= 0");
  if (port < 0 || port > 65535) fail("--port must be between 0 and 65535");

  auto model = load_model(a);
  server::ServeOptions o;
  o.n_slots = int(slots);
  o.n_ctx = context_from(a, *model);
  o.n_threads = threads_from(a);
  o.batching = !a.flag("--no-batch");
  o.cache_dir = a.str("--cache-dir");
  o.max_queue = int(queue);
  o.api_key = a.has("--api-key-file") ? read_key_file(a.str("--api-key-file")) : a.str("--api-key");
  o.reasoning_in_content = format == "none";
  o.defaults.params = generation_params(a, *model);
  o.defaults.model_id = a.has("--alias") ? a.str("--alias") : std::filesystem::path(model->path()).stem().string();
  if (o.defaults.model_id.empty()) o.defaults.model_id = std::filesystem::path(model->path()).filename().string();

  server::ChatServer chat(*model, o);
  http::ServerOptions ho;
  ho.host = a.str("--host");
  ho.port = int(port);
  ho.max_body = size_t(a.i64("--max-body"));
  http::Server server(ho, [&](const http::Request& req, http::Response& res) { chat.handle(req, res); });

  g_server = &server;
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::printf("r1 serve: model %s, %d slot(s) of %lld tokens, listening on http://%s:%d\n", o.defaults.model_id.c_str(),
              o.n_slots, static_cast<long long>(o.n_ctx), ho.host.c_str(), server.port());
  std::fflush(stdout);
  server.run();
  g_server = nullptr;
  std::printf("r1 serve: stopped\n");
  return 0;
}

}  // namespace r1::cli
