package store

import (
	"math/rand"
	"slices"
	"testing"
)

func spansOf(r *rangeSet) [][2]int64 {
	out := [][2]int64{}
	for _, s := range r.spans {
		out = append(out, [2]int64{s.start, s.end})
	}
	return out
}

func TestRangeSetAdd(t *testing.T) {
	type op struct{ a, b, added int64 }
	cases := []struct {
		name  string
		ops   []op
		spans [][2]int64
	}{
		{"empty add", []op{{5, 5, 0}, {7, 3, 0}}, [][2]int64{}},
		{"single", []op{{0, 10, 10}}, [][2]int64{{0, 10}}},
		{"disjoint sorted", []op{{0, 10, 10}, {20, 30, 10}}, [][2]int64{{0, 10}, {20, 30}}},
		{"disjoint reversed", []op{{20, 30, 10}, {0, 10, 10}}, [][2]int64{{0, 10}, {20, 30}}},
		{"touch right coalesces", []op{{0, 10, 10}, {10, 20, 10}}, [][2]int64{{0, 20}}},
		{"touch left coalesces", []op{{10, 20, 10}, {0, 10, 10}}, [][2]int64{{0, 20}}},
		{"fill the gap", []op{{0, 10, 10}, {20, 30, 10}, {10, 20, 10}}, [][2]int64{{0, 30}}},
		{"overlap partial", []op{{0, 10, 10}, {5, 15, 5}}, [][2]int64{{0, 15}}},
		{"contained", []op{{0, 10, 10}, {2, 8, 0}}, [][2]int64{{0, 10}}},
		{"same", []op{{3, 9, 6}, {3, 9, 0}}, [][2]int64{{3, 9}}},
		{"covers many", []op{{0, 2, 2}, {4, 6, 2}, {8, 10, 2}, {1, 9, 4}}, [][2]int64{{0, 10}}},
		{"covers many and beyond", []op{{2, 3, 1}, {5, 6, 1}, {0, 100, 98}}, [][2]int64{{0, 100}}},
		{"between no touch", []op{{0, 2, 2}, {8, 10, 2}, {4, 6, 2}}, [][2]int64{{0, 2}, {4, 6}, {8, 10}}},
		{"one byte", []op{{7, 8, 1}, {6, 7, 1}, {8, 9, 1}}, [][2]int64{{6, 9}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r rangeSet
			var total int64
			for _, o := range c.ops {
				if got := r.add(o.a, o.b); got != o.added {
					t.Fatalf("add(%d,%d) = %d, want %d", o.a, o.b, got, o.added)
				}
				total += o.added
			}
			if got := spansOf(&r); !slices.Equal(got, c.spans) {
				t.Fatalf("spans %v, want %v", got, c.spans)
			}
			if r.total != total {
				t.Fatalf("total %d, want %d", r.total, total)
			}
		})
	}
}

func TestRangeSetQueries(t *testing.T) {
	var r rangeSet
	r.add(10, 20)
	r.add(30, 40)
	r.add(50, 51)
	contains := []struct {
		a, b int64
		want bool
	}{
		{0, 0, true}, {15, 15, true}, {20, 10, true}, // empty ranges
		{10, 20, true}, {11, 19, true}, {10, 11, true}, {19, 20, true},
		{9, 11, false}, {19, 21, false}, {10, 40, false}, {20, 30, false},
		{0, 5, false}, {50, 51, true}, {50, 52, false}, {60, 70, false}, {39, 40, true}, {40, 41, false},
	}
	for _, c := range contains {
		if got := r.contains(c.a, c.b); got != c.want {
			t.Errorf("contains(%d,%d) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	missing := []struct{ from, limit, want int64 }{
		{0, 100, 0}, {10, 100, 20}, {15, 100, 20}, {19, 100, 20}, {20, 100, 20},
		{30, 100, 40}, {10, 15, 15}, {10, 20, 20}, {50, 100, 51}, {51, 100, 51}, {99, 100, 99},
		{12, 12, 12},
	}
	for _, c := range missing {
		if got := r.nextMissing(c.from, c.limit); got != c.want {
			t.Errorf("nextMissing(%d,%d) = %d, want %d", c.from, c.limit, got, c.want)
		}
	}
	present := []struct{ from, limit, want int64 }{
		{0, 100, 10}, {0, 5, 5}, {10, 100, 10}, {15, 100, 15}, {20, 100, 30}, {25, 28, 28},
		{40, 100, 50}, {51, 100, 100}, {45, 50, 50},
	}
	for _, c := range present {
		if got := r.nextPresent(c.from, c.limit); got != c.want {
			t.Errorf("nextPresent(%d,%d) = %d, want %d", c.from, c.limit, got, c.want)
		}
	}
	r.reset()
	if r.total != 0 || len(r.spans) != 0 || r.contains(10, 11) || r.nextMissing(10, 100) != 10 {
		t.Fatalf("reset left %+v", r)
	}
}

// TestRangeSetModel checks every operation against a bitmap over many random
// sequences, including the invariants (sorted, disjoint, coalesced, total).
func TestRangeSetModel(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for iter := 0; iter < 300; iter++ {
		size := int64(1 + rng.Intn(200))
		bits := make([]bool, size)
		var r rangeSet
		for step := 0; step < 60; step++ {
			a := rng.Int63n(size + 1)
			b := a + rng.Int63n(min(size-a, int64(1+rng.Intn(40)))+1)
			if rng.Intn(10) == 0 {
				b = a - rng.Int63n(3) // empty or inverted
			}
			var want int64
			for i := a; i < b; i++ {
				if !bits[i] {
					bits[i] = true
					want++
				}
			}
			if got := r.add(a, b); got != want {
				t.Fatalf("iter %d step %d: add(%d,%d) = %d, want %d (spans %v)", iter, step, a, b, got, want, spansOf(&r))
			}
			checkInvariants(t, &r, bits)
			// Queries at random points.
			for q := 0; q < 10; q++ {
				x := rng.Int63n(size + 1)
				y := x + rng.Int63n(size-x+1)
				wantC := true
				for i := x; i < y; i++ {
					wantC = wantC && bits[i]
				}
				if got := r.contains(x, y); got != wantC {
					t.Fatalf("contains(%d,%d) = %v, want %v (spans %v)", x, y, got, wantC, spansOf(&r))
				}
				wantM := y
				for i := x; i < y; i++ {
					if !bits[i] {
						wantM = i
						break
					}
				}
				if got := r.nextMissing(x, y); got != wantM {
					t.Fatalf("nextMissing(%d,%d) = %d, want %d (spans %v)", x, y, got, wantM, spansOf(&r))
				}
				wantP := y
				for i := x; i < y; i++ {
					if bits[i] {
						wantP = i
						break
					}
				}
				if got := r.nextPresent(x, y); got != wantP {
					t.Fatalf("nextPresent(%d,%d) = %d, want %d (spans %v)", x, y, got, wantP, spansOf(&r))
				}
			}
		}
	}
}

func checkInvariants(t *testing.T, r *rangeSet, bits []bool) {
	t.Helper()
	var total int64
	for i, s := range r.spans {
		if s.start >= s.end {
			t.Fatalf("empty span %v in %v", s, spansOf(r))
		}
		if i > 0 && r.spans[i-1].end >= s.start {
			t.Fatalf("spans not sorted/disjoint/coalesced: %v", spansOf(r))
		}
		total += s.end - s.start
	}
	if total != r.total {
		t.Fatalf("total %d, spans sum to %d", r.total, total)
	}
	// The spans are exactly the runs of set bits.
	var want [][2]int64
	for i := int64(0); i < int64(len(bits)); i++ {
		if bits[i] && (i == 0 || !bits[i-1]) {
			want = append(want, [2]int64{i, i})
		}
		if bits[i] {
			want[len(want)-1][1] = i + 1
		}
	}
	if want == nil {
		want = [][2]int64{}
	}
	if got := spansOf(r); !slices.Equal(got, want) {
		t.Fatalf("spans %v, bitmap runs %v", got, want)
	}
}
