package yamlstrict

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/internal/testbin"
)

// AliasBomb is a "billion laughs" in YAML: levels anchors of ten aliases
// each to the one before, the last referenced from field (a list
// field of the destination): 10^levels values once expanded, in about
// 50*levels bytes.
func aliasBomb(field string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: [&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", field)
	for i := 1; i < levels; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, ",\n  &l%d [%s]", i, strings.Repeat(p+", ", 9)+p)
	}
	b.WriteString("]\n")
	return b.String()
}

// budget is what refusing a small hostile document may allocate: the
// tokens of a few KiB, far from what expanding or parsing it would take.
const budget = 4 << 20

// TestDecodeRefusesAnAliasBomb: ten levels of ten aliases (about 500
// bytes) in a known field are refused at the first anchor, with its file,
// line and field, before the decoder expands anything; the refusal
// allocates next to nothing.
func TestDecodeRefusesAnAliasBomb(t *testing.T) {
	for _, levels := range []int{5, 10} {
		doc := "name: x\n" + aliasBomb("sweep", levels)
		var v struct {
			Name  string `yaml:"name"`
			Sweep []any  `yaml:"sweep"`
		}
		var err error
		n := testbin.Allocated(func() { err = Decode("c.yaml", []byte(doc), &v) })
		fe, ok := fielderr.As(err)
		if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrAlias) || !strings.Contains(err.Error(), "c.yaml:2: sweep[0]: anchor &l0: YAML anchors and aliases are not accepted") || !ok || fe.Field() != "sweep[0]" {
			t.Errorf("%d levels (%d bytes): Decode = %v, want the anchor on line 2, field sweep[0]", levels, len(doc), err)
		}
		t.Logf("%d levels: %d bytes allocated", levels, n)
		if n > budget {
			t.Errorf("%d levels (%d bytes): refusing allocated %d bytes, want at most %d", levels, len(doc), n, budget)
		}
	}
}

// TestDecodeRefusesAnchorsAndAliases: every anchor or alias, wherever it
// is, is refused, naming it, its line and its field; the same characters
// inside a value are text.
func TestDecodeRefusesAnchorsAndAliases(t *testing.T) {
	var v map[string]any
	for _, tc := range []struct{ doc, want string }{
		{"a: 1\nb: *x\n", "c.yaml:2: b: alias *x:"},
		{"a: &x 1\n", "c.yaml:1: a: anchor &x:"},
		{"a:\n  - 1\n  - &y {b: 2}\n", "c.yaml:3: a[1]: anchor &y:"},
		{"a: &x {b: 1}\nc:\n  <<: *x\n", "c.yaml:1: a: anchor &x:"},
		{"a: [1, *z]\n", "c.yaml:1: a[1]: alias *z:"},
	} {
		err := Decode("c.yaml", []byte(tc.doc), &v)
		if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrAlias) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want an ErrAlias containing %q", tc.doc, err, tc.want)
		}
	}
	for _, doc := range []string{"a: \"*x\"\nb: 'a&b'\nc: a&b*c\n", "a: x # &y *z\n"} {
		if err := Decode("c.yaml", []byte(doc), &v); err != nil {
			t.Errorf("Decode(%q) = %v, want no error: no anchor or alias there", doc, err)
		}
	}
}

// TestDecodeRefusesDeepNesting: mappings and lists nested past MaxDepth,
// in flow or block style, are refused with the line where the depth is
// passed, before the parser (whose cost grows with the square of the
// depth) sees them; MaxDepth itself is accepted.
func TestDecodeRefusesDeepNesting(t *testing.T) {
	const deep = 60_000 // within MaxFileSize; about 10 GB to parse as flow lists
	for _, tc := range []struct{ name, doc, line string }{
		{"flow lists", "a: " + strings.Repeat("[", deep) + strings.Repeat("]", deep) + "\n", "c.yaml:1:"},
		{"flow lists left open", "a: " + strings.Repeat("[", deep), "c.yaml:1:"},
		{"flow mappings", "a: " + strings.Repeat("{b: ", deep), "c.yaml:1:"},
		{"block lists on one line", "a:\n" + strings.Repeat("- ", deep) + "1\n", "c.yaml:2:"},
		{"block mappings", nestedMappings(MaxDepth + 1), fmt.Sprintf("c.yaml:%d:", MaxDepth+1)},
	} {
		var v any
		var err error
		n := testbin.Allocated(func() { err = Decode("c.yaml", []byte(tc.doc), &v) })
		if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrTooDeep) || !strings.Contains(err.Error(), tc.line) {
			t.Errorf("%s: Decode = %v, want ErrTooDeep at %s", tc.name, err, tc.line)
		}
		t.Logf("%s: %d bytes allocated", tc.name, n)
		if n > budget+uint64(len(tc.doc))*400 { // the tokens of the document
			t.Errorf("%s: refusing %d bytes allocated %d", tc.name, len(tc.doc), n)
		}
	}
	for _, doc := range []string{
		nestedMappings(MaxDepth),
		"a: " + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + "\n",
		"a:\n" + strings.Repeat("- ", MaxDepth-1) + "1\n",
	} {
		var v any
		if err := Decode("c.yaml", []byte(doc), &v); err != nil {
			t.Errorf("Decode(%.60q…) = %v, want %d levels accepted", doc, err, MaxDepth)
		}
	}
}

// nestedMappings is depth block mappings, one in the other.
func nestedMappings(depth int) string {
	var b strings.Builder
	for i := range depth {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat("  ", i), i)
	}
	return b.String()
}

// TestReadFileBoundsTheSize: a file over MaxFileSize is refused, naming
// it, after reading no more than one byte past the bound (a device that
// never ends is no different); MaxFileSize itself is read whole.
func TestReadFileBoundsTheSize(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("a: "+strings.Repeat("x", MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{big, "/dev/zero"} {
		var err error
		n := testbin.Allocated(func() { _, err = ReadFile(p) })
		if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p+": file too large: over 256 KiB") {
			t.Errorf("ReadFile(%s) = %v, want ErrTooLarge naming it", p, err)
		}
		if n > 8*MaxFileSize { // the buffer's growth: a bound, whatever the file's length
			t.Errorf("ReadFile(%s) allocated %d bytes", p, n)
		}
	}
	exact := filepath.Join(dir, "exact.yaml")
	if err := os.WriteFile(exact, []byte("a: "+strings.Repeat("x", MaxFileSize-3)), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(exact); err != nil || len(data) != MaxFileSize {
		t.Errorf("ReadFile(%d bytes) = %d bytes, %v", MaxFileSize, len(data), err)
	}
	if err := Decode("big.yaml", []byte("a: "+strings.Repeat("x", MaxFileSize)), new(any)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode(over MaxFileSize) = %v, want ErrTooLarge", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v", err)
	}
}

// TestDecodeRefusesTags: a tag is refused with its line and field before
// the decoder sees it (goccy/go-yaml panics on a tag with no value where
// a list belongs, issue 735; FuzzConfig found it in 50 s).
func TestDecodeRefusesTags(t *testing.T) {
	var v struct {
		M []int  `yaml:"m"`
		S string `yaml:"s"`
	}
	for _, tc := range []struct{ doc, want string }{
		{"m: !!str\n", "c.yaml:1: m: tag !!str: YAML tags are not accepted"},
		{"s: x\nm: !00\n0\n", "c.yaml:2: m: tag !00: YAML tags are not accepted"},
		{"s: !!str 8080\n", "c.yaml:1: s: tag !!str: YAML tags are not accepted"},
	} {
		err := Decode("c.yaml", []byte(tc.doc), &v)
		if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrTag) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want an ErrTag containing %q", tc.doc, err, tc.want)
		}
	}
	if err := Decode("c.yaml", []byte("s: \"!!str\"\n"), &v); err != nil || v.S != "!!str" {
		t.Errorf("Decode(quoted !!str) = %v, %q: text, not a tag", err, v.S)
	}
}

type panicky struct{}

func (*panicky) UnmarshalText([]byte) error { panic("a decoder bug") }

// TestDecodeTurnsAPanicIntoAnError: a panic inside the YAML library (here
// a value's own decoder) refuses the file and does not end the process.
func TestDecodeTurnsAPanicIntoAnError(t *testing.T) {
	var v struct {
		P panicky `yaml:"p"`
	}
	err := Decode("c.yaml", []byte("p: x\n"), &v)
	if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrDecoderFailed) || !strings.Contains(err.Error(), "c.yaml: the YAML decoder failed on it (a decoder bug)") {
		t.Errorf("Decode = %v, want ErrDecoderFailed naming the file", err)
	}
}

// TestReadFileDoesNotWaitForAFIFOWriter: a FIFO no one writes to reads as
// empty at once (the open used to wait for a writer, forever); one whose
// writer has written, as with <(command), is read whole.
func TestReadFileDoesNotWaitForAFIFOWriter(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "config.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := ReadFile(fifo)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || len(r.data) != 0 {
			t.Errorf("ReadFile(FIFO with no writer) = %q, %v; want empty", r.data, r.err)
		}
	case <-time.After(30 * time.Second): // a hang is forever; 30 s is no host's noise
		t.Fatal("ReadFile(FIFO with no writer) still waiting after 30 s")
	}

	// Hold a reader so that the writer's open returns and what it
	// writes stays in the pipe after it closes.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const config = "name: piped\n"
	if _, err := w.WriteString(config); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if data, err := ReadFile(fifo); err != nil || string(data) != config {
		t.Errorf("ReadFile(FIFO written to) = %q, %v; want %q", data, err, config)
	}
}
