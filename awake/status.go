package awake

import "fmt"

// Phase is what a keeper is doing with the OS's sleep prevention.
type Phase int

const (
	// PhaseIdle: no activity, nothing held.
	PhaseIdle Phase = iota
	// PhaseHolding: activity, sleep prevented.
	PhaseHolding
	// PhaseLingering: no activity any more, sleep still prevented until
	// the grace period ends or activity comes back.
	PhaseLingering
	// PhaseUnavailable: activity, but the OS gave no sleep prevention (no
	// bus, no logind, refused); tried again when activity next starts from
	// none.
	PhaseUnavailable
	// PhaseOff: the keeper was made with Options.Off.
	PhaseOff
)

func (p Phase) String() string {
	switch p {
	case PhaseIdle:
		return "idle"
	case PhaseHolding:
		return "holding"
	case PhaseLingering:
		return "lingering"
	case PhaseUnavailable:
		return "unavailable"
	case PhaseOff:
		return "off"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// MarshalText makes a Phase its name in JSON ("holding").
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Status says whether the keeper is keeping the computer awake and why.
type Status struct {
	// Active reports whether sleep is prevented right now.
	Active bool
	// Reason is the activity while holding ("2 transfers"), the grace
	// period while lingering, or why nothing could be held; empty when
	// idle or off.
	Reason string
	Phase  Phase
}

// Status is a snapshot; it never waits for the OS.
func (k *Keeper) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := Status{Phase: k.phase}
	switch k.phase {
	case PhaseHolding:
		s.Active = true
		// The count is read live: it changes while one lock is held.
		s.Reason = k.describe(max(k.activeLocked(), 1))
	case PhaseLingering:
		s.Active = true
		s.Reason = fmt.Sprintf("last transfer ended; released within %s", k.grace)
	case PhaseUnavailable:
		s.Reason = k.failure
	}
	return s
}
