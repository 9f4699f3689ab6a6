package security

import (
	"errors"
	"strconv"

	"github.com/heraldmq/herald/topic"
)

// StatusError is one of Emitter's wire statuses: an error as Emitter reports
// it to a client, an HTTP-like status code and Emitter's exact message. A
// transport renders it unchanged as {"status":Status,"message":Message}.
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

// Emitter's wire statuses: the status codes and exact messages Emitter
// sends a client (Emitter's internal/errors/error.go). A transport sends them
// unchanged; clients written for Emitter compare the messages.
var (
	// ErrStatusBadRequest (400) is sent for an invalid topic or request.
	ErrStatusBadRequest = &StatusError{400, "the request was invalid or cannot be otherwise served"}
	// ErrStatusUnauthorized (401) is sent for a bad, expired, banned or
	// wrong-channel key, or one that lacks a permission.
	ErrStatusUnauthorized = &StatusError{401, "the security key provided is not authorized to perform this operation"}
	// errStatusPaymentRequired (402) is defined by Emitter but never sent.
	errStatusPaymentRequired = &StatusError{402, "the request can not be served, as the payment is required to proceed"}
	// ErrStatusForbidden (403) is sent for a publish to a wildcard channel.
	ErrStatusForbidden = &StatusError{403, "the request is understood, but it has been refused or access is not allowed"}
	// ErrStatusNotFound (404) is sent for an unknown emitter/ request or an
	// unknown contract in keygen.
	ErrStatusNotFound = &StatusError{404, "the resource requested does not exist"}
	// ErrStatusInternal (500) is sent when storage or another internal part
	// fails.
	ErrStatusInternal = &StatusError{500, "an unexpected condition was encountered and no more specific message is suitable"}
	// errStatusNotImplemented (501) is defined by Emitter but never sent.
	errStatusNotImplemented = &StatusError{501, "the server either does not recognize the request method, or it lacks the ability to fulfill the request"}
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
// (topic.ErrInvalid, from ParseChannel or any layer) gives ErrStatusBadRequest. It
// returns nil for a nil err and ErrStatusInternal for any other error.
func StatusOf(err error) *StatusError {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se
	}
	if errors.Is(err, topic.ErrInvalid) {
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
	case ErrInvalidTarget, ErrExpiryRange, topic.ErrInvalid:
		return ErrStatusBadRequest
	case ErrUnknownContract:
		return ErrStatusNotFound
	case ErrInvalidKey, ErrKeyBanned, ErrKeyExpired, ErrWrongContract,
		ErrPermissionDenied, ErrChannelDenied, ErrNotMaster:
		return ErrStatusUnauthorized
	}
	return ErrStatusInternal
}
