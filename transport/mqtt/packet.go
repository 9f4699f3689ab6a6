package mqtt

import "strconv"

// Type is the MQTT control packet type, the high nibble of the first byte of
// every packet.
type Type byte

// The fourteen MQTT 3.1.1 control packet types (spec §2.2.1).
const (
	Connect     Type = 1
	Connack     Type = 2
	Publish     Type = 3
	Puback      Type = 4
	Pubrec      Type = 5
	Pubrel      Type = 6
	Pubcomp     Type = 7
	Subscribe   Type = 8
	Suback      Type = 9
	Unsubscribe Type = 10
	Unsuback    Type = 11
	Pingreq     Type = 12
	Pingresp    Type = 13
	Disconnect  Type = 14
)

var typeNames = [...]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
}

// String returns the packet type's name as the specification writes it, for
// example "PUBLISH".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// QoS is an MQTT quality-of-service level.
type QoS byte

// The three quality-of-service levels. A fourth value (3) is invalid on the wire.
const (
	AtMostOnce  QoS = 0
	AtLeastOnce QoS = 1
	ExactlyOnce QoS = 2
)

// ConnackCode is the return code of a CONNACK packet (spec §3.2.2.3).
type ConnackCode byte

// The CONNACK return codes of MQTT 3.1.1.
const (
	Accepted                    ConnackCode = 0x00
	UnacceptableProtocolVersion ConnackCode = 0x01
	IdentifierRejected          ConnackCode = 0x02
	ServerUnavailable           ConnackCode = 0x03
	BadUsernameOrPassword       ConnackCode = 0x04
	NotAuthorized               ConnackCode = 0x05
)

// SubackFailure is the SUBACK return code for a refused subscription.
const SubackFailure byte = 0x80

// MaxRemainingLength is the largest remaining length the four-byte variable
// length encoding can express (256 MiB - 1).
const MaxRemainingLength = 268435455

// Subscription is one topic filter of a SUBSCRIBE packet with the maximum QoS
// the client asks for.
type Subscription struct {
	Filter string
	QoS    QoS
}

// Packet is any of the fourteen MQTT control packets. Only the fields of its
// Type are meaningful. Decoding into a Packet zeroes every field first but
// keeps the capacity of its slices, so that one Packet can be reused across
// reads without allocating.
//
// The []byte fields (Topic, Payload, WillPayload, Password) alias the buffer
// of the Reader or the slice they were decoded from: they stay valid only until
// the next read or until that slice is modified. Copy what must outlive it.
// The string and slice-of-struct fields are owned by the Packet, but their
// backing arrays are reused by the next decode into the same Packet.
type Packet struct {
	// Type selects which of the fields below are meaningful.
	Type Type

	// ID is the packet identifier of PUBLISH (QoS 1 and 2), PUBACK, PUBREC,
	// PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK. It is
	// never zero in a valid packet that carries one.
	ID uint16

	// PUBLISH.
	Dup     bool
	QoS     QoS
	Retain  bool
	Topic   []byte
	Payload []byte

	// CONNECT. ProtocolName is "MQTT" (level 4) or "MQIsdp" (level 3).
	ProtocolName  string
	ProtocolLevel byte
	CleanSession  bool
	KeepAlive     uint16 // seconds; 0 disables keepalive
	ClientID      string
	Will          bool // a will message is present
	WillQoS       QoS
	WillRetain    bool
	WillTopic     string
	WillPayload   []byte
	HasUsername   bool
	Username      string
	HasPassword   bool
	Password      []byte

	// CONNACK.
	SessionPresent bool
	ReturnCode     ConnackCode

	// SUBSCRIBE.
	Subscriptions []Subscription

	// SUBACK: one code per requested filter, the granted QoS or SubackFailure.
	ReturnCodes []byte

	// UNSUBSCRIBE.
	Filters []string
}
