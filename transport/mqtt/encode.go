package mqtt

// appendHeader appends a fixed header: the first byte and the remaining
// length in the variable length encoding (1 to 4 bytes).
func appendHeader(dst []byte, first byte, remaining int) []byte {
	dst = append(dst, first)
	for {
		c := byte(remaining & 0x7f)
		remaining >>= 7
		if remaining > 0 {
			dst = append(dst, c|0x80)
			continue
		}
		return append(dst, c)
	}
}

func appendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...)
}

// AppendPublish appends a PUBLISH packet to dst and returns the extended
// slice. id is ignored for QoS 0 and must be non-zero otherwise. It returns
// ErrInvalidPacket, with dst unchanged, if topic is empty or longer than 65535
// bytes, qos is above 2, id is zero for QoS 1 or 2, or the packet would exceed
// MaxRemainingLength. The topic's UTF-8 validity is the caller's business.
func AppendPublish[S ~string | ~[]byte](dst []byte, topic S, payload []byte, qos QoS, id uint16, dup, retain bool) ([]byte, error) {
	n := 2 + len(topic) + len(payload)
	if qos > AtMostOnce {
		n += 2
	}
	if len(topic) == 0 || len(topic) > 65535 || qos > ExactlyOnce || (qos > AtMostOnce && id == 0) || n > MaxRemainingLength {
		return dst, ErrInvalidPacket
	}
	first := byte(Publish)<<4 | byte(qos)<<1
	if dup && qos > AtMostOnce {
		first |= 0x08
	}
	if retain {
		first |= 0x01
	}
	dst = appendHeader(dst, first, n)
	dst = appendString(dst, topic)
	if qos > AtMostOnce {
		dst = appendUint16(dst, id)
	}
	return append(dst, payload...), nil
}

// AppendAck appends one of the four-byte packets that carry only a packet
// identifier: PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK. For any other t it
// returns dst unchanged.
func AppendAck(dst []byte, t Type, id uint16) []byte {
	switch t {
	case Puback, Pubrec, Pubcomp, Unsuback:
		return append(dst, byte(t)<<4, 2, byte(id>>8), byte(id))
	case Pubrel:
		return append(dst, byte(t)<<4|2, 2, byte(id>>8), byte(id))
	}
	return dst
}

// AppendConnack appends a CONNACK packet.
func AppendConnack(dst []byte, sessionPresent bool, code ConnackCode) []byte {
	var f byte
	if sessionPresent {
		f = 1
	}
	return append(dst, byte(Connack)<<4, 2, f, byte(code))
}

// AppendSuback appends a SUBACK packet with one return code per filter of the
// SUBSCRIBE it answers (a granted QoS or SubackFailure).
func AppendSuback(dst []byte, id uint16, codes []byte) []byte {
	dst = appendHeader(dst, byte(Suback)<<4, 2+len(codes))
	dst = appendUint16(dst, id)
	return append(dst, codes...)
}

// AppendPingresp appends a PINGRESP packet.
func AppendPingresp(dst []byte) []byte {
	return append(dst, byte(Pingresp)<<4, 0)
}

// Append appends the encoding of p to dst and returns the extended slice. Only
// the fields of p.Type are used. It returns ErrInvalidPacket, with dst
// unchanged, for a packet that cannot be encoded validly; Append does not
// check every rule that Decode checks (UTF-8 validity, for one), so encode
// only packets that are valid.
func (p *Packet) Append(dst []byte) ([]byte, error) {
	switch p.Type {
	case Publish:
		return AppendPublish(dst, p.Topic, p.Payload, p.QoS, p.ID, p.Dup, p.Retain)
	case Puback, Pubrec, Pubrel, Pubcomp, Unsuback:
		if p.ID == 0 {
			return dst, ErrInvalidPacket
		}
		return AppendAck(dst, p.Type, p.ID), nil
	case Pingreq, Pingresp, Disconnect:
		return append(dst, byte(p.Type)<<4, 0), nil
	case Connack:
		if p.ReturnCode > NotAuthorized {
			return dst, ErrInvalidPacket
		}
		return AppendConnack(dst, p.SessionPresent && p.ReturnCode == Accepted, p.ReturnCode), nil
	case Suback:
		if p.ID == 0 || len(p.ReturnCodes) == 0 || 2+len(p.ReturnCodes) > MaxRemainingLength {
			return dst, ErrInvalidPacket
		}
		return AppendSuback(dst, p.ID, p.ReturnCodes), nil
	case Subscribe:
		if p.ID == 0 || len(p.Subscriptions) == 0 {
			return dst, ErrInvalidPacket
		}
		n := 2
		for _, s := range p.Subscriptions {
			if len(s.Filter) > 65535 || s.QoS > ExactlyOnce {
				return dst, ErrInvalidPacket
			}
			n += 3 + len(s.Filter)
		}
		if n > MaxRemainingLength {
			return dst, ErrInvalidPacket
		}
		dst = appendHeader(dst, byte(Subscribe)<<4|2, n)
		dst = appendUint16(dst, p.ID)
		for _, s := range p.Subscriptions {
			dst = appendString(dst, s.Filter)
			dst = append(dst, byte(s.QoS))
		}
		return dst, nil
	case Unsubscribe:
		if p.ID == 0 || len(p.Filters) == 0 {
			return dst, ErrInvalidPacket
		}
		n := 2
		for _, f := range p.Filters {
			if len(f) > 65535 {
				return dst, ErrInvalidPacket
			}
			n += 2 + len(f)
		}
		if n > MaxRemainingLength {
			return dst, ErrInvalidPacket
		}
		dst = appendHeader(dst, byte(Unsubscribe)<<4|2, n)
		dst = appendUint16(dst, p.ID)
		for _, f := range p.Filters {
			dst = appendString(dst, f)
		}
		return dst, nil
	case Connect:
		return p.appendConnect(dst)
	}
	return dst, ErrInvalidPacket
}

func (p *Packet) appendConnect(dst []byte) ([]byte, error) {
	name, level := p.ProtocolName, p.ProtocolLevel
	if name == "" {
		name, level = "MQTT", 4
	}
	var flags byte
	if p.CleanSession {
		flags |= 0x02
	}
	n := 2 + len(name) + 4 + 2 + len(p.ClientID)
	strs := len(name) > 65535 || len(p.ClientID) > 65535
	if p.Will {
		if p.WillQoS > ExactlyOnce {
			return dst, ErrInvalidPacket
		}
		flags |= 0x04 | byte(p.WillQoS)<<3
		if p.WillRetain {
			flags |= 0x20
		}
		n += 4 + len(p.WillTopic) + len(p.WillPayload)
		strs = strs || len(p.WillTopic) > 65535 || len(p.WillPayload) > 65535
	}
	if p.HasUsername {
		flags |= 0x80
		n += 2 + len(p.Username)
		strs = strs || len(p.Username) > 65535
	}
	if p.HasPassword {
		if !p.HasUsername {
			return dst, ErrInvalidPacket
		}
		flags |= 0x40
		n += 2 + len(p.Password)
		strs = strs || len(p.Password) > 65535
	}
	if strs {
		return dst, ErrInvalidPacket
	}
	dst = appendHeader(dst, byte(Connect)<<4, n)
	dst = appendString(dst, name)
	dst = append(dst, level, flags)
	dst = appendUint16(dst, p.KeepAlive)
	dst = appendString(dst, p.ClientID)
	if p.Will {
		dst = appendString(dst, p.WillTopic)
		dst = appendString(dst, p.WillPayload)
	}
	if p.HasUsername {
		dst = appendString(dst, p.Username)
	}
	if p.HasPassword {
		dst = appendString(dst, p.Password)
	}
	return dst, nil
}
