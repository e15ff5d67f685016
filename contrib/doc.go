// Package contrib holds no code: its directories hold the files that run
// fsm at login (a systemd user unit, a launchd agent, a Windows scheduled
// task; docs/SERVICE.md), and its tests check them.
package contrib
