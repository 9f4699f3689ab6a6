package security

// Exports for the tests of package security_test, which build and inspect
// keys field by field and check Emitter's whole status table; embedders need
// none of these.

// KeyFromBytes returns the Key whose 24 plaintext bytes are b.
func KeyFromBytes(b [KeySize]byte) Key { return Key{b: b} }

// SetMasterID sets the master id.
func (k *Key) SetMasterID(v uint16) { k.setMasterID(v) }

// SetSignature sets the contract signature.
func (k *Key) SetSignature(v uint32) { k.setSignature(v) }

// SetTargetBits sets the raw target bit-path and target hash.
func (k *Key) SetTargetBits(path, hash uint32) { k.setTargetBits(path, hash) }

// SetExpiryRaw sets the raw expiry: seconds since KeyEpochUnix, 0 for never.
func (k *Key) SetExpiryRaw(v uint32) { k.setExpiryRaw(v) }

// AppendEncryptedKey appends the encrypted form of k (32 bytes) to dst.
func (l *License) AppendEncryptedKey(dst []byte, k Key) []byte {
	var out [EncodedKeyLen]byte
	l.encrypt(&out, k)
	return append(dst, out[:]...)
}

var (
	Hash                     = channelHash
	PrivateChannel           = privateChannel
	ErrStatusPaymentRequired = errStatusPaymentRequired
	ErrStatusNotImplemented  = errStatusNotImplemented
)
