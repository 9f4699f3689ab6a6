// Package security parses Emitter channel strings and implements Emitter's
// channel keys, byte for byte: licenses, key encryption, permissions,
// expiry, and the validation of a key against a channel. An application
// moving from Emitter keeps its license, its secret (master) key and every
// key it has handed out.
//
// Everything here is a pure function or a small value type; the package does
// no I/O, keeps no state and imports no other Herald package.
//
// # Channels
//
// ParseChannel parses a channel such as "a/b/c/?ttl=30" and ParseTopic a
// network topic "KEY/a/b/c/". Channels end with '/'; '+' is one segment,
// a last '#' the rest.
//
// # Licenses and keys
//
// A License holds a contract id, a signature and the secret that encrypts
// keys. ParseLicense reads all three Emitter generations (":3", ":2", and
// none or ":1"); NewLicense makes a generation 3 one from crypto/rand, and
// Encode returns the string to keep in configuration.
//
// A key is 24 bytes (Key) sent as 32 base64url characters:
//
//	license, err := security.ParseLicense(os.Getenv("HERALD_LICENSE"))
//	k, err := license.DecryptKey("EjTvFZJ18rzaeWnzVqD7sg6H7j51SGgK")
//	err = license.Authorize(k, security.PermWrite, "a/b/c/", time.Now())
//
// A key carries its target channel as a bit-path and a hash (Key.SetTarget),
// a Permission set (r w s l p e x, plus the master bit of a master key) and
// an expiry in seconds since 2010-01-01 UTC (0 = never).
//
// # Minting keys
//
// License.NewMasterKey returns a secret key. License.Mint mints a key from
// the license alone, offline; License.MintWithMaster does what Emitter's
// keygen does with a master key, License.Extend what it does with a key
// carrying the extend permission (a private channel key for one
// connection), and License.Keygen chooses between the two.
//
// # Validation order
//
// Emitter checks a key in this order: the channel parses, the key is not
// banned (the engine keeps bans), it decrypts, it has not expired, it
// belongs to the license, it has the permissions, and its target allows the
// channel. DecryptKey and Authorize do the steps after the ban check.
//
// # Errors
//
// Sentinel errors (ErrKeyExpired, ErrChannelDenied...) name each cause.
// Refusals are *KeyError values that wrap both the sentinel and the
// *StatusError carrying Emitter's status code and exact message, which a
// transport sends unchanged; StatusOf extracts it. No error, String method or
// log value of this package contains a license, a key string or the key's
// contract fields.
//
// # Concurrency
//
// A *License is immutable and safe for concurrent use. A Key is a small
// value; copy it freely. All functions are safe for concurrent use.
//
// # Caveats
//
// Emitter's key format checks the channel through a 32-bit hash: a key's
// target is stored as a hash of the target path, so a channel whose path
// happens to hash the same way is accepted too. Herald keeps the format for
// compatibility. Herald differs from Emitter in one place: a target ending
// in '+' segments after a fixed one ("a/+/", "a/+/#/") validates no channel
// in Emitter and validates what it says here (see Key.ValidateChannel).
package security
