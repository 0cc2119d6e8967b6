// The HTTP server over real loopback sockets: keep-alive, limits, chunked streams, a client that
// leaves mid-stream, and stop() draining a request in flight.
#include "server/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace r1::http {
namespace {

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

void send_all(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size())); }

// Reads until `needle` has arrived (or the peer closes); returns everything read.
std::string read_until(int fd, const std::string& needle) {
  std::string out;
  char buf[4096];
  while (out.find(needle) == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

// A server on a free port, running on its own thread for the test's lifetime.
struct TestServer {
  explicit TestServer(Handler h, ServerOptions o = {}) : server((o.port = 0, o), std::move(h)), thread([this] { server.run(); }) {}
  ~TestServer() {
    server.stop();
    thread.join();
  }
  Server server;
  std::thread thread;
};

TEST(HttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  TestServer t([](const Request& req, Response& res) { res.send(200, "text/plain", req.method + " " + req.path + " " + req.query + " " + req.body); });
  const int fd = connect_to(t.server.port());
  send_all(fd, "POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  std::string r = read_until(fd, "hello");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 17\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("POST /a x=1 hello"), std::string::npos);
  send_all(fd, "GET /b HTTP/1.1\r\nConnection: close\r\n\r\n");
  r = read_until(fd, "\r\n\r\nGET /b  ");
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_EQ(read_until(fd, "never"), "");  // the server closed the connection
  ::close(fd);
}

TEST(HttpTest, AnswersExpectContinueBeforeTheBody) {
  TestServer t([](const Request& req, Response& res) { res.send(200, "text/plain", "got " + req.body); });
  const int fd = connect_to(t.server.port());
  send_all(fd, "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(read_until(fd, "\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  send_all(fd, "abc");
  EXPECT_NE(read_until(fd, "got abc").find("got abc"), std::string::npos);
  ::close(fd);
}

TEST(HttpTest, OversizedBodyIs413WithoutReadingIt) {
  ServerOptions o;
  o.max_body = 100;
  bool called = false;
  TestServer t([&](const Request&, Response& res) { called = true, res.send(200, "text/plain", "x"); }, o);
  const int fd = connect_to(t.server.port());
  send_all(fd, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
  const std::string r = read_until(fd, "}}");
  EXPECT_EQ(r.rfind("HTTP/1.1 413 ", 0), 0u) << r;
  EXPECT_NE(r.find("\"error\""), std::string::npos);
  EXPECT_FALSE(called);
  ::close(fd);
}

TEST(HttpTest, MalformedRequestsGet4xx) {
  ServerOptions o;
  o.max_header = 1000;
  TestServer t([](const Request&, Response& res) { res.send(200, "text/plain", "x"); }, o);
  auto answer = [&](const std::string& request) {
    const int fd = connect_to(t.server.port());
    send_all(fd, request);
    const std::string r = read_until(fd, "}}");
    ::close(fd);
    return r.substr(0, 12);
  };
  EXPECT_EQ(answer("NONSENSE\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(answer("GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(answer("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), "HTTP/1.1 411");
  EXPECT_EQ(answer("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n"), "HTTP/1.1 431");
}

TEST(HttpTest, StreamsChunksAndNoticesAClientThatLeft) {
  std::atomic<int> written{0};
  std::atomic<bool> saw_close{false};
  TestServer t([&](const Request&, Response& res) {
    res.begin_stream(200, "text/event-stream");
    for (int i = 0; i < 2000; i++) {
      if (!res.write("data: " + std::to_string(i) + "\n\n")) {
        saw_close = true;
        return;
      }
      written++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  const int fd = connect_to(t.server.port());
  send_all(fd, "GET /s HTTP/1.1\r\n\r\n");
  const std::string r = read_until(fd, "data: 2\n\n");
  EXPECT_NE(r.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(r.find("\r\n9\r\ndata: 0\n\n\r\n"), std::string::npos) << r;  // chunk size in hex, then the chunk
  ::close(fd);
  for (int i = 0; i < 200 && !saw_close; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(saw_close);
  EXPECT_LT(written.load(), 1000);  // stopped long before the end
}

TEST(HttpTest, StopLetsTheRequestInFlightFinish) {
  std::atomic<bool> in_handler{false};
  auto t = std::make_unique<TestServer>([&](const Request&, Response& res) {
    in_handler = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    res.send(200, "text/plain", "finished");
  });
  const int fd = connect_to(t->server.port());
  send_all(fd, "GET / HTTP/1.1\r\n\r\n");
  while (!in_handler) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  t.reset();  // stop() and wait for run() to return
  EXPECT_NE(read_until(fd, "finished").find("finished"), std::string::npos);
  ::close(fd);
}

}  // namespace
}  // namespace r1::http
