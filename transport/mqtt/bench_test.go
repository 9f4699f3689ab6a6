package mqtt_test

import (
	"strconv"
	"testing"

	"github.com/heraldmq/herald/transport/mqtt"
)

func BenchmarkDecodePublish(b *testing.B) {
	for _, tc := range []struct {
		name, topic string
		size        int
	}{
		{"64B", "sensors/room1/temperature", 64},
		{"1024B", "sensors/room1/temperature", 1024},
		{"keyed/64B", "oTbOZCTnRBDyiXP2oO0vm1A4ZbG6e0wp/sensors/room1/temperature/", 64},
	} {
		wire, _ := mqtt.AppendPublish(nil, tc.topic, make([]byte, tc.size), 1, 7, false, false)
		b.Run(tc.name, func(b *testing.B) {
			var p mqtt.Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if _, err := mqtt.Decode(wire, &p, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// repeatReader returns the same bytes forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func BenchmarkReaderPublish(b *testing.B) {
	for _, size := range []int{64, 1024, 16384} {
		wire, _ := mqtt.AppendPublish(nil, "sensors/room1/temperature", make([]byte, size), 0, 0, false, false)
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			r := mqtt.NewReader(&repeatReader{data: wire}, 0)
			var p mqtt.Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if err := r.ReadPacket(&p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	for _, size := range []int{64, 1024} {
		payload := make([]byte, size)
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				var err error
				buf, err = mqtt.AppendPublish(buf[:0], "sensors/room1/temperature", payload, 1, 7, false, false)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
