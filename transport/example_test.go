package transport_test

import (
	"fmt"
	"net"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// Serve an engine over MQTT and talk to it with a bare MQTT client: an
// Emitter topic (KEY/channel/) is delivered on the bare channel.
func Example() {
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	srv, _ := transport.New(e, transport.Options{})
	defer srv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)

	key, _ := e.License().Mint(security.KeySpec{Channel: "news/#/", Permissions: security.ParsePermissions("rw")})

	nc, _ := net.Dial("tcp", ln.Addr().String())
	defer nc.Close()
	var out []byte
	for _, p := range []mqtt.Packet{
		{Type: mqtt.Connect, ClientID: "example", CleanSession: true},
		{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: key + "/news/"}}},
		{Type: mqtt.Publish, Topic: []byte(key + "/news/today/"), Payload: []byte("hello")},
	} {
		out, _ = p.Append(out)
	}
	nc.Write(out)

	r := mqtt.NewReader(nc, 0)
	var p mqtt.Packet
	for r.ReadPacket(&p) == nil {
		fmt.Println(p.Type)
		if p.Type == mqtt.Publish {
			fmt.Printf("%s %s\n", p.Topic, p.Payload)
			break
		}
	}
	// Output:
	// CONNACK
	// SUBACK
	// PUBLISH
	// news/today/ hello
}
