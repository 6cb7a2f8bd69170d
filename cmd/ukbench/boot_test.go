package main

import (
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// The summary's rows: median, min and max over the boots that recorded the
// figure; a failed boot counts in none, and a figure no boot recorded (a
// native server's qemu_start, a launch time never measured) has no row.
func TestBootSummaryGivesEachRecordedFigureItsMedianMinAndMax(t *testing.T) {
	boot := func(launch, qemu, console, first float64, rss int64) bootRecord {
		return bootRecord{Boot: &results.Boot{LaunchMS: launch, QEMUStartMS: qemu, ConsoleReadyMS: console, FirstAnswerMS: first},
			Memory: &results.Memory{QEMURSSKiB: rss}}
	}
	var b strings.Builder
	printBootSummary(&b, bootSummary{Target: "osv", Kind: "osv", App: "dns", Accel: "kvm", AccelReason: "KVM ran the probe guest",
		Boots: []bootRecord{boot(1.5, 12, 300, 410, 81000), {Error: "boot timed out"}, boot(2.5, 14, 320, 400, 82000),
			boot(0.5, 11, 310, 430, 80000), boot(3.5, 13, 330, 420, 83000)}})
	golden(t, "boot-summary", b.String())

	b.Reset()
	printBootSummary(&b, bootSummary{Target: "native", Kind: "native", App: "http", Accel: results.AccelNone,
		Boots: []bootRecord{{Boot: &results.Boot{ConsoleReadyMS: 5, FirstAnswerMS: 7}}, {Boot: &results.Boot{ConsoleReadyMS: 6, FirstAnswerMS: 9}}}})
	golden(t, "boot-summary-native", b.String())
}
