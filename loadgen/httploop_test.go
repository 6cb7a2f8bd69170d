package loadgen

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
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
	if s := out.Step; s.Sent+s.NeverSent != 250 || s.Answered != s.Sent {
		t.Errorf("sent %d + never sent %d, answered %d (errors %v): want the schedule's 250, every one sent answered", s.Sent, s.NeverSent, s.Answered, s.Errors)
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

// TestHTTPLoopOpensConnectionsBeforeTheSchedule: every connection is up
// before the first request, so no request waits for a handshake; ten
// requests 50 ms apart would otherwise use one connection.
func TestHTTPLoopOpensConnectionsBeforeTheSchedule(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go serveTinyHTTP(countAccepts{ln, &accepted})
	g, err := NewHTTP(HTTPConfig{URL: "http://" + ln.Addr().String() + "/", Connections: 8, ExpectBodySize: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.RunStep(context.Background(), StepSpec{Rate: 20, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if out.Step.Answered != 10 {
		t.Errorf("answered %d of 10 (errors %v)", out.Step.Answered, out.Step.Errors)
	}
	if n := accepted.Load(); n != 8 {
		t.Errorf("server accepted %d connections, want all 8 opened before the schedule", n)
	}
}

// countAccepts counts the connections a listener accepts.
type countAccepts struct {
	net.Listener
	n *atomic.Int32
}

func (c countAccepts) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err == nil {
		c.n.Add(1)
	}
	return conn, err
}

// TestHTTPLoopNewConnectionPerRequest: with NewConnection every request
// goes out on a connection of its own and asks the server to close it. A
// server that keeps the connection open anyway holds the connection's slot
// only until the timeout: with 2 connections and a 100 ms timeout, all 10
// requests 100 ms apart are answered (if the slots waited for the server's
// close, 2 would be).
func TestHTTPLoopNewConnectionPerRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted, askedToClose atomic.Int32
	go serveEach(countAccepts{ln, &accepted}, func(c net.Conn) {
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if bytes.Contains(buf[:n], []byte("\r\nConnection: close\r\n")) {
			askedToClose.Add(1)
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		io.Copy(io.Discard, c) // keep it open until the client closes
	})
	g, err := NewHTTP(HTTPConfig{URL: "http://" + ln.Addr().String() + "/", Connections: 2, NewConnection: true,
		Timeout: 100 * time.Millisecond, ExpectBodySize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !g.useLoop() {
		t.Fatal("a plain http generator with a new connection per request does not use the event loop")
	}
	out, err := g.RunStep(context.Background(), StepSpec{Rate: 10, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if out.Step.Answered != 10 {
		t.Errorf("answered %d of 10 (errors %v)", out.Step.Answered, out.Step.Errors)
	}
	if n, asked := accepted.Load(), askedToClose.Load(); n != 10 || asked != 10 {
		t.Errorf("server accepted %d connections, %d requests asked it to close; want 10 and 10", n, asked)
	}
}
