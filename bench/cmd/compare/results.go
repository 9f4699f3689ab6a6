package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// unit says how a cell's values are shown and which direction is better.
type unit struct {
	name   string  // column header suffix, e.g. "ns/op"
	scale  float64 // value is divided by scale before printing
	higher bool    // higher values are better (throughput); else lower (time, bytes)
}

var (
	unitNsOp      = unit{name: "ns/op", scale: 1}
	unitDeliv     = unit{name: "M deliveries/s", scale: 1e6, higher: true}
	unitMsgs      = unit{name: "k msgs/s", scale: 1e3, higher: true}
	unitQueries   = unit{name: "k queries/s", scale: 1e3, higher: true}
	unitMicros    = unit{name: "µs", scale: 1e3} // values are recorded in ns
	unitBytesSub  = unit{name: "B/sub", scale: 1}
	unitAllocs    = unit{name: "allocs/op", scale: 1}
	unitAllocsDel = unit{name: "allocs/delivery", scale: 1}
)

// impl describes one implementation taking part in a workload.
type impl struct {
	name string
	// ref is the Herald implementation this one is compared with; empty for
	// Herald's own rows.
	ref string
	// note explains in a few words how the implementation is set up.
	note string
}

func (i impl) herald() bool { return i.ref == "" }

// cell is one row of a results table: a scenario measured for every
// implementation.
type cell struct {
	key  string // stable identifier, e.g. "deliver/1-100/exact/64B"
	name string // human label
	unit unit
	// values[impl] holds one value per round.
	values map[string][]float64
	// allocs[impl] holds one allocation count per round (per op or per
	// delivery, see allocUnit); nil when allocations are not tracked.
	allocs    map[string][]float64
	allocUnit unit
	// na[impl] explains why an implementation has no value for this cell.
	na map[string]string
	// fail[impl] says a run failed (lost messages, error).
	fail map[string]string
}

// table is the results of one workload.
type table struct {
	id     string // "match", "deliver", "latency", "store"
	title  string
	impls  []impl
	cells  []*cell
	byKey  map[string]*cell
	notes  []string
	single map[string]bool // cells measured once (no rounds)
}

func newTable(id, title string, impls []impl) *table {
	return &table{id: id, title: title, impls: impls, byKey: map[string]*cell{}, single: map[string]bool{}}
}

// cell returns the cell with key, creating it.
func (t *table) cell(key, name string, u unit) *cell {
	if c := t.byKey[key]; c != nil {
		return c
	}
	c := &cell{key: key, name: name, unit: u, values: map[string][]float64{}, allocs: map[string][]float64{},
		na: map[string]string{}, fail: map[string]string{}}
	t.byKey[key] = c
	t.cells = append(t.cells, c)
	return c
}

func (c *cell) add(implName string, v float64) { c.values[implName] = append(c.values[implName], v) }

func (c *cell) addAllocs(implName string, u unit, a float64) {
	c.allocUnit = u
	c.allocs[implName] = append(c.allocs[implName], a)
}

// median returns the median of vs (the mean of the two middle values for an
// even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread returns half the range of vs relative to its median, as a
// fraction: 0.05 means the rounds were within ±5% of the median.
func spread(vs []float64) float64 {
	if len(vs) < 2 {
		return 0
	}
	lo, hi := slices.Min(vs), slices.Max(vs)
	m := median(vs)
	if m == 0 {
		return 0
	}
	return (hi - lo) / 2 / math.Abs(m)
}

// speedup returns how many times better Herald's value h is than the peer's
// value p, in the cell's direction (>1: Herald is better).
func (u unit) speedup(h, p float64) float64 {
	if u.higher {
		return h / p
	}
	return p / h
}

// format prints v scaled, with 3 significant digits.
func (u unit) format(v float64) string {
	return sig3(v / u.scale)
}

func sig3(x float64) string {
	ax := math.Abs(x)
	switch {
	case math.IsNaN(x):
		return "—"
	case ax == 0:
		return "0"
	case ax >= 100:
		return fmt.Sprintf("%.0f", x)
	case ax >= 10:
		return fmt.Sprintf("%.1f", x)
	case ax >= 1:
		return fmt.Sprintf("%.2f", x)
	case ax >= 0.01:
		return fmt.Sprintf("%.3f", x)
	default:
		return fmt.Sprintf("%.2g", x)
	}
}

// entry returns what a results table shows for impl in cell c: the median,
// its spread and, for a peer, Herald's speedup over it.
func (t *table) entry(c *cell, im impl) string {
	if r, ok := c.na[im.name]; ok {
		return "n/a (" + r + ")"
	}
	if r, ok := c.fail[im.name]; ok {
		return "FAILED: " + r
	}
	vs := c.values[im.name]
	if len(vs) == 0 {
		return "—"
	}
	m := median(vs)
	s := c.unit.format(m)
	if !t.single[c.key] && len(vs) > 1 {
		s += fmt.Sprintf(" ±%.0f%%", spread(vs)*100)
	}
	if !im.herald() {
		if hv := c.values[im.ref]; len(hv) > 0 {
			s += fmt.Sprintf(" (×%s)", sig3(c.unit.speedup(median(hv), m)))
		}
	}
	return s
}

// allocEntry returns the allocation column for impl in c.
func (t *table) allocEntry(c *cell, im impl) string {
	if _, ok := c.na[im.name]; ok {
		return "n/a"
	}
	vs := c.allocs[im.name]
	if len(vs) == 0 {
		return "—"
	}
	m := median(vs)
	if m < 0.005 {
		return "0" // background noise of the runtime, below one allocation per 200 ops
	}
	return sig3(m)
}

// header returns the column headers: the scenario, then one per
// implementation.
func (t *table) header() []string {
	h := []string{"scenario"}
	for _, im := range t.impls {
		h = append(h, im.name)
	}
	return h
}

// rows returns the table body, values then (in a second block) allocations.
func (t *table) rows() (values, allocs [][]string) {
	for _, c := range t.cells {
		r := []string{c.name + " [" + c.unit.name + "]"}
		for _, im := range t.impls {
			r = append(r, t.entry(c, im))
		}
		values = append(values, r)
		if len(c.allocs) > 0 {
			r := []string{c.name + " [" + c.allocUnit.name + "]"}
			for _, im := range t.impls {
				r = append(r, t.allocEntry(c, im))
			}
			allocs = append(allocs, r)
		}
	}
	return values, allocs
}

// text renders rows as an aligned plain-text table.
func text(header []string, rows [][]string) string {
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = runeLen(h)
	}
	for _, r := range rows {
		for i, s := range r {
			w[i] = max(w[i], runeLen(s))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		for i, s := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(s)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", w[i]-runeLen(s)))
			}
		}
		b.WriteByte('\n')
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

func runeLen(s string) int { return len([]rune(s)) }

// markdown renders rows as a Markdown table.
func markdown(header []string, rows [][]string) string {
	var b strings.Builder
	row := func(r []string) {
		b.WriteString("|")
		for _, s := range r {
			b.WriteString(" " + strings.ReplaceAll(s, "|", `\|`) + " |")
		}
		b.WriteByte('\n')
	}
	row(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	row(sep)
	for _, r := range rows {
		row(r)
	}
	return b.String()
}
