package servers

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTPConfig configures the HTTP server.
type HTTPConfig struct {
	Listen   string // host:port; port 0 picks a free one
	BodySize int    // bytes served at "/"; default DefaultBodySize
	Faults   Faults // DropEvery answers 503
}

// HTTPServer is a running HTTP server.
type HTTPServer struct {
	Addr string // the address it listens on
	srv  *fasthttp.Server
	ln   net.Listener
	done chan error
}

// Page returns an HTML page of exactly size bytes.
func Page(size int) []byte {
	head := "<!DOCTYPE html>\n<html><head><title>ukbench</title></head><body><p>"
	tail := "</p></body></html>\n"
	if size < len(head)+len(tail) {
		return []byte(strings.Repeat("x", size))
	}
	return []byte(head + strings.Repeat("u", size-len(head)-len(tail)) + tail)
}

// StartHTTP listens and starts serving "/" (the page) and "/healthz".
func StartHTTP(ctx context.Context, cfg HTTPConfig) (*HTTPServer, error) {
	if cfg.BodySize == 0 {
		cfg.BodySize = DefaultBodySize
	}
	if cfg.BodySize < 0 || cfg.BodySize > 64<<20 {
		return nil, fmt.Errorf("http server: body size %d: want 1 byte to 64 MiB", cfg.BodySize)
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("http server: listen address %q: want HOST:PORT: %v", cfg.Listen, err)
	}
	page := Page(cfg.BodySize)
	faults := &faultState{f: cfg.Faults}
	handler := func(c *fasthttp.RequestCtx) {
		switch string(c.Path()) {
		case "/healthz":
			c.SetContentType("text/plain")
			c.SetBodyString("ok\n")
		case "/":
			if faults.active() && faults.apply() {
				c.Error("injected failure", fasthttp.StatusServiceUnavailable)
				return
			}
			c.SetContentType("text/html")
			c.SetBody(page)
		default:
			c.Error("not found", fasthttp.StatusNotFound)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("http server: listen %s: %w", cfg.Listen, err)
	}
	s := &HTTPServer{
		Addr: ln.Addr().String(),
		srv: &fasthttp.Server{
			Handler: handler, Name: "ukbench",
			NoDefaultDate: true, NoDefaultContentType: true,
			Concurrency: 1 << 20, IdleTimeout: 30 * time.Second,
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	return s, nil
}

// Stop closes the listener and, within a second, every open connection.
// Safe to call more than once.
func (s *HTTPServer) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.ShutdownWithContext(ctx); err != nil {
		s.ln.Close()
	}
}

// Wait blocks until the server has stopped.
func (s *HTTPServer) Wait() error { return <-s.done }
