package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ukbench/ukbench/loadgen"
)

// newGenerator makes the workload's generator aimed at addr (HOST:PORT).
func newGenerator(w Workload, addr string) (loadgen.Generator, error) {
	arrivals, err := loadgen.ParseArrivals(w.Arrivals)
	if err != nil {
		return nil, err
	}
	limits := loadgen.DefaultLimits
	if w.Kind == "dns" {
		var qs []loadgen.DNSQuery
		if w.Queries != "" {
			if qs, err = loadgen.LoadDNSQueries(w.Queries); err != nil {
				return nil, err
			}
		}
		return loadgen.NewDNS(loadgen.DNSConfig{Server: addr, Sockets: w.Sockets, Queries: qs, Timeout: w.Timeout.D(),
			Arrivals: arrivals, Seed: w.Seed, Limits: limits})
	}
	body := -1
	if w.ExpectBodySize != nil {
		body = *w.ExpectBodySize
	}
	return loadgen.NewHTTP(loadgen.HTTPConfig{URL: "http://" + addr + w.Path, Connections: w.Connections,
		NewConnection: w.NewConnection, Timeout: w.Timeout.D(), ExpectBodySize: body,
		Arrivals: arrivals, Seed: w.Seed, Limits: limits})
}

// sweepConfig turns the workload into the sweep's settings.
func sweepConfig(w Workload) (loadgen.SweepConfig, error) {
	rates, err := loadgen.ParseRates(w.Rates)
	if err != nil {
		return loadgen.SweepConfig{}, err
	}
	c := loadgen.Criteria{MinAchieved: w.MinAchieved, MaxLoss: loadgen.DefaultCriteria.MaxLoss, SLOP99: w.SLOP99.D()}
	if w.MaxLoss != nil {
		c.MaxLoss = *w.MaxLoss
	}
	retries := 1
	if w.Retries != nil {
		retries = *w.Retries
	}
	return loadgen.SweepConfig{Rates: rates, Step: w.Step.D(), Warmup: w.Warmup.D(), Criteria: c,
		FindMax: w.FindMax, BisectSteps: w.Bisect, Retries: retries}, nil
}

// writeHist writes one step's histograms as an HdrHistogram interval log.
func writeHist(dir string, n int, o loadgen.StepOutcome, start time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, HistFileName(n, o.Step.OfferedRPS))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = o.Hist.WriteLog(f, start, time.Now(), fmt.Sprintf("offered %.0f/s", o.Step.OfferedRPS))
	return errors.Join(err, f.Close())
}

// HistFileName is the histogram file of step n (1-based) at an offered rate.
func HistFileName(n int, offered float64) string {
	return fmt.Sprintf("step-%03d-%.0frps.hlog", n, offered)
}
