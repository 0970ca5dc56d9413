// Command ratios reads `go test -bench` output (any -count) on standard input
// and prints, as a Markdown table, each benchmark against its baseline and
// against licensekit's performance targets (pairTarget and crosses below;
// bench/README.md lists them). A baseline is a sub-benchmark whose
// last name element starts with "base-"; its siblings are compared with it.
// Medians are used across counts. It exits with status 1 when a target is
// missed and -strict is set.
//
//	go test -run '^$' -bench . -count 6 ./bench/ | tee out.txt
//	go run ./bench/cmd/ratios < out.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// samples maps a benchmark name (without the -procs suffix) to unit to values.
type samples map[string]map[string][]float64

var procs = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) (samples, []string) {
	s := samples{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		n := procs.ReplaceAllString(f[0], "")
		if s[n] == nil {
			s[n] = map[string][]float64{}
			order = append(order, n)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			s[n][f[i+1]] = append(s[n][f[i+1]], v)
		}
	}
	return s, order
}

func (s samples) median(name, unit string) (float64, bool) {
	v := slices.Clone(s[name][unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// ratio is the median of the per-run ratios a[i]/b[i] when both have the
// same number of runs (runs interleaved by run.sh pair a benchmark with the
// baseline measured next to it), else the ratio of the medians.
func (s samples) ratio(a, b, unit string) (float64, bool) {
	av, bv := s[a][unit], s[b][unit]
	if len(av) == 0 || len(bv) == 0 {
		return 0, false
	}
	if len(av) != len(bv) {
		ma, _ := s.median(a, unit)
		mb, _ := s.median(b, unit)
		return ma / mb, mb != 0
	}
	r := make([]float64, 0, len(av))
	for i := range av {
		if bv[i] != 0 {
			r = append(r, av[i]/bv[i])
		}
	}
	if len(r) == 0 {
		return 0, false
	}
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2], true
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2, true
}

// target is a bound on a ratio: Max (ratio must be <= Max) or Min (>= Min).
type target struct {
	Max, Min, Over float64 // ratio <= Max, >= Min, > Over
}

func (t target) String() string {
	switch {
	case t.Max > 0:
		return fmt.Sprintf("≤ %g", t.Max)
	case t.Min > 0:
		return fmt.Sprintf("≥ %g", t.Min)
	case t.Over > 0:
		return fmt.Sprintf("> %g", t.Over)
	}
	return "—"
}

func (t target) ok(r float64) string {
	switch {
	case t.Max > 0 && r > t.Max, t.Min > 0 && r < t.Min, t.Over > 0 && r <= t.Over:
		return "MISS"
	case t.Max > 0 || t.Min > 0 || t.Over > 0:
		return "ok"
	}
	return ""
}

// pairTarget is the performance target for subject vs baseline, by top-level
// benchmark and baseline: slowdown (subject time / baseline time) at most Max.
func pairTarget(top, base string) target {
	switch {
	case top == "BenchmarkMemoryAllocateRelease" && base == "base-map":
		return target{Max: 200}
	case top == "BenchmarkSQLiteAllocate", top == "BenchmarkPostgresAllocate",
		top == "BenchmarkHTTPLease", top == "BenchmarkHTTPPurchasePreview":
		return target{Max: 2}
	}
	return target{}
}

// cross compares one benchmark with another of a different parameter.
type cross struct {
	re   *regexp.Regexp // matches the subject; $1 replaced by from gives the reference
	from string
	unit string // "ns/op": rate ratio (reference time / subject time); else value ratio subject / reference
	t    target
	what string
}

var crosses = []cross{
	{regexp.MustCompile(`^(BenchmarkPostgresAllocate/(?:spread|tenants))/conns=4/service$`), "$1/conns=1/service", "ns/op", target{Over: 1}, "rate 4 conns / 1 conn (grows)"},
	{regexp.MustCompile(`^(BenchmarkPostgresAllocate/(?:spread|tenants))/conns=16/service$`), "$1/conns=4/service", "ns/op", target{Over: 1}, "rate 16 conns / 4 conns (grows)"},
	{regexp.MustCompile(`^(BenchmarkHTTP\w+/store=\w+)/clients=32/http$`), "$1/clients=8/http", "ns/op", target{Min: 0.8}, "rate 32 clients / 8 clients (no collapse)"},
	{regexp.MustCompile(`^(BenchmarkExportEvents)/events=1000000/export$`), "$1/events=100000/export", "peak-heap-MB", target{Max: 1.5}, "peak heap 1M events / 100k events (flat)"},
}

func human(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

func main() {
	strict := flag.Bool("strict", false, "exit 1 when a target is missed")
	flag.Parse()
	if missed := report(os.Stdin, os.Stdout); missed > 0 && *strict {
		os.Exit(1)
	}
}

// report writes the table for the benchmark output r to w and returns how
// many targets were missed.
func report(r io.Reader, w io.Writer) (missed int) {
	s, order := parse(r)
	fmt.Fprintln(w, "| benchmark | compared with | time/op | baseline time/op | ratio | target | |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|")
	for _, base := range order {
		i := strings.LastIndex(base, "/")
		if i < 0 || !strings.HasPrefix(base[i+1:], "base-") {
			continue
		}
		parent, bname := base[:i], base[i+1:]
		top, _, _ := strings.Cut(parent, "/")
		bt, ok := s.median(base, "ns/op")
		if !ok {
			continue
		}
		for _, sub := range order {
			j := strings.LastIndex(sub, "/")
			if j < 0 || sub[:j] != parent || strings.HasPrefix(sub[j+1:], "base-") {
				continue
			}
			st, ok := s.median(sub, "ns/op")
			if !ok {
				continue
			}
			t := pairTarget(top, bname)
			r, _ := s.ratio(sub, base, "ns/op")
			verdict := t.ok(r)
			if verdict == "MISS" {
				missed++
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f | %s | %s |\n", strings.TrimPrefix(sub, "Benchmark"), bname, human(st), human(bt), r, t, verdict)
		}
	}
	for _, c := range crosses {
		for _, sub := range order {
			m := c.re.FindStringSubmatchIndex(sub)
			if m == nil {
				continue
			}
			ref := string(c.re.ExpandString(nil, c.from, sub, m))
			a, ok1 := s.median(sub, c.unit)
			b, ok2 := s.median(ref, c.unit)
			if !ok1 || !ok2 || a == 0 || b == 0 {
				continue
			}
			r, _ := s.ratio(sub, ref, c.unit)
			sa, sb := fmt.Sprintf("%.3g %s", a, c.unit), fmt.Sprintf("%.3g %s", b, c.unit)
			if c.unit == "ns/op" {
				r, _ = s.ratio(ref, sub, c.unit)
				sa, sb = human(a), human(b)
			}
			verdict := c.t.ok(r)
			if verdict == "MISS" {
				missed++
			}
			fmt.Fprintf(w, "| %s | %s: %s | %s | %s | %.2f | %s | %s |\n", strings.TrimPrefix(sub, "Benchmark"), strings.TrimPrefix(ref, "Benchmark"), c.what, sa, sb, r, c.t, verdict)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Ratio: for a benchmark beside its baseline, its time per operation over the baseline's (2.00 = half the baseline's rate);")
	fmt.Fprintln(w, "for a benchmark beside another parameter, as the row says. Times are medians over the runs; a ratio is the")
	fmt.Fprintln(w, "median of the ratios within each run (run.sh interleaves the runs), or of the medians when runs differ in number.")
	var extra []string
	for _, n := range order {
		for _, unit := range []string{"retries/op", "lockwait-ms/op", "refused/op", "peak-heap-MB", "B/op"} {
			if v, ok := s.median(n, unit); ok && (unit != "B/op" || strings.HasPrefix(n, "BenchmarkExport")) {
				extra = append(extra, fmt.Sprintf("%s: %.4g %s", strings.TrimPrefix(n, "Benchmark"), v, unit))
			}
		}
	}
	if len(extra) > 0 {
		fmt.Fprintln(w)
		for _, e := range extra {
			fmt.Fprintln(w, "- "+e)
		}
	}
	if missed > 0 {
		fmt.Fprintf(w, "\n%d target(s) missed\n", missed)
	}
	return missed
}
