package security

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"
)

// KeySize is the size of a decrypted key in bytes.
const KeySize = 24

// Layout of a decrypted key (all integers big-endian).
const (
	offSalt     = 0  // uint16: random salt
	offMaster   = 2  // uint16: master id (1 on-premise)
	offContract = 4  // uint32: contract id (the license's User)
	offSign     = 8  // uint32: signature (the license's Sign)
	offTarget   = 12 // 24 bits: target bit-path
	offPerm     = 15 // uint8: permissions
	offHash     = 16 // uint32: target hash
	offExpiry   = 20 // uint32: expiry, seconds since 2010-01-01 UTC; 0 = never
)

// MaxSalt is the largest salt Emitter gives a key (salts are 0..32766).
const MaxSalt = 32766

// KeyEpochUnix is the time key expiries are counted from, 2010-01-01
// 00:00:00 UTC, in unix seconds.
const KeyEpochUnix = 1262304000

const keyEpoch = KeyEpochUnix

// Key is a decrypted Emitter channel key: 24 bytes holding a salt, the
// license's master id, contract id and signature, a target channel (a bit-path
// and a hash, see SetTarget), a permission set and an expiry.
//
// The zero Key has no permissions, no target and never expires. A Key is a
// small value: copy it freely; methods with a pointer receiver modify it, the
// others do not. A Key is not safe for concurrent modification.
//
// A Key holds no secret by itself (the secret is the encrypted string, see
// License.EncryptKey), but String, Format and LogValue still print only the
// permissions, the kind of target and the expiry.
type Key struct {
	b [KeySize]byte
}

// Bytes returns the 24 plaintext bytes of k.
func (k Key) Bytes() [KeySize]byte { return k.b }

func (k Key) u16(off int) uint16 { return binary.BigEndian.Uint16(k.b[off:]) }
func (k Key) u32(off int) uint32 { return binary.BigEndian.Uint32(k.b[off:]) }
func (k *Key) put16(off int, v uint16) {
	binary.BigEndian.PutUint16(k.b[off:], v)
}
func (k *Key) put32(off int, v uint32) {
	binary.BigEndian.PutUint32(k.b[off:], v)
}

// Salt returns the key's salt, a random number that makes two keys with
// the same fields encrypt differently.
func (k Key) Salt() uint16 { return k.u16(offSalt) }

// SetSalt sets the key's salt.
func (k *Key) SetSalt(v uint16) { k.put16(offSalt, v) }

// MasterID returns the id of the master key generation the key belongs to
// (always 1 for an on-premise license).
func (k Key) MasterID() uint16 { return k.u16(offMaster) }

// setMasterID sets the master id.
func (k *Key) setMasterID(v uint16) { k.put16(offMaster, v) }

// Contract returns the contract id, which is the license's contract.
func (k Key) Contract() uint32 { return k.u32(offContract) }

// SetContract sets the contract id.
func (k *Key) SetContract(v uint32) { k.put32(offContract, v) }

// Signature returns the contract signature, which must equal the license's.
func (k Key) Signature() uint32 { return k.u32(offSign) }

// setSignature sets the contract signature.
func (k *Key) setSignature(v uint32) { k.put32(offSign, v) }

// Permissions returns the key's permission set.
func (k Key) Permissions() Permission { return Permission(k.b[offPerm]) }

// SetPermissions sets the key's permission set.
func (k *Key) SetPermissions(p Permission) { k.b[offPerm] = byte(p) }

// HasPermission reports whether the key has every permission in p.
func (k Key) HasPermission(p Permission) bool { return k.Permissions().Has(p) }

// IsMaster reports whether k is a master (secret) key: its permissions are
// exactly PermMaster.
func (k Key) IsMaster() bool { return k.Permissions() == PermMaster }

// TargetPath returns the 24-bit target bit-path (see SetTarget).
func (k Key) TargetPath() uint32 {
	return uint32(k.b[offTarget])<<16 | uint32(k.b[offTarget+1])<<8 | uint32(k.b[offTarget+2])
}

// TargetHash returns the hash of the target path (see SetTarget).
func (k Key) TargetHash() uint32 { return k.u32(offHash) }

// setTargetBits sets the raw target bit-path (only the low 24 bits are kept)
// and target hash. SetTarget computes both from a channel.
func (k *Key) setTargetBits(path, hash uint32) {
	k.b[offTarget], k.b[offTarget+1], k.b[offTarget+2] = byte(path>>16), byte(path>>8), byte(path)
	k.put32(offHash, hash)
}

// ExpiryRaw returns the raw expiry: seconds since KeyEpochUnix, 0 for never.
func (k Key) ExpiryRaw() uint32 { return k.u32(offExpiry) }

// setExpiryRaw sets the raw expiry: seconds since KeyEpochUnix, 0 for
// never.
func (k *Key) setExpiryRaw(v uint32) { k.put32(offExpiry, v) }

// Expires returns the time the key expires, or the zero time if it never
// does.
func (k Key) Expires() time.Time {
	e := k.ExpiryRaw()
	if e == 0 {
		return time.Time{}
	}
	return time.Unix(keyEpoch+int64(e), 0).UTC()
}

// SetExpires sets the time the key expires, truncated to the second; the zero
// time means never. A time at or before 2010-01-01 is stored as one second past
// it (long expired). It returns ErrExpiryRange for a time after the last
// second the key format can hold (2146-02-07 06:28:15 UTC) and leaves k
// unchanged.
func (k *Key) SetExpires(t time.Time) error {
	if t.IsZero() {
		k.setExpiryRaw(0)
		return nil
	}
	s := t.Unix() - keyEpoch
	switch {
	case s < 1:
		s = 1
	case s > 0xFFFFFFFF:
		return ErrExpiryRange
	}
	k.setExpiryRaw(uint32(s))
	return nil
}

// IsExpired reports whether the key has an expiry and it is before now.
func (k Key) IsExpired(now time.Time) bool {
	e := k.ExpiryRaw()
	return e != 0 && keyEpoch+int64(e) < now.Unix()
}

// String describes the key without its contract fields or salt, for example
// "security.Key{perm: rw, target: exact, expires: never}".
func (k Key) String() string {
	b := make([]byte, 0, 80)
	b = append(b, "security.Key{perm: "...)
	b = append(b, k.Permissions().String()...)
	b = append(b, ", target: "...)
	switch path := k.TargetPath(); {
	case path == 0 && k.TargetHash() == 0:
		b = append(b, "none"...)
	case path == 0 && k.TargetHash() == hashEmpty:
		b = append(b, "all"...)
	case path&targetExact != 0:
		b = append(b, "exact"...)
	default:
		b = append(b, "wildcard"...)
	}
	b = append(b, ", expires: "...)
	if k.ExpiryRaw() == 0 {
		b = append(b, "never"...)
	} else {
		b = k.Expires().AppendFormat(b, time.RFC3339)
	}
	return string(append(b, '}'))
}

// GoString is the same as String, so that %#v does not print the key bytes.
func (k Key) GoString() string { return k.String() }

// Format writes String for every verb, so no fmt verb prints the key bytes.
func (k Key) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue makes slog log String instead of the key bytes.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }
