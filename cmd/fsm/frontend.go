package main

import (
	"context"

	"fsm/control"
)

// frontend is one way fsm offers the tree: the WebDAV server, the FUSE
// mount, the desktop's mount of the WebDAV server. An instance keeps its
// frontends in one list in start order (instance.frontendsFor); serve
// starts them in that order and shutdown drains and stops them in the
// reverse one, so a frontend that is a client of another (the desktop mount
// of the WebDAV server) is started after it and taken down before it.
// Adding a frontend is a type in its own file and one line in
// instance.frontendsFor.
type frontend interface {
	// name says which frontend a log line is about ("webdav", "fuse", ...).
	name() string
	// start brings the frontend up; an error ends fsm before it serves.
	// A frontend that fails later, while fsm runs, calls fail: that ends
	// serve as well. ctx ends when serve does.
	start(ctx context.Context, fail func(error)) error
	// mount is the local folder where the frontend offers the tree now,
	// for the API's info and each file's paths; false when it offers none
	// (not a local mount, not mounted yet, or unmounted from outside).
	mount() (control.Mount, bool)
	// drain lets the frontend's readers finish until ctx ends: reads are
	// served meanwhile, new ones may be refused. Its error says what was
	// still running when ctx ended.
	drain(ctx context.Context) error
	// stop cuts what is still running and takes the frontend down,
	// bounded by ctx. It runs after every frontend's drain, and after a
	// failed start too; stopping what never started does nothing.
	stop(ctx context.Context) error
	// abort takes the frontend down for a process about to exit, without
	// waiting for anyone: what it must not leave behind (a dead mount) goes.
	abort()
}
