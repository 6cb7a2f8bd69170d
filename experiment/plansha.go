package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The effective plan is what --resume must find unchanged: the config as
// the campaign runs it (decoded, defaults and ${VAR}s filled, cut down by
// --quick), not the bytes of its file. Its digest is taken over canonical
// JSON (keys sorted, numbers as written), so a comment, a reordered key or
// a default spelt out changes nothing, while a rate, a step or a repeat
// does. Left out, as they do not change what is measured: output (the
// result directory is -o's business), description, and vm.accel (the
// accelerator is checked by what it resolved to: ErrAccelChanged).

// canonicalPlan is the effective plan of c as generic JSON values.
func canonicalPlan(c *Config) (map[string]any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, "output")
	delete(m, "description")
	if v, ok := m["vm"].(map[string]any); ok {
		delete(v, "accel")
	}
	return m, nil
}

// planSHA is the hex SHA-256 of c's effective plan as canonical JSON.
func planSHA(c *Config) (string, error) {
	m, err := canonicalPlan(c)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(m) // map keys are sorted
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// checkPlan says whether this session's effective plan is the one the
// campaign in old began with (ErrConfigChanged if not, naming what
// differs). Manifests of this version record it (plan_sha256). Older ones
// recorded only the file's digest (config_sha256), but also the config as
// run (after --quick): its plan, decoded as this version reads configs, is
// compared instead, so an unchanged campaign resumes and a --quick one
// does not take a full session. A manifest with neither falls back to the
// file's digest.
func (c *campaign) checkPlan(old *Manifest) error {
	var was string
	switch {
	case old.PlanSHA != "":
		was = old.PlanSHA
	case old.Config != nil:
		sha, err := planSHA(old.Config)
		if err != nil {
			return fmt.Errorf("%s: %w", c.manPath, err)
		}
		was = sha
	case old.ConfigSHA == c.configSHA:
		return nil
	default:
		return fmt.Errorf("%w: %s was started from a config with sha256 %s, this one is %s (use another -o)",
			ErrConfigChanged, c.out, short(old.ConfigSHA), short(c.configSHA))
	}
	if was == c.planSHA {
		return nil
	}
	what := ""
	if old.Config != nil {
		if a, err := canonicalPlan(old.Config); err == nil {
			if b, err := canonicalPlan(c.cfg); err == nil {
				if d := planDiff("", a, b); len(d) > 0 {
					if len(d) > 4 {
						d = append(d[:4], fmt.Sprintf("and %d more", len(d)-4))
					}
					what = " (" + strings.Join(d, "; ") + ")"
				}
			}
		}
	}
	return fmt.Errorf("%w: %s was started with another plan%s: its runs would not be comparable with this session's (a config's settings or --quick differ; plan sha256 %s, this one %s): resume with the same settings, or use another -o",
		ErrConfigChanged, c.out, what, short(was), short(c.planSHA))
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// planDiff lists where two canonical plans differ: "path: was → now".
func planDiff(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		var d []string
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			d = append(d, planDiff(p, av[k], bv[k])...)
		}
		return d
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		var d []string
		for i := range av {
			d = append(d, planDiff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return d
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return nil
	}
	return []string{fmt.Sprintf("%s: %s → %s", path, ja, jb)}
}
