package mqtt_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/heraldmq/herald/transport/mqtt"
)

// FuzzDecode checks that decoding never panics, that a decoded packet encodes
// back to exactly the bytes it came from, and that the streaming Reader agrees
// with Decode.
func FuzzDecode(f *testing.F) {
	for _, tc := range validCases {
		f.Add(h(tc.wire))
	}
	for _, tc := range invalidCases {
		f.Add(h(tc.wire))
	}
	wire, _ := stream()
	f.Add(wire)
	const maxSize = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		var p mqtt.Packet
		n, err := mqtt.Decode(data, &p, maxSize)

		// The Reader, fed one byte at a time, reaches the same verdict.
		var q mqtt.Packet
		r := mqtt.NewReader(iotest.OneByteReader(bytes.NewReader(data)), maxSize)
		rerr := r.ReadPacket(&q)
		switch {
		case errors.Is(err, mqtt.ErrShortBuffer):
			if len(data) == 0 {
				if rerr != io.EOF {
					t.Fatalf("reader: %v, want EOF", rerr)
				}
			} else if rerr != io.ErrUnexpectedEOF {
				t.Fatalf("reader: %v, want unexpected EOF", rerr)
			}
		case err != nil:
			var e *mqtt.Error
			if !errors.As(err, &e) || e.Err == nil {
				t.Fatalf("untyped error %v", err)
			}
			if rerr == nil || rerr.Error() != err.Error() {
				t.Fatalf("reader: %v, decode: %v", rerr, err)
			}
			return
		default:
			if rerr != nil {
				t.Fatalf("reader: %v, decode ok", rerr)
			}
		}
		if err != nil {
			return
		}
		out, err := p.Append(nil)
		if err != nil {
			t.Fatalf("re-encode %v: %v", p.Type, err)
		}
		if !bytes.Equal(out, data[:n]) {
			t.Fatalf("re-encoded %x, decoded from %x", out, data[:n])
		}
		var p2 mqtt.Packet
		if _, err := mqtt.Decode(out, &p2, maxSize); err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		q2, _ := q.Append(nil)
		if !bytes.Equal(q2, out) {
			t.Fatalf("reader packet encodes to %x, want %x", q2, out)
		}
	})
}

// ackEvent is what a reader saw: a packet's type and id, or the error that
// ended the stream.
type ackEvent struct {
	t   mqtt.Type
	id  uint16
	err string
}

// readEvents reads data to its end, the acknowledgements that follow one
// of type t through ReadAcks (at most limit at a time) when useAcks is set,
// everything through ReadPacket otherwise.
func readEvents(data []byte, useAcks bool, limit int) []ackEvent {
	var evs []ackEvent
	r := mqtt.NewReader(iotest.HalfReader(bytes.NewReader(data)), 1<<16)
	var p mqtt.Packet
	var ids []uint16
	for {
		if err := r.ReadPacket(&p); err != nil {
			var e *mqtt.Error
			if errors.As(err, &e) {
				return append(evs, ackEvent{t: e.Type, err: e.Error()})
			}
			return append(evs, ackEvent{err: err.Error()})
		}
		evs = append(evs, ackEvent{t: p.Type, id: p.ID})
		if useAcks {
			t := p.Type
			ids = r.ReadAcks(t, ids[:0], limit)
			if len(ids) > limit {
				panic("ReadAcks took more than limit")
			}
			for _, id := range ids {
				evs = append(evs, ackEvent{t: t, id: id})
			}
		}
	}
}

// FuzzReadAcks checks that taking runs of acknowledgements with ReadAcks
// yields the same packets, in the same order, with the same final error, as
// reading every packet with ReadPacket.
func FuzzReadAcks(f *testing.F) {
	acks := func(t mqtt.Type, ids ...uint16) []byte {
		var b []byte
		for _, id := range ids {
			b = mqtt.AppendAck(b, t, id)
		}
		return b
	}
	run := acks(mqtt.Puback, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	f.Add(run, uint8(3))
	f.Add(append(run, 0x40, 0x02, 0x00), uint8(255))                    // partial at the end
	f.Add(append(append(run, 0x40, 0x02, 0, 0), run...), uint8(255))    // zero id: malformed
	f.Add(append(append(run, 0x40, 0x03, 0, 1, 0), run...), uint8(255)) // bad length
	f.Add(append(acks(mqtt.Pubrec, 5, 6, 7), acks(mqtt.Pubcomp, 5, 6)...), uint8(2))
	f.Add(append(acks(mqtt.Pubrel, 5, 6, 7), 0x42, 0x02, 0, 1), uint8(2)) // PUBREL: not taken
	wire, _ := stream()
	f.Add(append(run, wire...), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		want := readEvents(data, false, 0)
		got := readEvents(data, true, int(limit))
		if len(got) != len(want) {
			t.Fatalf("%d events with ReadAcks, %d without:\n%v\n%v", len(got), len(want), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("event %d: %+v with ReadAcks, %+v without", i, got[i], want[i])
			}
		}
	})
}
