package mqtt

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// requiredFlags gives, for each packet type, the fixed-header flag nibble the
// specification requires (MQTT-2.2.2-1/2). PUBLISH (-1) has variable flags.
var requiredFlags = [16]int8{
	Connect: 0, Connack: 0, Publish: -1, Puback: 0, Pubrec: 0, Pubrel: 2, Pubcomp: 0,
	Subscribe: 2, Suback: 0, Unsubscribe: 2, Unsuback: 0, Pingreq: 0, Pingresp: 0, Disconnect: 0,
	0: -2, 15: -2, // reserved
}

// parseHeader reads the fixed header at the start of b. It returns the first
// byte, the remaining length and the header size. ok is false when b holds
// only part of the header.
func parseHeader(b []byte) (first byte, remaining, size int, ok bool, err error) {
	if len(b) < 2 {
		return 0, 0, 0, false, nil
	}
	first = b[0]
	t := Type(first >> 4)
	switch f := requiredFlags[t]; {
	case f == -2:
		return 0, 0, 0, false, malformed(0, "reserved packet type "+t.String())
	case f >= 0 && int8(first&0x0f) != f:
		return 0, 0, 0, false, malformed(t, "invalid fixed header flags")
	}
	mult := 1
	for i := 1; ; i++ {
		if i > 4 {
			return 0, 0, 0, false, malformed(t, "remaining length longer than 4 bytes")
		}
		if i >= len(b) {
			return 0, 0, 0, false, nil
		}
		c := b[i]
		remaining += int(c&0x7f) * mult
		if c&0x80 == 0 {
			// A non-minimal encoding (a trailing 0x00 continuation) is accepted
			// by the spec's algorithm; we reject it to keep re-encoding exact.
			if c == 0 && i > 1 {
				return 0, 0, 0, false, malformed(t, "non-minimal remaining length")
			}
			return first, remaining, i + 1, true, nil
		}
		mult <<= 7
	}
}

// Decode decodes the first packet of b into p and returns the number of bytes
// it used. It returns ErrShortBuffer when b holds only part of a packet, and an
// *Error wrapping ErrPacketTooLarge when the packet is larger than maxSize
// (0 means no limit other than the protocol's). The []byte fields of p alias b.
func Decode(b []byte, p *Packet, maxSize int) (int, error) {
	first, n, hs, ok, err := parseHeader(b)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ErrShortBuffer
	}
	if maxSize > 0 && hs+n > maxSize {
		return 0, &Error{Type: Type(first >> 4), Err: ErrPacketTooLarge}
	}
	if len(b) < hs+n {
		return 0, ErrShortBuffer
	}
	return hs + n, decodeBody(first, b[hs:hs+n], p)
}

// decodeBody decodes the variable header and payload of a packet whose fixed
// header byte is first. The flags have already been checked.
func decodeBody(first byte, body []byte, p *Packet) error {
	t := Type(first >> 4)
	*p = Packet{Type: t, Subscriptions: p.Subscriptions[:0], ReturnCodes: p.ReturnCodes[:0], Filters: p.Filters[:0]}
	switch t {
	case Publish:
		return decodePublish(first, body, p)
	case Puback, Pubrec, Pubrel, Pubcomp, Unsuback:
		if len(body) != 2 {
			return malformed(t, "remaining length must be 2")
		}
		p.ID = binary.BigEndian.Uint16(body)
		if p.ID == 0 {
			return malformed(t, "zero packet identifier")
		}
		return nil
	case Pingreq, Pingresp, Disconnect:
		if len(body) != 0 {
			return malformed(t, "remaining length must be 0")
		}
		return nil
	case Connect:
		return decodeConnect(body, p)
	case Connack:
		if len(body) != 2 {
			return malformed(t, "remaining length must be 2")
		}
		if body[0]&^1 != 0 {
			return malformed(t, "reserved acknowledge flags set")
		}
		p.SessionPresent = body[0] == 1
		p.ReturnCode = ConnackCode(body[1])
		if p.ReturnCode > NotAuthorized {
			return malformed(t, "reserved return code")
		}
		if p.SessionPresent && p.ReturnCode != Accepted {
			return malformed(t, "session present with a non-zero return code")
		}
		return nil
	case Subscribe:
		return decodeSubscribe(body, p)
	case Suback:
		if len(body) < 3 {
			return malformed(t, "no return code")
		}
		if p.ID = binary.BigEndian.Uint16(body); p.ID == 0 {
			return malformed(t, "zero packet identifier")
		}
		p.ReturnCodes = p.ReturnCodes[:0]
		for _, c := range body[2:] {
			if c > 2 && c != SubackFailure {
				return malformed(t, "invalid return code")
			}
			p.ReturnCodes = append(p.ReturnCodes, c)
		}
		return nil
	case Unsubscribe:
		if len(body) < 2 {
			return malformed(t, "missing packet identifier")
		}
		if p.ID = binary.BigEndian.Uint16(body); p.ID == 0 {
			return malformed(t, "zero packet identifier")
		}
		p.Filters = p.Filters[:0]
		rest := body[2:]
		if len(rest) == 0 {
			return malformed(t, "no topic filter") // MQTT-3.10.3-2
		}
		for len(rest) > 0 {
			s, r, err := readString(t, rest)
			if err != nil {
				return err
			}
			if len(s) == 0 {
				return malformed(t, "empty topic filter") // MQTT-4.7.3-1
			}
			p.Filters = append(p.Filters, string(s))
			rest = r
		}
		return nil
	}
	return malformed(t, "unknown packet type")
}

func decodePublish(first byte, body []byte, p *Packet) error {
	p.Dup = first&0x08 != 0
	p.QoS = QoS(first >> 1 & 3)
	p.Retain = first&0x01 != 0
	if p.QoS > ExactlyOnce {
		return malformed(Publish, "QoS 3") // MQTT-3.3.1-4
	}
	if p.QoS == AtMostOnce && p.Dup {
		return malformed(Publish, "DUP set on a QoS 0 message") // MQTT-3.3.1-2
	}
	topic, rest, err := readString(Publish, body)
	if err != nil {
		return err
	}
	if len(topic) == 0 {
		return malformed(Publish, "empty topic name") // MQTT-4.7.3-1
	}
	p.Topic = topic
	p.ID = 0
	if p.QoS > AtMostOnce {
		if len(rest) < 2 {
			return malformed(Publish, "missing packet identifier")
		}
		p.ID = binary.BigEndian.Uint16(rest)
		if p.ID == 0 {
			return malformed(Publish, "zero packet identifier") // MQTT-2.3.1-1
		}
		rest = rest[2:]
	}
	p.Payload = rest
	return nil
}

var (
	nameMQTT   = []byte("MQTT")
	nameMQIsdp = []byte("MQIsdp")
)

func decodeConnect(body []byte, p *Packet) error {
	const t = Connect
	name, rest, err := readString(t, body)
	if err != nil {
		return err
	}
	if len(rest) < 4 {
		return malformed(t, "truncated variable header")
	}
	level, flags := rest[0], rest[1]
	p.KeepAlive = binary.BigEndian.Uint16(rest[2:])
	rest = rest[4:]
	switch {
	case bytes.Equal(name, nameMQTT):
		p.ProtocolName = "MQTT"
		if level != 4 {
			return &Error{Type: t, Code: UnacceptableProtocolVersion, Err: ErrProtocolVersion, Reason: "MQTT level " + itoa(int(level))}
		}
	case bytes.Equal(name, nameMQIsdp):
		p.ProtocolName = "MQIsdp"
		if level != 3 {
			return &Error{Type: t, Code: UnacceptableProtocolVersion, Err: ErrProtocolVersion, Reason: "MQIsdp level " + itoa(int(level))}
		}
	default:
		return &Error{Type: t, Err: ErrProtocolName, Reason: "protocol name " + quote(name)}
	}
	p.ProtocolLevel = level
	if flags&0x01 != 0 {
		return malformed(t, "reserved connect flag set") // MQTT-3.1.2-3
	}
	p.CleanSession = flags&0x02 != 0
	p.Will = flags&0x04 != 0
	p.WillQoS = QoS(flags >> 3 & 3)
	p.WillRetain = flags&0x20 != 0
	p.HasPassword = flags&0x40 != 0
	p.HasUsername = flags&0x80 != 0
	if !p.Will && (p.WillQoS != 0 || p.WillRetain) {
		return malformed(t, "will QoS or retain without a will") // MQTT-3.1.2-11/13/15
	}
	if p.WillQoS > ExactlyOnce {
		return malformed(t, "will QoS 3") // MQTT-3.1.2-14
	}
	if p.HasPassword && !p.HasUsername {
		return malformed(t, "password without user name") // MQTT-3.1.2-22
	}
	id, rest, err := readString(t, rest)
	if err != nil {
		return err
	}
	p.ClientID = string(id)
	p.WillTopic, p.WillPayload = "", nil
	if p.Will {
		var wt []byte
		if wt, rest, err = readString(t, rest); err != nil {
			return err
		}
		if len(wt) == 0 {
			return malformed(t, "empty will topic") // MQTT-4.7.3-1
		}
		p.WillTopic = string(wt)
		if p.WillPayload, rest, err = readBytes(t, rest); err != nil {
			return err
		}
	}
	p.Username, p.Password = "", nil
	if p.HasUsername {
		var u []byte
		if u, rest, err = readString(t, rest); err != nil {
			return err
		}
		p.Username = string(u)
	}
	if p.HasPassword {
		if p.Password, rest, err = readBytes(t, rest); err != nil {
			return err
		}
	}
	if len(rest) != 0 {
		return malformed(t, "trailing bytes")
	}
	if len(id) == 0 && (!p.CleanSession || level == 3) {
		// MQTT-3.1.3-8 (3.1.1); MQTT 3.1 requires 1 to 23 characters.
		return &Error{Type: t, Code: IdentifierRejected, Err: ErrIdentifierRejected, Reason: "empty client identifier"}
	}
	return nil
}

func decodeSubscribe(body []byte, p *Packet) error {
	const t = Subscribe
	if len(body) < 2 {
		return malformed(t, "missing packet identifier")
	}
	if p.ID = binary.BigEndian.Uint16(body); p.ID == 0 {
		return malformed(t, "zero packet identifier")
	}
	p.Subscriptions = p.Subscriptions[:0]
	rest := body[2:]
	if len(rest) == 0 {
		return malformed(t, "no topic filter") // MQTT-3.8.3-3
	}
	for len(rest) > 0 {
		f, r, err := readString(t, rest)
		if err != nil {
			return err
		}
		if len(f) == 0 {
			return malformed(t, "empty topic filter") // MQTT-4.7.3-1
		}
		if len(r) < 1 {
			return malformed(t, "missing requested QoS")
		}
		if r[0] > 2 {
			return malformed(t, "invalid requested QoS") // MQTT-3.8.3-4
		}
		p.Subscriptions = append(p.Subscriptions, Subscription{Filter: string(f), QoS: QoS(r[0])})
		rest = r[1:]
	}
	return nil
}

// readBytes reads a two-byte length prefixed byte string.
func readBytes(t Type, b []byte) (s, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, malformed(t, "truncated length prefix")
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return nil, nil, malformed(t, "string longer than the packet")
	}
	return b[2 : 2+n : 2+n], b[2+n:], nil
}

// readString reads a two-byte length prefixed UTF-8 string and checks the
// rules of MQTT-1.5.3: well-formed UTF-8 (no surrogates, no overlong forms)
// and no U+0000.
func readString(t Type, b []byte) (s, rest []byte, err error) {
	s, rest, err = readBytes(t, b)
	if err != nil {
		return nil, nil, err
	}
	if !validBytes(s) {
		return nil, nil, malformed(t, "invalid UTF-8 string")
	}
	return s, rest, nil
}

// ValidString reports whether s is a valid MQTT UTF-8 string: at most 65535
// bytes of well-formed UTF-8 without surrogate code points (MQTT-1.5.3-1) and
// without U+0000 (MQTT-1.5.3-2).
func ValidString(s string) bool {
	i, ok := asciiPrefix(s)
	return ok && (i == len(s) || utf8.ValidString(s[i:]) && strings.IndexByte(s[i:], 0) < 0)
}

// validBytes is ValidString for a byte slice, without converting it.
func validBytes(s []byte) bool {
	i, ok := asciiPrefix(s)
	return ok && (i == len(s) || utf8.Valid(s[i:]) && bytes.IndexByte(s[i:], 0) < 0)
}

// asciiPrefix returns the length of s's leading run of non-zero ASCII
// bytes, and false if s is too long for an MQTT string or that run ends at
// a zero byte. It tests eight bytes at a time: all ASCII (no high bit) and
// none zero (the classic has-a-zero-byte test).
func asciiPrefix[S string | []byte](s S) (int, bool) {
	if len(s) > 65535 {
		return 0, false
	}
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8] // one bounds check; the compiler merges the loads
		v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if v&hi != 0 || (v-lo)&^v&hi != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == 0 {
			return i, false
		} else if c >= utf8.RuneSelf {
			return i, true
		}
	}
	return i, true
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func quote(b []byte) string {
	const max = 16
	if len(b) > max {
		b = b[:max]
	}
	out := make([]byte, 0, len(b)+2)
	out = append(out, '"')
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			out = append(out, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
			continue
		}
		out = append(out, c)
	}
	return string(append(out, '"'))
}
