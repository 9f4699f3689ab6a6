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
