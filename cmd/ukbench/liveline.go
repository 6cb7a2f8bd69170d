package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ukbench/ukbench/loadgen"
)

// liveLine is the one status line of `ukbench load` and `ukbench run`: the
// running step, rewritten in place on a terminal. Anywhere else (a file, a
// pipe, --quiet) it writes nothing, so that logs hold finished lines only.
// Whoever prints a finished line clears it first. It is not safe for
// concurrent use.
type liveLine struct {
	w  io.Writer
	on bool
}

// eraseLine returns the cursor to the start of the line and erases it.
const eraseLine = "\r\033[K"

// newLiveLine returns the live line on w: on when w is a terminal and not
// quiet.
func newLiveLine(w io.Writer, quiet bool) *liveLine {
	return &liveLine{w: w, on: !quiet && isTerminal(w)}
}

// step shows a running step: its offered rate, time into the step (warm-up
// included) and counts so far, with what the caller puts before and after.
func (l *liveLine) step(prefix string, v loadgen.Live, suffix string) {
	if !l.on {
		return
	}
	fmt.Fprintf(l.w, eraseLine+"  %s%.0f/s  %4.1f/%.0fs  sent %d  answered %d%s",
		prefix, v.Offered, v.Elapsed.Seconds(), v.Length.Seconds(), v.Sent, v.Answered, suffix)
}

// clear erases the line, for a finished line to take its place.
func (l *liveLine) clear() {
	if l.on {
		fmt.Fprint(l.w, eraseLine)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
