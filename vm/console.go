package vm

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"time"
)

// consoleTailLines is how many console lines a failed boot reports.
const consoleTailLines = 20

// console copies the guest's serial output to the log file, keeps the last
// lines, and notes when a wanted line first appears. It is safe for
// concurrent use.
type console struct {
	mu      sync.Mutex
	tail    []string
	waiters []*consoleWaiter
	done    chan struct{} // closed when the output ends
}

type consoleWaiter struct {
	substr string
	at     time.Time
	seen   chan struct{}
}

func newConsole() *console { return &console{done: make(chan struct{})} }

// copy reads r line by line until EOF, writing each line to log.
func (c *console) copy(r io.Reader, log io.Writer) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		now := time.Now()
		line := strings.TrimRight(sc.Text(), "\r")
		log.Write([]byte(line + "\n"))
		c.mu.Lock()
		if len(c.tail) == consoleTailLines {
			copy(c.tail, c.tail[1:])
			c.tail = c.tail[:consoleTailLines-1]
		}
		c.tail = append(c.tail, line)
		for _, w := range c.waiters {
			if w.at.IsZero() && strings.Contains(line, w.substr) {
				w.at = now
				close(w.seen)
			}
		}
		c.mu.Unlock()
	}
}

// watch registers interest in the first line containing substr. It must be
// called before the output could contain it (before QEMU starts).
func (c *console) watch(substr string) *consoleWaiter {
	w := &consoleWaiter{substr: substr, seen: make(chan struct{})}
	c.mu.Lock()
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	return w
}

func (c *console) lastLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.tail...)
}
