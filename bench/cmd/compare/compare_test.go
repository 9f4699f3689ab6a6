package main

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// The tests check the harness itself: that every implementation under test
// is wired correctly (same matches, every message delivered, the stored
// messages found again), and that the statistics and tables are right. They
// use small sizes and measure nothing.

func TestMatchersAgreeWithReference(t *testing.T) {
	sets := map[string]subSet{"random": randomSet(3000, 1), "wide": wideSet(2), "fanout": fanoutSet()}
	for name, s := range sets {
		for _, mi := range matchImpls {
			t.Run(name+"/"+mi.name, func(t *testing.T) {
				b, err := build(mi, &s) // checks the first 200 topics against s.expected
				if err != nil {
					t.Fatal(err)
				}
				if name == "wide" {
					if got := b.m.counter()(b.topics[0]); got != 13 {
						t.Fatalf("wide set target matches %d, want 13", got)
					}
				}
				// Removing every subscription leaves nothing to match.
				for _, x := range s.subs {
					if err := b.m.remove(mi.filter(x.f), x.id); err != nil {
						t.Fatal(err)
					}
				}
				if got := b.m.counter()(b.topics[0]); got != 0 {
					t.Fatalf("after removing everything, %d matches", got)
				}
			})
		}
	}
}

func TestLevelsSyntax(t *testing.T) {
	l := levels{"a", "+", "#"}
	if got := l.herald(); got != "a/+/#/" {
		t.Errorf("herald: %q", got)
	}
	if got := l.nats(); got != "a.*.>" {
		t.Errorf("nats: %q", got)
	}
	if got := l.mqtt(); got != "a/+/#" {
		t.Errorf("mqtt: %q", got)
	}
	for _, c := range []struct {
		f, t levels
		want bool
	}{
		{levels{"a", "+"}, levels{"a", "b"}, true},
		{levels{"a", "+"}, levels{"a", "b", "c"}, false},
		{levels{"a", "#"}, levels{"a", "b", "c"}, true},
		{levels{"#"}, levels{"a"}, true},
		{levels{"a", "b"}, levels{"a"}, false},
	} {
		if got := c.f.matches(c.t); got != c.want {
			t.Errorf("%v matches %v = %v, want %v", c.f, c.t, got, c.want)
		}
	}
}

func TestDeliveryImplsDeliverEverything(t *testing.T) {
	payload := make([]byte, 64)
	for _, di := range deliverImpls {
		for _, sp := range []deliverySpec{
			{pubs: 1, subs: 3, payload: 64},
			{pubs: 4, subs: 2, payload: 64, wildcard: true},
		} {
			if sp.wildcard && di.noWildcard != "" {
				continue
			}
			t.Run(di.name+"/"+sp.key(), func(t *testing.T) {
				s := newSink(sp.subs, false)
				in, err := di.setup(sp, s)
				if err != nil {
					t.Fatal(err)
				}
				defer in.close()
				for range 2 { // the sink is re-armed between runs
					if _, err := throughput(in, s, 200, payload, time.Minute); err != nil {
						t.Fatal(err)
					}
					if got, want := s.received(), int64(200*sp.subs); got != want {
						t.Fatalf("received %d, want %d", got, want)
					}
				}
			})
		}
	}
}

func TestLatencyLoop(t *testing.T) {
	cfg := config{latencyTime: 5 * time.Millisecond}
	for _, di := range deliverImpls {
		t.Run(di.name, func(t *testing.T) {
			res, err := measureLatency(cfg, di, deliverySpec{pubs: 1, subs: 3, payload: 64}, make([]byte, 64))
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(latencyRows(3)) {
				t.Fatalf("%d percentiles, want %d", len(res), len(latencyRows(3)))
			}
			for i := 1; i < 3; i++ { // p50 <= p99 <= p99.9, first before last
				if res[i] < res[i-1] || res[i+3] < res[i+2] {
					t.Fatalf("percentiles out of order: %v", res)
				}
			}
			for i := range 3 {
				if res[i] <= 0 || res[i] > res[i+3] {
					t.Fatalf("first %v not in (0, last %v]", res[i], res[i+3])
				}
			}
		})
	}
}

func TestHistoriansFindWhatTheyStored(t *testing.T) {
	payload := []byte("0123456789")
	var msgs []histMsg
	for i := range 2000 {
		msgs = append(msgs, newHistMsg(i%10, payload))
	}
	for _, hi := range histImpls {
		t.Run(hi.name, func(t *testing.T) {
			h, err := hi.open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer h.close()
			if err := h.preload(msgs[:1500]); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := range msgs[1500:] {
				if err := h.store(ctx, &msgs[1500+i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.flush(); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				f    levels
				n    int
				want int
			}{
				{levels{"hist", "ch3"}, 1, 1},
				{levels{"hist", "ch3"}, 150, 150},
				{levels{"hist", "ch3"}, 500, 200}, // only 200 on the channel
				{levels{"hist", "nope"}, 10, 0},
				{levels{"hist", "+"}, 100, 100},
			} {
				if hi.noWildcard != "" && isWildFilter(c.f) {
					continue
				}
				got, err := h.last(ctx, c.f, c.n)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("last=%d on %s: %d messages, want %d", c.n, c.f.herald(), got, c.want)
				}
			}
		})
	}
}

func TestStatistics(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd: %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even: %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing should be NaN")
	}
	if s := spread([]float64{90, 100, 110}); math.Abs(s-0.1) > 1e-12 {
		t.Errorf("spread: %v", s)
	}
	// Herald twice as fast in both directions.
	if r := unitNsOp.speedup(50, 100); r != 2 {
		t.Errorf("time speedup: %v", r)
	}
	if r := unitDeliv.speedup(2e6, 1e6); r != 2 {
		t.Errorf("throughput speedup: %v", r)
	}
	for v, want := range map[float64]string{1234: "1234", 12.34: "12.3", 1.234: "1.23", 0.1234: "0.123", 0.001234: "0.0012", 0: "0"} {
		if got := sig3(v); got != want {
			t.Errorf("sig3(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestTables(t *testing.T) {
	tb := newTable("x", "X", []impl{{name: "herald"}, {name: "peer", ref: "herald"}, {name: "other", ref: "herald"}})
	c := tb.cell("k", "cell", unitNsOp)
	for _, v := range []float64{100, 110, 90} {
		c.add("herald", v)
		c.add("peer", 2*v)
	}
	c.na["other"] = "cannot"
	c.addAllocs("herald", unitAllocs, 1)
	vals, allocs := tb.rows()
	if len(vals) != 1 || len(allocs) != 1 {
		t.Fatalf("rows: %v %v", vals, allocs)
	}
	want := []string{"cell [ns/op]", "100 ±10%", "200 ±10% (×2.00)", "n/a (cannot)"}
	for i, w := range want {
		if vals[0][i] != w {
			t.Errorf("column %d = %q, want %q", i, vals[0][i], w)
		}
	}
	md := markdown(tb.header(), vals)
	if !strings.HasPrefix(md, "| scenario | herald | peer | other |\n| --- | --- | --- | --- |\n") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestFairnessRulesMatchREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), fairness) {
		t.Error("the fairness rules in main.go and in bench/README.md differ; keep them the same")
	}
}
