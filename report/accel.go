package report

import "sort"

// tcgReasons are the distinct reasons the sources' TCG runs give for
// running under TCG (results.Run.AccelReason), sorted: what the TCG banner
// says after "why".
func tcgReasons(sources []Source) []string {
	seen := map[string]bool{}
	var out []string
	for _, src := range sources {
		for _, r := range src.Runs {
			if r.Accel == "tcg" && r.AccelReason != "" && !seen[r.AccelReason] {
				seen[r.AccelReason] = true
				out = append(out, r.AccelReason)
			}
		}
	}
	sort.Strings(out)
	return out
}
