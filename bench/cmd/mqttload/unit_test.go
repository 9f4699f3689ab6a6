package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Buckets tile the non-negative integers without gaps or overlaps.
	var next int64
	for i := range 3000 {
		lo, hi := bucketRange(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d, %d] but bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= 2*subBuckets && float64(hi-lo+1)/float64(lo) > 1.0/subBuckets {
			t.Fatalf("bucket %d = [%d, %d] wider than 1/%d of its values", i, lo, hi, subBuckets)
		}
		next = hi + 1
	}
	if got := bucketOf(math.MaxInt64); got >= histBuckets {
		t.Fatalf("bucketOf(MaxInt64) = %d, out of %d buckets", got, histBuckets)
	}
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 10, 999, 100000} {
		h := newHistogram()
		parts := []*histogram{newHistogram(), newHistogram()}
		v := make([]int64, n)
		for i := range v {
			// Log-uniform between 100 ns and 10 s, like latencies.
			v[i] = int64(math.Exp(math.Log(100) + r.Float64()*(math.Log(1e10)-math.Log(100))))
			h.record(v[i])
			parts[i%2].record(v[i])
		}
		parts[0].merge(parts[1])
		slices.Sort(v)
		for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := max(int(math.Ceil(q*float64(n))), 1)
			want := v[rank-1]
			for _, hh := range []*histogram{h, parts[0]} {
				got := hh.quantile(q)
				if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/subBuckets {
					t.Errorf("n=%d q=%v: got %d, exact %d (relative error %.4f)", n, q, got, want, rel)
				}
			}
		}
		if h.max != v[n-1] || parts[0].max != v[n-1] {
			t.Errorf("n=%d: max %d / %d, want %d", n, h.max, parts[0].max, v[n-1])
		}
		var sum float64
		for _, x := range v {
			sum += float64(x)
		}
		if m := h.mean(); math.Abs(m-sum/float64(n)) > 1e-6*m {
			t.Errorf("n=%d: mean %v, want %v", n, m, sum/float64(n))
		}
	}
	if q := newHistogram().quantile(0.5); q != 0 {
		t.Errorf("empty histogram quantile = %d, want 0", q)
	}
}

func TestParseStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime=1234 and stime=56 ticks.
	line := "4242 (we) ird (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 3 0 777 1000 10 18446744073709551615\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 1290 * clockTick; got != want {
		t.Fatalf("parseStat = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a 1 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

// TestProcCPUAgreesWithRusage burns CPU and checks that /proc/self/stat and
// getrusage, two kernel interfaces, agree on how much.
func TestProcCPUAgreesWithRusage(t *testing.T) {
	p0, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	s0 := selfCPU()
	x := 1.0
	for selfCPU()-s0 < 300*time.Millisecond {
		for range 100000 {
			x = math.Sqrt(x + 1)
		}
	}
	p1, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dp, ds := p1-p0, selfCPU()-s0
	if diff := (dp - ds).Abs(); diff > 60*time.Millisecond {
		t.Fatalf("/proc says %v, getrusage %v (x=%v)", dp, ds, x)
	}
}

func TestWSAcceptRFCExample(t *testing.T) {
	// RFC 6455 §1.3.
	if got := wsAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("wsAccept = %q", got)
	}
}

func TestWSFrameRFCExample(t *testing.T) {
	// RFC 6455 §5.7: a single-frame masked text message "Hello".
	buf := append(make([]byte, wsHeadroom), "Hello"...)
	got := wsFrameOp(buf, 0x1, [4]byte{0x37, 0xfa, 0x21, 0x3d})
	want, _ := hex.DecodeString("818537fa213d7f9f4d5158")
	if !bytes.Equal(got, want) {
		t.Fatalf("frame % x, want % x", got, want)
	}
}

func TestWSFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536, 70000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		buf := append(make([]byte, wsHeadroom), payload...)
		mask := [4]byte{1, 2, 3, 4}
		f := wsFrame(buf, mask)
		// Read it back with the reader, which unmasks a masked frame.
		r := &wsReader{br: bufio.NewReader(bytes.NewReader(f))}
		got := make([]byte, 0, n)
		tmp := make([]byte, 1000)
		for len(got) < n {
			k, err := r.Read(tmp)
			if err != nil {
				t.Fatalf("n=%d: %v after %d bytes", n, err, len(got))
			}
			got = append(got, tmp[:k]...)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: payload differs", n)
		}
		hdr := len(f) - n
		want := map[bool]int{true: 6, false: 0}[n <= 125] + map[bool]int{true: 8, false: 0}[n > 125 && n <= 65535] + map[bool]int{true: 14, false: 0}[n > 65535]
		if hdr != want {
			t.Fatalf("n=%d: header of %d bytes, want %d", n, hdr, want)
		}
	}
}

func TestMaskBytesMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		b := make([]byte, r.IntN(100))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		key := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		pos := r.IntN(10)
		want := slices.Clone(b)
		for i := range want {
			want[i] ^= key[(pos+i)%4]
		}
		maskBytes(key, pos, b)
		if !bytes.Equal(b, want) {
			t.Fatalf("pos %d len %d: got % x, want % x", pos, len(b), b, want)
		}
	}
}

func TestWSReaderServerFrames(t *testing.T) {
	// RFC 6455 §5.7: unmasked "Hello", then fragmented "Hel"+"lo", a ping
	// "Hello" in between, a binary frame, then close.
	stream, _ := hex.DecodeString("810548656c6c6f" + "010348656c" + "890548656c6c6f" + "80026c6f" + "8203010203" + "880203e8")
	var pings []string
	r := &wsReader{br: bufio.NewReader(bytes.NewReader(stream)), onPing: func(p []byte) error {
		pings = append(pings, string(p))
		return nil
	}}
	var got []byte
	tmp := make([]byte, 2)
	for {
		n, err := r.Read(tmp)
		got = append(got, tmp[:n]...)
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("read: %v", err)
			}
			break
		}
	}
	if string(got) != "HelloHello\x01\x02\x03" {
		t.Fatalf("stream %q", got)
	}
	if len(pings) != 1 || pings[0] != "Hello" {
		t.Fatalf("pings %q", pings)
	}
	for _, bad := range []string{"c100", "8300", "097e0100", "89fe"} { // RSV bit, opcode 3, long control, masked-long ping
		b, _ := hex.DecodeString(bad)
		r := &wsReader{br: bufio.NewReader(bytes.NewReader(b))}
		if _, err := r.Read(tmp); err == nil {
			t.Errorf("frame %s accepted", bad)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]target{
		"127.0.0.1:1883":          {"tcp", "127.0.0.1:1883", "/"},
		"tcp://localhost:1":       {"tcp", "localhost:1", "/"},
		"mqtt://[::1]:1883":       {"tcp", "[::1]:1883", "/"},
		"ws://127.0.0.1:8080/":    {"ws", "127.0.0.1:8080", "/"},
		"ws://127.0.0.1:8080/a?b": {"ws", "127.0.0.1:8080", "/a?b"},
		"ws://127.0.0.1:8080":     {"ws", "127.0.0.1:8080", "/"},
	} {
		got, err := parseTarget(in)
		if err != nil || got != want {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://x:1", "tcp://nohost", "wss://x:1/"} {
		if _, err := parseTarget(bad); err == nil {
			t.Errorf("parseTarget(%q) succeeded", bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var sink strings.Builder
	c, err := parseFlags([]string{"-shape", "10-10", "-qos", "1"}, &sink)
	if err != nil || c.pubs != 10 || c.subs != 10 || c.topics != 10 || c.qos != 1 {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"-qos", "2"}, {"-size", "8"}, {"-shape", "2-2"}, {"-topic", "a/#"}, {"-window", "0"}, {"extra"}} {
		if _, err := parseFlags(bad, &sink); err == nil {
			t.Errorf("flags %q accepted", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	run := func(label, shape string, subs, topics int, rate, dps, cpu, p50, p99 float64) Result {
		return Result{Label: label, Shape: shape, Transport: "tcp", Pubs: 1, Subs: subs, Topics: topics, Size: 64,
			Rate: rate, DeliveriesPerSec: dps, BrokerPID: 1, BrokerCPUPerDeliveryUs: cpu,
			MessagesPerSec: max(rate, 1), Latency: Latency{P50: p50, P99: p99}}
	}
	runs := []Result{
		// 1-1: medians herald 300k (of 200k, 300k, 400k) vs mosquitto 100k: 3.00×, meets 2.5×.
		run("herald", "1-1", 1, 1, 0, 200e3, 1, 0, 0),
		run("herald", "1-1", 1, 1, 0, 400e3, 1, 0, 0),
		run("herald", "1-1", 1, 1, 0, 300e3, 1, 0, 0),
		run("mosquitto", "1-1", 1, 1, 0, 100e3, 5, 0, 0),
		// 1-10: 5.00×, misses 6×; CPU 0.1× meets 0.2×.
		run("herald", "1-10", 10, 1, 0, 500e3, 0.5, 0, 0),
		run("mosquitto", "1-10", 10, 1, 0, 100e3, 5, 0, 0),
		// paced: p50 1.20× meets 1.3×, p99 3.00× misses 2×.
		run("herald", "1-1", 1, 1, 5000, 5000, 10, 120, 600),
		run("mosquitto", "1-1", 1, 1, 5000, 5000, 20, 100, 200),
	}
	md := summarize(runs, "herald", "mosquitto")
	for _, want := range []string{
		"| 1-1 | tcp | 0 | 64 B | plain | 300.0k | 100.0k | 3.00× | ≥ 2.5× ✅ | 1.00 | 5.00 | 0.20× | ≤ 0.4× ✅ |",
		"| 1-10 | tcp | 0 | 64 B | plain | 500.0k | 100.0k | 5.00× | ≥ 6.0× ❌ | 0.50 | 5.00 | 0.10× | ≤ 0.2× ✅ |",
		"| 1-1 | tcp | 0 | 64 B | plain | 5.0k | 120µs | 100µs | 1.20× ✅ | 600µs | 200µs | 3.00× ❌ |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	// A kind of run that was not measured gets no (empty) table.
	if md := summarize(runs[:6], "herald", "mosquitto"); strings.Contains(md, "Paced") || !strings.Contains(md, "Saturating") {
		t.Errorf("saturating runs only:\n%s", md)
	}
	if md := summarize(runs[6:], "herald", "mosquitto"); strings.Contains(md, "Saturating") || !strings.Contains(md, "Paced") {
		t.Errorf("paced runs only:\n%s", md)
	}
}

// chunkReader returns its chunks one Read at a time and records a Read past
// the last one (which would block on a socket).
type chunkReader struct {
	chunks  [][]byte
	overrun bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		c.overrun = true
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// TestWSReaderBufferedFrames checks that one Read returns the payloads of
// every frame already received (a broker sending a frame per message), a
// ping between them answered, and that it does not wait for a frame whose
// header or control payload has not all arrived.
func TestWSReaderBufferedFrames(t *testing.T) {
	var first []byte
	var want []byte
	for i := range 5 {
		p := bytes.Repeat([]byte{byte('a' + i)}, 10+i*100) // 7-bit and 16-bit lengths
		want = append(want, p...)
		first = append(first, 0x82)
		if len(p) < 126 {
			first = append(first, byte(len(p)))
		} else {
			first = append(first, 126, byte(len(p)>>8), byte(len(p)))
		}
		first = append(first, p...)
		if i == 2 {
			first = append(first, 0x89, 2, 'h', 'i')
		}
	}
	// What has arrived of the frame after them: a part of a data frame's
	// header, or a ping's header with part of its payload.
	for _, next := range [][]byte{{0x82}, {0x82, 126, 0x01}, {0x89, 4, 'p', 'i'}} {
		cr := &chunkReader{chunks: [][]byte{append(slices.Clone(first), next...)}}
		var pings int
		r := &wsReader{br: bufio.NewReader(cr), onPing: func(p []byte) error {
			if string(p) != "hi" {
				t.Errorf("ping %q", p)
			}
			pings++
			return nil
		}}
		buf := make([]byte, 64<<10)
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("next % x: %v", next, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("next % x: read %d bytes, want the %d of all five frames", next, n, len(want))
		}
		if pings != 1 {
			t.Fatalf("next % x: %d pings answered", next, pings)
		}
		if cr.overrun {
			t.Fatalf("next % x: Read waited for the stream with bytes in hand", next)
		}
	}
}
