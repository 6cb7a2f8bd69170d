package yamlstrict

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// MaxFileSize is the largest config file read or decoded, in bytes (256
// KiB). ukbench's configs are a few KiB; the decoder's cost grows with the
// number of values (a 1 MiB list of numbers costs it 3 s and 600 MB).
const MaxFileSize = 256 << 10

// MaxDepth is how deeply a config's mappings and lists may nest. ukbench's
// configs nest 4 deep at most; the YAML parser's cost grows with the
// square of the depth (10,000 open brackets cost it 300 MB).
const MaxDepth = 20

var (
	// ErrTooLarge marks a config file longer than MaxFileSize.
	ErrTooLarge = errors.New("file too large")
	// ErrAlias marks a config that uses a YAML anchor (&name) or alias
	// (*name). ukbench's configs have no use for them, and the decoder
	// expands every alias in place: ten levels of ten aliases, 500
	// bytes, expand to 10^10 values.
	ErrAlias = errors.New("YAML anchors and aliases are not accepted")
	// ErrTag marks a config that uses a YAML tag (!!str, !name). A
	// field's type decides how its value is read, and the decoder panics
	// on some tags (github.com/goccy/go-yaml issue 735).
	ErrTag = errors.New("YAML tags are not accepted")
	// ErrTooDeep marks a config nested more than MaxDepth deep.
	ErrTooDeep = errors.New("nested too deeply")
)

// ReadFile reads a config file of at most MaxFileSize bytes, and no more
// than one byte past that from a longer one (a device or a pipe that
// never ends included). A longer file's error wraps ErrConfig and
// ErrTooLarge and names the file; one that cannot be read, the os error.
func ReadFile(path string) ([]byte, error) {
	// Non-blocking, so that opening a FIFO no one writes to returns at
	// once (and reads as empty) instead of waiting for a writer; a pipe
	// with a writer, such as <(command), is read as it comes.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if err := checkSize(path, data); err != nil {
		return nil, err
	}
	return data, nil
}

func checkSize(file string, data []byte) error {
	if len(data) > MaxFileSize {
		return fmt.Errorf("%w: %s: %w: over %d KiB (ukbench's configs are a few KiB)", ErrConfig, file, ErrTooLarge, MaxFileSize>>10)
	}
	return nil
}

// guard refuses, from the YAML's tokens alone and before anything is
// parsed or decoded, what would cost the parser or the decoder more than
// a config is worth: more than MaxFileSize bytes, any anchor, alias or
// tag, nesting deeper than MaxDepth (found as the tokens are read: the rest
// is not read). Its errors are FILE:LINE: [FIELD:] WHAT and wrap
// ErrConfig and the sentinel that says why.
func guard(file string, data []byte) error {
	if err := checkSize(file, data); err != nil {
		return err
	}
	var n nesting
	var sc scanner.Scanner
	sc.Init(string(data))
	var tk *token.Token // the token read last, checked once the next one is known
	for {
		toks, err := sc.Scan()
		for _, next := range toks {
			if tk != nil && !n.add(tk, next) {
				return tooDeep(file, tk)
			}
			tk = next
		}
		if err == io.EOF {
			break
		}
	}
	if tk != nil && !n.add(tk, nil) {
		return tooDeep(file, tk)
	}
	if n.refused != nil {
		return refusedError(file, data, n.refused, n.refusedName)
	}
	return nil
}

// tooDeep is guard's error for a document that nests past MaxDepth at tk.
func tooDeep(file string, tk *token.Token) error {
	return fmt.Errorf("%w: %s:%d: %w: more than %d levels of mappings and lists", ErrConfig, file, tk.Position.Line, ErrTooDeep, MaxDepth)
}

// nesting follows a document's tokens: how deeply the one read last
// nests, and its first anchor, alias or tag.
type nesting struct {
	flow int   // open [ and {
	cols []int // the columns of the block keys and list entries that hold the token
	// refused is the first anchor, alias or tag; refusedName its name.
	refused     *token.Token
	refusedName string
}

// add takes tk, followed by next (nil at the end), and reports whether
// the nesting is still within MaxDepth.
func (n *nesting) add(tk, next *token.Token) bool {
	if tk.Position == nil {
		return true
	}
	switch tk.Type {
	case token.AnchorType, token.AliasType, token.TagType:
		if n.refused == nil {
			n.refused, n.refusedName = tk, tk.Value
			if tk.Type != token.TagType && next != nil {
				n.refusedName = next.Value // & or *, then the name
			}
		}
	case token.DocumentHeaderType:
		n.flow, n.cols = 0, n.cols[:0]
	case token.SequenceStartType, token.MappingStartType:
		n.flow++
	case token.SequenceEndType, token.MappingEndType:
		n.flow = max(n.flow-1, 0)
	}
	// A block node nests in the keys and entries left of it: keep those
	// still open (YAML nests by indentation), and this one.
	if n.flow == 0 && blockNode(tk, next) {
		for len(n.cols) > 0 && n.cols[len(n.cols)-1] >= tk.Position.Column {
			n.cols = n.cols[:len(n.cols)-1]
		}
		n.cols = append(n.cols, tk.Position.Column)
	}
	return n.flow+len(n.cols) <= MaxDepth
}

// blockNode reports whether tk, followed by next, starts a block list
// entry or a block mapping's key.
func blockNode(tk, next *token.Token) bool {
	switch tk.Type {
	case token.SequenceEntryType, token.MappingKeyType, token.MergeKeyType:
		return true
	}
	return next != nil && next.Type == token.MappingValueType
}

// refusedError says where the first anchor, alias or tag is, with the
// field that holds it (the document parses without expanding aliases,
// and guard has bounded its depth).
func refusedError(file string, data []byte, tk *token.Token, name string) error {
	var cause error
	switch tk.Type {
	case token.AnchorType:
		cause = fmt.Errorf("anchor &%s: %w (write the value out)", name, ErrAlias)
	case token.AliasType:
		cause = fmt.Errorf("alias *%s: %w (write the value out)", name, ErrAlias)
	default:
		cause = fmt.Errorf("tag %s: %w (the field decides the type: quote a value to make it text)", name, ErrTag)
	}
	var body ast.Node
	if f, err := parseBytes(data); err == nil && len(f.Docs) > 0 {
		body = f.Docs[0].Body
	}
	if path, _ := pathTo(body, tk); len(path) > 0 {
		cause = &fielderr.Error{Path: path, Err: cause}
	}
	return fmt.Errorf("%w: %s:%d: %w", ErrConfig, file, tk.Position.Line, cause)
}
