// Package awake keeps the computer from sleeping while fsm transfers files.
//
// A Keeper is told how much activity there is (Hold and its release, or
// Set with a count the caller keeps); while there is any, it holds the
// operating system's sleep prevention, and it lets go once there has been
// none for a grace period, so that the gap between two files of one upload
// does not let the machine sleep. It takes nothing while idle and never
// returns an error that should stop fsm: where no mechanism is available it
// says so once, at info level, and keeps counting.
//
// The mechanisms, one file each:
//   - Linux: a logind inhibitor lock, Inhibit("sleep", "fsm", why, "block")
//     on the system bus (DBUS_SYSTEM_BUS_ADDRESS when set); the lock lasts
//     while the returned file descriptor is open.
//   - macOS: a `caffeinate -i -w PID` child, killed to release.
//   - Windows: SetThreadExecutionState(ES_CONTINUOUS|ES_SYSTEM_REQUIRED) on
//     a dedicated, locked OS thread (the state belongs to the thread).
//
// Concurrency: callers only touch counters under Keeper.mu and wake the
// keeper's one goroutine, which alone talks to the OS; a slow or hung bus
// therefore never blocks a transfer.
package awake
