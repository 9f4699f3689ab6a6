// Command mqttload drives an MQTT 3.1.1 broker with N publishers and M
// subscribers over TCP or WebSocket and reports messages/s, deliveries/s,
// end-to-end latency percentiles and the broker's CPU time per delivery.
//
// # Usage
//
//	mqttload [flags]                       one run, summary on stderr (-json: one JSON line on stdout)
//	mqttload summarize [-o file] runs.jsonl  Markdown comparison of runs from several brokers
//
// A run connects the subscribers (clean session) and waits for every SUBACK,
// connects the publishers, then publishes for -warmup plus -duration. Only the
// -duration window is measured: counters and the broker's CPU time
// (utime+stime from /proc/<pid>/stat of -broker-pid, 10 ms resolution) are
// read at both ends of it, and latency is recorded for every message published
// inside it. After publishing stops, the subscribers are given -drain to catch
// up; what never arrives is reported as lost.
//
// # Shapes
//
// -shape 1-1, 1-10 and 1-100 are one publisher and 1, 10 or 100 subscribers
// on one topic; 10-10 is ten publisher/subscriber pairs, each pair on its own
// topic. -pubs, -subs and -topics set any other shape: publisher i publishes
// on topic i mod topics, subscriber j subscribes to topic j mod topics.
//
// # Pacing and flow control
//
// Without -rate, publishers saturate: each writes batches of up to -batch
// bytes as fast as the broker takes them, but never has more than -window
// messages outstanding (published and not yet received by all of the topic's
// subscribers, and at QoS 1 also not yet acknowledged). The window keeps the
// broker's queues bounded, so that a broker that drops under overload is not
// rewarded for it. A full window with no progress for 200 ms counts as a
// stall; after a second the outstanding messages are written off (a broker
// that drops must not wedge the run) and what never arrives is counted lost.
// With -rate, publishers send -rate messages/s in total on a
// fixed schedule (nanosleep with 1 ns timer slack), flushing each message as it
// is due, and latency is the figure to read. Each paced publisher is locked to
// a thread, and the program runs with at least one P per publisher (plus two),
// so that a publisher's wake-up never waits for a P.
//
// # Payload
//
// Every payload starts with 16 bytes: the publisher's monotonic clock at
// encoding (ns, little-endian), the publisher's index and a per-publisher
// sequence number; the rest is zero. Subscribers check the topic, count gaps
// and duplicates per publisher, and take the receive time once per read.
//
// # Emitter keyed topics
//
// With -key (or -master, which asks the broker's emitter/keygen/ for a key on
// "<topic>/#/"), publishers and subscribers use KEY/<topic>/<n>/ and received
// topics are matched with the key stripped (<topic>/<n>/), as Emitter and
// Herald deliver on the bare channel.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

type config struct {
	url        string
	shape      string
	pubs       int
	subs       int
	topics     int
	qos        int
	size       int
	rate       float64
	duration   time.Duration
	warmup     time.Duration
	drain      time.Duration
	window     int
	coalesce   time.Duration
	batch      int
	topic      string
	key        string
	master     string
	brokerPID  int
	label      string
	json       bool
	keepAlive  int
	cpuprofile string
	clientID   string
	debug      bool
}

var shapes = map[string][3]int{
	"1-1":   {1, 1, 1},
	"1-10":  {1, 10, 1},
	"1-100": {1, 100, 1},
	"10-10": {10, 10, 10},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "summarize" {
		os.Exit(summarizeMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("mqttload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "tcp://127.0.0.1:1883", "broker `address`: tcp://host:port or ws://host:port/path")
	fs.StringVar(&c.shape, "shape", "", "1-1, 1-10, 1-100 or 10-10 (sets -pubs, -subs, -topics)")
	fs.IntVar(&c.pubs, "pubs", 1, "publisher connections")
	fs.IntVar(&c.subs, "subs", 1, "subscriber connections")
	fs.IntVar(&c.topics, "topics", 1, "distinct topics (publisher i uses topic i mod topics, subscriber j topic j mod topics)")
	fs.IntVar(&c.qos, "qos", 0, "QoS of publishes and subscriptions (0 or 1)")
	fs.IntVar(&c.size, "size", 64, "payload `bytes` (at least 16)")
	fs.Float64Var(&c.rate, "rate", 0, "total messages/s across publishers; 0 saturates")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured time before it")
	fs.DurationVar(&c.drain, "drain", 2*time.Second, "how long subscribers may catch up after publishing stops")
	fs.IntVar(&c.window, "window", 1000, "maximum messages outstanding per publisher")
	fs.DurationVar(&c.coalesce, "coalesce", 0, "subscribers sleep this long after a small read (saturating runs: fewer wakeups for this program)")
	fs.IntVar(&c.batch, "batch", 16<<10, "flush a saturating publisher's buffer at this many `bytes`")
	fs.StringVar(&c.topic, "topic", "bench", "topic prefix: topics are <prefix>/<n> (keyed: <prefix>/<n>/)")
	fs.StringVar(&c.key, "key", "", "Emitter channel key: use keyed topics KEY/<prefix>/<n>/")
	fs.StringVar(&c.master, "master", "", "Emitter master secret: get a key for <prefix>/#/ from emitter/keygen/ and use keyed topics")
	fs.IntVar(&c.brokerPID, "broker-pid", 0, "broker `pid` whose CPU time to read from /proc")
	fs.StringVar(&c.label, "label", "", "broker name recorded in the result (for summarize)")
	fs.BoolVar(&c.json, "json", false, "print the result as one JSON line on stdout")
	fs.IntVar(&c.keepAlive, "keepalive", 0, "MQTT keepalive `seconds` (0: none; otherwise PINGREQ every half of it)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write this program's CPU profile to `file`")
	fs.BoolVar(&c.debug, "debug", false, "report each window stall (no progress for 200 ms) on stderr")
	fs.StringVar(&c.clientID, "id", "mqttload-"+strconv.Itoa(os.Getpid()), "client id prefix")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.shape != "" {
		s, ok := shapes[c.shape]
		if !ok {
			return c, fmt.Errorf("unknown -shape %q (1-1, 1-10, 1-100, 10-10)", c.shape)
		}
		c.pubs, c.subs, c.topics = s[0], s[1], s[2]
	} else {
		c.shape = fmt.Sprintf("%dp-%ds-%dt", c.pubs, c.subs, c.topics)
	}
	switch {
	case c.pubs < 1 || c.subs < 0 || c.topics < 1:
		return c, errors.New("need -pubs >= 1, -subs >= 0, -topics >= 1")
	case c.qos != 0 && c.qos != 1:
		return c, errors.New("-qos must be 0 or 1")
	case c.size < 16 || c.size > 1<<20:
		return c, errors.New("-size must be between 16 and 1048576")
	case c.rate < 0 || math.IsInf(c.rate, 0) || math.IsNaN(c.rate):
		return c, errors.New("-rate must be >= 0")
	case c.window < 1 || c.window > 60000:
		return c, errors.New("-window must be between 1 and 60000")
	case c.duration <= 0 || c.warmup < 0 || c.drain < 0:
		return c, errors.New("-duration must be positive, -warmup and -drain not negative")
	case c.batch < 1:
		return c, errors.New("-batch must be positive")
	case c.keepAlive < 0 || c.keepAlive > 65535:
		return c, errors.New("-keepalive must be between 0 and 65535")
	case strings.ContainsAny(c.topic, "+#") || strings.HasSuffix(c.topic, "/") || c.topic == "":
		return c, errors.New("-topic must be a non-empty prefix without wildcards or trailing /")
	}
	if _, err := parseTarget(c.url); err != nil {
		return c, err
	}
	return c, nil
}

func runMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "mqttload:", err)
		return 2
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "mqttload:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "mqttload:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, err := runLoad(context.Background(), cfg)
	if res != nil {
		printSummary(stderr, res)
		if cfg.json {
			b, _ := json.Marshal(res)
			fmt.Fprintf(stdout, "%s\n", b)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "mqttload:", err)
		return 1
	}
	return 0
}

func printSummary(w io.Writer, r *Result) {
	mode := "saturating, window " + strconv.Itoa(r.Window)
	if r.Rate > 0 {
		mode = fmt.Sprintf("paced at %s msg/s", si(r.Rate))
	}
	fmt.Fprintf(w, "%s %s %s: %d pub, %d sub, %d topic(s), QoS %d, %d B, keyed=%v, %s, %.1fs measured\n",
		r.Label, r.URL, r.Shape, r.Pubs, r.Subs, r.Topics, r.QoS, r.Size, r.Keyed, mode, r.Seconds)
	fmt.Fprintf(w, "  messages/s %s  deliveries/s %s  lost %d  duplicates %d  bad %d  window stalls %d (written off %d)\n",
		si(r.MessagesPerSec), si(r.DeliveriesPerSec), r.Lost, r.Duplicates, r.Bad, r.Stalls, r.WriteOffs)
	l := r.Latency
	fmt.Fprintf(w, "  latency p50 %s  p99 %s  p99.9 %s  max %s  mean %s  (%d samples)\n",
		us(l.P50), us(l.P99), us(l.P999), us(l.Max), us(l.Mean), l.Samples)
	if r.BrokerPID > 0 {
		fmt.Fprintf(w, "  broker CPU %.2f µs/delivery (%.0f%% of a core)", r.BrokerCPUPerDeliveryUs, r.BrokerCPUPercent)
	} else {
		fmt.Fprintf(w, "  broker CPU not measured (no -broker-pid)")
	}
	fmt.Fprintf(w, "; mqttload CPU %.0f%% of a core\n", r.ClientCPUPercent)
	for _, e := range r.Errors {
		fmt.Fprintln(w, "  error:", e)
	}
}

// si formats a rate with a k/M suffix.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// us formats microseconds.
func us(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "s"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "µs"
}
