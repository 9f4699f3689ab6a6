package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// summarize reads the JSON lines of several runs (several rounds of several
// shapes against two brokers) and writes Markdown tables: the median of each
// figure per broker and shape, and the ratio of broker A to broker B against
// the targets of issue 6.

type groupKey struct {
	Shape     string
	Transport string
	QoS       int
	Size      int
	Keyed     bool
	Rate      float64
	Fanout    int
}

// Targets, as ratios of A (Herald) to B (mosquitto) in the same run.
const (
	targetRate1   = 2.5 // deliveries/s, one subscriber per topic
	targetRateFan = 6.0 // deliveries/s, fanning out
	targetCPU1    = 0.4 // broker CPU per delivery, one subscriber per topic
	targetCPUFan  = 0.2
	targetLatP50  = 1.3 // paced latency
	targetLatP99  = 2.0

	maxNotesPerCell = 2
)

func summarizeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqttload summarize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	a := fs.String("a", "herald", "`label` of the broker under test (numerator of the ratios)")
	b := fs.String("b", "mosquitto", "`label` of the reference broker (denominator)")
	out := fs.String("o", "", "write the Markdown to `file` instead of stdout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var runs []Result
	read := func(r io.Reader, name string) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for line := 1; sc.Scan(); line++ {
			t := strings.TrimSpace(sc.Text())
			if t == "" || t[0] != '{' {
				continue
			}
			var res Result
			if err := json.Unmarshal([]byte(t), &res); err != nil {
				return fmt.Errorf("%s:%d: %w", name, line, err)
			}
			runs = append(runs, res)
		}
		return sc.Err()
	}
	if fs.NArg() == 0 {
		if err := read(os.Stdin, "stdin"); err != nil {
			fmt.Fprintln(stderr, "mqttload summarize:", err)
			return 1
		}
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "mqttload summarize:", err)
			return 1
		}
		err = read(f, name)
		f.Close()
		if err != nil {
			fmt.Fprintln(stderr, "mqttload summarize:", err)
			return 1
		}
	}
	md := summarize(runs, *a, *b)
	if *out == "" {
		_, _ = io.WriteString(stdout, md)
		return 0
	}
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		fmt.Fprintln(stderr, "mqttload summarize:", err)
		return 1
	}
	return 0
}

// fanout is the number of subscribers per topic.
func fanout(r Result) int {
	if r.Topics == 0 {
		return r.Subs
	}
	return r.Subs / r.Topics
}

type stats struct {
	n                       int
	dps, cpu, p50, p99, cli []float64
	notes                   []string
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(runs []Result, a, b string) string {
	groups := map[groupKey]map[string]*stats{}
	var keys []groupKey
	for _, r := range runs {
		k := groupKey{r.Shape, r.Transport, r.QoS, r.Size, r.Keyed, r.Rate, fanout(r)}
		if groups[k] == nil {
			groups[k] = map[string]*stats{}
			keys = append(keys, k)
		}
		s := groups[k][r.Label]
		if s == nil {
			s = &stats{}
			groups[k][r.Label] = s
		}
		s.n++
		s.dps = append(s.dps, r.DeliveriesPerSec)
		if r.BrokerPID > 0 {
			s.cpu = append(s.cpu, r.BrokerCPUPerDeliveryUs)
		}
		s.p50 = append(s.p50, r.Latency.P50)
		s.p99 = append(s.p99, r.Latency.P99)
		s.cli = append(s.cli, r.ClientCPUPercent)
		var note []string
		if r.Lost > 0 {
			note = append(note, "lost "+strconv.FormatInt(r.Lost, 10))
		}
		if r.Stalls > 0 {
			note = append(note, "stalls "+strconv.FormatInt(r.Stalls, 10))
		}
		if r.WriteOffs > 0 {
			note = append(note, "write-offs "+strconv.FormatInt(r.WriteOffs, 10))
		}
		if len(r.Errors) > 0 {
			note = append(note, "errors")
		}
		if r.Rate > 0 && r.MessagesPerSec < 0.95*r.Rate {
			note = append(note, "rate "+si(r.MessagesPerSec))
		}
		if len(note) > 0 && len(s.notes) < maxNotesPerCell {
			s.notes = append(s.notes, r.Label+": "+strings.Join(note, ", "))
		}
	}
	slices.SortStableFunc(keys, func(x, y groupKey) int {
		return cmp.Or(cmp.Compare(x.Rate, y.Rate), cmp.Compare(x.Transport, y.Transport),
			cmp.Compare(x.QoS, y.QoS), cmp.Compare(x.Size, y.Size), boolCmp(x.Keyed, y.Keyed),
			cmp.Compare(x.Fanout, y.Fanout), cmp.Compare(x.Shape, y.Shape))
	})

	var w strings.Builder
	na, nb := a, b
	saturating, paced := false, false
	for _, k := range keys {
		saturating = saturating || k.Rate == 0
		paced = paced || k.Rate != 0
	}
	if saturating {
		fmt.Fprintf(&w, "### Saturating runs (medians; ratio = %s / %s)\n\n", na, nb)
		fmt.Fprintf(&w, "| shape | transport | QoS | size | topics | %s deliveries/s | %s deliveries/s | ratio | target | %s CPU µs/delivery | %s CPU µs/delivery | ratio | target | mqttload CPU %% (%s / %s) | rounds | notes |\n",
			na, nb, na, nb, na, nb)
		w.WriteString("|---|---|---|---|---|---:|---:|---:|---|---:|---:|---:|---|---|---|---|\n")
		for _, k := range keys {
			if k.Rate != 0 {
				continue
			}
			sa, sb := pair(groups, k, a, b)
			rt, ct := targetRateFan, targetCPUFan
			if k.Fanout <= 1 {
				rt, ct = targetRate1, targetCPU1
			}
			dA, dB := med(sa, func(s *stats) []float64 { return s.dps }), med(sb, func(s *stats) []float64 { return s.dps })
			cA, cB := med(sa, func(s *stats) []float64 { return s.cpu }), med(sb, func(s *stats) []float64 { return s.cpu })
			fmt.Fprintf(&w, "| %s | %s | %d | %d B | %s | %s | %s | %s | ≥ %.1f× %s | %s | %s | %s | ≤ %.1f× %s | %s / %s | %s | %s |\n",
				k.Shape, k.Transport, k.QoS, k.Size, keyedName(k.Keyed),
				fmtNum(dA, si), fmtNum(dB, si), ratio(dA, dB), rt, mark(dA, dB, rt, true),
				fmtNum(cA, f2), fmtNum(cB, f2), ratio(cA, cB), ct, mark(cA, cB, ct, false),
				fmtNum(med(sa, func(s *stats) []float64 { return s.cli }), f0), fmtNum(med(sb, func(s *stats) []float64 { return s.cli }), f0),
				rounds(sa, sb), notes(sa, sb))
		}
		w.WriteString("\n")
	}
	if !paced {
		return w.String()
	}
	fmt.Fprintf(&w, "### Paced runs: end-to-end latency (medians of each round's percentile; ratio = %s / %s)\n\n", na, nb)
	fmt.Fprintf(&w, "| shape | transport | QoS | size | topics | msg/s | %s p50 | %s p50 | ratio (≤ %.1f×) | %s p99 | %s p99 | ratio (≤ %.1f×) | %s CPU µs/delivery | %s CPU µs/delivery | rounds | notes |\n",
		na, nb, targetLatP50, na, nb, targetLatP99, na, nb)
	w.WriteString("|---|---|---|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|---|\n")
	for _, k := range keys {
		if k.Rate == 0 {
			continue
		}
		sa, sb := pair(groups, k, a, b)
		p50A, p50B := med(sa, func(s *stats) []float64 { return s.p50 }), med(sb, func(s *stats) []float64 { return s.p50 })
		p99A, p99B := med(sa, func(s *stats) []float64 { return s.p99 }), med(sb, func(s *stats) []float64 { return s.p99 })
		fmt.Fprintf(&w, "| %s | %s | %d | %d B | %s | %s | %s | %s | %s %s | %s | %s | %s %s | %s | %s | %s | %s |\n",
			k.Shape, k.Transport, k.QoS, k.Size, keyedName(k.Keyed), si(k.Rate),
			fmtNum(p50A, us), fmtNum(p50B, us), ratio(p50A, p50B), mark(p50A, p50B, targetLatP50, false),
			fmtNum(p99A, us), fmtNum(p99B, us), ratio(p99A, p99B), mark(p99A, p99B, targetLatP99, false),
			fmtNum(med(sa, func(s *stats) []float64 { return s.cpu }), f2), fmtNum(med(sb, func(s *stats) []float64 { return s.cpu }), f2),
			rounds(sa, sb), notes(sa, sb))
	}
	return w.String()
}

// pair returns the runs of a and b for k. Keyed runs (Emitter topics, which
// only a's broker may understand) are compared with b's plain runs of the same
// shape when b has no keyed runs.
func pair(groups map[groupKey]map[string]*stats, k groupKey, a, b string) (*stats, *stats) {
	sa, sb := groups[k][a], groups[k][b]
	if sb == nil && k.Keyed {
		p := k
		p.Keyed = false
		sb = groups[p][b]
	}
	return sa, sb
}

func boolCmp(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

func keyedName(k bool) string {
	if k {
		return "keyed (vs plain)"
	}
	return "plain"
}

// med returns the median of a figure, or NaN when the broker has no run.
func med(s *stats, f func(*stats) []float64) float64 {
	if s == nil || len(f(s)) == 0 {
		return nan
	}
	return median(f(s))
}

var nan = math.NaN()

func isNaN(v float64) bool { return math.IsNaN(v) }

func fmtNum(v float64, f func(float64) string) string {
	if isNaN(v) {
		return "–"
	}
	return f(v)
}

func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func f0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func ratio(x, y float64) string {
	if isNaN(x) || isNaN(y) || y == 0 {
		return "–"
	}
	return strconv.FormatFloat(x/y, 'f', 2, 64) + "×"
}

// mark is ✅ when x/y meets the target (at least it when higher is better,
// at most it otherwise), ❌ when not, empty when either side is missing.
func mark(x, y, target float64, higher bool) string {
	if isNaN(x) || isNaN(y) || y == 0 {
		return ""
	}
	ok := x/y <= target
	if higher {
		ok = x/y >= target
	}
	if ok {
		return "✅"
	}
	return "❌"
}

func rounds(a, b *stats) string {
	n := func(s *stats) int {
		if s == nil {
			return 0
		}
		return s.n
	}
	return strconv.Itoa(n(a)) + " / " + strconv.Itoa(n(b))
}

func notes(a, b *stats) string {
	var all []string
	for _, s := range []*stats{a, b} {
		if s != nil {
			all = append(all, s.notes...)
		}
	}
	return strings.Join(all, "; ")
}
