package security

import (
	"errors"
	"strconv"
)

// Sentinel errors. Each is returned (usually wrapped in a *KeyError or a
// *LicenseError) in the situation its comment names; test for them with
// errors.Is. No error produced by this package contains a key, a license or
// any other secret.
var (
	// ErrInvalidLicense is returned when a license string does not decode:
	// bad base64, bad compression, wrong field sizes or an unknown
	// generation suffix.
	ErrInvalidLicense = errors.New("security: invalid license")

	// ErrInvalidKey is returned when a key string is not 32 characters of
	// base64url (the key is malformed, so it cannot be decrypted).
	ErrInvalidKey = errors.New("security: invalid key")

	// ErrKeyBanned is returned when a key has been banned. The security
	// package keeps no ban list itself; the engine uses this sentinel.
	ErrKeyBanned = errors.New("security: key is banned")

	// ErrKeyExpired is returned when a key's expiry time has passed.
	ErrKeyExpired = errors.New("security: key has expired")

	// ErrWrongContract is returned when a key decrypts but its master id,
	// contract id or signature does not match the license.
	ErrWrongContract = errors.New("security: key does not belong to this license")

	// ErrUnknownContract is returned by key generation when the master key's
	// contract is not the license's contract (Emitter answers 404).
	ErrUnknownContract = errors.New("security: contract not found")

	// ErrPermissionDenied is returned when a key lacks a permission the
	// operation needs.
	ErrPermissionDenied = errors.New("security: key lacks a required permission")

	// ErrChannelDenied is returned when a key's target does not cover the
	// channel of the operation.
	ErrChannelDenied = errors.New("security: key is not valid for this channel")

	// ErrNotMaster is returned when key generation or a ban is attempted with
	// a key that is not a master (secret) key.
	ErrNotMaster = errors.New("security: not a master key")

	// ErrExtendOnly is returned when a key carrying the extend permission is
	// used for anything but creating a private channel key.
	ErrExtendOnly = errors.New("security: a key with extend permission can only create private channel keys")

	// ErrTargetNoSlash is returned when a key target does not end with '/'.
	ErrTargetNoSlash = errors.New("security: key target must end with '/'")

	// ErrTargetTooDeep is returned when a key target has more than
	// MaxTargetDepth segments.
	ErrTargetTooDeep = errors.New("security: key target has too many segments")

	// ErrInvalidTarget is returned when a key target has an empty segment or
	// a '#' that is not the last segment.
	ErrInvalidTarget = errors.New("security: invalid key target")

	// ErrExpiryRange is returned when an expiry time cannot be represented
	// in a key (after 2146-02-07, the end of the 32-bit range counted from
	// 2010-01-01).
	ErrExpiryRange = errors.New("security: key expiry out of range")
)

// KeyError reports why a key or key request was refused. It wraps both the
// reason (one of the sentinels above, for errors.Is) and the *StatusError
// Emitter would send (for errors.As or StatusOf). It never contains the key.
type KeyError struct {
	// Reason is the sentinel naming the cause, e.g. ErrKeyExpired.
	Reason error
	// Permission is the permission that was missing when Reason is
	// ErrPermissionDenied, and zero otherwise.
	Permission Permission
	// Channel is the channel or target involved, when there is one.
	Channel string
}

// NewKeyError returns a *KeyError for reason, which should be one of this
// package's sentinels (ErrKeyBanned, for instance, is reported by the
// engine).
func NewKeyError(reason error) *KeyError { return &KeyError{Reason: reason} }

// Error describes the refusal without revealing the key.
func (e *KeyError) Error() string {
	msg := "security: key refused"
	if e.Reason != nil {
		msg = e.Reason.Error()
	}
	if e.Reason == ErrPermissionDenied && e.Permission != 0 {
		msg += " (" + e.Permission.String() + ")"
	}
	if e.Channel != "" {
		msg += ": channel " + strconv.Quote(truncate(e.Channel, 128))
	}
	return msg
}

// Status returns the *StatusError Emitter sends for this refusal.
func (e *KeyError) Status() *StatusError { return statusFor(e.Reason) }

// Unwrap returns the reason and the status error, so errors.Is and errors.As
// find either.
func (e *KeyError) Unwrap() []error { return []error{e.Reason, e.Status()} }

// LicenseError reports why a license string was rejected. It wraps
// ErrInvalidLicense and never contains the license itself.
type LicenseError struct {
	Reason string // what is wrong, in words
}

// Error describes the problem without revealing the license.
func (e *LicenseError) Error() string { return "security: invalid license: " + e.Reason }

// Unwrap returns ErrInvalidLicense.
func (e *LicenseError) Unwrap() error { return ErrInvalidLicense }
