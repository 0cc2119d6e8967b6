#include "server/http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace r1::http {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// Waits until fd is readable; false on timeout, on a stop request or an error.
bool wait_readable(int fd, int timeout_ms, const std::atomic<bool>& stopping) {
  // Short polls so that an idle connection notices a shutdown quickly.
  for (int waited = 0; waited < timeout_ms; waited += 100) {
    if (stopping) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, 100);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
  return false;
}

// Reads into buf until it holds "\r\n\r\n"; returns the head's length (with the blank line),
// 0 when the connection ends or idles out first, -1 when the head exceeds max_header.
long read_head(int fd, std::string& buf, size_t max_header, int idle_ms, const std::atomic<bool>& stopping) {
  for (;;) {
    const size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) return end + 4 > max_header ? -1 : long(end + 4);
    if (buf.size() > max_header) return -1;
    if (!wait_readable(fd, idle_ms, stopping)) return 0;
    char tmp[8192];
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return 0;
    buf.append(tmp, size_t(n));
  }
}

// Parses "METHOD TARGET HTTP/1.x" and the header lines; false when malformed.
bool parse_head(const std::string& head, Request& req, bool& http11) {
  size_t pos = head.find("\r\n");
  const std::string line = head.substr(0, pos);
  const size_t s1 = line.find(' '), s2 = line.rfind(' ');
  if (s1 == std::string::npos || s2 == s1) return false;
  req.method = line.substr(0, s1);
  const std::string target = line.substr(s1 + 1, s2 - s1 - 1);
  const std::string version = line.substr(s2 + 1);
  if (version.rfind("HTTP/1.", 0) != 0 || target.empty()) return false;
  http11 = version != "HTTP/1.0";
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  req.query = q == std::string::npos ? "" : target.substr(q + 1);
  while (pos + 2 < head.size()) {
    const size_t next = head.find("\r\n", pos + 2);
    const std::string h = head.substr(pos + 2, next - pos - 2);
    pos = next;
    if (h.empty()) break;
    const size_t colon = h.find(':');
    if (colon == std::string::npos) return false;
    req.headers[lower(trim(h.substr(0, colon)))] = trim(h.substr(colon + 1));
  }
  return true;
}

void send_plain_error(int fd, int status, const std::string& message) {
  Response res(fd, false);
  const std::string body = std::string("{\"error\":{\"message\":\"") + message +
                           "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}";
  res.send(status, "application/json", body);
  // Closing with unread input makes the kernel send a reset, and a client still uploading would
  // see "connection reset" instead of our answer: finish our side, then read and drop what it
  // still sends (bounded in time).
  ::shutdown(fd, SHUT_WR);
  char tmp[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::recv(fd, tmp, sizeof tmp, 0) <= 0) break;
  }
}

}  // namespace

std::string Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

bool Response::write_all(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    // MSG_NOSIGNAL: a vanished client gives EPIPE here instead of killing the process.
    const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      broken_ = true;
      return false;
    }
    done += size_t(n);
  }
  return true;
}

void Response::send(int status, const std::string& content_type, const std::string& body,
                    const std::map<std::string, std::string>& headers) {
  if (started_) return;
  started_ = true;
  std::string head = str("HTTP/1.1 ", status, " ", status_text(status), "\r\n");
  head += "Content-Type: " + content_type + "\r\n";
  head += str("Content-Length: ", body.size(), "\r\n");
  for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
  head += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  write_all(head + body);
}

void Response::begin_stream(int status, const std::string& content_type, const std::map<std::string, std::string>& headers) {
  if (started_) return;
  started_ = streaming_ = true;
  std::string head = str("HTTP/1.1 ", status, " ", status_text(status), "\r\n");
  head += "Content-Type: " + content_type + "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
  for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
  head += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  write_all(head);
}

bool Response::write(const std::string& data) {
  if (!streaming_ || broken_) return false;
  if (data.empty()) return !peer_closed();  // an empty chunk would end the stream
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return write_all(size + data + "\r\n") && !peer_closed();
}

void Response::end_stream() {
  if (!streaming_) return;
  streaming_ = false;
  if (!broken_) write_all("0\r\n\r\n");
}

bool Response::peer_closed() const {
  if (broken_) return true;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  // Readable: either a pipelined request (still connected) or EOF.
  char c;
  return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

Server::Server(const ServerOptions& options, Handler handler) : options_(options), handler_(std::move(handler)) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  const std::string port = std::to_string(options.port);
  if (::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    fail("serve: cannot resolve host '", options.host, "'");
  listen_fd_ = ::socket(res->ai_family, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool ok = listen_fd_ >= 0 && ::bind(listen_fd_, res->ai_addr, res->ai_addrlen) == 0 && ::listen(listen_fd_, 256) == 0;
  ::freeaddrinfo(res);
  if (!ok) {
    const std::string why = std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    fail("serve: cannot listen on ", options.host, ":", options.port, ": ", why);
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

Server::~Server() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void Server::run() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (open_ >= options_.max_connections) {
      send_plain_error(fd, 503, "too many open connections");
      ::close(fd);
      continue;
    }
    open_++;
    std::thread([this, fd] {
      serve_connection(fd);
      ::close(fd);
      open_--;
    }).detach();
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  // Drain: requests in flight finish; idle keep-alive connections see stopping_ and close.
  while (open_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void Server::serve_connection(int fd) {
  std::string buf;
  for (;;) {
    const long head_len = read_head(fd, buf, options_.max_header, options_.idle_timeout_ms, stopping_);
    if (head_len == 0) return;
    if (head_len < 0) return send_plain_error(fd, 431, "request head too large");
    Request req;
    bool http11 = true;
    if (!parse_head(buf.substr(0, size_t(head_len)), req, http11)) return send_plain_error(fd, 400, "malformed HTTP request");
    buf.erase(0, size_t(head_len));
    if (!req.header("transfer-encoding").empty()) return send_plain_error(fd, 411, "chunked request bodies are not supported");
    size_t length = 0;
    const std::string cl = req.header("content-length");
    if (!cl.empty()) {
      char* end = nullptr;
      errno = 0;
      const unsigned long long v = std::strtoull(cl.c_str(), &end, 10);
      if (*end || errno || cl[0] == '-') return send_plain_error(fd, 400, "bad Content-Length");
      if (v > options_.max_body)
        return send_plain_error(fd, 413, str("request body of ", v, " bytes is over the limit of ", options_.max_body));
      length = size_t(v);
    }
    // curl asks before sending a large body and would otherwise wait a second.
    if (lower(req.header("expect")) == "100-continue" && buf.size() < length) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      ::send(fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
    }
    while (buf.size() < length) {
      if (!wait_readable(fd, options_.idle_timeout_ms, stopping_)) return;
      char tmp[65536];
      const ssize_t n = ::recv(fd, tmp, std::min(sizeof tmp, length - buf.size()), 0);
      if (n <= 0) return;
      buf.append(tmp, size_t(n));
    }
    req.body = buf.substr(0, length);
    buf.erase(0, length);

    const std::string conn = lower(req.header("connection"));
    const bool keep_alive = http11 ? conn != "close" : conn == "keep-alive";
    Response res(fd, keep_alive && !stopping_);
    try {
      handler_(req, res);
    } catch (const std::exception& e) {
      if (!res.started()) send_plain_error(fd, 500, "internal error");
    }
    if (!res.started()) res.send(500, "application/json", "{\"error\":{\"message\":\"no response\",\"type\":\"server_error\"}}");
    res.end_stream();
    if (!res.keep_alive() || stopping_) return;
  }
}

}  // namespace r1::http
