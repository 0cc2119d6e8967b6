// A small HTTP/1.1 server: one thread per connection, blocking sockets, keep-alive, chunked
// streaming. We write our own rather than use cpp-httplib because a server of long-lived streams
// needs three things its fixed worker pool makes awkward (ECOSYSTEM.md §5.4): every open stream
// holds a thread, so /health must not wait behind them; a stream must notice at once that its
// client went away; and the body size must be capped before it is read. Here a connection is a
// thread of its own (up to max_connections), a stream can ask peer_closed() between tokens, and a
// body over max_body bytes is answered 413 without being read.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace r1::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without its query string
  std::string query;   // after '?', undecoded
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;

  std::string header(const std::string& lowercase_name) const;  // "" if absent
};

const char* status_text(int status);  // "OK", "Not Found", ...

// The reply side of one request. Either send() once, or begin_stream() then write() chunks and
// (optionally) end_stream(); a stream not ended by the handler is ended when it returns.
class Response {
 public:
  Response(int fd, bool keep_alive) : fd_(fd), keep_alive_(keep_alive) {}

  void send(int status, const std::string& content_type, const std::string& body,
            const std::map<std::string, std::string>& headers = {});
  void begin_stream(int status, const std::string& content_type, const std::map<std::string, std::string>& headers = {});
  // Sends one chunk; false once the client is gone (the handler should stop generating).
  bool write(const std::string& data);
  void end_stream();
  // True when the client has closed its side (checked without blocking).
  bool peer_closed() const;

  bool started() const { return started_; }
  bool keep_alive() const { return keep_alive_ && !broken_; }

 private:
  bool write_all(const std::string& data);
  int fd_;
  bool keep_alive_;
  bool started_ = false, streaming_ = false, broken_ = false;
};

using Handler = std::function<void(const Request&, Response&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see Server::port())
  size_t max_body = 8 << 20;          // larger bodies get 413
  size_t max_header = 64 << 10;       // larger request heads get 431
  int max_connections = 512;          // more get 503 and are closed
  int idle_timeout_ms = 5000;         // a keep-alive connection waiting this long is closed
};

class Server {
 public:
  // Binds and listens; throws r1::Error when the address cannot be used.
  Server(const ServerOptions& options, Handler handler);
  ~Server();

  int port() const { return port_; }
  // Accepts connections until stop() is called, then waits for the open requests to finish.
  void run();
  // Safe from a signal handler's thread or any other: run() stops accepting and drains.
  void stop() { stopping_ = true; }
  int open_connections() const { return open_; }

 private:
  void serve_connection(int fd);

  ServerOptions options_;
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};
};

}  // namespace r1::http
