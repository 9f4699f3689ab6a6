package transport_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// TestBurstOfMixedSizes sends a burst of publishes, small and large (one
// larger than the pooled read buffer), in one write, and checks that paho
// subscribers over TCP and WebSocket receive every one, whole and in order,
// at QoS 0 and 1, whatever way the writers batch them.
func TestBurstOfMixedSizes(t *testing.T) {
	b := plainBroker(t, transport.Options{})
	sizes := []int{10, 511, 512, 513, 3000, 100, 70000, 1024, 0, 600}
	const rounds = 6
	n := len(sizes) * rounds
	payload := func(i int) []byte {
		p := bytes.Repeat([]byte{byte(i)}, sizes[i%len(sizes)])
		if len(p) > 0 {
			p[0] = byte(i >> 8)
		}
		return p
	}
	type sub struct {
		name string
		ch   chan pahoMsg
	}
	var subs []sub
	for _, url := range []string{"tcp://" + b.addr, "ws://" + b.addr + "/mqtt"} {
		for _, qos := range []byte{0, 1} {
			c := pahoConnect(t, url, fmt.Sprintf("burst-%s-%d", url[:2], qos), true)
			ch := make(chan pahoMsg, n)
			tok := c.Subscribe("burst/t", qos, func(_ paho.Client, m paho.Message) {
				ch <- pahoMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
			})
			require.True(t, tok.WaitTimeout(10*time.Second))
			require.NoError(t, tok.Error())
			subs = append(subs, sub{fmt.Sprintf("%s QoS %d", url[:2], qos), ch})
		}
	}
	pub := dialRaw(t, b.addr)
	pub.connect("burst-pub", 0)
	var wire []byte
	for i := range n {
		qos := mqtt.QoS(i % 2)
		var err error
		wire, err = mqtt.AppendPublish(wire, "burst/t", payload(i), qos, uint16(i+1), false, false)
		require.NoError(t, err)
	}
	_, err := pub.nc.Write(wire)
	require.NoError(t, err)
	for _, s := range subs {
		for i := range n {
			m := recv(t, s.ch)
			require.Equal(t, "burst/t", m.topic, "%s message %d", s.name, i)
			require.True(t, bytes.Equal(payload(i), []byte(m.payload)), "%s message %d: %d bytes, want %d", s.name, i, len(m.payload), len(payload(i)))
		}
	}
}

// TestLongBurstToSlowReaders has three subscribers read a long burst while
// the publisher outpaces them, so that their queues grow past what a
// session keeps, drain, and grow again (arrays lent between sessions): each
// must receive every message once, in order.
func TestLongBurstToSlowReaders(t *testing.T) {
	b := plainBroker(t, transport.Options{QueueSize: 600, SlowTimeout: time.Minute})
	const n = 4000
	var subs []*rawClient
	for i := range 3 {
		s := dialRaw(t, b.addr)
		s.connect(fmt.Sprintf("slow-%d", i), 0)
		s.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "long/t"}}})
		s.expect(mqtt.Suback)
		subs = append(subs, s)
	}
	pub := dialRaw(t, b.addr)
	pub.connect("long-pub", 0)
	errc := make(chan error, 1)
	go func() {
		var wire []byte
		for i := range n {
			wire, _ = mqtt.AppendPublish(wire, "long/t", fmt.Appendf(bytes.Repeat([]byte{'.'}, 2000), "%d", i), 0, 0, false, false)
			if len(wire) > 256<<10 || i == n-1 {
				if _, err := pub.nc.Write(wire); err != nil {
					errc <- err
					return
				}
				wire = wire[:0]
			}
		}
		errc <- nil
	}()
	done := make(chan error, len(subs))
	for _, s := range subs {
		go func() {
			for i := range n {
				p, err := s.read()
				if err != nil {
					done <- fmt.Errorf("message %d: %w", i, err)
					return
				}
				if want := fmt.Appendf(bytes.Repeat([]byte{'.'}, 2000), "%d", i); p.Type != mqtt.Publish || !bytes.Equal(p.Payload, want) {
					done <- fmt.Errorf("message %d: got type %v, %.20q", i, p.Type, p.Payload)
					return
				}
			}
			done <- nil
		}()
	}
	for range subs {
		require.NoError(t, recv(t, done))
	}
	require.NoError(t, recv(t, errc))
}
