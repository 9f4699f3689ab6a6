// Command compare measures Herald beside the pub/sub libraries an embedding
// program would otherwise pick — NATS (embedded server and its generic
// subject list), mochi-mqtt, cskr/pubsub, watermill's gochannel and Badger
// used as Emitter's store — plus a bare Go channel and a direct callback as
// floors, in one process, interleaved, over several rounds.
//
// Usage:
//
//	cd bench && go run ./cmd/compare            # full run, a few minutes
//	cd bench && go run ./cmd/compare -quick     # smoke run, prints only
//	cd bench && go run ./cmd/compare -w deliver # one workload
//
// The full run writes results/compare.md and results/*.svg. See README.md
// for the fairness rules.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "short smoke run: 2 rounds, short runs, smaller sets; writes no files unless -out is set")
	workloads := flag.String("w", "match,deliver,store", "comma-separated workloads to run: match, deliver, store")
	rounds := flag.Int("rounds", 0, "rounds per cell (default 5, -quick 2)")
	runTime := flag.Duration("time", 0, "target duration of one measured run (default 200ms, -quick 25ms)")
	out := flag.String("out", "", "directory for compare.md and the charts (default results, none with -quick)")
	format := flag.String("chart", "svg", "chart image format: svg or png")
	flag.Parse()

	cfg := config{
		rounds:      5,
		runTime:     200 * time.Millisecond,
		latencyTime: 300 * time.Millisecond,
		matchSizes:  []int{1_000, 100_000, 1_000_000},
		churnSizes:  []int{10_000, 100_000},
		storeCount:  100_000,
	}
	dir := "results"
	if *quick {
		cfg = config{
			rounds:      2,
			runTime:     25 * time.Millisecond,
			latencyTime: 50 * time.Millisecond,
			matchSizes:  []int{1_000, 10_000},
			churnSizes:  []int{10_000},
			storeCount:  10_000,
		}
		dir = ""
	}
	if *rounds > 0 {
		cfg.rounds = *rounds
	}
	if *runTime > 0 {
		cfg.runTime = *runTime
		cfg.latencyTime = *runTime * 3 / 2
	}
	if *out != "" {
		dir = *out
	}
	want := map[string]bool{}
	for _, w := range strings.Split(*workloads, ",") {
		w = strings.TrimSpace(w)
		switch w {
		case "match", "deliver", "store":
			want[w] = true
		default:
			fmt.Fprintf(os.Stderr, "compare: unknown workload %q (want match, deliver or store)\n", w)
			os.Exit(2)
		}
	}

	start := time.Now()
	loadStart := loadAvg()
	progress("compare: %s, GOMAXPROCS=%d, %d rounds, %v per run", cpuModel(), runtime.GOMAXPROCS(0), cfg.rounds, cfg.runTime)
	var tables []*table
	if want["match"] {
		tables = append(tables, runMatch(cfg, newCalibrator(false)))
	}
	if want["deliver"] {
		d, l := runDeliver(cfg)
		tables = append(tables, d, l)
	}
	if want["store"] {
		tables = append(tables, runHistory(cfg))
	}
	elapsed := time.Since(start).Round(time.Second)

	for _, t := range tables {
		fmt.Printf("\n## %s\n\n", t.title)
		v, a := t.rows()
		fmt.Print(text(t.header(), v))
		if len(a) > 0 {
			fmt.Println()
			fmt.Print(text(t.header(), a))
		}
	}
	fmt.Printf("\nEach entry: median over rounds ±half the range as %% of the median; (×N) = how many times better Herald is than that peer (>1: Herald ahead).\nTotal time %v.\n", elapsed)

	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	charts := writeCharts(dir, *format, tables)
	md := report(cfg, tables, charts, elapsed, strings.Join(os.Args[1:], " "), loadStart+" at the start, "+loadAvg()+" at the end")
	if err := os.WriteFile(filepath.Join(dir, "compare.md"), []byte(md), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	progress("compare: wrote %s and %d charts", filepath.Join(dir, "compare.md"), len(charts))
}

// writeCharts draws one chart per workload and returns the file names
// written, keyed by table id.
func writeCharts(dir, format string, tables []*table) map[string]string {
	out := map[string]string{}
	for _, t := range tables {
		var cs chartSpec
		switch t.id {
		case "match":
			cs = chartSpec{title: "Subscription matching (serial lookups)", ylabel: "lookups/s",
				scale: 1, file: "match.svg"}
			for _, c := range t.cells {
				if strings.HasSuffix(c.key, "/serial") {
					cs.cells = append(cs.cells, c.key)
					cs.labels = append(cs.labels, shortLabel(c.key))
				}
			}
			// Lookups per second read better next to the other charts
			// (higher is better everywhere).
			inv := newTable(t.id, t.title, t.impls)
			for _, k := range cs.cells {
				src := t.byKey[k]
				c := inv.cell(k, src.name, unitNsOp)
				for name, vs := range src.values {
					for _, v := range vs {
						c.add(name, 1e9/v)
					}
				}
				c.fail = src.fail
			}
			t = inv
		case "deliver":
			cs = chartSpec{title: "Publish → deliver, 64 B (deliveries/s)", ylabel: "deliveries/s", scale: 1, file: "deliver.svg",
				cells:  []string{"1-1/exact/64B", "1-100/exact/64B", "8-8/exact/64B", "1-1/wildcard/64B", "1-100/wildcard/64B", "8-8/wildcard/64B"},
				labels: []string{"1→1", "1→100", "8→8", "1→1 +", "1→100 +", "8→8 +"}}
		case "latency":
			cs = chartSpec{title: "Closed-loop latency, 64 B (lower is better)", ylabel: "µs", scale: 1e3, file: "latency.svg",
				cells:  []string{"lat/1/first/p50", "lat/1/first/p99", "lat/100/last/p50", "lat/100/last/p99"},
				labels: []string{"1→1 p50", "1→1 p99", "1→100 last p50", "1→100 last p99"}}
		case "store":
			cs = chartSpec{title: "Stored publish and history queries (ops/s)", ylabel: "ops/s", scale: 1, file: "store.svg"}
			for _, c := range t.cells {
				cs.cells = append(cs.cells, c.key)
				cs.labels = append(cs.labels, shortLabel(c.key))
			}
		default:
			continue
		}
		name := strings.TrimSuffix(cs.file, ".svg") + "." + format
		cs.file = filepath.Join(dir, name)
		if err := drawChart(t, cs); err != nil {
			progress("compare: chart %s: %v", name, err)
			continue
		}
		out[t.id] = name
	}
	return out
}

// shortLabel turns a cell key into a compact x-axis label.
func shortLabel(key string) string {
	r := strings.NewReplacer(
		"lookup/random-1000000/serial", "1M rand",
		"lookup/random-100000/serial", "100k rand",
		"lookup/random-1000/serial", "1k rand",
		"lookup/random-10000/serial", "10k rand",
		"lookup/wide/serial", "13 matches",
		"lookup/fanout/serial", "100 subs",
		"rotate/serial", "rotating",
		"write/1/64", "store 64B",
		"write/1/1024", "store 1KiB",
		"write/8/64", "store 8w",
		"query/1", "last=1",
		"query/100", "last=100",
		"query/wild100", "+ last=100",
		"query/solo100", "solo last=100",
	)
	return r.Replace(key)
}

// report renders the Markdown results file.
func report(cfg config, tables []*table, charts map[string]string, elapsed time.Duration, args, load string) string {
	var b strings.Builder
	cmd := "cd bench && go run ./cmd/compare"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "# Herald beside its peers\n\n")
	fmt.Fprintf(&b, "Generated by `%s` on %s in %v.\n\n", cmd, time.Now().UTC().Format("2006-01-02 15:04 MST"), elapsed)
	fmt.Fprintf(&b, "- Machine: %s, %d CPUs, GOMAXPROCS=%d, %s %s/%s\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- Load average of the machine (other processes included): %s\n", load)
	fmt.Fprintf(&b, "- Rounds: %d per cell, interleaved (each round runs every cell for every implementation, in a rotating order); runs of about %v\n", cfg.rounds, cfg.runTime)
	fmt.Fprintf(&b, "- Herald: %s\n", heraldRevision())
	fmt.Fprintf(&b, "- Versions: %s\n\n", versions())
	b.WriteString("Each entry is the median over the rounds, ±half the range of the rounds as a percentage of the median. ")
	b.WriteString("**(×N)** after a peer's value is how many times better Herald's corresponding row is than that peer " +
		"(>1: Herald is ahead; <1: Herald is behind), in the cell's own direction (higher throughput, lower time). " +
		"Each peer is compared with the Herald variant that does the same kind of work (see the implementation lists).\n\n")
	b.WriteString(fairness)
	for _, t := range tables {
		fmt.Fprintf(&b, "\n## %s\n\n", t.title)
		if f, ok := charts[t.id]; ok {
			fmt.Fprintf(&b, "![%s](%s)\n\n", t.title, f)
		}
		seen := map[string]bool{}
		for _, im := range t.impls {
			if seen[im.name] {
				continue
			}
			seen[im.name] = true
			ref := ""
			if !im.herald() {
				ref = fmt.Sprintf(" Compared with `%s`.", im.ref)
			}
			fmt.Fprintf(&b, "- `%s`: %s.%s\n", im.name, im.note, ref)
		}
		b.WriteString("\n")
		v, a := t.rows()
		b.WriteString(markdown(t.header(), v))
		if len(a) > 0 {
			b.WriteString("\nAllocations (median over rounds):\n\n")
			b.WriteString(markdown(t.header(), a))
		}
		if len(t.notes) > 0 {
			b.WriteString("\n")
			for _, n := range t.notes {
				fmt.Fprintf(&b, "- %s\n", n)
			}
		}
	}
	return b.String()
}

// fairness is the list of rules the comparison follows (also in README.md).
const fairness = `## Fairness rules

- Same process, same machine, same run: every implementation runs every cell in every round, and
  the rounds are interleaved (round 1 of everything, then round 2, ...) with the order of the
  implementations rotated, so a noisy neighbour or thermal drift hits all of them alike.
- Same work: the same generated subscription sets (translated to each syntax and checked
  against a brute-force matcher before timing, so every index reports the same matches), the same
  payload bytes, the same numbers of publishers and subscribers, the same stored messages.
- Warm-up: every measured run follows a warm-up run on the same instance; throughput runs are sized
  from the previous round so that each lasts about the same time.
- Each peer is configured as its documentation recommends for speed: NATS embedded without a
  listener, with client pending limits off and ` + "`" + `MaxPending` + "`" + ` raised so that a fast run is not cut as
  a slow consumer; mochi through its inline client; cskr and watermill with 1,024-message buffers
  like Herald's queues; Badger unsynced, as Emitter runs it.
- Nothing is dropped: Herald's queues block (with a one-hour slow-subscriber timeout) instead of
  dropping, and every run checks that each subscriber received every message; a run that loses
  messages is reported as failed, not as a number.
- Like is compared with like: asynchronous peers (a goroutine per subscriber) against Herald's
  queued handlers, synchronous ones (mochi's inline client, the callback floor) against
  ` + "`" + `engine.Inline()` + "`" + `; unsynced Badger against ` + "`" + `store.Bolt` + "`" + ` with ` + "`" + `NoSync` + "`" + `, Badger in memory against
  ` + "`" + `store.Memory` + "`" + `, the raw-bbolt floor against durable ` + "`" + `store.Bolt` + "`" + `.
- A cell a peer cannot do (cskr, watermill and the floors have no wildcard filters; raw bbolt has
  no wildcard query) says n/a and why.
- Each entry is the median over the rounds with ±half the range; a peer's entry also shows how
  many times better Herald is (×N, >1 means Herald is ahead). Allocations are counted for the whole
  process during the measured part of a run.
`

// heraldRevision names the commit of the Herald tree being measured, and
// whether the measured packages had uncommitted changes.
func heraldRevision() string {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown revision"
	}
	rev := "commit " + strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", "..", "status", "--porcelain", "--", "trie", "engine", "store", "security").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += " with uncommitted changes in the measured packages"
	}
	return rev
}

// versions lists the module versions of the peers from the build info.
func versions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	want := []string{
		"github.com/nats-io/nats-server/v2", "github.com/nats-io/nats.go", "github.com/mochi-mqtt/server/v2",
		"github.com/cskr/pubsub/v2", "github.com/ThreeDotsLabs/watermill", "github.com/dgraph-io/badger/v4",
		"go.etcd.io/bbolt",
	}
	var parts []string
	for _, w := range want {
		for _, d := range bi.Deps {
			if d.Path == w {
				parts = append(parts, fmt.Sprintf("%s %s", strings.TrimPrefix(d.Path, "github.com/"), d.Version))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// loadAvg returns the 1-minute load average from /proc/loadavg, if
// available: on a shared machine it says how much else was running.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// cpuModel returns the CPU model name from /proc/cpuinfo, if available.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
