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

// StatusError is an error as Emitter reports it to a client: an HTTP-like
// status code and Emitter's exact message. A transport renders it unchanged
// as {"status":Status,"message":Message}.
//
// Errors returned by this package and by the engine carry a *StatusError in
// their chain: use errors.As to get it, or StatusOf. errors.Is(err, target)
// with a *StatusError target is true when both Status and Message are equal,
// so errors.Is(err, ErrStatusUnauthorized) holds for the generic 401 but not
// for ErrStatusExtendOnly, which is a 401 with another message.
//
// StatusError values are immutable and safe for concurrent use.
type StatusError struct {
	Status  int    // Emitter's status code: 400, 401, 403, 404, 500...
	Message string // Emitter's exact message for that status
}

// Error returns "security: " followed by the status code and message. A
// transport should send Message, not Error().
func (e *StatusError) Error() string {
	return "security: " + strconv.Itoa(e.Status) + " " + e.Message
}

// Is reports whether target is a *StatusError with the same status and
// message.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Status == e.Status && t.Message == e.Message
}

// The status errors Emitter sends, with its exact messages (Emitter's
// internal/errors/error.go).
var (
	// ErrStatusBadRequest (400) is sent for an invalid topic or request.
	ErrStatusBadRequest = &StatusError{400, "the request was invalid or cannot be otherwise served"}
	// ErrStatusUnauthorized (401) is sent for a bad, expired, banned or
	// wrong-channel key, or one that lacks a permission.
	ErrStatusUnauthorized = &StatusError{401, "the security key provided is not authorized to perform this operation"}
	// ErrStatusPaymentRequired (402) is defined by Emitter but never sent.
	ErrStatusPaymentRequired = &StatusError{402, "the request can not be served, as the payment is required to proceed"}
	// ErrStatusForbidden (403) is sent for a publish to a wildcard channel.
	ErrStatusForbidden = &StatusError{403, "the request is understood, but it has been refused or access is not allowed"}
	// ErrStatusNotFound (404) is sent for an unknown emitter/ request or an
	// unknown contract in keygen.
	ErrStatusNotFound = &StatusError{404, "the resource requested does not exist"}
	// ErrStatusInternal (500) is sent when storage or another internal part
	// fails.
	ErrStatusInternal = &StatusError{500, "an unexpected condition was encountered and no more specific message is suitable"}
	// ErrStatusNotImplemented (501) is defined by Emitter but never sent.
	ErrStatusNotImplemented = &StatusError{501, "the server either does not recognize the request method, or it lacks the ability to fulfill the request"}
	// ErrStatusTargetNoSlash (400) is sent by keygen for a target without a
	// trailing '/'.
	ErrStatusTargetNoSlash = &StatusError{400, "channel should end with `/` for strict types or `/#/` for wildcards"}
	// ErrStatusTargetTooDeep (400) is sent by keygen for a target with more
	// than 23 segments.
	ErrStatusTargetTooDeep = &StatusError{400, "channel can not have more than 23 parts"}
	// ErrStatusLinkName (400) is sent for a link name that is not 1 or 2
	// alphanumeric characters.
	ErrStatusLinkName = &StatusError{400, "the link must be an alphanumeric string of 1 or 2 characters"}
	// ErrStatusExtendOnly (401) is sent when a key with the extend
	// permission is used to publish, subscribe or unsubscribe.
	ErrStatusExtendOnly = &StatusError{401, "the security key with extend permission can only be used for private links"}
)

// StatusOf returns the *StatusError in err's chain. An invalid channel
// (ErrInvalidChannel, from ParseChannel) gives ErrStatusBadRequest. It
// returns nil for a nil err and ErrStatusInternal for any other error.
func StatusOf(err error) *StatusError {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se
	}
	if errors.Is(err, ErrInvalidChannel) {
		return ErrStatusBadRequest
	}
	return ErrStatusInternal
}

// statusFor maps a sentinel of this package to the status Emitter sends.
func statusFor(reason error) *StatusError {
	switch reason {
	case ErrExtendOnly:
		return ErrStatusExtendOnly
	case ErrTargetNoSlash:
		return ErrStatusTargetNoSlash
	case ErrTargetTooDeep:
		return ErrStatusTargetTooDeep
	case ErrInvalidTarget, ErrExpiryRange, ErrInvalidChannel:
		return ErrStatusBadRequest
	case ErrUnknownContract:
		return ErrStatusNotFound
	case ErrInvalidKey, ErrKeyBanned, ErrKeyExpired, ErrWrongContract,
		ErrPermissionDenied, ErrChannelDenied, ErrNotMaster:
		return ErrStatusUnauthorized
	}
	return ErrStatusInternal
}

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
