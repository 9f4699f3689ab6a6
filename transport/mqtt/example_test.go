package mqtt_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/heraldmq/herald/transport/mqtt"
)

// Encode a PUBLISH into a reusable buffer and read it back with a Reader.
func ExampleReader() {
	buf, _ := mqtt.AppendPublish(nil, "a/b/c", []byte("hello"), mqtt.AtLeastOnce, 1, false, false)
	buf = mqtt.AppendAck(buf, mqtt.Puback, 1)

	r := mqtt.NewReader(bytes.NewReader(buf), 1<<20)
	var p mqtt.Packet
	for r.ReadPacket(&p) == nil {
		switch p.Type {
		case mqtt.Publish:
			fmt.Printf("%v %s %q qos=%d id=%d\n", p.Type, p.Topic, p.Payload, p.QoS, p.ID)
		default:
			fmt.Printf("%v id=%d\n", p.Type, p.ID)
		}
	}
	// Output:
	// PUBLISH a/b/c "hello" qos=1 id=1
	// PUBACK id=1
}

// A CONNECT with an unsupported protocol level asks for CONNACK 0x01.
func ExampleError() {
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0}
	var p mqtt.Packet
	_, err := mqtt.Decode(connect, &p, 0)
	var e *mqtt.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, mqtt.ErrProtocolVersion), e.Code == mqtt.UnacceptableProtocolVersion)
	}
	// Output: true true
}
