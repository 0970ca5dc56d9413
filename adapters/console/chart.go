package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// chartMonths is how many calendar months the status pane chart shows.
const chartMonths = 12

// chartPoint is one month of the status pane chart.
type chartPoint struct {
	Month     string // "2026-11"
	Label     string // "Nov 2026"
	Licenses  int64  // the pool's total at the end of the month (now, for this month)
	Allocated int64  // licenses held then by today's allocations and live leases
}

// chart is the licenses-and-allocations-per-month chart of a pool.
type chart struct {
	Points []chartPoint
	SVG    template.HTML
}

// poolChart builds the chart of p from the first month with a transaction or
// an allocation to now (the last chartMonths months of it). Licenses come from
// the ledger (pool.TotalAt); allocations count the units of the allocations
// and live leases held now, from the month each was made.
func poolChart(p *pool.Pool, allocs []pool.Allocation, leases []pool.Lease, now time.Time) chart {
	now = now.UTC()
	first := now
	for _, t := range p.Transactions {
		d := t.Date
		if t.Kind == pool.TxRentalPeriod {
			d = t.Period.Start
		}
		if d.Before(first) {
			first = d
		}
	}
	for _, a := range allocs {
		if a.AllocatedAt.Before(first) {
			first = a.AllocatedAt
		}
	}
	start := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
	if earliest := license.AddMonths(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), -(chartMonths - 1)); start.Before(earliest) {
		start = earliest
	}
	var pts []chartPoint
	for m := start; !m.After(now); m = license.AddMonths(m, 1) {
		at := license.AddMonths(m, 1).Add(-time.Nanosecond)
		if at.After(now) {
			at = now
		}
		pt := chartPoint{Month: m.Format("2006-01"), Label: m.Format("Jan 2006"), Licenses: pool.TotalAt(p.Transactions, at)}
		for _, a := range allocs {
			if !a.AllocatedAt.After(at) {
				pt.Allocated += a.Units
			}
		}
		for _, l := range leases {
			if l.Live(now) && !l.Acquired.After(at) {
				pt.Allocated++
			}
		}
		pts = append(pts, pt)
	}
	return chart{Points: pts, SVG: chartSVG(p.Name, pts)}
}

// chartSVG draws the points as grouped bars: licenses solid, allocations
// hatched and outlined, each bar labelled with its value, so the chart reads
// without colour; the title and description name what it shows, and the
// page repeats the figures in a table.
func chartSVG(name string, pts []chartPoint) template.HTML {
	const w, hgt, left, right, top, bottom = 380.0, 260.0, 34.0, 6.0, 44.0, 36.0
	var peak int64 = 1
	for _, p := range pts {
		peak = max(peak, p.Licenses, p.Allocated)
	}
	step := niceStep(peak)
	axisMax := ((peak + step - 1) / step) * step
	plotH := hgt - top - bottom
	y := func(v int64) float64 { return top + plotH - float64(v)/float64(axisMax)*plotH }
	var b strings.Builder
	esc := template.HTMLEscapeString
	desc := "Licenses in total and licenses allocated at the end of each month"
	if len(pts) > 0 {
		last := pts[len(pts)-1]
		desc += fmt.Sprintf(", from %s to %s. %s: %d licenses, %d allocated.", pts[0].Label, last.Label, last.Label, last.Licenses, last.Allocated)
	}
	fmt.Fprintf(&b, `<svg id="pool-chart" class="chart" viewBox="0 0 %g %g" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">`, w, hgt)
	fmt.Fprintf(&b, `<title id="chart-title">Licenses and allocations per month — %s</title><desc id="chart-desc">%s</desc>`, esc(name), esc(desc))
	b.WriteString(`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
		`<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#8a4b00" stroke-width="3"/></pattern></defs>`)
	// Legend.
	b.WriteString(`<g class="legend" font-size="13" fill="#1b2330">`)
	fmt.Fprintf(&b, `<rect x="%g" y="10" width="14" height="14" fill="#1f5fbf"/><text x="%g" y="21">Licenses (total)</text>`, left, left+20)
	fmt.Fprintf(&b, `<rect x="%g" y="10" width="14" height="14" fill="url(#hatch)" stroke="#8a4b00"/><text x="%g" y="21">Allocated (hatched)</text>`, left+140, left+160)
	b.WriteString(`</g>`)
	// Axis and grid.
	b.WriteString(`<g class="axis" font-size="12" fill="#5a6474">`)
	for v := int64(0); v <= axisMax; v += step {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#dde2ea"/><text x="%g" y="%.1f" text-anchor="end">%d</text>`,
			left, w-right, y(v), y(v), left-6, y(v)+4, v)
	}
	b.WriteString(`</g>`)
	n := float64(max(len(pts), 1))
	group := (w - left - right) / n
	bar := min(group*0.36, 34)
	for i, p := range pts {
		x0 := left + group*float64(i) + group/2 - bar
		fmt.Fprintf(&b, `<g class="month" data-month="%s" data-licenses="%d" data-allocated="%d" font-size="12" fill="#1b2330">`, p.Month, p.Licenses, p.Allocated)
		fmt.Fprintf(&b, `<rect class="bar-licenses" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1f5fbf"><title>%s: %d licenses</title></rect>`,
			x0, y(p.Licenses), bar, top+plotH-y(p.Licenses), p.Label, p.Licenses)
		fmt.Fprintf(&b, `<rect class="bar-allocated" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#hatch)" stroke="#8a4b00"><title>%s: %d allocated</title></rect>`,
			x0+bar, y(p.Allocated), bar, top+plotH-y(p.Allocated), p.Label, p.Allocated)
		fmt.Fprintf(&b, `<text class="value-licenses" x="%.1f" y="%.1f" text-anchor="middle">%d</text>`, x0+bar/2, y(p.Licenses)-4, p.Licenses)
		fmt.Fprintf(&b, `<text class="value-allocated" x="%.1f" y="%.1f" text-anchor="middle">%d</text>`, x0+bar*1.5, y(p.Allocated)-4, p.Allocated)
		// Month under each group, the year under the first month and each January.
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, x0+bar, hgt-bottom+15, p.Label[:3])
		if i == 0 || strings.HasSuffix(p.Month, "-01") {
			fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, x0+bar, hgt-bottom+29, p.Month[:4])
		}
		b.WriteString(`</g>`)
	}
	fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#5a6474"/>`, left, w-right, top+plotH, top+plotH)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text in it is escaped above or is a number or month
}

// niceStep is a grid step of 1, 2 or 5 times a power of ten giving at most
// five lines up to peak.
func niceStep(peak int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if peak <= m*p*5 {
				return m * p
			}
		}
	}
}
