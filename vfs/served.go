package vfs

import "sort"

// served is the set of a file's bytes some reader has been given, as
// sorted, disjoint, coalesced half-open spans. Only the total matters to
// after-read (does it cover the file?), so it never shrinks except by reset.
type served struct {
	spans [][2]int64
	total int64
}

// add records [start, end) as served.
func (s *served) add(start, end int64) {
	if start >= end {
		return
	}
	i := sort.Search(len(s.spans), func(k int) bool { return s.spans[k][1] >= start })
	j := i
	ns := [2]int64{start, end}
	var covered int64
	for j < len(s.spans) && s.spans[j][0] <= end {
		sp := s.spans[j]
		covered += min(sp[1], end) - max(sp[0], start)
		ns[0], ns[1] = min(ns[0], sp[0]), max(ns[1], sp[1])
		j++
	}
	s.total += (end - start) - covered
	s.spans = append(s.spans[:i], append([][2]int64{ns}, s.spans[j:]...)...)
}

// covers reports whether every byte of a file of size bytes was served.
func (s *served) covers(size int64) bool { return s.total >= size }

func (s *served) reset() { *s = served{} }
