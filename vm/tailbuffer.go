package vm

import (
	"bytes"
	"io"
	"sync"
)

// kvmInternalError begins the line QEMU prints on stderr when KVM cannot
// go on with a guest ("KVM internal error. Suberror: 1" is an emulation
// failure). QEMU then stops the guest and waits: it does not exit.
const kvmInternalError = "KVM internal error"

// tailBuffer keeps the last max bytes written to it. With an alarm
// (newAlarmBuffer), rang is closed the first time the kept bytes hold the
// alarm string. It is safe for concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	b     []byte
	alarm []byte
	rang  chan struct{} // nil without an alarm
	rung  bool
}

// newAlarmBuffer is a tailBuffer of max bytes that rings on alarm.
func newAlarmBuffer(max int, alarm string) *tailBuffer {
	return &tailBuffer{max: max, alarm: []byte(alarm), rang: make(chan struct{})}
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	if t.rang != nil && !t.rung && bytes.Contains(t.b, t.alarm) {
		t.rung = true
		close(t.rang)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Rang is closed once the alarm has been written (never without one).
func (t *tailBuffer) Rang() <-chan struct{} { return t.rang }

var _ io.Writer = (*tailBuffer)(nil)
