package report

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// htmlPage is report.html: one self-contained file (figures inline as
// data URIs, no scripts or styles from the network), so it opens anywhere,
// offline, and can be attached to a CI run as is. Its one inline script
// counts the figures that loaded into data-images-loaded, which the browser
// check reads.
var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ukbench report</title>
<style>
body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left}
th{background:#eee}.tcg{background:#fff3cd;border:1px solid #e0b000;padding:.8em;margin:1em 0}
figure{margin:1.5em 0}img{max-width:100%}td.err{white-space:pre-wrap;font-family:monospace}
</style></head>
<body data-images-loaded="0">
<h1>ukbench report</h1>
<p>Results: {{range $i, $s := .Sources}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}.</p>
{{if .TCG}}<div class="tcg"><strong>TCG:</strong> some of these results come from software emulation (no KVM).
Absolute rates are far below what a hardware-accelerated guest serves; compare targets with each other,
not with published figures.{{range .TCGReasons}}<br>Why TCG: {{.}}.{{end}}</div>{{end}}
{{if .TimerBanner}}<div class="tcg"><strong>Host timers:</strong> {{.TimerBanner}}</div>{{end}}
<table><tr><th>target</th><th>workload</th><th>accel</th><th>runs</th><th>max sustainable req/s (median, min–max)</th><th>p50 / p99 latency</th><th>errors</th></tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p>Latency is measured from each request's intended send time, at the highest offered rate at or below the
median maximum sustainable rate (else the lowest rate run); medians over repeats. {{.LimitedLegend}}</p>
{{if .Failed}}<h2 id="failed-runs">Failed runs</h2>
<p>The steps a run finished before its error are kept in results.csv.</p>
<table><tr><th>target</th><th>workload</th><th>repeat</th><th>error</th></tr>
{{range .Failed}}<tr><td>{{.Target}}</td><td>{{.Workload}}</td><td>{{.Repeat}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>{{end}}
{{range .Study}}<h2>Study vs this run: {{.Workload}}</h2>
<table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p>{{$.StudyNote}}</p>
{{end}}
{{range .Figures}}<figure><img alt="{{.Title}}" src="{{.Src}}"><figcaption>{{.Title}}</figcaption></figure>
{{end}}
<p>Data: <a href="results.csv">results.csv</a>.</p>
<script>
(function(){var imgs=document.images,n=0;
function done(){n=0;for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0)n++;}
document.body.setAttribute("data-images-loaded",n+"/"+imgs.length);}
for(var i=0;i<imgs.length;i++){imgs[i].addEventListener("load",done);}
done();})();
</script>
</body></html>
`))

type htmlFigure struct {
	Title string
	Src   template.URL
}

// writeHTML writes report.html, embedding each figure's PNG.
func writeHTML(w io.Writer, dir string, sources []Source, ss []*series, figs []Figure, tcg bool) error {
	data := struct {
		Sources    []string
		TCG        bool
		TCGReasons []string
		// TimerBanner says that the host's timers limit the latencies
		// shown (timerBanner), or is "".
		TimerBanner   string
		LimitedLegend string
		Rows          [][]string
		Failed        []failedRun
		Study         []studyTable
		StudyNote     string
		Figures       []htmlFigure
	}{TCG: tcg, TCGReasons: tcgReasons(sources), TimerBanner: timerBanner(sources, ss), LimitedLegend: limitedLegend,
		Failed: failedRuns(sources), Study: studyTables(ss), StudyNote: studyNote}
	for _, s := range sources {
		data.Sources = append(data.Sources, s.Label)
	}
	for _, s := range ss {
		data.Rows = append(data.Rows, summaryCells(s))
	}
	for _, f := range figs {
		for _, file := range f.Files {
			if !strings.HasSuffix(file, ".png") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				return err
			}
			data.Figures = append(data.Figures, htmlFigure{Title: f.Title,
				Src: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))})
		}
	}
	var buf bytes.Buffer
	if err := htmlPage.Execute(&buf, data); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
