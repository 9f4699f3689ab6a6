package transport_test

import (
	"fmt"
	"net"
	"strings"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/topic"
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

// roomAuth lets users in with the password "secret", each to publish and
// subscribe under rooms/<username>/ only.
type roomAuth struct{}

func (roomAuth) Connect(c transport.ClientInfo, password []byte) bool {
	return c.Username != "" && string(password) == "secret"
}

func (roomAuth) Publish(c transport.ClientInfo, topic string) bool {
	return strings.HasPrefix(topic, "rooms/"+c.Username+"/")
}

func (roomAuth) Subscribe(c transport.ClientInfo, filter string) bool {
	return strings.HasPrefix(filter, "rooms/"+c.Username+"/")
}

// With PlainTopics, MQTT clients use ordinary topics, without channel keys,
// and an Authorizer decides who may connect and which topics each may
// publish and subscribe to: a refused subscription gets SUBACK 0x80, a
// refused publish is dropped (MQTT 3.1.1 has no negative acknowledgement).
func ExampleOptions_plainTopics() {
	e, _ := engine.New(engine.Options{Matching: topic.MQTT})
	defer e.Close()
	srv, _ := transport.New(e, transport.Options{PlainTopics: true, Authorizer: roomAuth{}})
	defer srv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)

	// session sends packets on a new connection and prints what comes back,
	// up to the first PUBLISH or the end of the connection.
	session := func(packets ...mqtt.Packet) {
		nc, _ := net.Dial("tcp", ln.Addr().String())
		defer nc.Close()
		var out []byte
		for _, p := range packets {
			out, _ = p.Append(out)
		}
		nc.Write(out)
		r := mqtt.NewReader(nc, 0)
		var p mqtt.Packet
		for r.ReadPacket(&p) == nil {
			switch p.Type {
			case mqtt.Connack:
				fmt.Println(p.Type, p.ReturnCode)
			case mqtt.Suback:
				fmt.Printf("%v %x\n", p.Type, p.ReturnCodes)
			case mqtt.Publish:
				fmt.Printf("%v %s %s\n", p.Type, p.Topic, p.Payload)
				return
			}
		}
	}

	session(mqtt.Packet{Type: mqtt.Connect, ClientID: "mallory", CleanSession: true,
		HasUsername: true, Username: "mallory", HasPassword: true, Password: []byte("guess")})
	session(
		mqtt.Packet{Type: mqtt.Connect, ClientID: "alice", CleanSession: true,
			HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("secret")},
		mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{
			{Filter: "rooms/alice/#"}, {Filter: "rooms/bob/#"}}},
		mqtt.Packet{Type: mqtt.Publish, Topic: []byte("rooms/bob/wall"), Payload: []byte("refused")},
		mqtt.Packet{Type: mqtt.Publish, Topic: []byte("rooms/alice/wall"), Payload: []byte("hello")},
	)
	// Output:
	// CONNACK 5
	// CONNACK 0
	// SUBACK 0080
	// PUBLISH rooms/alice/wall hello
}
