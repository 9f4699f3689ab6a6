// Package mqtt encodes and decodes MQTT 3.1.1 control packets (and MQTT 3.1,
// protocol name "MQIsdp", for old clients). It imports no other Herald package.
//
// # Decoding
//
// A [Reader] reads packets from a stream into a reusable [Packet]; [Decode]
// decodes one packet from a byte slice. Both check the whole of the encoding
// rules of the specification and return an [*Error] wrapping a sentinel
// ([ErrMalformed], [ErrPacketTooLarge], [ErrProtocolName],
// [ErrProtocolVersion], [ErrIdentifierRejected]) for a packet that breaks
// them; [Error.Code] carries the CONNACK return code a server owes the client
// before closing, where the specification asks for one. The checks include:
//
//   - the remaining length uses at most four bytes and the minimal encoding;
//   - the maximum packet size is checked on the fixed header, before the body
//     is read or any memory is set aside for it;
//   - reserved fixed-header flags (MQTT-2.2.2), QoS 3, DUP on QoS 0;
//   - every string is well-formed UTF-8 without U+0000 (MQTT-1.5.3);
//   - topic names and filters are not empty (MQTT-4.7.3-1);
//   - packet identifiers are non-zero where present (MQTT-2.3.1-1);
//   - CONNECT: protocol name "MQTT" at level 4 or "MQIsdp" at level 3, the
//     reserved flag, will flags without a will, a password without a user
//     name, no trailing bytes, and the zero-length client identifier rules;
//   - SUBSCRIBE and UNSUBSCRIBE carry at least one filter; requested QoS is
//     0, 1 or 2 with the reserved bits clear;
//   - fixed-size packets have exactly their size.
//
// Wildcard placement in topic names and filters is not checked here, because
// Emitter's topic grammar puts "#" and "+" where MQTT does not allow them; a
// server applies [ValidTopicName] and [ValidTopicFilter] to plain MQTT topics.
//
// # Encoding
//
// Encoders append to a caller's slice and never allocate beyond growing it:
// [AppendPublish], [AppendAck], [AppendConnack], [AppendSuback],
// [AppendPingresp], and [Packet.Append] for any packet.
//
// # Memory
//
// Decoded []byte fields alias the reader's buffers (no copy of topic or
// payload). A Reader holds a 128-byte array while its stream is idle, borrows a
// pooled 16 KiB buffer while bytes are flowing (64 KiB while a peer streams
// faster than the Reader is read, to save read calls), and reads larger
// packets into pooled buffers that grow only as fast as the bytes arrive.
package mqtt
