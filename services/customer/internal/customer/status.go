package customer

import (
	"errors"
	"fmt"
	"slices"
)

// Status is 客户状态, the customer's lifecycle.
type Status string

// Lifecycle states.
const (
	StatusPotential Status = "potential"
	StatusIntention Status = "intention"
	StatusActive    Status = "active"
	StatusPaused    Status = "paused"
	StatusDormant   Status = "dormant"
	StatusLost      Status = "lost"
)

// Statuses lists every valid status.
var Statuses = []Status{StatusPotential, StatusIntention, StatusActive, StatusPaused, StatusDormant, StatusLost}

// transitions says where each status may move. The forward path is potential → intention → active;
// a cooperation can pause or go dormant and come back; any customer can be lost, and a lost or
// dormant customer can be won back.
var transitions = map[Status][]Status{
	StatusPotential: {StatusIntention, StatusDormant, StatusLost},
	StatusIntention: {StatusPotential, StatusActive, StatusDormant, StatusLost},
	StatusActive:    {StatusPaused, StatusDormant, StatusLost},
	StatusPaused:    {StatusActive, StatusDormant, StatusLost},
	StatusDormant:   {StatusPotential, StatusIntention, StatusActive, StatusLost},
	StatusLost:      {StatusPotential, StatusIntention},
}

// ErrIllegalTransition is returned for a status change the lifecycle does not allow.
var ErrIllegalTransition = errors.New("illegal status transition")

// TransitionError names the refused transition.
type TransitionError struct {
	From, To Status
	Allowed  []Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("status cannot change from %s to %s", e.From, e.To)
}

func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

// CanTransition reports whether a customer may move from one status to another.
func CanTransition(from, to Status) bool { return slices.Contains(transitions[from], to) }

// AllowedTransitions lists where a status may move.
func AllowedTransitions(from Status) []Status { return slices.Clone(transitions[from]) }

// valid reports whether s is a known status.
func (s Status) valid() bool { return slices.Contains(Statuses, s) }

// allowsAmount reports whether an estimated annual amount makes sense in this status.
func (s Status) allowsAmount() bool { return s == StatusIntention || s == StatusActive }
