package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// series is one implementation's values across the groups of a chart; NaN
// means no value.
type series struct {
	name   string
	values []float64
}

// palette gives Herald's rows strong colours and the peers muted ones.
var palette = []color.Color{
	color.RGBA{0xd9, 0x48, 0x01, 0xff}, // herald: orange
	color.RGBA{0xfd, 0x8d, 0x3c, 0xff}, // second herald variant
	color.RGBA{0xfd, 0xbe, 0x85, 0xff}, // third herald variant
	color.RGBA{0x31, 0x82, 0xbd, 0xff},
	color.RGBA{0x6b, 0xae, 0xd6, 0xff},
	color.RGBA{0x31, 0xa3, 0x54, 0xff},
	color.RGBA{0x75, 0x6b, 0xb1, 0xff},
	color.RGBA{0x96, 0x96, 0x96, 0xff},
	color.RGBA{0x52, 0x52, 0x52, 0xff},
}

// logBars draws grouped bars on a log10 axis: each group (x) has one bar
// per series. Bars start at the decade below the smallest value.
func logBars(title, ylabel string, groups []string, ss []series, heraldCount int, file string) error {
	lo := math.Inf(1)
	hi := math.Inf(-1)
	for _, s := range ss {
		for _, v := range s.values {
			if v > 0 && !math.IsNaN(v) {
				lo = min(lo, v)
				hi = max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		return nil // nothing to draw
	}
	base := math.Floor(math.Log10(lo))
	top := math.Ceil(math.Log10(hi))
	if top == base {
		top++
	}

	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel + " (log scale)"
	p.Y.Min, p.Y.Max = 0, top-base
	p.Y.Tick.Marker = plot.TickerFunc(func(_, _ float64) []plot.Tick {
		var ts []plot.Tick
		for k := 0.0; k <= top-base; k++ {
			ts = append(ts, plot.Tick{Value: k, Label: decade(k + base)})
			if k < top-base {
				for m := 2.0; m < 10; m++ {
					ts = append(ts, plot.Tick{Value: k + math.Log10(m)})
				}
			}
		}
		return ts
	})
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.Padding = vg.Points(2)
	p.X.Tick.Label.Font.Size = vg.Points(9)

	n := len(ss)
	w := vg.Points(float64(min(14, 110/max(n, 1))))
	peer := 0
	for i, s := range ss {
		vals := make(plotter.Values, len(groups))
		for g := range groups {
			if g < len(s.values) && s.values[g] > 0 && !math.IsNaN(s.values[g]) {
				vals[g] = math.Log10(s.values[g]) - base
			}
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		b.LineStyle.Width = vg.Length(0)
		if i < heraldCount {
			b.Color = palette[i]
		} else {
			b.Color = palette[3+peer%(len(palette)-3)]
			peer++
		}
		b.Offset = vg.Length(float64(i)-float64(n-1)/2) * w
		p.Add(b)
		p.Legend.Add(s.name, b)
	}
	p.Add(plotter.NewGrid())
	p.NominalX(groups...)
	// Room on the right for the legend, so that it covers no bar.
	p.X.Min, p.X.Max = -0.6, float64(len(groups))-0.4+0.9
	p.Legend.ThumbnailWidth = vg.Points(10)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.XOffs = 0
	p.Legend.YOffs = 0
	width := vg.Points(math.Max(480, float64(len(groups))*float64(n)*float64(w)*1.25+120))
	return p.Save(width, vg.Points(300), file)
}

// decade labels 10^k compactly: 1, 10, 100, 1k, ..., 1M, 1G.
func decade(k float64) string {
	v := math.Pow(10, k)
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	case v >= 1:
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%g", v)
}

// chartSpec selects cells of a table for a chart.
type chartSpec struct {
	file, title, ylabel string
	cells               []string // cell keys
	labels              []string // x labels, one per cell
	scale               float64  // values are divided by scale
}

// drawChart draws the cells of t named by cs, one series per
// implementation (implementations with no value in any cell are left out).
func drawChart(t *table, cs chartSpec) error {
	var ss []series
	heralds := 0
	for _, im := range t.impls {
		s := series{name: im.name}
		any := false
		for _, k := range cs.cells {
			v := math.NaN()
			if c := t.byKey[k]; c != nil {
				if vs := c.values[im.name]; len(vs) > 0 {
					_, failed := c.fail[im.name]
					if !failed {
						v = median(vs) / cs.scale
						any = true
					}
				}
			}
			s.values = append(s.values, v)
		}
		if !any {
			continue
		}
		if im.herald() {
			heralds++
		}
		ss = append(ss, s)
	}
	return logBars(cs.title, cs.ylabel, cs.labels, ss, heralds, cs.file)
}
