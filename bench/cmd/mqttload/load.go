package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result is one run, as printed by -json and read by summarize.
type Result struct {
	Label     string  `json:"label,omitempty"`
	URL       string  `json:"url"`
	Transport string  `json:"transport"`
	Shape     string  `json:"shape"`
	Pubs      int     `json:"pubs"`
	Subs      int     `json:"subs"`
	Topics    int     `json:"topics"`
	QoS       int     `json:"qos"`
	Size      int     `json:"size"`
	Keyed     bool    `json:"keyed"`
	Rate      float64 `json:"rate"` // target msg/s; 0 = saturating
	Window    int     `json:"window"`
	Seconds   float64 `json:"seconds"`

	Messages         int64   `json:"messages"`
	Deliveries       int64   `json:"deliveries"`
	MessagesPerSec   float64 `json:"messages_per_sec"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Lost             int64   `json:"lost"`
	Duplicates       int64   `json:"duplicates"`
	Bad              int64   `json:"bad"`
	Stalls           int64   `json:"stalls"`     // episodes of 200 ms with a full window and no progress
	WriteOffs        int64   `json:"write_offs"` // stalls of a second, after which the window was written off
	// Over the whole run (warmup and drain included): deliveries expected
	// from what was published, and deliveries received.
	Expected int64 `json:"expected_total"`
	Received int64 `json:"received_total"`

	Latency Latency `json:"latency_us"`

	BrokerPID              int     `json:"broker_pid,omitempty"`
	BrokerCPUSeconds       float64 `json:"broker_cpu_s"`
	BrokerCPUPerDeliveryUs float64 `json:"broker_cpu_us_per_delivery"`
	BrokerCPUPercent       float64 `json:"broker_cpu_pct"`
	ClientCPUPercent       float64 `json:"client_cpu_pct"`

	Errors []string `json:"errors,omitempty"`
}

// Latency holds percentiles in microseconds.
type Latency struct {
	Samples uint64  `json:"n"`
	P50     float64 `json:"p50"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p999"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
}

var monoBase = time.Now()

// mono is the monotonic clock in ns since the program started.
func mono() int64 { return int64(time.Since(monoBase)) }

type load struct {
	cfg  config
	qos  byte
	pubs []*publisher
	subs []*subscriber

	// The measurement window in mono() time; messages published inside it are
	// latency samples.
	mStart, mEnd atomic.Int64
	stopping     atomic.Bool

	errMu sync.Mutex
	errs  []string
}

func (l *load) fail(format string, a ...any) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, a...))
	}
}

type subscriber struct {
	l      *load
	idx    int
	c      *client
	expect string // topic deliveries must carry
	hist   *histogram
	count  atomic.Int64 // deliveries so far
	// fromPub[i] counts deliveries from publisher i, for i's window.
	fromPub []atomic.Int64

	// Owned by the reader goroutine.
	local      int64
	perPub     []int64
	touched    []int
	next       []uint32
	acks       []uint16
	lost, dup  int64
	bad        int64
	notes      int
	readerDone chan struct{}
}

func (s *subscriber) publish(_ *client, topic, payload []byte, _ byte, id uint16, now int64) {
	if id != 0 {
		s.acks = append(s.acks, id)
	}
	if string(topic) != s.expect {
		s.bad++
		if s.notes < 3 {
			s.notes++
			s.l.fail("subscriber %d: message on %q (%.100q), want topic %q", s.idx, topic, payload, s.expect)
		}
		return
	}
	if len(payload) < 16 {
		s.bad++
		return
	}
	ts := int64(binary.LittleEndian.Uint64(payload))
	pi := int(binary.LittleEndian.Uint32(payload[8:]))
	seq := binary.LittleEndian.Uint32(payload[12:])
	if pi >= len(s.next) {
		s.bad++
		return
	}
	if ts >= s.l.mStart.Load() && ts < s.l.mEnd.Load() {
		s.hist.record(now - ts)
	}
	switch want := s.next[pi]; {
	case seq == want:
		s.next[pi]++
	case seq > want:
		s.lost += int64(seq - want)
		s.next[pi] = seq + 1
	default:
		s.dup++
	}
	if s.perPub[pi] == 0 {
		s.touched = append(s.touched, pi)
	}
	s.perPub[pi]++
	s.local++
}

func (s *subscriber) puback(uint16) {}

func (s *subscriber) batchEnd() {
	if len(s.acks) > 0 {
		c := s.c
		c.wmu.Lock()
		for _, id := range s.acks {
			c.appendPuback(id)
		}
		_ = c.flush()
		c.wmu.Unlock()
		s.acks = s.acks[:0]
	}
	if s.local == 0 {
		return
	}
	s.count.Add(s.local)
	s.local = 0
	for _, pi := range s.touched {
		s.fromPub[pi].Add(s.perPub[pi])
		s.perPub[pi] = 0
		s.l.pubs[pi].poke()
	}
	s.touched = s.touched[:0]
}

type publisher struct {
	l      *load
	idx    int
	c      *client
	tmpl   []byte
	fanout int64
	subs   []*subscriber // those on this publisher's topic

	sent    atomic.Int64 // stored at each flush
	acked   atomic.Int64 // PUBACKs
	waiting atomic.Bool
	wake    chan struct{}

	// Owned by the publisher goroutine.
	stalls, writeOffs     int64
	stallStart            int64 // mono time the current stall began, or 0
	credit, ackCredit     int64
	ackLocal              int64
	notes                 int
	readerDone, writeDone chan struct{}
}

func (p *publisher) poke() {
	if p.waiting.Load() {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *publisher) publish(_ *client, topic, payload []byte, _ byte, _ uint16, _ int64) {
	if p.notes < 3 {
		p.notes++
		p.l.fail("publisher %d: message on %q: %.200q", p.idx, topic, payload)
	}
}

func (p *publisher) puback(uint16) { p.ackLocal++ }

func (p *publisher) batchEnd() {
	if p.ackLocal > 0 {
		p.acked.Add(p.ackLocal)
		p.ackLocal = 0
		p.poke()
	}
}

// slowest returns the number of messages the slowest subscriber of the
// topic has received from p (all it sent when the topic has none).
func (p *publisher) slowest(sent int64) int64 {
	if len(p.subs) == 0 {
		return sent
	}
	m := int64(math.MaxInt64)
	for _, s := range p.subs {
		m = min(m, s.fromPub[p.idx].Load())
	}
	return m
}

// budget returns how many more messages p may publish after sent without
// exceeding the window: messages not yet received by every subscriber of
// the topic (the slowest one counts), and at QoS 1 also not yet acknowledged.
func (p *publisher) budget(sent int64) int64 {
	w := int64(p.l.cfg.window)
	b := w - (sent - p.slowest(sent) - p.credit)
	if p.l.qos > 0 {
		b = min(b, w-(sent-p.acked.Load()-p.ackCredit))
	}
	return b
}

// A publisher whose window stays full with no progress at all (nothing
// received by the slowest subscriber, nothing acknowledged) for stallAfter
// counts a stall; after writeOffAfter it writes the outstanding messages off
// as lost and carries on, so that a broker that drops messages cannot wedge
// the run. A shared machine can pause a process for a few hundred
// milliseconds: such a pause is a stall, not a loss.
const (
	stallAfter    = 200 * time.Millisecond
	writeOffAfter = time.Second
)

func (p *publisher) wait(sent int64, t *time.Timer) {
	p.waiting.Store(true)
	defer p.waiting.Store(false)
	if p.budget(sent) > 0 {
		p.stallStart = 0
		return
	}
	d0, a0 := p.slowest(sent), p.acked.Load()
	t.Reset(stallAfter)
	select {
	case <-p.wake:
		t.Stop()
		return
	case <-t.C:
	}
	if p.slowest(sent) != d0 || p.acked.Load() != a0 {
		p.stallStart = 0
		return
	}
	now := mono()
	if p.stallStart == 0 {
		p.stallStart = now - int64(stallAfter)
		p.stalls++
		if p.l.cfg.debug {
			var each []int64
			for _, s := range p.subs {
				each = append(each, s.fromPub[p.idx].Load())
			}
			fmt.Fprintf(os.Stderr, "mqttload: publisher %d stalled at %.3fs: sent %d, acked %d, received by each subscriber %v\n",
				p.idx, float64(now)/1e9, sent, a0, each)
		}
	}
	if now-p.stallStart >= int64(writeOffAfter) {
		p.writeOffs++
		p.stallStart = 0
		p.credit = sent - d0
		p.ackCredit = sent - a0
		if p.l.cfg.debug {
			fmt.Fprintf(os.Stderr, "mqttload: publisher %d wrote %d messages off at %.3fs\n", p.idx, sent-min(d0, a0), float64(now)/1e9)
		}
	}
}

// run publishes from start until stop (mono times).
func (p *publisher) run(start, stop int64) error {
	defer close(p.writeDone)
	cfg := &p.l.cfg
	c := p.c
	qos := p.l.qos
	size := cfg.size
	var (
		sent int64
		seq  uint32
		id   uint16
	)
	add := func() {
		c.out = append(c.out, p.tmpl...)
		if qos > 0 {
			id++
			if id == 0 {
				id = 1
			}
			c.out = append(c.out, byte(id>>8), byte(id))
		}
		n := len(c.out)
		c.out = slices.Grow(c.out, size)[:n+size]
		pl := c.out[n:]
		binary.LittleEndian.PutUint64(pl, uint64(mono()))
		binary.LittleEndian.PutUint32(pl[8:], uint32(p.idx))
		binary.LittleEndian.PutUint32(pl[12:], seq)
		clear(pl[16:])
		seq++
		sent++
	}
	t := time.NewTimer(time.Hour)
	t.Stop()

	if cfg.rate == 0 {
		for mono() < start {
			sleepNS(start - mono())
		}
		for mono() < stop {
			b := p.budget(sent)
			if b <= 0 {
				p.wait(sent, t)
				continue
			}
			c.wmu.Lock()
			for ; b > 0 && len(c.out) < cfg.batch; b-- {
				add()
			}
			err := c.flush()
			c.wmu.Unlock()
			p.sent.Store(sent)
			if err != nil {
				return err
			}
		}
		return nil
	}

	// Paced: this publisher's share of -rate, publishers staggered evenly.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setTimerSlack()
	n := float64(len(p.l.pubs))
	interval := n * 1e9 / cfg.rate
	first := float64(start) + float64(p.idx)*interval/n
	var k float64
	for {
		now := mono()
		if now >= stop {
			return nil
		}
		due := int64(first + k*interval)
		if due > now {
			sleepNS(due - now)
			continue
		}
		b := p.budget(sent)
		if b <= 0 {
			p.wait(sent, t)
			continue
		}
		c.wmu.Lock()
		for ; due <= now && b > 0 && len(c.out) < cfg.batch; b-- {
			add()
			k++
			due = int64(first + k*interval)
		}
		err := c.flush()
		c.wmu.Unlock()
		p.sent.Store(sent)
		if err != nil {
			return err
		}
		if behind := now - due; behind > int64(time.Second) {
			// The broker cannot keep up: do not make up for lost time in a burst.
			k += float64(behind) / interval
		}
	}
}

// sleepNS sleeps with nanosleep, which with 1 ns timer slack wakes within tens
// of microseconds; Go's timers wake about a millisecond late on this kernel.
func sleepNS(d int64) {
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(d)
	_ = syscall.Nanosleep(&ts, nil)
}

// setTimerSlack sets the calling thread's timer slack to 1 ns (PR_SET_TIMERSLACK).
func setTimerSlack() {
	_, _, _ = syscall.Syscall(syscall.SYS_PRCTL, 29, 1, 0)
}

type snapshot struct {
	t, messages, deliveries int64
	broker, self            time.Duration
}

func (l *load) snap() (snapshot, error) {
	s := snapshot{t: mono(), self: selfCPU()}
	for _, p := range l.pubs {
		s.messages += p.sent.Load()
	}
	for _, sub := range l.subs {
		s.deliveries += sub.count.Load()
	}
	if l.cfg.brokerPID > 0 {
		var err error
		if s.broker, err = procCPU(l.cfg.brokerPID); err != nil {
			return s, fmt.Errorf("broker CPU: %w", err)
		}
	}
	return s, nil
}

func (l *load) names(i int) (pubTopic, subFilter, expect string) {
	k := strconv.Itoa(i % l.cfg.topics)
	if l.cfg.key == "" {
		t := l.cfg.topic + "/" + k
		return t, t, t
	}
	ch := l.cfg.topic + "/" + k + "/"
	return l.cfg.key + "/" + ch, l.cfg.key + "/" + ch, ch
}

func runLoad(ctx context.Context, cfg config) (*Result, error) {
	t, _ := parseTarget(cfg.url)
	l := &load{cfg: cfg, qos: byte(cfg.qos)}
	l.mStart.Store(1<<63 - 1)
	l.mEnd.Store(1<<63 - 1)
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	if cfg.master != "" && cfg.key == "" {
		key, err := keygen(setupCtx, t, cfg.clientID+"-keygen", cfg.master, cfg.topic+"/#/")
		if err != nil {
			return nil, fmt.Errorf("keygen: %w", err)
		}
		l.cfg.key = key
	}

	var clients []*client
	defer func() {
		l.stopping.Store(true)
		for _, c := range clients {
			c.close()
		}
	}()

	if cfg.rate > 0 {
		// A paced publisher is locked to its thread and sleeps in
		// nanosleep; woken, it needs a P. With fewer Ps than publishers it
		// waits for one behind the others (10 publishers at 20k msg/s on 2
		// Ps: p50 0.7-1.3 ms whatever the broker, 0.1 ms with 12 Ps), so the
		// run would measure this program's scheduler. The OS still shares
		// the CPUs; the Ps only stop being the queue.
		if n := cfg.pubs + 2; runtime.GOMAXPROCS(0) < n {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
		}
	}

	l.pubs = make([]*publisher, cfg.pubs)
	for i := range l.pubs {
		pt, _, _ := l.names(i)
		p := &publisher{l: l, idx: i, tmpl: publishTemplate(pt, l.qos, cfg.size),
			wake: make(chan struct{}, 1), readerDone: make(chan struct{}), writeDone: make(chan struct{})}
		l.pubs[i] = p
	}
	reader := func(c *client, h handler, done chan struct{}, who string) {
		defer close(done)
		if err := c.readLoop(h); !l.stopping.Load() {
			l.fail("%s: connection lost: %v", who, err)
		}
	}
	l.subs = make([]*subscriber, cfg.subs)
	for j := range l.subs {
		_, filter, expect := l.names(j)
		c, err := dial(setupCtx, t, cfg.clientID+"-s"+strconv.Itoa(j), uint16(cfg.keepAlive))
		if err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", j, err)
		}
		clients = append(clients, c)
		if err := c.subscribe(filter, l.qos); err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", j, err)
		}
		_ = c.nc.SetDeadline(time.Time{})
		c.coalesce = cfg.coalesce
		s := &subscriber{l: l, idx: j, c: c, expect: expect, hist: newHistogram(), fromPub: make([]atomic.Int64, cfg.pubs),
			perPub: make([]int64, cfg.pubs), next: make([]uint32, cfg.pubs), readerDone: make(chan struct{})}
		l.subs[j] = s
		for i, p := range l.pubs {
			if i%cfg.topics == j%cfg.topics {
				p.fanout++
				p.subs = append(p.subs, s)
			}
		}
		go reader(c, s, s.readerDone, "subscriber "+strconv.Itoa(j))
	}
	for i, p := range l.pubs {
		c, err := dial(setupCtx, t, cfg.clientID+"-p"+strconv.Itoa(i), uint16(cfg.keepAlive))
		if err != nil {
			return nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		clients = append(clients, c)
		_ = c.nc.SetDeadline(time.Time{})
		p.c = c
		go reader(c, p, p.readerDone, "publisher "+strconv.Itoa(i))
	}
	if cfg.keepAlive > 0 {
		stopPing := make(chan struct{})
		defer close(stopPing)
		go func() {
			tk := time.NewTicker(time.Duration(cfg.keepAlive) * time.Second / 2)
			defer tk.Stop()
			for {
				select {
				case <-stopPing:
					return
				case <-tk.C:
					for _, c := range clients {
						_ = c.ping()
					}
				}
			}
		}()
	}

	start := mono() + int64(20*time.Millisecond)
	mStart := start + int64(cfg.warmup)
	mEnd := mStart + int64(cfg.duration)
	l.mStart.Store(mStart)
	l.mEnd.Store(mEnd)
	for _, p := range l.pubs {
		go func() {
			if err := p.run(start, mEnd); err != nil && !l.stopping.Load() {
				l.fail("publisher %d: %v", p.idx, err)
			}
		}()
	}

	sleepUntil(mStart)
	a, err := l.snap()
	if err != nil {
		return nil, err
	}
	sleepUntil(mEnd)
	b, err := l.snap()
	if err != nil {
		return nil, err
	}
	for _, p := range l.pubs {
		<-p.writeDone
	}

	// Drain: wait until every published message has reached every subscriber
	// of its topic, or -drain has passed.
	var expected int64
	for _, p := range l.pubs {
		expected += p.sent.Load() * p.fanout
	}
	deadline := mono() + int64(cfg.drain)
	for mono() < deadline {
		var got int64
		for _, s := range l.subs {
			got += s.count.Load()
		}
		if got >= expected {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.stopping.Store(true)
	for _, c := range clients {
		c.close()
	}
	clients = nil
	for _, s := range l.subs {
		<-s.readerDone
	}
	for _, p := range l.pubs {
		<-p.readerDone
	}

	res := &Result{
		Label: cfg.label, URL: cfg.url, Transport: t.scheme, Shape: cfg.shape,
		Pubs: cfg.pubs, Subs: cfg.subs, Topics: cfg.topics, QoS: cfg.qos, Size: cfg.size,
		Keyed: l.cfg.key != "", Rate: cfg.rate, Window: cfg.window,
		Seconds:    float64(b.t-a.t) / 1e9,
		Messages:   b.messages - a.messages,
		Deliveries: b.deliveries - a.deliveries,
		BrokerPID:  cfg.brokerPID,
	}
	res.MessagesPerSec = float64(res.Messages) / res.Seconds
	res.DeliveriesPerSec = float64(res.Deliveries) / res.Seconds
	res.ClientCPUPercent = 100 * (b.self - a.self).Seconds() / res.Seconds
	if cfg.brokerPID > 0 {
		res.BrokerCPUSeconds = (b.broker - a.broker).Seconds()
		res.BrokerCPUPercent = 100 * res.BrokerCPUSeconds / res.Seconds
		if res.Deliveries > 0 {
			res.BrokerCPUPerDeliveryUs = res.BrokerCPUSeconds * 1e6 / float64(res.Deliveries)
		}
	}
	h := newHistogram()
	for _, s := range l.subs {
		h.merge(s.hist)
		res.Duplicates += s.dup
		res.Bad += s.bad
		res.Lost += s.lost
		// Messages missing at the end of the stream are lost too.
		for pi, p := range l.pubs {
			if p.idx%cfg.topics == s.idx%cfg.topics {
				res.Lost += max(0, p.sent.Load()-int64(s.next[pi]))
			}
		}
	}
	for _, p := range l.pubs {
		res.Stalls += p.stalls
		res.WriteOffs += p.writeOffs
		res.Expected += p.sent.Load() * p.fanout
	}
	for _, s := range l.subs {
		res.Received += s.count.Load()
	}
	res.Latency = Latency{Samples: h.n, Mean: h.mean() / 1e3,
		P50: float64(h.quantile(0.50)) / 1e3, P99: float64(h.quantile(0.99)) / 1e3,
		P999: float64(h.quantile(0.999)) / 1e3, Max: float64(h.max) / 1e3}
	l.errMu.Lock()
	res.Errors = l.errs
	l.errMu.Unlock()
	if len(res.Errors) > 0 {
		return res, errors.New("the run had errors")
	}
	return res, nil
}

func sleepUntil(t int64) {
	if d := t - mono(); d > 0 {
		time.Sleep(time.Duration(d))
	}
}

// keygen asks the broker's emitter/keygen/ service for a read/write key on
// channel, as Emitter's clients do (QoS 1 request, response pushed on
// emitter/keygen/ with "req" set to the packet id).
func keygen(ctx context.Context, t target, id, master, channel string) (string, error) {
	c, err := dial(ctx, t, id, 0)
	if err != nil {
		return "", err
	}
	defer c.close()
	req, _ := json.Marshal(map[string]any{"key": master, "channel": channel, "type": "rw", "ttl": 0})
	c.out = append(c.out, publishTemplate("emitter/keygen/", 1, len(req))...)
	c.out = append(c.out, 0, 1)
	c.out = append(c.out, req...)
	if err := c.flush(); err != nil {
		return "", err
	}
	for {
		hdr, b, err := c.next()
		if err != nil {
			return "", fmt.Errorf("waiting for the response: %w", err)
		}
		if hdr>>4 != pPublish || len(b) < 2 {
			continue
		}
		tl := int(b[0])<<8 | int(b[1])
		p := 2 + tl
		if hdr>>1&3 > 0 {
			p += 2
		}
		if len(b) < p {
			return "", errMalformed
		}
		topic := b[2 : 2+tl]
		if !bytes.HasPrefix(topic, []byte("emitter/keygen/")) && !bytes.HasPrefix(topic, []byte("emitter/error/")) {
			continue
		}
		var resp struct {
			Status  int    `json:"status"`
			Key     string `json:"key"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(b[p:], &resp); err != nil {
			return "", fmt.Errorf("response on %s: %w", topic, err)
		}
		if resp.Status != 200 || resp.Key == "" {
			return "", fmt.Errorf("%s: status %d: %s", topic, resp.Status, resp.Message)
		}
		return resp.Key, nil
	}
}
