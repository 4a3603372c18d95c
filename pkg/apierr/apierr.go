// Package apierr owns the API error model of the CRM services and the one
// mapper from Go errors to gRPC status (AIP-193): a canonical code, a
// google.rpc.ErrorInfo (UPPER_SNAKE reason, domain "<service>.crm",
// metadata), a google.rpc.LocalizedMessage in the caller's language (zh-CN by
// default, English on request), google.rpc.BadRequest for field violations,
// and any extra details such as duplicate candidates.
//
// Unknown errors become INTERNAL with generic text; their cause is logged
// once, never sent to the client. The package must not import pgx, nats or
// any service code: store packages translate driver errors into domain errors
// or *Error values before they reach here.
package apierr

import (
	"errors"
	"maps"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/pkg/validate"
)

// Message is a user-facing text in Chinese and English.
type Message = validate.Message

// Well-known reasons used by this package and by the authn/authz interceptors.
const (
	ReasonInternal         = "INTERNAL"
	ReasonInvalidArgument  = "INVALID_ARGUMENT"
	ReasonCancelled        = "CANCELLED"
	ReasonDeadlineExceeded = "DEADLINE_EXCEEDED"
	ReasonUnauthenticated  = "UNAUTHENTICATED"
	ReasonPermissionDenied = "PERMISSION_DENIED"
)

// Error is an API error: a canonical code, a stable UPPER_SNAKE reason, a
// bilingual message, metadata for ErrorInfo and optional extra details (for
// example duplicate candidates as proto messages). Violations, when present,
// are sent as google.rpc.BadRequest.
//
// Code must not be codes.OK: Status treats such a value as a bug and sends
// INTERNAL.
//
// Values are treated as immutable: With and WithDetails return copies, so an
// *Error declared once at package level can be decorated per request safely.
type Error struct {
	Code       codes.Code
	Reason     string
	Message    Message
	Metadata   map[string]string
	Details    []proto.Message
	Violations []validate.Violation
}

// New returns an error with the given code, reason and message.
func New(code codes.Code, reason string, msg Message) *Error {
	return &Error{Code: code, Reason: reason, Message: msg}
}

// NotFound returns a NOT_FOUND error with the given reason (for example
// "CUSTOMER_NOT_FOUND") and the requested id in the metadata under "id".
// Use it also for records the caller may not see, so that their existence
// stays secret.
func NotFound(reason string, msg Message, id string) *Error {
	e := New(codes.NotFound, reason, msg)
	if id != "" {
		e = e.With("id", id)
	}
	return e
}

// Error returns the reason and the English message, for logs and tests.
func (e *Error) Error() string {
	text := e.Message.EN
	if text == "" {
		text = e.Message.ZH
	}
	if text == "" {
		return e.Reason
	}
	return e.Reason + ": " + text
}

// Is reports whether target is an *Error with the same code and reason, so
// that errors.Is works against package-level values even after With.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && t.Reason == e.Reason
}

// With returns a copy of e with one more ErrorInfo metadata entry. Metadata
// must not carry personal data: it is sent to clients and often logged.
func (e *Error) With(key, value string) *Error {
	c := e.clone()
	if c.Metadata == nil {
		c.Metadata = make(map[string]string, 1)
	}
	c.Metadata[key] = value
	return c
}

// WithDetails returns a copy of e with extra status details appended.
func (e *Error) WithDetails(d ...proto.Message) *Error {
	c := e.clone()
	c.Details = append(c.Details, d...)
	return c
}

func (e *Error) clone() *Error {
	c := *e
	c.Metadata = maps.Clone(e.Metadata)
	c.Details = slices.Clone(e.Details)
	c.Violations = slices.Clone(e.Violations)
	return &c
}
