package feedback

import "time"

// SLAState is where feedback stands against its response deadline.
type SLAState int

// SLA states. Only complaints have a deadline; everything else is SLANone.
const (
	// SLANone: no deadline (not a complaint).
	SLANone SLAState = iota
	// SLAOnTrack: pending, deadline not passed yet.
	SLAOnTrack
	// SLAMet: first responded to by the deadline.
	SLAMet
	// SLAOverdue: pending past the deadline; someone has to act now.
	SLAOverdue
	// SLABreached: first responded to after the deadline.
	SLABreached
)

// SLA returns the feedback's SLA state at now. A response exactly at the deadline meets it; the
// feedback is overdue only once now is after the deadline.
func (f *Feedback) SLA(now time.Time) SLAState {
	d := f.ResponseDeadline
	switch {
	case d == nil:
		return SLANone
	case f.FirstResponseAt != nil && f.FirstResponseAt.After(*d):
		return SLABreached
	case f.FirstResponseAt != nil:
		return SLAMet
	case now.After(*d):
		return SLAOverdue
	}
	return SLAOnTrack
}

// Overdue reports whether the complaint missed its deadline at now: still pending past it, or
// first responded to after it. Lists filter with the same rule in SQL (store.overdueSQL).
func (f *Feedback) Overdue(now time.Time) bool {
	s := f.SLA(now)
	return s == SLAOverdue || s == SLABreached
}
