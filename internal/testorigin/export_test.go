package testorigin

// Active returns how many requests are being handled right now, so this
// package's tests can check that no handler outlives a client disconnect;
// no user of the origin needs it.
func (o *Origin) Active() int { return int(o.active.Load()) }
