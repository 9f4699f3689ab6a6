package mqtt

import (
	"errors"
	"strconv"
)

var (
	// ErrMalformed is returned (wrapped in an *Error) when a packet breaks the
	// MQTT 3.1.1 encoding rules: bad flags, bad lengths, invalid UTF-8, a zero
	// packet identifier, an empty SUBSCRIBE and so on. The connection that sent
	// it must be closed.
	ErrMalformed = errors.New("mqtt: malformed packet")

	// ErrPacketTooLarge is returned when the fixed header announces a packet
	// larger than the reader's maximum. It is detected before the body is read
	// or any memory is allocated for it.
	ErrPacketTooLarge = errors.New("mqtt: packet exceeds the maximum size")

	// ErrProtocolName is returned for a CONNECT whose protocol name is neither
	// "MQTT" nor "MQIsdp". The server closes the connection without a CONNACK
	// (MQTT-3.1.2-1).
	ErrProtocolName = errors.New("mqtt: unknown protocol name")

	// ErrProtocolVersion is returned for a CONNECT whose protocol level does
	// not match its name (4 for "MQTT", 3 for "MQIsdp"). The server answers
	// CONNACK 0x01 and closes (MQTT-3.1.2-2).
	ErrProtocolVersion = errors.New("mqtt: unacceptable protocol version")

	// ErrIdentifierRejected is returned for a CONNECT with a zero-length client
	// identifier and CleanSession unset, or a zero-length identifier over MQTT
	// 3.1. The server answers CONNACK 0x02 and closes (MQTT-3.1.3-8).
	ErrIdentifierRejected = errors.New("mqtt: client identifier rejected")

	// ErrShortBuffer is returned by Decode when the slice holds only part of a
	// packet. It is not a protocol error: more bytes are needed.
	ErrShortBuffer = errors.New("mqtt: incomplete packet")

	// ErrInvalidPacket is returned by the encoders for a packet that cannot be
	// encoded: an unknown type, a string longer than 65535 bytes, a QoS above 2,
	// a missing packet identifier, or a body above MaxRemainingLength.
	ErrInvalidPacket = errors.New("mqtt: packet cannot be encoded")
)

// Error describes a packet the decoder refused. Err is one of the package's
// sentinel errors, so errors.Is(err, ErrMalformed) works; Code is the CONNACK
// return code the server must send before closing (0 when none is due).
type Error struct {
	Type   Type        // packet type being decoded; 0 if the fixed header itself was bad
	Code   ConnackCode // CONNACK code to answer with, or Accepted (0) for none
	Err    error       // the sentinel error
	Reason string      // what exactly was wrong, for logs
}

// Error returns a message naming the packet type and the reason.
func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Type != 0 {
		s += " (" + e.Type.String()
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		s += ")"
	} else if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.Code != 0 {
		s += " [CONNACK " + strconv.Itoa(int(e.Code)) + "]"
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

func malformed(t Type, reason string) error {
	return &Error{Type: t, Err: ErrMalformed, Reason: reason}
}
