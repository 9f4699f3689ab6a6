package security

// Permission is a set of key permissions: the byte at offset 15 of a key.
// Values combine with |, for example PermRead|PermWrite.
type Permission uint8

// The permission bits of an Emitter key. The letters in parentheses are the
// ones a keygen request's "type" uses.
const (
	// PermMaster marks a master (secret) key. A key is a master key only
	// when its permissions are exactly PermMaster.
	PermMaster Permission = 0x01
	// PermRead (r) allows subscribing.
	PermRead Permission = 0x02
	// PermWrite (w) allows publishing.
	PermWrite Permission = 0x04
	// PermStore (s) allows publishing messages that are stored (ttl).
	PermStore Permission = 0x08
	// PermLoad (l) allows replaying stored messages (last, history).
	PermLoad Permission = 0x10
	// PermPresence (p) allows presence requests.
	PermPresence Permission = 0x20
	// PermExtend (e) allows creating private channel keys, and nothing else.
	PermExtend Permission = 0x40
	// PermExecute (x) is reserved by Emitter and unused.
	PermExecute Permission = 0x80
)

// permLetters lists the letters in the order String writes them, with the
// bit each one stands for.
var permLetters = [...]struct {
	c byte
	p Permission
}{
	{'r', PermRead}, {'w', PermWrite}, {'s', PermStore}, {'l', PermLoad},
	{'p', PermPresence}, {'e', PermExtend}, {'x', PermExecute},
}

// ParsePermissions returns the permissions named by the letters in s
// ("rwslpex"), as Emitter reads a keygen request's "type": every other
// character is ignored, so the master bit can never be requested this way.
func ParsePermissions(s string) Permission {
	var p Permission
	for i := 0; i < len(s); i++ {
		for _, l := range permLetters {
			if s[i] == l.c {
				p |= l.p
			}
		}
	}
	return p
}

// Has reports whether p contains every bit of q.
func (p Permission) Has(q Permission) bool { return p&q == q }

// String returns the permission letters in the order "rwslpex", for example
// "rw". The master bit is written as a leading "M", so a master key prints
// "M"; no permission at all prints "-". ParsePermissions ignores "M", so
// ParsePermissions(p.String()) == p for every p without the master bit.
func (p Permission) String() string {
	var buf [1 + len(permLetters)]byte
	b := buf[:0]
	if p&PermMaster != 0 {
		b = append(b, 'M')
	}
	for _, l := range permLetters {
		if p&l.p != 0 {
			b = append(b, l.c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
