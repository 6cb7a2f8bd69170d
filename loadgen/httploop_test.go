package loadgen

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestHTTPLoopWithoutPwait2 runs the event loop as on a kernel older than
// 5.11, with epoll_wait's millisecond timeouts.
func TestHTTPLoopWithoutPwait2(t *testing.T) {
	defer noPwait2.Store(noPwait2.Load())
	noPwait2.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveTinyHTTP(ln)
	g, err := NewHTTP(HTTPConfig{URL: "http://" + ln.Addr().String() + "/", Connections: 4, ExpectBodySize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !g.useLoop() {
		t.Fatal("a plain keep-alive generator does not use the event loop")
	}
	out, err := g.RunStep(context.Background(), StepSpec{Rate: 500, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if out.Step.Answered != 250 {
		t.Errorf("answered %d of 250 (errors %v)", out.Step.Answered, out.Step.Errors)
	}
}

// TestHTTPLoopReconnectsAfterServerClose: a server that closes every
// connection after one answer, saying so (Connection: close), costs no
// request: the next request goes out on a new connection. (One that closes
// without saying so can lose the next request to a reset, counted as such:
// nothing is retried.)
func TestHTTPLoopReconnectsAfterServerClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEach(ln, func(c net.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err == nil {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
		}
	})
	g, err := NewHTTP(HTTPConfig{URL: "http://" + ln.Addr().String() + "/", Connections: 2, ExpectBodySize: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.RunStep(context.Background(), StepSpec{Rate: 400, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if out.Step.Answered != 200 || len(out.Step.Errors) != 0 {
		t.Errorf("answered %d of 200, errors %v", out.Step.Answered, out.Step.Errors)
	}
}
