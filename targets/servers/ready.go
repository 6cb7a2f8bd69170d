package servers

import "strings"

// ReadyPrefix starts the one line `ukbench serve` prints once it listens
// ("ukbench serve: ready KIND ADDR ..."); guest consoles are watched for
// it and the native target reads its address from it. This is its only
// definition.
const ReadyPrefix = "ukbench serve: ready"

// ReadyLine is the line `ukbench serve` prints: ReadyPrefix, the kind (dns
// or http), the address it listens on, then any extra words.
func ReadyLine(kind, addr string, extra ...string) string {
	return strings.Join(append([]string{ReadyPrefix, kind, addr}, extra...), " ")
}

// ParseReadyLine reads ReadyLine's kind and address back; ok is false for
// any other line.
func ParseReadyLine(line string) (kind, addr string, ok bool) {
	rest, found := strings.CutPrefix(line, ReadyPrefix+" ")
	if !found {
		return "", "", false
	}
	f := strings.Fields(rest)
	if len(f) < 2 {
		return "", "", false
	}
	return f[0], f[1], true
}
