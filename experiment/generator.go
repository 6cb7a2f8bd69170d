package experiment

import (
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/targets/servers"
)

// newGenerator makes the workload's generator aimed at addr (HOST:PORT).
func newGenerator(w Workload, addr string) (loadgen.Generator, error) {
	d, h, err := generatorConfigs(w, addr)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return loadgen.NewDNS(*d)
	}
	return loadgen.NewHTTP(*h)
}

// generatorConfigs are the workload's generator settings aimed at addr:
// one of a DNS and an HTTP config, for a generator here or on agents.
func generatorConfigs(w Workload, addr string) (*loadgen.DNSConfig, *loadgen.HTTPConfig, error) {
	arrivals, err := loadgen.ParseArrivals(w.Arrivals)
	if err != nil {
		return nil, nil, err
	}
	limits := loadgen.DefaultLimits
	limits.LateAfter, limits.MaxLateFraction = w.LateAfter.D(), w.MaxLate
	if w.Kind == servers.DNS {
		var qs []loadgen.DNSQuery
		if w.Queries != "" {
			if qs, err = loadgen.LoadDNSQueries(w.Queries); err != nil {
				return nil, nil, err
			}
		}
		return &loadgen.DNSConfig{Server: addr, Transport: w.Transport, Sockets: w.Sockets, Queries: qs, Timeout: w.Timeout.D(),
			Arrivals: arrivals, Seed: w.Seed, Limits: limits}, nil, nil
	}
	body := 0 // any size
	if w.ExpectBodySize != nil {
		body = *w.ExpectBodySize
	}
	return nil, &loadgen.HTTPConfig{URL: "http://" + addr + w.Path, Connections: w.Connections, Threads: w.Threads,
		NewConnection: w.NewConnection, Timeout: w.Timeout.D(), ExpectBodySize: body,
		Arrivals: arrivals, Seed: w.Seed, Limits: limits}, nil
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
	retries := loadgen.DefaultRetries
	if w.Retries != nil {
		retries = *w.Retries
	}
	return loadgen.SweepConfig{Rates: rates, Step: w.Step.D(), Warmup: w.Warmup.D(), Criteria: c,
		FindMax: w.FindMax, BisectSteps: w.Bisect, Retries: retries}, nil
}
