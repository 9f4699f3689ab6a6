package mqtt_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/transport/mqtt"
)

// h builds bytes from a compact description: hex digits (spaces ignored) and
// 'quoted' ASCII runs.
func h(s string) []byte {
	var out []byte
	for len(s) > 0 {
		switch s[0] {
		case ' ':
			s = s[1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			out = append(out, s[1:1+end]...)
			s = s[end+2:]
		default:
			b, err := hex.DecodeString(s[:2])
			if err != nil {
				panic(s)
			}
			out = append(out, b...)
			s = s[2:]
		}
	}
	return out
}

type validCase struct {
	name string
	wire string
	want mqtt.Packet
}

// validCases are packets written out by hand from the byte layouts in the
// MQTT 3.1.1 specification, chapters 2 and 3.
var validCases = []validCase{
	{"connect minimal", "10 0C 0004'MQTT' 04 02 003C 0000",
		mqtt.Packet{Type: mqtt.Connect, ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, KeepAlive: 60}},
	{"connect full", "10 1D 0004'MQTT' 04 EE 000A 0002'c1' 0001'w' 0003'bye' 0001'u' 0002 0001",
		mqtt.Packet{Type: mqtt.Connect, ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, KeepAlive: 10,
			ClientID: "c1", Will: true, WillQoS: 1, WillRetain: true, WillTopic: "w", WillPayload: []byte("bye"),
			HasUsername: true, Username: "u", HasPassword: true, Password: []byte{0, 1}}},
	{"connect mqtt 3.1", "10 12 0006'MQIsdp' 03 00 0000 0004'abcd'",
		mqtt.Packet{Type: mqtt.Connect, ProtocolName: "MQIsdp", ProtocolLevel: 3, ClientID: "abcd"}},
	{"connect will qos2 empty payload", "10 14 0004'MQTT' 04 14 0000 0001'x' 0003'a/b' 0000",
		mqtt.Packet{Type: mqtt.Connect, ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: "x", Will: true, WillQoS: 2,
			WillTopic: "a/b"}},
	{"connect empty username", "10 0E 0004'MQTT' 04 82 0000 0000 0000",
		mqtt.Packet{Type: mqtt.Connect, ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, HasUsername: true}},
	{"connack accepted", "20 02 00 00", mqtt.Packet{Type: mqtt.Connack}},
	{"connack session present", "20 02 01 00", mqtt.Packet{Type: mqtt.Connack, SessionPresent: true}},
	{"connack not authorized", "20 02 00 05", mqtt.Packet{Type: mqtt.Connack, ReturnCode: mqtt.NotAuthorized}},
	{"publish qos0", "30 07 0003'a/b' 'hi'",
		mqtt.Packet{Type: mqtt.Publish, Topic: []byte("a/b"), Payload: []byte("hi")}},
	{"publish qos1 dup retain", "3B 06 0001't' 000A 'x'",
		mqtt.Packet{Type: mqtt.Publish, Dup: true, QoS: 1, Retain: true, ID: 10, Topic: []byte("t"), Payload: []byte("x")}},
	{"publish qos2 empty payload", "34 05 0001't' FFFF",
		mqtt.Packet{Type: mqtt.Publish, QoS: 2, ID: 0xFFFF, Topic: []byte("t")}},
	{"publish utf8 topic", "30 06 0004 E282AC'/'",
		mqtt.Packet{Type: mqtt.Publish, Topic: []byte("€/")}},
	{"publish bom kept", "30 05 0003 EFBBBF",
		mqtt.Packet{Type: mqtt.Publish, Topic: []byte("\uFEFF")}},
	{"puback", "40 02 0001", mqtt.Packet{Type: mqtt.Puback, ID: 1}},
	{"pubrec", "50 02 0102", mqtt.Packet{Type: mqtt.Pubrec, ID: 0x0102}},
	{"pubrel", "62 02 0003", mqtt.Packet{Type: mqtt.Pubrel, ID: 3}},
	{"pubcomp", "70 02 0004", mqtt.Packet{Type: mqtt.Pubcomp, ID: 4}},
	{"subscribe two filters", "82 0F 000A 0003'a/b' 01 0004'c/#/' 02",
		mqtt.Packet{Type: mqtt.Subscribe, ID: 10, Subscriptions: []mqtt.Subscription{{Filter: "a/b", QoS: 1}, {Filter: "c/#/", QoS: 2}}}},
	{"suback", "90 05 000A 00 01 80",
		mqtt.Packet{Type: mqtt.Suback, ID: 10, ReturnCodes: []byte{0, 1, 0x80}}},
	{"unsubscribe", "A2 0B 0007 0002'a/' 0003'b/+'",
		mqtt.Packet{Type: mqtt.Unsubscribe, ID: 7, Filters: []string{"a/", "b/+"}}},
	{"unsuback", "B0 02 0007", mqtt.Packet{Type: mqtt.Unsuback, ID: 7}},
	{"pingreq", "C0 00", mqtt.Packet{Type: mqtt.Pingreq}},
	{"pingresp", "D0 00", mqtt.Packet{Type: mqtt.Pingresp}},
	{"disconnect", "E0 00", mqtt.Packet{Type: mqtt.Disconnect}},
	{"publish two-byte length", "30 8101 007D" + strings.Repeat("61", 125) + "'xx'",
		mqtt.Packet{Type: mqtt.Publish, Topic: bytes.Repeat([]byte("a"), 125), Payload: []byte("xx")}},
}

type invalidCase struct {
	name string
	wire string
	err  error
	code mqtt.ConnackCode
}

var invalidCases = []invalidCase{
	{"reserved type 0", "00 00", mqtt.ErrMalformed, 0},
	{"reserved type 15", "F0 00", mqtt.ErrMalformed, 0},
	{"pubrel flags 0", "60 02 0001", mqtt.ErrMalformed, 0},
	{"subscribe flags 0", "80 06 0001 0001'a' 00", mqtt.ErrMalformed, 0},
	{"unsubscribe flags 0", "A0 05 0001 0001'a'", mqtt.ErrMalformed, 0},
	{"puback flags 1", "41 02 0001", mqtt.ErrMalformed, 0},
	{"pingreq flags", "C8 00", mqtt.ErrMalformed, 0},
	{"remaining length 5 bytes", "30 FFFFFFFF01", mqtt.ErrMalformed, 0},
	{"remaining length non-minimal", "C0 8000", mqtt.ErrMalformed, 0},
	{"pingreq with body", "C0 01 00", mqtt.ErrMalformed, 0},
	{"disconnect with body", "E0 01 00", mqtt.ErrMalformed, 0},
	{"puback too long", "40 03 0001 00", mqtt.ErrMalformed, 0},
	{"puback too short", "40 01 01", mqtt.ErrMalformed, 0},
	{"puback zero id", "40 02 0000", mqtt.ErrMalformed, 0},
	{"unsuback zero id", "B0 02 0000", mqtt.ErrMalformed, 0},
	{"publish qos3", "36 05 0001't' 0001", mqtt.ErrMalformed, 0},
	{"publish dup qos0", "38 05 0001't' 'hi'", mqtt.ErrMalformed, 0},
	{"publish qos1 zero id", "32 05 0001't' 0000", mqtt.ErrMalformed, 0},
	{"publish qos1 no id", "32 04 0001't' 00", mqtt.ErrMalformed, 0},
	{"publish empty topic", "30 04 0000 'hi'", mqtt.ErrMalformed, 0},
	{"publish topic past end", "30 03 0005 'a'", mqtt.ErrMalformed, 0},
	{"publish truncated length prefix", "30 01 00", mqtt.ErrMalformed, 0},
	{"publish invalid utf8", "30 04 0002 C328", mqtt.ErrMalformed, 0},
	{"publish overlong utf8", "30 04 0002 C0AF", mqtt.ErrMalformed, 0},
	{"publish surrogate", "30 05 0003 EDA080", mqtt.ErrMalformed, 0},
	{"publish nul", "30 03 0001 00", mqtt.ErrMalformed, 0},
	{"publish nul after utf8", "30 05 0003 C3A9 00", mqtt.ErrMalformed, 0},
	{"connect bad name", "10 0C 0004'MQTX' 04 02 003C 0000", mqtt.ErrProtocolName, 0},
	{"connect level 5", "10 0C 0004'MQTT' 05 02 003C 0000", mqtt.ErrProtocolVersion, mqtt.UnacceptableProtocolVersion},
	{"connect level 3 with MQTT", "10 0C 0004'MQTT' 03 02 003C 0000", mqtt.ErrProtocolVersion, mqtt.UnacceptableProtocolVersion},
	{"connect MQIsdp level 4", "10 0E 0006'MQIsdp' 04 02 003C 0000", mqtt.ErrProtocolVersion, mqtt.UnacceptableProtocolVersion},
	{"connect reserved flag", "10 0C 0004'MQTT' 04 03 003C 0000", mqtt.ErrMalformed, 0},
	{"connect will qos without will", "10 0C 0004'MQTT' 04 0A 003C 0000", mqtt.ErrMalformed, 0},
	{"connect will retain without will", "10 0C 0004'MQTT' 04 22 003C 0000", mqtt.ErrMalformed, 0},
	{"connect will qos 3", "10 11 0004'MQTT' 04 1E 003C 0000 0001'w' 0000", mqtt.ErrMalformed, 0},
	{"connect password without username", "10 0E 0004'MQTT' 04 42 003C 0000 0000", mqtt.ErrMalformed, 0},
	{"connect trailing bytes", "10 0D 0004'MQTT' 04 02 003C 0000 00", mqtt.ErrMalformed, 0},
	{"connect truncated", "10 08 0004'MQTT' 04 02", mqtt.ErrMalformed, 0},
	{"connect missing will", "10 0C 0004'MQTT' 04 06 003C 0000", mqtt.ErrMalformed, 0},
	{"connect empty will topic", "10 10 0004'MQTT' 04 06 003C 0000 0000 0000", mqtt.ErrMalformed, 0},
	{"connect bad client id", "10 0D 0004'MQTT' 04 02 003C 0001 FF", mqtt.ErrMalformed, 0},
	{"connect empty id persistent", "10 0C 0004'MQTT' 04 00 003C 0000", mqtt.ErrIdentifierRejected, mqtt.IdentifierRejected},
	{"connect empty id mqtt 3.1", "10 0E 0006'MQIsdp' 03 02 003C 0000", mqtt.ErrIdentifierRejected, mqtt.IdentifierRejected},
	{"connack reserved flags", "20 02 02 00", mqtt.ErrMalformed, 0},
	{"connack reserved code", "20 02 00 06", mqtt.ErrMalformed, 0},
	{"connack session present refused", "20 02 01 01", mqtt.ErrMalformed, 0},
	{"connack short", "20 01 00", mqtt.ErrMalformed, 0},
	{"subscribe no filter", "82 02 0001", mqtt.ErrMalformed, 0},
	{"subscribe zero id", "82 06 0000 0001'a' 00", mqtt.ErrMalformed, 0},
	{"subscribe qos 3", "82 06 0001 0001'a' 03", mqtt.ErrMalformed, 0},
	{"subscribe reserved qos bits", "82 06 0001 0001'a' 04", mqtt.ErrMalformed, 0},
	{"subscribe missing qos", "82 05 0001 0001'a'", mqtt.ErrMalformed, 0},
	{"subscribe empty filter", "82 05 0001 0000 00", mqtt.ErrMalformed, 0},
	{"subscribe short", "82 01 00", mqtt.ErrMalformed, 0},
	{"suback no code", "90 02 0001", mqtt.ErrMalformed, 0},
	{"suback bad code", "90 03 0001 03", mqtt.ErrMalformed, 0},
	{"suback zero id", "90 03 0000 00", mqtt.ErrMalformed, 0},
	{"unsubscribe no filter", "A2 02 0001", mqtt.ErrMalformed, 0},
	{"unsubscribe empty filter", "A2 04 0001 0000", mqtt.ErrMalformed, 0},
	{"unsubscribe zero id", "A2 05 0000 0001'a'", mqtt.ErrMalformed, 0},
	{"unsubscribe short", "A2 01 00", mqtt.ErrMalformed, 0},
}

// normalize makes empty slices nil so that decoded packets compare equal to
// the literal expectations.
func normalize(p mqtt.Packet) mqtt.Packet {
	if len(p.Topic) == 0 {
		p.Topic = nil
	}
	if len(p.Payload) == 0 {
		p.Payload = nil
	}
	if len(p.WillPayload) == 0 {
		p.WillPayload = nil
	}
	if len(p.Password) == 0 {
		p.Password = nil
	}
	if len(p.Subscriptions) == 0 {
		p.Subscriptions = nil
	}
	if len(p.ReturnCodes) == 0 {
		p.ReturnCodes = nil
	}
	if len(p.Filters) == 0 {
		p.Filters = nil
	}
	return p
}

func TestDecodeValid(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			wire := h(tc.wire)
			var p mqtt.Packet
			n, err := mqtt.Decode(wire, &p, 0)
			require.NoError(t, err)
			require.Equal(t, len(wire), n)
			require.Equal(t, normalize(tc.want), normalize(p))

			// Encoding the decoded packet gives back the same bytes.
			out, err := p.Append(nil)
			require.NoError(t, err)
			require.Equal(t, wire, out)

			// Every strict prefix is incomplete, not malformed.
			for i := range len(wire) {
				_, err := mqtt.Decode(wire[:i], &p, 0)
				require.ErrorIs(t, err, mqtt.ErrShortBuffer, "prefix %d", i)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			var p mqtt.Packet
			_, err := mqtt.Decode(h(tc.wire), &p, 0)
			require.ErrorIs(t, err, tc.err)
			var e *mqtt.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tc.code, e.Code)
			require.NotEmpty(t, e.Error())

			// The Reader reports the same error, even one byte at a time.
			r := mqtt.NewReader(iotest.OneByteReader(bytes.NewReader(h(tc.wire))), 0)
			require.ErrorIs(t, r.ReadPacket(&p), tc.err)
		})
	}
}

func TestMaxPacketSize(t *testing.T) {
	wire := h("30 07 0003'a/b' 'hi'") // 9 bytes in all
	var p mqtt.Packet
	_, err := mqtt.Decode(wire, &p, 9)
	require.NoError(t, err)
	_, err = mqtt.Decode(wire, &p, 8)
	require.ErrorIs(t, err, mqtt.ErrPacketTooLarge)
	// The size is known from the header alone.
	_, err = mqtt.Decode(wire[:2], &p, 8)
	require.ErrorIs(t, err, mqtt.ErrPacketTooLarge)

	// The Reader refuses a huge announced packet without reading its body:
	// the stream has nothing after the header but a reader that fails.
	huge := io.MultiReader(bytes.NewReader(h("30 FFFFFF7F")), iotest.ErrReader(errors.New("body was read")))
	r := mqtt.NewReader(huge, 1<<20)
	err = r.ReadPacket(&p)
	require.ErrorIs(t, err, mqtt.ErrPacketTooLarge)
	require.Contains(t, err.Error(), "PUBLISH")
}

// stream is every valid packet back to back.
func stream() ([]byte, []mqtt.Packet) {
	var wire []byte
	var want []mqtt.Packet
	for _, tc := range validCases {
		wire = append(wire, h(tc.wire)...)
		want = append(want, tc.want)
	}
	return wire, want
}

func TestReaderStream(t *testing.T) {
	wire, want := stream()
	// Add packets bigger than the pooled read buffer, including ones larger
	// than the largest pooled body class.
	for _, n := range []int{4000, 5000, 20000, 70000, 1<<20 + 3} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		var err error
		wire, err = mqtt.AppendPublish(wire, "big/", payload, 1, uint16(n), false, false)
		require.NoError(t, err)
		want = append(want, mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: uint16(n), Topic: []byte("big/"), Payload: payload})
	}
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(wire) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(wire)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(wire)) },
		"data err": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(wire)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			r := mqtt.NewReader(mk(), 0)
			var p mqtt.Packet
			for i, w := range want {
				require.NoError(t, r.ReadPacket(&p), "packet %d", i)
				require.Equal(t, normalize(w), normalize(p), "packet %d", i)
			}
			require.ErrorIs(t, r.ReadPacket(&p), io.EOF)
			r.Release()
		})
	}
}

// chunkReader returns what rd holds in reads of random sizes, most of them
// large enough to fill the Reader's buffers.
type chunkReader struct {
	rd  io.Reader
	rng *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := 1 + c.rng.IntN(100<<10)
	if c.rng.IntN(4) == 0 {
		n = 1 + c.rng.IntN(200)
	}
	return c.rd.Read(p[:min(n, len(p))])
}

// TestReaderStreamRandom reads a long stream of publishes of random sizes,
// mostly small ones arriving faster than they are decoded (so the Reader moves
// up to its largest buffer while packets straddle buffer ends) and some larger
// than each buffer, through reads of random sizes.
func TestReaderStreamRandom(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var wire []byte
		var want []mqtt.Packet
		for i := range 3000 {
			n := rng.IntN(1200)
			if rng.IntN(50) == 0 {
				n = rng.IntN(100 << 10)
			}
			payload := make([]byte, n)
			for j := range payload {
				payload[j] = byte(i + j)
			}
			var err error
			wire, err = mqtt.AppendPublish(wire, "t/"+strconv.Itoa(i), payload, 1, uint16(i+1), false, false)
			require.NoError(t, err)
			want = append(want, mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: uint16(i + 1), Topic: []byte("t/" + strconv.Itoa(i)), Payload: payload})
		}
		r := mqtt.NewReader(&chunkReader{rd: bytes.NewReader(wire), rng: rng}, 0)
		var p mqtt.Packet
		for i, w := range want {
			require.NoError(t, r.ReadPacket(&p), "seed %d packet %d", seed, i)
			require.Equal(t, normalize(w), normalize(p), "seed %d packet %d", seed, i)
		}
		require.ErrorIs(t, r.ReadPacket(&p), io.EOF)
		r.Release()
	}
}

func TestReaderUnexpectedEOF(t *testing.T) {
	wire := h("30 07 0003'a/b' 'hi'")
	for i := 1; i < len(wire); i++ {
		r := mqtt.NewReader(bytes.NewReader(wire[:i]), 0)
		var p mqtt.Packet
		require.ErrorIs(t, r.ReadPacket(&p), io.ErrUnexpectedEOF, "cut at %d", i)
	}
	big, err := mqtt.AppendPublish(nil, "t", make([]byte, 20000), 0, 0, false, false)
	require.NoError(t, err)
	r := mqtt.NewReader(bytes.NewReader(big[:15000]), 0)
	var p mqtt.Packet
	require.ErrorIs(t, r.ReadPacket(&p), io.ErrUnexpectedEOF)
}

func TestEncodeInvalid(t *testing.T) {
	bad := []mqtt.Packet{
		{Type: 0},
		{Type: 15},
		{Type: mqtt.Publish}, // empty topic
		{Type: mqtt.Publish, Topic: []byte("t"), QoS: 1}, // no id
		{Type: mqtt.Publish, Topic: []byte("t"), QoS: 3}, // bad QoS
		{Type: mqtt.Publish, Topic: make([]byte, 70000)}, // long topic
		{Type: mqtt.Puback},           // no id
		{Type: mqtt.Subscribe, ID: 1}, // no filter
		{Type: mqtt.Subscribe, Subscriptions: []mqtt.Subscription{{Filter: "a"}}},
		{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "a", QoS: 3}}},
		{Type: mqtt.Unsubscribe, ID: 1},
		{Type: mqtt.Suback, ID: 1},
		{Type: mqtt.Connack, ReturnCode: 6},
		{Type: mqtt.Connect, HasPassword: true},
		{Type: mqtt.Connect, Will: true, WillQoS: 3, WillTopic: "w"},
		{Type: mqtt.Connect, ClientID: strings.Repeat("x", 70000)},
	}
	for _, p := range bad {
		out, err := p.Append([]byte("keep"))
		require.ErrorIs(t, err, mqtt.ErrInvalidPacket, "%+v", p.Type)
		require.Equal(t, "keep", string(out))
	}
}

func TestValidTopic(t *testing.T) {
	names := map[string]bool{"a": true, "a/b": true, "/": true, "a//b": true, "$SYS/x": true,
		"": false, "a/+": false, "#": false, "a\x00": false}
	for s, ok := range names {
		require.Equal(t, ok, mqtt.ValidTopicName(s), s)
	}
	filters := map[string]bool{"a": true, "#": true, "+": true, "a/#": true, "+/+": true, "/+/": true,
		"a/+/b": true, "": false, "a#": false, "a/#/b": false, "a+": false, "+a": false, "a/b#": false, "\xff": false}
	for s, ok := range filters {
		require.Equal(t, ok, mqtt.ValidTopicFilter(s), s)
	}
}

func TestTypeString(t *testing.T) {
	require.Equal(t, "PUBLISH", mqtt.Publish.String())
	require.Equal(t, "DISCONNECT", mqtt.Disconnect.String())
	require.Equal(t, "Type(16)", mqtt.Type(16).String())
}
