package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/transport/mqtt"
)

// fakeBroker answers one connection with Herald's MQTT codec, an independent
// implementation of the packets this client writes and reads.
type fakeBroker struct {
	t  *testing.T
	nc net.Conn
	r  *mqtt.Reader
}

func (b *fakeBroker) read(want mqtt.Type) *mqtt.Packet {
	b.t.Helper()
	var p mqtt.Packet
	if err := b.r.ReadPacket(&p); err != nil {
		b.t.Errorf("broker: reading %v: %v", want, err)
		return &p
	}
	if p.Type != want {
		b.t.Errorf("broker: got %v, want %v", p.Type, want)
	}
	return &p
}

func (b *fakeBroker) write(buf []byte) {
	if _, err := b.nc.Write(buf); err != nil {
		b.t.Errorf("broker: write: %v", err)
	}
}

type recorder struct {
	topics, payloads []string
	ids              []uint16
	acks             []uint16
	done             chan struct{} // closed after two publishes and a PUBACK
}

func (r *recorder) publish(_ *client, topic, payload []byte, _ byte, id uint16, _ int64) {
	r.topics = append(r.topics, string(topic))
	r.payloads = append(r.payloads, string(payload))
	r.ids = append(r.ids, id)
}
func (r *recorder) puback(id uint16) { r.acks = append(r.acks, id) }
func (r *recorder) batchEnd() {
	if len(r.ids) == 2 && len(r.acks) == 1 {
		close(r.done)
	}
}

func TestClientAgainstHeraldCodec(t *testing.T) {
	cs, ss := net.Pipe()
	defer cs.Close()
	b := &fakeBroker{t: t, nc: ss, r: mqtt.NewReader(ss, 1<<20)}
	brokerDone := make(chan struct{})
	go func() {
		defer close(brokerDone)
		defer ss.Close()
		p := b.read(mqtt.Connect)
		if p.ProtocolName != "MQTT" || p.ProtocolLevel != 4 || !p.CleanSession || p.ClientID != "c1" || p.KeepAlive != 30 {
			t.Errorf("broker: CONNECT %+v", p)
		}
		b.write(mqtt.AppendConnack(nil, false, mqtt.Accepted))
		p = b.read(mqtt.Subscribe)
		if len(p.Subscriptions) != 1 || p.Subscriptions[0] != (mqtt.Subscription{Filter: "KEY/a/b/", QoS: 1}) {
			t.Errorf("broker: SUBSCRIBE %+v", p.Subscriptions)
		}
		b.write(mqtt.AppendSuback(nil, p.ID, []byte{1}))
		// A QoS 1 and a QoS 0 delivery in one write, and a PUBACK for the client.
		out, _ := mqtt.AppendPublish(nil, "a/b/", []byte("one"), 1, 7, false, false)
		out, _ = mqtt.AppendPublish(out, "a/b/", []byte("two"), 0, 0, false, false)
		out = mqtt.AppendAck(out, mqtt.Puback, 9)
		b.write(out)
		if p := b.read(mqtt.Puback); p.ID != 7 {
			t.Errorf("broker: PUBACK for %d, want 7", p.ID)
		}
		// The client's PUBLISH, built from its template.
		p = b.read(mqtt.Publish)
		if string(p.Topic) != "KEY/a/b/" || p.QoS != 1 || p.ID != 513 || len(p.Payload) != 40 || string(p.Payload[:4]) != "ping" {
			t.Errorf("broker: PUBLISH %q qos %d id %d payload %q", p.Topic, p.QoS, p.ID, p.Payload)
		}
		b.read(mqtt.Disconnect)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialConn(ctx, cs, target{scheme: "tcp"}, "c1", 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.subscribe("KEY/a/b/", 1); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{done: make(chan struct{})}
	loopDone := make(chan error, 1)
	go func() { loopDone <- c.readLoop(rec) }()
	select {
	case <-rec.done:
	case <-ctx.Done():
		t.Fatal("deliveries not received")
	}

	// Acknowledge the QoS 1 delivery, then publish from a template.
	payload := make([]byte, 40)
	copy(payload, "ping")
	c.wmu.Lock()
	c.appendPuback(rec.ids[0])
	c.out = append(c.out, publishTemplate("KEY/a/b/", 1, len(payload))...)
	c.out = append(c.out, 2, 1)
	c.out = append(c.out, payload...)
	err = c.flush()
	c.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	c.close()
	<-brokerDone
	if err := <-loopDone; err == nil {
		t.Error("readLoop ended without error after close")
	}
	if strings.Join(rec.topics, ",") != "a/b/,a/b/" || strings.Join(rec.payloads, ",") != "one,two" ||
		rec.ids[0] != 7 || rec.ids[1] != 0 || len(rec.acks) != 1 || rec.acks[0] != 9 {
		t.Errorf("client got topics %q payloads %q ids %v acks %v", rec.topics, rec.payloads, rec.ids, rec.acks)
	}
}

func TestClientRejectsBadConnack(t *testing.T) {
	for name, resp := range map[string][]byte{
		"refused":  mqtt.AppendConnack(nil, false, mqtt.NotAuthorized),
		"not ack":  mqtt.AppendAck(nil, mqtt.Puback, 1),
		"too long": {0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
	} {
		t.Run(name, func(t *testing.T) {
			cs, ss := net.Pipe()
			defer cs.Close()
			go func() {
				defer ss.Close()
				r := mqtt.NewReader(ss, 1<<20)
				var p mqtt.Packet
				_ = r.ReadPacket(&p)
				_, _ = ss.Write(resp)
				_, _ = io.Copy(io.Discard, ss)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := dialConn(ctx, cs, target{scheme: "tcp"}, "x", 0); err == nil {
				t.Fatal("dial succeeded")
			}
		})
	}
}

// startMosquitto runs mosquitto on free ports (TCP and WebSocket) and returns
// them once it logs that it is running.
func startMosquitto(t *testing.T) (tcpURL, wsURL string, pid int) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/mosquitto"); err != nil {
			t.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	ports := make([]int, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nlistener %d 127.0.0.1\nprotocol websockets\nlog_dest stderr\n", ports[0], ports[1])
	path := t.TempDir() + "/m.conf"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), " running") {
				close(running)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("mosquitto did not report running within 10s")
	}
	return "tcp://127.0.0.1:" + strconv.Itoa(ports[0]), "ws://127.0.0.1:" + strconv.Itoa(ports[1]) + "/mqtt", cmd.Process.Pid
}

func TestLoadAgainstMosquitto(t *testing.T) {
	tcpURL, wsURL, pid := startMosquitto(t)
	for _, tc := range []struct {
		url  string
		args []string
	}{
		{tcpURL, []string{"-shape", "1-10", "-qos", "1"}},
		{wsURL, []string{"-shape", "10-10", "-size", "1024"}},
		{wsURL, []string{"-shape", "1-1", "-rate", "2000", "-qos", "1"}},
		// Keyed topics against a broker that does not strip keys: the
		// delivery carries the key, which the subscriber must flag.
	} {
		t.Run(strings.Join(tc.args, " ")+" "+tc.url[:2], func(t *testing.T) {
			args := append([]string{"-url", tc.url, "-duration", "300ms", "-warmup", "100ms", "-broker-pid", strconv.Itoa(pid)}, tc.args...)
			cfg, err := parseFlags(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			res, err := runLoad(context.Background(), cfg)
			if err != nil {
				t.Fatalf("%v %v", err, res)
			}
			if res.Messages == 0 || res.Deliveries == 0 || res.Received != res.Expected || res.Lost != 0 || res.Duplicates != 0 || res.Bad != 0 {
				t.Fatalf("messages %d deliveries %d, received %d of %d, lost %d dup %d bad %d",
					res.Messages, res.Deliveries, res.Received, res.Expected, res.Lost, res.Duplicates, res.Bad)
			}
			t.Logf("%.0f deliveries/s, stalls %d, latency p50 %.0fµs", res.DeliveriesPerSec, res.Stalls, res.Latency.P50)
			if res.Latency.Samples == 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
				t.Fatalf("latency %+v", res.Latency)
			}
			if cfg.rate > 0 && (res.MessagesPerSec < cfg.rate*0.8 || res.MessagesPerSec > cfg.rate*1.2) {
				t.Fatalf("paced at %v msg/s, measured %v", cfg.rate, res.MessagesPerSec)
			}
		})
	}
	t.Run("keyed topics keep the key on a plain broker", func(t *testing.T) {
		cfg, err := parseFlags([]string{"-url", tcpURL, "-key", "K", "-duration", "200ms", "-warmup", "0s", "-drain", "100ms"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		res, err := runLoad(context.Background(), cfg)
		if err == nil || res == nil || res.Bad == 0 || !strings.Contains(strings.Join(res.Errors, "\n"), `message on "K/bench/0/"`) {
			t.Fatalf("err %v, result %+v", err, res)
		}
	})
}

// TestPayloadLayout checks the 16-byte header the subscribers decode.
func TestPayloadLayout(t *testing.T) {
	cs, ss := net.Pipe()
	defer cs.Close()
	defer ss.Close()
	l := &load{cfg: config{size: 32, batch: 64, window: 10, rate: 0}, qos: 0}
	c := &client{nc: cs, r: cs, out: make([]byte, 0, 1024)}
	p := &publisher{l: l, idx: 3, c: c, tmpl: publishTemplate("t", 0, 32), fanout: 0,
		wake: make(chan struct{}, 1), writeDone: make(chan struct{})}
	l.pubs = []*publisher{p}
	got := make(chan []byte, 1)
	go func() {
		r := mqtt.NewReader(ss, 1<<20)
		var pk mqtt.Packet
		var all []byte
		for range 10 {
			if err := r.ReadPacket(&pk); err != nil {
				break
			}
			all = append(all, pk.Payload...)
		}
		got <- all
		_, _ = io.Copy(io.Discard, ss)
	}()
	start := mono()
	// No fanout and QoS 0: the window never fills.
	if err := p.run(start, start+int64(20*time.Millisecond)); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatal(err)
	}
	all := <-got
	if len(all) < 32*2 {
		t.Fatalf("%d payload bytes", len(all))
	}
	for i := 0; i+32 <= len(all); i += 32 {
		pl := all[i : i+32]
		ts := int64(binary.LittleEndian.Uint64(pl))
		if ts < start || ts > mono() || binary.LittleEndian.Uint32(pl[8:]) != 3 ||
			binary.LittleEndian.Uint32(pl[12:]) != uint32(i/32) || !bytes.Equal(pl[16:], make([]byte, 16)) {
			t.Fatalf("payload %d: % x", i/32, pl)
		}
	}
}
