package agent

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The prepare message's JSON is the wire format of a versioned protocol,
// yet it carries loadgen's configs as they are: renaming a loadgen field
// changes it. This golden file catches such a change (bump Version, then
// go test ./agent -run TestPrepareWireGolden -update).
func TestPrepareWireGolden(t *testing.T) {
	msgs := []message{
		{Type: typePrepare, Prepare: &prepare{Version: Version, DNS: &loadgen.DNSConfig{Server: "10.0.0.2:53", Sockets: 2, Timeout: 500 * time.Millisecond,
			Seed: 7, Share: loadgen.LaneShare{First: 2, Total: 4}}}},
		{Type: typePrepare, Prepare: &prepare{Version: Version, HTTP: &loadgen.HTTPConfig{URL: "http://10.0.0.2/", Threads: 2, Connections: 5,
			Seed: 7, Share: loadgen.LaneShare{First: 0, Total: 4}}}},
	}
	var got bytes.Buffer
	for _, m := range msgs {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got.Write(append(b, '\n'))
	}
	p := filepath.Join("testdata", "prepare.golden")
	if *update {
		if err := os.WriteFile(p, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the prepare message's JSON changed (a loadgen config field renamed or added?): bump Version and run with -update.\ngot:\n%s\nwant:\n%s", got.Bytes(), want)
	}
}
