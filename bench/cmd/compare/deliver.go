package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/cskr/pubsub/v2"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/heraldmq/herald/engine"
)

// deliverySpec is one delivery scenario.
type deliverySpec struct {
	pubs, subs int
	wildcard   bool // subscribers use a single-level wildcard filter
	payload    int  // bytes
}

func (sp deliverySpec) key() string {
	f := "exact"
	if sp.wildcard {
		f = "wildcard"
	}
	return fmt.Sprintf("%d-%d/%s/%dB", sp.pubs, sp.subs, f, sp.payload)
}

func (sp deliverySpec) name() string {
	f := "exact"
	if sp.wildcard {
		f = "`+` filter"
	}
	return fmt.Sprintf("%d→%d, %s, %s", sp.pubs, sp.subs, f, size(sp.payload))
}

func size(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// base is the origin of the monotonic timestamps the sinks record.
var base = time.Now()

func now() int64 { return int64(time.Since(base)) }

// counter is a cache-line padded counter, one per subscriber.
type counter struct {
	n atomic.Int64
	_ [56]byte
}

// sink is where every subscriber of an instance reports each message it
// receives, through hit(i) with its index.
type sink struct {
	nsubs  int64
	counts []counter

	// throughput mode
	want      int64
	remaining atomic.Int64
	done      chan struct{}

	// latency mode: one message in flight
	latency           bool
	arrived, finished atomic.Int64
	first, last       atomic.Int64
	sig               chan struct{}
}

func newSink(subs int, latency bool) *sink {
	return &sink{nsubs: int64(subs), counts: make([]counter, subs), latency: latency, sig: make(chan struct{}, 1)}
}

// arm prepares a throughput run in which every subscriber must receive want
// messages. The instance must be idle.
func (s *sink) arm(want int64) {
	for i := range s.counts {
		s.counts[i].n.Store(0)
	}
	s.want = want
	s.remaining.Store(s.nsubs)
	s.done = make(chan struct{})
}

// received returns the number of messages received since arm.
func (s *sink) received() int64 {
	var n int64
	for i := range s.counts {
		n += s.counts[i].n.Load()
	}
	return n
}

func (s *sink) hit(i int) {
	if s.latency {
		n := s.arrived.Add(1)
		if n == 1 {
			s.first.Store(now())
		}
		if n == s.nsubs {
			s.last.Store(now())
		}
		if s.finished.Add(1) == s.nsubs {
			s.sig <- struct{}{}
		}
		return
	}
	if s.counts[i].n.Add(1) == s.want {
		if s.remaining.Add(-1) == 0 {
			close(s.done)
		}
	}
}

// instance is a running system under test.
type instance struct {
	pubs  []func(payload []byte) error // one per publisher, each for one goroutine
	close func()
}

// deliverImpl is one publish → deliver implementation.
type deliverImpl struct {
	impl
	// noWildcard says why the implementation cannot run wildcard cells.
	noWildcard string
	setup      func(sp deliverySpec, s *sink) (*instance, error)
}

var deliverImpls = []deliverImpl{
	{impl: impl{name: "herald", note: "engine.Conn.Subscribe with a handler: goroutine + bounded queue per subscription (WithQueue(1024, Block), SlowTimeout 1h); Publish with NoCopy (the buffer is handed over, as with cskr and a Go channel)"},
		setup: func(sp deliverySpec, s *sink) (*instance, error) { return setupHerald(sp, s, false) }},
	{impl: impl{name: "herald-inline", note: "engine.Inline(): handler runs on the publisher's goroutine; Publish with NoCopy"},
		setup: func(sp deliverySpec, s *sink) (*instance, error) { return setupHerald(sp, s, true) }},
	{impl: impl{name: "nats", ref: "herald", note: "embedded nats-server (DontListen, MaxPending 1 GiB) + nats.go InProcessServer; async Subscribe handler, pending limits off; one connection per publisher, subscribers share one"},
		setup: setupNATS},
	{impl: impl{name: "mochi", ref: "herald-inline", note: "mochi-mqtt inline client: Server.Publish / Server.Subscribe (handler runs on the publisher's goroutine)"},
		setup: setupMochi},
	{impl: impl{name: "cskr", ref: "herald", note: "cskr/pubsub/v2 New(1024): Pub / Sub channels, one goroutine per subscriber"},
		noWildcard: "no wildcards", setup: setupCskr},
	{impl: impl{name: "watermill", ref: "herald", note: "watermill gochannel (OutputChannelBuffer 1024), NewMessage(NewUUID(), payload), Ack per message"},
		noWildcard: "no wildcards", setup: setupWatermill},
	{impl: impl{name: "go-chan", ref: "herald", note: "floor: a buffered channel (1024) per subscriber, no matching, no copy"},
		noWildcard: "floor: no matching", setup: setupChan},
	{impl: impl{name: "callback", ref: "herald-inline", note: "floor: a slice of funcs called in turn, no matching, no copy"},
		noWildcard: "floor: no matching", setup: setupCallback},
}

func setupHerald(sp deliverySpec, s *sink, inline bool) (*instance, error) {
	e, err := engine.New(engine.Options{SlowTimeout: time.Hour})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	sc, err := e.Connect(engine.ConnOptions{Trusted: true})
	if err != nil {
		return nil, err
	}
	filter := "bench/room/"
	if sp.wildcard {
		filter = "bench/+/"
	}
	opt := engine.WithQueue(1024, engine.Block)
	if inline {
		opt = engine.Inline()
	}
	for i := range sp.subs {
		if _, err := sc.Subscribe(ctx, filter, func(*engine.Message) { s.hit(i) }, opt); err != nil {
			_ = e.Close()
			return nil, err
		}
	}
	in := &instance{close: func() { _ = e.Close() }}
	for range sp.pubs {
		c, err := e.Connect(engine.ConnOptions{Trusted: true})
		if err != nil {
			_ = e.Close()
			return nil, err
		}
		in.pubs = append(in.pubs, func(p []byte) error { return c.Publish(ctx, "bench/room/", p, engine.NoCopy()) })
	}
	return in, nil
}

func setupNATS(sp deliverySpec, s *sink) (*instance, error) {
	ns, err := server.NewServer(&server.Options{
		DontListen: true, NoLog: true, NoSigs: true,
		MaxPending:    1 << 30,
		WriteDeadline: time.Minute,
	})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("nats: server not ready")
	}
	var conns []*nats.Conn
	stop := func() {
		for _, c := range conns {
			c.Close()
		}
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	connect := func() (*nats.Conn, error) {
		c, err := nats.Connect("", nats.InProcessServer(ns))
		if err == nil {
			conns = append(conns, c)
		}
		return c, err
	}
	subject := "bench.room"
	if sp.wildcard {
		subject = "bench.*"
	}
	sc, err := connect()
	if err != nil {
		stop()
		return nil, err
	}
	for i := range sp.subs {
		sub, err := sc.Subscribe(subject, func(*nats.Msg) { s.hit(i) })
		if err == nil {
			err = sub.SetPendingLimits(-1, -1)
		}
		if err != nil {
			stop()
			return nil, err
		}
	}
	for _, c := range conns {
		if err := c.Flush(); err != nil { // the server has every subscription
			stop()
			return nil, err
		}
	}
	in := &instance{close: stop}
	for range sp.pubs {
		c, err := connect()
		if err != nil {
			stop()
			return nil, err
		}
		in.pubs = append(in.pubs, func(p []byte) error { return c.Publish("bench.room", p) })
	}
	return in, nil
}

func setupMochi(sp deliverySpec, s *sink) (*instance, error) {
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.Serve(); err != nil {
		return nil, err
	}
	filter := "bench/room"
	if sp.wildcard {
		filter = "bench/+"
	}
	for i := range sp.subs {
		err := srv.Subscribe(filter, i+1, func(*mqtt.Client, packets.Subscription, packets.Packet) { s.hit(i) })
		if err != nil {
			_ = srv.Close()
			return nil, err
		}
	}
	in := &instance{close: func() { _ = srv.Close() }}
	for range sp.pubs {
		in.pubs = append(in.pubs, func(p []byte) error { return srv.Publish("bench/room", p, false, 0) })
	}
	return in, nil
}

func setupCskr(sp deliverySpec, s *sink) (*instance, error) {
	ps := pubsub.New[string, []byte](1024)
	var wg sync.WaitGroup
	for i := range sp.subs {
		ch := ps.Sub("bench/room")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				s.hit(i)
			}
		}()
	}
	in := &instance{close: func() { ps.Shutdown(); wg.Wait() }}
	for range sp.pubs {
		in.pubs = append(in.pubs, func(p []byte) error { ps.Pub(p, "bench/room"); return nil })
	}
	return in, nil
}

func setupWatermill(sp deliverySpec, s *sink) (*instance, error) {
	g := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024}, watermill.NopLogger{})
	var wg sync.WaitGroup
	for i := range sp.subs {
		msgs, err := g.Subscribe(context.Background(), "bench/room")
		if err != nil {
			_ = g.Close()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range msgs {
				s.hit(i)
				m.Ack()
			}
		}()
	}
	in := &instance{close: func() { _ = g.Close(); wg.Wait() }}
	for range sp.pubs {
		in.pubs = append(in.pubs, func(p []byte) error {
			return g.Publish("bench/room", message.NewMessage(watermill.NewUUID(), p))
		})
	}
	return in, nil
}

func setupChan(sp deliverySpec, s *sink) (*instance, error) {
	chans := make([]chan []byte, sp.subs)
	var wg sync.WaitGroup
	for i := range chans {
		ch := make(chan []byte, 1024)
		chans[i] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				s.hit(i)
			}
		}()
	}
	in := &instance{close: func() {
		for _, c := range chans {
			close(c)
		}
		wg.Wait()
	}}
	for range sp.pubs {
		in.pubs = append(in.pubs, func(p []byte) error {
			for _, c := range chans {
				c <- p
			}
			return nil
		})
	}
	return in, nil
}

func setupCallback(sp deliverySpec, s *sink) (*instance, error) {
	fns := make([]func([]byte), sp.subs)
	for i := range fns {
		fns[i] = func([]byte) { s.hit(i) }
	}
	in := &instance{close: func() {}}
	for range sp.pubs {
		in.pubs = append(in.pubs, func(p []byte) error {
			for _, f := range fns {
				f(p)
			}
			return nil
		})
	}
	return in, nil
}

// throughput publishes msgs messages (split among the publishers) and waits
// until every subscriber has received all of them.
func throughput(in *instance, s *sink, msgs int64, payload []byte, timeout time.Duration) (span, error) {
	pubs := int64(len(in.pubs))
	per := max(msgs/pubs, 1)
	s.arm(per * pubs)
	errs := make(chan error, pubs)
	runtime.GC()
	m0 := readMem()
	start := time.Now()
	for _, pub := range in.pubs {
		go func() {
			for range per {
				if err := pub(payload); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var firstErr error
	for range pubs {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return span{}, firstErr
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		return span{}, fmt.Errorf("timed out: %d of %d deliveries arrived", s.received(), per*pubs*s.nsubs)
	}
	d := time.Since(start)
	return span{d, readMem().sub(m0)}, nil
}

// deliverCells is the throughput grid of workload 2.
func deliverCells() []deliverySpec {
	var cells []deliverySpec
	for _, fan := range [][2]int{{1, 1}, {1, 100}, {8, 8}} {
		for _, wc := range []bool{false, true} {
			for _, p := range []int{64, 1024} {
				cells = append(cells, deliverySpec{pubs: fan[0], subs: fan[1], wildcard: wc, payload: p})
			}
		}
	}
	return cells
}

func runDeliver(cfg config) (*table, *table) {
	impls := make([]impl, len(deliverImpls))
	for i, di := range deliverImpls {
		impls[i] = di.impl
	}
	t := newTable("deliver", "Workload 2: in-process publish → deliver throughput", impls)
	t.notes = append(t.notes,
		"A run publishes a fixed number of messages (sized from the previous round to last about the run time) and stops the clock when every subscriber has received every message; deliveries/s = messages × subscribers / elapsed (ns per delivery = 1000 ÷ the M deliveries/s shown). Every subscriber counts what it receives; a run that loses a message fails (after a timeout) instead of reporting a number.",
		"Publishers publish on `bench/room` (each in its syntax); exact subscribers use the same topic, wildcard subscribers `bench/+` (NATS `bench.*`). 8→8 is 8 publisher goroutines on one topic that 8 subscribers receive, so every message is delivered 8 times.",
		"Asynchronous peers (NATS, cskr, watermill, the channel floor) hand each message to a subscriber goroutine; their ratio is against `herald` (queued handler). mochi's inline client and the callback floor run the handler on the publisher's goroutine; their ratio is against `herald-inline`.",
		"Allocations are counted over the whole process during the measured run (runtime.MemStats.Mallocs) and divided by deliveries. Herald publishes with NoCopy here and carves its Message headers from blocks of 64 shared by later publishes (so about 1/64 allocation per message, whatever the fan-out); cskr, the channel and callback floors pass the caller's slice.")
	lt := newTable("latency", "Workload 2: closed-loop latency (one message in flight, 64 B, exact topic)", impls)
	lt.notes = append(lt.notes,
		"The publisher publishes one message, waits until every subscriber has it, and publishes the next. Latency is from just before Publish to the moment a subscriber's handler (first / last of them) runs, read from the monotonic clock. Percentiles are per run; the table shows their median over the rounds.")

	payloads := map[int][]byte{}
	for _, n := range []int{64, 1024} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte('a' + i%26)
		}
		payloads[n] = p
	}
	rates := map[string]float64{} // messages/s of the last round, per cell and implementation
	cells := deliverCells()
	for round := range cfg.rounds {
		for ci, sp := range cells {
			c := t.cell(sp.key(), sp.name(), unitDeliv)
			for _, di := range rotate(deliverImpls, round+ci) {
				if sp.wildcard && di.noWildcard != "" {
					c.na[di.name] = di.noWildcard
					continue
				}
				if _, failed := c.fail[di.name]; failed {
					continue
				}
				v, allocs, err := measureThroughput(cfg, di, sp, payloads[sp.payload], rates)
				if err != nil {
					c.fail[di.name] = err.Error()
					progress("deliver: %s %s: %v", di.name, sp.name(), err)
					continue
				}
				c.add(di.name, v)
				c.addAllocs(di.name, unitAllocsDel, allocs)
			}
			progress("deliver round %d/%d: %s: %s", round+1, cfg.rounds, c.name, summary(t, c))
		}
		for _, subs := range []int{1, 100} {
			sp := deliverySpec{pubs: 1, subs: subs, payload: 64}
			for _, di := range rotate(deliverImpls, round) {
				res, err := measureLatency(cfg, di, sp, payloads[64])
				if err != nil {
					for _, q := range latencyRows(subs) {
						lt.cell(q.key, q.name, unitMicros).fail[di.name] = err.Error()
					}
					progress("latency: %s 1→%d: %v", di.name, subs, err)
					continue
				}
				for i, q := range latencyRows(subs) {
					lt.cell(q.key, q.name, unitMicros).add(di.name, res[i])
				}
			}
			for _, q := range latencyRows(subs) {
				c := lt.byKey[q.key]
				progress("latency round %d/%d: %s: %s", round+1, cfg.rounds, c.name, summary(lt, c))
			}
		}
	}
	return t, lt
}

type latencyRow struct{ key, name string }

// latencyRows names the values measureLatency returns: p50, p99, p99.9 to
// the first subscriber, then (for more than one) to the last.
func latencyRows(subs int) []latencyRow {
	var rows []latencyRow
	to := []string{"first"}
	if subs > 1 {
		to = append(to, "last")
	}
	for _, w := range to {
		for _, p := range []string{"p50", "p99", "p99.9"} {
			name := fmt.Sprintf("1→%d %s", subs, p)
			if subs > 1 {
				name = fmt.Sprintf("1→%d %s, to %s", subs, p, w)
			}
			rows = append(rows, latencyRow{fmt.Sprintf("lat/%d/%s/%s", subs, w, p), name})
		}
	}
	return rows
}

// measureThroughput sets up di for sp, warms it up and measures one run.
// It returns deliveries per second and allocations per delivery.
func measureThroughput(cfg config, di deliverImpl, sp deliverySpec, payload []byte, rates map[string]float64) (float64, float64, error) {
	s := newSink(sp.subs, false)
	in, err := di.setup(sp, s)
	if err != nil {
		return 0, 0, err
	}
	defer in.close()
	key := sp.key() + "/" + di.name
	timeout := 20*cfg.runTime + 10*time.Second
	rate, ok := rates[key]
	warm := int64(max(20_000/sp.subs, 200))
	if ok {
		warm = max(int64(rate*cfg.runTime.Seconds()/10), int64(sp.pubs))
	}
	w, err := throughput(in, s, warm, payload, timeout)
	if err != nil {
		return 0, 0, fmt.Errorf("warm-up: %w", err)
	}
	if !ok {
		rate = float64(warm) / w.d.Seconds()
	}
	msgs := max(int64(rate*cfg.runTime.Seconds()), int64(sp.pubs))
	r, err := throughput(in, s, msgs, payload, timeout)
	if err != nil {
		return 0, 0, err
	}
	sent := float64(max(msgs/int64(sp.pubs), 1) * int64(sp.pubs))
	rates[key] = sent / r.d.Seconds()
	deliveries := sent * float64(sp.subs)
	return deliveries / r.d.Seconds(), float64(r.m.mallocs) / deliveries, nil
}

// measureLatency runs a closed loop for cfg.latencyTime and returns the
// percentiles named by latencyRows, in nanoseconds.
func measureLatency(cfg config, di deliverImpl, sp deliverySpec, payload []byte) ([]float64, error) {
	s := newSink(sp.subs, true)
	in, err := di.setup(sp, s)
	if err != nil {
		return nil, err
	}
	defer in.close()
	pub := in.pubs[0]
	var first, last []int64
	timeout := time.NewTimer(time.Hour)
	defer timeout.Stop()
	one := func() error {
		s.arrived.Store(0)
		s.finished.Store(0)
		t0 := now()
		if err := pub(payload); err != nil {
			return err
		}
		timeout.Reset(10 * time.Second)
		select {
		case <-s.sig:
		case <-timeout.C:
			return errors.New("timed out waiting for a delivery")
		}
		first = append(first, s.first.Load()-t0)
		last = append(last, s.last.Load()-t0)
		return nil
	}
	for range 500 { // warm-up
		if err := one(); err != nil {
			return nil, err
		}
	}
	first, last = first[:0], last[:0]
	runtime.GC()
	end := time.Now().Add(cfg.latencyTime)
	for time.Now().Before(end) {
		if err := one(); err != nil {
			return nil, err
		}
	}
	var res []float64
	sets := [][]int64{first}
	if sp.subs > 1 {
		sets = append(sets, last)
	}
	for _, xs := range sets {
		slices.Sort(xs)
		for _, q := range []float64{0.50, 0.99, 0.999} {
			res = append(res, float64(xs[min(int(q*float64(len(xs))), len(xs)-1)]))
		}
	}
	return res, nil
}
