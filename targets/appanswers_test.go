package targets

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/targets/servers"
)

// dnsQuestions are what every DNS app is asked: names and types the zone
// holds, a name it lacks, a type a name lacks, mixed case, and a name
// outside the zone.
var dnsQuestions = []struct {
	name  string
	qtype uint16
}{
	{"www.example.com.", dns.TypeA},
	{"www.example.com.", dns.TypeAAAA},
	{"WwW.ExAmPlE.CoM.", dns.TypeA},
	{"example.com.", dns.TypeA},
	{"example.com.", dns.TypeMX},
	{"example.com.", dns.TypeNS},
	{"example.com.", dns.TypeSOA},
	{"mail.example.com.", dns.TypeA},
	{"ns1.example.com.", dns.TypeA},
	{"www.example.com.", dns.TypeMX},   // the name, not the type: NOERROR, no data
	{"nosuch.example.com.", dns.TypeA}, // NXDOMAIN
	{"www.example.org.", dns.TypeA},    // outside the zone: REFUSED
}

// dnsAnswer is what must agree between servers: rcode, the AA bit, the
// answer section and, for an answer without data, the SOA of the
// authority section (owner names compared in lower case; additional
// records and the TTLs' countdown are a server's own business).
func dnsAnswer(r *dns.Msg) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s aa=%v", dns.RcodeToString[r.Rcode], r.Authoritative)
	var rrs []string
	for _, rr := range r.Answer {
		rrs = append(rrs, strings.ToLower(rr.String()))
	}
	slices.Sort(rrs)
	fmt.Fprintf(&b, " answer=%q", rrs)
	if len(r.Answer) == 0 {
		for _, rr := range r.Ns {
			if rr.Header().Rrtype == dns.TypeSOA {
				fmt.Fprintf(&b, " soa=%q", strings.ToLower(rr.String()))
			}
		}
	}
	return b.String()
}

// askAll asks every question of dnsQuestions over UDP and TCP.
func askAll(t *testing.T, addr string) []string {
	t.Helper()
	var out []string
	for _, q := range dnsQuestions {
		for _, proto := range []string{"udp", "tcp"} {
			m := new(dns.Msg).SetQuestion(q.name, q.qtype)
			m.RecursionDesired = false
			c := &dns.Client{Net: proto, Timeout: 10 * time.Second}
			r, _, err := c.Exchange(m, addr)
			if err != nil {
				t.Fatalf("%s %s over %s to %s: %v", q.name, dns.TypeToString[q.qtype], proto, addr, err)
			}
			out = append(out, fmt.Sprintf("%s %s %s: %s", proto, q.name, dns.TypeToString[q.qtype], dnsAnswer(r)))
		}
	}
	return out
}

// referenceAnswers are ukbench's own server's answers (in process, on
// loopback) to dnsQuestions.
func referenceAnswers(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := servers.StartDNS(ctx, servers.DNSConfig{Listen: "127.0.0.1:0", Sockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	return askAll(t, s.Addr)
}

// checkSameDNSAnswers fails unless the server at addr answers every
// question as ukbench's own server does.
func checkSameDNSAnswers(t *testing.T, inst *Instance) {
	t.Helper()
	want := referenceAnswers(t)
	got := askAll(t, inst.Addr)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s answers\n  %s\nukbench serve dns answers\n  %s", inst.Spec.App, got[i], want[i])
		}
	}
}

// checkServesPage fails unless the server at addr returns the page of
// `ukbench serve http --print-page` twice on one kept-alive connection.
func checkServesPage(t *testing.T, inst *Instance) {
	t.Helper()
	want := string(servers.Page(servers.DefaultBodySize))
	c, err := net.DialTimeout("tcp", inst.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	for i := range 2 {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s request %d on one connection: %v", inst.Spec.App, i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("%s request %d: status %d, %d-byte body (want 200 and the %d-byte page), %v", inst.Spec.App, i+1, resp.StatusCode, len(body), len(want), err)
		}
		if resp.Close {
			t.Fatalf("%s closes the connection after request %d: keep-alive off", inst.Spec.App, i+1)
		}
	}
}

// TestReferenceAnswersCoverTheCases keeps the comparison meaningful: the
// questions reach every kind of answer.
func TestReferenceAnswersCoverTheCases(t *testing.T) {
	all := strings.Join(referenceAnswers(t), "\n")
	for _, want := range []string{"NOERROR aa=true answer=[\"www.example.com.", "NXDOMAIN aa=true answer=[] soa=", "NOERROR aa=true answer=[] soa=", "REFUSED"} {
		if !strings.Contains(all, want) {
			t.Errorf("no answer has %q:\n%s", want, all)
		}
	}
}
