package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"fsm/internal/testorigin"
)

// fakeOrigin stands in for httpOrigin: it answers each open from memory,
// so the tests below drive scheduling and fetching without HTTP, and each
// fault is one field.
type fakeOrigin struct {
	c testorigin.Content

	mu      sync.Mutex // guards the fields below
	asks    []ask      // every open, in order
	verdict []error    // what the next opens fail with, one each; nil succeeds
	breakAt int64      // > 0: the first body over this offset breaks there

	// holdBelow > 0 holds asks that start below it, unrecorded, until
	// their context ends: what the test looks at happens before them.
	holdBelow int64
}

func (o *fakeOrigin) open(_, ctx context.Context, q ask, _ bool) (*body, error) {
	if q.start < o.holdBelow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.asks = append(o.asks, q)
	if len(o.verdict) > 0 {
		err := o.verdict[0]
		o.verdict = o.verdict[1:]
		if err != nil {
			return nil, err
		}
	}
	start, end := q.start, q.end
	if !q.ranged {
		start, end = 0, o.c.Size
	}
	var r io.Reader = bytes.NewReader(o.c.Bytes(start, end-start))
	if b := o.breakAt; b > start && b < end {
		o.breakAt = 0
		r = io.MultiReader(bytes.NewReader(o.c.Bytes(start, b-start)), errReader{io.ErrUnexpectedEOF})
	}
	return &body{r: io.NopCloser(r), end: end}, nil
}

func (o *fakeOrigin) asked() []ask {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]ask(nil), o.asks...)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// fakeStore is a store of c over a fake origin, with validators (ranged
// fetches) unless stream is set.
func fakeStore(t *testing.T, o *fakeOrigin, stream bool) *Store {
	t.Helper()
	so := fastOpts()
	so.Dir = t.TempDir()
	so.Logger = quietLogger()
	m, err := NewManager(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	rem := Remote{Size: o.c.Size, ETag: `"v1"`}
	if stream {
		rem.NoRange = true
	}
	s, err := m.create(Source{Name: "f", URL: "http://fake.invalid/f"}, rem)
	if err != nil {
		t.Fatal(err)
	}
	s.origin = o // before the first read: nothing has used it yet
	return s
}

// A far read is fetched where it reads: nothing before it is asked for
// (the background fill that wraps around to the start later is held).
func TestFakeOriginFarReadFetchedWhereItReads(t *testing.T) {
	const off = 600 << 10
	o := &fakeOrigin{c: testorigin.Content{Seed: 51, Size: 1 << 20}, holdBelow: off}
	s := fakeStore(t, o, false)
	checkRead(t, s, o.c, off, 1000)
	asks := o.asked()
	if len(asks) == 0 || !asks[0].ranged {
		t.Fatalf("asks %+v, want ranged ones", asks)
	}
	found := false
	for _, q := range asks {
		found = found || q.start == off
	}
	if !found {
		t.Errorf("no ask starts at the read's offset %d: %+v", off, asks)
	}
}

// The retry loop acts on the origin's verdicts: a silent origin is asked
// again, a changed file fails for good without another ask.
func TestFakeOriginVerdicts(t *testing.T) {
	tests := []struct {
		name      string
		verdict   []error
		wantErr   error // nil: the read succeeds
		wantAsks  int   // asks for the read's range, at least
		wantState State
	}{
		{"silent once, then fine", []error{ErrNoAnswer}, nil, 2, ""},
		{"changed", []error{ErrChanged}, ErrChanged, 1, StateFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &fakeOrigin{c: testorigin.Content{Seed: 52, Size: 64 << 10}, verdict: tc.verdict}
			s := fakeStore(t, o, false)
			got, err := readAt(t, s, 0, 1000)
			if tc.wantErr == nil {
				if err := compareRead(o.c, 0, 1000, got, err); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, tc.wantErr) {
				t.Fatalf("read: %v, want %v", err, tc.wantErr)
			}
			if n := len(o.asked()); n < tc.wantAsks || (tc.wantErr != nil && n != tc.wantAsks) {
				t.Errorf("%d asks, want %d: %+v", n, tc.wantAsks, o.asked())
			}
			if tc.wantState != "" {
				if p := s.Progress(); p.State != tc.wantState {
					t.Errorf("state %s, want %s", p.State, tc.wantState)
				}
			}
		})
	}
}

// A body that breaks is resumed where it broke, not from its start.
func TestFakeOriginBrokenBodyResumed(t *testing.T) {
	const cut = 100 << 10
	o := &fakeOrigin{c: testorigin.Content{Seed: 53, Size: 256 << 10}, breakAt: cut}
	s := fakeStore(t, o, false)
	checkRead(t, s, o.c, 0, o.c.Size)
	resumed := false
	for _, q := range o.asked() {
		resumed = resumed || q.start == cut
	}
	if !resumed {
		t.Fatalf("no ask resumes at byte %d: %+v", cut, o.asked())
	}
}

// An origin that ignores Range turns the store into one whole-body stream.
func TestFakeOriginNoRangeBecomesStream(t *testing.T) {
	o := &fakeOrigin{c: testorigin.Content{Seed: 54, Size: 128 << 10}, verdict: []error{errNoRange}}
	s := fakeStore(t, o, false)
	checkRead(t, s, o.c, 0, o.c.Size) // every byte: the refused range too
	s.mu.Lock()
	stream := s.stream
	s.mu.Unlock()
	if !stream {
		t.Fatal("store still ranged after errNoRange")
	}
	whole := false
	for _, q := range o.asked() {
		whole = whole || !q.ranged
	}
	if !whole {
		t.Fatalf("no whole-body ask: %+v", o.asked())
	}
}
