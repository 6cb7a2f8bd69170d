package targets

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/targets/servers"
)

// probeTimeout bounds one readiness probe; a slow guest under TCG may take
// a while to answer its first request.
const probeTimeout = 500 * time.Millisecond

// Probe sends one request to a running target and checks the answer: for
// DNS an A query for name that must come back NOERROR with an answer; for
// HTTP a GET of path that must return 200.
func Probe(ctx context.Context, protocol servers.Protocol, addr, name, path string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if protocol == servers.DNS {
		if name == "" {
			name = "www.example.com"
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		c := &dns.Client{Net: "udp", Timeout: probeTimeout}
		r, _, err := c.ExchangeContext(ctx, m, addr)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("dns probe %s: rcode %s, %d answers", name, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		return nil
	}
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("http probe %s: status %d", path, resp.StatusCode)
	}
	return nil
}

var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// WaitAnswer probes until one probe succeeds, the target exits (exited is
// closed) or ctx ends, and returns the last probe error in that case.
func WaitAnswer(ctx context.Context, exited <-chan struct{}, protocol servers.Protocol, addr, name, path string) error {
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	var last error
	for {
		if last = Probe(ctx, protocol, addr, name, path); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no good %s answer from %s: %w (last probe: %v)", protocol, addr, context.Cause(ctx), last)
		case <-exited:
			return fmt.Errorf("target exited before answering (last probe: %v)", last)
		case <-retry.C:
		}
	}
}
