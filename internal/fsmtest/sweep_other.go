//go:build !linux

package fsmtest

// SweepStaleMounts does nothing without a Linux mount table.
func SweepStaleMounts(prefix string) {}
